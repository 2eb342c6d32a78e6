"""``rclicks train-clickability``: a thin layer over :func:`rclicks.train_clickability`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

import rclicks
from rclicks.cli._ui import TerminalProgress, err_console, out_console, say, warn
from rclicks.options import parse_options

_NOT_GIVEN: Any = None  # options left unset: defaults, or the saved values on --resume


class TrainProgress(TerminalProgress):
    """A rich progress bar on a terminal; one plain line per epoch in any case."""

    def on_event(self, event: str, info: dict[str, Any]) -> None:
        if event == "note":
            say(info["message"])
        elif event == "start":
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
                warn(
                    f"{len(skipped)} click set(s) of clicks.csv are not in the dataset and are "
                    f"skipped, e.g. {skipped[0]}"
                )
            if self.enabled:
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
    with TrainProgress() as progress:
        result = rclicks.train_clickability(
            clicks,
            dataset,
            out=out,
            resume=resume,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            sigma=sigma,
            seed=seed,
            device=device,
            val_images=val_images,
            val_fraction=val_fraction,
            prev_masks=prev_masks,
            click_types=[t.strip() for c in click_types or [] for t in c.split(",") if t.strip()],
            init=init,
            net=parse_options(net_opt, "--net-opt", lists=True),
            dataset_options=parse_options(data_opt, "--data-opt"),
            clicks_dataset=clicks_dataset,
            stop_after=stop_after,
            registry=registry,
            progress=progress,
        )
    last = result.epochs_done
    lines = [f"Wrote {result.out}/epoch_{last}.pth"]
    if result.best_epoch is not None:
        lines.append(f"best.pth (epoch {result.best_epoch}, SIM {result.best_sim:.4f})")
    lines.append("last.ckpt, net.json, metrics.jsonl")
    out_console.print(", ".join(lines), highlight=False)
    if result.stopped:
        out_console.print(
            f"Stopped after epoch {last} of {result.epochs}; continue with "
            f"rclicks train-clickability --out {result.out} --resume",
            highlight=False,
        )
    out_console.print(
        f"Use it: rclicks eval --simulator clickability --sim-opt "
        f"checkpoint={result.out}/{'best.pth' if result.best_epoch else f'epoch_{last}.pth'}",
        highlight=False,
    )
