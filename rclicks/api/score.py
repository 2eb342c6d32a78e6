"""``rclicks.score_simulator``: how well simulators predict where real people click."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclicks._version import __version__
from rclicks.api.components import as_list, component, require_unique
from rclicks.datasets.manifest import check_dataset
from rclicks.devices import resolve_device
from rclicks.errors import ClicksFileError, DatasetError, OptionError, RunError
from rclicks.options import options_for
from rclicks.plugins.host import PluginHost, get_host
from rclicks.plugins.presets import load_registry
from rclicks.protocols import ClickSimulator, Dataset, described_name, is_replay
from rclicks.realclicks.clicks_csv import CLICK_TYPES, check_prev_masks, load_clicks, targets
from rclicks.realclicks.scoring import (
    MEAN_COLUMNS,
    ROW_COLUMNS,
    ScoreConfig,
    mean_rows,
    samples_for,
    score_targets,
    write_csv,
)
from rclicks.runs.folder import default_out


@dataclass
class ScoreResult:
    """``out``: the folder with per_image.csv, mean.csv and score.json; ``rows``: one per
    (click set, simulator); ``means``: per (dataset, simulator, click type); ``unmatched``:
    click sets of the file that matched no image and object of the dataset."""

    out: Path
    rows: list[dict[str, Any]]
    means: list[dict[str, Any]]
    unmatched: list[str]


def score_simulator(
    simulators: str | ClickSimulator | Sequence[str | ClickSimulator],
    clicks: str | os.PathLike,
    dataset: str | os.PathLike | Dataset,
    *,
    prev_masks: str | os.PathLike | None = None,
    click_types: Sequence[str] | None = None,
    input_device: str = "all",
    clicks_dataset: str | None = None,
    batches: int = 100,
    seed: int = 0,
    whole_map: bool = False,
    limit: int | None = None,
    device: str = "auto",
    simulator_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    registry: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    progress: Callable[[str, dict], None] | None = None,
    host: PluginHost | None = None,
) -> ScoreResult:
    """Score simulators (names, presets or ``rclicks.ClickSimulator`` objects) against the
    real clicks of an RClicks ``clicks.csv`` on ``dataset`` (a name, preset, folder or
    ``rclicks.Dataset`` object): PDE, NSS, KS, WD and PL1 per click set, and their means.
    ``prev_masks``: a folder of ``<full_stem>.png`` previous masks (fn / fp rounds);
    ``click_types``: first, fn, fp (default all); ``input_device``: all, pc or mobile;
    ``clicks_dataset``: the dataset's name in the file (default its own); ``batches``: sampled
    click sets per real one; ``whole_map``: score the whole map, not only its error-region
    part; ``limit``: the first N click sets. Writes per_image.csv, mean.csv and score.json
    into ``out`` (default ``runs/score-<timestamp>``)."""
    emit = progress or (lambda event, info: None)
    host = host or get_host()
    reg = load_registry(registry)
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise OptionError(f"batches must be a whole number >= 1, got {batches!r}")
    if input_device not in ("all", "pc", "mobile"):
        raise OptionError(f"input_device must be all, pc or mobile; got {input_device!r}")
    types = list(click_types) if click_types else list(CLICK_TYPES)
    bad = [t for t in types if t not in CLICK_TYPES]
    if bad:
        raise OptionError(f"click types must be first, fn or fp; got {', '.join(bad)}")
    table = load_clicks(clicks)
    sims = as_list(simulators)
    if not sims:
        raise OptionError("no simulator to score")
    named = [s for s in sims if isinstance(s, str)]
    sim_cs = [
        component(
            "simulators",
            s,
            options_for(s, simulator_options, named) if isinstance(s, str) else None,
            reg,
            host,
        )
        for s in sims
    ]
    require_unique([c.name for c in sim_cs], "simulator")
    data_c = component("datasets", dataset, dataset_options, reg, host)
    ds = data_c.build()
    label = described_name(ds, data_c.name)
    csv_name = clicks_dataset or label
    sets = table.sets(dataset=csv_name, click_types=types)
    if not sets:
        known = ", ".join(table.datasets()) or "none"
        raise ClicksFileError(
            f"{table.path}: no {'/'.join(types)} click sets for dataset {csv_name!r} "
            f"(datasets in the file: {known}); use --clicks-dataset to name it"
        )
    if limit is not None:
        sets = sets[:limit]
    prev = Path(prev_masks) if prev_masks else None
    problems = check_prev_masks(sets, prev)
    if problems:
        raise ClicksFileError(
            f"{len(problems)} previous mask(s) missing:\n  " + "\n  ".join(problems[:20])
        )
    checked = check_dataset(ds)
    if checked.problems:
        raise DatasetError(label, checked.problems, hint="Nothing was scored.")
    dev = resolve_device(device)
    built = {c.name: c.build(dev) for c in sim_cs}
    if any(is_replay(s) for s in built.values()):
        raise RunError("the users simulator replays clicks; it cannot be scored against them")
    out_path = Path(out) if out is not None else default_out("score-")
    out_path.mkdir(parents=True, exist_ok=True)

    unmatched: list[str] = []
    emit("start", {"sets": len(sets), "simulators": len(built)})
    started = time.time()
    rows = score_targets(
        built,
        targets(samples_for(ds, {s.image_stem for s in sets}), sets, prev, input_device, unmatched),
        ScoreConfig(batches, seed, whole_map),
        label,
        on_row=lambda r: emit("row", r),
    )
    emit("end", {})
    means = mean_rows(rows)
    write_csv(out_path / "per_image.csv", rows, ROW_COLUMNS)
    write_csv(out_path / "mean.csv", means, MEAN_COLUMNS)
    info = {
        "rclicks": __version__,
        "clicks": str(clicks),
        "dataset": label,
        "clicks_dataset": csv_name,
        "simulators": {c.name: c.describe() for c in sim_cs},
        "click_types": types,
        "input_device": input_device,
        "batches": batches,
        "seed": seed,
        "whole_map": whole_map,
        "device": dev,
        "sets": len(rows) // max(len(built), 1),
        "unmatched": unmatched,
        "seconds": round(time.time() - started, 3),
        "means": means,
    }
    (out_path / "score.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    return ScoreResult(out_path, rows, means, unmatched)
