"""The tables printed at the end of ``rclicks eval``: NoC / Sample NoC per dataset × simulator,
and real users' first clicks."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    return f"{v:.{digits}f}"


def _pm(entry: dict[str, Any], key: str) -> str:
    if entry.get("kind") == "groups":
        return f"{_f(entry[key])} ± {_f(entry[key + '_std'])}"
    return _f(entry[key])


def _ms(seconds: Any) -> str:
    return "—" if seconds is None else f"{1000 * seconds:.2f}"


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * v:+.1f}%"


def results_table(summary: dict[str, Any], title: str | None = None) -> Table:
    """NoC table: baseline rows are plain NoC; clicking-group rows are Sample NoC ± std."""
    table = Table(title=title or f"rclicks — model {summary.get('model')}", header_style="bold")
    for col in (
        "Dataset",
        "Simulator",
        "Inst.",
        "NoC@85",
        "NoC@90",
        "NoC@95",
        "NoF@90",
        "5-mIoU",
        "IoU-AuC",
        "ΔSB@90",
        "ΔGR@90",
        "NSR",
        "ms@1",
        "ms@2+",
        "T@90 ms",
    ):
        # no_wrap: a results table is read in logs too, where the width is unknown
        table.add_column(
            col, justify="left" if col in ("Dataset", "Simulator") else "right", no_wrap=True
        )
    for e in summary.get("results", []):
        if e.get("kind") == "users":
            continue  # see users_table
        grouped = e.get("kind") == "groups"
        table.add_row(
            e["dataset"],
            e["simulator"] + (f" ×{e['groups']}" if grouped else ""),
            str(e["instances"]),
            _pm(e, "NoC@85"),
            _pm(e, "NoC@90"),
            _pm(e, "NoC@95"),
            _f(e["NoF@90"], 1) if grouped else str(e["NoF@90"]),
            _f(e.get("5-mIoU"), 3),
            _pm(e, "IoU-AuC") if grouped else _f(e["IoU-AuC"], 3),
            _pct(e.get("dSB@90")) if grouped else "",
            _pct(e.get("dGR@90")) if grouped else "",
            _f(e.get("NSR"), 3) if grouped else "",
            _ms(e.get("SPC@1", e.get("SPC"))),
            _ms(e.get("SPC@2+")),
            _ms(e.get("Time@90")),
        )
    return table


def users_table(summary: dict[str, Any]) -> Table | None:
    """Real users' first clicks (the ``users`` simulator): IoU@1 and User NSR per dataset, next
    to the robot's first-click IoU when the baseline ran too. ``None`` without such entries."""
    entries = [e for e in summary.get("results", []) if e.get("kind") == "users"]
    if not entries:
        return None
    base = {
        e["dataset"]: e.get("1-mIoU")
        for e in summary.get("results", [])
        if e["simulator"] == "baseline"
    }
    table = Table(title="real users' first clicks", header_style="bold")
    for col in ("Dataset", "Simulator", "Inst.", "Clicks", "IoU@1", "baseline IoU@1", "User NSR"):
        table.add_column(
            col, justify="left" if col in ("Dataset", "Simulator") else "right", no_wrap=True
        )
    for e in entries:
        table.add_row(
            e["dataset"],
            e["simulator"],
            str(e["instances"]),
            str(e["users"]),
            f"{_f(e['IoU@1'], 3)} ± {_f(e['IoU@1_std'], 3)}",
            _f(base.get(e["dataset"]), 3),
            _f(e.get("User NSR"), 3),
        )
    return table


def tetris_table(summary: dict[str, Any]) -> Table | None:
    """TETRIS robustness (CONTRACT §9): IoU-AuC and BIoU-AuC × 100 of the minimising, baseline
    and maximising trajectories, and Δ = Max − Min, per dataset. ``None`` without them."""
    entries = summary.get("robustness") or []
    if not entries:
        return None
    table = Table(title="TETRIS robustness (AuC × 100)", header_style="bold")
    cols = ["Dataset", "Simulator", "Inst.", "Clicks"]
    cols += [f"{m} {r}" for m in ("IoU-AuC", "BIoU-AuC") for r in ("Min", "Base", "Max", "Δ")]
    for col in cols:
        table.add_column(
            col, justify="left" if col in ("Dataset", "Simulator") else "right", no_wrap=True
        )
    for e in entries:
        cells = [e["dataset"], e["simulator"], str(e["instances"]), str(e["max_clicks"])]
        for m in ("IoU-AuC", "BIoU-AuC"):
            v = e.get(m) or {}
            cells += [_f(v.get(r)) for r in ("min", "base", "max", "delta")]
        table.add_row(*cells)
    return table
