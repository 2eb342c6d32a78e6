"""``rclicks.evaluate``: the whole protocol from names or objects to a finished run folder.

Order of work, so that bad input costs nothing: the settings (a benchmark expanded here, so a
run can only claim a benchmark it ran), the device, every component resolved; the datasets
checked (every bad file named) before any model work; the model and simulators built (a bad
option leaves no folder behind); then the run folder, the work (this process, or ``workers``
processes on this machine), the merge and ``summary.json``.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rclicks._version import __version__
from rclicks.api.components import as_list, component, require_unique
from rclicks.api.local import refuse_reentry, run_workers
from rclicks.api.raybackend import (
    RayOptions,
    check_reachable,
    import_ray,
    ray_device,
    run_ray,
)
from rclicks.datasets.manifest import MANIFEST_FILE, check_dataset, write_manifest
from rclicks.datasets.prefetch import default_depth
from rclicks.datasets.prefetch import prefetch as prefetch_items
from rclicks.devices import resolve_device
from rclicks.engine.plan import ProtocolSettings
from rclicks.engine.samples import SampleOutcome, load_failed, pending_samples, process_sample
from rclicks.errors import DatasetError, OptionError, RunError, UnknownNameError
from rclicks.options import options_for
from rclicks.plugins.host import PluginHost, get_host, unknown_message
from rclicks.plugins.presets import Registry, load_registry
from rclicks.protocols import (
    ClickSimulator,
    Dataset,
    ISModel,
    described_name,
    is_adversarial,
    is_indexable,
    is_prefetch_safe,
    is_replay,
)
from rclicks.runs.folder import RUN_JSON, SUMMARY, RunFolder, default_out, jsonable, now
from rclicks.runs.folder import write_json as _write_json
from rclicks.runs.run import Run, load_run
from rclicks.runs.summary import summarize

Progress = Callable[[str, dict[str, Any]], None]

DEFAULT_SIMULATORS = ("distance",)
DEFAULT_DATASETS = ("demo",)
BACKENDS = ("local", "ray")


def _version(dist: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def expand_benchmark(
    registry: Registry,
    benchmark: str | None,
    simulators: list[Any],
    datasets: list[Any],
) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """``(simulators, datasets, settings)`` of a run: a benchmark's own, or the given ones
    (defaults ``distance`` × ``demo``). A benchmark sets its simulators and datasets, so giving
    them as well is an error — apart from datasets where the benchmark says
    ``replace_datasets: true`` (then the given ones replace its own)."""
    if benchmark is None:
        return (
            simulators or list(DEFAULT_SIMULATORS),
            datasets or list(DEFAULT_DATASETS),
            {},
        )
    if benchmark not in registry.benchmarks:
        raise UnknownNameError(unknown_message("benchmarks", benchmark, list(registry.benchmarks)))
    b = registry.benchmarks[benchmark]
    replaceable = bool(b.settings.get("replace_datasets", False))
    if simulators or (datasets and not replaceable):
        raise OptionError(
            f"benchmark {benchmark!r} sets the simulators and datasets; do not give them too "
            "(drop --simulator/--dataset)"
        )
    return list(b.simulators), list(datasets or b.datasets), dict(b.settings)


def config_fingerprint(run: Mapping[str, Any]) -> dict[str, Any]:
    """What must be equal for ``resume`` to continue a run."""
    keys = ("model", "simulators", "datasets", "protocol", "limit", "save_masks")
    out = {k: run.get(k, False if k == "save_masks" else None) for k in keys}
    if isinstance(out["protocol"], Mapping):  # runs from before --biou did not compute it
        out["protocol"] = {"biou": False, **out["protocol"]}
    return out


# -- the API ------------------------------------------------------------------------------------


def evaluate(
    model: str | ISModel,
    simulators: str | ClickSimulator | Sequence[str | ClickSimulator] | None = None,
    datasets: str | os.PathLike | Dataset | Sequence[str | os.PathLike | Dataset] | None = None,
    *,
    benchmark: str | None = None,
    groups: int | None = None,
    repeats: int | None = None,
    max_clicks: int | None = None,
    seed: int = 0,
    baseline: bool = True,
    biou: bool = False,
    model_options: Mapping[str, Any] | None = None,
    simulator_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    device: str = "auto",
    out: str | os.PathLike | None = None,
    resume: bool = False,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    gpus_per_worker: float = 0.0,
    ship_data: bool = False,
    limit: int | None = None,
    prefetch: int | None = None,
    registry: str | os.PathLike | None = None,
    save_masks: bool | None = None,
    progress: Progress | None = None,
    host: PluginHost | None = None,
) -> Run:
    """Run the RClicks protocol and return the finished :class:`~rclicks.Run`.

    ``model``: a model name or preset, or an ``rclicks.ISModel`` object. ``simulators``: one or
    several simulator names / presets / ``rclicks.ClickSimulator`` objects (default
    ``("distance",)``). ``datasets``: names, presets, folder paths or ``rclicks.Dataset`` objects
    (default ``("demo",)``). ``benchmark``: a benchmark of ``registry.yaml`` instead of simulators
    and datasets; its ``groups`` / ``repeats`` / ``max_clicks`` / ``baseline`` apply unless given
    here. ``groups`` (default 10), ``repeats`` (1), ``max_clicks`` (20), ``seed``, ``baseline``: the
    protocol; ``biou``: the boundary IoU of every click (TETRIS trajectories and the baseline beside
    them always have it). ``*_options``: factory options of named components (``simulator_options``
    keys may be scoped as ``"NAME:KEY"``). ``device``: auto, cpu, cuda or cuda:N. ``out``: the run
    folder (default ``runs/<timestamp>``); ``resume`` continues an interrupted one. ``workers``:
    processes on this machine (objects must pickle), or with ``backend="ray"`` actors on a Ray
    cluster: ``ray_address`` (default ``$RAY_ADDRESS``, else a local Ray instance started for the
    run), ``gpus_per_worker`` (fractional GPUs each actor reserves) and ``ship_data`` (send the
    decoded samples through Ray's object store instead of each actor reading the dataset; see
    docs/scale-out.md). ``limit``: the first N images of each dataset. ``prefetch``: samples decoded
    ahead in threads (default ``$RCLICKS_PREFETCH`` or 4; results never change). ``registry``: the
    presets file. ``save_masks``: keep the predicted mask after every click in ``masks.parquet``
    (default: for benchmark runs, which a leaderboard verifies with them). ``progress``: called as
    ``progress(event, info)`` with ``start``, ``sample`` and ``end``.
    """
    emit = progress or (lambda event, info: None)
    refuse_reentry()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise OptionError(f"workers must be a whole number >= 1, got {workers!r}")
    if backend not in BACKENDS:
        raise OptionError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    ray_options = None
    if backend == "ray":
        ray_options = RayOptions(ray_address or None, gpus_per_worker, ship_data=bool(ship_data))
        import_ray()  # not installed: say how, before any work
        check_reachable(ray_options)
    elif ray_address or gpus_per_worker or ship_data:
        raise OptionError(
            "ray_address, gpus_per_worker and ship_data are options of backend 'ray' "
            f"(--backend ray), not of backend {backend!r}"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise OptionError(f"limit must be a whole number >= 0, got {limit!r}")
    host = host or get_host()
    reg = load_registry(registry)
    sims, dss, settings_of = expand_benchmark(
        reg, benchmark, as_list(simulators), as_list(datasets)
    )
    settings = ProtocolSettings(
        groups=int(settings_of.get("groups", 10)) if groups is None else groups,
        repeats=int(settings_of.get("repeats", 1)) if repeats is None else repeats,
        max_clicks=int(settings_of.get("max_clicks", 20)) if max_clicks is None else max_clicks,
        seed=seed,
        baseline=bool(baseline) and bool(settings_of.get("baseline", True)),
        biou=bool(biou) or bool(settings_of.get("biou", False)),
    )
    if ray_options is None:
        device = resolve_device(device)
        build_device = device
    else:  # each actor resolves the device on its node; the driver builds on the CPU to check
        device, build_device = ray_device(device, ray_options), "cpu"
    keep_masks = benchmark is not None if save_masks is None else bool(save_masks)

    # 1. every component, by name or object
    model_c = component("models", model, model_options, reg, host)
    named = [os.fspath(s) for s in sims if isinstance(s, (str, os.PathLike))]
    if simulator_options and not named:
        raise OptionError("simulator options were given, but every simulator is an object")
    sim_cs = [
        component("simulators", s, options_for(s, simulator_options, named), reg, host)
        if isinstance(s, str)
        else component("simulators", s, None, reg, host)
        for s in (os.fspath(s) if isinstance(s, os.PathLike) else s for s in sims)
    ]
    require_unique([c.name for c in sim_cs], "simulator")
    data_cs = [component("datasets", d, dataset_options, reg, host) for d in dss]
    require_unique([c.name for c in data_cs], "dataset")

    # 2. the data, before any model work
    built_data = {c.name: c.build() for c in data_cs}
    problems: list[str] = []
    manifests: dict[str, dict[str, Any]] = {}
    for name, ds in built_data.items():
        checked = check_dataset(ds, limit)
        problems += checked.problems
        if checked.manifest is not None:
            manifests[name] = checked.manifest
    if problems:
        raise DatasetError(", ".join(built_data), problems, hint="Nothing was run.")
    labels = {name: described_name(ds, name) for name, ds in built_data.items()}
    require_unique(list(labels.values()), "dataset name")
    indexable = all(is_indexable(ds) for ds in built_data.values())
    n_workers = workers if indexable or ray_options is not None else 1

    # 3. the model and simulators, before the run folder: a bad option leaves nothing behind
    the_model = model_c.build(build_device)
    the_sims = {c.name: c.build(build_device) for c in sim_cs}
    strategies: dict[str, str] = {}
    for c in sim_cs:  # a TETRIS strategy the model cannot run: refused before any work
        if is_adversarial(the_sims[c.name]):
            try:
                strategies[c.name] = the_sims[c.name].strategy_for(the_model)  # type: ignore[attr-defined]
            except OptionError as exc:
                raise OptionError(f"model {model_c.name!r}: {exc}") from None
    if n_workers > 1 or ray_options is not None:
        for c in [model_c, *sim_cs, *data_cs]:
            c.check_portable()  # before the run folder: nothing is left behind
        if not model_c.is_object:
            the_model = None  # the workers build their own; don't hold a second copy here
            gc.collect()

    run_info: dict[str, Any] = {
        "rclicks": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "plugins": {
            p.name: {"distribution": p.distribution, "version": p.version, "status": p.status}
            for p in host.plugins.values()
        },
        "model": model_c.describe(),
        "simulators": [
            {
                **c.describe(),
                "replay": is_replay(the_sims[c.name]),
                "adversarial": is_adversarial(the_sims[c.name]),
                **({"strategy": strategies[c.name]} if c.name in strategies else {}),
            }
            for c in sim_cs
        ],
        "datasets": [
            {
                **c.describe(),
                "dataset": labels[c.name],
                "samples": len(built_data[c.name]),
                "sha256": getattr(built_data[c.name], "fingerprint", None),
                "manifest_sha256": manifests[c.name]["sha256"],
                "instances": manifests[c.name]["instances"],
            }
            for c in data_cs
        ],
        "protocol": asdict(settings),
        "limit": limit,
        "save_masks": keep_masks,
        "benchmark": benchmark,
        "benchmark_protocol": settings_of.get("protocol") if benchmark else None,
        "device": device,
        "workers": n_workers,
        "backend": backend,
        "command": list(sys.argv),
    }

    # 4. the run folder
    out_path = Path(out) if out is not None else default_out()
    folder = RunFolder(out_path, masks=keep_masks)
    run_json = out_path / RUN_JSON
    if resume:
        if not run_json.is_file():
            raise RunError(f"{out_path}: nothing to resume (no run.json); start it without resume")
        from rclicks.runs.run import read_json_file

        previous = read_json_file(run_json) or {}
        if config_fingerprint(previous) != config_fingerprint(jsonable(run_info)):
            raise RunError(
                f"{run_json}: the run was started with other settings; resume needs the same "
                "model, simulators, datasets (and unchanged dataset files), options, protocol "
                "and limit"
            )
        run_info["started"] = previous.get("started")
        run_info["resumed"] = list(previous.get("resumed", [])) + [now()]
    else:
        if out_path.exists() and any(out_path.iterdir()):
            raise RunError(
                f"{out_path}: folder is not empty; resume it (--resume) or choose another out"
            )
        run_info["started"] = now()
    folder.prepare()
    write_manifest(out_path / MANIFEST_FILE, list(manifests.values()), __version__)
    run_info["status"] = "running"
    _write_json(run_json, run_info)

    # 5. the work: indexable datasets are listed by index (cheap), others stream once
    stream = (
        (name, labels[name], i, s)
        for name, ds in built_data.items()
        for i, s in pending_samples(ds, folder, labels[name], limit)
    )
    work: Any = list(stream) if indexable else stream
    total = len(work) if indexable else None
    emit("start", {"samples": total, "device": device, "out": str(out_path)})
    clicks = 0

    def done(o: SampleOutcome) -> None:
        nonlocal clicks
        clicks += o.clicks
        emit("sample", {"instances": o.instances_done, "clicks": o.clicks, "errors": o.errors})

    depth = default_depth() if prefetch is None else max(0, int(prefetch))
    ahead = depth if indexable and all(map(is_prefetch_safe, built_data.values())) else 0
    if ray_options is not None:
        # datasets the actors cannot index (streams) are decoded here and shipped
        ship = {n for n, ds in built_data.items() if ship_data or not is_indexable(ds)}

        def cluster_up(info: dict[str, Any]) -> None:
            run_info["ray"] = info
            devices = sorted({a["device"] for a in info["actors"]})
            run_info["device"] = devices[0] if len(devices) == 1 else devices
            _write_json(run_json, run_info)

        run_info["ray"] = run_ray(
            ray_options,
            n_workers,
            model_c,
            sim_cs,
            data_cs,
            settings,
            device,
            folder,
            work,
            done,
            built_data,
            ship,
            ahead,
            cluster_up,
        )
    elif n_workers == 1 or (total is not None and total <= 1):
        if the_model is None:
            the_model = model_c.build(device)

        def load(item: tuple) -> Any:
            name, _label, i, sample = item
            return sample if sample is not None else built_data[name][i]

        for (name, label, i, _), sample, exc in prefetch_items(load, work, ahead):
            if exc is not None:
                done(load_failed(folder, label, built_data[name], i, exc))
                continue
            done(process_sample(the_model, the_sims, settings, folder, label, sample))
            del sample
    else:
        run_workers(
            n_workers,
            model_c,
            sim_cs,
            data_cs,
            settings,
            device,
            folder,
            [(name, label, i) for name, label, i, _ in work],
            done,
            ahead,
        )

    # 6. merge, summarise
    table = folder.merge()
    summary = summarize(table, jsonable(run_info))
    _write_json(out_path / SUMMARY, summary)
    errors = folder.settle_errors()
    run_info["finished"] = now()
    run_info["status"] = "complete" if errors == 0 else "complete_with_errors"
    run_info["errors"] = errors
    _write_json(run_json, run_info)
    emit("end", {"clicks": clicks})
    return load_run(out_path)
