"""The Python API behind ``rclicks eval``: resolve components, check data, run, summarise."""

from __future__ import annotations

import datetime as _dt
import glob
import importlib.util
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rclicks.datasets.folder import DatasetError
from rclicks.datasets.manifest import (
    MANIFEST_FILE,
    check_and_manifest,
    prefetch_safe,
    write_manifest,
)
from rclicks.datasets.prefetch import default_depth, prefetch
from rclicks.engine import (
    ROW_SCHEMA,
    SORT_KEYS,
    Protocol,
    RunFolder,
    SampleOutcome,
    is_replay,
    iter_pending,
    process_sample,
)
from rclicks.metrics import summarize
from rclicks.plugins import PluginHost, get_host
from rclicks.presets import load_registry
from rclicks.registry import Resolved, instantiate, options_for, resolve

Progress = Callable[[str, dict[str, Any]], None]


class RunError(RuntimeError):
    """A run cannot start or continue (bad folder, mismatched resume, ...)."""


@dataclass
class EvalConfig:
    model: str
    simulators: list[str]
    datasets: list[str]
    model_options: dict[str, Any] = field(default_factory=dict)
    sim_options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    groups: int = 10
    repeats: int = 1
    max_clicks: int = 20
    seed: int = 0
    baseline: bool = True
    device: str = "auto"
    limit: int | None = None
    workers: int = 1
    out: str | None = None
    resume: bool = False
    registry_path: str | None = None
    benchmark: str | None = None
    #: samples decoded ahead of the model in background threads (None: $RCLICKS_PREFETCH or 4;
    #: 0: off). Never changes the results, only when the decoding happens.
    prefetch: int | None = None

    def protocol(self) -> Protocol:
        return Protocol(self.groups, self.repeats, self.max_clicks, self.seed, self.baseline)


@dataclass
class RunResult:
    out: Path
    summary: dict[str, Any]
    errors: int
    clicks: int


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise RunError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    if device != "auto":
        return device
    # importing torch costs seconds: only ask it when this machine has an NVIDIA device
    if importlib.util.find_spec("torch") is None or not _nvidia_present():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _nvidia_present() -> bool:
    if "torch" in sys.modules:
        return True  # already paid for: let torch decide
    return bool(glob.glob("/dev/nvidia[0-9]*")) or shutil.which("nvidia-smi") is not None


