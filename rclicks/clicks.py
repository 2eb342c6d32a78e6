"""The click protocol as pure functions over arrays (CONTRACT §7).

Everything here is exact to the RClicks / RITM reference and fast on large images:

* an error region is kept sparse: its pixels' flat indices in row-major order and their
  distances (or, for a prediction's false negatives, its mask over the object's box, with the
  indices made only when asked for); the distance transform runs on a box holding the region
  plus a one-pixel zero ring (the same as on the padded image: a ring pixel is at least as
  close as anything beyond the box), in exact integer arithmetic (``rclicks/_edt.c``);
* clicking groups sort only the non-zero weights, which leaves every threshold and the kept
  set unchanged (zeros add nothing to a cumulative sum and are never sampled);
* all trajectories in the same state share the work (see :mod:`rclicks.engine`).

One click is always taken the same way, by :func:`click_side` (the side and its error region)
followed by :func:`click_step` (the click in that region): the engine, ``show-clicks``,
:func:`next_click`, :func:`baseline_click` and :func:`density_click` all go through these two
functions.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rclicks.types import Click

cv2.setNumThreads(1)

__all__ = [
    "DistanceMap",
    "baseline_click",
    "ClickChoice",
    "Side",
    "bbox",
    "check_density",
    "choose_side",
    "click_side",
    "click_step",
    "density_click",
    "distance_of",
    "distances_of",
    "error_masks",
    "group_support",
    "group_thresholds",
    "next_click",
    "padded_distance",
    "pick",
    "trajectory_rng",
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


class Target:
    """One instance's ground truth, prepared once for the IoU and error regions of every
    click (``ignore`` pixels count for neither)."""

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None) -> None:
        gt = np.asarray(gt, dtype=bool)
        self.shape = (int(gt.shape[0]), int(gt.shape[1]))
        self.gt = gt
        self.valid = None if ignore is None else ~np.asarray(ignore, dtype=bool)
        counted = gt if self.valid is None else gt & self.valid
        self.count = int(np.count_nonzero(counted))
        box = bbox(counted) or (0, 0, 0, 0)
        self.box = box
        y0, y1, x0, x1 = box
        self.crop = np.ascontiguousarray(counted[y0:y1, x0:x1])
        self.outside_crop = ~self.crop
        self.gt_idx = np.flatnonzero(counted)

    def start(self) -> tuple[np.ndarray, np.ndarray]:
        """The error regions of the empty prediction: FN = the object, no FP."""
        return self.gt_idx, np.zeros(0, dtype=np.int64)

    def evaluate(self, pred: np.ndarray) -> tuple[float, tuple[BoxRegion, BoxRegion | np.ndarray]]:
        """IoU of ``pred`` (bool H×W) and its error regions for :func:`distances_of`: the FN
        pixels as their mask over the object's box, the FP pixels as their mask over their own
        box (no FP: no indices). ``pred`` is consumed (overwritten)."""
        if self.valid is not None:
            pred = pred & self.valid
        y0, y1, x0, x1 = self.box
        if _edt is not None and self.count and pred.dtype == bool and pred.flags.c_contiguous:
            # one pass in C: the counts, the misses, and pred turned into the false positives
            missed = np.empty(self.crop.shape, dtype=bool)
            pred_count, inter, fy0, fy1, fx0, fx1 = _edt.split_errors(
                pred, self.shape[1], self.crop, self.crop.shape[1], y0, x0, missed
            )
        else:
            p = pred[y0:y1, x0:x1]
            missed = np.greater(self.crop, p)  # gt and not pred
            inter = self.count - int(np.count_nonzero(missed))
            pred_count = int(np.count_nonzero(pred))
            p &= self.outside_crop  # what is left of pred is outside the object
            fy0, fy1, fx0, fx1 = bbox(pred) or (-1, 0, 0, 0)
        union = self.count + pred_count - inter
        iou = inter / union if union else float("nan")
        fn = BoxRegion(missed, y0, x0, self.count - inter)
        if pred_count == inter:
            fp: BoxRegion | np.ndarray = np.zeros(0, dtype=np.int64)
        else:
            fp = BoxRegion(pred[fy0:fy1, fx0:fx1], fy0, fx0, pred_count - inter)
        return iou, (fn, fp)


class BoxRegion:
    """A region given as its mask over a box of the image: ``mask`` (bool, C-contiguous) covers
    the rows ``y0 ..`` and columns ``x0 ..`` and holds ``count`` true pixels. Any box that holds
    the region will do: the distances do not depend on it."""

    __slots__ = ("mask", "y0", "x0", "count")

    def __init__(self, mask: np.ndarray, y0: int, x0: int, count: int) -> None:
        self.mask = np.ascontiguousarray(mask, dtype=bool)
        self.y0, self.x0, self.count = int(y0), int(x0), int(count)

    def indices(self, width: int) -> np.ndarray:
        """The region's flat indices (int64, ascending) in an image ``width`` wide."""
        return _box_indices(self.mask, self.count, self.y0, self.x0, width)

    def holds(self, flat: np.ndarray, width: int) -> np.ndarray:
        """Which of the flat indices ``flat`` lie in the region (bool, aligned with ``flat``)."""
        y = flat // width - self.y0
        x = flat % width - self.x0
        h, w = self.mask.shape
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        out = np.zeros(flat.shape, dtype=bool)
        out[inside] = self.mask[y[inside], x[inside]]
        return out


