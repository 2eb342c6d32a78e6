"""One click of a TETRIS trajectory (CONTRACT §9): which positions are evaluated, and which
of them is kept.

:func:`search_positions` (``strategy=search``) draws them at random from the allowed region;
:func:`gradient_positions` (``strategy=gradient``) follows Adam on the click's continuous
position through the model's ``predict_differentiable``. Either way the engine then decodes
every evaluated position with the model's own ``predict`` / ``predict_batch`` (so a kept
click's IoU is exactly what the trajectory gets) and :func:`select` keeps the lowest
(``min``) or highest (``max``) IoU, ties to the lower / higher boundary IoU, then to the
earlier position; the candidate (the baseline click) comes first and is always evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rclicks.metrics.segmentation import band_width, boundary
from rclicks.types import Click

#: an iterate of the gradient search may become the best only if its location penalty is at
#: most this multiple of the best's
PENALTY_SLACK = 1.05


def step_size(shape: tuple[int, int]) -> float:
    """Adam's learning rate in pixels: 5 × diag / (400·√2), diag the image diagonal."""
    return 5.0 * math.hypot(shape[0], shape[1]) / (400.0 * math.sqrt(2.0))


class Bands:
    """Boundary IoU (Cheng et al. 2021, dilation 0.02 × the image diagonal) against one
    instance, its ground-truth band computed once."""

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None) -> None:
        gt = np.asarray(gt, dtype=bool)
        self.width = band_width(gt.shape)
        self.keep = None if ignore is None else ~np.asarray(ignore, dtype=bool)
        band = boundary(gt, width=self.width)
        self.gt_band = band if self.keep is None else band & self.keep
        self.gt_count = int(np.count_nonzero(self.gt_band))

    def biou(self, pred: np.ndarray) -> float:
        """The boundary IoU of the predicted mask ``pred`` (NaN when both bands are empty)."""
        band = boundary(pred, width=self.width)
        if self.keep is not None:
            band &= self.keep
        inter = int(np.count_nonzero(band & self.gt_band))
        union = self.gt_count + int(np.count_nonzero(band)) - inter
        return inter / union if union else float("nan")


def allowed_region(region_idx: np.ndarray, clicked: np.ndarray) -> np.ndarray:
    """Flat indices of the allowed pixels: the chosen side's error region (ignore already
    excluded) without the clicked pixels, ascending."""
    if clicked.size == 0:
        return region_idx
    return region_idx[~np.isin(region_idx, clicked)]


def search_positions(
    candidate: int, allowed: np.ndarray, k: int, rng: np.random.Generator
) -> list[int]:
    """The candidate, then ``k`` distinct other allowed pixels drawn with ``rng`` (all of
    them when fewer are left), in drawing order."""
    others = allowed[allowed != candidate]
    if others.size <= k:
        drawn = rng.permutation(others)
    else:
        drawn = rng.choice(others, size=k, replace=False)
    return [int(candidate), *(int(v) for v in drawn)]


@dataclass
class Evaluated:
    """The positions one adversarial click evaluates (flat indices, the candidate first), the
    gradient search's location penalty of each (at the first iterate that reached it;
    ``None`` for the random search) and the model seconds the search itself spent (in
    ``predict_differentiable`` and its backward pass)."""

    positions: list[int]
    penalties: list[float] | None
    seconds: float = 0.0


