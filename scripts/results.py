"""The default model on the real GrabCut, Berkeley and DAVIS photos: runs the full protocol
(baseline + 10 clicking groups × 20 clicks) on each, keeps the rows in ``docs/results/``
and writes ``docs/results.md`` with its tables, plots and show-clicks figures.

Usage (from the repository root; RCLICKS_DATA holds the datasets)::

    RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python scripts/results.py \\
        [--work runs/results] [--workers 2]

Finished runs in ``--work`` are reused (``resume``), so the script can be interrupted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

import rclicks
from rclicks.reports import load_runs
from rclicks.reports.instances import instance_stats_cached
from rclicks.reports.plots import all_figures, save
from rclicks.reports.tables import build_tables, to_markdown
from rclicks.reports.trajectory import render_replay, replay_trajectory, save_replay

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("GrabCut", "Berkeley", "DAVIS")
DOCS = ROOT / "docs"
KEEP = ("run.json", "summary.json", "per_click.parquet", "manifest.json")


def run_all(work: Path, workers: int) -> dict[str, float]:
    """Evaluate every dataset (reusing finished runs); returns the wall seconds of each."""
    seconds = {}
    for name in DATASETS:
        out = work / name
        done = out / "run.json"
        if done.is_file() and json.loads(done.read_text()).get("status") == "complete":
            seconds[name] = json.loads((out / "wall.json").read_text())["seconds"]
            continue
        t0 = time.perf_counter()
        rclicks.evaluate(
            "geodesic", "distance", name, workers=workers, out=out, resume=done.is_file()
        )
        seconds[name] = time.perf_counter() - t0
        (out / "wall.json").write_text(json.dumps({"seconds": seconds[name]}))
        print(f"{name}: {seconds[name]:.0f} s", flush=True)
    return seconds


def doc_tables(runs) -> dict[str, list]:
    """The page's tables: the RClicks table of each dataset on its own (one row each), and
    the classical, per-group and efficiency tables of all three (rows labelled by model)."""
    for r in runs:
        r.label = r.model
    per_run = [
        next(t for t in build_tables([r], "90", ci=True) if t.name == "rclicks") for r in runs
    ]
    together = {t.name: t for t in build_tables(runs, "90", ci=True)}
    return {
        "rclicks": per_run,
        **{k: [together[k]] for k in ("classical", "per_group", "efficiency")},
    }


def widest_gap(run) -> dict:
    """The instance whose least clickable group needs the most clicks more than its most
    clickable one (NoC@90 G1 − G10; ties: the larger G1)."""
    recs = [r for r in instance_stats_cached(run) if r["kind"] == "groups"]
    return max(
        recs,
        key=lambda r: (r["NoC@90_per_group"][0] - r["NoC@90_per_group"][-1], r["NoC@90"]),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "results")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    seconds = run_all(args.work, args.workers)
    keep = DOCS / "results"
    for name in DATASETS:
        (keep / name).mkdir(parents=True, exist_ok=True)
        for f in KEEP:
            shutil.copy(args.work / name / f, keep / name / f)
    runs = load_runs([keep / name for name in DATASETS])
    tables = doc_tables(runs)
    figures = all_figures(runs, "90")
    written = []
    for key, fig in figures.items():
        written += save(fig, DOCS / "img" / f"results-{key}", formats=("png",))
    shots = []
    for old in (DOCS / "img").glob("results-clicks-*.png"):
        old.unlink()
    # the widest G1 / G10 gap of GrabCut (both groups) and of Berkeley (G1)
    for r, name, groups in ((runs[0], "GrabCut", (1, 10)), (runs[1], "Berkeley", (1,))):
        rec = widest_gap(r)
        for group in groups:
            rep = replay_trajectory(r, rec["sample_id"], rec["instance_id"], "distance", group)
            assert not rep.problems, rep.problems
            path = DOCS / "img" / f"results-clicks-{name}-{rec['sample_id']}-g{group}.png"
            save_replay(render_replay(rep, max_steps=8), path, dpi=72)
            shots.append((name, rec, group, path, rep))
    clicks = {name: r.run.get("protocol", {}) for r, name in zip(runs, DATASETS)}
    total = sum(len(r.rows["click"]) for r in runs)
    text = render(runs, tables, written, shots, seconds, total, clicks)
    (DOCS / "results.md").write_text(text, encoding="utf-8")
    print(f"wrote {DOCS / 'results.md'}, {len(written) + len(shots)} figures")


def render(runs, tables, figures, shots, seconds, total, protocols) -> str:
    res = {name: {e["simulator"]: e for e in r.results} for r, name in zip(runs, DATASETS)}
    lines = [
        "# Results on real photos: the default model on GrabCut, Berkeley and DAVIS",
        "",
        "The weightless default model (`geodesic`) under the full protocol — the baseline robot",
        "and the `distance` simulator with 10 clicking groups, 20 clicks per trajectory — on the",
        "real GrabCut (50 instances), Berkeley (100) and DAVIS (345) photos of",
        "`../shared/datasets`. Written by `scripts/results.py`, which keeps the runs' rows in",
        "`docs/results/` (`rclicks report docs/results/*` recomputes every number below, and",
        "`tests/test_results_doc.py` checks that it does).",
        "",
        "```bash",
        "RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python scripts/results.py",
        "```",
        "",
        "| dataset | instances | clicks | wall time (2 workers, 2 cores) |",
        "|---|---:|---:|---:|",
    ]
    for r, name in zip(runs, DATASETS):
        n = len(r.rows["click"])
        lines.append(
            f"| {name} | {res[name]['baseline']['instances']} | {n:,} | {seconds[name]:.0f} s |"
        )
    lines += [
        f"| all | | {total:,} | {sum(seconds.values()):.0f} s |",
        "",
        "## What the simulator adds",
        "",
        "The robot's NoC@90 understates the clicks sampled users need (ΔSB > 0), and the users",
        "who click where people click least need many more clicks than those who click where",
        "people click most (ΔGR):",
        "",
    ]
    for name in DATASETS:
        b, d = res[name]["baseline"], res[name]["distance"]
        lines.append(
            f"- **{name}**: baseline NoC@90 {b['NoC@90']:.2f}, Sample NoC@90 "
            f"{d['NoC@90']:.2f} ± {d['NoC@90_std']:.2f}, ΔSB {100 * d['dSB@90']:+.1f}%, "
            f"ΔGR {100 * d['dGR@90']:+.1f}%."
        )
    lines += [
        "",
        "Intervals are 95% bootstrap CIs (instances, and groups within each instance,",
        "resampled; `rclicks report --ci`).",
        "",
    ]
    for key in ("rclicks", "classical", "per_group", "efficiency"):
        for t in tables[key]:
            lines.append(to_markdown(t).replace("### ", "## ", 1))
    lines += [
        "## For scale: published NoC@90 of deep models",
        "",
        "The baseline robot's NoC@90 (the usual benchmark) of two RITM models as their authors",
        "publish them in the README of SamsungLabs/ritm_interactive_segmentation (HRNet18 IT-M),",
        "next to the weightless default model's from this page:",
        "",
        "| model | GrabCut | Berkeley | DAVIS |",
        "|---|---:|---:|---:|",
        "| RITM HRNet18 IT-M, trained on SBD | 2.04 | 3.22 | 6.71 |",
        "| RITM HRNet18 IT-M, trained on COCO+LVIS | 1.54 | 2.26 | 5.74 |",
        "| geodesic (rclicks' default, no training) | "
        + " | ".join(f"{res[n]['baseline']['NoC@90']:.2f}" for n in DATASETS)
        + " |",
        "",
    ]
    lines += ["## Plots", ""]
    for path in figures:
        lines.append(f"![{path.stem}](img/{path.name})")
        lines.append("")
    lines += [
        "## Where the groups disagree most",
        "",
        "`rclicks show-clicks` on the instance of GrabCut and of Berkeley whose least clickable",
        "group (G1) needs the most clicks more than its most clickable one (G10): the first 8",
        "clicks of each, re-derived by the engine's own click step from the stored rows.",
        "",
    ]
    for name, rec, group, path, rep in shots:
        nocs = rec["NoC@90_per_group"]
        lines.append(
            f"**{name} {rec['sample_id']}, G{group}** (NoC@90 G1 {nocs[0]:.0f}, G10 "
            f"{nocs[-1]:.0f}; this trajectory's IoU after 8 clicks "
            f"{rep.steps[min(7, len(rep.steps) - 1)].iou:.3f}):"
        )
        lines.append("")
        lines.append(f"![{path.stem}](img/{path.name})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
