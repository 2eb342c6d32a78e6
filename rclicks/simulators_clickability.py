"""The ``clickability`` click simulator: the RClicks clickability network as a density.

The pipeline follows the reference ``ClickabilityModel`` (RClicks ``clicksim.py``):

1. RGB uint8 -> ``/255`` -> ImageNet mean/std normalisation.
2. Letterbox to 416x416 after normalisation (padding is 0 in normalised space). Tall images
   (``H/416 > W/416``) are resized to 416 rows x ``(W*416)//H`` columns and centred on the
   columns; all others to ``(H*416)//W`` rows x 416 columns, centred on the rows. Resizing is
   ``cv2.resize`` with bilinear interpolation. The gt mask and the error mask (float32 0/1) are
   letterboxed the same way.
3. Coord features = ``cat(gt, error)``; the network runs in eval mode under ``no_grad`` and
   returns a per-sample min-max normalised map.
4. Un-letterbox: crop the same band, resize to ``(H, W)`` (bilinear, ``align_corners=False``, no
   antialias), then min-max once more without eps.

torch and torchvision are imported lazily: importing this module costs nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.files import sha256_file

__all__ = [
    "ClickabilitySimulator",
    "CheckpointNotFoundError",
    "CHECKPOINT_NAME",
    "CHECKPOINT_URL",
    "make_clickability",
    "net_options",
    "NET_JSON",
]

SIZE = 416
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CHECKPOINT_NAME = "clickability_model.pth"
CHECKPOINT_URL = "https://drive.google.com/drive/folders/1ERy2swCS35qT_J0B-QQsPCfyzXbPODK7"
CHECKPOINT_SHA256: str | None = None  # no published checksum is known
ENV_VAR = "RCLICKS_CHECKPOINTS"
# Beside a checkpoint trained by ``rclicks train-clickability``: the ``ClickabilityNet``
# keyword arguments of a reduced-width network (absent for the official architecture).
NET_JSON = "net.json"


class CheckpointNotFoundError(FileNotFoundError):
    """The clickability checkpoint is missing."""


class ChecksumError(ValueError):
    """The checkpoint's sha256 does not match the expected one."""


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


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        return np.zeros_like(x, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def _missing_message(path: Path, looked: str) -> str:
    known = CHECKPOINT_SHA256 or "not published"
    return (
        f"clickability simulator: checkpoint {CHECKPOINT_NAME!r} not found at {str(path)!r} "
        f"({looked}). It is the official RClicks clickability model, published in "
        f"CLICKABILITY_CHECKPOINTS.zip (445 MB) on Google Drive: {CHECKPOINT_URL} (see the "
        f"emb-ai/rclicks README); expected sha256: {known}. Download and unzip it, then either "
        f"set ${ENV_VAR} to the folder holding {CHECKPOINT_NAME} or pass the file explicitly, "
        f"e.g. rclicks eval --simulator clickability --sim-opt checkpoint=/path/to/"
        f"{CHECKPOINT_NAME} (in Python: make_clickability(checkpoint=...))."
    )


def resolve_checkpoint(checkpoint: str | os.PathLike | None) -> Path:
    """The checkpoint path: ``checkpoint`` or ``$RCLICKS_CHECKPOINTS/clickability_model.pth``."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        looked = "the path given as checkpoint="
    else:
        root = os.environ.get(ENV_VAR)
        if not root:
            path = Path(CHECKPOINT_NAME)
            raise CheckpointNotFoundError(
                _missing_message(path, f"no checkpoint= was given and ${ENV_VAR} is not set")
            )
        path = Path(root).expanduser() / CHECKPOINT_NAME
        looked = f"${ENV_VAR}={root}"
    if not path.is_file():
        raise CheckpointNotFoundError(_missing_message(path, f"looked via {looked}"))
    return path


def load_state_dict(path: Path, sha256: str | None = None) -> dict:
    """Read a checkpoint: a raw ``state_dict``, or a dict holding one under ``state_dict`` or
    ``model``; a common ``module.`` prefix is stripped."""
    return _unwrap(_load_object(path, sha256), path)


def _load_object(path: Path, sha256: str | None = None):
    import torch

    if sha256 is not None and str(sha256).strip():  # "" (an unset ${VAR:-}) = no check
        got = sha256_file(path)
        if got.lower() != sha256.strip().lower():
            raise ChecksumError(
                f"clickability simulator: sha256 mismatch for {str(path)!r}: expected "
                f"{sha256.strip().lower()}, got {got}. The file is corrupt or a different "
                f"checkpoint; download {CHECKPOINT_NAME} again from {CHECKPOINT_URL}."
            )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise RuntimeError(
            f"clickability simulator: could not load {str(path)!r} with "
            f"torch.load(weights_only=True): {exc}. The file must hold plain tensors (a "
            f"state_dict), as the official {CHECKPOINT_NAME} does."
        ) from exc
    return obj


def _unwrap(obj, path: Path) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict):
                obj = inner
                break
    if not isinstance(obj, dict):
        raise RuntimeError(
            f"clickability simulator: {str(path)!r} holds a {type(obj).__name__}, not a state_dict"
        )
    prefix = "module."  # written by DataParallel / DistributedDataParallel
    if obj and all(k.startswith(prefix) for k in obj):
        obj = {k[len(prefix) :]: v for k, v in obj.items()}
    return obj


def normalise_image(image: np.ndarray) -> np.ndarray:
    """The network's image input before letterboxing: RGB uint8 (or grey) H×W -> ImageNet-
    normalised float32 H×W×3, C-contiguous."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError(f"clickability simulator: expected an H×W×3 image, got {arr.shape}")
    x = arr[:, :, :3].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray((x - MEAN) / STD, dtype=np.float32)


def coord_features(gt_mask: np.ndarray, error_mask: np.ndarray) -> np.ndarray:
    """The network's coord input: letterboxed (gt mask, error mask), float32 2×416×416."""
    gt = letterbox(np.asarray(gt_mask).astype(np.float32))
    err = letterbox(np.asarray(error_mask).astype(np.float32))
    return np.stack([gt, err])


class ClickabilitySimulator:
    """Density = the RClicks clickability network's map (sampled, not maximised).

    ``density_batch`` runs every trajectory of a call in one network batch (chunks of
    ``batch_size``); the normalised, letterboxed image is cached per image (single entry).
    """

    deterministic = False

    def __init__(self, net: Any, device: str = "cpu", batch_size: int = 16) -> None:
        import torch

        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"clickability simulator: batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self._cache_key: tuple | None = None
        self._cache_img: Any = None
        self._cache_val: Any = None

    # -- preprocessing -------------------------------------------------------------------------
    def _image_tensor(self, image: np.ndarray):
        """1×3×416×416 normalised, letterboxed image tensor (cached for the last image)."""
        import torch

        arr = np.asarray(image)
        # The cache holds the image object itself, so its id cannot be reused by another array
        # while cached (images are not expected to be modified in place between calls).
        key = (id(image), arr.shape, arr.dtype.str, arr.__array_interface__["data"][0])
        if self._cache_key == key and self._cache_img is image:
            return self._cache_val
        boxed = letterbox(normalise_image(arr))
        tensor = torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1)))[None]
        tensor = tensor.to(self.device)
        self._cache_key, self._cache_img, self._cache_val = key, image, tensor
        return tensor

    # -- postprocessing ------------------------------------------------------------------------
    @staticmethod
    def _unletterbox(maps, shape: tuple[int, int]) -> list[np.ndarray]:
        """B×1×416×416 tensor -> list of H×W float32 densities."""
        import torch.nn.functional as F

        h, w = shape
        tall, length, off = letterbox_geometry(h, w, maps.shape[-1])
        band = maps[:, :, :, off : off + length] if tall else maps[:, :, off : off + length, :]
        up = F.interpolate(band, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
        return [_minmax(m) for m in up[:, 0].float().cpu().numpy()]

    # -- protocol ------------------------------------------------------------------------------
    def density(self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray):
        return self.density_batch([image], [gt_mask], [error_mask])[0]

    def density_batch(
        self,
        images: Sequence[np.ndarray],
        gt_masks: Sequence[np.ndarray],
        error_masks: Sequence[np.ndarray],
    ) -> list[np.ndarray]:
        import torch

        n = len(images)
        if not (len(gt_masks) == len(error_masks) == n):
            raise ValueError("clickability simulator: images, gt_masks and error_masks differ")
        out: list[np.ndarray] = []
        for start in range(0, n, self.batch_size):
            idx = range(start, min(n, start + self.batch_size))
            imgs = torch.cat([self._image_tensor(images[i]) for i in idx])
            coords = np.stack([coord_features(gt_masks[i], error_masks[i]) for i in idx])
            coords_t = torch.from_numpy(coords).to(self.device)
            with torch.no_grad():
                maps = self.net(imgs, coords_t)
            for j, i in enumerate(idx):
                shape = tuple(np.asarray(gt_masks[i]).shape[:2])
                out.extend(self._unletterbox(maps[j : j + 1], shape))
        return out


def net_options(value: Any) -> dict | None:
    """``ClickabilityNet`` keyword arguments from ``value``: a dict, JSON text (``{...}``) or
    the path of a JSON file; ``None`` stays ``None``. Unknown keys are an error."""
    from rclicks.nets.segnext import DEFAULT_NET_OPTIONS

    if value is None or value == "":
        return None
    if isinstance(value, (str, os.PathLike)):
        text = str(value).strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"clickability simulator: net={text!r} is not JSON: {exc}"
                ) from None
        else:
            path = Path(text).expanduser()
            if not path.is_file():
                raise ValueError(
                    f"clickability simulator: net={text!r}: no such JSON file (net takes the "
                    f"path of a {NET_JSON} or a JSON object of ClickabilityNet options)"
                )
            try:
                value = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(
                    f"clickability simulator: {path}: unreadable JSON: {exc}"
                ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"clickability simulator: net options must be a JSON object, got {value!r}"
        )
    unknown = sorted(set(value) - set(DEFAULT_NET_OPTIONS))
    if unknown:
        raise ValueError(
            f"clickability simulator: unknown net option(s) {', '.join(unknown)}; known: "
            f"{', '.join(DEFAULT_NET_OPTIONS)}"
        )
    return dict(value)


