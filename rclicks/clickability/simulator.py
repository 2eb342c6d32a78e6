"""The ``clickability`` click simulator: the RClicks clickability network as a density, with
the reference pipeline of :mod:`rclicks.clickability.preprocess`; the network runs in eval
mode under ``no_grad`` and returns a per-sample min-max normalised map.

torch and torchvision are imported lazily: importing this module costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rclicks.clickability.checkpoint import (
    NET_JSON,
    build_net,
    checkpoint_net_options,
    load_object,
    net_options,
    resolve_checkpoint,
    unwrap,
)
from rclicks.clickability.preprocess import (
    coord_features,
    letterbox,
    letterbox_geometry,
    minmax,
    normalise_image,
)
from rclicks.errors import ComponentError, OptionError
from rclicks.options import as_bool

__all__ = ["ClickabilitySimulator", "make_clickability"]


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
            raise OptionError(f"clickability simulator: batch_size must be >= 1, got {batch_size}")
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
        return [minmax(m) for m in up[:, 0].float().cpu().numpy()]

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
            raise OptionError("clickability simulator: images, gt_masks and error_masks differ")
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

    random_weights = as_bool(random_weights, "clickability simulator: random_weights")
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
        obj = load_object(path, sha256)
        state = unwrap(obj, path)
        if options is None:
            options = checkpoint_net_options(path, obj)
        model = build_net(options)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ComponentError(
                f"clickability simulator: {str(path)!r} does not fit the network built with "
                f"net options {options or 'default (official architecture)'}: {first} ... A "
                f"reduced-width checkpoint from rclicks train-clickability needs its {NET_JSON} "
                f"beside it, or pass the options: --sim-opt net=/path/to/{NET_JSON}."
            ) from None
    return ClickabilitySimulator(model, device=device, batch_size=batch_size)
