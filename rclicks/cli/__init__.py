"""The ``rclicks`` command line: one module per command, each a thin layer over the Python
API (``rclicks.evaluate``, ``rclicks.score_simulator``, ``rclicks.reports``, ...).

Commands import the API and :mod:`rclicks.cli._ui`, never each other or this module; this
module assembles them into one Typer app. Every :class:`~rclicks.RclicksError` a command lets
through is caught here, once, and printed as one ``error:`` line (exit 1).
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from rclicks._version import __version__
from rclicks.cli import compare, datasets, eval, leaderboard, list, report, score, train
from rclicks.cli._ui import fail, out_console
from rclicks.errors import RclicksError


class _Commands(TyperGroup):
    """The root command group: an :class:`RclicksError` from any command (or subcommand)
    becomes one ``error:`` line and exit code 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RclicksError as exc:
            fail(str(exc))


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    help="Evaluate click-based interactive segmentation models the way real people click.",
)


def _version_cb(value: bool) -> None:
    if value:
        out_console.print(f"rclicks {__version__}")
        raise typer.Exit()


@app.callback()
def main_cb(
    version: bool = typer.Option(
        False, "--version", callback=_version_cb, is_eager=True, help="Print the version."
    ),
) -> None:
    """rclicks: RClicks benchmark for interactive segmentation."""


app.command("eval")(eval.eval_cmd)
app.command("list")(list.list_cmd)
app.add_typer(datasets.datasets_app, name="datasets")
app.command("score-simulator")(score.score_simulator_cmd)
app.command("train-clickability")(train.train_clickability_cmd)
app.command("report")(report.report_cmd)
app.command("show-clicks")(report.show_clicks_cmd)
app.command("compare")(compare.compare_cmd)
app.command("submit")(leaderboard.submit_cmd)
app.add_typer(leaderboard.leaderboard_app, name="leaderboard")


def main() -> None:
    app()
