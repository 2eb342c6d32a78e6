"""TETRIS robustness (CONTRACT §9): the tetris-min / tetris-max trajectories beside the
baseline, both strategies, the rules every click obeys, determinism, resume, BIoU and the
summary."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

import rclicks
from rclicks.clicks import error_masks
from rclicks.engine.adversarial import Bands, select, step_size
from rclicks.errors import OptionError
from rclicks.metrics import boundary_iou, iou_auc, robustness_entries
from rclicks.protocols import DifferentiablePredictor
from rclicks.runs.masks import trajectory_masks
from rclicks.simulators.tetris import TetrisSimulator
from rclicks.types import Sample
from tests.helpers import fake_distribution, run_cli
from tests.test_python_api import SHARED


def _rows(path):
    return pq.read_table(path / "per_click.parquet").to_pandas()


def _tetris(tmp_path, name, model="geodesic", **kw):
    base = dict(
        simulators=["tetris"],
        datasets=["demo"],
        limit=2,
        max_clicks=4,
        simulator_options={"candidates": 6},
        out=tmp_path / name,
    )
    base.update(kw)
    return rclicks.evaluate(model, **base)


# -- an analytic model: a positive click at column c predicts every column <= c ----------------


class LeftFill:
    """Predicts the columns up to the last click's (a soft step of slope ``s`` in x); the
    ground truth of :func:`left_half` is the left half, so the IoU of a first click at column
    x < W/2 is (x + 1) / (W/2) — known in closed form. ``predict_differentiable`` gives the
    same step as logits, differentiable in the click's x."""

    threshold = 0.5
    s = 4.0

    def encode(self, image):
        return image.shape[:2]

    def _logits(self, shape, x):
        cols = np.arange(shape[1], dtype=np.float64)
        return np.broadcast_to(self.s * (x - cols + 0.5), shape)

    def predict(self, emb, clicks, state):
        c = clicks[-1]
        z = self._logits(emb, c.x) if c.positive else -self._logits(emb, c.x)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32), len(clicks)

    def predict_differentiable(self, emb, points, labels, state):
        import torch

        cols = torch.arange(emb[1], dtype=torch.float32)
        z = self.s * (points[-1, 0] - cols + 0.5)
        z = z if labels[-1] else -z
        return z[None, :].expand(emb[0], emb[1])


