"""Tests of the ``clickability`` simulator (random weights; no checkpoint needed).

The network always runs at 416x416, so every forward costs about a second on a CPU: the tests
share one simulator and keep the number of forwards small.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from rclicks.clickability.checkpoint import CHECKPOINT_NAME, CHECKPOINT_URL
from rclicks.clickability.preprocess import letterbox, letterbox_geometry
from rclicks.clickability.simulator import make_clickability
from rclicks.engine import ProtocolSettings, run_instance
from rclicks.errors import CheckpointNotFoundError
from rclicks.models.geodesic import make_model
from rclicks.testing import check_simulator, tiny_dataset


@pytest.fixture(scope="module")
def sim():
    return make_clickability(random_weights=True, seed=0, batch_size=16)


@pytest.fixture(scope="module")
def sample():
    return next(iter(tiny_dataset(n=1)))


def test_protocol_check(sim, sample):
    assert sim.deterministic is False
    check_simulator(sim, [sample])


def test_letterbox_geometry():
    assert letterbox_geometry(200, 50) == (True, 104, 156)  # tall: columns band
    assert letterbox_geometry(50, 200) == (False, 104, 156)  # wide: rows band
    assert letterbox_geometry(100, 100) == (False, 416, 0)  # square counts as wide
    tall = letterbox(np.ones((200, 50), np.float32))
    assert tall[:, 156:260].min() == 1.0 and tall[:, :156].max() == 0 and tall[:, 260:].max() == 0
    wide = letterbox(np.ones((50, 200, 3), np.float32))
    assert wide.shape == (416, 416, 3)
    assert wide[156:260].min() == 1.0 and wide[:156].max() == 0 and wide[260:].max() == 0


def test_tall_and_wide_batch_matches_single(sim):
    """A tall and a wide image in one batch: shapes, range, and equality with ``density``."""
    rng = np.random.default_rng(3)
    images, gts, errs = [], [], []
    for h, w in ((200, 50), (50, 200)):
        images.append(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
        gt = np.zeros((h, w), bool)
        if h > w:
            gt[: h // 2] = True  # top half
        else:
            gt[:, : w // 2] = True  # left half
        err = gt.copy()
        err[: h // 4] = False
        gts.append(gt)
        errs.append(err)
    batch = sim.density_batch(images, gts, errs)
    assert len(batch) == 2
    for img, gt, err, d in zip(images, gts, errs, batch):
        assert d.shape == gt.shape and d.dtype == np.float32
        assert np.isfinite(d).all()
        assert d.min() == pytest.approx(0.0, abs=1e-7) and d.max() == pytest.approx(1.0, abs=1e-6)
        single = sim.density(img, gt, err)
        np.testing.assert_allclose(d, single, atol=1e-5)


def test_image_cache_is_used(sim, sample, monkeypatch):
    gt = next(iter(sample.instances.values()))
    sim._image_tensor(sample.image)
    import rclicks.clickability.preprocess as pre
    import rclicks.clickability.simulator as mod

    calls = []
    real = pre.letterbox
    counting = lambda a, *k: calls.append(a.ndim) or real(a, *k)  # noqa: E731
    monkeypatch.setattr(mod, "letterbox", counting)
    monkeypatch.setattr(pre, "letterbox", counting)
    sim._image_tensor(sample.image)
    pre.coord_features(gt, gt)
    assert calls == [2, 2]  # the image was not letterboxed again, only the two masks


def test_missing_checkpoint_message(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        make_clickability()
    assert isinstance(info.value, CheckpointNotFoundError)
    msg = str(info.value)
    assert CHECKPOINT_NAME in msg and str(tmp_path) in msg
    assert CHECKPOINT_URL in msg and "RCLICKS_CHECKPOINTS" in msg and "checkpoint=" in msg
    monkeypatch.delenv("RCLICKS_CHECKPOINTS")
    with pytest.raises(CheckpointNotFoundError, match="not set"):
        make_clickability()
    with pytest.raises(CheckpointNotFoundError, match="nope.pth"):
        make_clickability(checkpoint=tmp_path / "nope.pth")


def test_checkpoint_round_trip(sim, sample, tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    torch.save({"state_dict": sim.net.state_dict()}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="sha256 mismatch"):
        make_clickability(checkpoint=path, sha256="0" * 64)
    loaded = make_clickability(checkpoint=path, sha256=digest.upper())
    gt = next(iter(sample.instances.values()))
    err = gt.copy()
    err[: gt.shape[0] // 2] = False
    a = sim.density(sample.image, gt, err)
    b = loaded.density(sample.image, gt, err)
    np.testing.assert_array_equal(a, b)


def test_engine_run(sim):
    data = tiny_dataset(n=1, size=(40, 48))
    s = next(iter(data))
    iid, gt = next(iter(s.instances.items()))
    model = make_model()
    rows = run_instance(
        model,
        model.encode(s.image),
        s.image,
        gt,
        None,
        {"clickability": sim},
        ProtocolSettings(groups=2, max_clicks=2),
        (data.name, s.sample_id, iid),
    )
    sims = rows["simulator"]
    assert sims.count("clickability") == 4  # 2 groups x 2 clicks
    ious = np.asarray(rows["iou"], dtype=float)
    assert len(ious) > 0 and ((ious >= 0) & (ious <= 1)).all()
    pts = [(x, y) for x, y, n in zip(rows["x"], rows["y"], sims) if n == "clickability"]
    assert all(0 <= x < 48 and 0 <= y < 40 for x, y in pts)


def test_unletterbox_matches_torchvision_resize():
    """Un-letterboxing is torchvision ``Resize((H, W))`` on the band, antialias off."""
    from torchvision.transforms import Resize

    from rclicks.clickability.simulator import ClickabilitySimulator

    maps = torch.rand(1, 1, 416, 416, generator=torch.Generator().manual_seed(0))
    for h, w in ((200, 50), (50, 200), (30, 30), (900, 700)):
        tall, length, off = letterbox_geometry(h, w)
        band = maps[..., off : off + length] if tall else maps[..., off : off + length, :]
        ref = Resize((h, w), antialias=False)(band)[0, 0].numpy()
        ref = (ref - ref.min()) / (ref.max() - ref.min())
        got = ClickabilitySimulator._unletterbox(maps, (h, w))[0]
        np.testing.assert_allclose(got, ref, atol=1e-6)


def test_registry_preset_takes_the_checkpoint_folder_and_pins_the_sha256(tmp_path, monkeypatch):
    """`clickability-rclicks` in registry.yaml: $RCLICKS_CHECKPOINTS/clickability_model.pth,
    checked against $RCLICKS_CLICKABILITY_SHA256 when that is set."""
    import json

    from rclicks.errors import ComponentError
    from rclicks.nets.segnext import ClickabilityNet
    from rclicks.plugins import build, load_registry
    from tests.helpers import TINY_NET as tiny

    torch.manual_seed(0)
    path = tmp_path / "clickability_model.pth"
    torch.save(ClickabilityNet(**tiny).state_dict(), path)
    (tmp_path / "net.json").write_text(json.dumps(tiny))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    reg = load_registry()
    monkeypatch.delenv("RCLICKS_CLICKABILITY_SHA256", raising=False)
    assert build("simulators", "clickability-rclicks", registry=reg) is not None  # unchecked
    monkeypatch.setenv("RCLICKS_CLICKABILITY_SHA256", digest)
    sim = build("simulators", "clickability-rclicks", registry=reg)
    image = np.zeros((40, 60, 3), np.uint8)
    gt = np.zeros((40, 60), bool)
    gt[10:30, 20:40] = True
    assert sim.density(image, gt, gt).shape == (40, 60)
    monkeypatch.setenv("RCLICKS_CLICKABILITY_SHA256", "0" * 64)
    with pytest.raises(ComponentError, match="sha256 mismatch"):
        build("simulators", "clickability-rclicks", registry=reg)
