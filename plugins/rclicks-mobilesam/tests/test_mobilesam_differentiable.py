"""``predict_differentiable`` of the tiny random-weight MobileSAM (the TETRIS white-box gradient):
``rclicks.testing.check_differentiable`` (logits = ``predict``'s map after every click, a
finite gradient at every click that agrees with finite differences, nothing changed), the
state's part at click 3, no gradient for the weights, without the mask input."""

import numpy as np
import pytest
import torch
from rclicks.testing import (
    CLICKS,
    check_differentiable,
    differentiable_matches_predict,
    gradient_image,
    predict_trajectory,
)


@pytest.fixture(scope="module")
def emb(tiny):
    return tiny.encode(gradient_image())


def test_predict_differentiable_conforms(tiny):
    check_differentiable(tiny)


def test_the_state_matters_and_only_the_clicks_get_a_gradient(tiny, emb):
    probs, states = predict_trajectory(tiny, emb, CLICKS)
    assert states[0] is None  # click 3 is predicted with the previous logits as mask input
    assert not np.allclose(tiny.predict(emb, list(CLICKS), None)[0], probs[2], atol=1e-3)
    state, features = states[2], emb.features.clone()
    before = state.clone()
    pts = torch.tensor([[float(c.x), float(c.y)] for c in CLICKS], requires_grad=True)
    labels = [c.positive for c in CLICKS]
    tiny.predict_differentiable(emb, pts, labels, state).sigmoid().sum().backward()
    assert torch.equal(state, before) and not state.requires_grad and state.grad is None
    assert torch.equal(emb.features, features)
    assert all(p.grad is None and not p.requires_grad for p in tiny.sam.parameters())


def test_the_map_of_predict_without_the_mask_input(tiny, emb, monkeypatch):
    monkeypatch.setattr(tiny, "prev_mask", "never")
    differentiable_matches_predict(tiny, emb)
