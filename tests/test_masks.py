"""The predicted masks of a run (``masks.parquet``): the codec round-trips any mask and refuses
anything that is not an encoding; ``rclicks eval --save-masks`` keeps one mask per click,
identical whatever the workers or an interruption, from which every IoU of the run can be
recomputed."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import rclicks
from rclicks.errors import RunError
from rclicks.runs.masks import (
    ABSOLUTE,
    RELATIVE,
    MaskCodecError,
    decode_mask,
    encode_mask,
    trajectory_masks,
)
from rclicks.runs.schema import SORT_KEYS
from tests.helpers import fake_distribution, run_cli


def _random_masks(rng, n=200):
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        a = rng.random((h, w)) < rng.random()
        b = a.copy()
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        b[y0 : y0 + rng.integers(1, h + 1), x0 : x0 + rng.integers(1, w + 1)] ^= True
        yield a, b


def test_any_mask_round_trips_alone_or_after_another():
    rng = np.random.default_rng(0)
    for a, b in _random_masks(rng):
        assert np.array_equal(decode_mask(encode_mask(a), a.shape), a)
        assert np.array_equal(decode_mask(encode_mask(b, a), b.shape, a), b)
    for shape in [(1, 1), (3, 7), (64, 1)]:
        for mask in (np.zeros(shape, bool), np.ones(shape, bool)):
            assert np.array_equal(decode_mask(encode_mask(mask), shape), mask)
            assert np.array_equal(decode_mask(encode_mask(mask, ~mask), shape, ~mask), mask)


def test_the_shorter_encoding_is_written():
    big = np.zeros((200, 300), bool)
    big[20:180, 30:270] = True
    small_change = big.copy()
    small_change[50:60, 50:60] = False
    relative = encode_mask(small_change, big)
    assert relative[0] == RELATIVE and len(relative) < len(encode_mask(small_change))
    unrelated = np.zeros_like(big)
    unrelated[0, 0] = True
    alone = encode_mask(unrelated, big)
    assert alone[0] == ABSOLUTE and np.array_equal(decode_mask(alone, big.shape, big), unrelated)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "mode byte"),
        (b"\x07\x01\x01", "mode byte"),
        (b"\x01\x80", "cut short"),
        (b"\x01\x01", "odd count"),
        (b"\x01\x00\x00", "length 0"),
        (b"\x01\x00\x02\x00\x02", "without a gap"),
        (b"\x01\x05\x0c", "cover 17 pixels"),
        (b"\x01\xff\xff\xff\xff\xff\x01", "more than 5 bytes"),
        (b"\x01" + b"\x01\x01" * 200, "cannot describe"),
    ],
)
def test_anything_else_is_refused_before_a_mask_is_built(data, words):
    with pytest.raises(MaskCodecError, match=words):
        decode_mask(data, (4, 4))


def test_a_mask_of_no_pixels_is_refused():
    with pytest.raises(MaskCodecError, match="pixels"):
        decode_mask(b"\x01", (0, 5))


# --- runs ----------------------------------------------------------------------------------


def _eval(tmp_path, name, **kw):
    base = dict(simulators=["distance"], datasets=["demo"], limit=3, max_clicks=4, groups=3)
    base.update(kw)
    return rclicks.evaluate("geodesic", out=tmp_path / name, **base)


def _iou(pred, gt, ignore):
    keep = np.ones_like(gt) if ignore is None else ~ignore
    inter = np.count_nonzero(pred & gt & keep)
    union = np.count_nonzero((pred | gt) & keep)
    return inter / union


def test_every_iou_of_a_run_follows_from_its_masks(tmp_path):
    run = _eval(tmp_path, "m", save_masks=True)
    rows = pq.read_table(run.path / "per_click.parquet")
    masks = pq.read_table(run.path / "masks.parquet")
    assert masks.num_rows == rows.num_rows
    for k in SORT_KEYS:  # the same clicks, in the same order
        assert masks.column(k).to_pylist() == rows.column(k).to_pylist()
    samples = {s.sample_id: s for s in rclicks.datasets.FolderDataset(rclicks.datasets.demo_root())}
    iou = iter(rows.column("iou").to_pylist())
    n = 0
    for key, decoded in trajectory_masks(masks):
        sample = samples[key[1]]
        gt = sample.instances[key[2]]
        for mask in decoded:
            assert mask.shape == gt.shape
            assert _iou(mask, gt, sample.ignore) == next(iou)  # exactly
            n += 1
    assert n == rows.num_rows
    assert run.info["save_masks"] is True


def test_masks_are_the_same_with_two_workers(tmp_path):
    one = _eval(tmp_path, "one", save_masks=True)
    two = _eval(tmp_path, "two", save_masks=True, workers=2)
    a = pq.read_table(one.path / "masks.parquet")
    b = pq.read_table(two.path / "masks.parquet")
    assert a.equals(b)


def test_benchmark_runs_keep_masks_by_default_and_others_do_not(tmp_path, tiny_benchmark):
    reg, bench_run = tiny_benchmark
    assert (bench_run / "masks.parquet").is_file()
    assert json.loads((bench_run / "run.json").read_text())["save_masks"] is True
    plain = _eval(tmp_path, "plain", limit=1)
    assert not (plain.path / "masks.parquet").exists() and plain.info["save_masks"] is False
    out = tmp_path / "nomasks"
    done = run_cli(["eval", "--benchmark", "demo-tiny", "--registry", str(reg), "--out",
                    str(out), "--no-save-masks", "--limit", "1"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (out / "masks.parquet").exists()
    sub = run_cli(["submit", str(out), "--dry-run", "--registry", str(reg)])
    assert sub.returncode == 1 and "--save-masks" in sub.stderr


def test_resume_needs_the_same_choice_of_masks(tmp_path):
    _eval(tmp_path, "r", limit=1, save_masks=False)
    with pytest.raises(RunError, match="other settings"):
        _eval(tmp_path, "r", limit=1, save_masks=True, resume=True)


def test_sigkill_then_resume_keeps_every_mask(tmp_path):
    site = fake_distribution(
        tmp_path / "site", "rclicks-testplug", {"testplug": "rclicks_testplug"}
    )
    env = {"RCLICKS_LOAD_PLUGINS": "testplug"}
    args = ["eval", "--model", "voronoi", "--limit", "4", "--groups", "3", "--max-clicks", "5",
            "--save-masks"]  # fmt: skip
    full = run_cli(args + ["--out", str(tmp_path / "full")], env, site)
    assert full.returncode == 0, full.stderr
    killed = run_cli(
        args + ["--out", str(tmp_path / "k")], {**env, "RCLICKS_TEST_DIE_AFTER": "2"}, site
    )
    assert killed.returncode == -9
    assert (tmp_path / "k" / "journal" / "masks").is_dir()
    resumed = run_cli(args + ["--out", str(tmp_path / "k"), "--resume"], env, site)
    assert resumed.returncode == 0, resumed.stderr
    a = pq.read_table(tmp_path / "full" / "masks.parquet")
    b = pq.read_table(tmp_path / "k" / "masks.parquet")
    assert a.equals(b)
