"""``predict_differentiable`` of the tiny random-weight SAM 2 (the TETRIS white-box gradient):
``rclicks.testing.check_differentiable`` (logits = ``predict``'s map after every click, a
finite gradient at every click that agrees with finite differences, nothing changed), the
state's part at click 3, no gradient for the weights, every option and a TETRIS run end to
end (``check_tetris``)."""

import numpy as np
import pytest
import torch
from rclicks_sam2.model import Sam2Model

from rclicks.testing import (
    CLICKS,
    check_differentiable,
    check_tetris,
    differentiable_matches_predict,
    gradient_image,
    predict_trajectory,
)


@pytest.fixture(scope="module")
def emb(tiny_model):
    return tiny_model.encode(gradient_image())


def test_predict_differentiable_conforms(tiny_model):
    check_differentiable(tiny_model)


def test_the_state_matters_and_only_the_clicks_get_a_gradient(tiny_model, emb):
    probs, states = predict_trajectory(tiny_model, emb, CLICKS)
    assert states[0] is None  # click 3 is predicted with the previous logits as mask input
    assert not np.allclose(tiny_model.predict(emb, list(CLICKS), None)[0], probs[2], atol=1e-3)
    state, features = states[2], emb.image_embed.clone()
    before = state.clone()
    pts = torch.tensor([[float(c.x), float(c.y)] for c in CLICKS], requires_grad=True)
    labels = [c.positive for c in CLICKS]
    tiny_model.predict_differentiable(emb, pts, labels, state).sigmoid().sum().backward()
    assert torch.equal(state, before) and not state.requires_grad and state.grad is None
    assert torch.equal(emb.image_embed, features)
    assert all(p.grad is None and not p.requires_grad for p in tiny_model.sam.parameters())


@pytest.mark.parametrize(
    "options",
    [{"prev_mask": "always"}, {"prev_mask": "never"}, {"multimask": "always-best"}],
    ids=["prev_mask=always", "prev_mask=never", "multimask=always-best"],
)
def test_every_option_gives_the_map_of_predict(tiny_model, emb, options):
    model = Sam2Model(tiny_model.sam, variant=tiny_model.variant, device="cpu", **options)
    differentiable_matches_predict(model, emb)


def test_tetris_runs_the_gradient_end_to_end(tiny_model, tmp_path):
    check_tetris(tiny_model, tmp_path)
