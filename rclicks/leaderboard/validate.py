"""Every check a submission goes through, in order; shared by ``rclicks submit`` (against the
run's own manifest) and the server (against the reference and ground truth it built from its
own data).

1. the files parse: JSON within bounds, every field by type and length (the pydantic models
   below; strings never hold NUL bytes, so SQLite and PostgreSQL store the same), the
   parquet files' row counts and sizes from their metadata, then their schemas (400);
2. the run claims the benchmark and a known protocol version, with its exact settings: the
   same datasets, simulators, groups, repeats, max_clicks, baseline, no ``--limit``, no
   failed instance (422);
3. its data is the reference's (manifest digests), and its rows cover every reference instance
   with every trajectory of the benchmark, each with clicks 1..K — nothing missing, nothing
   extra (422);
4. every metric, recomputed from the rows with :func:`rclicks.summarize`, equals
   ``summary.json`` (422);
5. with the ground truth (the server): every IoU recomputed from the submitted masks and
   every click re-derived (:mod:`rclicks.leaderboard.verify`, 422).

Extra fields: ``run.json`` and the dataset ``manifest.json`` may hold fields this version
does not know; they are ignored and never stored. ``MANIFEST.json``, ``submission.json`` and
the protocol settings forbid them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from rclicks.errors import BundleError, RunError, SubmissionError
from rclicks.leaderboard.benchmarks import (
    KNOWN_PROTOCOLS,
    BenchmarkSpec,
    reference_from_manifests,
    reference_instances,
    sample_sha256,
)
from rclicks.leaderboard.bundle import BUNDLE_FORMAT, MASKS, MEMBERS
from rclicks.runs.masks import MASK_SCHEMA
from rclicks.runs.schema import NULLABLE, ROW_SCHEMA, SORT_KEYS, table_columns
from rclicks.runs.summary import summarize

REL_TOL = 1e-9
ABS_TOL = 1e-12
_TRAJ_KEYS = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat"]

#: bounds on the JSON files: nesting depth, and the longest string anywhere in them
MAX_DEPTH = 12
MAX_STRING = 4096
#: uncompressed bytes one per-click row may take in per_click.parquet
ROW_BYTES = 512
#: how many times its size a parquet file may declare uncompressed
COMPRESSION = 16
#: decoded bytes a name column (dataset, sample, instance, simulator) may hold a row
NAME_BYTES = 256


# --- the parts of the files that are checked ------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    return value


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_no_nul),
    ]


Name = _text(200, 1)  # names of models, datasets, simulators, benchmarks, plugins
Short = _text(64)  # versions, statuses, devices, times
Long = _text(500)
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[StrictInt, Field(ge=0, le=2**40)]
Options = Annotated[dict[str, Any], Field(max_length=100)]


class _Ignore(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProtocolSettings(_Forbid):
    groups: Annotated[StrictInt, Field(ge=1, le=1000)]
    repeats: Annotated[StrictInt, Field(ge=1, le=1000)]
    max_clicks: Annotated[StrictInt, Field(ge=1, le=1000)]
    seed: Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
    baseline: StrictBool
    biou: StrictBool = False  # absent in runs from before --biou


class PluginJson(_Forbid):
    distribution: Name | None = None
    version: Short | None = None
    status: Short | None = None


Plugins = Annotated[dict[Name, PluginJson], Field(max_length=200)]


class _Named(_Ignore):
    name: Name
    options: Options = {}


class _RunDataset(_Named):
    dataset: Name
    manifest_sha256: Sha256
    samples: Count
    instances: Count


class RunJson(_Ignore):
    rclicks: Short | None = None
    plugins: Plugins = {}
    model: _Named
    simulators: Annotated[list[_Named], Field(min_length=1, max_length=50)]
    datasets: Annotated[list[_RunDataset], Field(min_length=1, max_length=50)]
    protocol: ProtocolSettings
    limit: Count | None
    save_masks: StrictBool = False
    benchmark: Name | None = None
    benchmark_protocol: Short | None = None
    status: Short
    errors: Count = 0
    device: Short | None = None
    workers: Count | None = None
    started: Short | None = None
    finished: Short | None = None
    python: Short | None = None
    platform: Long | None = None
    numpy: Short | None = None
    torch: Short | None = None


class SummaryJson(_Ignore):
    model: Name
    protocol: ProtocolSettings
    benchmark: Name | None = None
    benchmark_protocol: Short | None = None
    replay: Annotated[list[Name], Field(max_length=50)] = []
    results: Annotated[list[dict[str, Any]], Field(max_length=10_000)]


class _ManifestDataset(_Ignore):
    dataset: Name
    loader: Name
    options: Options = {}
    sha256: Sha256
    limit: Count | None = None
    images: Count
    instances: Count
    samples: Annotated[list[dict[str, Any]], Field(max_length=10_000_000)]


class ManifestJson(_Ignore):
    datasets: Annotated[list[_ManifestDataset], Field(min_length=1, max_length=50)]


class FileJson(_Forbid):
    sha256: Sha256
    bytes: Count


class BundleManifestJson(_Forbid):
    format: Literal[BUNDLE_FORMAT]  # type: ignore[valid-type]
    rclicks: Short | None = None
    plugins: Plugins = {}
    files: dict[Literal[MEMBERS], FileJson]  # type: ignore[valid-type]


class SubmissionJson(_Forbid):
    name: Name
    paper: Long | None = None
    code: Long | None = None


@dataclass
class Checked:
    """A submission that passed every check."""

    spec: BenchmarkSpec
    run: RunJson
    summary: SummaryJson
    meta: SubmissionJson
    bundle: BundleManifestJson
    results: list[dict[str, Any]]  # recomputed from the rows, NaN as None
    rows_sha256: str  # the clicks and IoUs (not the timings): duplicates share it
    clicks: int
    verification: dict[str, Any] = field(default_factory=lambda: {"level": "rows"})


def _bounded(obj: Any, name: str, depth: int = 0) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH`, strings longer than
    :data:`MAX_STRING` or holding NUL bytes, anywhere (keys included)."""
    if depth > MAX_DEPTH:
        raise BundleError(f"{name}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(obj, str):
        if len(obj) > MAX_STRING:
            raise BundleError(f"{name}: a string of {len(obj)} characters (at most {MAX_STRING})")
        if "\x00" in obj:
            raise BundleError(f"{name}: a string holds a NUL byte")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _bounded(k, name, depth + 1)
            _bounded(v, name, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _bounded(v, name, depth + 1)


def _json(files: dict[str, bytes], name: str) -> Any:
    try:
        data = json.loads(files[name])
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{name}: not valid JSON ({str(exc)[:200]})") from None
    _bounded(data, name)
    return data


def _model(cls: type[BaseModel], data: Any, name: str) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BundleError(f"{name}: {loc}: {first['msg']}") from None


def _parquet_file(data: bytes, name: str, expected_rows: int | None, row_bytes: int):
    """The parquet file's metadata and schema, checked before anything is decoded: at most
    twice ``expected_rows`` rows (when given), at most ``row_bytes`` uncompressed bytes a
    row and :data:`COMPRESSION` times the file's size."""
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        meta = pf.metadata
        schema = pf.schema_arrow
    except Exception as exc:  # noqa: BLE001 - any reader failure means a malformed file
        raise BundleError(f"{name}: not a readable parquet file ({str(exc)[:200]})") from None
    rows = meta.num_rows
    # up to twice the expected rows are decoded, so that the coverage check can name what is
    # missing or extra; more are refused from the metadata alone
    if expected_rows is not None and not 0 < rows <= 2 * expected_rows:
        raise SubmissionError(f"{name}: {rows} rows, the benchmark has {expected_rows} clicks")
    size = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        size += sum(max(rg.column(c).total_uncompressed_size, 0) for c in range(rg.num_columns))
    if size > max(rows, 1) * row_bytes:
        raise BundleError(
            f"{name}: {size} bytes uncompressed for {rows} rows (at most {row_bytes} a row)"
        )
    if size > COMPRESSION * len(data) + (1 << 20):  # rclicks' own files: about 2×
        raise BundleError(
            f"{name}: {size} bytes uncompressed in a file of {len(data)} (at most "
            f"{COMPRESSION}× its size)"
        )
    return rows, schema


def _decoded_bytes(column: pa.ChunkedArray) -> int:
    """Bytes a string or binary column takes decoded, counted on its dictionary (a value
    repeated a million times is counted a million times, without being copied)."""
    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            lengths = pc.binary_length(chunk.dictionary)
            total += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
        else:
            total += pc.sum(pc.binary_length(chunk)).as_py() or 0
    return int(total)


def _typed_table(
    data: bytes,
    schema: pa.Schema,
    want: pa.Schema,
    name: str,
    limits: dict[str, int],
    nullable: tuple[str, ...] = (),
) -> pa.Table:
    """The columns of ``want``, after the schema check; string and binary columns are read
    dictionary-encoded and their decoded size checked against ``limits`` (bytes per column)
    before they are expanded. ``nullable`` columns may be null or absent (added as nulls)."""
    optional = [f for f in want if f.name in nullable and f.name not in schema.names]
    for f in want:
        if f in optional:  # written before the column existed: all null
            continue
        if f.name not in schema.names:
            raise BundleError(f"{name}: column {f.name!r} is missing")
        got = schema.field(f.name).type
        if got != f.type:
            raise BundleError(f"{name}: column {f.name!r} is {got}, expected {f.type}")
    extra = set(schema.names) - set(want.names)
    if extra:
        raise BundleError(f"{name}: unexpected column(s) {sorted(extra)}")
    texts = [f.name for f in want if pa.types.is_string(f.type) or pa.types.is_binary(f.type)]
    try:
        pf = pq.ParquetFile(pa.BufferReader(data), read_dictionary=texts)
        table = pf.read(columns=[f.name for f in want if f not in optional])
    except Exception as exc:  # noqa: BLE001 - a corrupt page
        raise BundleError(f"{name}: not a readable parquet file ({str(exc)[:200]})") from None
    for f in optional:
        table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    for f in want:
        if f.name not in nullable and table.column(f.name).null_count:
            raise BundleError(f"{name}: column {f.name!r} has empty values")
    if table.num_rows == 0:
        raise SubmissionError(f"{name}: no rows")
    for col in texts:
        decoded = _decoded_bytes(table.column(col))
        if decoded > limits[col]:
            raise BundleError(
                f"{name}: column {col!r} holds {decoded} bytes decoded (at most {limits[col]})"
            )
        table = table.set_column(
            table.schema.get_field_index(col), col, table.column(col).cast(want.field(col).type)
        )
    return table.select(want.names)


def read_table(data: bytes, expected_rows: int | None = None) -> pa.Table:
    """``per_click.parquet`` from bytes, with exactly the engine's columns and types; its
    row count and size checked from the metadata first, its names at most
    :data:`NAME_BYTES` a row decoded."""
    rows, schema = _parquet_file(data, "per_click.parquet", expected_rows, ROW_BYTES)
    limits = {f.name: rows * NAME_BYTES for f in ROW_SCHEMA}
    return _typed_table(data, schema, ROW_SCHEMA, "per_click.parquet", limits, NULLABLE)


def read_masks(data: bytes, expected_rows: int, pixels: int) -> pa.Table:
    """``masks.parquet`` from bytes: one row per click, at most what masks of ``pixels``
    pixels can take, and the masks at most :data:`COMPRESSION` times the file's size
    decoded (all checked before a mask is expanded)."""
    per_row = 256 + 10 * max(pixels, 1)
    rows, schema = _parquet_file(data, MASKS, expected_rows, per_row)
    limits = {f.name: rows * NAME_BYTES for f in MASK_SCHEMA}
    limits["rle"] = min(rows * per_row, COMPRESSION * len(data) + (1 << 20))
    return _typed_table(data, schema, MASK_SCHEMA, MASKS, limits)


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


def read_run(files: dict[str, bytes]) -> RunJson:
    """``run.json``, every field checked."""
    return _model(RunJson, _json(files, "run.json"), "run.json")


def parse(
    files: dict[str, bytes],
) -> tuple[RunJson, SummaryJson, ManifestJson, SubmissionJson, BundleManifestJson]:
    return (
        read_run(files),
        _model(SummaryJson, _json(files, "summary.json"), "summary.json"),
        _model(ManifestJson, _json(files, "manifest.json"), "manifest.json"),
        _model(SubmissionJson, _json(files, "submission.json"), "submission.json"),
        _model(BundleManifestJson, _json(files, "MANIFEST.json"), "MANIFEST.json"),
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


def _largest_image(manifest: ManifestJson) -> int:
    """Pixels of the largest image the dataset manifest lists (its own ``size`` fields)."""
    largest = 0
    for d in manifest.datasets:
        for rec in d.samples:
            size = rec.get("size")
            if isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size):
                largest = max(largest, size[0] * size[1])
    return largest


def expected_clicks(spec: BenchmarkSpec, reference: dict[str, Any]) -> int:
    """Rows a complete run of ``spec`` has: instances × trajectories × clicks."""
    return len(reference_instances(reference)) * len(spec.trajectories()) * spec.max_clicks


def check_files(
    files: dict[str, bytes],
    spec: BenchmarkSpec,
    reference: dict[str, Any] | None,
    truth: dict | None = None,
    pool: Any = None,
) -> Checked:
    """Run every check on a bundle's files (MANIFEST hashes already checked).
    ``reference``: the benchmark's reference instance list; ``None`` builds it from the run's
    own ``manifest.json`` (what ``rclicks submit`` does locally — a server never does).
    ``truth``: the ground truth by instance (:mod:`rclicks.leaderboard.truth`); with it every
    IoU is recomputed from the masks and every click re-derived, on ``pool`` (an executor)
    when given."""
    run, summary, manifest, meta, bundle = parse(files)
    check_claims(spec, run, summary)
    if reference is None:
        labels = {d.name: d.dataset for d in run.datasets}
        mans = {d.dataset: d.model_dump() for d in manifest.datasets}
        missing = [n for n in spec.datasets if labels[n] not in mans]
        if missing:
            raise SubmissionError(f"manifest.json: no entry for dataset(s) {missing}")
        reference = reference_from_manifests(spec, {n: mans[labels[n]] for n in spec.datasets})
    check_data(reference, run, manifest)
    expected = expected_clicks(spec, reference)
    table = read_table(files["per_click.parquet"], expected)
    check_coverage(spec, reference, table)
    results = recompute(table, spec, summary)
    if MASKS not in files:
        raise SubmissionError(
            f"bundle: no {MASKS}; the server recomputes every IoU from the predicted masks — "
            f"re-run with `rclicks eval --benchmark {spec.name} --save-masks`"
        )
    if truth is not None:
        pixels = max((r.height * r.width for r in truth.values()), default=0)
    else:
        pixels = _largest_image(manifest)
    masks = read_masks(files[MASKS], table.num_rows, pixels)
    verification: dict[str, Any] = {"level": "rows"}
    if truth is not None:
        from rclicks.leaderboard.verify import verify_masks

        verification = verify_masks(table, masks, truth, pool)
    return Checked(
        spec,
        run,
        summary,
        meta,
        bundle,
        results,
        rows_digest(table),
        table.num_rows,
        verification,
    )
