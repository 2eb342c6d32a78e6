"""Built-in weightless click simulators. A simulator is a density and nothing more: the engine
owns the side rule, clicking groups, sampling and randomness.

Besides the protocol's ``density(image, gt_mask, error_mask)`` the built-ins implement the
optional fast path ``region_density(image, gt_mask, region)``: the density's values at the
pixels of ``region`` (a :class:`rclicks.clicks.DistanceMap`, which already holds each pixel's
distance to the region's border), in the order of ``region.idx``.
"""

from __future__ import annotations

import numpy as np

from rclicks.clicks import DistanceMap, padded_distance


class BaselineSimulator:
    """The robot: click the deepest point of the larger error (deterministic)."""

    deterministic = True
    is_baseline = True  # the engine takes the exact baseline rule directly

    def density(self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray):
        return padded_distance(error_mask).dense()

    def region_density(self, image, gt_mask, region: DistanceMap) -> np.ndarray:
        return region.dist.copy()


class UniformSimulator:
    """Every pixel of the error region is equally likely."""

    deterministic = False

    def density(self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray):
        return np.asarray(error_mask, dtype=np.float32)

    def region_density(self, image, gt_mask, region: DistanceMap) -> np.ndarray:
        return np.ones(region.size, dtype=np.float32)


class DistanceSimulator:
    """Density = distance to the error region's border (zero-padded exact L2 transform), raised
    to ``power``: people tend to click away from edges."""

    deterministic = False

    def __init__(self, power: float = 1.0) -> None:
        self.power = float(power)
        if self.power <= 0:
            raise ValueError(f"distance simulator: power must be > 0, got {power}")

    def _shape(self, d: np.ndarray) -> np.ndarray:
        return d if self.power == 1.0 else np.power(d, self.power, dtype=np.float32)

    def density(self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray):
        return self._shape(padded_distance(error_mask).dense())

    def region_density(self, image, gt_mask, region: DistanceMap) -> np.ndarray:
        if self.power != 1.0:
            return self._shape(region.dist)
        view = region.dist.view()  # the distances themselves, not a copy, and not writable
        view.flags.writeable = False
        return view
