"""The functional core on hand-made cases (CONTRACT §4, §7)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from rclicks import Click
from rclicks.clicks import (
    baseline_click,
    density_click,
    error_masks,
    group_support,
    group_thresholds,
    padded_distance,
)


def reference_baseline(gt, pred, clicked=(), ignore=None):
    """A direct, slow transcription of the protocol text, to compare the fast path with."""
    gt = gt.astype(bool)
    pred = pred.astype(bool)
    keep = np.ones_like(gt) if ignore is None else ~ignore
    fn = gt & ~pred & keep
    fp = ~gt & pred & keep
    dfn = ndi.distance_transform_edt(np.pad(fn, 1))[1:-1, 1:-1]
    dfp = ndi.distance_transform_edt(np.pad(fp, 1))[1:-1, 1:-1]
    for c in clicked:
        dfn[c.y, c.x] = 0
        dfp[c.y, c.x] = 0
    positive = dfn.max() > dfp.max()
    d = dfn if positive else dfp
    ys, xs = np.where(d == d.max())
    return Click(int(xs[0]), int(ys[0]), bool(positive))


def test_first_click_is_the_centre_of_a_square():
    gt = np.zeros((9, 9), bool)
    gt[2:7, 2:7] = True
    c = baseline_click(gt, np.zeros_like(gt))
    assert c == Click(4, 4, True)


def test_coordinates_are_column_x_row_y_on_a_non_square_image():
    gt = np.zeros((10, 30), bool)
    gt[3:8, 20:25] = True  # a 5×5 square centred at row 5, column 22
    assert baseline_click(gt, np.zeros_like(gt)) == Click(22, 5, True)


def test_ties_pick_the_first_maximum_in_row_major_order():
    gt = np.zeros((6, 12), bool)
    gt[1:4, 1:4] = True  # two identical squares: same max distance
    gt[1:4, 7:10] = True
    assert baseline_click(gt, np.zeros_like(gt)) == Click(2, 2, True)
    gt2 = np.zeros((12, 6), bool)
    gt2[7:10, 1:4] = True
    gt2[1:4, 1:4] = True
    assert baseline_click(gt2, np.zeros_like(gt2)) == Click(2, 2, True)


def test_equal_fn_and_fp_depth_gives_a_negative_click():
    gt = np.zeros((5, 12), bool)
    gt[1:4, 1:4] = True  # FN square 3×3
    pred = np.zeros_like(gt)
    pred[1:4, 7:10] = True  # FP square 3×3, same depth
    c = baseline_click(gt, pred)
    assert c == Click(8, 2, False)


def test_border_counts_as_background():
    gt = np.ones((5, 5), bool)
    # without the padding every pixel would be infinitely far from a zero
    d = padded_distance(gt).dense()
    assert d[0, 0] == 1.0 and d[2, 2] == 3.0


def test_empty_error_region_clicks_negative_at_origin_like_the_reference():
    gt = np.zeros((6, 6), bool)
    gt[2:4, 2:4] = True
    assert baseline_click(gt, gt.copy()) == Click(0, 0, False)


def test_ignore_region_is_never_an_error():
    gt = np.zeros((8, 8), bool)
    gt[1:7, 1:7] = True
    ignore = np.zeros_like(gt)
    ignore[:, :4] = True
    fn, fp = error_masks(gt, np.zeros_like(gt), ignore)
    assert not fn[:, :4].any() and fn[1:7, 4:7].all() and not fp.any()
    c = baseline_click(gt, np.zeros_like(gt), ignore=ignore)
    assert c.x >= 4 and c.positive
    assert c == reference_baseline(gt, np.zeros_like(gt), ignore=ignore)


def test_already_clicked_pixels_are_skipped():
    gt = np.zeros((9, 9), bool)
    gt[2:7, 2:7] = True
    first = baseline_click(gt, np.zeros_like(gt))
    second = baseline_click(gt, np.zeros_like(gt), clicked=[first])
    assert second != first and second.positive
    assert second == reference_baseline(gt, np.zeros_like(gt), [first])


def test_clicks_on_an_unchanged_mask_never_repeat_and_follow_the_reference(transform_path):
    """Clicking again and again on the same error (as a model that does not react does): every
    click is the deepest pixel not clicked yet, whatever order the earlier clicks come in (a
    regression: clicks given out of row-major order were not all excluded by the C search)."""
    gt = np.zeros((40, 50), bool)
    gt[5:36, 8:41] = True
    gt[18:22, 30:34] = False  # a hole, so the depths are not all symmetric
    pred = np.zeros_like(gt)
    clicked: list[Click] = []
    for _ in range(30):
        c = baseline_click(gt, pred, clicked)
        assert c not in clicked
        assert c == reference_baseline(gt, pred, clicked)
        clicked.append(c)
    # the same clicks in reverse (descending flat order) exclude the same pixels
    assert baseline_click(gt, pred, clicked[::-1]) == reference_baseline(gt, pred, clicked)


def test_fast_baseline_matches_the_direct_transcription_on_random_blobs(transform_path):
    rng = np.random.default_rng(0)
    for k in range(40):
        h, w = rng.integers(20, 90, size=2)
        gt = ndi.gaussian_filter(rng.random((h, w)), 3) > 0.5
        pred = ndi.gaussian_filter(rng.random((h, w)), 3) > 0.5
        ignore = (rng.random((h, w)) > 0.9) if k % 3 == 0 else None
        clicked = [Click(int(rng.integers(w)), int(rng.integers(h)), True) for _ in range(3)]
        assert baseline_click(gt, pred, clicked, ignore) == reference_baseline(
            gt, pred, clicked, ignore
        ), k


@pytest.fixture(params=["c", "opencv"])
def transform_path(request, monkeypatch):
    """Run a test with the C transform and with the OpenCV fallback."""
    import rclicks.clicks as clicks

    if request.param == "opencv":
        monkeypatch.setattr(clicks, "_edt", None)
    else:
        assert clicks._edt is not None, "the C extension rclicks._edt was not built"
    return request.param


def test_distances_equal_the_whole_image_transform_thin_and_deep(transform_path):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:300, 0:340]
    r = np.hypot(yy - 150, xx - 170)
    masks = [ndi.gaussian_filter(rng.random((150, 170)), 2) > 0.55 for _ in range(6)]
    masks += [(r > 100) & (r < 100 + w) for w in (1, 3, 8, 30)]  # thin bands: offset search
    masks += [r < 120, np.ones((40, 60), bool), (r < 130) & (xx % 97 > 2)]  # deep: OpenCV
    for m in masks:
        fast = padded_distance(m).dense()
        ref = ndi.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        np.testing.assert_array_equal(fast, ref.astype(np.float32))


def test_distances_are_exact_and_reproducible_call_after_call(transform_path):
    # OpenCV's precise transform alone varies in its last bit between calls
    rng = np.random.default_rng(5)
    m = ndi.gaussian_filter(rng.random((200, 260)), 6) > 0.45
    first = padded_distance(m).dense()
    junk = []
    for _ in range(50):
        junk.append(np.empty(int(rng.integers(1, 10000))))
        assert np.array_equal(padded_distance(m).dense(), first)


def test_very_deep_regions_are_exact(transform_path):
    m = np.ones((2100, 2060), bool)  # depth 1030: beyond OpenCV's float32 snapping
    d = padded_distance(m).dense()
    assert d.max() == np.float32(1030.0)
    assert d[0, 0] == 1.0 and d[1049, 1029] == np.float32(1030.0)


# -- clicking groups --------------------------------------------------------------------------


def reference_group(weights, group, n):
    """Transcription of the protocol text: sort all weights (zeros included)."""
    s = np.sort(weights.ravel().astype(np.float32))
    c = np.cumsum(s, dtype=np.float32).astype(np.float64)
    total = float(c[-1])
    lo = np.searchsorted(c, (group - 1) / n * total, side="left")
    hi = min(np.searchsorted(c, group / n * total, side="right"), s.size - 1)
    return (weights >= s[lo]) & (weights <= s[hi]) & (weights > 0)


def test_groups_on_a_simple_ramp():
    w = np.arange(1, 11, dtype=np.float32).reshape(2, 5)  # total 55
    # G1 of 2: cumsum reaches 0 at index 0 (value 1); exceeds 27.5 at index 6 (value 7)
    g1 = group_support(w, 1, 2)
    assert set(w[g1].tolist()) == {1, 2, 3, 4, 5, 6, 7}
    g2 = group_support(w, 2, 2)
    assert set(w[g2].tolist()) == {7, 8, 9, 10}  # the straddling value belongs to both


def test_groups_with_ties_keep_equal_values_together():
    w = np.array([[0, 1, 1, 1, 1, 1, 1, 1, 1, 5]], dtype=np.float32)
    for g in range(1, 11):
        sel = group_support(w, g, 10)
        vals = set(w[sel].tolist())
        assert vals <= {1.0, 5.0}
        if 1.0 in vals:
            assert sel[0, 1:9].all()  # never split a tie


def test_all_zero_weights_leave_nothing():
    w = np.zeros((4, 4), np.float32)
    for g in (1, 5, 10):
        assert not group_support(w, g, 10).any()


def test_groups_match_the_transcription_and_cover_all_mass():
    rng = np.random.default_rng(2)
    for _ in range(20):
        w = rng.random((30, 40)).astype(np.float32) ** 3
        w[rng.random((30, 40)) > 0.6] = 0
        union = np.zeros(w.shape, bool)
        for g in range(1, 11):
            sel = group_support(w, g, 10)
            np.testing.assert_array_equal(sel, reference_group(w, g, 10))
            union |= sel
        np.testing.assert_array_equal(union, w > 0)


def test_group_index_is_checked():
    with pytest.raises(ValueError):
        group_thresholds(np.ones(3), 0, 10)


def test_g1_is_the_least_clickable_slice():
    w = np.linspace(0.01, 1, 100, dtype=np.float32).reshape(10, 10)
    assert w[group_support(w, 1, 10)].max() < w[group_support(w, 10, 10)].min()


def test_density_click_samples_inside_the_group_and_error():
    gt = np.zeros((40, 40), bool)
    gt[5:35, 5:35] = True
    density = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (40, 1))  # rises with x
    rng = np.random.default_rng(0)
    weights = density * gt
    g10 = group_support(weights, 10, 10)
    g1 = group_support(weights, 1, 10)
    for _ in range(50):
        c, fell_back = density_click(density, gt, np.zeros_like(gt), [], rng, 10, 10)
        assert not fell_back and c.positive and g10[c.y, c.x]
        c, _ = density_click(density, gt, np.zeros_like(gt), [], rng, 1, 10)
        assert g1[c.y, c.x]


def test_density_click_falls_back_to_baseline_when_density_is_zero_on_error():
    gt = np.zeros((9, 9), bool)
    gt[2:7, 2:7] = True
    density = np.zeros(gt.shape, np.float32)
    c, fell_back = density_click(
        density, gt, np.zeros_like(gt), [], np.random.default_rng(0), 3, 10
    )
    assert fell_back and c == baseline_click(gt, np.zeros_like(gt))


def test_density_click_never_repeats_a_clicked_pixel():
    gt = np.zeros((5, 5), bool)
    gt[2, 2] = gt[2, 3] = True
    density = np.ones(gt.shape, np.float32)
    rng = np.random.default_rng(0)
    clicked = [Click(2, 2, True)]
    for _ in range(20):
        c, _ = density_click(density, gt, np.zeros_like(gt), clicked, rng, 1, 1)
        assert (c.x, c.y) == (3, 2)


def test_density_click_side_follows_the_baseline_rule():
    gt = np.zeros((20, 20), bool)
    gt[2:5, 2:5] = True  # small FN
    pred = gt.copy()
    pred[8:18, 8:18] = True  # large FP
    density = np.ones(gt.shape, np.float32)
    c, _ = density_click(density, gt, pred, [], np.random.default_rng(0), 1, 1)
    assert not c.positive and 8 <= c.x < 18 and 8 <= c.y < 18


def test_deterministic_density_clicks_the_first_maximum():
    gt = np.zeros((10, 10), bool)
    gt[2:8, 2:8] = True
    density = np.zeros(gt.shape, np.float32)
    density[3, 6] = density[6, 3] = 2.0
    c, _ = density_click(
        density, gt, np.zeros_like(gt), [], np.random.default_rng(0), deterministic=True
    )
    assert c == Click(6, 3, True)
