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
        for threads in (1, 2, 3):
            by_idx, by_box = np.empty(idx.size, np.float32), np.empty(idx.size, np.float32)
            edt.region(idx, w, by_idx, threads)
            edt.region_box(box, box.shape[1], by_box, threads)
            np.testing.assert_array_equal(by_idx, want[idx])
            np.testing.assert_array_equal(by_box, want[idx])
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
    from rclicks.clicks import BoxRegion, DistanceMap, Target, click_side, distances_of
    from rclicks.types import Click

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:90, 0:120]
    gt = np.hypot(yy - 45, xx - 60) < 38
    pred = np.hypot(yy - 40, xx - 70) < 30
    target = Target(gt, None)
    _, (fn, fp) = target.evaluate(pred.copy())
    assert isinstance(fn, BoxRegion)
    np.testing.assert_array_equal(fn.indices(120), np.flatnonzero(gt & ~pred))
    np.testing.assert_array_equal(fp, np.flatnonzero(pred & ~gt))
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
