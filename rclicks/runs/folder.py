"""The files of one run folder, written as the work goes so that a crash loses at most the
instance in flight: ``journal/`` (one parquet file per finished instance, one ``.done`` marker
per finished sample, and with masks kept ``journal/masks/`` with the instance's predicted
masks), ``errors.jsonl``, then ``per_click.parquet`` (and ``masks.parquet``), ``summary.json``
and ``run.json``. Every file is written to a temporary name first and renamed into place; an
instance's masks before its rows, so an instance that is done has both."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rclicks.errors import RunError
from rclicks.runs.masks import MASK_SCHEMA, MASKS, masks_table, sort_masks, write_masks
from rclicks.runs.schema import ROW_SCHEMA, SORT_KEYS, rows_table, with_nullable

PER_CLICK = "per_click.parquet"
SUMMARY = "summary.json"
RUN_JSON = "run.json"
ERRORS = "errors.jsonl"


def unit_digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (anything else turned into its ``str``)."""
    return json.loads(json.dumps(obj, default=str))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_out(prefix: str = "") -> Path:
    """``runs/<prefix><timestamp>``, with a suffix when that folder is taken."""
    stamp = prefix + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, k = Path("runs") / stamp, 1
    while path.exists():
        k += 1
        path = Path("runs") / f"{stamp}-{k}"
    return path


class RunFolder:
    """The journal and result files of one run (implements the engine's ``Journal``);
    ``masks``: keep the predicted mask after every click (``masks.parquet``)."""

    def __init__(self, path: str | Path, masks: bool = False) -> None:
        self.path = Path(path)
        self.journal = self.path / "journal"
        self.masks = bool(masks)

    def prepare(self) -> None:
        self.journal.mkdir(parents=True, exist_ok=True)
        if self.masks:
            (self.journal / "masks").mkdir(exist_ok=True)

    # -- the journal ----------------------------------------------------------------------------
    def instance_file(self, dataset: str, sample_id: str, instance_id: str) -> Path:
        return self.journal / f"{unit_digest(dataset, sample_id, instance_id)}.parquet"

    def sample_marker(self, dataset: str, sample_id: str) -> Path:
        return self.journal / f"{unit_digest(dataset, sample_id)}.done"

    def masks_file(self, dataset: str, sample_id: str, instance_id: str) -> Path:
        return self.journal / "masks" / f"{unit_digest(dataset, sample_id, instance_id)}.parquet"

    def instance_done(self, dataset: str, sample_id: str, instance_id: str) -> bool:
        return self.instance_file(dataset, sample_id, instance_id).exists()

    def finished_instances(self) -> frozenset[str]:
        """The instances the journal holds, as ``unit_digest(dataset, sample_id,
        instance_id)``."""
        return frozenset(p.stem for p in self.journal.glob("*.parquet"))

    def sample_done(self, dataset: str, sample_id: str) -> bool:
        return self.sample_marker(dataset, sample_id).exists()

    def write_instance(
        self,
        key: tuple[str, str, str],
        rows: Mapping[str, list],
        masks: Mapping[str, list] | None = None,
    ) -> None:
        if self.masks:
            if masks is None or len(masks["rle"]) != len(rows["click"]):
                raise RunError(f"{self.path}: the masks of {'/'.join(key)} were not kept")
            write_masks(self.masks_file(*key), masks_table(masks))
        final = self.instance_file(*key)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        pq.write_table(rows_table(rows), tmp)
        os.replace(tmp, final)

    def mark_sample(self, dataset: str, sample_id: str, instances: Sequence[str]) -> None:
        final = self.sample_marker(dataset, sample_id)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(
            json.dumps({"dataset": dataset, "sample_id": sample_id, "instances": list(instances)})
        )
        os.replace(tmp, final)

    def record_error(self, record: dict[str, Any]) -> None:
        """Append one line to ``errors.jsonl`` (safe from several processes at once)."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        fd = os.open(self.path / ERRORS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def journal_tables(self) -> list[pa.Table]:
        return [with_nullable(pq.read_table(p)) for p in sorted(self.journal.glob("*.parquet"))]

    # -- the results ----------------------------------------------------------------------------
    def merge(self) -> pa.Table:
        """The journal -> one sorted ``per_click.parquet`` (the journal stays: it is what a
        resume reads)."""
        tables = self.journal_tables()
        table = pa.concat_tables(tables) if tables else ROW_SCHEMA.empty_table()
        table = table.cast(ROW_SCHEMA)
        if table.num_rows:
            uniq = table.group_by(SORT_KEYS).aggregate([])  # one row per click
            if uniq.num_rows != table.num_rows:
                raise RunError(f"{self.path}: duplicate clicks in the journal")
            table = table.sort_by([(k, "ascending") for k in SORT_KEYS])
        final = self.path / PER_CLICK
        tmp = final.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        if self.masks:
            self.merge_masks(table.num_rows)
        return table

    def merge_masks(self, rows: int) -> None:
        """``journal/masks/`` -> one sorted ``masks.parquet``, one row per click."""
        done = {p.name for p in self.journal.glob("*.parquet")}
        kept = {p.name for p in (self.journal / "masks").glob("*.parquet")}
        if done - kept:
            raise RunError(
                f"{self.path}: {len(done - kept)} finished instance(s) have no masks in the "
                "journal (was the run started without keeping masks?)"
            )
        parts = [pq.read_table(self.journal / "masks" / name) for name in sorted(done)]
        table = pa.concat_tables(parts) if parts else MASK_SCHEMA.empty_table()
        table = sort_masks(table.cast(MASK_SCHEMA))
        if table.num_rows != rows:
            raise RunError(f"{self.path}: {table.num_rows} masks for {rows} clicks")
        write_masks(self.path / MASKS, table)

    def settle_errors(self) -> int:
        """Keep in ``errors.jsonl`` only the latest error of each unit of work that is still
        not done (a resume may have completed the others); returns how many are left and
        removes the file when none is."""
        path = self.path / ERRORS
        if not path.exists():
            return 0
        latest: dict[tuple, dict] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                latest[(rec["dataset"], rec["sample_id"], rec["instance_id"])] = rec

        def finished(k: tuple) -> bool:
            if k[2] == "":  # the sample could not be loaded: done once the sample is done
                return self.sample_done(k[0], k[1])
            return self.instance_done(*k)

        pending = {k: v for k, v in latest.items() if not finished(k)}
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in pending.values()))
        os.replace(tmp, path)
        if not pending:
            path.unlink()
        return len(pending)