def _box_indices(mask: np.ndarray, count: int, y0: int, x0: int, width: int) -> np.ndarray:
    """Flat image indices (int64, row-major) of the ``count`` true pixels of ``mask``, a
    C-contiguous box whose top-left pixel is ``(y0, x0)`` in an image ``width`` wide."""
    if _edt is not None:
        out = np.empty(count, dtype=np.int64)
        if count:
            _edt.indices(np.ascontiguousarray(mask), mask.shape[1], y0, x0, width, out)
        return out
    ly, lx = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return ((ly + y0) * width + (lx + x0)).astype(np.int64)


class DistanceMap:
    """An error region and the exact L2 distance of each of its pixels to the nearest pixel
    outside it (the image border counting as outside).

    ``idx`` are the region's flat indices (``y * W + x``) in ascending, i.e. row-major, order;
    ``dist`` are float32 distances aligned with ``idx``. Pixels outside the region have
    distance 0.

    ``DistanceMap(shape, idx)`` without ``dist`` computes it on first use: the side rule and
    the baseline click need only :meth:`max` and :meth:`first_argmax`, which the C transform
    finds without the whole map (``threads``: how many threads a large transform may use).
    ``DistanceMap(shape, None, box=BoxRegion(...))`` is the region given as a mask over a
    box, whose indices are made only when asked for. Either way the values are the same.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        idx: np.ndarray | None,
        dist: np.ndarray | None = None,
        _max: float | None = None,
        *,
        threads: int = 1,
        excluded: np.ndarray | None = None,
        base: DistanceMap | None = None,
        box: BoxRegion | None = None,
    ) -> None:
        if idx is None and box is None:
            raise ValueError("DistanceMap needs the region's indices or its box mask")
        self.shape = (int(shape[0]), int(shape[1]))
        self._idx = idx
        self._box = box
        self._dist = dist
        self._max = _max
        self._where: int | None = None  # flat index of the first maximum, once known
        self._bound: float | None = None
        self._threads = threads
        self._excluded = excluded  # flat indices (ascending) of the pixels zeroed (clicked)
        self._base = base  # the map they are zeroed in
        self._starts: np.ndarray | None = None  # see _rows_before
        self._counts: np.ndarray | None = None  # see counts_of
        self._lock = threading.RLock()
        if dist is None and base is None and _edt is None:
            self._dist = _full_distances(self.idx, self.shape, threads)

    def __repr__(self) -> str:
        return f"DistanceMap(shape={self.shape}, size={self.size})"

    @property
    def idx(self) -> np.ndarray:
        if self._idx is None:
            with self._lock:
                if self._idx is None:
                    if self._base is not None:
                        self._idx = self._base.idx
                    else:
                        self._idx = self._box.indices(self.shape[1])  # type: ignore[union-attr]
        return self._idx

    @property
    def dist(self) -> np.ndarray:
        if self._dist is None:
            with self._lock:
                if self._dist is None:
                    if self._base is None:
                        self._dist = self._distances()
                    else:
                        dist = self._base.dist.copy()
                        dist[self._base.positions(self._excluded)] = 0.0
                        self._dist = dist
        return self._dist

    def _distances(self) -> np.ndarray:
        """The region's distances; the C transform also counts their squares (counts_of)."""
        if _edt is None:
            return _full_distances(self.idx, self.shape, self._threads)
        out = np.empty(self.size, dtype=np.float32)
        threads = self._threads if self.size >= _SPLIT_PIXELS else 1
        box = self._box
        if box is None:
            counted = _edt.region(self.idx, self.shape[1], out, threads, True)
        else:  # the row starts come with it (see _rows_before)
            starts = np.empty(box.mask.shape[0] + 1, dtype=np.int64)
            counted = _edt.region_box(box.mask, box.mask.shape[1], out, threads, True, starts)
            with self._lock:
                self._starts = starts
        self._counts = np.frombuffer(counted, dtype=np.uint32).reshape(-1, 2)
        return out

    def are_distances(self, values: np.ndarray) -> bool:
        """``values`` are this map's own distances, as computed: its ``dist`` array or a view
        of the whole of it (finite and non-negative by construction)."""
        d = self._dist
        return d is not None and _whole_view(values, d)

    def counts_of(self, values: np.ndarray, without: np.ndarray) -> np.ndarray | None:
        """``values`` counted, when they are this map's own distances (its ``dist`` or a view
        of the whole of it) and the C transform counted them: the squared distances d² of the
        values and how many pixels have each, as (d², count) pairs (uint32, d² ascending),
        leaving out the pixels at positions ``without`` (indices into ``idx``). None
        otherwise (or when a left-out value is not found as counted)."""
        d, counts = self._dist, self._counts
        if counts is None or d is None or not self.are_distances(values):
            return None
        gone = np.unique(np.asarray(without, dtype=np.int64))
        if gone.size == 0:
            return counts
        values_gone = d[gone]
        d2 = np.rint(np.square(values_gone, dtype=np.float64)).astype(np.int64)
        j = np.searchsorted(counts[:, 0], d2)
        found = j < len(counts)
        if not found.all() or (counts[j, 0] != d2).any() or (_sqrt(d2) != values_gone).any():
            return None
        out = counts.copy()
        np.subtract.at(out[:, 1], j, 1)  # a count never goes below 0: each pixel was counted
        return out

    @property
    def size(self) -> int:
        return int(self._idx.size) if self._idx is not None else self._box.count  # type: ignore[union-attr]

    def _flat(self, clicks: Sequence[Click] | np.ndarray) -> np.ndarray:
        if isinstance(clicks, np.ndarray):
            return clicks.astype(np.int64, copy=False)
        w = self.shape[1]
        return np.array([c.y * w + c.x for c in clicks], dtype=np.int64)

    def _rows_before(self) -> np.ndarray:
        """For a box region without its indices: how many of its pixels precede each row of
        the box (int64, one more entry than rows)."""
        if self._starts is None:
            with self._lock:
                if self._starts is None:
                    box = self._box
                    starts = np.empty(box.mask.shape[0] + 1, dtype=np.int64)  # type: ignore[union-attr]
                    _edt.row_starts(box.mask, box.mask.shape[1], starts)  # type: ignore[union-attr]
                    self._starts = starts
        return self._starts

    def _by_mask(self) -> bool:
        """Positions and flat indices come from the box mask (its indices are not made)."""
        if self._base is not None:
            return self._base._by_mask()
        return self._idx is None and self._box is not None and _edt is not None

    def flat_at(self, j: int) -> int:
        """The flat index of the region's ``j``-th pixel (``idx[j]``)."""
        if not self._by_mask():
            return int(self.idx[j])
        base = self._base or self
        starts, box = base._rows_before(), base._box
        y = int(np.searchsorted(starts, j, side="right")) - 1
        x = int(np.flatnonzero(box.mask[y])[j - starts[y]])  # type: ignore[union-attr]
        return (box.y0 + y) * self.shape[1] + box.x0 + x  # type: ignore[union-attr]

    def positions(self, clicks: Sequence[Click] | np.ndarray) -> np.ndarray:
        """Indices into ``idx`` of the clicked pixels that lie in the region (``clicks`` may
        also be an array of flat indices)."""
        if len(clicks) == 0 or self.size == 0:
            return np.zeros(0, dtype=np.intp)
        flat = self._flat(clicks)
        if self._by_mask():
            base = self._base or self
            box = base._box
            flat = flat[self._holds(flat)]
            ys, xs = np.divmod(flat, self.shape[1])
            ys, xs = ys - box.y0, xs - box.x0  # type: ignore[union-attr]
            starts = base._rows_before()
            ahead = [np.count_nonzero(box.mask[y, :x]) for y, x in zip(ys, xs)]  # type: ignore[union-attr]
            return (starts[ys] + np.array(ahead, dtype=np.int64)).astype(np.intp)
        j = np.searchsorted(self.idx, flat)
        ok = j < self.idx.size
        j, flat = j[ok], flat[ok]
        return j[self.idx[j] == flat]

    def _holds(self, flat: np.ndarray) -> np.ndarray:
        """Which of the flat indices ``flat`` lie in the region (bool, aligned with ``flat``):
        the box mask answers when there is one, else the indices."""
        if self._box is not None:
            return self._box.holds(flat, self.shape[1])
        j = np.searchsorted(self.idx, flat)
        ok = j < self.idx.size
        out = np.zeros(flat.shape, dtype=bool)
        out[ok] = self.idx[j[ok]] == flat[ok]
        return out

    def zero_at(self, clicks: Sequence[Click] | np.ndarray) -> DistanceMap:
        """The map with the clicked pixels set to 0 (the "not yet clicked" rule). Returns
        ``self`` when no click lies in the region."""
        if len(clicks) == 0 or self.size == 0:
            return self
        flat = self._flat(clicks)
        ex = np.unique(flat[self._holds(flat)])  # ascending, as the C search requires
        if ex.size == 0:
            return self
        base = self._base or self
        if self._excluded is not None:
            ex = np.union1d(self._excluded, ex)
        out = DistanceMap(
            self.shape, base._idx, threads=base._threads, excluded=ex, base=base, box=base._box
        )
        out._bound = base._bound if base._max is None else base._max  # zeros lower no bound
        if base._dist is not None:
            base._find_max()  # from the values at hand
        if base._known() and (base._where is None or not np.isin(base._where, ex)):
            # zeroing pixels other than the first maximum leaves it the first maximum
            out._max, out._where = base._max, base._where
        return out

    def _known(self) -> bool:
        return self._max is not None and (self._where is not None or self._max <= 0.0)

    def _find_max(self) -> None:
        if self._known():
            return
        with self._lock:
            if self._known():
                return
            if self.size == 0:
                self._max, self._where = 0.0, None
            elif self._dist is None and _edt is not None and self._values_unknown():
                # the pruned search in C
                excluded = self._excluded if self._excluded is not None else _NO_PIXELS
                box = self._box
                if box is not None:
                    best, where = _edt.region_max_box(
                        box.mask, box.mask.shape[1], box.y0, box.x0, self.shape[1], excluded,
                        self._threads,
                    )  # fmt: skip
                else:
                    best, where = _edt.region_max(self.idx, self.shape[1], excluded, self._threads)
                self._max, self._where = best, (where if where >= 0 else None)
            else:
                dist = self.dist
                j = int(np.argmax(dist))
                self._max, self._where = float(dist[j]), self.flat_at(j)

    def _values_unknown(self) -> bool:
        """Neither this map's distances nor those it zeroes some of are computed."""
        return self._base is None or self._base._dist is None

    def bound(self) -> float:
        """An upper bound of :meth:`max`, cheap where the maximum is not known yet (half the
        longest run of the region's pixels along a row)."""
        if self._max is not None:
            return self._max
        if self._dist is not None or _edt is None or self.size == 0:
            return self.max()
        if self._bound is None:
            box = self._box
            if box is not None:
                self._bound = float(_edt.run_bound_box(box.mask, box.mask.shape[1]))
            else:
                self._bound = float(_edt.run_bound(self.idx, self.shape[1]))
        return self._bound

    def max(self) -> float:
        self._find_max()
        return self._max  # type: ignore[return-value]

    def first_argmax(self) -> tuple[int, int]:
        """``(y, x)`` of the first maximum in row-major order of the full image."""
        self._find_max()
        if self._max <= 0.0 or self._where is None:  # type: ignore[operator]
            return 0, 0  # every pixel holds the maximum 0; the first one is (0, 0)
        y, x = divmod(self._where, self.shape[1])
        return y, x

    def mask(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=bool)
        box = self._box
        if box is not None:
            h, w = box.mask.shape
            out[box.y0 : box.y0 + h, box.x0 : box.x0 + w] = box.mask
            return out
        out.reshape(-1)[self.idx] = True
        return out

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape[0] * self.shape[1], dtype=np.float32)
        out[self.idx] = self.dist
        return out.reshape(self.shape)


