"""The cost of one TETRIS click, as multiples of one baseline click.

For each image size (854×480, the DAVIS size, and 2048×1536) and strategy (``search`` with
K = 32, ``gradient``) the engine runs one instance of a synthetic image twice through
``rclicks.engine.run_instance``: the baseline alone, and the baseline beside ``tetris-min`` and
``tetris-max``. A wrapper counts every model call. The model is the tiny random-weight SAM of
the rclicks-sam plugin at the real 1024-px input (the image encoder is outside the per-click
cost: one encode per image, either way).

Per TETRIS click it prints:

- model calls: ``predict_batch`` calls and the positions they decode, plus
  ``predict_differentiable`` passes (each followed by a backward pass);
- model time: what the rows' ``seconds`` hold (decodes plus the gradient passes);
- toolkit time: everything else (candidate positions, thresholding, IoU and error regions,
  BIoU, distance windows, bookkeeping), net of the baseline trajectory that runs beside;

and, per evaluated position, the toolkit time against a whole baseline click's toolkit time.
Medians over ``--repeats``. No assertions: a measurement, not a test.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tetris.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any


class Counted:
    """The model, with its calls counted and timed."""

    def __init__(self, model: Any, gradient: bool) -> None:
        self.model = model
        self.threshold = model.threshold
        self.batches = 0
        self.decoded = 0
        self.passes = 0
        if gradient:
            self.predict_differentiable = self._differentiable

    def encode(self, image):
        return self.model.encode(image)

    def predict(self, embedding, clicks, state):
        self.batches += 1
        self.decoded += 1
        return self.model.predict(embedding, clicks, state)

    def predict_batch(self, embedding, clicks, states):
        self.batches += 1
        self.decoded += len(clicks)
        return self.model.predict_batch(embedding, clicks, states)

    def _differentiable(self, embedding, points, labels, state):
        self.passes += 1
        return self.model.predict_differentiable(embedding, points, labels, state)


def measure(model, embedding, sample, iid, simulators, clicks: int) -> dict[str, float]:
    from rclicks.engine import ProtocolSettings, run_instance

    settings = ProtocolSettings(max_clicks=clicks, baseline=True)
    t0 = time.perf_counter()
    rows = run_instance(
        model,
        embedding,
        sample.image,
        sample.instances[iid],
        sample.ignore,
        simulators,
        settings,
        ("bench", sample.sample_id, iid),
    )
    wall = time.perf_counter() - t0
    seconds = sum(rows["seconds"])
    return {"wall": wall, "model": seconds, "toolkit": wall - seconds, "rows": len(rows["click"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer clicks and repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--size", action="append", help="WxH (repeatable; default 854x480, 2048x1536)")
    ap.add_argument(
        "--strategy", action="append", choices=("search", "gradient"), help="(repeatable)"
    )
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x"))[::-1] for s in args.size or []]
    sizes = sizes or [(480, 854), (1536, 2048)]
    strategies = args.strategy or ["search", "gradient"]
    import torch
    from rclicks_sam import make_sam

    from rclicks.simulators.tetris import TetrisSimulator
    from rclicks.testing import TinyDataset
    from rclicks.types import Sample

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    repeats = args.repeats or (1 if args.quick else 3)
    clicks = 3 if args.quick else 5
    sam = make_sam(variant="vit_b", random_weights=True, device="cpu", image_size=1024)
    print(
        f"tiny random-weight SAM at 1024 px input; {clicks} clicks per trajectory; medians of "
        f"{repeats}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')}"
    )
    header = (
        f"{'size':>10} {'strategy':>9} | {'calls':>5} {'decoded':>7} {'passes':>6} | "
        f"{'model ×base':>11} {'toolkit ×base':>13} {'toolkit/pos ×base':>17} | "
        f"{'base ms':>8} {'base tk ms':>10}"
    )
    print(header, flush=True)
    print("-" * len(header))
    for h, w in sizes:
        full = TinyDataset(n=1, size=(h, w), seed=3)[0]
        iid, gt = next(iter(full.instances.items()))
        sample = Sample(full.sample_id, full.image, {iid: gt})
        emb = sam.encode(sample.image)
        for strategy in strategies:
            sim = {"tetris": TetrisSimulator(strategy=strategy, candidates=32)}
            warm = Counted(sam, gradient=strategy == "gradient")
            measure(warm, emb, sample, iid, sim, 2)  # first calls (allocations, imports)
            base, both, counts = [], [], []
            for _ in range(repeats):
                m0 = Counted(sam, gradient=False)
                base.append(measure(m0, emb, sample, iid, {}, clicks))
                m1 = Counted(sam, gradient=strategy == "gradient")
                both.append(measure(m1, emb, sample, iid, sim, clicks))
                counts.append(m1)
            med = {k: statistics.median(r[k] for r in base) for k in ("model", "toolkit")}
            tet = {k: statistics.median(r[k] for r in both) for k in ("model", "toolkit")}
            n = 2 * clicks  # TETRIS clicks (min and max)
            c = counts[-1]
            decoded = (c.decoded - clicks) / n  # the baseline decodes one per step
            per_click = {k: (tet[k] - med[k]) / n for k in tet}
            base_click = {k: med[k] / clicks for k in med}
            print(
                f"{w}×{h:<5} {strategy:>9} | {c.batches / clicks:>5.1f} {decoded:>7.1f} "
                f"{c.passes / n:>6.1f} | {per_click['model'] / base_click['model']:>11.1f} "
                f"{per_click['toolkit'] / base_click['toolkit']:>13.1f} "
                f"{per_click['toolkit'] / decoded / base_click['toolkit']:>17.2f} | "
                f"{1000 * base_click['model']:>8.1f} {1000 * base_click['toolkit']:>10.1f}",
                flush=True,
            )
    print(
        "calls: predict_batch calls per click step (shared by baseline, min and max); decoded: "
        "positions decoded per TETRIS click; passes: predict_differentiable + backward per "
        "TETRIS click. ×base: per TETRIS click / per baseline click; toolkit/pos: the "
        "toolkit's time per evaluated position / its time for a whole baseline click."
    )


if __name__ == "__main__":
    main()
