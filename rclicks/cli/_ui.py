"""What every command shares: the consoles, one-line errors and warnings, progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

out_console = Console()
if not out_console.is_terminal:  # logs and pipes: wide enough for the results tables
    out_console = Console(width=160)
err_console = Console(stderr=True, soft_wrap=True)  # paths in messages must not wrap


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr (never read as rich markup) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr (never read as rich markup)."""
    err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)


def write_text(text: str, out: Path | None) -> None:
    """``text`` to stdout, or into the file ``out`` (its folder made) with a ``Wrote`` line."""
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    err_console.print(f"Wrote {out}", highlight=False, markup=False)


def say(message: str) -> None:
    """Print a plain line on stdout (no markup, no highlighting)."""
    out_console.print(message, highlight=False, markup=False)


class TerminalProgress:
    """Base of the commands' progress callbacks ``(event, info)``: a rich bar on a terminal,
    silent otherwise (so logs stay clean). Subclasses implement :meth:`on_event`; ``self.bar``
    (a started ``rich.progress.Progress``) is stopped on ``end`` and on leaving the block."""

    def __init__(self) -> None:
        self.enabled = err_console.is_terminal
        self.bar: Any = None

    def __enter__(self):
        return self

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "end":
            self.close()
            return
        self.on_event(event, info)

    def on_event(self, event: str, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __exit__(self, *exc) -> None:
        self.close()