class LeftHalf:
    name = "left-half"

    def __init__(self, h=64, w=96):
        self.h, self.w = h, w

    def __len__(self):
        return 1

    def __iter__(self):
        img = np.full((self.h, self.w, 3), 127, np.uint8)
        gt = np.zeros((self.h, self.w), bool)
        gt[:, : self.w // 2] = True
        yield Sample("s0", img, {"1": gt}, None)


def _first_clicks(run):
    df = run.per_click
    first = df[df["click"] == 1].set_index("simulator")
    return first


def test_gradient_moves_the_click_the_right_way_on_an_analytic_model(tmp_path):
    model = LeftFill()
    assert isinstance(model, DifferentiablePredictor)
    run = _tetris(tmp_path, "g", model=model, datasets=[LeftHalf()], limit=None,
                  simulator_options=None, max_clicks=2)  # fmt: skip
    first = _first_clicks(run)
    half = 48
    for sim in ("baseline", "tetris-min", "tetris-max"):  # the closed form holds on every row
        x = int(first.loc[sim, "x"])
        closed_form = (x + 1) / half if x < half else half / (x + 1)
        assert first.loc[sim, "iou"] == pytest.approx(closed_form)
        assert first.loc[sim, "positive"]
    base_x = int(first.loc["baseline", "x"])
    # lower IoU lies to the left, higher to the right: the search went there
    assert int(first.loc["tetris-min", "x"]) < base_x < int(first.loc["tetris-max", "x"])
    assert first.loc["tetris-min", "iou"] < first.loc["baseline", "iou"]
    assert first.loc["tetris-max", "iou"] > first.loc["baseline", "iou"]
    # ~10 Adam steps of the image-size step size (diag / (80·√2) px) from the candidate
    lr = step_size((64, 96))
    moved = base_x - int(first.loc["tetris-min", "x"])
    assert 5 * lr <= moved <= 11 * lr + 1
    assert run.info["simulators"][0]["adversarial"] is True


def test_search_strategy_on_the_analytic_model_reaches_the_same_side():
    # a black box: the same model without its gradient
    class Blind(LeftFill):
        predict_differentiable = None

    assert not isinstance(Blind(), DifferentiablePredictor)
    assert TetrisSimulator().strategy_for(Blind()) == "search"
    assert TetrisSimulator().strategy_for(LeftFill()) == "gradient"
    assert TetrisSimulator(strategy="search").strategy_for(LeftFill()) == "search"


def test_select_keeps_lowest_or_highest_iou_ties_by_biou_then_order():
    ious = [0.5, 0.4, 0.4, 0.6, 0.6]
    bious = [0.5, 0.3, 0.2, 0.7, 0.7]
    assert select(True, ious, lambda i: bious[i]) == 2  # tie at 0.4: lower BIoU wins
    assert select(False, ious, lambda i: bious[i]) == 3  # tie at 0.6 and BIoU: the earlier
    # a position whose penalty exceeds 1.05 × the best's cannot become the best
    assert select(True, ious, lambda i: bious[i], [1.0, 1.06, 1.05, 0, 0]) == 2
    assert select(True, [0.5, 0.4], lambda i: 0.0, [0.0, 0.01]) == 0


def test_click_one_order_and_every_click_in_its_own_error_region(tmp_path):
    run = _tetris(tmp_path, "r", save_masks=True, max_clicks=5)
    df = run.per_click
    assert set(df["simulator"]) == {"baseline", "tetris-min", "tetris-max"}
    assert (df["group"] == 0).all() and (df["repeat"] == 1).all()
    first = df[df["click"] == 1].pivot(index=["sample_id", "instance_id"], columns="simulator",
                                       values="iou")  # fmt: skip
    assert (first["tetris-min"] <= first["baseline"]).all()
    assert (first["baseline"] <= first["tetris-max"]).all()
    assert (first["tetris-min"] < first["tetris-max"]).any()  # the search found a spread
    assert df["biou"].notna().all()  # TETRIS and its baseline always carry BIoU
    masks = {k: m for k, m in trajectory_masks(pq.read_table(run.path / "masks.parquet"))}
    from rclicks.datasets.folder import demo_dataset

    demo = {s.sample_id: s for s in demo_dataset()}
    checked = 0
    for (_, sid, iid, sim, _g, _r), after in masks.items():
        if not sim.startswith("tetris"):
            continue
        s = demo[sid]
        gt = s.instances[iid]
        rows = df[(df["sample_id"] == sid) & (df["instance_id"] == iid) & (df["simulator"] == sim)]
        rows = rows.sort_values("click")
        prev = np.zeros_like(gt)
        seen = set()
        for (_, row), pred in zip(rows.iterrows(), after):
            fn, fp = error_masks(gt, prev, s.ignore)
            region = fn if row["positive"] else fp
            assert region[row["y"], row["x"]], (sid, iid, sim, row["click"])
            assert (row["x"], row["y"]) not in seen
            seen.add((row["x"], row["y"]))
            ignore = s.ignore
            assert row["biou"] == pytest.approx(boundary_iou(gt, pred, ignore=ignore), abs=1e-12)
            prev = pred
            checked += 1
    assert checked == len(df[df["simulator"] != "baseline"])


@pytest.mark.skipif(SHARED is None, reason="real data: ../shared/datasets (CI has it)")
def test_clicks_avoid_ignore_pixels_on_grabcut(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_DATA", str(SHARED))
    run = _tetris(tmp_path, "gc", datasets=["GrabCut"], limit=2, max_clicks=3, save_masks=True,
                  simulator_options={"candidates": 4})  # fmt: skip
    from rclicks.datasets.ritm import GrabCutDataset

    s = GrabCutDataset(str(SHARED / "GrabCut"))[1]  # its boundary band is ignored
    assert s.ignore is not None and s.ignore.any()
    df = run.per_click[run.per_click["sample_id"] == s.sample_id]
    masks = dict(trajectory_masks(pq.read_table(run.path / "masks.parquet")))
    for sim in ("tetris-min", "tetris-max"):
        rows = df[df["simulator"] == sim].sort_values("click")
        iid = rows["instance_id"].iloc[0]
        after = masks[(rows["dataset"].iloc[0], s.sample_id, iid, sim, 0, 1)]
        prev = np.zeros_like(s.instances[iid])
        for (_, row), pred in zip(rows.iterrows(), after):
            fn, fp = error_masks(s.instances[row["instance_id"]], prev, s.ignore)
            assert not s.ignore[row["y"], row["x"]]
            assert (fn if row["positive"] else fp)[row["y"], row["x"]]
            prev = pred


def test_same_seed_same_rows_other_seed_other_search(tmp_path):
    a, b = _tetris(tmp_path, "a"), _tetris(tmp_path, "b", workers=2)  # whatever the workers
    c = _tetris(tmp_path, "c", seed=1)
    cols = ["sample_id", "instance_id", "simulator", "click", "x", "y", "iou", "biou"]
    assert a.per_click[cols].equals(b.per_click[cols])
    tetris = c.per_click["simulator"] != "baseline"
    assert (
        not a.per_click[cols][tetris]
        .reset_index(drop=True)
        .equals(c.per_click[cols][tetris].reset_index(drop=True))
    )
    base = a.per_click["simulator"] == "baseline"  # the baseline has no randomness
    assert a.per_click[cols][base].equals(c.per_click[cols][base])


def test_biou_column_is_null_unless_asked_for(tmp_path):
    plain = rclicks.evaluate("geodesic", ["distance"], ["demo"], limit=1, max_clicks=2, groups=2,
                             out=tmp_path / "p")  # fmt: skip
    assert plain.per_click["biou"].isna().all()
    asked = rclicks.evaluate("geodesic", ["distance"], ["demo"], limit=1, max_clicks=2, groups=2,
                             biou=True, out=tmp_path / "b")  # fmt: skip
    assert asked.per_click["biou"].notna().all()
    assert asked.info["protocol"]["biou"] is True
    cols = ["simulator", "group", "click", "x", "y", "iou"]
    assert plain.per_click[cols].equals(asked.per_click[cols])  # nothing else changes


def test_composes_with_a_density_simulator_in_one_run(tmp_path):
    run = _tetris(tmp_path, "mix", simulators=["tetris", "distance"], groups=2,
                  simulator_options={"tetris:candidates": 3})  # fmt: skip
    sims = set(run.per_click["simulator"])
    assert sims == {"baseline", "tetris-min", "tetris-max", "distance"}
    kinds = {e["simulator"]: e["kind"] for e in run.summary["results"]}
    assert kinds["distance"] == "groups" and kinds["tetris-min"] == "single"
    assert [e["simulator"] for e in run.summary["robustness"]] == ["tetris"]


def test_summary_robustness_is_the_auc_of_the_mean_curves(tmp_path):
    run = _tetris(tmp_path, "s", max_clicks=4)
    (entry,) = run.summary["robustness"]
    df = run.per_click
    k = 4
    for role, sim in (("min", "tetris-min"), ("base", "baseline"), ("max", "tetris-max")):
        for metric, col in (("IoU", "iou"), ("BIoU", "biou")):
            curve = df[df["simulator"] == sim].groupby("click")[col].mean().to_numpy()
            assert entry["curves"][metric][role] == pytest.approx(list(curve))
            assert entry[f"{metric}-AuC"][role] == pytest.approx(100 * iou_auc(curve, k))
    for metric in ("IoU", "BIoU"):
        v = entry[f"{metric}-AuC"]
        assert v["delta"] == pytest.approx(v["max"] - v["min"])
    assert entry["instances"] == df[["sample_id", "instance_id"]].drop_duplicates().shape[0]
    per = entry["per_instance"]
    assert len(per) == entry["instances"]
    assert np.mean([p["IoU-AuC min"] for p in per]) == pytest.approx(entry["IoU-AuC"]["min"])
    # the same entries from the rows alone (no run.json marks)
    again = robustness_entries({c: df[c].to_numpy() for c in df.columns}, k, ["tetris"])
    assert again[0]["IoU-AuC"] == entry["IoU-AuC"]
    assert (
        json.loads((run.path / "summary.json").read_text())["robustness"][0]["instances"]
        == (entry["instances"])
    )


def test_the_tetris_benchmark_runs_ten_clicks_and_takes_datasets(tmp_path):
    run = rclicks.evaluate("geodesic", benchmark="tetris", datasets=["demo"], limit=1,
                           simulator_options={"candidates": 2}, out=tmp_path / "b")  # fmt: skip
    assert run.info["protocol"]["max_clicks"] == 10
    assert run.per_click["click"].max() == 10
    assert run.summary["robustness"][0]["max_clicks"] == 10


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -3, "abc", 2.5, True])
def test_bad_candidates_are_refused(value):
    with pytest.raises(OptionError, match="candidates"):
        TetrisSimulator(candidates=value)