# -- distances ---------------------------------------------------------------------------------

try:  # the C transform (rclicks/_edt.c), built at install time
    from rclicks import _edt
except ImportError:  # pragma: no cover - a build without a compiler: OpenCV does the work
    _edt = None

# A region this large has its transform split over threads when asked (smaller ones gain less
# than starting the threads costs).
_SPLIT_PIXELS = 1 << 17

# Below this distance OpenCV's float32 result is within 0.5 of the exact squared distance.
_SNAP_LIMIT = 1024.0


def _whole_view(a: np.ndarray, base: np.ndarray) -> bool:
    """``a`` is ``base`` or a view of all of it, element for element."""
    return a is base or (
        isinstance(a, np.ndarray)
        and a.base is base
        and a.dtype == base.dtype
        and a.shape == base.shape
        and a.strides == base.strides
        and a.__array_interface__["data"][0] == base.__array_interface__["data"][0]
    )


def _sqrt(d2: np.ndarray) -> np.ndarray:
    """Distances from exact integer squared distances (the same formula on every path)."""
    return np.sqrt(d2.astype(np.float64)).astype(np.float32)


def distance_of(idx: np.ndarray, shape: tuple[int, int], threads: int = 1) -> DistanceMap:
    """Exact padded distance transform of the region given by flat indices ``idx``
    (ascending), computed on the region's bounding box plus a one-pixel zero ring; a large
    box is split over ``threads`` threads (the same result)."""
    return distances_of([idx], shape, threads)[0]


