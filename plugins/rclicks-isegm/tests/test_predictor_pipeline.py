"""The reference inference path (zoom-in, flip, sigmoid, paste-back) against the reference
loop's own numbers: the toy-network cases of ``../shared/fixtures/isegm/pipeline_toy`` (README,
"Pipeline toy cases"), step by step with the reference clicks and then through ``rclicks
evaluate``, whose baseline clicker must choose the same 20 clicks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fixture_weights import FIXTURES
from rclicks.metrics import boundary_iou
from toy_network import ToyNetwork

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rclicks_isegm.model import IsegmModel  # noqa: E402
from rclicks_isegm.predictor import Click, ZoomIn, new_state, predict_steps  # noqa: E402

pytestmark = pytest.mark.skipif(
    FIXTURES is None, reason="../shared/fixtures/isegm is not beside this clone (CI has it)"
)

CASES = {
    "ritm": ZoomIn(400, skip_clicks=1),
    "simpleclick": ZoomIn((448, 448), skip_clicks=-1),
}


def _case(name: str):
    return np.load(FIXTURES / "pipeline_toy" / f"{name}_pipeline_grabcut_llama.npz")


def _iou(pred: np.ndarray, gt: np.ndarray) -> float:
    valid, obj = gt != -1, gt == 1
    return float((pred & obj & valid).sum() / ((pred | obj) & valid).sum())


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_click_crops_and_predicts_as_the_reference(name):
    z = _case(name)
    image = torch.from_numpy(z["image_rgb_u8"]).permute(2, 0, 1)[None].float().div(255)
    gt = z["gt_i8"]
    state = new_state(*gt.shape)
    clicks = []
    net = ToyNetwork()
    for k in range(20):
        x, y, positive = (int(v) for v in z["clicks_xyp"][k])
        clicks.append(Click(y, x, bool(positive), k))
        (prob,) = predict_steps(
            lambda a, b: net(a, b)["instances"], image, [(state, clicks)], CASES[name]
        )
        crop = state.last_crop or (-1, -1, -1, -1)
        assert crop == tuple(int(v) for v in z["crop_used"][k]), f"click {k + 1}"
        h, w = z["net_input_hw"][k]
        assert tuple(state.last_points.shape) == (2, state.last_points.shape[1], 3)
        pred = (prob[0, 0] > 0.49).numpy()
        assert _iou(pred, gt) == pytest.approx(z["iou"][k], abs=1e-4), f"click {k + 1}"
        biou = boundary_iou(gt == 1, pred, ignore=gt == -1)  # rclicks' BIoU = the reference's
        assert biou == pytest.approx(z["boundary_iou"][k], abs=1e-9), f"click {k + 1}"
        assert int(pred.sum()) == int(z["fg_count"][k])
        assert float(prob.double().sum()) == pytest.approx(z["prob_sum"][k], rel=1e-5)
        if k + 1 in (1, 5, 20):
            stored = z[f"prob_click{k + 1:02d}_f16"].astype(np.float32)
            assert np.abs(prob[0, 0].numpy() - stored).max() < 2e-3  # README: toy maps 2e-3


class LlamaDataset:
    """GrabCut llama exactly as the reference loader decoded it (image, object, ignore)."""

    def __init__(self, z) -> None:
        self.z = z
        self.name = "GrabCut-llama"

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        from rclicks.types import Sample

        gt = self.z["gt_i8"]
        yield Sample("llama", self.z["image_rgb_u8"], {"1": gt == 1}, gt == -1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rclicks_eval_chooses_the_reference_clicks(name, tmp_path):
    import rclicks

    z = _case(name)
    model = IsegmModel(ToyNetwork(), CASES[name])
    run = rclicks.evaluate(
        model, "baseline", LlamaDataset(z), max_clicks=20, groups=1, out=tmp_path / "run"
    )
    rows = run.per_click.sort_values("click")
    assert list(rows["x"]) == [int(v) for v in z["clicks_xyp"][:, 0]]
    assert list(rows["y"]) == [int(v) for v in z["clicks_xyp"][:, 1]]
    assert list(rows["positive"]) == [bool(v) for v in z["clicks_xyp"][:, 2]]
    np.testing.assert_allclose(rows["iou"].to_numpy(), z["iou"], atol=1e-4)


def test_batched_trajectories_equal_one_by_one():
    """Several trajectories in one step (different click counts and crops) give the maps of
    running each alone."""
    z = _case("ritm")
    model = IsegmModel(ToyNetwork(), CASES["ritm"])
    emb = model.encode(z["image_rgb_u8"])
    from rclicks.types import Click as RClick

    clicks = [RClick(int(x), int(y), bool(p)) for x, y, p in z["clicks_xyp"]]
    starts = (0, 2, 6)  # three trajectories, 1/3/7 clicks at the first step
    pairs = IsegmModel(ToyNetwork(), CASES["ritm"], per_call=2)  # at most 2 per network call
    states_one, states_all, states_two = [None] * 3, [None] * 3, [None] * 3
    for k in range(1, 4):  # three steps: the states carry crops and previous maps
        step = [clicks[: s + k] for s in starts]
        alone = [model.predict(emb, c, st) for c, st in zip(step, states_one)]
        probs, states_all = model.predict_batch(emb, step, states_all)
        by_two, states_two = pairs.predict_batch(emb, step, states_two)
        states_one = [st for _, st in alone]
        for (p1, _), p2, p3 in zip(alone, probs, by_two):
            np.testing.assert_allclose(p1, p2, atol=1e-5)
            np.testing.assert_allclose(p1, p3, atol=1e-5)
    assert {st.last_crop is None for st in states_all} == {False}  # the later ones were cropped


def test_cfr_cascade_runs_the_first_click_twice_and_later_ones_once():
    """CFR-ICL (``cascade_step = cf_n + 1 = 2`` on the first click, ``cfr.py``): click 1 is
    the reference step applied twice, the second pass with the first pass's map as its
    previous mask; later clicks are single steps."""
    z = _case("simpleclick")
    zoom = CASES["simpleclick"]
    net = ToyNetwork()
    cfr = IsegmModel(net, zoom, cascade=2, cascade_clicks=1)
    emb = cfr.encode(z["image_rgb_u8"])
    from rclicks.types import Click as RClick

    clicks = [RClick(int(x), int(y), bool(p)) for x, y, p in z["clicks_xyp"][:3]]
    logits = lambda a, b: net(a, b)["instances"]  # noqa: E731
    state = new_state(*z["gt_i8"].shape)
    mine = [Click(c.y, c.x, c.positive, i) for i, c in enumerate(clicks)]
    (once,) = predict_steps(logits, emb.image, [(state, mine[:1])], zoom)
    (twice,) = predict_steps(logits, emb.image, [(state, mine[:1])], zoom)
    prob, st = cfr.predict(emb, clicks[:1], None)
    np.testing.assert_array_equal(prob, twice[0, 0].numpy())
    assert np.abs(prob - once[0, 0].numpy()).max() > 1e-3  # the second pass changed it
    (third,) = predict_steps(logits, emb.image, [(state, mine[:2])], zoom)
    prob2, _ = cfr.predict(emb, clicks[:2], st)
    np.testing.assert_array_equal(prob2, third[0, 0].numpy())
