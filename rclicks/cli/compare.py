"""``rclicks compare``: is the difference between runs real? (:func:`rclicks.compare`)"""

from __future__ import annotations

from pathlib import Path

import typer

import rclicks
from rclicks.cli._ui import fail, out_console, warn, write_text

FORMATS = ("table", "markdown", "latex", "csv", "json", "html")


def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders: A, then B (and more, each vs A)."),
    metric: str = typer.Option(
        "noc@90",
        "--metric",
        help="noc@85|90|95, sample-noc@85|90|95, iou-auc, 1-miou, 5-miou, time@85|90|95, spc.",
    ),
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table, markdown, latex, csv, json or html."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here (default: stdout)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the verdicts."),
    resamples: int = typer.Option(10_000, "--resamples", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    force: bool = typer.Option(
        False, "--force", help="Compare the shared instances of runs that differ."
    ),
) -> None:
    """Paired comparison of runs by instance: mean difference with a 95% bootstrap CI, the
    Wilcoxon signed-rank p-value (Holm-corrected), wins per run and a verdict, per dataset ×
    simulator. Runs over other instances or settings are refused unless --force."""
    from rclicks.reports.html import comparison_html
    from rclicks.reports.tables import comparison_table, to_latex, to_markdown, to_rich

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if len(runs) < 2:
        fail("compare needs at least two run folders")
    df = rclicks.compare(
        *runs, metric=metric, alpha=alpha, resamples=resamples, seed=seed, force=force
    )
    for note in df.attrs.get("notes", []):
        warn(note)
    if df.empty:
        fail("the runs share no dataset × simulator with this metric to compare")
    table = comparison_table(df)
    if fmt == "table":
        if out is None:
            out_console.print(to_rich(table))
            for note in table.notes[:1]:
                out_console.print(note, style="dim", highlight=False, markup=False)
            return
        from rich.console import Console

        with out.open("w", encoding="utf-8") as fh:
            Console(file=fh, width=220, color_system=None).print(to_rich(table))
        return
    if fmt == "markdown":
        text = to_markdown(table)
    elif fmt == "latex":
        text = "% needs \\usepackage{booktabs}\n" + to_latex(table)
    elif fmt == "csv":
        text = df.to_csv(index=False)
    elif fmt == "json":
        import json

        payload = {
            **{k: v for k, v in df.attrs.items()},
            "rows": json.loads(df.to_json(orient="records")),
        }
        text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    else:
        text = comparison_html(df)
        if out is None:
            out = Path(runs[0]) / "compare.html"
    write_text(text, out)
