"""The C paths of the click protocol (rclicks/_edt.c) against the NumPy formulation they
replace, value for value, and the step threads against one thread."""

from __future__ import annotations

import numpy as np
import pytest

import rclicks
import rclicks.clicks as clicks
from rclicks.clicks import _box_indices, _sorted_thresholds, group_thresholds, pick


def _weights(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "distances":  # square roots of whole numbers: a distance map's values
        return np.sqrt(rng.integers(1, 250_000, n).astype(np.float64)).astype(np.float32)
    if kind == "few":  # a handful of values
        return rng.choice(np.float32([0.5, 1.0, 1.5, 7.25]), n)
    if kind == "uniform":
        return np.ones(n, np.float32)
    if kind == "continuous":  # too many distinct values for the table: sorted in NumPy
        return rng.random(n, dtype=np.float32) * 3
    if kind == "integers":  # ties against the float32 grid once the sums pass 2^24
        return rng.integers(1, 400, n).astype(np.float32)
    if kind == "with zeros":
        w = np.sqrt(rng.integers(1, 40_000, n).astype(np.float64)).astype(np.float32)
        w[rng.random(n) < 0.3] = 0.0
        return w
    raise AssertionError(kind)


KINDS = ["distances", "few", "uniform", "continuous", "integers", "with zeros"]


@pytest.mark.parametrize("kind", KINDS)
def test_group_thresholds_in_c_equal_the_sort(kind):
    assert clicks._edt is not None, "the C extension rclicks._edt was not built"
    rng = np.random.default_rng(KINDS.index(kind))
    for n in (20_000, 300_000):
        v = _weights(kind, n, rng)
        for n_groups in (3, 10):
            for g in range(1, n_groups + 1):
                assert group_thresholds(v, g, n_groups) == _sorted_thresholds(v, g, n_groups), (
                    n,
                    n_groups,
                    g,
                )


@pytest.mark.parametrize("kind", KINDS)
def test_pick_in_c_equals_numpy_and_draws_once(kind, monkeypatch):
    rng = np.random.default_rng(10 + KINDS.index(kind))
    cases = []
    for n in (5, 3_000, 250_000):
        w = _weights(kind, n, rng)
        idx = np.sort(rng.choice(10 * n, n, replace=False)).astype(np.int64)
        for n_groups, g in ((1, 1), (10, 1), (10, 4), (10, 10), (3, 2)):
            cases.append((idx, w, n_groups, g, int(rng.integers(1 << 30))))

    def run():
        out = []
        for idx, w, n_groups, g, seed in cases:
            gen = np.random.default_rng(seed)
            out.append((pick(idx, w, gen, g, n_groups), gen.random()))  # + the next draw
        return out

    fast = run()
    monkeypatch.setattr(clicks, "_edt", None)
    assert fast == run()


def test_pick_with_nothing_positive_and_a_bad_group():
    gen = np.random.default_rng(0)
    assert pick(np.arange(4), np.zeros(4, np.float32), gen, 2, 10) is None
    with pytest.raises(ValueError, match="group must be in 1..10"):
        pick(np.arange(4), np.ones(4, np.float32), gen, 11, 10)


def test_box_indices_in_c_equal_numpy(monkeypatch):
    rng = np.random.default_rng(3)
    masks = [rng.random((37, 53)) < p for p in (0.0, 0.02, 0.5, 1.0)]
    masks.append(np.zeros((5, 3), bool))
    fast = [_box_indices(m, int(m.sum()), 11, 7, 200) for m in masks]
    monkeypatch.setattr(clicks, "_edt", None)
    for m, got in zip(masks, fast):
        want = _box_indices(m, int(m.sum()), 11, 7, 200)
        assert got.dtype == np.int64 and np.array_equal(got, want)
        ys, xs = np.nonzero(m)
        assert np.array_equal(got, (ys + 11) * 200 + xs + 7)


def test_one_thread_and_several_give_the_same_rows(tmp_path, monkeypatch):
    from rclicks.engine import threads as step_threads
    from rclicks.engine import trajectories

    # the demo's images are small: make them take the threaded path anyway
    monkeypatch.setattr(step_threads, "PARALLEL_PIXELS", 0)
    monkeypatch.setattr(trajectories, "PARALLEL_PIXELS", 0)

    def rows(threads: str):
        monkeypatch.setenv("RCLICKS_THREADS", threads)
        run = rclicks.evaluate(
            "geodesic", "distance", "demo", limit=3, max_clicks=6, out=tmp_path / threads
        )
        return run.per_click.drop(columns=["seconds"])

    one = rows("1")
    assert len(one) > 0 and len(one) % (11 * 6) == 0  # every trajectory, six clicks
    assert one.equals(rows("3"))


def test_a_bad_thread_count_is_named(monkeypatch):
    from rclicks.engine.threads import threads

    monkeypatch.setenv("RCLICKS_THREADS", "many")
    with pytest.raises(ValueError, match="RCLICKS_THREADS must be a whole number, got 'many'"):
        threads()


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_a_split_transform_equals_the_whole_image_transform(threads):
    from scipy import ndimage as ndi

    from rclicks.clicks import distance_of

    yy, xx = np.mgrid[0:700, 0:900]
    r = np.hypot(yy - 300, xx - 420)
    masks = [
        (r < 380) & ~((yy - 250) ** 2 + (xx - 300) ** 2 < 60**2),  # a deep disc with a hole
        (xx > 30) | (yy % 50 == 0),  # touching three borders, thin lines
        np.ones((700, 900), bool),
    ]
    for m in masks:
        assert m.sum() >= clicks._SPLIT_PIXELS
        got = distance_of(np.flatnonzero(m), m.shape, threads)
        want = ndi.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1].astype(np.float32)
        np.testing.assert_array_equal(got.dense(), want)


