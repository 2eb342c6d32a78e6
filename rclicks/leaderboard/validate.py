"""Every check a submission goes through, in order; shared by ``rclicks submit`` (against the
run's own manifest) and the server (against the reference it built from its own data).

1. the files parse: JSON, the ``per_click.parquet`` schema (400 when not);
2. the run claims the benchmark and a known protocol version, with its exact settings: the
   same datasets, simulators, groups, repeats, max_clicks, baseline, no ``--limit``, no
   failed instance (422);
3. its data is the reference's (manifest digests), and its rows cover every reference instance
   with every trajectory of the benchmark, each with clicks 1..K — nothing missing, nothing
   extra (422);
4. every metric, recomputed from the rows with :func:`rclicks.summarize`, equals
   ``summary.json`` (422).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rclicks.errors import BundleError, RunError, SubmissionError
from rclicks.leaderboard.benchmarks import (
    KNOWN_PROTOCOLS,
    BenchmarkSpec,
    reference_from_manifests,
    reference_instances,
    sample_sha256,
)
from rclicks.runs.schema import ROW_SCHEMA, SORT_KEYS, table_columns
from rclicks.runs.summary import summarize

REL_TOL = 1e-9
ABS_TOL = 1e-12
_TRAJ_KEYS = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat"]


# --- the parts of the files that are checked ------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProtocolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: int
    repeats: int
    max_clicks: int
    seed: int
    baseline: bool


class _Named(_Loose):
    name: str


class _RunDataset(_Named):
    dataset: str
    manifest_sha256: str


class RunJson(_Loose):
    rclicks: str | None = None
    plugins: dict[str, dict[str, Any]] = {}
    model: _Named
    simulators: list[_Named]
    datasets: list[_RunDataset]
    protocol: ProtocolSettings
    limit: int | None
    benchmark: str | None = None
    benchmark_protocol: str | None = None
    status: str
    errors: int = 0


class SummaryJson(_Loose):
    model: str
    protocol: ProtocolSettings
    benchmark: str | None = None
    benchmark_protocol: str | None = None
    replay: list[str] = []
    results: list[dict[str, Any]]


class _ManifestDataset(_Loose):
    dataset: str
    loader: str
    options: dict[str, Any] = {}
    sha256: str
    limit: int | None = None
    images: int
    instances: int
    samples: list[dict[str, Any]]


class ManifestJson(_Loose):
    datasets: list[_ManifestDataset]


class SubmissionJson(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    paper: str | None = Field(default=None, max_length=500)
    code: str | None = Field(default=None, max_length=500)


@dataclass
class Checked:
    """A submission that passed every check."""

    spec: BenchmarkSpec
    run: RunJson
    summary: SummaryJson
    meta: SubmissionJson
    results: list[dict[str, Any]]  # recomputed from the rows, NaN as None
    rows_sha256: str  # the clicks and IoUs (not the timings): duplicates share it
    clicks: int


def _json(files: dict[str, bytes], name: str) -> Any:
    try:
        return json.loads(files[name])
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{name}: not valid JSON ({exc})") from None


def _model(cls: type[BaseModel], data: Any, name: str) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BundleError(f"{name}: {loc}: {first['msg']}") from None


def read_table(data: bytes) -> pa.Table:
    """``per_click.parquet`` from bytes, with exactly the engine's columns and types."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # noqa: BLE001 - any reader failure means a malformed file
        raise BundleError(f"per_click.parquet: not a readable parquet file ({exc})") from None
    for f in ROW_SCHEMA:
        if f.name not in table.column_names:
            raise BundleError(f"per_click.parquet: column {f.name!r} is missing")
        got = table.schema.field(f.name).type
        if got != f.type:
            raise BundleError(f"per_click.parquet: column {f.name!r} is {got}, expected {f.type}")
        if table.column(f.name).null_count:
            raise BundleError(f"per_click.parquet: column {f.name!r} has empty values")
    extra = set(table.column_names) - set(ROW_SCHEMA.names)
    if extra:
        raise BundleError(f"per_click.parquet: unexpected column(s) {sorted(extra)}")
    if table.num_rows == 0:
        raise SubmissionError("per_click.parquet: no rows")
    return table.select(ROW_SCHEMA.names)