def distances_of(
    regions: Sequence[np.ndarray | BoxRegion], shape: tuple[int, int], threads: int = 1
) -> list[DistanceMap]:
    """:func:`distance_of` for several regions (e.g. the false negatives and positives), each
    given by its flat indices or as a :class:`BoxRegion`. The maps compute their values on
    first use."""
    shape = (int(shape[0]), int(shape[1]))
    out = []
    for region in regions:
        if isinstance(region, BoxRegion):
            if region.count:
                out.append(DistanceMap(shape, None, threads=threads, box=region))
                continue
            region = np.zeros(0, dtype=np.int64)
        idx = np.ascontiguousarray(region, dtype=np.int64)
        if idx.size == 0:
            out.append(DistanceMap(shape, idx, np.zeros(0, np.float32), 0.0))
        else:
            out.append(DistanceMap(shape, idx, threads=threads))
    return out


_NO_PIXELS = np.zeros(0, dtype=np.int64)


def _full_distances(idx: np.ndarray, shape: tuple[int, int], threads: int) -> np.ndarray:
    """The distances of every pixel of the region ``idx`` (int64, ascending, not empty)."""
    width = shape[1]
    if _edt is not None:
        dist = np.empty(idx.size, dtype=np.float32)
        _edt.region(idx, width, dist, threads if idx.size >= _SPLIT_PIXELS else 1)
        return dist
    ys = idx // width
    xs = idx - ys * width
    y0, x0 = int(ys[0]), int(xs.min())
    return _opencv_at(ys - y0, xs - x0, int(ys[-1]) + 1 - y0, int(xs.max()) + 1 - x0)


