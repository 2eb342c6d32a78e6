"""``predict_differentiable`` of the tiny random-weight HQ-SAM (the TETRIS white-box gradient):
``rclicks.testing.check_differentiable`` (logits = ``predict``'s map after every click, a
finite gradient at every click that agrees with finite differences, nothing changed), the
state's part at click 3, the HQ mask alone."""

import numpy as np
import pytest
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
    check_differentiable(tiny, parameters=tiny.sam.parameters())


def test_click_three_is_predicted_with_the_previous_logits(tiny, emb):
    probs, states = predict_trajectory(tiny, emb, CLICKS)
    assert states[0] is None and states[2] is not None
    assert not np.allclose(tiny.predict(emb, list(CLICKS), None)[0], probs[2], atol=1e-3)


def test_the_hq_mask_alone_gives_the_map_of_predict(tiny, emb, monkeypatch):
    monkeypatch.setattr(tiny, "hq_token_only", True)
    differentiable_matches_predict(tiny, emb)
