#!/usr/bin/env python
"""Benchmark of dataset decoding and prefetching (``rclicks.datasets``).

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/datasets.py [--images 12] [--repeats 3]

A measurement script, not a test: it prints medians over repeats and ratios, and asserts
nothing about timings.

It writes a TETRIS-layout tree of 2048×1536 PNG images (textured, so PNG decoding costs what
it costs on photos) with 24-bit instance masks (3 instances each), then measures, each mode in
a fresh subprocess so that its peak memory is its own:

- ``decode``: ``dataset[i]`` in a loop, nothing else (the decoding rate);
- ``model, no prefetch``: the run loop with a stand-in model that takes ``--model-ms`` per
  image *without using the CPU* (it sleeps, as a GPU-bound model leaves the CPU free), loading
  each sample just before it is used (``prefetch=0``);
- ``model, prefetch N``: the same loop with samples decoded ahead in background threads
  (``rclicks.datasets.prefetch.prefetch``, as ``rclicks eval`` does; N = ``--depth``).

``--model-ms`` defaults to the measured decode time per image: then the model and the disk
are equally slow, and a perfect overlap would double the rate. Peak memory is the process's
peak RSS (``ru_maxrss``) minus its RSS after imports, i.e. what the loop itself held.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_tree(root: Path, n: int, h: int = 1536, w: int = 2048) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    for i in range(n):
        base = np.stack(
            [
                128 + 100 * np.sin(xx / (60 + 7 * i)),
                128 + 100 * np.cos(yy / (45 + 5 * i)),
                (xx + yy + 40 * i) % 256,
            ],
            -1,
        )
        img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"img{i:03d}.png")
        labels = np.zeros((h, w), np.int64)
        labels[100:700, 200:900] = 0x010203
        labels[800:1400, 1000:1900] = 0x000005
        labels[300:600, 1200:1500] = 0x0A0000 + i
        rgb = np.stack([labels & 255, (labels >> 8) & 255, labels >> 16], -1).astype(np.uint8)
        Image.fromarray(rgb).save(root / "masks" / f"img{i:03d}.png")
    return root


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(mode: str, root: str, model_ms: float, depth: int) -> None:
    """One measurement in this process; prints a JSON line."""
    from rclicks.datasets.prefetch import prefetch
    from rclicks.datasets.tetris import TetrisDataset

    ds = TetrisDataset(root)
    idx = list(range(len(ds)))
    base_rss = _rss_kib()
    t0 = time.perf_counter()
    if mode == "decode":
        for i in idx:
            s = ds[i]
            del s
    else:
        ahead = 0 if mode == "noprefetch" else depth
        for _i, s, exc in prefetch(ds.__getitem__, idx, ahead):
            assert exc is None, exc
            time.sleep(model_ms / 1000)  # the model: busy elsewhere, the CPU is free
            del s
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": wall, "n": len(idx), "peak_mib": (peak - base_rss) / 1024}))


def run_child(mode: str, root: Path, model_ms: float, depth: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--root", str(root),
         "--model-ms", str(model_ms), "--depth", str(depth)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--model-ms", type=float, default=None)
    ap.add_argument("--child", default=None)
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.root, args.model_ms or 0.0, args.depth)
        return

    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_tree(Path(tmp) / "TETRIS", args.images)
        size = sum(f.stat().st_size for f in root.rglob("*.png")) / args.images / 2**20
        print(f"{args.images} images 2048×1536 PNG + 24-bit masks, {size:.1f} MiB per pair")
        dec = [run_child("decode", root, 0, 0) for _ in range(args.repeats)]
        per_img = statistics.median(d["wall"] / d["n"] for d in dec)
        model_ms = args.model_ms if args.model_ms is not None else per_img * 1000
        rows = [("decode only", dec)]
        rows.append(
            ("model, no prefetch", [run_child("noprefetch", root, model_ms, 0)
                                    for _ in range(args.repeats)])
        )  # fmt: skip
        rows.append(
            (f"model, prefetch {args.depth}",
             [run_child("prefetch", root, model_ms, args.depth) for _ in range(args.repeats)])
        )  # fmt: skip
        print(f"stand-in model: {model_ms:.0f} ms per image (sleeps; the CPU stays free)\n")
        print(f"{'mode':<22}{'images/s':>10}{'ms/image':>10}{'peak MiB':>10}")
        rate = {}
        for name, runs in rows:
            r = statistics.median(d["n"] / d["wall"] for d in runs)
            peak = statistics.median(d["peak_mib"] for d in runs)
            rate[name] = r
            print(f"{name:<22}{r:>10.2f}{1000 / r:>10.0f}{peak:>10.0f}")
        ratio = rate[f"model, prefetch {args.depth}"] / rate["model, no prefetch"]
        ideal = 1000 / max(model_ms, per_img * 1000) / rate["model, no prefetch"]
        print(f"\nprefetch / no prefetch: {ratio:.2f}× (a perfect overlap would give {ideal:.2f}×)")


if __name__ == "__main__":
    main()