def _shapes(rng: np.random.Generator):
    """Regions that stress the bounds of the pruned search: deep discs with holes off the axes
    (far below the row and column bounds), rings, thin lines, noise, whole boxes."""
    from scipy import ndimage as ndi

    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 160, 2))
        yy, xx = np.mgrid[0:h, 0:w]
        kind = trial % 5
        if kind == 0:
            m = np.hypot(yy - h / 2, xx - w / 2) < rng.uniform(0.2, 0.7) * max(h, w)
            for _ in range(int(rng.integers(1, 4))):
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
                m &= np.hypot(yy - cy, xx - cx) > rng.uniform(1, 12)
        elif kind == 1:
            r = np.hypot(yy - h / 2, xx - w / 2)
            m = (r > 0.1 * max(h, w)) & (r < 0.45 * max(h, w))
        elif kind == 2:
            m = (xx % int(rng.integers(2, 9)) == 0) | (yy == h // 2)
        elif kind == 3:
            m = ndi.binary_opening(rng.random((h, w)) < 0.8, iterations=int(rng.integers(1, 3)))
        else:
            m = np.ones((h, w), bool)
            m[rng.integers(0, h, 2), rng.integers(0, w, 2)] = False
        if m.any():
            yield m


def test_box_regions_give_the_values_of_index_regions_and_of_scipy():
    from scipy import ndimage as ndi

    edt = clicks._edt
    rng = np.random.default_rng(11)
    seen = 0
    for m in _shapes(rng):
        h, w = m.shape
        idx = np.flatnonzero(m).astype(np.int64)
        ys, xs = np.divmod(idx, w)
        # any box that holds the region, here a loose one
        y0, x0 = int(rng.integers(0, ys.min() + 1)), int(rng.integers(0, xs.min() + 1))
        y1, x1 = int(rng.integers(ys.max() + 1, h + 1)), int(rng.integers(xs.max() + 1, w + 1))
        box = np.ascontiguousarray(m[y0:y1, x0:x1])
        want = ndi.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1].astype(np.float32).ravel()
        k = int(rng.integers(0, 4))
        excluded = np.sort(rng.choice(idx, size=min(k, idx.size), replace=False)).astype(np.int64)
        left = want.copy()
        left[excluded] = 0.0
        first = int(np.argmax(left))
        # the squared distances as counted by the transform, and the row starts of the box
        d2, count = np.unique(np.rint(want[idx].astype(np.float64) ** 2), return_counts=True)
        counted = np.stack([d2, count], axis=1).astype(np.uint32)
        row_starts = np.concatenate([[0], np.cumsum(np.count_nonzero(box, axis=1))])
        for threads in (1, 2, 3):
            by_idx, by_box = np.empty(idx.size, np.float32), np.empty(idx.size, np.float32)
            assert edt.region(idx, w, by_idx, threads) is None
            assert edt.region_box(box, box.shape[1], by_box, threads) is None
            np.testing.assert_array_equal(by_idx, want[idx])
            np.testing.assert_array_equal(by_box, want[idx])
            starts = np.full(box.shape[0] + 1, -1, np.int64)
            pairs = edt.region_box(box, box.shape[1], by_box, threads, True, starts)
            np.testing.assert_array_equal(np.frombuffer(pairs, np.uint32).reshape(-1, 2), counted)
            np.testing.assert_array_equal(starts, row_starts)
            alone = np.full(box.shape[0] + 1, -1, np.int64)  # the same without a transform
            edt.row_starts(box, box.shape[1], alone)
            np.testing.assert_array_equal(alone, row_starts)
            np.testing.assert_array_equal(by_box, want[idx])
            assert edt.region(idx, w, by_idx, threads, True) == pairs
            expected = (float(left[first]), first if left[first] > 0 else -1)
            assert edt.region_max(idx, w, excluded, threads) == expected
            assert edt.region_max_box(box, box.shape[1], y0, x0, w, excluded, threads) == expected
        assert edt.run_bound_box(box, box.shape[1]) == edt.run_bound(idx, w)
        seen += 1
    assert seen >= 50


