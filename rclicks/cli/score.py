"""``rclicks score-simulator``: how well simulators predict where real people click."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

import rclicks
from rclicks.cli._ui import TerminalProgress, err_console, fail, out_console, say, warn
from rclicks.options import parse_options


def mean_table(means: list[dict[str, Any]], dataset: str, click_type: str = "all") -> Table:
    """Table 3 of the RClicks paper: one row per simulator, PDE↑ NSS↑ KS↑ WD↓ PL1↓, the best
    value of each column in bold."""
    from rclicks.realclicks.scoring import HIGHER_IS_BETTER, METRICS

    rows = [m for m in means if m["dataset"] == dataset and m["click_type"] == click_type]
    t = Table(title=f"{dataset} — {click_type} clicks vs simulators", header_style="bold")
    t.add_column("Simulator", no_wrap=True)
    t.add_column("Sets", justify="right")
    for m in METRICS:
        t.add_column(f"{m} {'↑' if HIGHER_IS_BETTER[m] else '↓'}", justify="right", no_wrap=True)
    best = {}
    for m in METRICS:
        vals = [r[m] for r in rows if r[m] is not None]
        if vals:
            best[m] = max(vals) if HIGHER_IS_BETTER[m] else min(vals)
    for r in rows:
        cells = []
        for m in METRICS:
            v = r[m]
            digits = 5 if m == "PDE" else 3
            s = "—" if v is None else f"{v:.{digits}f}"
            cells.append(f"[bold]{s}[/]" if v is not None and v == best.get(m) else s)
        t.add_row(r["simulator"], str(r["sets"]), *cells)
    return t


def score_simulator_cmd(
    simulator: list[str] = typer.Option(
        ..., "--simulator", "-s", help="Simulator to score (repeatable)."
    ),
    clicks: Path = typer.Option(..., "--clicks", help="RClicks-format clicks.csv."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name, preset or folder."),
    prev_masks: Path | None = typer.Option(
        None, "--prev-masks", help="Folder of previous masks <full_stem>.png (fn/fp rounds)."
    ),
    click_type: list[str] | None = typer.Option(
        None, "--click-type", help="first, fn, fp (repeatable; default all in the file)."
    ),
    input_device: str = typer.Option(
        "all", "--input-device", help="Real clicks made on: all, pc or mobile."
    ),
    clicks_dataset: str | None = typer.Option(
        None, "--clicks-dataset", help="The dataset's name in clicks.csv (default: its own)."
    ),
    batches: int = typer.Option(100, "--batches", help="Sampled click sets per real set."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    whole_map: bool = typer.Option(
        False, "--whole-map", help="Score the whole map, not only its error-region part."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N click sets."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    sim_opt: list[str] | None = typer.Option(None, "--sim-opt", help="KEY=VALUE for simulators."),
    data_opt: list[str] | None = typer.Option(
        None, "--data-opt", help="KEY=VALUE for the dataset."
    ),
    registry: Path | None = typer.Option(None, "--registry", help="Presets file."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default runs/score-<timestamp>)."
    ),
) -> None:
    """Score simulators against real clicks: PDE, NSS, KS, WD, PL1 per click set and mean."""
    with ScoreProgress() as progress:
        result = rclicks.score_simulator(
            list(simulator),
            clicks,
            dataset,
            prev_masks=prev_masks,
            click_types=list(click_type) if click_type else None,
            input_device=input_device,
            clicks_dataset=clicks_dataset,
            batches=batches,
            seed=seed,
            whole_map=whole_map,
            limit=limit,
            device=device,
            simulator_options=parse_options(sim_opt, "--sim-opt"),
            dataset_options=parse_options(data_opt, "--data-opt"),
            registry=registry,
            out=out,
            progress=progress,
        )
    if not result.rows:
        fail(
            "no click set matched an image and object of the dataset; "
            + "; ".join(result.unmatched[:5])
        )
    for ds in sorted({m["dataset"] for m in result.means}):
        out_console.print(mean_table(result.means, ds))
    if result.unmatched:
        warn(
            f"{len(result.unmatched)} click set(s) skipped (see score.json), "
            f"e.g. {result.unmatched[0]}"
        )
    n = len({r["full_stem"] for r in result.rows})
    say(
        f"Scored {n} click sets × {len(simulator)} simulator(s); wrote {result.out}/"
        "per_image.csv, mean.csv, score.json"
    )


class ScoreProgress(TerminalProgress):
    """A progress bar over click sets × simulators."""

    def on_event(self, event: str, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        if event == "start":
            self.bar = Progress(
                "[bold]scoring[/]",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("score", total=info["sets"] * info["simulators"])
        elif event == "row" and self.bar is not None:
            self.bar.update(self.task, advance=1)
