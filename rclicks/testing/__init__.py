"""Conformance helpers for plugin authors (also a pytest plugin, see :mod:`.plugin`).

Three lines test a model against the protocol on a tiny synthetic dataset::

    from rclicks.testing import check_model
    def test_my_model_conforms():
        check_model(MyModel())

and a model with ``predict_differentiable`` (the TETRIS gradient) is checked with
``check_differentiable(model)`` and ``check_tetris(model, tmp_path)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.testing.gradients import (
    CLICKS,
    check_differentiable,
    differentiable_matches_predict,
    gradient_image,
    predict_trajectory,
)
from rclicks.types import Click, Sample

__all__ = [
    "CLICKS",
    "TinyDataset",
    "check_differentiable",
    "check_model",
    "check_simulator",
    "check_tetris",
    "differentiable_matches_predict",
    "gradient_image",
    "listed",
    "predict_trajectory",
    "run_rclicks",
    "tiny_dataset",
    "write_folder",
]


def _scene(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 90, size=3)
    image = np.empty((h, w, 3), dtype=np.float64)
    image[:] = base + 10 * np.sin(xx / 5.0)[..., None]
    instances: dict[str, np.ndarray] = {}
    for k in range(1, 3):
        cy, cx = rng.uniform(0.3, 0.7) * h, (0.3 + 0.4 * (k - 1)) * w
        ry, rx = rng.uniform(0.15, 0.25) * h, rng.uniform(0.12, 0.18) * w
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        image[mask] = rng.integers(150, 250, size=3)
        for other in instances.values():
            other &= ~mask
        instances[str(k)] = mask
    return np.clip(image, 0, 255).astype(np.uint8), instances


class TinyDataset:
    """A few small synthetic images with two elliptic instances each."""

    def __init__(
        self, n: int = 2, size: tuple[int, int] = (48, 64), seed: int = 0, name: str = "tiny"
    ) -> None:
        self.name = name
        rng = np.random.default_rng(seed)
        self._samples = []
        for i in range(n):
            image, inst = _scene(rng, *size)
            self._samples.append(Sample(f"img{i}", image, inst))

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, i: int) -> Sample:
        return self._samples[i]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)


def tiny_dataset(n: int = 2, size: tuple[int, int] = (48, 64), seed: int = 0) -> TinyDataset:
    return TinyDataset(n, size, seed)


def write_folder(root: str | Path, dataset: Any) -> Path:
    """Write a dataset in the generic folder layout (PNG images and label masks)."""
    from PIL import Image

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for s in dataset:
        Image.fromarray(s.image).save(root / "images" / f"{s.sample_id}.png")
        labels = np.zeros(s.image.shape[:2], dtype=np.uint8)
        for k, m in enumerate(s.instances.values(), start=1):
            labels[m] = k
        Image.fromarray(labels).save(root / "masks" / f"{s.sample_id}.png")
    return root


def _clicks_for(gt: np.ndarray) -> list[Click]:
    ys, xs = np.nonzero(gt)
    inside = Click(int(xs[len(xs) // 2]), int(ys[len(ys) // 2]), True)
    oy, ox = np.nonzero(~gt)
    outside = Click(int(ox[len(ox) // 3]), int(oy[len(oy) // 3]), False)
    return [inside, outside]


def check_model(model: Any, dataset: Any = None, max_clicks: int = 3) -> None:
    """Assert that ``model`` follows the :class:`rclicks.ISModel` protocol.

    Checks: the methods and ``threshold``; the probability map's shape and finiteness;
    determinism; that ``encode``'s result is reusable (predicting twice gives the same map);
    that ``predict_batch`` (when present) agrees with ``predict``; and a short protocol run
    (baseline + 2 clicking groups) through the engine.
    """
    from rclicks.engine import ProtocolSettings, run_instance
    from rclicks.protocols import BatchPredictor, ISModel
    from rclicks.simulators import DistanceSimulator

    assert isinstance(model, ISModel), (
        f"{type(model).__name__} lacks encode/predict/threshold of rclicks.ISModel"
    )
    assert isinstance(float(model.threshold), float), "threshold must be a number"
    dataset = dataset if dataset is not None else tiny_dataset()
    for sample in dataset:
        h, w = sample.image.shape[:2]
        emb = model.encode(sample.image)
        gt = next(iter(sample.instances.values()))
        clicks = _clicks_for(gt)
        p1, s1 = model.predict(emb, clicks[:1], None)
        p1 = np.asarray(p1)
        assert p1.shape == (h, w), f"predict returned shape {p1.shape}, expected {(h, w)}"
        assert np.all(np.isfinite(p1)), "predict returned non-finite values"
        p1b, _ = model.predict(emb, clicks[:1], None)
        assert np.array_equal(p1, np.asarray(p1b)), (
            "predict is not deterministic, or encode's result was changed by predict"
        )
        p2, _ = model.predict(emb, clicks, s1)
        assert np.asarray(p2).shape == (h, w)
        if isinstance(model, BatchPredictor):
            probs, states = model.predict_batch(emb, [clicks[:1], clicks[:1]], [None, None])
            assert len(probs) == 2 and len(states) == 2, "predict_batch must return one per input"
            for p in probs:
                assert np.allclose(np.asarray(p), p1, atol=1e-4), (
                    "predict_batch disagrees with predict"
                )
        rows = run_instance(
            model,
            emb,
            sample.image,
            gt,
            sample.ignore,
            {"distance": DistanceSimulator()},
            ProtocolSettings(groups=2, max_clicks=max_clicks),
            ("check", sample.sample_id, "0"),
        )
        assert len(rows["iou"]) == 3 * max_clicks
        assert all(0.0 <= v <= 1.0 for v in rows["iou"])


def check_simulator(simulator: Any, dataset: Any = None) -> None:
    """Assert that ``simulator`` follows :class:`rclicks.ClickSimulator`: a finite,
    non-negative H×W density, a boolean ``deterministic``, and ``region_density`` and
    ``density_batch`` (when present) agreeing with ``density``."""
    from rclicks.protocols import BatchDensity, ClickSimulator, RegionDensity

    assert isinstance(simulator, ClickSimulator), (
        f"{type(simulator).__name__} lacks density/deterministic of rclicks.ClickSimulator"
    )
    assert isinstance(simulator.deterministic, bool), "deterministic must be a bool"
    dataset = dataset if dataset is not None else tiny_dataset()
    for sample in dataset:
        gt = next(iter(sample.instances.values()))
        d = np.asarray(simulator.density(sample.image, gt, gt))
        assert d.shape == gt.shape, f"density shape {d.shape}, expected {gt.shape}"
        assert np.all(np.isfinite(d)) and (d >= 0).all(), "density must be finite and >= 0"
        assert d[gt].sum() > 0, "density is zero on the whole error region"
        if isinstance(simulator, RegionDensity):
            from rclicks.clicks import padded_distance

            region = padded_distance(gt)
            fast = np.asarray(simulator.region_density(sample.image, gt, region))
            assert fast.shape == (region.size,), "region_density must give one value per pixel"
            assert np.allclose(fast, d.ravel()[region.idx], atol=1e-5), (
                "region_density disagrees with density"
            )
        if isinstance(simulator, BatchDensity):
            ds = simulator.density_batch([sample.image] * 2, [gt] * 2, [gt, gt])
            for x in ds:
                assert np.allclose(np.asarray(x), d, atol=1e-5), (
                    "density_batch disagrees with density"
                )


def run_rclicks(*args: str, plugins: str = "", timeout: float = 180):
    """Run the ``rclicks`` CLI in a subprocess, as a user would, loading only the entry-point
    plugins named in ``plugins`` (comma-separated, as ``RCLICKS_LOAD_PLUGINS``) and one thread.
    Returns the ``subprocess.CompletedProcess`` (text output captured)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "RCLICKS_LOAD_PLUGINS": plugins, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rclicks.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def listed(kind: str = "models", plugins: str = "") -> dict[str, dict]:
    """``rclicks list --json`` entries of one kind, by name (see :func:`run_rclicks`)."""
    import json

    out = run_rclicks("list", "--json", plugins=plugins, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"rclicks list failed: {out.stderr}")
    return {e["name"]: e for e in json.loads(out.stdout)[kind]}