def test_a_large_deep_region_is_searched_exactly():
    """At 2048 px the pruned search visits few rows; a tie of the maximum in many rows must
    still give the first one in row-major order."""
    from scipy import ndimage as ndi

    yy, xx = np.mgrid[0:1536, 0:2048]
    m = np.hypot(yy - 768, xx - 1024) < 600
    m &= np.hypot(yy - 700, xx - 800) > 40  # a hole off the row and column of the centre
    square = np.zeros_like(m)
    square[100:1400, 200:1500] = True  # many rows share the maximum (a square's middle)
    for region in (m, square):
        idx = np.flatnonzero(region).astype(np.int64)
        dist = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1].astype(np.float32)
        j = int(np.argmax(dist))
        box = region[:, :]
        got = clicks._edt.region_max_box(box, 2048, 0, 0, 2048, np.zeros(0, np.int64), 2)
        assert got == (float(dist.ravel()[j]), j)
        assert clicks._edt.region_max(idx, 2048, np.array([j], np.int64), 1)[1] != j


def test_a_distance_map_of_a_box_region_is_the_map_of_its_indices():
    from rclicks.clicks import BoxRegion, DistanceMap, Target, bbox, click_side, distances_of
    from rclicks.types import Click

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:90, 0:120]
    gt = np.hypot(yy - 45, xx - 60) < 38
    pred = np.hypot(yy - 40, xx - 70) < 30
    target = Target(gt, None)
    _, (fn, fp) = target.evaluate(pred.copy())
    assert isinstance(fn, BoxRegion) and isinstance(fp, BoxRegion)
    np.testing.assert_array_equal(fn.indices(120), np.flatnonzero(gt & ~pred))
    fp_mask = pred & ~gt
    assert (fp.y0, fp.y0 + fp.mask.shape[0], fp.x0, fp.x0 + fp.mask.shape[1]) == bbox(fp_mask)
    assert fp.count == np.count_nonzero(fp_mask)
    fp = fp.indices(120)  # the FP pixels, over their own tight box
    np.testing.assert_array_equal(fp, np.flatnonzero(fp_mask))
    fn_idx = np.flatnonzero(gt & ~pred).astype(np.int64)
    clicked = np.sort(rng.choice(fn_idx, 5, replace=False))
    clicked = np.concatenate([clicked, [0, 119, 45 * 120 + 70]])  # outside the region too
    (by_box,) = distances_of([fn], gt.shape)
    by_idx = DistanceMap(gt.shape, fn_idx)
    assert by_box.size == by_idx.size == fn_idx.size
    assert by_box.bound() == by_idx.bound()
    side = click_side(by_box, DistanceMap(gt.shape, fp), clicked)
    assert by_box._idx is None  # the side rule and the baseline click need no indices
    expected = click_side(by_idx, DistanceMap(gt.shape, fp), clicked)
    assert side.positive == expected.positive
    assert side.distances.first_argmax() == expected.distances.first_argmax()
    assert side.distances.max() == expected.distances.max()
    np.testing.assert_array_equal(by_box.dist, by_idx.dist)
    np.testing.assert_array_equal(side.distances.dist, expected.distances.dist)
    np.testing.assert_array_equal(by_box.mask(), gt & ~pred)
    np.testing.assert_array_equal(by_box.positions(clicked), by_idx.positions(clicked))
    for j in (0, 1, 17, fn_idx.size // 2, fn_idx.size - 1):
        assert by_box.flat_at(j) == fn_idx[j]
    twice = side.distances.zero_at([Click(int(c % 120), int(c // 120), True) for c in clicked])
    assert twice.max() == side.distances.max()
    assert by_box._idx is None  # positions, pixels and values all came from the mask
    np.testing.assert_array_equal(by_box.idx, fn_idx)  # and the indices, when asked for
    with pytest.raises(ValueError, match="indices or its box mask"):
        DistanceMap(gt.shape, None)


def test_the_engine_without_the_c_extension_gives_the_same_rows(tmp_path, monkeypatch):
    """A build without a compiler (OpenCV and NumPy do the work, the box regions make their
    indices in NumPy) gives the rows of the C paths."""

    def rows(name: str):
        run = rclicks.evaluate(
            "geodesic", "distance", "demo", limit=2, max_clicks=5, out=tmp_path / name
        )
        return run.per_click.drop(columns=["seconds"])

    fast = rows("c")
    monkeypatch.setattr(clicks, "_edt", None)
    assert rows("numpy").equals(fast)


def test_many_float32_additions_at_once_equal_one_by_one():
    """The clicking-group sums add each distinct value once per copy; taken many at a time
    they must equal NumPy's float32 cumsum, ties to even included."""
    rng = np.random.default_rng(8)
    values = [7.0, 100.0, 0.5, 1.5, 7.25, 0.125, 2.0**-4, 3e-3]
    values += [float(np.float32(np.sqrt(k))) for k in rng.integers(1, 250_000, 8)]
    starts = [0.0, 3.0, 977.25, 2.0**24 - 3, 2.0**25 + 8, 3.1e8]
    for x in values:
        for acc in starts:
            for m in (1, 9, 1000, 70_000):
                series = np.full(m + 1, x, np.float32)
                series[0] = acc
                want = np.cumsum(series, dtype=np.float32)[-1]
                assert np.float32(clicks._edt.add_copies(acc, x, m)) == want, (acc, x, m)


def _argmax_left(mask: np.ndarray, excluded: np.ndarray) -> tuple[float, int]:
    """The largest distance of a box mask spanning the image with ``excluded`` zeroed, and the
    first pixel holding it (-1 when it is 0), from the full transform."""
    idx = np.flatnonzero(mask).astype(np.int64)
    dist = np.empty(idx.size, np.float32)
    clicks._edt.region_box(mask, mask.shape[1], dist)
    dist[np.searchsorted(idx, excluded)] = 0.0
    j = int(np.argmax(dist))
    return float(dist[j]), int(idx[j]) if dist[j] > 0 else -1


def test_the_largest_distance_from_column_runs_and_from_ragged_masks():
    """The pruned search takes each visited row's first pass from the mask's column runs, or,
    when the mask is ragged (many runs per column), from the whole first pass: both equal the
    full transform's first maximum, with clicked pixels excluded."""
    edt = clicks._edt
    rng = np.random.default_rng(21)
    yy, xx = np.mgrid[0:240, 0:300]
    blob = np.hypot(yy - 120, xx - 140) < 100
    holes = (np.hypot(yy - 90, xx - 170) > 30) & (np.hypot(yy - 150, xx - 90) > 12)
    bytes_ = rng.integers(1, 255, yy.shape).astype(np.uint8)
    masks = {
        "blob with holes": blob & holes,
        "stripes": (yy % 3 == 0) | (rng.random(yy.shape) < 0.05),  # many runs: ragged
        "noise": rng.random(yy.shape) < 0.6,  # ragged
        "almost full": rng.random(yy.shape) < 0.995,  # a speck or so per column
        "values other than 1": blob.astype(np.uint8) * bytes_,
    }
    for name, m in masks.items():
        m = np.ascontiguousarray(m).view(np.uint8) if m.dtype == bool else m
        idx = np.flatnonzero(m).astype(np.int64)
        for k in (0, 1, 3):
            excluded = np.sort(rng.choice(idx, k, replace=False)).astype(np.int64)
            want = _argmax_left(m, excluded)
            for threads in (1, 2):
                got = edt.region_max_box(m, m.shape[1], 0, 0, m.shape[1], excluded, threads)
                assert got == want, (name, k, threads)
                assert edt.region_max(idx, m.shape[1], excluded, threads) == want, (name, k)
        if m.max() == 1:  # the exclusions of the deepest pixels, one after another
            first = _argmax_left(m, np.zeros(0, np.int64))[1]
            excluded = np.array([first], np.int64)
            assert edt.region_max_box(m, m.shape[1], 0, 0, m.shape[1], excluded, 1) == (
                _argmax_left(m, excluded)
            )


def test_run_bounds_of_any_mask_bytes():
    edt = clicks._edt
    rng = np.random.default_rng(22)
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 45, 2))
        m = (rng.random((h, w)) < rng.choice([0.002, 0.05, 0.5, 0.97, 1.0])).astype(np.uint8)
        m *= rng.integers(1, 256, (h, w)).astype(np.uint8)  # any non-zero byte is inside
        longest = max(
            (
                len(run)
                for row in (m != 0)
                for run in "".join("x" if v else " " for v in row).split()
            ),
            default=0,
        )
        assert edt.run_bound_box(m, w) == (longest + 1) // 2


def test_counted_distances_give_the_same_clicks():
    """A sampling simulator whose density is the region's own distances: the group's
    thresholds and the slice's sum come from the transform's counts (DistanceMap.counts_of)
    and give the same click and the same next draw as the passes over the weights."""
    from rclicks.clicks import BoxRegion, DistanceMap, pick_position

    rng = np.random.default_rng(23)
    yy, xx = np.mgrid[0:300, 0:400]
    mask = (np.hypot(yy - 150, xx - 200) < 140) & (np.hypot(yy - 120, xx - 260) > 35)
    region = DistanceMap(mask.shape, None, box=BoxRegion(mask, 0, 0, int(mask.sum())))
    dist = region.dist
    view = dist.view()
    view.flags.writeable = False
    idx = np.flatnonzero(mask)
    at = np.sort(rng.choice(idx.size, 6, replace=False))
    counts = region.counts_of(view, at)
    assert counts is not None
    left = np.delete(dist, at)
    d2, count = np.unique(np.rint(left.astype(np.float64) ** 2), return_counts=True)
    np.testing.assert_array_equal(counts, np.stack([d2, count], 1).astype(np.uint32))
    assert region.counts_of(dist.copy(), at) is None  # not the map's own values
    from rclicks.engine.densities import densities
    from rclicks.errors import PluginError
    from rclicks.simulators.basic import DistanceSimulator

    class Broken(DistanceSimulator):
        def region_density(self, image, gt_mask, region):
            out = region.dist.copy()
            out[7] = np.nan
            return out

    image = np.zeros((*mask.shape, 3), np.uint8)
    (own,) = densities(image, mask, [(DistanceSimulator(), region)]).values()
    assert region.are_distances(own) and not own.flags.writeable  # handed over, not copied
    with pytest.raises(PluginError, match="negative or non-finite"):
        densities(image, mask, [(Broken(), region)])  # anything else is still checked
    assert region.counts_of(dist[1:], at) is None  # not the whole of them
    weights = dist.copy()
    weights[at] = 0.0
    for n_groups, group in ((1, 1), (10, 1), (10, 5), (10, 10), (3, 2)):
        for seed in range(4):
            fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
            a = pick_position(weights, fast, group, n_groups, False, counts)
            b = pick_position(weights, slow, group, n_groups, False)
            assert a == b and fast.random() == slow.random(), (n_groups, group, seed)


def test_a_counted_sum_too_large_to_be_exact_is_added_in_order():
    """Weights of 1000 (d² = 10⁶) on 2.1 million pixels sum past 2^30, where a float64 sum
    in another order could differ: the counts give the thresholds, the weights the sum."""
    from rclicks.clicks import pick_position

    edt = clicks._edt
    weights = np.full(2_100_000, 1000.0, np.float32)
    weights[::7] = np.float32(np.sqrt(np.float64(999_999)))
    n7 = weights[::7].size
    counts = np.array([[999_999, n7], [1_000_000, weights.size - n7]], np.uint32)
    found = edt.counted_slice(counts, 4, 10)
    assert found[0] == weights.size and found[4] == -1.0
    small = edt.counted_slice(np.array([[4, 3], [9, 2]], np.uint32), 1, 1)
    assert small == (5, 0.0, float("inf"), 5, 12.0)  # 3 × 2 + 2 × 3, exact
    assert edt.counted_slice(np.array([[9, 1], [4, 1]], np.uint32), 1, 1) is None  # unsorted
    for n_groups, group in ((1, 1), (10, 4), (10, 10)):
        fast, slow = np.random.default_rng(5), np.random.default_rng(5)
        assert pick_position(weights, fast, group, n_groups, False, counts) == pick_position(
            weights, slow, group, n_groups, False
        )


def test_thresholds_name_bad_values_and_take_negative_zero_as_zero():
    edt = clicks._edt
    v = np.sqrt(np.arange(1, 40_001, dtype=np.float64)).astype(np.float32)
    for bad in (np.nan, -1.0, np.inf, -np.inf, -1e-40):
        w = v.copy()
        w[123] = bad
        assert edt.thresholds(w, 3, 10, True) is None, bad  # None: the caller sorts
    w = v.copy()
    w[:50] = -0.0
    assert edt.thresholds(w, 3, 10, True) == (w.size - 50, *_sorted_thresholds(w[50:], 3, 10))


def test_error_regions_in_one_pass_equal_numpy(monkeypatch):
    """Target.evaluate's C pass (split_errors): the same IoU, false negatives and false
    positives (over their tight box) as the NumPy steps, with and without ignore pixels."""
    from rclicks.clicks import BoxRegion, Target

    rng = np.random.default_rng(24)
    cases = []
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        gt = rng.random((h, w)) < rng.choice([0.0, 0.02, 0.4, 0.95])
        ignore = rng.random((h, w)) < 0.1 if rng.random() < 0.3 else None
        pred = rng.random((h, w)) < rng.choice([0.0, 0.05, 0.5, 1.0])
        cases.append((gt, ignore, pred))

    def run():
        out = []
        for gt, ignore, pred in cases:
            iou, (fn, fp) = Target(gt, ignore).evaluate(pred.copy())
            if isinstance(fp, BoxRegion):
                fp = (fp.mask.tobytes(), fp.mask.shape, fp.y0, fp.x0, fp.count)
            else:
                assert fp.size == 0
                fp = None
            out.append((repr(iou), fn.mask.tobytes(), fn.y0, fn.x0, fn.count, fp))
        return out

    fast = run()
    monkeypatch.setattr(clicks, "_edt", None)
    assert fast == run()
