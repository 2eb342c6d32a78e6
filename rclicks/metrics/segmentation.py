"""Segmentation quality of one trajectory: IoU, NoC, NoF, IoU-AuC (CONTRACT §7)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLDS = (0.85, 0.90, 0.95)


def iou(gt_mask: np.ndarray, pred_mask: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Intersection over union outside ``ignore`` (integer pixel counts; NaN if both empty)."""
    gt = np.asarray(gt_mask, dtype=bool)
    pred = np.asarray(pred_mask, dtype=bool)
    if ignore is not None:
        keep = ~np.asarray(ignore, dtype=bool)
        gt, pred = gt & keep, pred & keep
    inter = int(np.count_nonzero(gt & pred))
    union = int(np.count_nonzero(gt | pred))
    return inter / union if union else float("nan")


def band_width(shape: tuple[int, int], dilation_ratio: float = 0.02) -> int:
    """The width ``d = max(1, round(dilation_ratio × image diagonal))`` of boundary bands."""
    return max(1, int(round(dilation_ratio * float(np.hypot(shape[0], shape[1])))))


def boundary(mask: np.ndarray, dilation_ratio: float = 0.02, width: int | None = None):
    """The inner boundary band of ``mask`` (Cheng et al. 2021, "Boundary IoU"): its pixels
    within ``d`` pixels (chessboard distance) of a background pixel, the image border counting
    as background; ``d`` = ``width`` when given, else :func:`band_width`. Only the mask's
    bounding box is transformed (everything outside it is background anyway)."""
    import cv2

    m = np.asarray(mask, dtype=bool)
    d = band_width(m.shape, dilation_ratio) if width is None else int(width)
    out = np.zeros(m.shape, dtype=bool)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        return out
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = m[y0:y1, x0:x1]
    padded = np.pad(crop.view(np.uint8), 1)  # a zero ring: outside the box is background
    # d erosions by a 3×3 square are one erosion by a (2d+1)² square
    inner = cv2.erode(padded, np.ones((2 * d + 1, 2 * d + 1), np.uint8))[1:-1, 1:-1]
    out[y0:y1, x0:x1] = crop & (inner == 0)
    return out


def boundary_iou(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    dilation_ratio: float = 0.02,
    ignore: np.ndarray | None = None,
) -> float:
    """Boundary IoU: the IoU of the two masks' boundary bands (:func:`boundary`), ignore
    pixels left out of both counts. The bands come from the whole masks, as the RITM /
    RClicks evaluation computes them (``inference/utils.py: get_boundary_iou``). NaN if both
    bands are empty."""
    gb, pb = boundary(gt_mask, dilation_ratio), boundary(pred_mask, dilation_ratio)
    if ignore is not None:
        keep = ~np.asarray(ignore, dtype=bool)
        gb, pb = gb & keep, pb & keep
    union = int(np.count_nonzero(gb | pb))
    return int(np.count_nonzero(gb & pb)) / union if union else float("nan")


def noc(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> int:
    """1-based index of the first click with IoU >= threshold, else ``max_clicks``."""
    arr = np.asarray(ious, dtype=np.float64)[:max_clicks]
    hit = np.flatnonzero(arr >= threshold)
    return int(hit[0]) + 1 if hit.size else int(max_clicks)


def nof(nocs: Sequence[int], max_clicks: int = 20) -> int:
    """Number of instances whose NoC equals ``max_clicks`` (the RITM convention)."""
    return int(np.count_nonzero(np.asarray(nocs) == max_clicks))


def iou_auc(ious: Sequence[float], max_clicks: int | None = None) -> float:
    """Trapezoid area under the IoU curve (unit spacing) divided by ``max_clicks - 1``."""
    arr = np.asarray(ious, dtype=np.float64)
    if max_clicks is not None:
        arr = arr[:max_clicks]
    if arr.size == 1:
        return float(arr[0])
    return float(((arr[1:] + arr[:-1]) / 2).sum() / (arr.size - 1))


def time_at(
    ious: Sequence[float], seconds: Sequence[float], threshold: float, max_clicks: int = 20
) -> float:
    """Model seconds until the IoU first reaches ``threshold``: the sum of the per-click
    ``seconds`` of clicks 1..NoC@threshold (all ``max_clicks`` clicks when it is never
    reached) — EMC-Click's Time@90 for ``threshold`` 0.9."""
    k = noc(ious, threshold, max_clicks)
    return float(np.asarray(seconds, dtype=np.float64)[:k].sum())
