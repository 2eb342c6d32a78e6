"""A finished (or interrupted) run folder as Python objects: :class:`Run` and
:func:`load_run`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rclicks.errors import RunError
from rclicks.runs.folder import ERRORS, PER_CLICK, RUN_JSON, SUMMARY
from rclicks.runs.schema import COLUMNS, table_columns, to_frame, with_nullable


def read_json_file(path: Path, required: bool = True) -> dict[str, Any] | None:
    """A JSON object from ``path``; :class:`RunError` naming the file when it is missing (and
    ``required``), unreadable, not JSON or not an object."""
    if not path.is_file():
        if required:
            raise RunError(f"{path}: missing (is {path.parent} a run folder?)")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_rows_file(path: Path, columns: tuple[str, ...] = COLUMNS):
    """The ``columns`` of ``per_click.parquet`` as a pyarrow Table; :class:`RunError` naming
    the file when it is missing, not parquet, or lacks a column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise RunError(f"{path}: missing (is {path.parent} a finished run folder?)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"{path}: unreadable parquet file ({first})") from None
    table = with_nullable(table)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise RunError(f"{path}: missing column(s) {', '.join(missing)}")
    return table.select(list(columns))


class Run:
    """One run folder: ``path``, ``info`` (run.json), ``summary`` (summary.json),
    ``per_click`` (per_click.parquet as a pandas DataFrame, read on first use) and ``errors``
    (the records of errors.jsonl: instances a plugin failed on)."""

    def __init__(self, path: str | Path, info: dict[str, Any], summary: dict[str, Any]) -> None:
        self.path = Path(path)
        self.info = info
        self.summary = summary
        self._table = None
        self._frame = None

    def table(self):
        """per_click.parquet as a pyarrow Table."""
        if self._table is None:
            self._table = read_rows_file(self.path / PER_CLICK)
        return self._table

    @property
    def per_click(self):
        """per_click.parquet as a pandas DataFrame, one row per click (CONTRACT §6)."""
        if self._frame is None:
            self._frame = to_frame(self.table())
        return self._frame

    def columns(self) -> dict[str, Any]:
        """per_click.parquet as numpy columns."""
        return table_columns(self.table())

    @property
    def clicks(self) -> int:
        """How many clicks the run holds."""
        import pyarrow.parquet as pq

        return int(pq.read_metadata(self.path / PER_CLICK).num_rows)

    @property
    def errors(self) -> list[dict[str, Any]]:
        path = self.path / ERRORS
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    @property
    def results(self) -> list[dict[str, Any]]:
        """The metrics of summary.json, one entry per dataset × simulator."""
        return list(self.summary.get("results") or [])

    def __repr__(self) -> str:
        model = (self.info.get("model") or {}).get("name")
        return f"Run({str(self.path)!r}, model={model!r}, status={self.info.get('status')!r})"


def load_run(path: str | Path) -> Run:
    """The run folder at ``path``; :class:`RunError` naming the file that is missing or
    broken."""
    folder = Path(path)
    if not folder.is_dir():
        raise RunError(f"{folder}: no such run folder")
    info = read_json_file(folder / RUN_JSON)
    summary = read_json_file(folder / SUMMARY, required=False)
    if summary is None:
        raise RunError(f"{folder / SUMMARY}: missing (the run did not finish)")
    assert info is not None
    return Run(folder, info, summary)
