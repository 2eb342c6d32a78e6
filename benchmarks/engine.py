#!/usr/bin/env python
"""Benchmark of the evaluation engine (``rclicks.engine``).

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/engine.py [--quick] [--part a|b|all]

It is a measurement script, not a test: it prints medians over repeats and ratios, and
asserts nothing about timings (the machine is shared and noisy).

(a) Model-call structure. The full protocol (baseline + 10 clicking groups x 20 clicks,
    ``distance`` simulator) on a few synthetic images, once through the engine
    (``process_sample``: one ``encode`` per image, one ``predict_batch`` per click index over
    every trajectory of an instance) and once as the published RClicks reference loop does it
    (every trajectory separately, and for every click ``encode`` again, then ``predict`` of
    that one trajectory). Both use the same click protocol (``rclicks.clicks.baseline_click``
    and ``density_click``) and the same per-trajectory random generators, so only the model
    calls differ -- the script checks that both produce identical clicks and IoUs. The
    synthetic model's ``encode`` costs 100x its ``predict`` (busy-waits, not sleeps). The
    reference loop is slow, so it runs on a subset of the trajectories and its full time is
    extrapolated linearly (said so in the output).

(b) The engine's own cost per click on 2048x1536 images: simulator + click protocol + IoU +
    bookkeeping, the model excluded. ``run_instance`` runs with a model whose ``predict``
    returns precomputed probability maps (gt with a boundary shifted by a smooth field and a
    few blobs, errors shrinking with the click index); per-click time =
    (wall - model time) / clicks, where model time is the engine's own ``seconds`` column.
    Then a stage breakdown (by wrapping the engine's calls) and a cProfile of the distance case.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from reference_loop import reference_trajectory

import rclicks.clicks as clicks
import rclicks.engine as engine
import rclicks.engine.trajectories as trajectories
from rclicks.clicks import error_masks, trajectory_rng
from rclicks.engine.trajectories import Target
from rclicks.runs import RunFolder
from rclicks.simulators import BaselineSimulator, DistanceSimulator
from rclicks.types import Click, Sample

REPO = Path(__file__).resolve().parents[1]
DATASET = "bench"


# -- small helpers ---------------------------------------------------------------------------


def busy_until(t_end: float) -> None:
    """Burn CPU until ``time.perf_counter()`` reaches ``t_end`` (sleep is too coarse)."""
    while time.perf_counter() < t_end:
        pass


def med(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def fmt_range(xs: Sequence[float], scale: float = 1.0, unit: str = "") -> str:
    if not xs:
        return "n/a"
    return (
        f"median {med(xs) * scale:.2f}{unit} "
        f"(min {min(xs) * scale:.2f}, max {max(xs) * scale:.2f}, n={len(xs)})"
    )


def section(title: str) -> None:
    print()
    print("=" * 96)
    print(title)
    print("=" * 96, flush=True)


# -- synthetic data --------------------------------------------------------------------------


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A smooth random field in [-1, 1] whose features are about ``cell`` pixels wide."""
    h, w = shape
    gh, gw = max(2, round(h / cell)) + 1, max(2, round(w / cell)) + 1
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    field /= max(float(np.abs(field).max()), 1e-6)
    return field


def make_object(
    rng: np.random.Generator,
    shape: tuple[int, int],
    center: tuple[float, float],
    frac: float,
    forbid: np.ndarray | None,
) -> np.ndarray:
    """An irregular object covering about ``frac`` of the image: a star-shaped blob with a few
    angular harmonics, an aspect ratio and a low-frequency perturbation of its boundary."""
    h, w = shape
    cy, cx = center
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    aspect = float(rng.uniform(0.65, 1.5))
    dy = (yy - cy * h) / np.float32(h)
    dx = (xx - cx * w) / np.float32(h) / np.float32(aspect)
    theta = np.arctan2(dy, dx)
    rho = np.sqrt(dx * dx + dy * dy)
    radius = np.ones_like(rho)
    for i in range(2, 7):
        radius += np.float32(rng.uniform(0.0, 0.3 / i)) * np.cos(
            np.float32(i) * theta + np.float32(rng.uniform(0, 2 * np.pi))
        )
    f = rho / radius + np.float32(0.08) * smooth_field(rng, shape, cell=h / 5)
    if forbid is not None:
        f[forbid] = np.inf
    k = int(frac * h * w)
    thr = np.partition(f.ravel(), k)[k]
    mask = f <= thr
    # drop specks, keep every part larger than 2% of the object
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.02 * mask.sum()
    return keep[labels]


