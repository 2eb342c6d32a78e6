"""Checks for a model's optional ``predict_differentiable`` (the TETRIS white-box gradient,
CONTRACT §3 / §9), for plugin test suites (:func:`rclicks.testing.check_tetris` runs TETRIS
with it). torch is imported only when a check runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rclicks.types import Click

#: a 50×80 image (not square: x and y must not be swapped) and three clicks, the third after
#: two negatives (SAM-family models feed the previous logits back from there)
SHAPE = (50, 80)
CLICKS = (Click(60, 20, True), Click(15, 40, False), Click(25, 10, False))


def gradient_image(shape: tuple[int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    """A random RGB image with one red block (something for a model to segment)."""
    h, w = shape
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = (230, 40, 40)
    return img


def _points(clicks: Sequence[Click], shift: float = 0.0):
    import torch

    xy = [[float(c.x) + shift, float(c.y) + shift] for c in clicks]
    return torch.tensor(xy, dtype=torch.float32, requires_grad=True)


def predict_trajectory(model: Any, embedding: Any, clicks: Sequence[Click]):
    """``predict`` click by click: the maps after each click and the state each click was
    predicted from (``None`` for the first)."""
    probs, states, state = [], [], None
    for k in range(1, len(clicks) + 1):
        states.append(state)
        prob, state = model.predict(embedding, list(clicks[:k]), state)
        probs.append(np.asarray(prob))
    return probs, states


def differentiable_matches_predict(
    model: Any, embedding: Any, clicks: Sequence[Click] = CLICKS, atol: float = 1e-5
) -> float:
    """Assert that ``sigmoid(predict_differentiable(...))`` is ``predict``'s map after every
    click of ``clicks`` (same state), within ``atol`` and with the same foreground at the
    model's threshold. Returns the largest difference."""
    import torch

    probs, states = predict_trajectory(model, embedding, clicks)
    worst = 0.0
    for k in range(1, len(clicks) + 1):
        labels = [c.positive for c in clicks[:k]]
        logits = model.predict_differentiable(embedding, _points(clicks[:k]), labels, states[k - 1])
        assert isinstance(logits, torch.Tensor), f"click {k}: logits are {type(logits).__name__}"
        assert tuple(logits.shape) == probs[k - 1].shape, (
            f"click {k}: logits of shape {tuple(logits.shape)}, predict gives {probs[k - 1].shape}"
        )
        prob = torch.sigmoid(logits.float()).detach().cpu().numpy()
        diff = float(np.abs(prob - probs[k - 1]).max())
        assert diff <= atol, f"click {k}: sigmoid(logits) differs from predict by {diff}"
        threshold = float(getattr(model, "threshold", 0.5))
        assert np.array_equal(prob > threshold, probs[k - 1] > threshold), f"click {k}: masks"
        worst = max(worst, diff)
    return worst


def check_differentiable(
    model: Any,
    image: np.ndarray | None = None,
    clicks: Sequence[Click] = CLICKS,
    atol: float = 1e-5,
    step: float = 0.02,
    rel: float = 0.05,
    parameters: Any = None,
) -> None:
    """Everything the engine relies on in ``model.predict_differentiable``:

    - the model is a :class:`rclicks.protocols.DifferentiablePredictor`;
    - the logits give ``predict``'s map after every click (:func:`differentiable_matches_predict`);
    - the gradient of the map with respect to the points is finite and non-zero at every click,
      and (all clicks moved at once, at fractional positions) agrees with central finite
      differences of step ``step`` px within ``rel``;
    - the call changes neither the state (compared as it was, when it is a tensor or an
      array) nor the embedding: ``predict`` afterwards gives the same map;
    - none of ``parameters`` (e.g. ``model.net.parameters()``), when given, needs or gets a
      gradient.
    """
    import torch

    from rclicks.protocols import DifferentiablePredictor

    assert isinstance(model, DifferentiablePredictor), f"{type(model).__name__}: no gradient"
    image = gradient_image() if image is None else image
    emb = model.encode(image)
    differentiable_matches_predict(model, emb, clicks, atol)
    probs, states = predict_trajectory(model, emb, clicks)
    labels = [c.positive for c in clicks]
    h, w = probs[-1].shape
    for k in range(1, len(clicks) + 1):
        pts = _points(clicks[:k])
        out = model.predict_differentiable(emb, pts, labels[:k], states[k - 1])
        out.sigmoid().sum().backward()
        assert pts.grad is not None and torch.isfinite(pts.grad).all(), f"click {k}: gradient"
        assert (pts.grad.abs().sum(dim=1) > 0).all(), f"click {k}: a click gets no gradient"
    weight = torch.linspace(-1.0, 1.0, w).expand(h, w)  # columns weighted: x matters

    def f(p):
        return (model.predict_differentiable(emb, p, labels, states[-1]).sigmoid() * weight).sum()

    base = _points(clicks, 0.3).detach()
    p = base.clone().requires_grad_(True)
    f(p).backward()
    v = p.grad.sign()  # every coordinate moves, none cancels another
    with torch.no_grad():
        fd = float((f(base + step * v) - f(base - step * v)) / (2 * step))
    got = float((p.grad * v).sum())
    assert abs(got - fd) <= rel * abs(fd), f"gradient {got} vs finite differences {fd}"
    state = states[-1]
    before = state.clone() if isinstance(state, torch.Tensor) else np.copy(state)
    model.predict_differentiable(emb, _points(clicks), labels, state).sigmoid().sum().backward()
    if isinstance(state, torch.Tensor):
        assert torch.equal(state, before) and state.grad is None, "the state was changed"
    elif isinstance(state, np.ndarray):
        assert np.array_equal(state, before), "the state was changed"
    again, _ = model.predict(emb, list(clicks), state)
    assert np.array_equal(np.asarray(again), probs[-1]), "the state or embedding was changed"
    for p in parameters or ():
        assert p.grad is None and not p.requires_grad, "a weight needs or got a gradient"
