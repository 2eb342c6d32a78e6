"""Run folders as a report reads them: files checked, every number recomputed from the rows.

A report never trusts ``summary.json``: :func:`report_run` recomputes every entry from
``per_click.parquet`` with :func:`rclicks.summarize` and lists each disagreement with the
stored file as a warning. :func:`check_comparable` decides whether runs may share a table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.errors import ReportError, RunError
from rclicks.runs.run import read_json_file, read_rows_file
from rclicks.runs.schema import table_columns
from rclicks.runs.summary import summarize

#: protocol settings that must be equal for runs to share a table (see docs/reports.md)
PROTOCOL_KEYS = ("max_clicks", "groups", "repeats")


@dataclass
class RunData:
    """One run folder: its files, its rows and the results recomputed from them."""

    path: Path
    run: dict[str, Any]
    summary: dict[str, Any] | None
    rows: dict[str, np.ndarray]
    results: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    label: str = ""
    #: the TETRIS entries (``summary.json`` → ``robustness``), recomputed from the rows
    robustness: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.run.get("model", {}).get("name", "?"))

    @property
    def protocol(self) -> dict[str, Any]:
        return dict(self.run.get("protocol") or {})

    @property
    def max_clicks(self) -> int:
        return int(self.protocol["max_clicks"])

    @property
    def replay(self) -> list[str]:
        return [e["simulator"] for e in self.results if e.get("kind") == "users"]

    def entry(self, dataset: str, simulator: str) -> dict[str, Any] | None:
        for e in self.results:
            if e["dataset"] == dataset and e["simulator"] == simulator:
                return e
        return None

    def manifests(self) -> dict[str, str | None]:
        """Dataset label -> ``manifest_sha256`` recorded in run.json."""
        out = {}
        for d in self.run.get("datasets") or []:
            out[str(d.get("dataset", d.get("name")))] = d.get("manifest_sha256")
        return out

    def simulators(self) -> dict[str, dict[str, Any]]:
        """Simulator name -> (plugin, options) recorded in run.json."""
        return {
            str(s.get("name")): {"plugin": s.get("plugin"), "options": s.get("options") or {}}
            for s in self.run.get("simulators") or []
        }


def report_run(path: str | Path) -> RunData:
    """Read a run folder (``run.json``, ``per_click.parquet``, ``summary.json``) and recompute
    its results. Raises :class:`ReportError` naming the file that is missing or corrupt."""
    folder = Path(path)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such run folder")
    try:
        run = read_json_file(folder / "run.json")
        summary = read_json_file(folder / "summary.json", required=False)
        rows = table_columns(read_rows_file(folder / "per_click.parquet"))
    except RunError as exc:
        raise ReportError(str(exc)) from None
    assert run is not None
    proto = run.get("protocol")
    if not isinstance(proto, dict) or not isinstance(proto.get("max_clicks"), int):
        raise ReportError(f"{folder / 'run.json'}: no protocol.max_clicks (not a run.json?)")
    warnings: list[str] = []
    if run.get("status") not in (None, "complete", "complete_with_errors"):
        warnings.append(
            f"{folder / 'run.json'}: status {run.get('status')!r}: the run did not finish; "
            "the report shows the clicks written so far"
        )
    if summary is None:
        warnings.append(f"{folder / 'summary.json'}: missing; nothing to cross-check")
    # runs written before run.json marked replay simulators: summary.json names them
    replay = summary.get("replay") if summary and summary_names_replay(run) else None
    try:
        fresh = summarize(rows, run, replay=replay)
    except RunError as exc:
        raise ReportError(f"{folder / 'per_click.parquet'}: {exc}") from None
    results = fresh["results"]
    if not results:
        raise ReportError(f"{folder / 'per_click.parquet'}: no clicks")
    robustness = list(fresh.get("robustness") or [])
    data = RunData(folder, run, summary, rows, results, warnings, robustness=robustness)
    if summary is not None:
        where = folder / "summary.json"
        if summary.get("protocol") not in (None, proto):
            warnings.append(f"{where}: protocol {summary['protocol']} differs from run.json's")
        diffs = compare_results(summary.get("results") or [], results)
        if "robustness" in summary or robustness:  # files written before TETRIS lack the key
            diffs += compare_results(summary.get("robustness") or [], robustness, "TETRIS ")
        if diffs:
            shown = "; ".join(diffs[:5]) + (f"; … {len(diffs) - 5} more" if len(diffs) > 5 else "")
            warnings.append(
                f"{where} DISAGREES with per_click.parquet in {len(diffs)} value(s) ({shown}); "
                "the report shows the values recomputed from per_click.parquet"
            )
    return data


def summary_names_replay(run: dict[str, Any]) -> bool:
    """Must the replay simulators come from summary.json (run.json does not mark them)?"""
    return not any(isinstance(s, dict) and "replay" in s for s in run.get("simulators") or [])


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _diff(stored: Any, fresh: Any, where: str, out: list[str]) -> None:
    if isinstance(stored, dict) and isinstance(fresh, dict):
        for k in sorted(set(stored) | set(fresh), key=str):
            if k not in stored or k not in fresh:
                out.append(f"{where}{k}: {'missing' if k not in stored else 'extra'} in file")
            else:
                _diff(stored[k], fresh[k], f"{where}{k}.", out)
    elif isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            out.append(f"{where.rstrip('.')}: {len(stored)} values in file, {len(fresh)} rows")
        else:
            for i, (a, b) in enumerate(zip(stored, fresh)):
                _diff(a, b, f"{where}{i}.", out)
    elif not _close(stored, fresh):
        out.append(f"{where.rstrip('.')} {stored!r} in file, {fresh!r} from rows")


def compare_results(
    stored: list[dict[str, Any]], fresh: list[dict[str, Any]], prefix: str = ""
) -> list[str]:
    """Every value where summary.json's results (or, with ``prefix``, another list of
    entries such as ``robustness``) differ from the recomputed ones."""
    key = lambda e: (str(e.get("dataset")), str(e.get("simulator")))  # noqa: E731
    a = {key(e): e for e in stored if isinstance(e, dict)}
    b = {key(e): e for e in fresh}
    out: list[str] = []
    for k in sorted(set(a) | set(b)):
        name = f"{prefix}{k[0]}/{k[1]}"
        if k not in a:
            out.append(f"{name}: not in the file")
        elif k not in b:
            out.append(f"{name}: in the file but no rows")
        else:
            _diff(a[k], b[k], f"{name} ", out)
    return out


def load_runs(paths: list[str | Path]) -> list[RunData]:
    """:func:`report_run` for each folder, labelled by :func:`label_runs`."""
    return label_runs([report_run(p) for p in paths])


def label_runs(runs: list[RunData]) -> list[RunData]:
    """Labels that tell the runs apart: the model name, plus ``(folder)`` when two runs share
    a model, plus ``#k`` when even that is not enough."""
    names = [r.model for r in runs]
    for r in runs:
        r.label = r.model if names.count(r.model) == 1 else f"{r.model} ({r.path.name})"
    labels = [r.label for r in runs]
    for i, r in enumerate(runs):
        if labels.count(r.label) > 1:
            r.label = f"{r.label} #{i + 1}"
    return runs


