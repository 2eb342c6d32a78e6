"""The click protocol as pure functions over arrays (CONTRACT §7).

Everything here is exact to the RClicks / RITM reference and fast on large images:

* distance transforms run per 8-connected component of an error region, each inside its own
  bounding box plus a one-pixel zero ring. For a pixel of component A the nearest pixel outside
  A is never a pixel of another component (a neighbour one step closer would then join A), so
  the result equals the transform of the whole padded image;
* clicking groups sort only the non-zero weights, which leaves every threshold and the kept set
  unchanged (zeros add nothing to a cumulative sum and are never sampled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from rclicks.types import Click

cv2.setNumThreads(1)

__all__ = [
    "DistanceMap",
    "baseline_click",
    "bbox",
    "choose_side",
    "density_click",
    "error_masks",
    "group_support",
    "group_thresholds",
    "padded_distance",
]


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box ``(y0, y1, x0, x1)`` (end-exclusive) of the true pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def error_masks(
    gt_mask: np.ndarray, pred_mask: np.ndarray, ignore: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """False-negative and false-positive masks, both outside ``ignore``."""
    gt = np.asarray(gt_mask, dtype=bool)
    pred = np.asarray(pred_mask, dtype=bool)
    fn = gt & ~pred
    fp = pred & ~gt
    if ignore is not None:
        keep = ~np.asarray(ignore, dtype=bool)
        fn &= keep
        fp &= keep
    return fn, fp


@dataclass
class DistanceMap:
    """Exact L2 distance transform of a zero-padded mask, stored sparsely as blocks.

    Each block is ``(y0, x0, values)``; ``values`` is float32 and non-zero only on the pixels
    of one connected component. Pixels outside every block have distance 0.
    """

    shape: tuple[int, int]
    blocks: list[tuple[int, int, np.ndarray]]

    def zero_at(self, clicks: Sequence[Click]) -> None:
        """Set the distance of the clicked pixels to 0 (the "not yet clicked" rule)."""
        for c in clicks:
            for y0, x0, v in self.blocks:
                yy, xx = c.y - y0, c.x - x0
                if 0 <= yy < v.shape[0] and 0 <= xx < v.shape[1]:
                    v[yy, xx] = 0.0

    def max(self) -> float:
        return max((float(v.max()) for _, _, v in self.blocks), default=0.0)

    def first_argmax(self) -> tuple[int, int]:
        """``(y, x)`` of the first maximum in row-major order of the full image."""
        best = self.max()
        if best <= 0.0:
            return 0, 0  # every pixel holds the maximum 0; the first one is (0, 0)
        found: list[tuple[int, int]] = []
        for y0, x0, v in self.blocks:
            if float(v.max()) == best:
                yy, xx = np.unravel_index(int(np.argmax(v == best)), v.shape)
                found.append((y0 + int(yy), x0 + int(xx)))
        return min(found)

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float32)
        for y0, x0, v in self.blocks:
            h, w = v.shape
            region = out[y0 : y0 + h, x0 : x0 + w]
            np.maximum(region, v, out=region)
        return out


def padded_distance(mask: np.ndarray, split: bool = True) -> DistanceMap:
    """Distance from every true pixel to the nearest false pixel, the image border counting as
    false (pad by one zero pixel, exact L2 transform, remove the padding)."""
    mask = np.asarray(mask, dtype=bool)
    shape = (int(mask.shape[0]), int(mask.shape[1]))
    box = bbox(mask)
    if box is None:
        return DistanceMap(shape, [])
    y0, y1, x0, x1 = box
    crop = mask[y0:y1, x0:x1].view(np.uint8)
    if split and crop.size > 4096:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
        if n > 2:
            blocks = []
            for k in range(1, n):
                cx, cy, cw, ch, _area = (int(s) for s in stats[k])
                comp = labels[cy : cy + ch, cx : cx + cw] == k
                blocks.append((y0 + cy, x0 + cx, _edt_block(comp.view(np.uint8))))
            return DistanceMap(shape, blocks)
    return DistanceMap(shape, [(y0, x0, _edt_block(crop))])


# Below this distance OpenCV's float32 result is within 0.5 of the exact squared distance.
_SNAP_LIMIT = 1024.0


def _edt_block(crop_u8: np.ndarray) -> np.ndarray:
    """Exact, reproducible distance transform of one zero-padded block.

    OpenCV's precise transform is fast, but its last bit varies from call to call (seen
    here: two different results for the same input within one process). Squared Euclidean
    distances between pixels are integers, so the value is snapped to ``sqrt(round(d²))``,
    which is exact and the same every time. Blocks deeper than ``_SNAP_LIMIT`` (where float32
    can no longer tell neighbouring integers apart) use SciPy's exact transform instead.
    """
    padded = cv2.copyMakeBorder(crop_u8, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    if float(dist.max()) >= _SNAP_LIMIT:
        from scipy.ndimage import distance_transform_edt

        exact = distance_transform_edt(padded)[1:-1, 1:-1]
        return exact.astype(np.float32)
    d64 = dist.astype(np.float64)
    return np.sqrt(np.rint(d64 * d64)).astype(np.float32)


def choose_side(
    fn: np.ndarray, fp: np.ndarray, clicked: Sequence[Click] = ()
) -> tuple[bool, DistanceMap, DistanceMap]:
    """The baseline side rule: positive iff max(FN distance) > max(FP distance), with the
    already-clicked pixels zeroed. Returns ``(positive, fn_distance, fp_distance)``."""
    dfn = padded_distance(fn)
    dfp = padded_distance(fp)
    dfn.zero_at(clicked)
    dfp.zero_at(clicked)
    return dfn.max() > dfp.max(), dfn, dfp


def baseline_click(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    clicked: Sequence[Click] = (),
    ignore: np.ndarray | None = None,
) -> Click:
    """The robot click: the deepest point of the larger error (CONTRACT §7)."""
    fn, fp = error_masks(gt_mask, pred_mask, ignore)
    positive, dfn, dfp = choose_side(fn, fp, clicked)
    y, x = (dfn if positive else dfp).first_argmax()
    return Click(x=x, y=y, positive=positive)


def group_thresholds(values: np.ndarray, group: int, n_groups: int) -> tuple[float, float]:
    """Low and high weight thresholds of clicking group ``group`` (1-based) of ``n_groups``.

    ``values`` are the weights (any order; zeros may be left out, they do not change the
    result). Sort ascending, take the cumulative sum; the low threshold is the value at the
    first index where the cumulative sum reaches ``low × total``, the high threshold the value
    at the first index where it exceeds ``high × total`` (clamped to the last index).
    """
    if not 1 <= group <= n_groups:
        raise ValueError(f"group must be in 1..{n_groups}, got {group}")
    # float32 throughout, as the reference computes it (its weights are float32 and numpy
    # accumulates a float32 cumsum in float32). The total is the last cumulative sum, which
    # zeros leave unchanged (the reference's pairwise ``sum`` can differ from it by an ulp).
    s = np.sort(np.asarray(values, dtype=np.float32).ravel())
    if s.size == 0:
        return 0.0, 0.0
    # The band edges low×total and high×total are float64 (a float32 total times a Python
    # float), compared with the float32 cumulative sums exactly.
    c = np.cumsum(s, dtype=np.float32).astype(np.float64)
    total = float(c[-1])
    low, high = (group - 1) / n_groups, group / n_groups
    lo = int(np.searchsorted(c, low * total, side="left"))
    hi = int(np.searchsorted(c, high * total, side="right"))
    lo = min(lo, s.size - 1)
    hi = min(hi, s.size - 1)
    return float(s[lo]), float(s[hi])


def group_support(weights: np.ndarray, group: int, n_groups: int = 10) -> np.ndarray:
    """Pixels of clicking group ``group`` (1 = the least clickable mass slice).

    ``weights`` = density × error mask × not-yet-clicked, already multiplied. Returns a bool
    mask of the positive weights inside the group's mass slice (empty if all weights are 0).
    """
    w = np.asarray(weights, dtype=np.float32)
    nz = w[w > 0]
    if nz.size == 0:
        return np.zeros(w.shape, dtype=bool)
    lo, hi = group_thresholds(nz, group, n_groups)
    return (w >= lo) & (w <= hi) & (w > 0)


def density_click(
    density: np.ndarray,
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    clicked: Sequence[Click],
    rng: np.random.Generator,
    group: int = 1,
    n_groups: int = 1,
    ignore: np.ndarray | None = None,
    deterministic: bool = False,
) -> tuple[Click, bool]:
    """A click drawn from ``density`` (CONTRACT §7). Returns ``(click, fell_back)``.

    The side comes from the baseline rule; weights = density × chosen error mask ×
    not-yet-clicked. A deterministic simulator clicks the first maximum of the weights;
    otherwise the group's mass slice is kept and one pixel drawn proportionally to its weight
    with a single ``rng.random()``. With nothing left, the baseline click is returned.
    """
    fn, fp = error_masks(gt_mask, pred_mask, ignore)
    positive, dfn, dfp = choose_side(fn, fp, clicked)
    err = fn if positive else fp
    click = weighted_pick(density, err, clicked, rng, group, n_groups, deterministic)
    if click is not None:
        return Click(x=click[1], y=click[0], positive=positive), False
    y, x = (dfn if positive else dfp).first_argmax()
    return Click(x=x, y=y, positive=positive), True


def weighted_pick(
    density: np.ndarray,
    err: np.ndarray,
    clicked: Sequence[Click],
    rng: np.random.Generator,
    group: int,
    n_groups: int,
    deterministic: bool,
) -> tuple[int, int] | None:
    """``(y, x)`` drawn from density × err × not-clicked in the group's slice, or None."""
    box = bbox(err)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    dens = np.asarray(density[y0:y1, x0:x1], dtype=np.float32)
    w = np.where(err[y0:y1, x0:x1], dens, np.float32(0))
    for c in clicked:
        if y0 <= c.y < y1 and x0 <= c.x < x1:
            w[c.y - y0, c.x - x0] = 0
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("simulator density must be finite and non-negative")
    idx = np.flatnonzero(w)  # row-major order of the crop = row-major order of the image
    if idx.size == 0:
        return None
    vals = w.ravel()[idx]
    if deterministic:
        k = int(idx[int(np.argmax(vals))])
    else:
        if n_groups > 1:
            lo, hi = group_thresholds(vals, group, n_groups)
            keep = (vals >= lo) & (vals <= hi)
            idx, vals = idx[keep], vals[keep]
        cs = np.cumsum(vals, dtype=np.float64)
        if idx.size == 0 or cs[-1] <= 0:
            return None
        u = rng.random() * cs[-1]
        j = min(int(np.searchsorted(cs, u, side="right")), idx.size - 1)
        k = int(idx[j])
    yy, xx = divmod(k, x1 - x0)
    return y0 + yy, x0 + xx