def rows_digest(table: pa.Table) -> str:
    """sha256 over the sorted rows without ``seconds``: two runs with the same clicks and
    IoUs are the same result whatever their timings."""
    t = table.drop_columns(["seconds"]).sort_by([(k, "ascending") for k in SORT_KEYS])
    h = hashlib.sha256()
    for name, arr in sorted(table_columns(t).items()):
        h.update(f"{name}\0".encode())
        if arr.dtype.kind in "US":
            h.update("\0".join(arr.tolist()).encode())
        else:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def parse(files: dict[str, bytes]) -> tuple[RunJson, SummaryJson, ManifestJson, SubmissionJson]:
    return (
        _model(RunJson, _json(files, "run.json"), "run.json"),
        _model(SummaryJson, _json(files, "summary.json"), "summary.json"),
        _model(ManifestJson, _json(files, "manifest.json"), "manifest.json"),
        _model(SubmissionJson, _json(files, "submission.json"), "submission.json"),
    )


def check_claims(spec: BenchmarkSpec, run: RunJson, summary: SummaryJson) -> None:
    """The run says it is a complete run of ``spec`` (benchmark, version, settings)."""
    if run.benchmark is None:
        raise SubmissionError(
            f"run.json: the run was not made with --benchmark; run "
            f"`rclicks eval --benchmark {spec.name} --model ...`"
        )
    if run.benchmark != spec.name:
        raise SubmissionError(
            f"run.json: the run is of benchmark {run.benchmark!r}, not {spec.name!r}"
        )
    version = run.benchmark_protocol
    if version not in KNOWN_PROTOCOLS:
        raise SubmissionError(
            f"run.json: unknown protocol version {version!r} (known: {', '.join(KNOWN_PROTOCOLS)})"
        )
    if version != spec.protocol:
        raise SubmissionError(
            f"run.json: protocol version {version!r}, but benchmark {spec.name!r} is "
            f"{spec.protocol!r}"
        )
    if (summary.benchmark, summary.benchmark_protocol) != (run.benchmark, version):
        raise SubmissionError("summary.json: benchmark or protocol version differs from run.json")
    if run.limit is not None:
        raise SubmissionError(f"run.json: the run used --limit {run.limit}; a benchmark needs all")
    if run.status != "complete" or run.errors:
        raise SubmissionError(
            f"run.json: status {run.status!r} with {run.errors} failed instance(s); finish the "
            "run (rclicks eval --resume) first"
        )
    p = run.protocol
    want = {
        "groups": spec.groups,
        "repeats": spec.repeats,
        "max_clicks": spec.max_clicks,
        "baseline": spec.baseline,
    }
    for key, value in want.items():
        if getattr(p, key) != value:
            raise SubmissionError(
                f"run.json: protocol {key} = {getattr(p, key)!r}, benchmark {spec.name!r} "
                f"needs {value!r}"
            )
    if summary.protocol != p:
        raise SubmissionError("summary.json: protocol settings differ from run.json")
    if summary.model != run.model.name:
        raise SubmissionError("summary.json: model differs from run.json")
    if summary.replay:
        raise SubmissionError("summary.json: replayed real clicks are not part of a benchmark")
    sims = sorted(s.name for s in run.simulators)
    if sims != sorted(spec.simulators):
        raise SubmissionError(
            f"run.json: simulators {sims}, benchmark {spec.name!r} needs {sorted(spec.simulators)}"
        )
    dss = sorted(d.name for d in run.datasets)
    if dss != sorted(spec.datasets):
        raise SubmissionError(
            f"run.json: datasets {dss}, benchmark {spec.name!r} needs {sorted(spec.datasets)}"
        )