def _version(dist: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _describe(r: Resolved) -> dict[str, Any]:
    return {
        "name": r.name,
        "plugin": r.entry.name,
        "provided_by": r.entry.plugin,
        "distribution": r.entry.distribution,
        "version": r.entry.version,
        "options": _jsonable(r.options),
        "preset": r.preset is not None,
    }


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_out(prefix: str = "") -> Path:
    """``runs/<prefix><timestamp>``, with a suffix when that folder is taken."""
    stamp = prefix + _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, k = Path("runs") / stamp, 1
    while path.exists():
        k += 1
        path = Path("runs") / f"{stamp}-{k}"
    return path


def benchmark_protocol(benchmark: str | None, registry_path: str | None) -> str | None:
    """The protocol version (``protocol:`` in ``registry.yaml``) of the benchmark a run was
    started with, so the run records which benchmark and version it claims to satisfy."""
    if benchmark is None:
        return None
    spec = load_registry(registry_path).benchmarks.get(benchmark)
    return None if spec is None else spec.settings.get("protocol")


def config_fingerprint(run: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for ``--resume`` to continue a run."""
    return {k: run.get(k) for k in ("model", "simulators", "datasets", "protocol", "limit")}


class _Components:
    """Everything one process needs to run samples (built in each worker)."""

    def __init__(self, cfg: EvalConfig, device: str, host: PluginHost | None = None):
        host = host or get_host()
        registry = load_registry(cfg.registry_path)
        self.model_r = resolve("models", cfg.model, cfg.model_options, registry, host)
        self.sim_r = {
            s: resolve(
                "simulators",
                s,
                options_for(s, cfg.sim_options, list(cfg.simulators)),
                registry,
                host,
            )
            for s in cfg.simulators
        }
        self.data_r = {
            d: resolve("datasets", d, cfg.data_options, registry, host) for d in cfg.datasets
        }
        self.device = device
        self._model = None
        self._sims: dict[str, Any] | None = None
        self._datasets: dict[str, Any] = {}

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = instantiate(self.model_r, self.device)
        return self._model

    @property
    def simulators(self) -> dict[str, Any]:
        if self._sims is None:
            self._sims = {n: instantiate(r, self.device) for n, r in self.sim_r.items()}
        return self._sims

    def release_model(self) -> None:
        self._model = None
        import gc

        gc.collect()

    def dataset(self, name: str) -> Any:
        if name not in self._datasets:
            self._datasets[name] = instantiate(self.data_r[name])
        return self._datasets[name]


_WORKER: dict[str, Any] = {}


def _worker_init(cfg_dict: dict[str, Any], device: str, out: str) -> None:
    import rclicks.clicks  # noqa: F401 - sets OpenCV to one thread per worker

    cfg = EvalConfig(**cfg_dict)
    _WORKER["components"] = _Components(cfg, device)
    _WORKER["protocol"] = cfg.protocol()
    _WORKER["folder"] = RunFolder(Path(out))


def _worker_run(dataset_name: str, ds_label: str, index: int) -> SampleOutcome:
    comp: _Components = _WORKER["components"]
    ds = comp.dataset(dataset_name)
    try:
        sample = ds[index]
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        return _load_failed(_WORKER["folder"], ds_label, ds, index, exc)
    return process_sample(
        comp.model, comp.simulators, _WORKER["protocol"], _WORKER["folder"], ds_label, sample
    )


def evaluate(
    cfg: EvalConfig, progress: Progress | None = None, host: PluginHost | None = None
) -> RunResult:
    """Run the protocol; see ``rclicks eval --help`` for what each setting means."""
    progress = progress or (lambda event, info: None)
    if cfg.workers < 1:
        raise RunError(f"--workers must be >= 1, got {cfg.workers}")
    device = resolve_device(cfg.device)
    comp = _Components(cfg, device, host)
    protocol = cfg.protocol()
    out = Path(cfg.out) if cfg.out else default_out()
    folder = RunFolder(out)

    # 1. the data, before any model work
    datasets = {name: comp.dataset(name) for name in cfg.datasets}
    problems: list[str] = []
    manifests: dict[str, dict[str, Any]] = {}
    for n, ds in datasets.items():
        found, manifest = check_and_manifest(ds, cfg.limit)
        problems += found
        if manifest is not None:
            manifests[n] = manifest
    if problems:
        raise DatasetError(", ".join(cfg.datasets), problems)
    depth = default_depth() if cfg.prefetch is None else max(0, int(cfg.prefetch))
    # worker processes load samples by index; a dataset that can only be iterated runs here
    indexable = all(
        hasattr(ds, "__getitem__") and hasattr(ds, "sample_ids") for ds in datasets.values()
    )
    workers = cfg.workers if indexable else 1

    # 2. the model and simulators, before the run folder: a bad option leaves nothing behind
    comp.model, comp.simulators  # noqa: B018 - built (and cached) for their errors
    if workers > 1:
        comp.release_model()  # the workers build their own; don't hold a second copy here

    run_info = {
        "rclicks": _version("rclicks"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "plugins": {
            p.name: {"distribution": p.distribution, "version": p.version, "status": p.status}
            for p in (host or get_host()).plugins.values()
        },
        "model": _describe(comp.model_r),
        "simulators": [_describe(r) for r in comp.sim_r.values()],
        "datasets": [
            {
                **_describe(r),
                "dataset": getattr(datasets[n], "name", n),
                "samples": len(datasets[n]),
                "sha256": getattr(datasets[n], "fingerprint", None),
                "manifest_sha256": manifests[n]["sha256"],
                "instances": manifests[n]["instances"],
            }
            for n, r in comp.data_r.items()
        ],
        "protocol": asdict(protocol),
        "limit": cfg.limit,
        "benchmark": cfg.benchmark,
        "benchmark_protocol": benchmark_protocol(cfg.benchmark, cfg.registry_path),
        "device": device,
        "workers": workers,
        "command": sys.argv,
    }

    # 3. the run folder
    run_json = out / "run.json"
    if cfg.resume:
        if not run_json.is_file():
            raise RunError(f"{out}: nothing to resume (no run.json); start it without --resume")
        previous = json.loads(run_json.read_text())
        if config_fingerprint(previous) != config_fingerprint(_jsonable(run_info)):
            raise RunError(
                f"{run_json}: the run was started with other settings; resume needs the same "
                "model, simulators, datasets (and unchanged dataset files), options, protocol "
                "and --limit"
            )
        run_info["started"] = previous.get("started")
        run_info["resumed"] = previous.get("resumed", []) + [_now()]
    else:
        if out.exists() and any(out.iterdir()):
            raise RunError(
                f"{out}: folder is not empty; use --resume to continue it or another --out"
            )
        run_info["started"] = _now()
    folder.prepare()
    write_manifest(out / MANIFEST_FILE, list(manifests.values()), run_info["rclicks"])
    run_info["status"] = "running"
    _write_json(run_json, run_info)

    # 4. the work
    labels = {n: getattr(ds, "name", n) for n, ds in datasets.items()}
    # samples load lazily: indexable datasets are listed by index, others stream once
    work = (
        (n, labels[n], i, s)
        for n, ds in datasets.items()
        for i, s in iter_pending(ds, folder, labels[n], cfg.limit)
    )
    if indexable:
        work = list(work)  # cheap: (name, label, index, None) tuples
    total = len(work) if indexable else None
    progress("start", {"samples": total, "device": device, "out": str(out)})
    totals = SampleOutcome("", "")

    def done(o: SampleOutcome) -> None:
        totals.instances_done += o.instances_done
        totals.clicks += o.clicks
        totals.errors += o.errors
        progress("sample", {"instances": o.instances_done, "clicks": o.clicks, "errors": o.errors})

    if workers == 1 or len(work) <= 1:
        # indexable datasets decode ahead of the model in threads, in order (see prefetch)
        ahead = depth if indexable and all(prefetch_safe(d) for d in datasets.values()) else 0

        def load(item: tuple) -> Any:
            n, _label, i, sample = item
            return sample if sample is not None else datasets[n][i]

        for (n, label, i, _), sample, exc in prefetch(load, work, ahead):
            if exc is not None:
                done(_load_failed(folder, label, datasets[n], i, exc))
                continue
            done(process_sample(comp.model, comp.simulators, protocol, folder, label, sample))
            del sample
    else:
        ctx = get_context("spawn")
        cfg_dict = asdict(cfg)
        with ProcessPoolExecutor(
            workers,
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(cfg_dict, device, str(out)),
        ) as pool:
            futures = [pool.submit(_worker_run, n, label, i) for n, label, i, _ in work]
            for f in as_completed(futures):
                done(f.result())

    # 5. merge, summarise
    table = merge(out, folder)
    replay = [n for n, sim in comp.simulators.items() if is_replay(sim)]
    summary = build_summary(table, protocol, run_info, replay)
    _write_json(out / "summary.json", summary)
    errors = _count_errors(out)
    run_info["finished"] = _now()
    run_info["status"] = "complete" if errors == 0 else "complete_with_errors"
    run_info["errors"] = errors
    _write_json(run_json, run_info)
    progress("end", {"clicks": totals.clicks})
    return RunResult(out, summary, errors, table.num_rows)


def _load_failed(folder: RunFolder, label: str, ds: Any, index: int, exc: BaseException):
    """A sample that passed the check but cannot be read now (a file changed or vanished):
    recorded in ``errors.jsonl`` (stage ``dataset``); ``--resume`` tries it again."""
    from rclicks.engine import _error

    try:
        sample_id = ds.sample_ids()[index]
    except Exception:  # noqa: BLE001
        sample_id = f"#{index}"
    out = SampleOutcome(label, sample_id)
    _error(folder, out, label, sample_id, "", "dataset", exc)
    return out


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def merge(out: Path, folder: RunFolder) -> pa.Table:
    """The journal (one file per finished instance) -> one sorted ``per_click.parquet``.
    The journal stays: it is what ``--resume`` reads."""
    tables = folder.journal_tables()
    final = out / "per_click.parquet"
    table = pa.concat_tables(tables) if tables else ROW_SCHEMA.empty_table()
    table = table.cast(ROW_SCHEMA)
    if table.num_rows:
        uniq = table.group_by(SORT_KEYS).aggregate([])  # one row per click
        if uniq.num_rows != table.num_rows:
            raise RunError(f"{out}: duplicate clicks in the journal")
        table = table.sort_by([(k, "ascending") for k in SORT_KEYS])
    tmp = final.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return table


def read_rows(path: str | Path) -> dict[str, np.ndarray]:
    """``per_click.parquet`` as numpy columns (strings as ``str`` arrays), e.g. to recompute
    the summary: ``rclicks.metrics.summarize(read_rows(path), max_clicks)``."""
    return table_columns(pq.read_table(path))


def table_columns(table: pa.Table) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for name in table.column_names:
        arr = table.column(name).to_numpy(zero_copy_only=False)
        if pa.types.is_string(table.schema.field(name).type):
            arr = arr.astype(str)
        cols[name] = arr
    return cols


def build_summary(
    table: pa.Table,
    protocol: Protocol,
    run_info: dict[str, Any],
    replay: list[str] | None = None,
) -> dict:
    cols = table_columns(table)
    results = summarize(cols, protocol.max_clicks, replay=replay or []) if table.num_rows else []
    return {
        "rclicks": run_info.get("rclicks"),
        "model": run_info["model"]["name"],
        "protocol": asdict(protocol),
        "benchmark": run_info.get("benchmark"),
        "benchmark_protocol": run_info.get("benchmark_protocol"),
        "replay": replay or [],
        "results": results,
    }


def _count_errors(out: Path) -> int:
    path = out / "errors.jsonl"
    if not path.exists():
        return 0
    folder = RunFolder(out)
    latest: dict[tuple, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[(rec["dataset"], rec["sample_id"], rec["instance_id"])] = rec

    def finished(k: tuple) -> bool:
        if k[2] == "":  # the sample could not be loaded: done once the sample is done
            return folder.sample_marker(k[0], k[1]).exists()
        return folder.instance_file(*k).exists()

    pending = {k: v for k, v in latest.items() if not finished(k)}
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in pending.values()))
    os.replace(tmp, path)
    if not pending:
        path.unlink()
    return len(pending)