def gradient_positions(
    model: Any,
    embedding: Any,
    clicks: Sequence[Click],
    state: Any,
    candidate: Click,
    allowed: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None,
    minimise: bool,
    steps: int,
    radius: float,
    clock: Callable[[], float],
) -> Evaluated:
    """The positions a white-box search visits from ``candidate`` (the new click of a
    trajectory whose earlier clicks are ``clicks`` and model state ``state``).

    Adam (learning rate :func:`step_size`) on the continuous ``(x, y)``; loss = location
    penalty ± soft Dice / 1000 (+ to minimise the IoU, − to maximise it), the penalty being
    the mean, over a soft disk of ``radius`` px at the click, of each pixel's distance to the
    allowed region. ``steps`` steps give ``steps + 1`` iterates; each is rounded to the
    nearest pixel and kept when that pixel is allowed and not reached before. The search stays
    in a window around the candidate that Adam's steps cannot leave; distances to the allowed
    region are measured inside it."""
    import torch
    from scipy import ndimage

    h, w = gt.shape
    lr = step_size((h, w))
    half = int(math.ceil((steps + 1) * lr + radius + 2))
    y0, y1 = max(0, candidate.y - half), min(h, candidate.y + half + 1)
    x0, x1 = max(0, candidate.x - half), min(w, candidate.x + half + 1)
    lo, hi = np.searchsorted(allowed, [y0 * w, y1 * w])  # allowed is ascending: its rows
    ay, ax = np.divmod(allowed[lo:hi], w)
    inside = (ay >= y0) & (ay < y1) & (ax >= x0) & (ax < x1)
    window = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    window[ay[inside] - y0, ax[inside] - x0] = True
    dist = torch.from_numpy(ndimage.distance_transform_edt(~window).astype(np.float32))
    reach = int(math.ceil(radius)) + 1  # the disk's pixels lie within this of its centre
    target = torch.from_numpy(np.asarray(gt, dtype=np.float32))
    keep = None if valid is None else torch.from_numpy(np.asarray(valid, dtype=np.float32))
    if keep is not None:
        target = target * keep
    target_sum = target.sum()

    def penalty(p: torch.Tensor) -> torch.Tensor:
        # only the patch of the window that the disk can touch
        cx, cy = (int(math.floor(float(v))) for v in p.detach())
        py0, py1 = max(y0, cy - reach), min(y1, cy + reach + 2)
        px0, px1 = max(x0, cx - reach), min(x1, cx + reach + 2)
        gy = torch.arange(py0, py1, dtype=torch.float32)[:, None]
        gx = torch.arange(px0, px1, dtype=torch.float32)[None, :]
        d = torch.sqrt((gx - p[0]) ** 2 + (gy - p[1]) ** 2 + 1e-12)
        disk = torch.clamp(radius + 0.5 - d, 0.0, 1.0)  # anti-aliased disk
        patch = dist[py0 - y0 : py1 - y0, px0 - x0 : px1 - x0]
        return (disk * patch).sum() / disk.sum().clamp_min(1e-6)

    earlier = torch.tensor([[c.x, c.y] for c in clicks], dtype=torch.float32).reshape(-1, 2)
    labels = [c.positive for c in clicks] + [candidate.positive]
    p = torch.tensor([float(candidate.x), float(candidate.y)], requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr)
    sign = 1.0 if minimise else -1.0
    positions: list[int] = []
    penalties: list[float] = []
    seconds = 0.0

    def visit(pen: float) -> None:
        x, y = (math.floor(float(v) + 0.5) for v in p.detach())
        flat = y * w + x
        ok = y0 <= y < y1 and x0 <= x < x1 and bool(window[y - y0, x - x0])
        if ok and flat not in positions:
            positions.append(flat)
            penalties.append(pen)

    for step in range(steps + 1):
        with torch.enable_grad():
            pen = penalty(p)
            if step == steps:  # the last iterate is evaluated, not followed
                visit(float(pen.detach()))
                break
            t0 = clock()
            logits = model.predict_differentiable(
                embedding, torch.cat([earlier, p[None]]), labels, state
            )
            prob = torch.sigmoid(logits.float())
            if keep is not None:
                prob = prob * keep
            dice = 2.0 * (prob * target).sum() / (prob.sum() + target_sum).clamp_min(1e-6)
            loss = pen + sign * dice / 1000.0
            opt.zero_grad()
            loss.backward()
            seconds += clock() - t0
        visit(float(pen.detach()))
        opt.step()
        with torch.no_grad():  # stay in the window (and the image)
            p[0].clamp_(float(x0), float(x1 - 1))
            p[1].clamp_(float(y0), float(y1 - 1))
    if not positions or positions[0] != candidate.y * w + candidate.x:
        # the candidate always comes first (it is outside the allowed set only when the
        # region is empty, where the baseline click is all there is)
        positions.insert(0, candidate.y * w + candidate.x)
        penalties.insert(0, 0.0)
    return Evaluated(positions, penalties, seconds)


def select(
    minimise: bool,
    ious: Sequence[float],
    biou: Callable[[int], float],
    penalties: Sequence[float] | None = None,
) -> int:
    """The index of the kept position: the lowest (``minimise``) or highest IoU, ties to the
    lower / higher boundary IoU (``biou(i)``, asked only for ties), then to the earlier one.
    With ``penalties`` (the gradient search), a position may replace the best so far only if
    its penalty is at most :data:`PENALTY_SLACK` × the best's."""
    sign = -1.0 if minimise else 1.0
    best = 0
    for i in range(1, len(ious)):
        if penalties is not None and penalties[i] > PENALTY_SLACK * penalties[best]:
            continue
        a, b = sign * ious[i], sign * ious[best]
        if a > b or (a == b and _nan_low(sign * biou(i)) > _nan_low(sign * biou(best))):
            best = i
    return best


def _nan_low(v: float) -> float:
    return -math.inf if math.isnan(v) else v


def evaluated_positions(
    strategy: str,
    sim: Any,
    model: Any,
    embedding: Any,
    earlier: Sequence[Click],
    state: Any,
    candidate: Click,
    region_idx: np.ndarray,
    clicked: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None,
    minimise: bool,
    rng: np.random.Generator,
    clock: Callable[[], float],
) -> Evaluated:
    """Every position one click of a TETRIS trajectory evaluates (the engine and
    ``show-clicks`` both call this): ``strategy`` ``search`` or ``gradient``, ``sim`` the
    TETRIS simulator (its ``candidates``, ``steps``, ``radius``), ``earlier`` / ``state`` the
    trajectory so far, ``candidate`` its baseline click, ``region_idx`` the chosen side's
    error region and ``clicked`` the flat indices of its clicks."""
    w = gt.shape[1]
    allowed = allowed_region(region_idx, clicked)
    flat = candidate.y * w + candidate.x
    if strategy == "search":
        return Evaluated(search_positions(flat, allowed, sim.candidates, rng), None)
    if allowed.size == 0:
        return Evaluated([flat], [0.0])
    return gradient_positions(
        model,
        embedding,
        earlier,
        state,
        candidate,
        allowed,
        gt,
        valid,
        minimise,
        sim.steps,
        sim.radius,
        clock,
    )


def keep_position(
    minimise: bool,
    ious: Sequence[float],
    masks: Sequence[np.ndarray],
    bands: Bands,
    penalties: Sequence[float] | None = None,
) -> int:
    """:func:`select` over decoded positions: ``ious`` and predicted ``masks`` in evaluation
    order; the boundary IoU is computed only for the positions that tie on IoU."""
    cache: dict[int, float] = {}

    def biou(i: int) -> float:
        if i not in cache:
            cache[i] = bands.biou(masks[i])
        return cache[i]

    return select(minimise, ious, biou, penalties)
