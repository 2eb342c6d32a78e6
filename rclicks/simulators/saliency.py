"""The ``saliency`` click simulator: the RClicks paper's saliency recipes "SM" and "SI".

The recipe follows the reference ``SaliencyModel`` (RClicks), around the *error* mask (at the
first click the error mask is the gt mask):

1. **Box.** Bounding box of the error mask, rows ``r0..r1`` and columns ``c0..c1`` inclusive,
   ``hb = r1 - r0 + 1``, ``wb = c1 - c0 + 1``. Each side is padded by
   ``dh = int((int(1.4 * hb) - hb) / 2)`` rows and ``dw`` columns likewise. The crop is rows
   ``clip(r0 - dh, 0, H) .. clip(r1 + dh, 0, H)`` inclusive (so clipped to the image), columns
   likewise (:func:`crop_box`).
2. **Cut-out** (``cutout=True``, "SM"). Inside the crop, error pixels keep the image and every
   other pixel becomes mid grey: 0.5 on a 0..1 scale, stored as ``GREY = 128`` in uint8
   (``round(0.5 * 255)``, half to even). With ``cutout=False`` ("SI") the plain image crop is
   used.
3. **Saliency** of that crop from the backend (a callable ``uint8 RGB crop -> float map``), times
   the crop's error mask. If that sums to 0, the crop's error mask (0/1) is used instead, as in
   the reference; otherwise it is divided by its sum.
4. **Paste** into a zero H×W float32 map at the crop's position: the density.

Backends
--------
A backend is any callable ``saliency(crop) -> map``: ``crop`` is an h×w×3 uint8 RGB array, the
map h×w (or 1×h×w) finite and non-negative; a map of another size is resized bilinearly to
h×w. The simulator's ``backend`` option names one:

* a built-in name: ``"spectral-residual"`` (default, weightless, :class:`SpectralResidual`);
* a name registered with :func:`register_backend` (e.g. from a plugin's
  ``rclicks_register_simulators`` hook);
* an import path ``"package.module:attr"``.

Names and import paths point at *factories*: ``factory(**options)`` returns the saliency
callable; the simulator's other keyword options go to it (and ``device`` when it accepts one).
From Python, ``backend`` may also be the saliency callable itself.

Nothing here imports torch; OpenCV and scipy are imported when first used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rclicks.errors import ComponentError, OptionError
from rclicks.options import as_bool
from rclicks.plugins.names import accepts, load_target

__all__ = [
    "DEFAULT_BACKEND",
    "GREY",
    "SaliencySimulator",
    "SpectralResidual",
    "available_backends",
    "crop_box",
    "cut_out",
    "make_saliency",
    "register_backend",
    "resolve_backend",
]

GREY = 128  # 0.5 on a 0..1 scale: round(0.5 * 255) = round(127.5) = 128 (half to even)
DEFAULT_BACKEND = "spectral-residual"
PAD = 1.4  # the crop is the error box enlarged 1.4 times

SaliencyFn = Callable[[np.ndarray], np.ndarray]


# -- the weightless default backend --------------------------------------------------------------
class SpectralResidual:
    """Spectral residual saliency (Hou & Zhang, CVPR 2007), after their MATLAB code.

    1. Grey (``cv2.COLOR_RGB2GRAY``, scaled to 0..1), resized (``INTER_AREA`` when shrinking,
       else bilinear) to ``width`` columns keeping the aspect ratio (at least 1 row, at most
       ``max_rows``: the width shrinks instead for very tall crops). A flat result gives an
       all-zero map.
    2. Log amplitude spectrum ``log(|F| + floor * max|F|)`` minus its 3×3 box-filtered version
       (replicated border, as the authors' ``imfilter(..., 'replicate')``); the phase is
       kept. The relative ``floor`` (1e-6) keeps exact spectral zeros of flat synthetic crops
       from dominating; the authors' code has none.
    3. Squared magnitude of the inverse FFT, Gaussian blur with ``sigma`` pixels at that scale
       (default 2.5 as in the authors' code, whose kernel is cut at 10×10; here OpenCV derives
       the kernel size from sigma).
    4. Bilinear resize back to the crop size, min-max normalisation (a flat map gives zeros).
    """

    def __init__(
        self, width: int = 64, sigma: float = 2.5, max_rows: int = 1024, floor: float = 1e-6
    ) -> None:
        self.width, self.sigma, self.max_rows = int(width), float(sigma), int(max_rows)
        self.floor = float(floor)
        if not self.floor > 0:
            raise OptionError(f"spectral-residual: floor must be > 0, got {floor}")
        if self.width < 1 or self.max_rows < 1:
            raise OptionError("spectral-residual: width and max_rows must be >= 1")
        if not self.sigma > 0:
            raise OptionError(f"spectral-residual: sigma must be > 0, got {sigma}")

    def _size(self, h: int, w: int) -> tuple[int, int]:
        scale = min(self.width / w, self.max_rows / h)
        return max(1, int(round(h * scale))), max(1, int(round(w * scale)))

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        import cv2

        arr = np.asarray(crop)
        if arr.ndim == 3 and arr.shape[2] >= 3:
            grey = cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_RGB2GRAY)
        else:
            grey = arr if arr.ndim == 2 else arr[:, :, 0]
        h, w = grey.shape
        rows, cols = self._size(h, w)
        interp = cv2.INTER_AREA if rows * cols < h * w else cv2.INTER_LINEAR
        small = cv2.resize(grey.astype(np.float32) / 255.0, (cols, rows), interpolation=interp)
        if float(small.max() - small.min()) < 1e-6:  # a flat crop has no saliency
            return np.zeros((h, w), np.float32)
        spec = np.fft.fft2(small.astype(np.float64))
        amp = np.abs(spec)
        log_amp = np.log(amp + self.floor * max(float(amp.max()), 1e-12))
        residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
        sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spec)))) ** 2
        sal = cv2.GaussianBlur(sal, (0, 0), self.sigma)
        sal = cv2.resize(sal.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        if not np.all(np.isfinite(sal)):
            return np.zeros((h, w), np.float32)
        lo, hi = float(sal.min()), float(sal.max())
        if not hi > lo:
            return np.zeros((h, w), np.float32)
        return ((sal - lo) / (hi - lo)).astype(np.float32)


# -- backend registry ------------------------------------------------------------------------------
#: backend names -> factories, or ``"module:attr"`` targets imported when first used
_BACKENDS: dict[str, Callable[..., SaliencyFn] | str] = {DEFAULT_BACKEND: SpectralResidual}


def register_backend(
    name: str, factory: Callable[..., SaliencyFn] | str, replace: bool = False
) -> None:
    """Make ``backend=name`` build its saliency callable with ``factory(**options)``;
    ``factory`` may be a ``"module:attr"`` string, imported only when the backend is used.

    Registering the same factory twice is a no-op; another factory under a taken name is a
    ``ValueError`` unless ``replace=True``. Names cannot contain ``:`` (import paths)."""
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise OptionError(f"saliency backend name must be a non-empty string without ':': {name!r}")
    if not callable(factory) and not (isinstance(factory, str) and ":" in factory):
        raise TypeError(f"saliency backend {name!r}: factory must be callable or 'module:attr'")
    old = _BACKENDS.get(name)
    if old is not None and old != factory and not replace:
        raise OptionError(f"saliency backend {name!r} is already registered (by {old!r})")
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(_BACKENDS)


def _factory_at(path: str) -> Callable[..., SaliencyFn]:
    try:
        obj = load_target(path)
    except ComponentError as exc:
        raise OptionError(f"saliency backend {path!r}: {exc}") from None
    if not callable(obj):
        raise OptionError(f"saliency backend {path!r} is not callable")
    return obj


def resolve_backend(
    backend: str | SaliencyFn = DEFAULT_BACKEND, device: str | None = None, **options: Any
) -> SaliencyFn:
    """The saliency callable for ``backend`` (a name, ``"module:attr"``, or a callable, which is
    returned as is); ``options`` (and ``device``, when the factory accepts it) go to the
    factory."""
    if callable(backend) and not isinstance(backend, str):
        if options:
            raise OptionError(
                f"saliency: options {sorted(options)} given with a backend callable; "
                "they are only passed to backend factories named by string"
            )
        return backend
    if not isinstance(backend, str):
        raise OptionError(f"saliency: backend must be a name or a callable, got {backend!r}")
    name = backend.strip()
    if ":" in name:
        factory = _factory_at(name)
    elif name in _BACKENDS:
        found = _BACKENDS[name]
        factory = _factory_at(found) if isinstance(found, str) else found
    else:
        raise OptionError(
            f"saliency: unknown backend {backend!r}. Known backends: "
            f"{', '.join(available_backends())}; or give an import path 'module:attr' naming a "
            "factory that returns a callable crop -> saliency map"
        )
    if device is not None and accepts(factory, "device"):
        options = {**options, "device": device}
    fn = factory(**options)
    if not callable(fn):
        raise OptionError(
            f"saliency backend {backend!r}: the factory returned a non-callable {fn!r}"
        )
    return fn


# -- the recipe ------------------------------------------------------------------------------------
def crop_box(error_mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the reference crop, ends exclusive and clipped to the
    image; ``None`` for an empty mask."""
    mask = np.asarray(error_mask, dtype=bool)
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    hb, wb = r1 - r0 + 1, c1 - c0 + 1
    dh = int((int(PAD * hb) - hb) / 2)
    dw = int((int(PAD * wb) - wb) / 2)
    # The reference clips the inclusive ends to H (not H - 1) and adds 1; slicing then stops at
    # H anyway, so the exclusive ends are clipped to H here.
    top, bottom = min(max(r0 - dh, 0), h), min(min(max(r1 + dh, 0), h) + 1, h)
    left, right = min(max(c0 - dw, 0), w), min(min(max(c1 + dw, 0), w) + 1, w)
    return top, bottom, left, right


def cut_out(crop: np.ndarray, mask_crop: np.ndarray) -> np.ndarray:
    """The crop with every pixel outside ``mask_crop`` set to :data:`GREY`."""
    import cv2

    crop = np.ascontiguousarray(crop, dtype=np.uint8)
    mask = np.ascontiguousarray(mask_crop, dtype=bool).view(np.uint8)
    out = np.full(crop.shape, GREY, dtype=np.uint8)
    cv2.copyTo(crop, mask, out)  # ~15x faster than boolean indexing on large crops
    return out


def _as_map(sal: Any, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(sal, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.size == 0:
        raise OptionError(f"saliency backend returned shape {arr.shape}; expected a 2-D map")
    if arr.shape != shape:
        import cv2

        arr = cv2.resize(arr, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise OptionError("saliency backend returned negative or non-finite values")
    return arr


class SaliencySimulator:
    """Density = saliency of the (cut-out) crop around the error region, normalised inside it.

    ``backend``: the saliency callable (see :func:`resolve_backend`); ``cutout``: grey out the
    crop outside the error region ("SM", default) or not ("SI")."""

    deterministic = False

    def __init__(self, backend: SaliencyFn, cutout: bool = True) -> None:
        if not callable(backend):
            raise OptionError(f"saliency: backend must be callable, got {backend!r}")
        self.backend = backend
        self.cutout = bool(cutout)

    def density(self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray):
        err = np.asarray(error_mask, dtype=bool)
        h, w = err.shape
        out = np.zeros((h, w), dtype=np.float32)
        box = crop_box(err)
        if box is None:
            return out
        top, bottom, left, right = box
        crop = np.asarray(image)[top:bottom, left:right]
        if crop.ndim == 2:
            crop = np.repeat(crop[:, :, None], 3, axis=2)
        crop = crop[:, :, :3].astype(np.uint8, copy=False)
        mask_crop = err[top:bottom, left:right]
        x = cut_out(crop, mask_crop) if self.cutout else np.ascontiguousarray(crop)
        sal = _as_map(self.backend(x), mask_crop.shape) * mask_crop
        total = float(sal.sum(dtype=np.float64))
        if total > 0:
            sal = (sal / total).astype(np.float32)
        else:
            sal = mask_crop.astype(np.float32)
        out[top:bottom, left:right] = sal
        return out

    def density_batch(
        self,
        images: Sequence[np.ndarray],
        gt_masks: Sequence[np.ndarray],
        error_masks: Sequence[np.ndarray],
    ) -> list[np.ndarray]:
        if not (len(images) == len(gt_masks) == len(error_masks)):
            raise OptionError("saliency simulator: images, gt_masks and error_masks differ")
        return [self.density(i, g, e) for i, g, e in zip(images, gt_masks, error_masks)]


def make_saliency(
    backend: str | SaliencyFn = DEFAULT_BACKEND,
    cutout: bool = True,
    device: str | None = None,
    **backend_options: Any,
) -> SaliencySimulator:
    """Build the ``saliency`` simulator.

    ``backend``: a backend name, ``"module:attr"`` factory path, or a saliency callable;
    ``cutout``: True = the paper's SM (grey cut-out), False = SI (plain image crop);
    ``device`` and any other keyword options are passed to the backend's factory (``device``
    only when it accepts one), e.g. ``--sim-opt sigma=3`` for spectral residual."""
    return SaliencySimulator(
        resolve_backend(backend, device=device, **backend_options),
        cutout=as_bool(cutout, "saliency: cutout"),
    )
