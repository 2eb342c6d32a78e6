"""Report plots with matplotlib (Agg): IoU vs click, NoC per group, the difficulty scatter,
the TETRIS min / baseline / max curves.

Every function returns a ``matplotlib.figure.Figure`` (or None when the runs hold nothing to
plot); :func:`save` writes it as PNG and SVG, :func:`data_uri` inlines it in HTML.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rclicks.reports.instances import instance_stats_cached, iou_curves  # noqa: E402
from rclicks.reports.runs import RunData  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "rclicks", "svg.fonttype": "path", "figure.dpi": 100})
RUN_COLORS = plt.get_cmap("tab10").colors


def _grid(n: int, w: float = 4.6, h: float = 3.4, ncols: int = 3) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    return fig, axes


def iou_vs_click(runs: list[RunData]) -> Figure | None:
    """Mean IoU after each click: the baseline (black, dashed) and every clicking group
    (G1 dark → GN light), one panel per model × dataset × simulator."""
    panels = []
    for r in runs:
        curves = iou_curves(r)
        base = {d: g[0] for (d, s), g in curves.items() if s == "baseline"}
        for (d, s), groups in curves.items():
            if s == "baseline" and any(k[0] == d and k[1] != "baseline" for k in curves):
                continue
            panels.append((r, d, s, groups, base.get(d)))
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    for ax, (r, d, s, groups, base) in zip(axes, panels):
        k = np.arange(1, r.max_clicks + 1)
        numbered = sorted(g for g in groups if g > 0)
        cmap = plt.get_cmap("viridis")
        for i, g in enumerate(numbered):
            ax.plot(
                k,
                groups[g],
                color=cmap(i / max(1, len(numbered) - 1) * 0.9),
                lw=1.2,
                label=f"G{g}",
            )
        if numbered:
            mean = np.mean([groups[g] for g in numbered], axis=0)
            ax.plot(k, mean, color="tab:red", lw=2.2, label=f"{s} (mean of groups)")
        if base is not None:
            ax.plot(k, base, color="black", lw=2, ls="--", label="baseline")
        elif 0 in groups:
            ax.plot(k, groups[0], color="black", lw=2, ls="--", label=s)
        ax.set_title(f"{r.label} · {d} · {s}", fontsize=10)
        ax.set_xlabel("click")
        ax.set_ylabel("mean IoU")
        ax.set_xticks(k if len(k) <= 12 else k[(k - 1) % max(1, len(k) // 10) == 0])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if len(numbered) > 5 else 1, loc="lower right")
    fig.suptitle("IoU vs click number")
    return fig


def noc_per_group(runs: list[RunData], t: str = "90") -> Figure | None:
    """NoC@t per clicking group, one bar per model; the baseline's NoC as a dashed line."""
    pairs = sorted(
        {(e["dataset"], e["simulator"]) for r in runs for e in r.results if e["kind"] == "groups"}
    )
    if not pairs:
        return None
    fig, axes = _grid(len(pairs), w=5.2)
    width = 0.8 / len(runs)
    for ax, (d, s) in zip(axes, pairs):
        for i, r in enumerate(runs):
            e = r.entry(d, s)
            if e is None or e["kind"] != "groups":
                continue
            vals = e["per_group"][f"NoC@{t}"]
            x = np.arange(1, len(vals) + 1) + (i - (len(runs) - 1) / 2) * width
            color = RUN_COLORS[i % len(RUN_COLORS)]
            ax.bar(x, vals, width=width * 0.95, color=color, label=r.label)
            b = r.entry(d, "baseline")
            if b is not None:
                ax.axhline(b[f"NoC@{t}"], color=color, ls="--", lw=1.3)
        n = max(len(r.entry(d, s)["per_group"][f"NoC@{t}"]) for r in runs if r.entry(d, s))
        ax.set_xticks(np.arange(1, n + 1), [f"G{g}" for g in range(1, n + 1)])
        ax.set_ylabel(f"NoC@{t}")
        ax.set_title(f"{d} · {s} (dashed: baseline)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"NoC@{t} per clicking group (G1: least clickable)")
    return fig


def difficulty_scatter(runs: list[RunData]) -> Figure | None:
    """Per instance: mean vs std of IoU@1 over real users (or, without them, over clicking
    groups) — the RClicks difficulty scatter. One panel per dataset, one colour per model."""
    points: dict[str, list[tuple[int, str, np.ndarray, np.ndarray]]] = {}
    for i, r in enumerate(runs):
        recs = instance_stats_cached(r)
        users = [x for x in recs if x["kind"] == "users"]
        use = users or [x for x in recs if x["kind"] == "groups"]
        by: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for x in use:
            by.setdefault((x["dataset"], x["simulator"]), []).append(x)
        for (d, s), xs in by.items():
            src = "real users" if xs[0]["kind"] == "users" else f"{s} groups"
            points.setdefault(d, []).append(
                (
                    i,
                    f"{r.label} ({src})",
                    np.array([x["IoU@1"] for x in xs]),
                    np.array([x["IoU@1_std"] for x in xs]),
                )
            )
    if not points:
        return None
    fig, axes = _grid(len(points), w=4.8, h=4.0)
    for ax, (d, series) in zip(axes, sorted(points.items())):
        for i, label, mean, std in series:
            ax.scatter(
                mean, std, s=22, alpha=0.75, color=RUN_COLORS[i % len(RUN_COLORS)], label=label
            )
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("mean IoU@1 (per instance)")
        ax.set_ylabel("std of IoU@1")
        ax.set_title(f"{d}: instance difficulty", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("First-click difficulty: mean vs std of IoU@1 per instance")
    return fig


#: TETRIS curve colours: the minimising, baseline and maximising trajectories
TETRIS_STYLE = {
    "min": ("#b3261e", "-", "TETRIS min"),
    "base": ("black", "--", "baseline"),
    "max": ("#137333", "-", "TETRIS max"),
}


def tetris_curves(runs: list[RunData]) -> Figure | None:
    """TETRIS robustness: per model × dataset × TETRIS simulator, the mean IoU (left) and
    boundary IoU (right) after each click of the minimising trajectory (red), the baseline
    (black, dashed) and the maximising one (green), the band between min and max shaded —
    the recomputed ``robustness`` entries' ``curves``."""
    entries = [(r, e) for r in runs for e in r.robustness]
    if not entries:
        return None
    fig = Figure(figsize=(13.0, 3.5 * len(entries)), layout="constrained")
    for row, (r, e) in enumerate(entries):
        for col, metric in enumerate(("IoU", "BIoU")):
            ax = fig.add_subplot(len(entries), 2, 2 * row + col + 1)
            curves = (e.get("curves") or {}).get(metric) or {}
            auc = e.get(f"{metric}-AuC") or {}
            k = np.arange(1, int(e["max_clicks"]) + 1)
            lo, hi = curves.get("min"), curves.get("max")
            if lo is not None and hi is not None:
                ax.fill_between(
                    k, lo, hi, color="#9aa5b1", alpha=0.3, lw=0, label="min – max", gid="band"
                )
            for role in ("min", "base", "max"):
                y = curves.get(role)
                if y is None:
                    continue
                color, ls, name = TETRIS_STYLE[role]
                a = auc.get(role)
                label = f"{name} (AuC {a:.1f})" if a is not None else name
                ax.plot(k, y, color=color, ls=ls, lw=2, marker="o", ms=3, label=label, gid=role)
            if not curves or all(v is None for v in curves.values()):
                ax.text(0.5, 0.5, f"no {metric} in this run", ha="center", transform=ax.transAxes)
            d = auc.get("delta")
            delta = f", Δ {d:.1f}" if d is not None else ""
            ax.set_title(
                f"{r.label} · {e['dataset']} · {e['simulator']} · {metric}{delta} "
                f"({e['instances']} inst.)",
                fontsize=10,
            )
            ax.set_xlabel("click")
            ax.set_ylabel(f"mean {'boundary IoU' if metric == 'BIoU' else 'IoU'}")
            ax.set_xticks(k if len(k) <= 12 else k[(k - 1) % max(1, len(k) // 10) == 0])
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.suptitle("TETRIS robustness: mean IoU after each click (AuC × 100)")
    return fig


def forest_plot(df: Any) -> Figure | None:
    """Paired differences B − A with their 95% CIs, one line per compared row of a
    :func:`rclicks.compare` table (the verdict's colour: green A better, red B better)."""
    if df is None or len(df) == 0:
        return None
    colors = {"A better": "#137333", "B better": "#b3261e"}
    n = len(df)
    fig = Figure(figsize=(7.5, 0.9 + 0.42 * n), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ys = np.arange(n)[::-1]
    for y, r in zip(ys, df.itertuples(index=False)):
        c = colors.get(r.verdict, "#5b6673")
        ax.plot([r.ci_low, r.ci_high], [y, y], color=c, linewidth=2)
        ax.plot([r.diff], [y], "o", color=c, markersize=6, gid="difference")
    ax.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.b} vs {r.a} · {r.dataset} · {r.simulator}" for r in df.itertuples()])
    ax.set_xlabel(f"{df.attrs.get('metric', '')}: B − A (95% bootstrap CI)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def all_figures(runs: list[RunData], t: str = "90") -> dict[str, Figure]:
    figs = {
        "iou_vs_click": iou_vs_click(runs),
        "noc_per_group": noc_per_group(runs, t),
        "difficulty": difficulty_scatter(runs),
        "tetris": tetris_curves(runs),
    }
    return {k: v for k, v in figs.items() if v is not None}


def save(fig: Figure, stem: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for f in formats:
        p = stem.with_suffix(f".{f}")
        fig.savefig(p, format=f, dpi=110, metadata={"Date": None} if f == "svg" else None)
        out.append(p)
    return out


def data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
