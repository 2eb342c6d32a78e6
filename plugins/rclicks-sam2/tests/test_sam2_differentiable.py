"""``predict_differentiable`` (the TETRIS white-box gradient): ``sigmoid`` of its logits is the
map of ``predict`` for the same clicks and state (click 1 without, click 3 with the mask input),
the gradient reaches every click position (and agrees with finite differences), and neither the
state nor the embedding changes."""

import numpy as np
import pytest
import torch
from rclicks_sam2.model import Sam2Model

from rclicks import Click
from rclicks.protocols import DifferentiablePredictor

H, W = 50, 80  # not square: x and y must not be swapped
# click 3 (max(#positive, #negative) = 2) feeds the previous low-res logits back
CLICKS = [Click(60, 20, True), Click(15, 40, False), Click(25, 10, False)]
LABELS = [c.positive for c in CLICKS]


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = (230, 40, 40)
    return img


def _points(clicks):
    xy = [[float(c.x), float(c.y)] for c in clicks]
    return torch.tensor(xy, dtype=torch.float32, requires_grad=True)


def _trajectory(model, emb):
    """``predict`` click by click: the maps and the state each click was predicted from."""
    probs, states, state = [], [], None
    for k in range(1, len(CLICKS) + 1):
        states.append(state)
        prob, state = model.predict(emb, CLICKS[:k], state)
        probs.append(prob)
    return probs, states


@pytest.fixture(scope="module")
def emb(tiny_model):
    return tiny_model.encode(_image(H, W))


def test_the_model_is_a_differentiable_predictor(tiny_model):
    assert isinstance(tiny_model, DifferentiablePredictor)


@pytest.mark.parametrize("k", [1, 3])
def test_sigmoid_of_the_logits_is_the_map_of_predict(tiny_model, emb, k):
    probs, states = _trajectory(tiny_model, emb)
    state = states[k - 1]
    assert (state is None) == (k == 1)
    if k == 3:  # the state matters: the previous logits are the mask input
        assert not np.allclose(tiny_model.predict(emb, CLICKS, None)[0], probs[2], atol=1e-3)
    pts = _points(CLICKS[:k])
    logits = tiny_model.predict_differentiable(emb, pts, LABELS[:k], state)
    assert isinstance(logits, torch.Tensor) and tuple(logits.shape) == (H, W)
    prob = torch.sigmoid(logits).detach().cpu().numpy()
    np.testing.assert_allclose(prob, probs[k - 1], rtol=0, atol=1e-5)
    assert np.array_equal(prob > tiny_model.threshold, probs[k - 1] > tiny_model.threshold)


@pytest.mark.parametrize("k", [1, 3])
def test_the_gradient_reaches_every_click(tiny_model, emb, k):
    _, states = _trajectory(tiny_model, emb)
    pts = _points(CLICKS[:k])
    logits = tiny_model.predict_differentiable(emb, pts, LABELS[:k], states[k - 1])
    logits.sigmoid().sum().backward()
    assert pts.grad is not None and torch.isfinite(pts.grad).all()
    assert (pts.grad.abs().sum(dim=1) > 0).all()
    assert all(p.grad is None and not p.requires_grad for p in tiny_model.sam.parameters())


def test_the_gradient_agrees_with_finite_differences(tiny_model, emb):
    """A directional derivative at fractional positions, all three clicks moved at once."""
    _, states = _trajectory(tiny_model, emb)
    base = _points(CLICKS).detach() + 0.3
    weight = torch.linspace(-1.0, 1.0, W).expand(H, W)  # columns weighted: x matters

    def f(p):
        return (
            tiny_model.predict_differentiable(emb, p, LABELS, states[2]).sigmoid() * weight
        ).sum()

    p = base.clone().requires_grad_(True)
    f(p).backward()
    v = p.grad.sign()  # every coordinate moves, none cancels another
    step = 0.02  # the random networks' maps bend within a fraction of a pixel
    with torch.no_grad():
        fd = (f(base + step * v) - f(base - step * v)) / (2 * step)
    assert float((p.grad * v).sum()) == pytest.approx(float(fd), rel=0.05)


def test_the_state_and_the_embedding_are_not_changed(tiny_model, emb):
    probs, states = _trajectory(tiny_model, emb)
    state = states[2]
    before = state.clone()
    features = emb.image_embed.clone()
    pts = _points(CLICKS)
    tiny_model.predict_differentiable(emb, pts, LABELS, state).sigmoid().sum().backward()
    assert torch.equal(state, before) and not state.requires_grad and state.grad is None
    assert torch.equal(emb.image_embed, features)
    again, _ = tiny_model.predict(emb, CLICKS, state)
    np.testing.assert_array_equal(again, probs[2])


@pytest.mark.parametrize(
    "options",
    [{"prev_mask": "always"}, {"prev_mask": "never"}, {"multimask": "always-best"}],
    ids=["prev_mask=always", "prev_mask=never", "multimask=always-best"],
)
def test_every_option_gives_the_map_of_predict(tiny_model, emb, options):
    model = Sam2Model(tiny_model.sam, variant=tiny_model.variant, device="cpu", **options)
    probs, states = _trajectory(model, emb)
    for k in range(1, len(CLICKS) + 1):
        pts = _points(CLICKS[:k])
        logits = model.predict_differentiable(emb, pts, LABELS[:k], states[k - 1])
        prob = torch.sigmoid(logits).detach().numpy()
        np.testing.assert_allclose(prob, probs[k - 1], rtol=0, atol=1e-5)