def _opencv_at(ys: np.ndarray, xs: np.ndarray, h: int, w: int) -> np.ndarray:
    """Exact distances at local pixels (ys, xs) of a region inside an h×w box, with OpenCV.

    OpenCV's precise transform is fast, but its last bit varies from call to call, so the
    values are snapped to ``sqrt(round(d²))`` (squared distances between pixels are integers);
    beyond ``_SNAP_LIMIT`` float32 cannot tell neighbouring integers apart and SciPy's exact
    transform is used instead."""
    crop = np.zeros((h + 2, w + 2), dtype=np.uint8)
    crop[ys + 1, xs + 1] = 1
    dist = cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    vals = dist[ys + 1, xs + 1]
    if float(vals.max()) >= _SNAP_LIMIT:
        from scipy.ndimage import distance_transform_edt

        return distance_transform_edt(crop)[ys + 1, xs + 1].astype(np.float32)
    v64 = vals.astype(np.float64)
    return _sqrt(np.rint(v64 * v64))


def padded_distance(mask: np.ndarray) -> DistanceMap:
    """Distance from every true pixel to the nearest false pixel, the image border counting as
    false (pad by one zero pixel, exact L2 transform, remove the padding)."""
    mask = np.asarray(mask, dtype=bool)
    return distance_of(np.flatnonzero(mask), mask.shape)


