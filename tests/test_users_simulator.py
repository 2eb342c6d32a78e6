"""The users simulator: replay of real first clicks, IoU@1 per click and the User NSR."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from rclicks.datasets import FolderDataset, demo_root
from rclicks.metrics import iou, metric_entries
from rclicks.models.geodesic import GeodesicModel
from rclicks.realclicks import load_clicks
from rclicks.runs import read_rows
from rclicks.simulators.users import UsersSimulator
from rclicks.types import Click
from tests.helpers import run_cli, synthetic_clicks


@pytest.fixture(scope="module")
def demo():
    return FolderDataset(demo_root(), name="demo")


@pytest.fixture(scope="module")
def users_run(tmp_path_factory, demo):
    root = tmp_path_factory.mktemp("users")
    clicks = root / "clicks.csv"
    synthetic_clicks(clicks, demo, per_set=6, seed=2, limit=3)
    out = root / "run"
    r = run_cli(
        [
            "eval",
            "--simulator",
            "users",
            "--sim-opt",
            f"clicks={clicks}",
            "--dataset",
            "demo",
            "--limit",
            "3",
            "--max-clicks",
            "4",
            "--out",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stderr
    return clicks, out, r.stdout


def test_every_user_click_is_replayed_once_with_its_own_iou(users_run, demo):
    clicks, out, _ = users_run
    rows = pq.read_table(out / "per_click.parquet").to_pylist()
    users = [r for r in rows if r["simulator"] == "users"]
    table = load_clicks(clicks)
    assert len(users) == table.clicks_count()
    assert {r["click"] for r in users} == {1} and {r["group"] for r in users} == {0}
    # the clicks are the recorded ones, in file order per instance (repeat = user index)
    samples = {s.sample_id: s for s in list(demo)[:3]}
    model = GeodesicModel()
    for s in table:
        iid = s.object_stem or next(iter(samples[s.image_stem].instances))
        mine = sorted(
            (r for r in users if (r["sample_id"], r["instance_id"]) == (s.image_stem, iid)),
            key=lambda r: r["repeat"],
        )
        assert [(r["x"], r["y"]) for r in mine] == list(zip(s.xs.tolist(), s.ys.tolist()))
        sample = samples[s.image_stem]
        emb = model.encode(sample.image)
        for r in mine[:2]:  # IoU@1: the model's mask after that single click
            prob, _ = model.predict(emb, [Click(r["x"], r["y"], True)], None)
            assert r["iou"] == pytest.approx(iou(sample.instances[iid], prob > model.threshold))
    # the baseline still runs its full trajectories beside the replays
    base = [r for r in rows if r["simulator"] == "baseline"]
    assert {r["click"] for r in base} == {1, 2, 3, 4}


def test_user_nsr_per_instance_and_dataset(users_run):
    _, out, stdout = users_run
    summary = json.loads((out / "summary.json").read_text())
    entry = next(e for e in summary["results"] if e["simulator"] == "users")
    assert entry["kind"] == "users" and summary["replay"] == ["users"]
    rows = pq.read_table(out / "per_click.parquet").to_pylist()
    by_inst: dict = {}
    for r in rows:
        if r["simulator"] == "users":
            by_inst.setdefault((r["sample_id"], r["instance_id"]), []).append(r["iou"])
    nsr = [np.std(v) / np.mean(v) for v in by_inst.values()]
    assert entry["User NSR"] == pytest.approx(np.mean(nsr))
    assert entry["IoU@1"] == pytest.approx(np.mean([np.mean(v) for v in by_inst.values()]))
    per = {(p["sample_id"], p["instance_id"]): p for p in entry["per_instance"]}
    assert set(per) == set(by_inst)
    k = next(iter(by_inst))
    assert per[k]["User NSR"] == pytest.approx(np.std(by_inst[k]) / np.mean(by_inst[k]))
    # recomputable from the rows alone (the replay is recognised by its 1-click trajectories)
    again = metric_entries(read_rows(out / "per_click.parquet"), max_clicks=4)
    assert next(e for e in again if e["simulator"] == "users") == entry
    assert "User NSR" in stdout and "real users" in stdout


def test_input_device_filter_and_rescaled_coordinates(tmp_path, demo):
    clicks = tmp_path / "clicks.csv"
    # shown at twice the size: the simulator maps clicks back to image pixels
    rows = synthetic_clicks(clicks, demo, per_set=4, seed=4, limit=1, scale=2.0)
    sample = next(iter(demo))
    iid = next(iter(sample.instances))
    sim_all = UsersSimulator(clicks=clicks)
    sim_pc = UsersSimulator(clicks=clicks, input_device="pc")
    ids = list(sample.instances)
    got = sim_all.user_clicks("demo", sample.sample_id, iid, sample.shape, ids)
    mine = [r for r in rows if r["image_stem"] == sample.sample_id and r["object_stem"] == iid]
    assert [(c.x, c.y) for c in got] == [(r["x"] // 2, r["y"] // 2) for r in mine]
    pc = sim_pc.user_clicks("demo", sample.sample_id, iid, sample.shape, ids)
    assert len(pc) == sum(r["device"] == "pc" for r in mine) < len(got)
    # COCO in clicks.csv is rclicks' COCO_MVal; another dataset's clicks are not this one's
    assert (
        UsersSimulator(clicks=clicks, dataset="COCO").user_clicks(
            "demo", sample.sample_id, iid, sample.shape, ids
        )
        == []
    )


def test_missing_clicks_file_is_a_clear_error(tmp_path):
    r = run_cli(["eval", "--simulator", "users", "--limit", "1", "--out", str(tmp_path / "o")])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "clicks" in r.stderr and "RCLICKS_CLICKS" in r.stderr
    r = run_cli(
        [
            "eval",
            "--simulator",
            "users",
            "--sim-opt",
            f"clicks={tmp_path / 'nope.csv'}",
            "--out",
            str(tmp_path / "o2"),
        ]
    )
    assert r.returncode == 1 and "nope.csv: file not found" in r.stderr
