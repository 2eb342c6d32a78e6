"""``rclicks.train_clickability``: train the clickability network on real clicks."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rclicks.api.components import component
from rclicks.clickability.training import TrainConfig, TrainResult, read_last, train
from rclicks.errors import TrainError
from rclicks.plugins.host import PluginHost
from rclicks.plugins.presets import load_registry
from rclicks.protocols import Dataset, described_name
from rclicks.runs.folder import default_out

DEFAULT_DATASET = "demo"


def train_clickability(
    clicks: str | os.PathLike | None = None,
    dataset: str | os.PathLike | Dataset | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    sigma: float | None = None,
    seed: int | None = None,
    device: str = "auto",
    val_images: str | os.PathLike | None = None,
    val_fraction: float | None = None,
    prev_masks: str | os.PathLike | None = None,
    click_types: Sequence[str] | None = None,
    init: str | os.PathLike | None = None,
    net: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    clicks_dataset: str | None = None,
    stop_after: int | None = None,
    registry: str | os.PathLike | None = None,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
    host: PluginHost | None = None,
) -> TrainResult:
    """Train the RClicks clickability network on the real clicks of ``clicks`` (an RClicks
    ``clicks.csv``) over ``dataset`` (a name, preset, folder or ``rclicks.Dataset`` object;
    default ``demo``), writing epoch checkpoints, ``best.pth``, ``last.ckpt``, ``net.json`` and
    ``metrics.jsonl`` into ``out`` (default ``runs/train-<timestamp>``).

    Settings left ``None`` take their defaults (epochs 20, batch_size 16, lr 0.01, sigma 5,
    seed 0, val_fraction 0.1, every click type) — or, with ``resume``, the values of the run in
    ``out``; a setting given differently from that run is an error. ``net``:
    ``ClickabilityNet`` options of a reduced-width network. ``stop_after``: return after this
    many epochs of this call (continue later with ``resume=True``)."""
    given: dict[str, Any] = {
        "clicks": None if clicks is None else os.fspath(clicks),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "sigma": sigma,
        "seed": seed,
        "val_images": None if val_images is None else os.fspath(val_images),
        "val_fraction": val_fraction,
        "prev_masks": None if prev_masks is None else os.fspath(prev_masks),
        "click_types": None if not click_types else list(click_types),
        "init": None if init is None else os.fspath(init),
        "net": dict(net) if net else None,
        "data_options": dict(dataset_options) if dataset_options else None,
        "clicks_dataset": clicks_dataset,
    }
    if out is None:
        if resume:
            raise TrainError("resume needs out, the folder of the run to continue")
        out = default_out("train-")
    out = Path(out)
    saved = read_last(out) if resume else None
    if saved is not None:
        # unset settings take the run's values; set ones must agree (checked by train)
        base = dict(saved.get("config", {}))
    else:
        if resume and progress is not None:
            progress("note", {"message": f"no {out}/last.ckpt to resume: starting a new run"})
        base = {"dataset": DEFAULT_DATASET}
        if given["clicks"] is None:
            raise TrainError("clicks is required: the clicks.csv with the real clicks")
    values = {**base, **{k: v for k, v in given.items() if v is not None}}
    if dataset is None:
        dataset = values.get("dataset", DEFAULT_DATASET)
    reg = load_registry(registry)
    data_c = component("datasets", dataset, values.get("data_options"), reg, host)
    ds = data_c.build()
    values["dataset"] = data_c.name if not data_c.is_object else described_name(ds, data_c.name)
    values.update(out=str(out), device=device)
    known = set(TrainConfig.__dataclass_fields__)
    cfg = TrainConfig(**{k: v for k, v in values.items() if k in known})
    return train(cfg, resume=resume, progress=progress, stop_after=stop_after, dataset=ds)
