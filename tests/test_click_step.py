"""One click step: the engine, ``show-clicks`` and the public click functions take every click
through the same two functions (:func:`rclicks.clicks.click_side` and
:func:`rclicks.clicks.click_step`), and ``show-clicks`` re-derives a stored trajectory click
for click — so a change to the engine's click step alone, or to show-clicks' alone, shows."""

from __future__ import annotations

import numpy as np
import pytest

import rclicks
import rclicks.clicks as clicks
import rclicks.engine.trajectories as engine_traj
import rclicks.reports.trajectory as show
from rclicks.clicks import baseline_click, density_click, padded_distance, trajectory_rng
from rclicks.reports import report_run
from rclicks.reports.trajectory import replay_trajectory
from rclicks.simulators import DistanceSimulator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("steps") / "run"
    return rclicks.evaluate("geodesic", "distance", "demo", limit=2, groups=3, max_clicks=4,
                            out=out)  # fmt: skip


def test_there_is_one_click_step():
    assert engine_traj.click_step is clicks.click_step is show.click_step
    assert engine_traj.click_side is clicks.click_side is show.click_side
    assert show.region_values.__module__ == "rclicks.engine.densities"


def _trajectories(run):
    df = run.per_click
    keys = df[["sample_id", "instance_id", "simulator", "group"]].drop_duplicates()
    return [tuple(k) for k in keys.itertuples(index=False)]


def test_show_clicks_re_derives_every_stored_trajectory_exactly(run):
    data = report_run(run.path)
    trajs = _trajectories(run)
    assert len(trajs) == len({t[:2] for t in trajs}) * 4  # baseline + 3 groups per instance
    for sample_id, instance_id, simulator, group in trajs:
        rep = replay_trajectory(data, sample_id, instance_id, simulator, int(group))
        assert rep.problems == [], (sample_id, instance_id, simulator, group)
        assert len(rep.steps) == 4


def _perturbed(side, values, clicked, rng=None, group=0, n_groups=1, deterministic=True):
    """The click step with one change: the last pixel of the group's slice, not a draw."""
    choice = clicks.click_step(side, values, clicked, rng, group, n_groups, deterministic)
    if values is None or choice.fallback:
        return choice
    support = choice.support()
    y, x = divmod(int(support[-1]), side.region.shape[1])
    return clicks.ClickChoice(
        clicks.Click(x, y, side.positive), False, side, choice.weights, group, n_groups
    )


def test_a_change_to_the_engines_click_step_alone_is_caught(run, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_traj, "click_step", _perturbed)
    changed = rclicks.evaluate("geodesic", "distance", "demo", limit=2, groups=3, max_clicks=4,
                               out=tmp_path / "changed")  # fmt: skip
    monkeypatch.undo()
    data = report_run(changed.path)
    sample_id, instance_id = changed.per_click[["sample_id", "instance_id"]].iloc[0]
    rep = replay_trajectory(data, sample_id, instance_id, "distance", 1)
    assert any("the engine's click step gives" in p for p in rep.problems)


def test_a_change_to_show_clicks_alone_is_caught(run, monkeypatch):
    data = report_run(run.path)
    sample_id, instance_id = run.per_click[["sample_id", "instance_id"]].iloc[0]
    monkeypatch.setattr(show, "click_step", _perturbed)
    rep = replay_trajectory(data, sample_id, instance_id, "distance", 1)
    assert any("the engine's click step gives" in p for p in rep.problems)


def test_the_public_click_functions_give_the_engines_first_clicks(run):
    ds = rclicks.datasets.FolderDataset(rclicks.datasets.demo_root(), name="demo")
    sample = ds[0]
    df = run.per_click
    first = df[(df["sample_id"] == sample.sample_id) & (df["click"] == 1)]
    sim = DistanceSimulator()
    for iid, gt in sample.instances.items():
        empty = np.zeros_like(gt)
        rows = first[first["instance_id"] == iid].set_index(["simulator", "group"])
        base = rows.loc[("baseline", 0)]
        assert baseline_click(gt, empty) == rclicks.Click(base.x, base.y, base.positive)
        density = padded_distance(gt).dense()
        assert np.array_equal(density, sim.density(sample.image, gt, gt))
        for g in (1, 2, 3):
            rng = trajectory_rng(0, "demo", sample.sample_id, iid, "distance", g, 1)
            c, fell_back = density_click(density, gt, empty, [], rng, g, 3)
            row = rows.loc[("distance", g)]
            assert (c, fell_back) == (rclicks.Click(row.x, row.y, row.positive), False)