#: how far ``predict_batch`` may be from ``predict`` (see :func:`check_model`)
BATCH_TOLERANCE = 1e-4


def _iou_range(gt: np.ndarray, prob: np.ndarray, threshold: float, valid: np.ndarray | None):
    """The lowest and highest IoU of any mask that agrees with ``prob > threshold`` except on
    pixels whose probability lies within :data:`BATCH_TOLERANCE` of the threshold, and those
    pixels (bool)."""
    sure = prob > threshold + BATCH_TOLERANCE
    maybe = (prob > threshold - BATCH_TOLERANCE) & ~sure
    g = np.asarray(gt, dtype=bool)
    if valid is not None:
        g, sure, maybe_in = g & valid, sure & valid, maybe & valid
    else:
        maybe_in = maybe
    inter = np.count_nonzero(sure & g)
    union = np.count_nonzero(sure | g)
    gain = np.count_nonzero(maybe_in & g & ~sure)  # on the object: add to both counts' inter
    spill = np.count_nonzero(maybe_in & ~g)  # off the object: adds to the union only
    low = inter / (union + spill) if union + spill else float("nan")
    high = (inter + gain) / union if union else float("nan")
    return low, high, maybe


def check_tetris(model: Any, out: str | Path, max_clicks: int = 2) -> Any:
    """A TETRIS run (``strategy=auto``) on a small synthetic image, checked: the gradient
    strategy is chosen; at click 1 ``IoU(tetris-min) <= IoU(baseline) <= IoU(tetris-max)``;
    replayed with ``predict``, every click lies in its trajectory's error region of the
    previous prediction and the rows hold the replayed IoUs; a second run gives the same rows.
    The engine decodes a click's positions with ``predict_batch``, which may differ from
    ``predict`` by :data:`BATCH_TOLERANCE`: a replayed pixel that close to the threshold may
    go either way (with none, the IoU must be the replayed one exactly). ``out``: a folder for
    the two runs. Returns the first run."""
    import rclicks
    from rclicks.clicks import error_masks
    from rclicks.metrics import iou

    def run(name: str):
        data = TinyDataset(n=1, size=(72, 96), seed=4)
        return rclicks.evaluate(model, "tetris", data, max_clicks=max_clicks, out=Path(out) / name)

    first_run = run("a")
    assert first_run.info["simulators"][0]["strategy"] == "gradient"
    df = first_run.per_click
    first = df[df["click"] == 1].pivot(
        index=["sample_id", "instance_id"], columns="simulator", values="iou"
    )
    assert (first["tetris-min"] <= first["baseline"]).all()
    assert (first["baseline"] <= first["tetris-max"]).all()
    assert df["biou"].notna().all()
    sample = next(iter(TinyDataset(n=1, size=(72, 96), seed=4)))
    emb = model.encode(sample.image)
    threshold = float(getattr(model, "threshold", 0.5))
    for (iid, sim), rows in df.sort_values("click").groupby(["instance_id", "simulator"]):
        gt = sample.instances[iid]
        prev, state, clicks = np.zeros_like(gt), None, []
        either = np.zeros(gt.shape, dtype=bool)  # pixels of prev that may go either way
        valid = None if sample.ignore is None else ~np.asarray(sample.ignore, dtype=bool)
        for _, row in rows.iterrows():
            fn, fp = error_masks(gt, prev, sample.ignore)
            where = (sim, row["click"])
            assert (fn if row["positive"] else fp)[row["y"], row["x"]] or either[
                row["y"], row["x"]
            ], where
            clicks.append(Click(int(row["x"]), int(row["y"]), bool(row["positive"])))
            prob, state = model.predict(emb, clicks, state)
            prob = np.asarray(prob)
            prev = prob > threshold
            low, high, either = _iou_range(gt, prob, threshold, valid)
            if not either.any():
                assert abs(iou(gt, prev, sample.ignore) - row["iou"]) <= 1e-12, where
            else:
                assert low - 1e-12 <= row["iou"] <= high + 1e-12, (where, low, row["iou"], high)
    cols = ["simulator", "instance_id", "click", "x", "y", "iou", "biou"]
    assert run("b").per_click[cols].equals(df[cols]), "the same seed gave other rows"
    return first_run