CENTERS = {
    1: [(0.5, 0.5)],
    2: [(0.5, 0.28), (0.5, 0.72)],
    3: [(0.3, 0.24), (0.66, 0.5), (0.32, 0.78)],
}


def make_sample(
    rng: np.random.Generator, sample_id: str, shape: tuple[int, int], fracs: Sequence[float]
) -> Sample:
    """A synthetic image with non-overlapping irregular instances (``fracs`` of the image)."""
    h, w = shape
    instances: dict[str, np.ndarray] = {}
    taken = np.zeros(shape, dtype=bool)
    margin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (h // 60) + 1,) * 2)
    for i, (frac, (cy, cx)) in enumerate(zip(fracs, CENTERS[len(fracs)]), start=1):
        jitter = rng.uniform(-0.04, 0.04, size=2)
        forbid = cv2.dilate(taken.view(np.uint8), margin).view(bool) if taken.any() else None
        mask = make_object(rng, shape, (cy + jitter[0], cx + jitter[1]), frac, forbid)
        instances[f"{i}"] = mask
        taken |= mask
    image = np.empty((h, w, 3), dtype=np.uint8)
    for ch in range(3):
        bg = 110 + 60 * smooth_field(rng, shape, cell=h / 4)
        for mask in instances.values():
            bg[mask] += float(rng.uniform(-50, 50))
        bg += rng.normal(0, 6, size=shape).astype(np.float32)
        image[..., ch] = np.clip(bg, 0, 255).astype(np.uint8)
    return Sample(sample_id, image, instances, None)


# -- synthetic predictions -------------------------------------------------------------------


@dataclass
class Blob:
    y0: int
    x0: int
    mask: np.ndarray  # bool crop
    value: np.float32  # probability painted inside the blob
    life: int  # the blob is gone from this click index on


class InstanceErrors:
    """Realistic errors of an interactive model on one instance.

    * the predicted boundary is the true one shifted by ``amp_k * field`` pixels, where
      ``field`` is a smooth random field in [-1, 1] (outwards where positive = false positives,
      inwards where negative = false negatives) and ``amp_k`` shrinks with the click index k;
    * a few false-positive blobs just outside and false-negative blobs just inside the object,
      each vanishing after its own number of clicks (one small one stays to the end);
    * probabilities ramp linearly across the predicted boundary (a few pixels wide).
    """

    def __init__(self, gt: np.ndarray, rng: np.random.Generator, max_clicks: int) -> None:
        self.gt = gt
        self.shape = gt.shape
        u8 = gt.view(np.uint8)
        d_out = cv2.distanceTransform(1 - u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        d_in = cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        self.sd = d_out - d_in  # signed distance to the boundary, > 0 outside
        size = float(np.sqrt(gt.sum()))  # object "diameter"
        self.size = size
        self.amp = 0.06 * size
        self.ramp = max(1.5, 0.004 * size)
        self.field = smooth_field(rng, self.shape, cell=size / 3)
        self.blobs = self._blobs(rng, size, max_clicks)
        self.gt_prob = np.where(gt, np.float32(0.97), np.float32(0.03))

    def _blobs(self, rng: np.random.Generator, size: float, max_clicks: int) -> list[Blob]:
        h, w = self.shape
        blobs: list[Blob] = []
        n_fp, n_fn = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        for j in range(n_fp + n_fn):
            outside = j < n_fp
            lo, hi = 0.01 * size, 0.08 * size
            band = (self.sd > lo) & (self.sd < hi) if outside else (-self.sd > lo) & (-self.sd < hi)
            ys, xs = np.nonzero(band)
            if ys.size == 0:
                continue
            p = int(rng.integers(ys.size))
            cy, cx = int(ys[p]), int(xs[p])
            persistent = j == 0
            r = rng.uniform(0.02, 0.04) * size if persistent else rng.uniform(0.04, 0.11) * size
            ax = (max(2, int(r)), max(2, int(r * rng.uniform(0.4, 1.0))))
            y0, y1 = max(0, cy - ax[0]), min(h, cy + ax[0] + 1)
            x0, x1 = max(0, cx - ax[0]), min(w, cx + ax[0] + 1)
            crop = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(crop, (cx - x0, cy - y0), ax, angle, 0, 360, 1, thickness=-1)
            life = max_clicks + 1 if persistent else int(rng.integers(2, 12))
            value = np.float32(0.85) if outside else np.float32(0.15)
            blobs.append(Blob(y0, x0, crop.astype(bool), value, life))
        return blobs

    def base(self, k: int) -> np.ndarray:
        """Probability map at click index ``k`` (1-based) without blobs."""
        amp = self.amp * (0.4 + 0.6 * 0.75 ** (k - 1))
        prob = np.float32(0.5) - (self.sd - np.float32(amp) * self.field) / np.float32(
            2 * self.ramp
        )
        np.clip(prob, 0.0, 1.0, out=prob)
        return prob

    def paint_blobs(
        self, prob: np.ndarray, k: int, clicks: Sequence[Click] = (), reach: int = 0
    ) -> None:
        """Paint the blobs alive at click index ``k``; a blob is fixed for good once a click
        lands within ``reach`` pixels of its box."""
        for b in self.blobs:
            if k >= b.life:
                continue
            bh, bw = b.mask.shape
            if any(
                b.y0 - reach <= c.y < b.y0 + bh + reach and b.x0 - reach <= c.x < b.x0 + bw + reach
                for c in clicks
            ):
                continue
            region = prob[b.y0 : b.y0 + bh, b.x0 : b.x0 + bw]
            region[b.mask] = b.value

    def map_at(self, k: int) -> np.ndarray:
        prob = self.base(k)
        self.paint_blobs(prob, k)
        return prob


class SyntheticModel:
    """Part (a): ``encode`` costs ``encode_s``, ``predict`` ``predict_s`` per trajectory
    (busy-waits; the map computation counts towards that budget).

    The prediction is a deterministic function of the clicks: the instance is the one under
    the first click (always positive: trajectories start from an empty prediction); the base
    map of the click index (boundary errors shrinking with k), blobs that vanish after their
    lifetime or once clicked near, and a disc of radius ``fix_r`` around every click forced to
    the truth (the model corrects what the user clicked on)."""

    threshold = 0.5

    def __init__(self, encode_s: float, predict_s: float, max_clicks: int) -> None:
        self.encode_s = encode_s
        self.predict_s = predict_s
        self.max_clicks = max_clicks
        self.images: dict[int, list[tuple[InstanceErrors, list[np.ndarray], int]]] = {}
        self.stats = {
            "encode_calls": 0,
            "encode_s": 0.0,
            "predict_traj": 0,
            "predict_s": 0.0,
            "predict_work_s": 0.0,
        }

    def add_sample(self, sample: Sample, rng: np.random.Generator) -> None:
        items = []
        for mask in sample.instances.values():
            err = InstanceErrors(mask, rng, self.max_clicks)
            bases = [np.empty(0)] + [err.base(k) for k in range(1, self.max_clicks + 1)]
            r = max(3, int(0.03 * err.size))  # radius of the disc fixed around a click
            yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
            items.append((err, bases, yy * yy + xx * xx <= r * r))
        self.images[id(sample.image)] = items

    def encode(self, image: np.ndarray):
        t0 = time.perf_counter()
        emb = self.images[id(image)]
        busy_until(t0 + self.encode_s)
        self.stats["encode_calls"] += 1
        self.stats["encode_s"] += time.perf_counter() - t0
        return emb

    def _one(self, emb, clicks: Sequence[Click]) -> np.ndarray:
        c0 = clicks[0]
        item = next((it for it in emb if it[0].gt[c0.y, c0.x]), None)
        if item is None:  # not on any instance: cannot happen with an empty first prediction
            return np.zeros(emb[0][0].shape, dtype=np.float32)
        err, bases, disc = item
        k = min(len(clicks), self.max_clicks)
        prob = bases[k].copy()
        r = disc.shape[0] // 2
        err.paint_blobs(prob, k, clicks, reach=r)
        h, w = prob.shape
        for c in clicks:
            y0, y1 = max(0, c.y - r), min(h, c.y + r + 1)
            x0, x1 = max(0, c.x - r), min(w, c.x + r + 1)
            d = disc[y0 - c.y + r : y1 - c.y + r, x0 - c.x + r : x1 - c.x + r]
            np.copyto(prob[y0:y1, x0:x1], err.gt_prob[y0:y1, x0:x1], where=d)
        return prob

    def predict(self, embedding, clicks, state):
        probs, states = self.predict_batch(embedding, [clicks], [state])
        return probs[0], states[0]

    def predict_batch(self, embedding, clicks, states):
        t0 = time.perf_counter()
        probs = [self._one(embedding, c) for c in clicks]
        self.stats["predict_work_s"] += time.perf_counter() - t0
        busy_until(t0 + self.predict_s * len(clicks))
        self.stats["predict_traj"] += len(clicks)
        self.stats["predict_s"] += time.perf_counter() - t0
        return probs, [len(c) for c in clicks]


class PrecomputedModel:
    """Part (b): ``predict`` returns the precomputed map of the click index (nearly free)."""

    threshold = 0.5

    def __init__(self, maps: list[np.ndarray]) -> None:
        self.maps = maps  # maps[k] for k = 1..max_clicks; maps[0] unused

    def encode(self, image):
        return None

    def predict(self, embedding, clicks, state):
        return self.maps[min(len(clicks), len(self.maps) - 1)], None

    def predict_batch(self, embedding, clicks, states):
        last = len(self.maps) - 1
        return [self.maps[min(len(c), last)] for c in clicks], [None] * len(clicks)


# -- (a) engine vs reference loop ------------------------------------------------------------


def engine_run(model, samples, protocol) -> tuple[float, dict]:
    """Wall time of ``process_sample`` over ``samples`` (fresh run folder) and the rows by
    trajectory ``(sample, instance, simulator, group) -> [(x, y, positive, iou), ...]``."""
    sims = {"distance": DistanceSimulator()}
    with tempfile.TemporaryDirectory(prefix="rclicks-bench-") as tmp:
        folder = RunFolder(Path(tmp))
        folder.prepare()
        t0 = time.perf_counter()
        for s in samples:
            out = engine.process_sample(model, sims, protocol, folder, DATASET, s)
            if out.errors:
                errors = (folder.path / "errors.jsonl").read_text()
                sys.exit(f"engine error on {s.sample_id}: {errors}")
        wall = time.perf_counter() - t0
        trajs: dict = defaultdict(list)
        for table in folder.journal_tables():
            d = table.to_pydict()
            order = sorted(range(len(d["click"])), key=lambda i: d["click"][i])
            for i in order:
                key = (d["sample_id"][i], d["instance_id"][i], d["simulator"][i], d["group"][i])
                trajs[key].append((d["x"][i], d["y"][i], d["positive"][i], d["iou"][i]))
    return wall, trajs


def _reference(model, sample: Sample, iid: str, simulator: str, group: int, protocol):
    rng = trajectory_rng(protocol.seed, DATASET, sample.sample_id, iid, simulator, group, 1)
    sim = DistanceSimulator()
    return reference_trajectory(
        model, sample.image, sample.instances[iid], simulator, group, protocol, rng,
        sim.density, model.threshold,
    )  # fmt: skip


def part_a(args) -> None:
    quick = args.quick
    shape = (240, 320) if quick else (480, 640)
    n_images = 1 if quick else 3
    engine_repeats = 3 if quick else 5
    ref_groups = [1] if quick else [1, 10]
    ref_repeats = 1 if quick else 2
    protocol = engine.ProtocolSettings(groups=10, repeats=1, max_clicks=20, seed=args.seed)
    # 100x; the synthetic map itself takes ~0.6 ms per trajectory at 480x640, so predict's
    # budget must be above that for the model to cost what it claims
    encode_s, predict_s = 0.100, 0.001

    section("(a) full protocol: engine vs RClicks-reference model-call structure")
    rng = np.random.default_rng(args.seed)
    samples = [
        make_sample(rng, f"img{i}", shape, [rng.uniform(0.15, 0.25), rng.uniform(0.15, 0.25)])
        for i in range(n_images)
    ]
    model = SyntheticModel(encode_s, predict_s, protocol.max_clicks)
    for s in samples:
        model.add_sample(s, rng)
    n_inst = sum(len(s.instances) for s in samples)
    n_traj = 1 + protocol.groups
    print(
        f"images: {n_images} x {shape[0]}x{shape[1]}, {n_inst} instances "
        f"({', '.join(f'{m.mean():.0%}' for s in samples for m in s.instances.values())} "
        f"of the image)"
    )
    print(
        f"protocol: distance simulator, baseline + {protocol.groups} groups = {n_traj} "
        f"trajectories x {protocol.max_clicks} clicks per instance "
        f"= {n_inst * n_traj * protocol.max_clicks} clicks in all"
    )
    print(
        f"synthetic model: encode {encode_s * 1e3:.1f} ms, predict {predict_s * 1e3:.2f} ms per "
        f"trajectory (predict_batch: B x {predict_s * 1e3:.2f} ms), busy-waits"
    )

    # engine -------------------------------------------------------------------------------
    walls, trajs = [], {}
    for _ in range(engine_repeats):
        before = dict(model.stats)
        wall, trajs = engine_run(model, samples, protocol)
        walls.append(wall)
    enc_calls = model.stats["encode_calls"] - before["encode_calls"]
    enc_time = model.stats["encode_s"] - before["encode_s"]
    pred_traj = model.stats["predict_traj"] - before["predict_traj"]
    pred_time = model.stats["predict_s"] - before["predict_s"]
    work = model.stats["predict_work_s"] - before["predict_work_s"]
    t_engine = med(walls)
    print()
    print(f"engine (process_sample, {engine_repeats} repeats): wall {fmt_range(walls, 1, ' s')}")
    print(
        f"  last repeat: {enc_calls} encode calls = {enc_time:.2f} s, {pred_traj} trajectory "
        f"predictions = {pred_time:.2f} s (map computation inside that budget: "
        f"{work / max(pred_traj, 1) * 1e3:.3f} ms/trajectory), "
        f"engine's own work = {walls[-1] - enc_time - pred_time:.2f} s "
        f"({(walls[-1] - enc_time - pred_time) / pred_traj * 1e3:.2f} ms per click)"
    )
    finals = [v[-1][3] for v in trajs.values()]
    print(
        f"  final IoU over trajectories: median {med(finals):.3f}, min {min(finals):.3f}; "
        f"IoU after click 1: median {med([v[0][3] for v in trajs.values()]):.3f}"
    )

    # reference loop -----------------------------------------------------------------------
    specs = [(engine.BASELINE, 0)] + [("distance", g) for g in ref_groups]
    times: dict[tuple, list[float]] = defaultdict(list)  # (simulator, group) -> per instance
    mismatches = checked = 0
    for rep in range(ref_repeats):
        for s in samples:
            for iid in s.instances:
                for sim_name, g in specs:
                    t0 = time.perf_counter()
                    ref = _reference(model, s, iid, sim_name, g, protocol)
                    times[(rep, sim_name, g)].append(time.perf_counter() - t0)
                    if rep == 0:
                        checked += 1
                        eng = trajs[(s.sample_id, iid, sim_name, g)]
                        if ref != eng:
                            mismatches += 1
                            k = next(i for i, (a, b) in enumerate(zip(ref, eng)) if a != b)
                            print(
                                f"  MISMATCH {s.sample_id}/{iid} {sim_name} group {g}: click "
                                f"{k + 1} reference {ref[k]} engine {eng[k]}"
                            )
    totals = []
    for rep in range(ref_repeats):
        base_t = sum(times[(rep, engine.BASELINE, 0)])
        group_t = statistics.mean(sum(times[(rep, "distance", g)]) for g in ref_groups)
        totals.append(base_t + protocol.groups * group_t)
    t_ref = med(totals)
    per_click = [t / protocol.max_clicks for (rep, _, _), ts in times.items() for t in ts]
    print()
    print(
        f"reference loop (encode + predict for every click of every trajectory), "
        f"{ref_repeats} repeat(s)"
    )
    print(
        f"  measured on the baseline + group(s) {ref_groups} of all {n_inst} instances "
        f"({len(specs)} of {n_traj} trajectories per instance); full protocol extrapolated "
        f"linearly: baseline + {protocol.groups} x mean group time"
    )
    print(f"  per click: {fmt_range(per_click, 1e3, ' ms')}")
    print(f"  full protocol (extrapolated): {fmt_range(totals, 1, ' s')}")
    print(
        f"  identical clicks and IoUs to the engine on {checked - mismatches}/{checked} "
        f"reference trajectories" + ("" if mismatches == 0 else "  <-- MISMATCH")
    )
    ideal = n_images * encode_s + n_inst * n_traj * protocol.max_clicks * predict_s
    print()
    print(
        f"RESULT (a): engine {t_engine:.2f} s vs reference {t_ref:.1f} s (extrapolated) "
        f"-> speed-up {t_ref / t_engine:.0f}x (target >= 50x)"
    )
    print(
        f"  for scale: model calls alone, batched = {ideal:.2f} s; the engine spends the "
        f"rest ({t_engine - ideal:.2f} s) in the click protocol, IoU and journaling"
    )


# -- (b) engine's own cost per click ---------------------------------------------------------


class StageTimer:
    """Wraps the engine's module-level calls to time each stage of ``run_instance``."""

    # (module, name) of every stage run_instance calls
    STAGES = (
        (trajectories, "distances_of"),
        (trajectories, "click_side"),
        (trajectories, "densities"),
        (clicks, "pick_position"),
        (trajectories, "predict_all"),
        (trajectories, "as_prob"),
        (Target, "evaluate"),
    )

    def __init__(self) -> None:
        self.acc: dict[str, float] = defaultdict(float)
        self.saved: dict[str, object] = {}

    def _wrap(self, owner, name):
        fn = getattr(owner, name)
        self.saved[(owner, name)] = fn

        def wrapper(*a, _fn=fn, _name=name, **kw):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **kw)
            finally:
                self.acc[_name] += time.perf_counter() - t0

        setattr(owner, name, wrapper)

    def __enter__(self):
        for owner, name in self.STAGES:
            self._wrap(owner, name)
        return self

    def __exit__(self, *exc):
        for (owner, name), fn in self.saved.items():
            setattr(owner, name, fn)


def _components(mask: np.ndarray) -> int:
    return cv2.connectedComponents(mask.view(np.uint8), connectivity=8)[0] - 1


def _box(mask: np.ndarray) -> str:
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return f"{xs[-1] - xs[0] + 1}x{ys[-1] - ys[0] + 1}" if ys.size else "-"


def run_case(sample: Sample, iid: str, model, sims, protocol) -> tuple[float, float, int, dict]:
    t0 = time.perf_counter()
    rows = engine.run_instance(
        model,
        None,
        sample.image,
        sample.instances[iid],
        sample.ignore,
        sims,
        protocol,
        (DATASET, sample.sample_id, iid),
    )
    wall = time.perf_counter() - t0
    return wall, float(sum(rows["seconds"])), len(rows["click"]), rows


def part_b(args) -> None:
    quick = args.quick
    shape = (1536, 2048)
    layouts = [[0.22, 0.30]] if quick else [[0.22, 0.30], [0.15, 0.20, 0.25]]
    max_instances = 1 if quick else None
    repeats = {"baseline": 1, "distance": 1} if quick else {"baseline": 3, "distance": 2}
    max_clicks = 10 if quick else 20
    base_protocol = engine.ProtocolSettings(groups=10, max_clicks=max_clicks, seed=args.seed)
    cases = {
        "baseline": ({"baseline": BaselineSimulator()}, base_protocol),
        "distance": ({"distance": DistanceSimulator()}, base_protocol),
    }

    section(f"(b) engine's own cost per click on {shape[1]}x{shape[0]} images (model excluded)")
    rng = np.random.default_rng(args.seed + 1)
    samples = [make_sample(rng, f"big{i}", shape, fr) for i, fr in enumerate(layouts)]
    work = [(s, iid) for s in samples for iid in s.instances][:max_instances]
    print(
        f"instances: {len(work)} ("
        + ", ".join(f"{s.instances[iid].mean():.0%}" for s, iid in work)
        + " of the image)"
    )
    print(
        f"protocol: {max_clicks} clicks; 'baseline' = baseline trajectory only (1 trajectory); "
        f"'distance' = CLI default, baseline + {base_protocol.groups} groups (11 trajectories)"
    )
    print(
        "model: predict returns a precomputed map per click index (boundary shifted by a "
        "smooth field, shrinking with k, plus blobs); model time = sum of the engine's "
        "'seconds' column"
    )

    per_click: dict[str, list[float]] = defaultdict(list)
    model_share: dict[str, list[float]] = defaultdict(list)
    ious: dict[str, list[float]] = defaultdict(list)
    stages: dict[str, float] = defaultdict(float)
    stage_clicks = 0
    stage_wall = 0.0
    profiled = None
    for n, (s, iid) in enumerate(work):
        err = InstanceErrors(
            s.instances[iid], np.random.default_rng(args.seed + 100 + n), max_clicks
        )
        maps = [np.empty(0, np.float32)] + [err.map_at(k) for k in range(1, max_clicks + 1)]
        model = PrecomputedModel(maps)
        if n == 0:
            gt = s.instances[iid]
            for k in (1, max_clicks):
                fn, fp = error_masks(gt, maps[k] > model.threshold)
                print(
                    f"  {s.sample_id}/{iid} errors at click {k}: FN {int(fn.sum())} px in "
                    f"{_components(fn)} parts, bbox {_box(fn)}; FP {int(fp.sum())} px in "
                    f"{_components(fp)} parts, bbox {_box(fp)}"
                )
        for name, (sims, protocol) in cases.items():
            for rep in range(repeats[name]):
                # the last distance repeat is instrumented for the stage breakdown (the
                # wrappers cost microseconds per click, far below the noise)
                timer = StageTimer() if name == "distance" and rep == repeats[name] - 1 else None
                if timer is not None:
                    with timer:
                        wall, model_t, clicks, rows = run_case(s, iid, model, sims, protocol)
                    for k, v in timer.acc.items():
                        stages[k] += v
                    stages["_model"] += model_t
                    stage_wall += wall
                    stage_clicks += clicks
                else:
                    wall, model_t, clicks, rows = run_case(s, iid, model, sims, protocol)
                per_click[name].append((wall - model_t) / clicks)
                model_share[name].append(model_t / wall)
            last = [r for r, k in zip(rows["iou"], rows["click"]) if k == max_clicks]
            first = [r for r, k in zip(rows["iou"], rows["click"]) if k == 1]
            ious[name] += [med(first), med(last)]
        if profiled is None:
            profiled = (s, iid, model)
        else:
            del maps, model
    print()
    for name in cases:
        print(
            f"{name:>8}: per click {fmt_range(per_click[name], 1e3, ' ms')} "
            f"[model share of wall: {med(model_share[name]):.1%}]"
        )
    print()
    print(
        f"RESULT (b): median engine ms/click  baseline {med(per_click['baseline']) * 1e3:.2f} ms"
        f"  distance {med(per_click['distance']) * 1e3:.2f} ms  (target <= 10 ms)"
    )
    print(
        f"  (IoU in these runs: click 1 ~ {med(ious['distance'][0::2]):.3f}, click {max_clicks}"
        f" ~ {med(ious['distance'][1::2]):.3f})"
    )

    # stage breakdown ----------------------------------------------------------------------
    print()
    print(
        f"stage breakdown, distance case (the last repeat of each instance, "
        f"{stage_clicks} clicks), ms per click:"
    )
    own = stage_wall - stages["_model"]
    predict_overhead = stages["predict_all"] - stages["_model"]
    rows_out = [
        ("evaluate (threshold, IoU, FN/FP pixel lists)", stages["evaluate"]),
        ("distances_of (exact distances of FN and FP regions)", stages["distances_of"]),
        ("click_side (clicked pixels zeroed + side rule)", stages["click_side"]),
        ("densities (simulator density at the regions)", stages["densities"]),
        ("pick (group slice + sampling)", stages["pick_position"]),
        ("predict_all minus model time (engine's batching glue)", predict_overhead),
        ("as_prob (shape check)", stages["as_prob"]),
    ]
    accounted = sum(v for _, v in rows_out)
    rows_out.append(("rest: prob > thr, IoU counts, row bookkeeping, rng setup", own - accounted))
    for label, v in rows_out:
        print(f"  {label:<66} {v / stage_clicks * 1e3:7.3f} ms  {v / own:6.1%}")
    print(f"  {'total (engine own time)':<66} {own / stage_clicks * 1e3:7.3f} ms")
    print(f"  (model time, excluded: {stages['_model'] / stage_clicks * 1e3:.3f} ms per click)")

    # cProfile -----------------------------------------------------------------------------
    s, iid, model = profiled
    sims, protocol = cases["distance"]
    prof = cProfile.Profile()
    prof.enable()
    run_case(s, iid, model, sims, protocol)
    prof.disable()
    for sort, n_top in (("cumulative", 22), ("tottime", 18)):
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats(sort).print_stats(n_top)
        text = buf.getvalue().replace(str(REPO) + os.sep, "")
        text = text.replace(os.path.dirname(np.__file__) + os.sep, "numpy/")
        lines = text.splitlines()
        start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
        print()
        print(
            f"cProfile of one distance run_instance ({s.sample_id}/{iid}), top {n_top} by "
            f"{sort} (times in s, for {len(engine.plan(sims, protocol)) * protocol.max_clicks}"
            f" clicks; profiling overhead included):"
        )
        for ln in lines[start:]:
            if ln.strip():
                print("  " + ln[:150])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller, finishes in under a minute")
    ap.add_argument("--part", choices=["a", "b", "all"], default="all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(
        f"rclicks engine benchmark{' (--quick)' if args.quick else ''}; "
        f"python {sys.version.split()[0]}, numpy {np.__version__}, opencv {cv2.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"cpus={os.cpu_count()}"
    )
    t0 = time.perf_counter()
    if args.part in ("a", "all"):
        part_a(args)
    if args.part in ("b", "all"):
        part_b(args)
    print(f"\ntotal benchmark time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