def test_bad_strategy_steps_radius_are_refused():
    with pytest.raises(OptionError, match="strategy"):
        TetrisSimulator(strategy="magic")
    with pytest.raises(OptionError, match="steps"):
        TetrisSimulator(steps="ten")
    with pytest.raises(OptionError, match="radius"):
        TetrisSimulator(radius=0)


def test_gradient_for_a_model_without_it_fails_before_any_work(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(OptionError, match=r"geodesic.*predict_differentiable.*strategy"):
        _tetris(tmp_path, "never", simulator_options={"strategy": "gradient"})
    assert not out.exists()
    cli = run_cli(["eval", "--simulator", "tetris", "--sim-opt", "strategy=gradient",
                   "--out", str(out), "--limit", "1"])  # fmt: skip
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    assert "geodesic" in cli.stderr and "strategy=gradient" in cli.stderr
    cli = run_cli(["eval", "--simulator", "tetris", "--sim-opt", "candidates=0",
                   "--out", str(out), "--limit", "1"])  # fmt: skip
    assert cli.returncode != 0 and "candidates" in cli.stderr and "Traceback" not in cli.stderr
    assert not out.exists()


def test_sigkill_then_resume_equals_an_uninterrupted_tetris_run(tmp_path):
    site = fake_distribution(
        tmp_path / "site", "rclicks-testplug", {"testplug": "rclicks_testplug"}
    )
    env = {"RCLICKS_LOAD_PLUGINS": "testplug"}
    args = ["eval", "--model", "voronoi", "--simulator", "tetris", "--limit", "4",
            "--max-clicks", "4", "--sim-opt", "candidates=5"]  # fmt: skip
    full = run_cli(args + ["--out", str(tmp_path / "full")], env, site)
    assert full.returncode == 0, full.stderr
    killed = run_cli(
        args + ["--out", str(tmp_path / "k")], {**env, "RCLICKS_TEST_DIE_AFTER": "2"}, site
    )
    assert killed.returncode == -9
    resumed = run_cli(args + ["--out", str(tmp_path / "k"), "--resume"], env, site)
    assert resumed.returncode == 0, resumed.stderr
    a = pq.read_table(tmp_path / "full" / "per_click.parquet").drop(["seconds"]).to_pydict()
    b = pq.read_table(tmp_path / "k" / "per_click.parquet").drop(["seconds"]).to_pydict()
    assert a == b and "tetris-min" in set(a["simulator"])


def test_bands_equal_boundary_iou():
    rng = np.random.default_rng(0)
    gt = np.zeros((40, 50), bool)
    gt[5:30, 8:40] = True
    ignore = np.zeros_like(gt)
    ignore[:, :4] = True
    bands = Bands(gt, ignore)
    for _ in range(5):
        pred = rng.random(gt.shape) > 0.7
        pred[10:20, 10:30] = True
        assert bands.biou(pred) == boundary_iou(gt, pred, ignore=ignore)
    assert math.isclose(bands.biou(gt), 1.0)


def test_the_leaderboard_reads_rows_with_a_null_or_missing_biou(tmp_path):
    """``biou`` is the one nullable column: a bundle may leave it empty, or (written before
    it existed) lack it; any other column with an empty value is still refused."""
    import io

    import pyarrow as pa

    from rclicks.errors import RclicksError
    from rclicks.leaderboard.validate import read_table

    run = rclicks.evaluate("geodesic", ["distance"], ["demo"], limit=1, max_clicks=2, groups=1,
                           out=tmp_path / "r")  # fmt: skip
    table = pq.read_table(run.path / "per_click.parquet")

    def as_bytes(t: pa.Table) -> bytes:
        buf = io.BytesIO()
        pq.write_table(t, buf)
        return buf.getvalue()

    got = read_table(as_bytes(table))
    assert got.column("biou").null_count == table.num_rows
    old = read_table(as_bytes(table.drop_columns(["biou"])))
    assert old.column_names == table.column_names and old.column("biou").null_count == old.num_rows
    iou = table.column("iou").to_pylist()
    iou[0] = None
    holed = table.set_column(table.schema.get_field_index("iou"), "iou", pa.array(iou))
    with pytest.raises(RclicksError, match="'iou' has empty values"):
        read_table(as_bytes(holed))


def test_differentiable_inputs_are_checked():
    from rclicks.protocols import point_labels

    assert point_labels(np.zeros((2, 2)), [1, 0]) == [True, False]
    for points, labels in ((np.zeros((2, 3)), [True, True]), (np.zeros((2, 2)), [True])):
        with pytest.raises(ValueError, match="N×2"):
            point_labels(points, labels)
    with pytest.raises(ValueError, match="at least one click"):
        point_labels(np.zeros((0, 2)), [])
