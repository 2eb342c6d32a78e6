"""``rclicks train-clickability``: a thin layer over :func:`rclicks.training.train`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from rclicks.cli import _fail, app, err_console, out_console

_NOT_GIVEN: Any = None  # options left unset: defaults, or the saved values on --resume


def _net_values(pairs: list[str] | None) -> dict[str, Any]:
    """``--net-opt KEY=VALUE``: values are YAML scalars; ``a,b,c`` or ``[a, b, c]`` is a list."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--net-opt {pair!r} must look like KEY=VALUE")
        key, raw = (p.strip() for p in pair.split("=", 1))
        if not key:
            raise ValueError(f"--net-opt {pair!r} has an empty key")
        text = raw.strip("[]() ")
        if "," in raw or raw.startswith("["):
            value: Any = [yaml.safe_load(v) for v in text.split(",") if v.strip()]
        else:
            value = yaml.safe_load(raw) if raw else ""
        out[key] = value
    return out


class _Progress:
    """A rich progress bar on a terminal; one plain line per epoch otherwise."""

    def __init__(self) -> None:
        self.rich = err_console.is_terminal
        self.bar = None
        self.task = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "start":
            self.info = info
            self.t0 = time.perf_counter()
            out_console.print(
                f"training on {info['train_sets']} click sets, validating on "
                f"{info['val_sets']}; {info['steps_per_epoch']} steps per epoch; device "
                f"{info['device']}",
                highlight=False,
            )
            skipped = info.get("unmatched") or []
            if skipped:
                err_console.print(
                    f"[yellow]warning:[/] {len(skipped)} click set(s) of clicks.csv are not in "
                    f"the dataset and are skipped, e.g. {skipped[0]}",
                    highlight=False,
                )
            if self.rich:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                self.bar = Progress(
                    TextColumn("[bold]training[/] epoch {task.fields[epoch]}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("steps  loss {task.fields[loss]}"),
                    TimeElapsedColumn(),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                    console=err_console,
                    transient=True,
                )
                self.bar.start()
                first = info["first_epoch"]
                steps = info["steps_per_epoch"] * (info["epochs"] - first + 1)
                self.task = self.bar.add_task("train", total=steps, epoch=first, loss="-")
        elif event == "step" and self.bar is not None:
            self.bar.update(self.task, advance=1, epoch=info["epoch"], loss=f"{info['loss']:.4f}")
        elif event == "epoch":
            r = info["record"]
            parts = [f"epoch {r['epoch']}/{info['epochs']}"]
            if "train_loss" in r:
                parts.append(f"train KL {r['train_loss']:.4f}")
            for key, label in (("val_kl", "val KL"), ("val_cc", "CC"), ("val_sim", "SIM")):
                if r.get(key) is not None:
                    parts.append(f"{label} {r[key]:.4f}")
            if r.get("best"):
                parts.append("best")
            parts.append(f"{r.get('seconds', 0.0):.1f}s")
            line = "  ".join(parts)
            if self.bar is not None:
                self.bar.console.print(line, highlight=False)
            else:
                out_console.print(line, highlight=False)
        elif event == "end":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@app.command("train-clickability")
def train_clickability_cmd(
    clicks: Path | None = typer.Option(
        _NOT_GIVEN, "--clicks", help="RClicks-format clicks.csv with the real clicks."
    ),
    dataset: str | None = typer.Option(
        _NOT_GIVEN, "--dataset", "-d", help="Dataset name, preset or folder (default demo)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default runs/train-<timestamp>)."
    ),
    epochs: int | None = typer.Option(_NOT_GIVEN, "--epochs", help="Epochs (default 20)."),
    batch_size: int | None = typer.Option(
        _NOT_GIVEN, "--batch-size", help="Click sets per step (default 16)."
    ),
    lr: float | None = typer.Option(_NOT_GIVEN, "--lr", help="Peak Adam lr (default 0.01)."),
    sigma: float | None = typer.Option(
        _NOT_GIVEN, "--sigma", help="Click Gaussian σ on a 1920×1080 screen (default 5)."
    ),
    seed: int | None = typer.Option(_NOT_GIVEN, "--seed", help="Random seed (default 0)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    val_images: Path | None = typer.Option(
        _NOT_GIVEN, "--val-images", help="File of validation image stems, one a line."
    ),
    val_fraction: float | None = typer.Option(
        _NOT_GIVEN,
        "--val-fraction",
        help="Share of images held out for validation, by stem hash (default 0.1).",
    ),
    prev_masks: Path | None = typer.Option(
        _NOT_GIVEN, "--prev-masks", help="Folder of previous masks <full_stem>.png (fn/fp)."
    ),
    click_types: list[str] | None = typer.Option(
        _NOT_GIVEN,
        "--click-types",
        help="Click types to train on: first, fn, fp (repeatable or comma-separated; default all).",
    ),
    init: Path | None = typer.Option(
        _NOT_GIVEN, "--init", help="Start from these weights (e.g. clickability_model.pth)."
    ),
    net_opt: list[str] | None = typer.Option(
        None, "--net-opt", help="KEY=VALUE ClickabilityNet option (reduced width)."
    ),
    data_opt: list[str] | None = typer.Option(
        None, "--data-opt", help="KEY=VALUE for the dataset."
    ),
    clicks_dataset: str | None = typer.Option(
        _NOT_GIVEN,
        "--clicks-dataset",
        help="The dataset name used in clicks.csv (default: the dataset's name).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    stop_after: int | None = typer.Option(
        None, "--stop-after", help="Stop after N epochs of this call (continue with --resume)."
    ),
    registry: Path | None = typer.Option(
        None, "--registry", help="Presets file (default registry.yaml)."
    ),
) -> None:
    """Train the RClicks clickability network on real clicks (KL loss, Adam, cosine lr)."""
    from rclicks.registry import parse_options
    from rclicks.run import default_out
    from rclicks.training import TrainConfig, TrainError, read_last, train

    try:
        given: dict[str, Any] = {
            "clicks": None if clicks is None else str(clicks),
            "dataset": dataset,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "sigma": sigma,
            "seed": seed,
            "val_images": None if val_images is None else str(val_images),
            "val_fraction": val_fraction,
            "prev_masks": None if prev_masks is None else str(prev_masks),
            "click_types": None
            if not click_types
            else [t.strip() for c in click_types for t in c.split(",") if t.strip()],
            "init": None if init is None else str(init),
            "net": _net_values(net_opt) or None,
            "data_options": parse_options(data_opt, "--data-opt") or None,
            "clicks_dataset": clicks_dataset,
        }
        if out is None:
            if resume:
                raise TrainError("--resume needs --out, the folder of the run to continue")
            out = default_out("train-")
        saved = read_last(out) if resume else None
        if saved is not None:
            # unset options take the run's values; set ones must agree (checked by train)
            base = dict(saved.get("config", {}))
        else:
            if resume:
                out_console.print(f"no {out}/last.ckpt to resume: starting a new run")
            base = {"dataset": "demo"}
            if given["clicks"] is None:
                raise TrainError("--clicks is required: the clicks.csv with the real clicks")
        values = {**base, **{k: v for k, v in given.items() if v is not None}}
        values.update(out=str(out), device=device)
        values["registry_path"] = str(registry) if registry else values.get("registry_path")
        known = set(TrainConfig.__dataclass_fields__)
        cfg = TrainConfig(**{k: v for k, v in values.items() if k in known})
        progress = _Progress()
        try:
            result = train(cfg, resume=resume, progress=progress, stop_after=stop_after)
        finally:
            progress.close()
    except (TrainError, ValueError) as exc:
        _fail(str(exc))
    last = result.epochs_done
    lines = [f"Wrote {result.out}/epoch_{last}.pth"]
    if result.best_epoch is not None:
        lines.append(f"best.pth (epoch {result.best_epoch}, SIM {result.best_sim:.4f})")
    lines.append("last.ckpt, net.json, metrics.jsonl")
    out_console.print(", ".join(lines), highlight=False)
    if result.stopped:
        out_console.print(
            f"Stopped after epoch {last} of {cfg.epochs}; continue with "
            f"rclicks train-clickability --out {result.out} --resume",
            highlight=False,
        )
    out_console.print(
        f"Use it: rclicks eval --simulator clickability --sim-opt "
        f"checkpoint={result.out}/{'best.pth' if result.best_epoch else f'epoch_{last}.pth'}",
        highlight=False,
    )
