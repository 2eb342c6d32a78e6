"""``predict_differentiable`` of the tiny random-weight SAM 2 (the TETRIS white-box gradient):
``rclicks.testing.check_differentiable`` (logits = ``predict``'s map after every click, a
finite gradient at every click that agrees with finite differences, nothing changed), the
state's part at click 3, every option and a TETRIS run end to
end (``check_tetris``)."""

import numpy as np
import pytest
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
    check_differentiable(tiny_model, parameters=tiny_model.sam.parameters())


def test_click_three_is_predicted_with_the_previous_logits(tiny_model, emb):
    probs, states = predict_trajectory(tiny_model, emb, CLICKS)
    assert states[0] is None and states[2] is not None
    assert not np.allclose(tiny_model.predict(emb, list(CLICKS), None)[0], probs[2], atol=1e-3)


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