def check_data(reference: dict[str, Any], run: RunJson, manifest: ManifestJson) -> None:
    """The run used the reference's data: same manifest digest for every dataset. When they
    differ, say which samples do."""
    from rclicks.datasets.base import build_manifest

    by_name = {d.name: d for d in run.datasets}
    submitted = {d.dataset: d for d in manifest.datasets}
    for d in manifest.datasets:  # the digest is the digest of its own samples
        try:
            digest = build_manifest(d.dataset, d.loader, d.options, d.samples, d.limit)["sha256"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise BundleError(
                f"manifest.json: dataset {d.dataset!r}: malformed samples ({exc})"
            ) from None
        if digest != d.sha256:
            raise SubmissionError(
                f"manifest.json: dataset {d.dataset!r}: its sha256 is not the digest of its samples"
            )
    for ref in reference["datasets"]:
        rd = by_name[ref["name"]]
        if rd.dataset != ref["dataset"]:
            raise SubmissionError(
                f"run.json: dataset {ref['name']!r} is named {rd.dataset!r}, expected "
                f"{ref['dataset']!r}"
            )
        m = submitted.get(ref["dataset"])
        if m is None:
            raise SubmissionError(f"manifest.json: no entry for dataset {ref['dataset']!r}")
        if rd.manifest_sha256 == ref["sha256"] and m.sha256 == ref["sha256"]:
            continue
        mine = {str(s.get("sample_id")): sample_sha256(s) for s in m.samples}
        theirs = {s["sample_id"]: s["sha256"] for s in ref["samples"]}
        differ = sorted(k for k in theirs if k in mine and mine[k] != theirs[k])
        missing = sorted(set(theirs) - set(mine))
        extra = sorted(set(mine) - set(theirs))
        details = []
        for what, ids in (("other data", differ), ("missing", missing), ("unknown", extra)):
            if ids:
                details.append(f"{len(ids)} sample(s) {what} (e.g. {', '.join(ids[:3])})")
        raise SubmissionError(
            f"dataset {ref['dataset']!r}: the run's data is not the benchmark's (manifest "
            f"sha256 {rd.manifest_sha256[:12]}…, reference {ref['sha256'][:12]}…)"
            + (": " + "; ".join(details) if details else "")
        )


def _fmt(keys: list[tuple]) -> str:
    shown = ", ".join("/".join(str(p) for p in k) for k in keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def check_coverage(spec: BenchmarkSpec, reference: dict[str, Any], table: pa.Table) -> None:
    """Every reference instance, every trajectory of the benchmark, clicks 1..K; no more."""
    traj = table.group_by(_TRAJ_KEYS).aggregate(
        [("click", "count"), ("click", "min"), ("click", "max"), ("click", "count_distinct")]
    )
    k = spec.max_clicks
    cols = {n: traj.column(n).to_pylist() for n in traj.column_names}
    keys = list(zip(*(cols[n] for n in _TRAJ_KEYS)))
    want_inst = reference_instances(reference)
    have_inst = {key[:3] for key in keys}
    missing = sorted(want_inst - have_inst)
    if missing:
        raise SubmissionError(
            f"per_click.parquet: {len(missing)} instance(s) of benchmark {spec.name!r} "
            f"missing: {_fmt(missing)}"
        )
    extra = sorted(have_inst - want_inst)
    if extra:
        raise SubmissionError(
            f"per_click.parquet: {len(extra)} instance(s) not in benchmark {spec.name!r}: "
            f"{_fmt(extra)}"
        )
    expected = spec.trajectories()
    odd = sorted(key for key in keys if key[3:] not in expected)
    if odd:
        raise SubmissionError(
            f"per_click.parquet: trajectories the benchmark does not have (simulator/group/"
            f"repeat): {_fmt(odd)}"
        )
    if len(keys) != len(want_inst) * len(expected):
        per: dict[tuple, set] = {}
        for key in keys:
            per.setdefault(key[:3], set()).add(key[3:])
        short = sorted(i + t for i in want_inst for t in expected - per.get(i, set()))
        raise SubmissionError(
            f"per_click.parquet: {len(short)} trajectory(ies) missing: {_fmt(short)}"
        )
    bad = [
        key
        for key, n, lo, hi, nd in zip(
            keys,
            cols["click_count"],
            cols["click_min"],
            cols["click_max"],
            cols["click_count_distinct"],
        )  # fmt: skip
        if not (n == nd == k and lo == 1 and hi == k)
    ]
    if bad:
        raise SubmissionError(
            f"per_click.parquet: trajectories without exactly clicks 1..{k}: {_fmt(bad)}"
        )


def clean(obj: Any) -> Any:
    """JSON-safe copy: NaN and infinities become ``None``; numpy scalars plain numbers."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def differences(submitted: Any, recomputed: Any, where: str = "") -> list[str]:
    """Where two summaries disagree (numbers within 1e-9 relative; NaN equals None)."""
    if isinstance(recomputed, dict):
        if not isinstance(submitted, dict):
            return [f"{where or 'results'}: expected an object"]
        out = []
        for key in sorted(set(submitted) | set(recomputed)):
            sub = f"{where}.{key}" if where else str(key)
            if key not in submitted:
                out.append(f"{sub}: missing")
            elif key not in recomputed:
                out.append(f"{sub}: not a metric rclicks computes")
            else:
                out += differences(submitted[key], recomputed[key], sub)
        return out
    if isinstance(recomputed, list):
        if not isinstance(submitted, list) or len(submitted) != len(recomputed):
            return [f"{where}: expected {len(recomputed)} entries"]
        out = []
        for i, (a, b) in enumerate(zip(submitted, recomputed)):
            out += differences(a, b, f"{where}[{i}]")
        return out
    if recomputed is None:
        ok = submitted is None or (isinstance(submitted, float) and math.isnan(submitted))
        return [] if ok else [f"{where}: submitted {submitted!r}, recomputed null"]
    if isinstance(recomputed, bool) or isinstance(recomputed, str):
        return [] if submitted == recomputed else [f"{where}: submitted {submitted!r}, "
                                                   f"recomputed {recomputed!r}"]  # fmt: skip
    if isinstance(recomputed, int | float):
        if isinstance(submitted, bool) or not isinstance(submitted, int | float):
            return [f"{where}: submitted {submitted!r}, recomputed {recomputed!r}"]
        if math.isclose(submitted, recomputed, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return []
        return [f"{where}: submitted {submitted!r}, recomputed {recomputed!r}"]
    return [] if submitted == recomputed else [f"{where}: differs"]


def _label(results: list[dict[str, Any]], path: str) -> str:
    """``[1].NoC@90`` -> ``demo/distance NoC@90``."""
    if path.startswith("["):
        i = int(path[1 : path.index("]")])
        if i < len(results):
            r = results[i]
            return f"{r.get('dataset')}/{r.get('simulator')} {path[path.index(']') + 2 :]}"
    return path


def recompute(table: pa.Table, spec: BenchmarkSpec, summary: SummaryJson) -> list[dict]:
    """Every metric from the rows; raises when ``summary.json`` says anything else."""
    try:
        rows = summarize(table, {"protocol": {"max_clicks": spec.max_clicks}}, replay=())
    except RunError as exc:
        raise SubmissionError(f"per_click.parquet: {exc}") from None
    results = clean(rows["results"])
    diffs = differences(clean(summary.results), results)
    if diffs:
        shown = "; ".join(_label(results, d) for d in diffs[:3])
        more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
        raise SubmissionError(
            f"summary.json disagrees with the metrics recomputed from per_click.parquet: "
            f"{shown}{more}"
        )
    return results


def check_files(
    files: dict[str, bytes], spec: BenchmarkSpec, reference: dict[str, Any] | None
) -> Checked:
    """Run every check on a bundle's files (MANIFEST hashes already checked).
    ``reference``: the benchmark's reference instance list; ``None`` builds it from the run's
    own ``manifest.json`` (what ``rclicks submit`` does locally — a server never does)."""
    run, summary, manifest, meta = parse(files)
    table = read_table(files["per_click.parquet"])
    check_claims(spec, run, summary)
    if reference is None:
        labels = {d.name: d.dataset for d in run.datasets}
        mans = {d.dataset: d.model_dump() for d in manifest.datasets}
        missing = [n for n in spec.datasets if labels[n] not in mans]
        if missing:
            raise SubmissionError(f"manifest.json: no entry for dataset(s) {missing}")
        reference = reference_from_manifests(spec, {n: mans[labels[n]] for n in spec.datasets})
    check_data(reference, run, manifest)
    check_coverage(spec, reference, table)
    results = recompute(table, spec, summary)
    return Checked(spec, run, summary, meta, results, rows_digest(table), table.num_rows)
