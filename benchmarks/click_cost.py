#!/usr/bin/env python
"""The toolkit's own cost per click, measured through the CLI on the hard case.

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/click_cost.py [--repeats 5] [--before REV]

The hard case (``tests/testplugins/rclicks_testplug.py``: ``hard_scene`` and ``DiskModel``):
2048×1536 images with one large object (about 1.1 Mpx) and a third-party model that paints a
disk of radius 150 px at every click, so the error regions stay large for most clicks (as with
a weak model or early clicks). The model is a real plugin, found through an entry point of a
distribution made for the run, and every run is a real ``rclicks eval`` process.

Cost per extra click = the difference of (wall time − the model seconds rclicks records in
``per_click.parquet``) between a 20-click and a 2-click run, divided by the difference of their
click counts: process start, imports, data loading and summaries cancel out. Cases:
``baseline`` (``--simulator baseline``: one trajectory per instance, 8 images) and ``distance``
(the default: baseline + 10 clicking groups, 2 images), so that both have some 150–400 extra
clicks. Each case runs ``--repeats`` times alternating with each ``--before`` revision
(default: the last commit before the speed work of issue 16; give the option again for more),
each built in a temporary git worktree; the medians and the ratios are printed, and the rows
of every revision are compared with today's (they must be identical apart from
``seconds``). The step threads are the default (the CPUs of the machine);
``RCLICKS_THREADS=1`` measures one.

A measurement script, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "testplugins"
BEFORE = "39d9d270097915bfa9418f40e95da705bb3c5f37"  # rows committed, no speed-up yet
sys.path.insert(0, str(PLUGINS))

from rclicks_testplug import hard_scene  # noqa: E402

CASES = {"baseline": ["--simulator", "baseline"], "distance": []}
IMAGES = {"baseline": 8, "distance": 2}  # about as many extra clicks: 8 × 18 and 2 × 11 × 18
SHORT, LONG = 2, 20


def write_dataset(root: Path, n: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image, mask = hard_scene(i)
        Image.fromarray(image).save(root / "images" / f"hard_{i:02d}.png")
        Image.fromarray(mask.astype(np.uint8)).save(root / "masks" / f"hard_{i:02d}.png")
    return root


def plugin_site(root: Path) -> Path:
    """A site folder holding a distribution whose entry point is the test plugin."""
    info = root / "rclicks_benchplug-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rclicks-benchplug\nVersion: 0.0.1\n"
    )
    (info / "entry_points.txt").write_text("[rclicks]\nbenchplug = rclicks_testplug\n")
    return root


def worktree(rev: str, root: Path) -> Path:
    """``rev`` checked out in a git worktree with its C extension built in place."""
    path = root / f"before-{rev[:12]}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(path), rev],
                   check=True)  # fmt: skip
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=path,
                   check=True, capture_output=True)  # fmt: skip
    return path


def run_eval(tree: Path | None, site: Path, data: Path, out: Path, case: str, clicks: int,
             images: int):  # fmt: skip
    env = {**os.environ, "RCLICKS_LOAD_PLUGINS": "benchplug", "OMP_NUM_THREADS": "1"}
    paths = [str(site), str(PLUGINS)]
    if tree is not None:
        paths.insert(0, str(tree))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    cmd = [sys.executable, "-m", "rclicks.cli", "eval", "--model", "disks", "--dataset",
           str(data), "--max-clicks", str(clicks), "--limit", str(images), "--out", str(out),
           *CASES[case]]  # fmt: skip
    t0 = time.perf_counter()
    # not from the repository root: `python -m` puts the working folder first on sys.path
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    rows = pd.read_parquet(out / "per_click.parquet")
    return wall, float(rows["seconds"].sum()), rows


def same_rows(now: pd.DataFrame, before: pd.DataFrame) -> bool:
    """Equal rows; a column the older revision did not write yet (``biou``, issue 12) must be
    empty today."""
    extra = [c for c in now.columns if c not in before.columns]
    if any(now[c].notna().any() for c in extra):
        return False
    return now.drop(columns=extra).equals(before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="× the images of each case")
    ap.add_argument(
        "--before",
        action="append",
        help=f"a revision to compare with (default {BEFORE[:12]}; '' = none)",
    )
    ap.add_argument("--case", choices=[*CASES, "all"], default="all")
    args = ap.parse_args()
    cases = list(CASES) if args.case == "all" else [args.case]
    befores = [r for r in (args.before if args.before is not None else [BEFORE]) if r]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        images = {c: max(1, round(n * args.scale)) for c, n in IMAGES.items()}
        data = write_dataset(t / "hard", max(images[c] for c in cases))
        site = plugin_site(t / "site")
        trees: dict[str, Path | None] = {"now": None}
        for rev in befores:
            trees[rev[:12]] = worktree(rev, t)
        try:
            per_click: dict[tuple[str, str], list[float]] = {}
            rows: dict[tuple[str, str], pd.DataFrame] = {}
            n = 0
            for rep in range(args.repeats):
                for case in cases:
                    for label, tree in trees.items():
                        cost, count = {}, {}
                        for clicks in (SHORT, LONG):
                            n += 1
                            out = t / f"run{n}"
                            wall, model, r = run_eval(
                                tree, site, data, out, case, clicks, images[case]
                            )
                            cost[clicks], count[clicks] = wall - model, len(r)
                            if clicks == LONG:
                                rows[(case, label)] = r.drop(columns=["seconds"])
                        ms = (cost[LONG] - cost[SHORT]) / (count[LONG] - count[SHORT]) * 1e3
                        per_click.setdefault((case, label), []).append(ms)
                        print(f"  repeat {rep + 1} {case:8s} {label:12s} {ms:6.2f} ms per click "
                              f"({count[LONG] - count[SHORT]} extra)", flush=True)  # fmt: skip
        finally:
            for tree in trees.values():
                if tree is not None:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                    str(tree)], check=False)  # fmt: skip
    print("\nhard case: 2048×1536 images, one 1.1 Mpx object each, disks of r 150;",
          ", ".join(f"{c} on {images[c]} images" for c in cases))  # fmt: skip
    print("toolkit cost per extra click (wall − model seconds), median of", args.repeats)
    for case in cases:
        now = statistics.median(per_click[(case, "now")])
        line = f"  {case:8s} now {now:6.2f} ms"
        for label in trees:
            if label == "now":
                continue
            before = statistics.median(per_click[(case, label)])
            same = same_rows(rows[(case, "now")], rows[(case, label)])
            line += f"   {label} {before:6.2f} ms ×{before / now:4.2f} (rows identical: {same})"
        print(line)


if __name__ == "__main__":
    main()
