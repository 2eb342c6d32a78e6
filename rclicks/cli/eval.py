"""``rclicks eval``: run the protocol (a thin layer over :func:`rclicks.evaluate`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

import rclicks
from rclicks.cli._ui import TerminalProgress, err_console, out_console, say, warn
from rclicks.cli.tables import results_table, tetris_table, users_table
from rclicks.options import parse_options

DEFAULT_MODEL = "geodesic"


def eval_cmd(
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Model name or preset."),
    simulator: list[str] | None = typer.Option(
        None, "--simulator", "-s", help="Click simulator (repeatable). Default distance."
    ),
    dataset: list[str] | None = typer.Option(
        None, "--dataset", "-d", help="Dataset name, preset or folder (repeatable). Default demo."
    ),
    benchmark: str | None = typer.Option(
        None, "--benchmark", help="Run a benchmark named in registry.yaml."
    ),
    groups: int | None = typer.Option(None, "--groups", help="Clicking groups (default 10)."),
    repeats: int | None = typer.Option(
        None, "--repeats", help="Trajectories per group (default 1)."
    ),
    max_clicks: int | None = typer.Option(
        None, "--max-clicks", help="Clicks per trajectory (default 20)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the baseline trajectory."),
    biou: bool = typer.Option(
        False, "--biou", help="Boundary IoU of every click (TETRIS trajectories always have it)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (default runs/<timestamp>)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    limit: int | None = typer.Option(
        None, "--limit", help="Only the first N images of each dataset."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-j",
        help="Worker processes on this machine, or Ray actors (--backend ray).",
    ),
    backend: str = typer.Option(
        "local", "--backend", help="local (processes on this machine) or ray (a Ray cluster)."
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to use (default $RAY_ADDRESS, else a local Ray instance for the run).",
    ),
    gpus_per_worker: float = typer.Option(
        0.0, "--gpus-per-worker", help="GPUs each Ray actor reserves (fractions share a GPU)."
    ),
    ray_ship_data: bool = typer.Option(
        False,
        "--ray-ship-data",
        help="Send decoded samples through Ray's object store (clusters without a shared "
        "file system) instead of each actor reading the dataset.",
    ),
    prefetch: int | None = typer.Option(
        None,
        "--prefetch",
        help="Samples decoded ahead in threads (default $RCLICKS_PREFETCH or 4; 0 = off).",
    ),
    model_opt: list[str] | None = typer.Option(
        None, "--model-opt", help="KEY=VALUE for the model."
    ),
    sim_opt: list[str] | None = typer.Option(
        None, "--sim-opt", help="KEY=VALUE (or NAME:KEY=VALUE) for the simulator(s)."
    ),
    data_opt: list[str] | None = typer.Option(
        None, "--data-opt", help="KEY=VALUE for the dataset(s)."
    ),
    registry: Path | None = typer.Option(
        None, "--registry", help="Presets file (default registry.yaml)."
    ),
    save_masks: bool | None = typer.Option(
        None,
        "--save-masks/--no-save-masks",
        help="Keep the predicted mask after every click in masks.parquet (default: on for "
        "--benchmark runs, which a leaderboard verifies with them; off otherwise).",
        show_default=False,
    ),
) -> None:
    """Run the RClicks protocol: baseline + clicking groups, NoC / Sample NoC / ΔSB / ΔGR."""
    from rclicks.plugins import get_host

    for p in get_host().failed():
        first = (p.error or "").splitlines()[0] if p.error else ""
        warn(f"plugin {p.name!r} ({p.distribution or '?'}) failed to load and was skipped: {first}")
    with EvalProgress() as progress:
        run = rclicks.evaluate(
            model,
            simulator or None,
            dataset or None,
            benchmark=benchmark,
            groups=groups,
            repeats=repeats,
            max_clicks=max_clicks,
            seed=seed,
            baseline=not no_baseline,
            biou=biou,
            model_options=parse_options(model_opt, "--model-opt"),
            simulator_options=parse_options(sim_opt, "--sim-opt"),
            dataset_options=parse_options(data_opt, "--data-opt"),
            device=device,
            out=out,
            resume=resume,
            workers=workers,
            backend=backend,
            ray_address=ray_address,
            gpus_per_worker=gpus_per_worker,
            ship_data=ray_ship_data,
            limit=limit,
            prefetch=prefetch,
            registry=registry,
            save_masks=save_masks,
            progress=progress,
        )
    out_console.print(results_table(run.summary))
    for extra in (users_table(run.summary), tetris_table(run.summary)):
        if extra is not None:
            out_console.print(extra)
    masks = ", masks.parquet" if (run.path / "masks.parquet").is_file() else ""
    say(f"Wrote {run.path}/per_click.parquet ({run.clicks} clicks){masks}, summary.json, run.json")
    failed = len(run.errors)
    if failed:
        warn(
            f"{failed} instance(s) failed; see {run.path}/errors.jsonl. "
            "Fix the cause and re-run with --resume to complete them."
        )
        raise typer.Exit(3)


class EvalProgress(TerminalProgress):
    """``rclicks eval``: images done, instances, clicks per second, ETA."""

    def on_event(self, event: str, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if event == "start":
            self.bar = Progress(
                TextColumn("[bold]evaluating[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("images"),
                TextColumn("{task.fields[instances]} instances"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("eval", total=info["samples"], rate="", instances=0)
            self.clicks = 0
            self.instances = 0
            self.t0 = time.perf_counter()
        elif event == "sample" and self.bar is not None:
            self.clicks += info["clicks"]
            self.instances += info["instances"]
            rate = self.clicks / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.update(
                self.task, advance=1, rate=f"{rate:,.0f} clicks/s", instances=self.instances
            )
