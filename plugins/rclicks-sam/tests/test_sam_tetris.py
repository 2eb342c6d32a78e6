"""TETRIS end to end with the tiny random-weight SAM (CONTRACT §9): ``strategy=auto``
takes the gradient through ``predict_differentiable``; at click 1 the three trajectories
start from the same empty prediction and ``IoU(tetris-min) <= IoU(baseline) <=
IoU(tetris-max)`` exactly; every click lies in its own trajectory's error region; the same
seed gives the same rows."""

import numpy as np
import pyarrow.parquet as pq
import rclicks
from rclicks.clicks import error_masks
from rclicks.runs.masks import trajectory_masks
from rclicks.testing import TinyDataset


def _run(model, out):
    data = TinyDataset(n=1, size=(72, 96), seed=4)
    return rclicks.evaluate(model, "tetris", data, max_clicks=2, save_masks=True, out=out)


def test_tetris_gradient_orders_click_one_and_keeps_clicks_in_their_regions(tiny, tmp_path):
    run = _run(tiny, tmp_path / "a")
    assert run.info["simulators"][0]["strategy"] == "gradient"
    df = run.per_click
    first = df[df["click"] == 1].pivot(
        index=["sample_id", "instance_id"], columns="simulator", values="iou"
    )
    assert (first["tetris-min"] <= first["baseline"]).all()
    assert (first["baseline"] <= first["tetris-max"]).all()
    assert df["biou"].notna().all()
    sample = next(iter(TinyDataset(n=1, size=(72, 96), seed=4)))
    masks = dict(trajectory_masks(pq.read_table(run.path / "masks.parquet")))
    for (_, _sid, iid, sim, _g, _r), after in masks.items():
        gt = sample.instances[iid]
        rows = df[(df["instance_id"] == iid) & (df["simulator"] == sim)].sort_values("click")
        prev = np.zeros_like(gt)
        for (_, row), pred in zip(rows.iterrows(), after):
            fn, fp = error_masks(gt, prev, sample.ignore)
            assert (fn if row["positive"] else fp)[row["y"], row["x"]], (sim, row["click"])
            prev = pred
    again = _run(tiny, tmp_path / "b")
    cols = ["simulator", "instance_id", "click", "x", "y", "iou", "biou"]
    assert again.per_click[cols].equals(df[cols])
