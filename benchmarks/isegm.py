#!/usr/bin/env python
"""Cost per click of the RITM and SimpleClick plugin on the CPU: HRNet-18 (zoomed inputs of
400 px) and ViT-B (448 px), random weights of the real architectures (the cost does not depend
on the values).

Three ways to run the same clicks of 11 trajectories (the baseline and 10 clicking groups) on
one real image:

- batched: one ``predict_batch`` per click step, all 11 trajectories in one forward, or at
  most 4 or 2 per forward (``per_call``);
- one by one: ``predict`` per trajectory and click (the image prepared once);
- reference loop: the structure of the reference evaluation scripts, one trajectory after the
  other, the image converted to a tensor again for each trajectory (``set_input_image``) and
  one forward per click.

Each setting runs in its own process (so its peak memory is its own). Prints ms per click and
the ratios. Run from the repository root::

    RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python benchmarks/isegm.py

A measurement script, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TRAJECTORIES = 11
#: batched: all 11 trajectories per network call, or at most 4 / 2
MODES = ("batched:all", "batched:4", "batched:2", "one-by-one", "reference")


def _image() -> object:
    """A real DAVIS frame when the data is there (854x480), else the demo's largest image."""
    import rclicks

    root = os.environ.get("RCLICKS_DATA")
    if root and (Path(root) / "DAVIS").is_dir():
        return rclicks.build("datasets", "DAVIS")[0]
    return rclicks.build("datasets", "demo")[4]


def _model(family: str, per_call: int | None):
    import torch
    from rclicks_isegm import make_model

    torch.manual_seed(0)
    model = make_model(family, random_weights=True)
    model.per_call = per_call
    return model


def measure(family: str, mode: str, steps: int) -> dict:
    import numpy as np
    import torch

    from rclicks.clicks import next_click

    torch.set_num_threads(1)
    sample = _image()
    gt = next(iter(sample.instances.values()))
    name, per_call = mode, None
    if mode.startswith("batched:"):
        mode, n = mode.split(":")
        per_call = None if n == "all" else int(n)
    model = _model(family, per_call)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the clicks: trajectory k starts k pixels to the right of the baseline click
    first = next_click(gt, np.zeros_like(gt), []).click
    starts = [type(first)(min(first.x + k, gt.shape[1] - 1), first.y, True) for k in range(11)]
    t0 = time.perf_counter()
    clicks = [[s] for s in starts]
    if mode == "batched":
        emb = model.encode(sample.image)
        states: list = [None] * TRAJECTORIES
        for step in range(steps):
            probs, states = model.predict_batch(emb, clicks, states)
            if step + 1 < steps:
                for i, p in enumerate(probs):
                    clicks[i].append(next_click(gt, p > model.threshold, clicks[i]).click)
    else:
        emb = model.encode(sample.image)
        for i in range(TRAJECTORIES):
            if mode == "reference":
                emb = model.encode(sample.image)  # set_input_image per trajectory
            state = None
            for step in range(steps):
                prob, state = model.predict(emb, clicks[i], state)
                if step + 1 < steps:
                    clicks[i].append(next_click(gt, prob > model.threshold, clicks[i]).click)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "family": family,
        "mode": name,
        "image": list(sample.image.shape[:2]),
        "clicks": TRAJECTORIES * steps,
        "ms_per_click": 1000 * seconds / (TRAJECTORIES * steps),
        "peak_rss_mib": peak / 1024,
        "model_rss_mib": rss0 / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2, help="clicks per trajectory")
    ap.add_argument("--one", nargs=2, metavar=("FAMILY", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.steps)))
        return
    results = {}
    for family in ("ritm", "simpleclick"):
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--steps", str(args.steps), "--one", family, mode],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[(family, mode)] = r
            print(
                f"  {family:11s} {mode:10s} image {r['image'][1]}x{r['image'][0]}: "
                f"{r['ms_per_click']:8.1f} ms per click ({r['clicks']} clicks), peak RSS "
                f"{r['peak_rss_mib']:6.0f} MiB (model built: {r['model_rss_mib']:.0f} MiB)",
                flush=True,
            )
    print("\nratios to the reference loop (ms per click; > 1 = faster than the reference):")
    for family in ("ritm", "simpleclick"):
        ref = results[(family, "reference")]["ms_per_click"]
        cells = [f"{m} ×{ref / results[(family, m)]['ms_per_click']:.2f}" for m in MODES[:-1]]
        print(f"  {family:11s} " + ", ".join(cells))


if __name__ == "__main__":
    main()
