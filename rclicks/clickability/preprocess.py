"""The clickability network's inputs and outputs, shared by the simulator and training: the
reference ``ClickabilityModel`` (RClicks ``clicksim.py``) pipeline.

1. RGB uint8 -> ``/255`` -> ImageNet mean/std normalisation (:func:`normalise_image`).
2. Letterbox to 416x416 after normalisation (padding is 0 in normalised space). Tall images
   (``H/416 > W/416``) are resized to 416 rows x ``(W*416)//H`` columns and centred on the
   columns; all others to ``(H*416)//W`` rows x 416 columns, centred on the rows. Resizing is
   ``cv2.resize`` with bilinear interpolation. The gt mask and the error mask (float32 0/1) are
   letterboxed the same way (:func:`coord_features`).
3. Un-letterbox the output: crop the same band, resize to ``(H, W)`` (bilinear,
   ``align_corners=False``, no antialias), then min-max once more without eps.
"""

from __future__ import annotations

import numpy as np

from rclicks.errors import OptionError

SIZE = 416
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def letterbox_geometry(h: int, w: int, size: int = SIZE) -> tuple[bool, int, int]:
    """``(tall, length, offset)``: the resized side's length and where the band starts."""
    tall = h / size > w / size
    length = (w * size) // h if tall else (h * size) // w
    length = min(max(length, 1), size)
    return tall, length, (size - length) // 2


def letterbox(arr: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Resize ``arr`` (H×W or H×W×C float32) into a zero-padded ``size``×``size`` canvas."""
    import cv2

    h, w = arr.shape[:2]
    tall, length, off = letterbox_geometry(h, w, size)
    out = np.zeros((size, size) + arr.shape[2:], dtype=np.float32)
    if tall:
        out[:, off : off + length] = cv2.resize(arr, (length, size), interpolation=cv2.INTER_LINEAR)
    else:
        out[off : off + length] = cv2.resize(arr, (size, length), interpolation=cv2.INTER_LINEAR)
    return out


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        return np.zeros_like(x, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def normalise_image(image: np.ndarray) -> np.ndarray:
    """The network's image input before letterboxing: RGB uint8 (or grey) H×W -> ImageNet-
    normalised float32 H×W×3, C-contiguous."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise OptionError(f"clickability simulator: expected an H×W×3 image, got {arr.shape}")
    x = arr[:, :, :3].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray((x - MEAN) / STD, dtype=np.float32)


def coord_features(gt_mask: np.ndarray, error_mask: np.ndarray) -> np.ndarray:
    """The network's coord input: letterboxed (gt mask, error mask), float32 2×416×416."""
    gt = letterbox(np.asarray(gt_mask).astype(np.float32))
    err = letterbox(np.asarray(error_mask).astype(np.float32))
    return np.stack([gt, err])