def choose_side(
    fn: np.ndarray | DistanceMap,
    fp: np.ndarray | DistanceMap,
    clicked: Sequence[Click] | np.ndarray = (),
) -> tuple[bool, DistanceMap, DistanceMap]:
    """The baseline side rule: positive iff max(FN distance) > max(FP distance), with the
    already-clicked pixels zeroed. Takes masks or distance maps, and the clicks (or their
    flat indices); returns ``(positive, fn_distance, fp_distance)`` with the clicked pixels
    zeroed."""
    dfn = fn if isinstance(fn, DistanceMap) else padded_distance(fn)
    dfp = fp if isinstance(fp, DistanceMap) else padded_distance(fp)
    dfn, dfp = dfn.zero_at(clicked), dfp.zero_at(clicked)
    # Usually one region settles it: its maximum beats a bound of the other's (which then is
    # never computed). The larger region is asked first.
    if dfn.size >= dfp.size:
        if dfn.max() > dfp.bound():
            return True, dfn, dfp
    elif dfp.max() >= dfn.bound():
        return False, dfn, dfp
    return dfn.max() > dfp.max(), dfn, dfp


def baseline_click(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    clicked: Sequence[Click] = (),
    ignore: np.ndarray | None = None,
) -> Click:
    """The robot click: the deepest point of the larger error (CONTRACT §7)."""
    return next_click(gt_mask, pred_mask, clicked, ignore=ignore).click


# -- clicking groups ---------------------------------------------------------------------------


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
    v = np.ascontiguousarray(values, dtype=np.float32).ravel()
    if v.size == 0:
        return 0.0, 0.0
    if _edt is not None:  # the same, over counted distinct values (None: sort them all)
        found = _edt.thresholds(v, group, n_groups, False)
        if found is not None:
            return found[1], found[2]
    return _sorted_thresholds(v, group, n_groups)


def _sorted_thresholds(v: np.ndarray, group: int, n_groups: int) -> tuple[float, float]:
    """:func:`group_thresholds` of the float32 values ``v`` (not empty) by a full sort."""
    s = np.sort(v)
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


def check_density(values: np.ndarray, who: str = "simulator") -> np.ndarray:
    """``values`` as float32, or ValueError when some are negative or not finite."""
    v = np.asarray(values, dtype=np.float32)
    # NaN fails the first test (min propagates it), +inf the second
    if v.size and not (v.min() >= 0 and np.isfinite(v.max())):
        raise ValueError(f"{who} returned a density with negative or non-finite values")
    return v