def checkpoint_net_options(path: Path, obj: Any = None) -> dict | None:
    """The net options stored with a checkpoint: under ``net`` inside it (``last.ckpt`` of
    ``rclicks train-clickability``), else in a ``net.json`` beside it; ``None`` when neither
    exists (the official architecture)."""
    if isinstance(obj, dict) and isinstance(obj.get("net"), dict):
        return net_options(obj["net"])
    side = Path(path).parent / NET_JSON
    if side.is_file():
        return net_options(side)
    return None


def build_net(options: dict | None = None):
    """A ``ClickabilityNet`` with ``options`` (default: the official architecture)."""
    from rclicks.nets.segnext import ClickabilityNet

    return ClickabilityNet(**(options or {}))


def make_clickability(
    checkpoint: str | os.PathLike | None = None,
    sha256: str | None = None,
    device: str = "cpu",
    batch_size: int | None = None,
    random_weights: bool = False,
    seed: int = 0,
    net: Any = None,
) -> ClickabilitySimulator:
    """Build the ``clickability`` simulator.

    ``checkpoint``: path to ``clickability_model.pth``; default
    ``$RCLICKS_CHECKPOINTS/clickability_model.pth``. ``sha256``: checked when given.
    ``batch_size``: trajectories per network call; default 16 on CUDA and 1 on the CPU, where
    batching measured slower (benchmarks/clickability.py: 0.68x for 11 trajectories at 416²).
    ``random_weights=True`` builds the network with seeded random weights (tests; no file).
    ``net``: ``ClickabilityNet`` options (dict, JSON text or a JSON file) for a reduced-width
    network; by default they are read from the checkpoint (``last.ckpt``) or a ``net.json``
    beside it, as written by ``rclicks train-clickability``, else the official architecture.
    """
    import torch

    if isinstance(random_weights, str):  # option values may come from a command line
        random_weights = random_weights.strip().lower() in ("1", "true", "yes", "on")
    if batch_size in (None, "", "auto"):
        batch_size = 16 if str(device).startswith("cuda") else 1
    batch_size, seed = int(batch_size), int(seed)
    options = net_options(net)
    if random_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = build_net(options)
    else:
        path = resolve_checkpoint(checkpoint)
        obj = _load_object(path, sha256)
        state = _unwrap(obj, path)
        if options is None:
            options = checkpoint_net_options(path, obj)
        model = build_net(options)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise RuntimeError(
                f"clickability simulator: {str(path)!r} does not fit the network built with "
                f"net options {options or 'default (official architecture)'}: {first} ... A "
                f"reduced-width checkpoint from rclicks train-clickability needs its {NET_JSON} "
                f"beside it, or pass the options: --sim-opt net=/path/to/{NET_JSON}."
            ) from None
    return ClickabilitySimulator(model, device=device, batch_size=batch_size)