def check_comparable(runs: list[RunData]) -> list[str]:
    """Why these runs should not share a table (empty when they may): a protocol setting
    (max_clicks, groups, repeats) differs, a dataset of the same name was a different set of
    files (``manifest_sha256``), or a simulator of the same name ran with another plugin or
    options. The seed, the baseline switch and the device do not count."""
    problems: list[str] = []
    if len(runs) < 2:
        return problems
    for k in PROTOCOL_KEYS:
        vals = {r.label: r.protocol.get(k) for r in runs}
        if len(set(map(json.dumps, vals.values()))) > 1:
            problems.append(f"{k} differs: " + ", ".join(f"{n}={v}" for n, v in vals.items()))
    datasets: dict[str, dict[str, Any]] = {}
    for r in runs:
        for name, sha in r.manifests().items():
            datasets.setdefault(name, {})[r.label] = sha
    for name, shas in sorted(datasets.items()):
        if len(shas) > 1 and len(set(shas.values())) > 1:
            problems.append(
                f"dataset {name!r} is not the same data (manifest_sha256 "
                + ", ".join(f"{n}={(s or 'none')[:12]}" for n, s in shas.items())
                + "; e.g. another --limit or changed files)"
            )
    sims: dict[str, dict[str, str]] = {}
    for r in runs:
        for name, spec in r.simulators().items():
            sims.setdefault(name, {})[r.label] = json.dumps(spec, sort_keys=True)
    for name, specs in sorted(sims.items()):
        if len(set(specs.values())) > 1:
            problems.append(
                f"simulator {name!r} ran with other settings: "
                + ", ".join(f"{n}={s}" for n, s in specs.items())
            )
    return problems
