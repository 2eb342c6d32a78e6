"""``rclicks train-clickability`` and :mod:`rclicks.clickability.training` on a tiny network.

The main run trains a reduced-width ClickabilityNet (a few thousand weights) through the CLI on
synthetic clicks over the bundled demo: each object gets 30 clicks drawn from a density
∝ (distance to the object's border)⁴, i.e. concentrated in the object's interior, which the
network can learn from the coord features. Validation KL must fall and the trained simulator
must explain held-out clicks better (NSS) than the ``uniform`` simulator.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt, gaussian_filter
from typer.testing import CliRunner

import rclicks
from rclicks.clickability.simulator import make_clickability
from rclicks.clickability.training import (
    TrainError,
    click_map,
    click_radius,
    correlation,
    gaussian_ksize,
    kld,
    lr_at,
    render_clicks,
    scaled_sigma,
    similarity,
    split_images,
)
from rclicks.datasets import FolderDataset, demo_root
from rclicks.metrics import nss
from rclicks.realclicks import full_stem, load_clicks, targets, write_clicks
from tests.helpers import TINY_NET, run_cli

TINY = TINY_NET
TINY_ARGS = [a for k, v in TINY.items() for a in ("--net-opt", f"{k}={v}".replace(" ", ""))]
VAL_FRACTION = 0.3


def synthetic_rows(n: int = 30, power: float = 4.0, seed: int = 0, stems=None) -> list[dict]:
    """``n`` clicks per demo object, drawn from a density ∝ distance-to-border ** power."""
    rng = np.random.default_rng(seed)
    rows = []
    for sample in FolderDataset(demo_root(), name="demo"):
        if stems is not None and sample.sample_id not in stems:
            continue
        for iid, mask in sample.instances.items():
            h, w = mask.shape
            d = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1] ** power
            idx = rng.choice(d.size, size=n, p=(d / d.sum()).ravel())
            ys, xs = np.unravel_index(idx, mask.shape)
            for x, y in zip(xs, ys, strict=True):
                rows.append(
                    {
                        "dataset": "demo",
                        "full_stem": full_stem(sample.sample_id, iid),
                        "image_stem": sample.sample_id,
                        "object_stem": iid,
                        "click_type": "first",
                        "model_type": "",
                        "x": int(x),
                        "y": int(y),
                        "w": w,
                        "h": h,
                        "device": "pc",
                    }
                )
    return rows


# -- targets ---------------------------------------------------------------------------------


def test_target_sums_to_one_peaks_at_the_click_and_stays_on_the_blurred_error():
    h, w = 480, 640
    err = np.zeros((h, w), bool)
    err[120:360, 160:480] = True
    t = click_map([300], [200], err, sigma=40)
    assert t.dtype == np.float32 and t.shape == (h, w)
    assert t.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(np.argmax(t), t.shape) == (200, 300)
    r = click_radius((h, w))
    assert r == int(5 * math.hypot(h, w) / (500 * math.sqrt(2))) == 5
    support = gaussian_filter(err.astype(np.float32), sigma=r) > 0
    assert not t[~support].any()
    # farther than the blur's reach (4 σ, scipy's truncate) from the error region: exactly 0
    far = distance_transform_edt(~err) > 4 * r + 1
    assert far.any() and not t[far].any()
    # no click near the error region: an all-zero target rather than NaNs
    assert not click_map([5], [5], np.pad(np.ones((10, 10), bool), 100), sigma=1).any()


def test_sigma_scales_with_the_image_diagonal_and_kernel_is_odd():
    assert scaled_sigma(5, (1080, 1920)) == pytest.approx(5.0)
    assert scaled_sigma(5, (540, 960)) == pytest.approx(2.5)
    for s in (0.3, 1.0, 2.5, 7.2):
        k = gaussian_ksize(s)
        assert k % 2 == 1 and k >= 7 * s

    def spread(h, w):
        m = render_clicks([w // 2], [h // 2], (h, w), sigma=60)
        ys, xs = np.mgrid[:h, :w]
        m = m / m.sum()
        return math.sqrt(float((m * (xs - w // 2) ** 2).sum()))

    small, big = spread(270, 480), spread(540, 960)
    assert small == pytest.approx(scaled_sigma(60, (270, 480)), rel=0.05)
    assert big / small == pytest.approx(2.0, rel=0.05)


def test_loss_metrics_and_schedule():
    a = torch.rand(2, 1, 8, 8) + 0.1
    assert kld(a, a).item() == pytest.approx(0.0, abs=1e-5)
    assert kld(torch.rand(2, 1, 8, 8), a).item() > 0
    m = np.random.default_rng(0).random((16, 16))
    assert similarity(m, m) == pytest.approx(1.0, abs=1e-5)
    assert correlation(m, m) == pytest.approx(1.0, abs=1e-5)
    lrs = [lr_at(s, 100, 0.01) for s in range(100)]
    assert lrs[0] == pytest.approx(0.001) and lrs[9] == pytest.approx(0.01)
    assert lrs[10] == pytest.approx(0.01)  # the cosine starts at the peak
    assert all(x > y for x, y in zip(lrs[10:], lrs[11:]))  # and decays
    assert lrs[-1] < 1e-5


def test_split_is_deterministic_by_stem():
    stems = [f"img{i}" for i in range(20)]
    tr, va = split_images(stems, 0.25)
    assert len(va) == 5 and not set(tr) & set(va) and sorted(tr + va) == sorted(stems)
    assert split_images(reversed(stems), 0.25) == (tr, va)
    assert split_images(stems, 0.0) == (sorted(stems), [])
    assert split_images(stems, 0.1, val_images=["img3"])[1] == ["img3"]


# -- the CLI run: learning, checkpoints, use in eval -------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    clicks = write_clicks(root / "clicks.csv", synthetic_rows())
    out = root / "run"
    args = ["train-clickability", "--clicks", str(clicks), "--dataset", "demo"]
    args += ["--out", str(out), "--epochs", "6", "--batch-size", "2", "--lr", "0.05"]
    args += ["--sigma", "40", "--val-fraction", str(VAL_FRACTION), "--device", "cpu"]
    proc = run_cli(args + TINY_ARGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, clicks, out, proc


def test_cli_run_writes_checkpoints_and_metrics(trained):
    _, _, out, proc = trained
    for n in range(1, 7):
        sd = torch.load(out / f"epoch_{n}.pth", weights_only=True)
        assert isinstance(sd, dict) and all(isinstance(v, torch.Tensor) for v in sd.values())
    assert (out / "best.pth").is_file() and (out / "last.ckpt").is_file()
    assert json.loads((out / "net.json").read_text())["embed_dims"] == TINY["embed_dims"]
    recs = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == list(range(7))
    assert all({"val_kl", "val_cc", "val_sim"} <= set(r) for r in recs)
    assert "epoch 6/6" in proc.stdout and "best.pth" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_training_lowers_validation_kl(trained):
    _, _, out, _ = trained
    recs = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    initial, final = recs[0]["val_kl"], recs[-1]["val_kl"]
    print(
        f"validation KL: initial {initial:.3f}, epoch 1 {recs[1]['val_kl']:.3f}, final {final:.3f}"
    )
    assert final < 0.5 * initial
    assert final < recs[1]["val_kl"]
    assert recs[-1]["val_sim"] > recs[0]["val_sim"]


def test_trained_simulator_beats_uniform_on_held_out_clicks(trained):
    _, clicks, out, _ = trained
    sim = make_clickability(checkpoint=out / "best.pth")  # net options from net.json
    sets = load_clicks(clicks).sets("demo")
    _, val = split_images((s.image_stem for s in sets), VAL_FRACTION)
    held_out = [s for s in sets if s.image_stem in val]
    ours, uniform = [], []
    for t in targets(FolderDataset(demo_root(), name="demo"), held_out):
        ours.append(nss(sim.density(t.sample.image, t.gt, t.error), t.xs, t.ys))
        uniform.append(nss(t.error.astype(np.float32), t.xs, t.ys))
    print(
        f"NSS on {len(ours)} held-out sets: trained {np.mean(ours):.3f}, "
        f"uniform {np.mean(uniform):.3f}"
    )
    assert len(ours) >= 5
    assert np.mean(ours) > np.mean(uniform)


def test_trained_checkpoint_runs_in_eval(trained, tmp_path):
    _, _, out, _ = trained
    args = ["eval", "--simulator", "clickability", "--sim-opt", f"checkpoint={out}/best.pth"]
    args += ["--dataset", "demo", "--limit", "1", "--groups", "2", "--max-clicks", "2"]
    proc = run_cli(args + ["--out", str(tmp_path / "eval")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "eval" / "per_click.parquet").is_file()
    # moved away from its net.json, a reduced checkpoint says what it needs
    lone = tmp_path / "lone" / "best.pth"
    lone.parent.mkdir()
    shutil.copy(out / "best.pth", lone)
    with pytest.raises(RuntimeError, match="net.json"):
        make_clickability(checkpoint=lone)
    assert make_clickability(checkpoint=lone, net=str(out / "net.json")) is not None


# -- resume ----------------------------------------------------------------------------------


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    clicks = write_clicks(
        tmp_path / "clicks.csv", synthetic_rows(n=10, stems={"demo_00", "demo_01", "demo_04"})
    )

    def train(name, **kw):
        settings = dict(
            epochs=2,
            batch_size=2,
            lr=0.01,
            sigma=40,
            val_fraction=0.34,
            net=dict(TINY),  # drop path and dropout on: the RNG state must carry over
            device="cpu",
        )
        settings.update(kw)
        return rclicks.train_clickability(clicks, "demo", out=tmp_path / name, **settings)

    straight = train("straight")
    first = train("resumed", stop_after=1)
    assert first.stopped and first.epochs_done == 1
    assert not (tmp_path / "resumed" / "epoch_2.pth").exists()
    with pytest.raises(TrainError, match="--resume"):
        train("resumed")
    with pytest.raises(TrainError, match="lr"):
        train("resumed", lr=0.02, resume=True)
    # with resume, unset settings take the saved run's values
    second = rclicks.train_clickability(out=tmp_path / "resumed", resume=True, device="cpu")
    assert second.epochs_done == 2 and not second.stopped
    a = torch.load(tmp_path / "straight" / "epoch_2.pth", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "epoch_2.pth", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), atol=1e-6, rtol=0), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in straight.metrics]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in second.metrics]


# -- bad input -------------------------------------------------------------------------------


def test_missing_clicks_file_is_named_without_traceback(tmp_path):
    missing = tmp_path / "nope" / "clicks.csv"
    proc = run_cli(["train-clickability", "--clicks", str(missing), "--out", str(tmp_path / "o")])
    assert proc.returncode == 1
    assert str(missing) in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "o").exists()


def _invoke(args):
    from rclicks.cli import app

    result = CliRunner().invoke(app, args)
    text = result.output + (getattr(result, "stderr", "") or "")
    return result, text


def test_no_matching_click_sets_and_missing_prev_masks_are_clear_errors(tmp_path):
    rows = synthetic_rows(n=3, stems={"demo_00"})
    other = write_clicks(tmp_path / "other.csv", [{**r, "dataset": "GrabCut"} for r in rows])
    result, text = _invoke(["train-clickability", "--clicks", str(other), "--out", str(tmp_path)])
    assert result.exit_code == 1 and not isinstance(result.exception, (KeyError, ValueError))
    assert str(other) in text and "no click sets for dataset 'demo'" in text and "GrabCut" in text

    fn_rows = [{**r, "click_type": "fn", "full_stem": r["full_stem"] + "_ritm"} for r in rows]
    fn = write_clicks(tmp_path / "fn.csv", fn_rows)
    result, text = _invoke(["train-clickability", "--clicks", str(fn), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--prev-masks" in text
    prev = tmp_path / "prev"
    prev.mkdir()
    args = ["train-clickability", "--clicks", str(fn), "--prev-masks", str(prev)]
    result, text = _invoke(args + ["--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "previous mask" in text and str(prev / f"{fn_rows[0]['full_stem']}.png") in text
    assert not (tmp_path / "o").exists()
