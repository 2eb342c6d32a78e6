"""``rclicks report`` and ``rclicks show-clicks``: tables, plots and HTML for people."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from rclicks.cli._ui import err_console, fail, out_console, warn, write_text

FORMATS = ("table", "markdown", "latex", "csv", "json", "html")


def report_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders (one model each)."),
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table, markdown, latex, csv, json or html."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write here (default: stdout; html: RUN_DIR/report.html)."
    ),
    noc: int = typer.Option(90, "--noc", help="IoU threshold of the NoC columns: 85, 90, 95."),
    plots: Path | None = typer.Option(
        None, "--plots", help="Also write the plots (PNG and SVG) into this folder."
    ),
    force: bool = typer.Option(
        False, "--force", help="Put runs with different protocol settings in one table."
    ),
    ci: bool = typer.Option(
        False, "--ci", help="95% bootstrap intervals for NoC, Sample NoC, ΔSB, ΔGR (not ± std)."
    ),
    resamples: int = typer.Option(10_000, "--resamples", help="Bootstrap resamples (--ci)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (--ci)."),
) -> None:
    """The RClicks tables (Sample NoC ± std, ΔSB, ΔGR), the classical NoC/NoF/mIoU/SPC table,
    dataset difficulty (NSR) and per-group NoC, for one or several runs side by side. Every
    number is recomputed from per_click.parquet."""
    from rclicks.reports import check_comparable, load_runs
    from rclicks.reports.tables import build_tables, to_csv, to_json, to_latex, to_markdown

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if noc not in (85, 90, 95):
        fail(f"--noc must be 85, 90 or 95, got {noc}")
    data = load_runs(list(runs))
    problems = check_comparable(data)
    if problems and not force:
        fail(
            "these runs were not run under the same protocol, so their numbers are not "
            "comparable: " + "; ".join(problems) + ". Use --force to put them in one table anyway"
        )
    warnings = [w for r in data for w in r.warnings]
    warnings += [f"compared anyway (--force): {p}" for p in problems]
    for w in warnings:
        warn(w)
    t = str(noc)
    if resamples < 100:
        fail(f"--resamples must be >= 100, got {resamples}")
    tables = build_tables(data, t, ci=ci, resamples=resamples, seed=seed)
    if fmt == "html":
        from rclicks.reports.html import render_html

        target = out or (data[0].path / "report.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        page = render_html(data, tables, warnings, t, compare_force=bool(problems), seed=seed)
        target.write_text(page, encoding="utf-8")
        out_console.print(f"Wrote {target}", highlight=False, markup=False)
    elif fmt == "table":
        from rich.console import Console

        from rclicks.reports.tables import to_rich

        def show(console: Console) -> None:
            for x in tables:
                console.print(to_rich(x))
                for note in x.notes:
                    console.print(f"[dim]{escape(note)}[/]", highlight=False)
                console.print()

        if out is None:
            show(out_console)
        else:
            with out.open("w", encoding="utf-8") as fh:
                show(Console(file=fh, width=200, color_system=None))
    else:
        if fmt == "markdown":
            text = "\n".join(to_markdown(x) for x in tables)
        elif fmt == "latex":
            text = "% needs \\usepackage{booktabs}\n" + "\n".join(to_latex(x) for x in tables)
        elif fmt == "csv":
            text = to_csv(tables)
        else:
            text = to_json(tables, data, warnings)
        write_text(text, out)
    if plots is not None:
        from rclicks.reports.plots import all_figures, save

        written = []
        for name, fig in all_figures(data, t).items():
            written += save(fig, plots / name)
        err_console.print(
            "Wrote " + ", ".join(str(p) for p in written) if written else "No plots to write",
            highlight=False,
            markup=False,
        )


def show_clicks_cmd(
    run: Path = typer.Argument(..., help="Run folder."),
    sample: str = typer.Option(..., "--sample", help="Sample id (e.g. the image stem)."),
    instance: str | None = typer.Option(
        None, "--instance", help="Instance id (default: the sample's first)."
    ),
    simulator: str | None = typer.Option(
        None,
        "--simulator",
        "-s",
        help="Simulator (default: the first clicking simulator; TETRIS: N-min or N-max).",
    ),
    group: int | None = typer.Option(
        None, "--group", "-g", help="Clicking group (default 1; 0 = baseline/deterministic)."
    ),
    repeat: int = typer.Option(1, "--repeat", help="Repeat within the group."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Dataset (when the run has several)."
    ),
    clicks: int | None = typer.Option(None, "--clicks", help="Draw only the first N clicks."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="PNG or SVG file (default RUN/clicks-<sample>-<inst>.png)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (for the model)."),
    registry: Path | None = typer.Option(None, "--registry", help="Presets file."),
) -> None:
    """Draw one stored trajectory step by step: the image, the density on the error region,
    the clicking group's slice and the clicks, re-derived from run.json and checked against
    the recorded clicks and IoUs."""
    from rich.table import Table

    from rclicks.reports import report_run
    from rclicks.reports.trajectory import render_replay, replay_trajectory, save_replay

    rep = replay_trajectory(
        report_run(run),
        sample,
        instance,
        simulator,
        group,
        repeat,
        dataset,
        str(registry) if registry else None,
        device,
    )
    target = (
        out or run / f"clicks-{rep.sample_id}-{rep.instance_id}-{rep.simulator}-g{rep.group}.png"
    )
    save_replay(render_replay(rep, clicks), target)
    title = (
        f"{rep.dataset} · {rep.sample_id} · instance {rep.instance_id} · {rep.simulator}"
        + (f" G{rep.group}/{rep.groups}" if rep.group else "")
        + f" · repeat {rep.repeat}"
    )
    t = Table(title=escape(title), header_style="bold")
    if rep.mode:  # a TETRIS trajectory: the positions each click's search evaluated
        middle: tuple[str, ...] = ("evaluated", "IoU low", "IoU high", "baseline click")
    else:
        middle = ("in slice", "slice px")
    for col in ("click", "x", "y", "side", *middle, "IoU (run)", "IoU (replay)"):
        t.add_column(col, justify="right")
    for s in rep.steps:
        if rep.mode:
            ious = [v for v in s.evaluated_iou or [] if v == v]  # without NaN
            cells = [
                str(len(s.evaluated or [])),
                f"{min(ious):.4f}" if ious else "—",
                f"{max(ious):.4f}" if ious else "—",
                f"{s.evaluated_iou[0]:.4f}" if s.evaluated_iou else "—",
            ]
        else:
            inside = (
                "—"
                if s.support is None
                else (
                    "fallback"
                    if s.fallback
                    else ("yes" if s.support[s.click.y, s.click.x] else "NO")
                )
            )
            cells = [inside, "—" if s.support is None else str(int(s.support.sum()))]
        t.add_row(
            str(s.k),
            str(s.click.x),
            str(s.click.y),
            "+" if s.click.positive else "−",
            *cells,
            f"{s.recorded_iou:.4f}",
            f"{s.iou:.4f}",
        )
    out_console.print(t)
    for p in rep.problems:
        warn(p)
    out_console.print(f"Wrote {target}", highlight=False, markup=False)