def pick(
    idx: np.ndarray,
    weights: np.ndarray,
    rng: np.random.Generator,
    group: int = 1,
    n_groups: int = 1,
    deterministic: bool = False,
) -> int | None:
    """One flat index drawn from ``idx`` (row-major order) with probability ∝ ``weights``
    inside the group's mass slice, or the first maximum when ``deterministic``; None when no
    positive weight is left. Uses exactly one ``rng.random()`` when it samples. ``weights``
    must be finite and non-negative (see :func:`check_density`)."""
    j = pick_position(weights, rng, group, n_groups, deterministic)
    return None if j is None else int(idx[j])


def pick_position(
    weights: np.ndarray,
    rng: np.random.Generator,
    group: int = 1,
    n_groups: int = 1,
    deterministic: bool = False,
    counts: np.ndarray | None = None,
) -> int | None:
    """:func:`pick` as a position into ``weights`` (not a flat index). ``counts``: the
    weights' positive values counted, when they are distances (see
    :meth:`DistanceMap.counts_of`); the group's thresholds and the slice's sum then come from
    the counts instead of passes over the weights (the same numbers)."""
    w = np.ascontiguousarray(weights, dtype=np.float32)
    if _edt is not None and not deterministic:  # the steps below, in C (bit-identical)
        if n_groups > 1 and not 1 <= group <= n_groups:
            raise ValueError(f"group must be in 1..{n_groups}, got {group}")
        counted = None
        if counts is not None:
            counted = _edt.counted_slice(counts, group if n_groups > 1 else 1, n_groups)
        if counted is not None:  # total < 0: too large a sum to be exact in any order
            _, lo, hi, count, total = counted
        else:
            lo, hi = 0.0, np.inf
            if n_groups > 1:
                found = _edt.thresholds(w, group, n_groups, True)
                if found is None:  # too many distinct weights to count: sort them
                    vals = w[w > 0]
                    found = (vals.size, 0.0, 0.0)
                    if vals.size:
                        found = (vals.size, *_sorted_thresholds(vals, group, n_groups))
                if found[0] == 0:
                    return None
                lo, hi = found[1], found[2]
            total = -1.0
        if total < 0:  # the slice's float64 sum in order
            count, total = _edt.slice_total(w, lo, hi)
        if count == 0 or total <= 0:
            return None
        return int(_edt.group_draw(w, lo, hi, rng.random() * total))
    nz = np.flatnonzero(w)
    if nz.size == 0:
        return None
    vals = w[nz]
    if deterministic:
        return int(nz[int(np.argmax(vals))])
    if n_groups > 1:
        lo, hi = group_thresholds(vals, group, n_groups)
        keep = (vals >= lo) & (vals <= hi)
        nz, vals = nz[keep], vals[keep]
    cs = np.cumsum(vals, dtype=np.float64)
    if nz.size == 0 or cs[-1] <= 0:
        return None
    u = rng.random() * cs[-1]
    j = min(int(np.searchsorted(cs, u, side="right")), nz.size - 1)
    return int(nz[j])


