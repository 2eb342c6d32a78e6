"""The ``saliency`` simulator (RClicks SM / SI recipes) and its backend plug-in point."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import rclicks.simulators.saliency as ss
from rclicks.simulators.saliency import (
    GREY,
    SaliencySimulator,
    SpectralResidual,
    crop_box,
    make_saliency,
    register_backend,
)
from rclicks.testing import check_simulator
from tests.helpers import run_cli


class Recorder:
    """A backend that records what it is given and returns a fixed-pattern map."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        self.inputs.append(np.array(crop, copy=True))
        h, w = crop.shape[:2]
        return np.add.outer(np.arange(h), np.arange(w)).astype(np.float32) + 1.0


def make_ramp_backend(offset: float = 1.0):
    """A factory reachable as ``tests.test_saliency_simulator:make_ramp_backend``."""

    def fn(crop):
        h, w = crop.shape[:2]
        return np.tile(np.arange(w, dtype=np.float32) + offset, (h, 1))

    return fn


def _image(h=60, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def fresh_backends(monkeypatch):
    monkeypatch.setattr(ss, "_BACKENDS", dict(ss._BACKENDS))


def test_conforms_in_both_variants():
    check_simulator(make_saliency())
    check_simulator(make_saliency(cutout=False))
    assert make_saliency().deterministic is False


def test_crop_box_follows_the_reference_rule_including_borders():
    m = np.zeros((40, 50), bool)
    m[10:17, 20:33] = True  # hb 7: int(9.8)=9, dh 1; wb 13: int(18.2)=18, dw int(2.5)=2
    assert crop_box(m) == (9, 18, 18, 35)
    m = np.zeros((40, 50), bool)
    m[2:12, 40:50] = True  # hb = wb = 10: pad 2; the top hits row 0, the right end column W
    assert crop_box(m) == (0, 14, 38, 50)
    m = np.zeros((40, 50), bool)
    m[30:40, 0:3] = True  # wb 3: int(4.2)=4, dw 0; bottom end clipped to H
    assert crop_box(m) == (28, 40, 0, 3)
    assert crop_box(np.zeros((5, 5), bool)) is None

    # the backend is given exactly that crop (cutout off: the raw image)
    img = _image(40, 50)
    rec = Recorder()
    SaliencySimulator(rec, cutout=False).density(img, m, m)
    assert np.array_equal(rec.inputs[0], img[28:40, 0:3])


def test_density_is_zero_outside_the_error_mask_and_sums_to_one():
    img = _image()
    yy, xx = np.mgrid[0:60, 0:80]
    err = (yy - 25) ** 2 / 15**2 + (xx - 50) ** 2 / 20**2 <= 1
    for cutout in (True, False):
        d = make_saliency(cutout=cutout).density(img, err, err)
        assert d.dtype == np.float32 and d.shape == err.shape
        assert (d[~err] == 0).all() and (d >= 0).all()
        assert d[err].sum() == pytest.approx(1.0, abs=1e-5)
        assert (d[err] > 0).mean() > 0.5  # a real map, not a single spike
    # the values are the backend's map, masked and normalised, pasted at the crop position
    rec = Recorder()
    d = SaliencySimulator(rec).density(img, err, err)
    t, b, left, r = crop_box(err)
    expect = rec(img[t:b, left:r]) * err[t:b, left:r]
    np.testing.assert_allclose(d[t:b, left:r], expect / expect.sum(), rtol=1e-6)


def test_cutout_greys_outside_the_error_mask_inside_the_crop():
    img = _image()
    gt = np.zeros((60, 80), bool)
    gt[10:40, 20:60] = True
    err = gt.copy()
    err[20:30, 30:50] = False  # a hole: those crop pixels are outside the error mask
    rec = Recorder()
    SaliencySimulator(rec, cutout=True).density(img, gt, err)
    t, b, left, r = crop_box(err)
    seen, crop, inside = rec.inputs[0], img[t:b, left:r], err[t:b, left:r]
    assert seen.dtype == np.uint8 and seen.shape == crop.shape
    assert np.array_equal(seen[inside], crop[inside])
    assert (seen[~inside] == GREY).all() and (~inside).sum() > 200
    rec2 = Recorder()
    SaliencySimulator(rec2, cutout=False).density(img, gt, err)
    assert np.array_equal(rec2.inputs[0], crop)


def test_spectral_residual_finds_an_odd_patch():
    sr = SpectralResidual()
    flat = np.full((90, 120, 3), 100, np.uint8)
    x = np.arange(120)
    stripes = (100 + 40 * np.sin(x / 2.0))[None, :, None].repeat(90, 0).repeat(3, 2)
    noise = np.random.default_rng(0).integers(80, 120, (90, 120, 1)).repeat(3, 2)
    backgrounds = (flat, stripes.astype(np.uint8), noise.astype(np.uint8))
    for bg, value in [(b, v) for b in backgrounds for v in (230, 10)]:  # bright and dark
        img = bg.copy()
        img[40:50, 70:80] = value
        m = sr(img)
        assert m.shape == (90, 120) and m.dtype == np.float32
        assert m.min() >= 0 and m.max() == pytest.approx(1.0)
        patch = m[40:50, 70:80].mean()
        far = np.ones((90, 120), bool)
        far[30:60, 60:90] = False
        assert patch > 5 * m[far].mean()
        y, x = np.unravel_index(m.argmax(), m.shape)
        assert 35 <= y < 55 and 65 <= x < 85
    # a flat crop has no saliency at all (and the simulator then falls back, below)
    assert (sr(flat) == 0).all()


def test_zero_saliency_falls_back_to_the_error_mask():
    img = _image()
    err = np.zeros((60, 80), bool)
    err[5:20, 10:30] = True
    sim = SaliencySimulator(lambda crop: np.zeros(crop.shape[:2], np.float32))
    d = sim.density(img, err, err)
    assert np.array_equal(d, err.astype(np.float32))
    # a flat image crop (SI) has no spectral residual saliency: same fallback
    flat = np.full((60, 80, 3), 77, np.uint8)
    d = make_saliency(cutout=False).density(flat, err, err)
    assert np.array_equal(d, err.astype(np.float32))
    # an empty error region gives an all-zero density
    assert not make_saliency().density(img, err, np.zeros_like(err)).any()


def test_backend_by_registered_name_and_by_import_path(fresh_backends):
    img = _image()
    err = np.zeros((60, 80), bool)
    err[10:30, 10:50] = True
    got = {}

    def factory(offset=1.0, device=None):
        got["device"] = device
        return make_ramp_backend(offset)

    register_backend("ramp", factory)
    register_backend("ramp", factory)  # the same factory again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_backend("ramp", make_ramp_backend)
    assert "ramp" in ss.available_backends()
    d = make_saliency(backend="ramp", offset=0.0, device="cpu").density(img, err, err)
    assert got["device"] == "cpu"
    # crop columns 2..57 (wb 40 -> dw 8); the ramp is the crop column, err covers 8..47 there
    assert crop_box(err) == (6, 34, 2, 58)
    expect = np.zeros((60, 80), np.float32)
    expect[err] = (np.nonzero(err)[1] - 2) / (20 * np.arange(8, 48).sum())
    np.testing.assert_allclose(d, expect, rtol=1e-5, atol=1e-9)
    d2 = make_saliency(
        backend="tests.test_saliency_simulator:make_ramp_backend", offset=0.0
    ).density(img, err, err)
    np.testing.assert_allclose(d2, d, rtol=1e-6)
    with pytest.raises(ValueError) as e:
        make_saliency(backend="nope")
    assert "unknown backend 'nope'" in str(e.value)
    assert "spectral-residual" in str(e.value) and "ramp" in str(e.value)
    with pytest.raises(ValueError, match="cannot import"):
        make_saliency(backend="no_such_module_xyz:f")
    with pytest.raises(ValueError, match="has no"):
        make_saliency(backend="tests.test_saliency_simulator:nothing_here")


def test_backend_maps_are_checked_and_resized():
    img = _image()
    err = np.zeros((60, 80), bool)
    err[10:30, 10:50] = True
    small = SaliencySimulator(lambda crop: np.ones((4, 4), np.float32)).density(img, err, err)
    assert small[err].sum() == pytest.approx(1.0, abs=1e-5) and (small[~err] == 0).all()
    bad = SaliencySimulator(lambda crop: -np.ones(crop.shape[:2], np.float32))
    with pytest.raises(ValueError, match="negative or non-finite"):
        bad.density(img, err, err)


def test_registered_builtin_and_the_si_preset():
    from pathlib import Path

    from rclicks.plugins import build, load_registry, reset_host

    reset_host()
    reg = load_registry(Path(__file__).resolve().parent.parent / "registry.yaml")
    sm = build("simulators", "saliency", {}, reg, device="cpu")
    si = build("simulators", "saliency-image", {}, reg, device="cpu")
    assert isinstance(sm, SaliencySimulator) and sm.cutout is True
    assert isinstance(si, SaliencySimulator) and si.cutout is False
    assert isinstance(sm.backend, SpectralResidual)
    reset_host()


def test_eval_through_the_cli_is_reproducible(tmp_path):
    import pyarrow.parquet as pq

    def run(i):
        args = ["eval", "--simulator", "saliency", "--dataset", "demo", "--limit", "2"]
        args += ["--groups", "2", "--max-clicks", "3", "--out", str(tmp_path / f"r{i}")]
        if i == 0:
            args += ["--sim-opt", "backend=nope"]
        return run_cli(args)

    with ThreadPoolExecutor(3) as pool:
        bad, *outs = pool.map(run, [0, 1, 2])
    for out in outs:
        assert out.returncode == 0, out.stderr
    t1, t2 = (pq.read_table(tmp_path / f"r{i}" / "per_click.parquet") for i in (1, 2))
    t1, t2 = t1.drop(["seconds"]), t2.drop(["seconds"])
    assert t1.equals(t2)
    assert set(t1.column("simulator").to_pylist()) == {"baseline", "saliency"}
    assert set(t1.column("group").to_pylist()) == {0, 1, 2}
    assert bad.returncode == 1 and "unknown backend 'nope'" in bad.stderr
    assert "spectral-residual" in bad.stderr and "Traceback" not in bad.stderr
