"""The reference inference path of RITM / SimpleClick as the RClicks evaluation ran it: the
previous probability map as a fourth input channel, the zoom-in on the object, a left-right
flipped copy (logits averaged), a sigmoid, and the map pasted back into the image.

Written from the description in ``../shared/fixtures/isegm/README.md`` ("The reference
inference pipeline"), which follows ``isegm/inference/predictors/base.py`` and
``isegm/inference/transforms/{zoom_in,flip}.py`` of the reference. Each trajectory keeps its own
:class:`TrajectoryState` (previous map, zoom box), so trajectories never see each other's state
and a step of many trajectories can run as one network batch (:func:`predict_steps`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Box = tuple[int, int, int, int]  # rmin, rmax, cmin, cmax, inclusive

#: the network: (B×4×h×w input, B×2N×3 points) -> B×1×h×w logits
Network = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ZoomIn:
    """The zoom-in of the reference predictor. ``target_size``: an int (the longer side of the
    crop is resized to it, RITM) or an (h, w) pair (exactly that size, SimpleClick);
    ``skip_clicks``: the first clicks that run on the whole image (-1: none; with -1 a click
    without a predicted object crops the whole image)."""

    target_size: int | tuple[int, int]
    skip_clicks: int
    expansion_ratio: float = 1.4
    min_crop_size: int = 200
    recompute_thresh_iou: float = 0.5
    prob_thresh: float = 0.5


@dataclass(frozen=True)
class Click:
    y: float
    x: float
    positive: bool
    index: int


@dataclass
class TrajectoryState:
    """What a trajectory carries from click to click: the previous full-size probability map
    (1×1×H×W float32, zeros before the first click), whether one was predicted yet, and the
    zoom box."""

    prev: torch.Tensor
    predicted: bool = False
    box: Box | None = None
    # observation for tests: the box the input was cut from at the last click (None: whole)
    last_crop: Box | None = field(default=None, compare=False)
    last_points: torch.Tensor | None = field(default=None, compare=False)


def new_state(height: int, width: int, device: torch.device | str = "cpu") -> TrajectoryState:
    return TrajectoryState(torch.zeros(1, 1, height, width, device=device))


# -- the zoom-in box ----------------------------------------------------------------------------


def _expand(box: Box, ratio: float, min_size: int) -> Box:
    rmin, rmax, cmin, cmax = box
    rc, cc = 0.5 * (rmin + rmax), 0.5 * (cmin + cmax)
    h = max(ratio * (rmax - rmin + 1), min_size)
    w = max(ratio * (cmax - cmin + 1), min_size)
    # Python's round (half to even), as the reference
    return (round(rc - 0.5 * h), round(rc + 0.5 * h), round(cc - 0.5 * w), round(cc + 0.5 * w))


def object_box(mask: torch.Tensor, clicks: Sequence[Click], zoom: ZoomIn) -> Box:
    """The candidate box: the predicted mask with every positive click's pixel added, its
    bounding box expanded and clamped to the image."""
    mask = mask.clone()
    for c in clicks:
        if c.positive:
            mask[int(c.y), int(c.x)] = True
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    box = (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]))
    rmin, rmax, cmin, cmax = _expand(box, zoom.expansion_ratio, zoom.min_crop_size)
    h, w = mask.shape
    return (
        max(0, min(rmin, h - 1)),
        max(0, min(rmax, h - 1)),
        max(0, min(cmin, w - 1)),
        max(0, min(cmax, w - 1)),
    )


def _segment_iou(a: int, b: int, c: int, d: int) -> float:
    inter = max(0, min(b, d) - max(a, c) + 1)
    union = max(1e-6, max(b, d) - min(a, c) + 1)
    return inter / union


def box_iou(p: Box, q: Box) -> float:
    return _segment_iou(p[0], p[1], q[0], q[1]) * _segment_iou(p[2], p[3], q[2], q[3])


def _clicks_inside(box: Box, clicks: Sequence[Click]) -> bool:
    rmin, rmax, cmin, cmax = box
    return not any(
        c.positive and (c.y < rmin or c.y >= rmax or c.x < cmin or c.x >= cmax) for c in clicks
    )


def crop_size(box: Box, target: int | tuple[int, int]) -> tuple[int, int]:
    """The network input size of a crop."""
    h, w = box[1] - box[0] + 1, box[3] - box[2] + 1
    if isinstance(target, tuple):
        return int(target[0]), int(target[1])
    s = target / max(h, w)
    return int(round(h * s)), int(round(w * s))


def zoom_box(state: TrajectoryState, clicks: Sequence[Click], zoom: ZoomIn) -> Box | None:
    """Update ``state.box`` for this click; the box the input is cut from (None: not cut)."""
    if len(clicks) <= zoom.skip_clicks:
        return None
    candidate = None
    if state.predicted:
        mask = state.prev[0, 0] > zoom.prob_thresh
        if bool(mask.any()):
            candidate = object_box(mask, clicks, zoom)
    if candidate is None:
        if zoom.skip_clicks >= 0:
            return None  # this click runs on the whole image; an earlier box stays stored
        h, w = state.prev.shape[-2:]
        candidate = (0, h - 1, 0, w - 1)
    if (
        state.box is None
        or not _clicks_inside(state.box, clicks)
        or box_iou(candidate, state.box) < zoom.recompute_thresh_iou
    ):
        state.box = candidate
    return state.box


# -- one click step -----------------------------------------------------------------------------


@dataclass
class _Prepared:
    input: torch.Tensor  # 2×4×h×w: the (possibly cropped) input and its flipped copy
    clicks: list[list[tuple[float, float, int]]]  # per batch item: (y, x, index) positives...
    positives: list[list[bool]]
    fractional: bool


def zoom_input(
    image: torch.Tensor, state: TrajectoryState, clicks: Sequence[Click], zoom: ZoomIn | None
) -> tuple[torch.Tensor, Callable[[Any, Any], tuple[Any, Any]]]:
    """The network input of one trajectory's click, before the flip: concat(image, previous
    map), cut to the zoom box and resized; and the map of click coordinates ``(y, x)`` into it
    (``y' = h · (y − rmin) / (rmax − rmin + 1)``, no half-pixel offset), for floats or
    tensors alike. Updates the trajectory's zoom box."""
    x = torch.cat([image, state.prev], dim=1)
    box = zoom_box(state, clicks, zoom) if zoom is not None else None
    state.last_crop = box
    if box is None:
        return x, lambda y, xx: (y, xx)
    rmin, rmax, cmin, cmax = box
    h, w = crop_size(box, zoom.target_size)  # type: ignore[union-attr]
    x = F.interpolate(
        x[:, :, rmin : rmax + 1, cmin : cmax + 1], size=(h, w), mode="bilinear",
        align_corners=True,
    )  # fmt: skip
    return x, lambda y, xx: (
        h * (y - rmin) / (rmax - rmin + 1),
        w * (xx - cmin) / (cmax - cmin + 1),
    )


def prepare(
    image: torch.Tensor, state: TrajectoryState, clicks: Sequence[Click], zoom: ZoomIn | None
) -> _Prepared:
    """The network input of one trajectory's click (:func:`zoom_input`) stacked with its
    left-right flip; the clicks mapped likewise."""
    x, to_input = zoom_input(image, state, clicks, zoom)
    coords = [to_input(float(c.y), float(c.x)) for c in clicks]
    width = x.shape[3]
    plain = [(y, xx, c.index) for (y, xx), c in zip(coords, clicks)]
    flipped = [(y, width - xx - 1, c.index) for (y, xx), c in zip(coords, clicks)]
    positives = [c.positive for c in clicks]
    return _Prepared(
        torch.cat([x, torch.flip(x, dims=[3])], dim=0),
        [plain, flipped],
        [positives, positives],
        state.last_crop is not None,
    )


def points_tensor(
    items: Sequence[tuple[list[tuple[float, float, int]], list[bool]]],
    fractional: bool,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """B×2N×3 ``(y, x, index)``: each item's positive clicks padded with -1 to N, then its
    negative ones, N the most of either over the batch (at least 1). float64 for fractional
    (zoomed) coordinates, else int64, as the reference."""
    n = 1
    for _clicks, pos in items:
        k = sum(pos)
        n = max(n, k, len(pos) - k)
    pad = (-1.0, -1.0, -1)
    rows = []
    for clicks, pos in items:
        p = [c for c, is_pos in zip(clicks, pos) if is_pos]
        q = [c for c, is_pos in zip(clicks, pos) if not is_pos]
        rows.append(p + [pad] * (n - len(p)) + q + [pad] * (n - len(q)))
    dtype = torch.float64 if fractional else torch.int64
    return torch.tensor(rows, dtype=torch.float64, device=device).to(dtype)


def back_to_image(state: TrajectoryState, logits: torch.Tensor) -> torch.Tensor:
    """2×1×h×w logits (input, flipped) -> the full-size probability map (1×1×H×W): the flip
    undone and the logits averaged, the sigmoid, the map resized to the zoom box and pasted
    into zeros (used directly when nothing was predicted before)."""
    logits = 0.5 * (logits[:1] + torch.flip(logits[1:], dims=[3]))
    prob = torch.sigmoid(logits)
    if state.box is not None:
        rmin, rmax, cmin, cmax = state.box
        prob = F.interpolate(
            prob, size=(rmax - rmin + 1, cmax - cmin + 1), mode="bilinear", align_corners=True
        )
        if state.predicted:
            full = torch.zeros_like(state.prev).to(prob.dtype)
            full[:, :, rmin : rmax + 1, cmin : cmax + 1] = prob
            prob = full
    return prob


def finish(state: TrajectoryState, logits: torch.Tensor) -> torch.Tensor:
    """:func:`back_to_image`, stored as the trajectory's previous map."""
    prob = back_to_image(state, logits)
    state.prev = prob
    state.predicted = True
    return prob


def predict_steps(
    net: Network,
    image: torch.Tensor,
    steps: Sequence[tuple[TrajectoryState, Sequence[Click]]],
    zoom: ZoomIn | None,
    per_call: int | None = None,
) -> list[torch.Tensor]:
    """One click of several trajectories of the same image: their inputs of equal size go
    through the network together (two items each: the input and its flip), at most
    ``per_call`` trajectories per network call (None: all). Returns each trajectory's
    full-size probability map, in order."""
    prepared = [prepare(image, state, clicks, zoom) for state, clicks in steps]
    groups: dict[tuple[tuple[int, int], bool], list[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault((tuple(p.input.shape[-2:]), p.fractional), []).append(i)
    logits: list[torch.Tensor | None] = [None] * len(steps)
    chunks = []
    for key, members in groups.items():
        step = per_call or len(members)
        chunks += [(key, members[k : k + step]) for k in range(0, len(members), step)]
    for (size, fractional), members in chunks:
        batch = torch.cat([prepared[i].input for i in members], dim=0)
        items = [
            (clicks, pos)
            for i in members
            for clicks, pos in zip(prepared[i].clicks, prepared[i].positives)
        ]
        points = points_tensor(items, fractional, batch.device)
        out = net(batch, points)
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        for j, i in enumerate(members):
            steps[i][0].last_points = points[2 * j : 2 * j + 2]
            logits[i] = out[2 * j : 2 * j + 2]
    return [finish(state, lg) for (state, _), lg in zip(steps, logits)]  # type: ignore[arg-type]


def differentiable_step(
    net_maps: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    state: TrajectoryState,
    points: torch.Tensor,
    labels: Sequence[bool],
    zoom: ZoomIn | None,
) -> torch.Tensor:
    """The click step of :func:`predict_steps` for clicks at continuous positions, with the
    gradient reaching them: ``points`` N×2 ``(x, y)`` image pixels, ``labels`` their sides.
    ``net_maps(input B×4×h×w, coord_features B×3×h×w) -> logits`` is the network after its
    click encoding, here fed :func:`~rclicks_isegm.maps.soft_disk_maps`. The zoom box is
    chosen from the positions as they are (a crop does not move with the click). Returns the
    full-size probability map (H×W): the values of :func:`predict_steps` for the same clicks."""
    from rclicks_isegm.maps import soft_disk_maps

    held = [
        Click(float(y), float(x), bool(p), i)
        for i, ((x, y), p) in enumerate(zip(points.detach().tolist(), labels))
    ]
    x, to_input = zoom_input(image, state, held, zoom)
    # mapped in double, as the reference maps Python floats
    ys, xs = to_input(points[:, 1].double(), points[:, 0].double())
    height, width = x.shape[2:]
    batch = torch.cat([x, torch.flip(x, dims=[3])], dim=0)
    yx = torch.stack(
        [torch.stack([ys, xs], dim=-1), torch.stack([ys, width - xs - 1], dim=-1)], dim=0
    )
    positive = torch.tensor([list(labels)] * 2, dtype=torch.bool, device=x.device)
    disks = soft_disk_maps(yx, positive, height, width)
    coord = torch.cat([batch[:, 3:4], disks], dim=1)
    logits = net_maps(batch, coord)
    logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=True)
    return back_to_image(state, logits)[0, 0]
