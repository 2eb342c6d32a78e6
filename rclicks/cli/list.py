"""``rclicks list``: what can run and where it came from (:func:`rclicks.list_components`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

import rclicks
from rclicks.cli._ui import out_console


def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    registry: Path | None = typer.Option(None, "--registry", help="Presets file."),
) -> None:
    """Models, simulators, datasets, presets, benchmarks and plugins."""
    data = rclicks.list_components(registry)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    for kind in ("models", "simulators", "datasets"):
        t = Table(title=kind.capitalize(), title_justify="left", header_style="bold")
        for col in ("name", "provided by", "version", "status", "description"):
            t.add_column(col)
        for r in data[kind]:
            prov = r["distribution"] or r["provided_by"] or "—"
            status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]"
            t.add_row(
                r["name"] + (" (preset)" if r["preset"] else ""),
                prov,
                r["version"] or "",
                status,
                r["description"],
            )
        out_console.print(t)
    if data["benchmarks"]:
        t = Table(title="Benchmarks", title_justify="left", header_style="bold")
        for col in ("name", "datasets", "simulators"):
            t.add_column(col)
        for b in data["benchmarks"]:
            t.add_row(b["name"], ", ".join(b["datasets"]), ", ".join(b["simulators"]))
        out_console.print(t)
    t = Table(title="Plugins", title_justify="left", header_style="bold")
    for col in ("name", "distribution", "version", "status", "hooks"):
        t.add_column(col)
    for p in data["plugins"]:
        status = p["status"]
        if p["error"]:
            status = f"[red]failed: {p['error'].splitlines()[0]}[/]"
        t.add_row(
            p["name"],
            p["distribution"] or "",
            p["version"] or "",
            status,
            ", ".join(h.replace("rclicks_register_", "") for h in p["hooks"]),
        )
    out_console.print(t)
