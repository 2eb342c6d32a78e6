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
    if kind == "with zeros":
        w = np.sqrt(rng.integers(1, 40_000, n).astype(np.float64)).astype(np.float32)
        w[rng.random(n) < 0.3] = 0.0
        return w
    raise AssertionError(kind)


KINDS = ["distances", "few", "uniform", "continuous", "with zeros"]


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
