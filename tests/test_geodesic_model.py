"""Tests of the weightless geodesic model and of the bundled demo dataset files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rclicks.clicks import baseline_click
from rclicks.models.geodesic import GeodesicModel, make_model
from rclicks.types import Click

DEMO = Path(__file__).resolve().parents[1] / "rclicks" / "demo_data"


def _manifest() -> dict:
    return json.loads((DEMO / "manifest.json").read_text())


def _load(stem: str) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(DEMO / "images" / f"{stem}.png").convert("RGB"))
    labels = np.asarray(Image.open(DEMO / "masks" / f"{stem}.png"))
    return image, labels


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def demo():
    image, labels = _load("demo_00")
    model = GeodesicModel()
    return model, image, labels, model.encode(image)


def _centre_click(mask: np.ndarray, positive: bool) -> Click:
    """The pixel of ``mask`` farthest from its outline (a robust interior point)."""
    from rclicks.clicks import padded_distance

    y, x = padded_distance(mask).first_argmax()
    return Click(x=x, y=y, positive=positive)


def _trajectories(labels: np.ndarray) -> list[list[Click]]:
    gt1, gt2 = labels == 1, labels == 2
    return [
        [_centre_click(gt1, True)],
        [_centre_click(gt1, True), _centre_click(gt2, False)],
        [_centre_click(gt2, True), _centre_click(labels == 0, False), _centre_click(gt1, True)],
    ]


# --------------------------------------------------------------------------- model


def test_make_model_coerces_cli_strings():
    m = make_model(n_segments="800", compactness="15", slic_iter="4", refine="false")
    assert isinstance(m, GeodesicModel)
    assert m.n_segments == 800 and isinstance(m.n_segments, int)
    assert m.compactness == 15.0 and m.slic_iter == 4 and m.refine is False
    assert m.threshold == 0.5


def test_output_shape_dtype_range(demo):
    model, image, labels, emb = demo
    clicks = _trajectories(labels)[1]
    prob, state = model.predict(emb, clicks, None)
    assert prob.shape == image.shape[:2]
    assert prob.dtype == np.float32
    assert np.isfinite(prob).all() and prob.min() >= 0.0 and prob.max() <= 1.0
    assert state is not None
    # no click, or only negative clicks: nothing is foreground
    for cl in ([], [Click(5, 5, False)]):
        p, _ = model.predict(emb, cl, None)
        assert p.shape == image.shape[:2] and p.dtype == np.float32 and not (p > 0.5).any()


def test_deterministic(demo):
    model, image, labels, emb = demo
    clicks = _trajectories(labels)[2]
    p1, s1 = model.predict(emb, clicks, None)
    p2, _ = model.predict(emb, clicks, None)
    assert np.array_equal(p1, p2)
    # a fresh model and a fresh encode give the very same map
    other = GeodesicModel()
    p3, _ = other.predict(other.encode(image.copy()), clicks, None)
    assert np.array_equal(p1, p3)
    # reusing a state twice gives the same answer (states are not modified)
    extra = clicks + [Click(3, 3, False)]
    q1, _ = model.predict(emb, extra, s1)
    q2, _ = model.predict(emb, extra, s1)
    assert np.array_equal(q1, q2)


def test_incremental_equals_from_scratch(demo):
    model, _, labels, emb = demo
    clicks = _trajectories(labels)[2]
    state = None
    for i in range(1, len(clicks) + 1):
        prob, state = model.predict(emb, clicks[:i], state)
    scratch, _ = model.predict(emb, clicks, None)
    assert np.array_equal(prob, scratch)
    # a state that does not match the clicks is ignored, not trusted
    other, _ = model.predict(emb, [Click(1, 1, True)], state)
    fresh, _ = model.predict(emb, [Click(1, 1, True)], None)
    assert np.array_equal(other, fresh)


def test_predict_batch_matches_predict(demo):
    model, _, labels, emb = demo
    trajs = _trajectories(labels)
    singles, states = [], []
    for cl in trajs:
        p, s = model.predict(emb, cl[:-1], None)
        states.append(s)
        singles.append(model.predict(emb, cl, s)[0])
    batch, new_states = model.predict_batch(emb, trajs, states)
    assert len(batch) == len(new_states) == len(trajs)
    for a, b in zip(singles, batch, strict=True):
        assert np.array_equal(a, b)
    batch2, _ = model.predict_batch(emb, trajs, [None] * len(trajs))
    for a, b in zip(singles, batch2, strict=True):
        assert np.array_equal(a, b)


def test_clicked_pixels_take_the_click_label(demo):
    model, _, labels, emb = demo
    gt = labels == 1
    pos = _centre_click(gt, True)
    prob, state = model.predict(emb, [pos], None)
    assert prob[pos.y, pos.x] > model.threshold
    # a negative click inside the object (and one on the object's edge)
    ys, xs = np.nonzero(gt)
    far = int(np.argmax((ys - pos.y) ** 2 + (xs - pos.x) ** 2))
    neg = Click(x=int(xs[far]), y=int(ys[far]), positive=False)
    prob, state = model.predict(emb, [pos, neg], state)
    assert prob[neg.y, neg.x] <= model.threshold
    assert prob[pos.y, pos.x] > model.threshold
    # a positive click in the background
    bg = _centre_click(labels == 0, True)
    prob, _ = model.predict(emb, [pos, neg, bg], state)
    assert prob[bg.y, bg.x] > model.threshold


def test_embedding_is_not_mutated(demo):
    model, _, labels, emb = demo
    before = {k: np.array(v, copy=True) for k, v in vars(emb).items() if isinstance(v, np.ndarray)}
    graph = emb.graph.copy()
    for cl in _trajectories(labels):
        model.predict(emb, cl, None)
    for k, v in before.items():
        assert np.array_equal(getattr(emb, k), v), k
    assert (emb.graph != graph).nnz == 0


def test_bad_click_raises(demo):
    model, image, _, emb = demo
    with pytest.raises(ValueError):
        model.predict(emb, [Click(image.shape[1], 0, True)], None)


def test_baseline_clicks_reach_085(demo):
    model, _, labels, emb = demo
    for k in sorted(int(v) for v in np.unique(labels) if v):
        gt = labels == k
        pred = np.zeros_like(gt)
        clicks: list[Click] = []
        state = None
        best = 0.0
        for _ in range(20):
            clicks.append(baseline_click(gt, pred, clicks))
            prob, state = model.predict(emb, clicks, state)
            pred = prob > model.threshold
            best = max(best, _iou(pred, gt))
            if best >= 0.9:
                break
        assert best >= 0.85, f"instance {k}: best IoU {best:.3f}"


# --------------------------------------------------------------------------- demo data


def test_demo_files_match_manifest():
    manifest = _manifest()
    samples = manifest["samples"]
    assert [s["stem"] for s in samples] == manifest["stems"]
    assert len(samples) == 14
    assert manifest["total_instances"] == sum(s["instances"] for s in samples)
    for s in samples:
        for rel, digest in s["sha256"].items():
            assert hashlib.sha256((DEMO / rel).read_bytes()).hexdigest() == digest, rel
    listed = {rel for s in samples for rel in s["sha256"]}
    on_disk = {
        p.relative_to(DEMO).as_posix()
        for p in DEMO.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert on_disk == listed


def test_demo_images_and_masks_agree():
    for s in _manifest()["samples"]:
        with Image.open(DEMO / s["image"]) as im, Image.open(DEMO / s["mask"]) as mk:
            assert im.mode == "RGB" and mk.mode == "L"
            assert im.size == mk.size == (s["width"], s["height"])
        _, labels = _load(s["stem"])
        ids = sorted(int(v) for v in np.unique(labels) if v)
        assert ids == list(range(1, s["instances"] + 1)) == s["instance_ids"]
