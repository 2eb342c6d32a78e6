from __future__ import annotations

import numpy as np
import pytest

from rclicks.metrics import (
    boundary,
    boundary_iou,
    iou,
    iou_auc,
    ks2d_pvalue,
    ks2d_statistic,
    metric_entries,
    noc,
    nof,
    nss,
    pde,
    pl1,
    wd,
)


def test_noc_first_index_reaching_threshold():
    assert noc([0.5, 0.89, 0.9, 0.95], 0.9, 20) == 3
    assert noc([0.95, 0.2], 0.9) == 1
    assert noc([0.5] * 20, 0.9, 20) == 20
    assert noc([0.5] * 19 + [0.91], 0.9, 20) == 20  # reached at the last click
    assert noc([0.5] * 25 + [0.99], 0.9, 20) == 20  # beyond max_clicks does not count


def test_nof_counts_instances_at_max_clicks():
    assert nof([1, 20, 5, 20], 20) == 2


def test_iou_auc_is_trapezoid_over_max_clicks_minus_one():
    assert iou_auc([0, 1, 1], 3) == pytest.approx((0.5 + 1) / 2)
    assert iou_auc([0.5] * 20, 20) == pytest.approx(0.5)


def test_iou_with_ignore():
    gt = np.array([[1, 1, 0, 0]], bool)
    pred = np.array([[1, 0, 1, 0]], bool)
    assert iou(gt, pred) == pytest.approx(1 / 3)
    assert iou(gt, pred, ignore=np.array([[0, 0, 1, 0]], bool)) == pytest.approx(1 / 2)


def test_pde_and_nss_on_a_known_map():
    d = np.zeros((4, 4))
    d[1, 2] = 3.0
    d[0, 0] = 1.0
    assert pde(d, [2], [1]) == pytest.approx(0.75, abs=1e-6)
    s = d / d.sum()
    z = (s - s.mean()) / s.std()
    assert nss(d, [2, 0], [1, 0]) == pytest.approx((z[1, 2] + z[0, 0]) / 2, rel=1e-6)


def brute_ks2d(x1, y1, x2, y2):
    def one(xa, ya, xb, yb):
        best = 0.0
        n = len(xa)
        for i in range(n):
            qa = []
            qb = []
            for xs, ys, q in ((xa, ya, qa), (xb, yb, qb)):
                m = len(xs)
                a = sum(1 for j in range(m) if xs[j] <= xa[i] and ys[j] <= ya[i]) / m
                b = sum(1 for j in range(m) if xs[j] <= xa[i] and ys[j] > ya[i]) / m
                c = sum(1 for j in range(m) if xs[j] > xa[i] and ys[j] <= ya[i]) / m
                q += [a, b, c, 1 - a - b - c]
            diffs = [qa[k] - qb[k] for k in range(4)]
            diffs[0] -= 1 / n
            best = max(best, -min(diffs), max(diffs) + 1 / n)
        return best

    return (one(x1, y1, x2, y2) + one(x2, y2, x1, y1)) / 2


def test_ks2d_matches_a_loop_transcription_and_behaves():
    rng = np.random.default_rng(0)
    x1, y1 = rng.normal(size=30), rng.normal(size=30)
    x2, y2 = rng.normal(size=25), rng.normal(size=25)
    assert ks2d_statistic(x1, y1, x2, y2) == pytest.approx(brute_ks2d(x1, y1, x2, y2))
    same = ks2d_pvalue(x1, y1, x2, y2)
    shifted = ks2d_pvalue(x1, y1, x2 + 3, y2 + 3)
    assert same > 0.05 and shifted < 1e-3


def test_ks2d_constant_coordinate_is_nan():
    assert np.isnan(ks2d_pvalue([1, 1, 1], [1, 2, 3], [0, 1, 2], [3, 1, 2]))


def test_wd_and_pl1_normalised_by_box():
    real = np.array([[0.0, 0.0], [10.0, 0.0]])
    samp = real + np.array([3.0, 4.0])
    assert wd(real, samp, (10, 10)) == pytest.approx(5 / np.hypot(10, 10))
    assert pl1(real[:1], real[1:], (5, 10)) == pytest.approx(1.0)


COLUMNS = [
    "dataset",
    "sample_id",
    "instance_id",
    "simulator",
    "group",
    "repeat",
    "click",
    "iou",
    "seconds",
]


def _rows(traj_ious: dict[tuple, list[float]]):
    cols = {k: [] for k in COLUMNS}
    for (sample, sim, group, repeat), ious in traj_ious.items():
        for k, v in enumerate(ious, start=1):
            for key, val in zip(COLUMNS, ["d", sample, "1", sim, group, repeat, k, v, 0.01]):
                cols[key].append(val)
    return cols