# -- the click step ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """The side of the next click and the error region it falls in.

    ``region`` is the FN (positive) or FP (negative) region with its distances as computed,
    shared by every trajectory in the same state (densities are looked up on it);
    ``distances`` are the same distances with the already-clicked pixels zeroed, whose first
    maximum is the baseline click."""

    positive: bool
    region: DistanceMap
    distances: DistanceMap


def click_side(
    fn: DistanceMap, fp: DistanceMap, clicked: Sequence[Click] | np.ndarray = ()
) -> Side:
    """The baseline side rule (:func:`choose_side`) on a prediction's FN and FP distance
    maps, with ``clicked`` (clicks or flat indices ``y * W + x``) zeroed."""
    positive, dfn, dfp = choose_side(fn, fp, clicked)
    return Side(positive, fn if positive else fp, dfn if positive else dfp)


@dataclass(frozen=True)
class ClickChoice:
    """What :func:`click_step` chose and why.

    ``weights`` are the density × not-yet-clicked values at ``side.region.idx`` (``None``
    for the baseline click); ``fallback`` is True when the density left nothing to sample (the
    baseline point was taken instead)."""

    click: Click
    fallback: bool
    side: Side
    weights: np.ndarray | None = None
    group: int = 0
    n_groups: int = 1
    deterministic: bool = True

    def support(self) -> np.ndarray:
        """Flat indices of the pixels the click could have been drawn from: the clicking
        group's mass slice (:func:`group_support`), the first maximum of the weights for a
        deterministic simulator, every positive weight without groups; the baseline point
        for the baseline click and for a fallback."""
        region = self.side.region
        w = self.weights
        if w is None or self.fallback:
            y, x = self.side.distances.first_argmax()
            return np.array([y * region.shape[1] + x], dtype=np.int64)
        if self.deterministic:
            return region.idx[[int(np.argmax(w))]]
        if self.n_groups > 1:
            return region.idx[group_support(w, self.group, self.n_groups)]
        return region.idx[w > 0]


def click_step(
    side: Side,
    values: np.ndarray | None,
    clicked: Sequence[Click] | np.ndarray,
    rng: np.random.Generator | None = None,
    group: int = 0,
    n_groups: int = 1,
    deterministic: bool = True,
) -> ClickChoice:
    """The one click of CONTRACT §7 on the chosen side.

    ``values`` is the simulator's density at ``side.region.idx`` (``None``: the baseline
    robot). Weights = density × not-yet-clicked (``clicked``: clicks or flat indices); a
    deterministic simulator clicks their first maximum, otherwise group ``group`` of
    ``n_groups`` keeps its mass slice and one pixel is drawn proportionally to its weight with
    a single ``rng.random()``. With nothing left, or for the baseline, the click is the first
    maximum of ``side.distances`` (the deepest point of the error, row-major ties)."""
    region = side.region
    weights = None
    flat = None
    if values is not None:
        weights = np.array(values, dtype=np.float32, copy=True)
        at = region.positions(clicked)
        weights[at] = 0.0
        if not deterministic and rng is None:
            raise ValueError("click_step: a sampling simulator needs an rng")
        counts = None if deterministic else region.counts_of(values, at)
        j = pick_position(weights, rng, group, n_groups, deterministic, counts)  # type: ignore[arg-type]
        flat = None if j is None else region.flat_at(j)
    if flat is None:
        y, x = side.distances.first_argmax()
    else:
        y, x = divmod(flat, region.shape[1])
    return ClickChoice(
        Click(x, y, side.positive),
        values is not None and flat is None,
        side,
        weights,
        group,
        n_groups,
        deterministic,
    )


def next_click(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    clicked: Sequence[Click] = (),
    density: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    rng: np.random.Generator | None = None,
    group: int = 0,
    n_groups: int = 1,
    ignore: np.ndarray | None = None,
    deterministic: bool = False,
) -> ClickChoice:
    """The click that follows the prediction ``pred_mask`` (CONTRACT §7), from masks: the
    error masks, :func:`click_side`, then :func:`click_step`.

    ``density``: ``None`` for the baseline robot; an H×W density map; or a callable
    ``error_mask -> density map``, called with the chosen side's error region (what the engine
    asks a simulator for). ``group`` of ``n_groups`` and ``rng`` as in :func:`click_step`."""
    fn, fp = error_masks(gt_mask, pred_mask, ignore)
    side = click_side(padded_distance(fn), padded_distance(fp), clicked)
    values = None
    if density is not None:
        dens = density(side.region.mask()) if callable(density) else density
        values = check_density(np.asarray(dens).ravel()[side.region.idx])
    else:
        deterministic = True
    return click_step(side, values, clicked, rng, group, n_groups, deterministic)


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
    """A click drawn from the H×W ``density`` (CONTRACT §7) for the prediction ``pred_mask``.
    Returns ``(click, fell_back)`` (see :func:`next_click`)."""
    choice = next_click(
        gt_mask, pred_mask, clicked, density, rng, group, n_groups, ignore, deterministic
    )
    return choice.click, choice.fallback


def trajectory_rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator derived from ``(seed, *key)`` — for a trajectory (dataset, sample,
    instance, simulator, group, repeat) — so results depend neither on the order of work nor on
    the number of workers."""
    text = "\x1f".join(str(k) for k in (seed, *key))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))