def test_summary_sample_noc_delta_sb_delta_gr_and_nsr_by_hand():
    hit = lambda k: [0.5] * (k - 1) + [0.95] * (4 - k + 1)  # noqa: E731 - NoC@90 == k
    rows = _rows(
        {
            ("a", "baseline", 0, 1): hit(1),
            ("a", "sim", 1, 1): hit(4),
            ("a", "sim", 2, 1): hit(2),
            ("b", "baseline", 0, 1): hit(2),
            ("b", "sim", 1, 1): hit(2),
            ("b", "sim", 2, 1): hit(2),
        }
    )
    res = {e["simulator"]: e for e in metric_entries(rows, max_clicks=4)}
    base, sim = res["baseline"], res["sim"]
    assert base["NoC@90"] == pytest.approx(1.5)
    assert base["NoF@90"] == 0
    assert sim["NoC@90"] == pytest.approx((3 + 2) / 2)  # group mean per instance, then mean
    assert sim["NoC@90_std"] == pytest.approx((1 + 0) / 2)  # population std across groups
    assert sim["dSB@90"] == pytest.approx(((3 - 1) / 1 + (2 - 2) / 2) / 2)
    assert sim["dGR@90"] == pytest.approx(((4 - 2) / 2 + 0) / 2)
    assert sim["per_group"]["NoC@90"] == pytest.approx([3.0, 2.0])
    auc = {k: iou_auc(hit(k), 4) for k in (2, 4)}
    nsr_a = np.std([auc[4], auc[2]]) / np.mean([auc[4], auc[2]])
    assert sim["NSR"] == pytest.approx(nsr_a / 2)


def test_summary_rejects_incomplete_trajectories():
    rows = _rows({("a", "baseline", 0, 1): [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError):
        metric_entries(rows, max_clicks=4)


def test_first_and_later_click_cost_and_time_to_target_by_hand():
    """SPC@1 / SPC@2+ and Time@90: the seconds of clicks 1..NoC@90 (all when never reached),
    per instance (mean over groups), then over instances."""
    cols = {k: [] for k in COLUMNS}

    def traj(sample, sim, group, ious, secs):
        for k, (v, s) in enumerate(zip(ious, secs), start=1):
            for key, val in zip(COLUMNS, ["d", sample, "1", sim, group, 1, k, v, s]):
                cols[key].append(val)

    traj("a", "baseline", 0, [0.5, 0.95, 0.95], [1.0, 2.0, 4.0])  # NoC 2: 1 + 2 s
    traj("b", "baseline", 0, [0.5, 0.6, 0.7], [8.0, 16.0, 32.0])  # never: 56 s
    traj("a", "sim", 1, [0.95, 0.95, 0.95], [1.0, 1.0, 1.0])  # NoC 1: 1 s
    traj("a", "sim", 2, [0.1, 0.2, 0.95], [1.0, 1.0, 1.0])  # NoC 3: 3 s
    res = {e["simulator"]: e for e in metric_entries(cols, max_clicks=3)}
    base, sim = res["baseline"], res["sim"]
    assert base["SPC@1"] == pytest.approx((1 + 8) / 2)
    assert base["SPC@2+"] == pytest.approx((2 + 4 + 16 + 32) / 4)
    assert base["Time@90"] == pytest.approx((3 + 56) / 2)
    assert sim["Time@90"] == pytest.approx((1 + 3) / 2)  # one instance: the mean of its groups
    assert sim["SPC@1"] == 1.0 and sim["SPC@2+"] == 1.0
    from rclicks.metrics import time_at

    assert time_at([0.5, 0.95], [1.0, 2.0], 0.9, 2) == 3.0
    assert time_at([0.5, 0.6], [1.0, 2.0], 0.9, 2) == 3.0
    assert time_at([0.95, 0.6], [1.0, 2.0], 0.9, 2) == 1.0


def _band_by_iterated_erosion(mask: np.ndarray, ratio: float) -> np.ndarray:
    """The boundary band written the slow way: a zero ring, then d erosions by a 3×3 square."""
    from scipy import ndimage

    h, w = mask.shape
    d = max(1, int(round(ratio * np.hypot(h, w))))
    inner = np.pad(mask, 1)
    for _ in range(d):
        inner = ndimage.binary_erosion(inner, np.ones((3, 3), bool), border_value=1)
    return mask & ~inner[1:-1, 1:-1]


def test_boundary_band_of_a_square_and_the_image_border():
    m = np.zeros((50, 50), bool)
    m[10:40, 10:40] = True  # d = round(0.02 * 70.7) = 1: a one-pixel band
    band = boundary(m)
    assert band.sum() == 30 * 4 - 4 and not band[11:39, 11:39].any()
    full = np.ones((50, 50), bool)  # the border counts as background
    assert boundary(full).sum() == 50 * 4 - 4
    assert boundary(full, dilation_ratio=0.1).sum() == 50 * 50 - 36 * 36  # d = 7


def test_boundary_iou_equals_the_direct_definition_on_random_blobs():
    from scipy import ndimage

    rng = np.random.default_rng(3)
    for k in range(12):
        h, w = rng.integers(30, 160, size=2)
        gt = ndimage.gaussian_filter(rng.random((h, w)), 4) > 0.5
        pred = ndimage.gaussian_filter(rng.random((h, w)), 4) > 0.5
        ratio = (0.02, 0.05, 0.005)[k % 3]
        ignore = (rng.random((h, w)) > 0.8) if k % 2 else None
        gb, pb = _band_by_iterated_erosion(gt, ratio), _band_by_iterated_erosion(pred, ratio)
        assert np.array_equal(boundary(gt, ratio), gb)
        keep = np.ones_like(gt) if ignore is None else ~ignore
        want = (gb & pb & keep).sum() / ((gb | pb) & keep).sum()
        assert boundary_iou(gt, pred, ratio, ignore) == pytest.approx(want, abs=0)
    assert boundary_iou(gt, gt) == 1.0
    assert np.isnan(boundary_iou(np.zeros((5, 5), bool), np.zeros((5, 5), bool)))
