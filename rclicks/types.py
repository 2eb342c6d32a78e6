"""Plain data types shared by every part of rclicks. Imports nothing of the project."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Click:
    """One click. ``x`` is the column and ``y`` the row, 0-based, in original image pixels."""

    x: int
    y: int
    positive: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", int(self.x))
        object.__setattr__(self, "y", int(self.y))
        object.__setattr__(self, "positive", bool(self.positive))


@dataclass
class Sample:
    """One image with one or more target instances.

    ``image`` is H×W×3 ``uint8`` RGB; every mask in ``instances`` (and ``ignore``) is H×W ``bool``.
    """

    sample_id: str
    image: np.ndarray
    instances: Mapping[str, np.ndarray]
    ignore: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


def validate_sample(sample: Sample) -> list[str]:
    """Return a list of problems with ``sample`` (empty when it is well formed)."""
    problems: list[str] = []
    img = sample.image
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
        shape = getattr(img, "shape", None)
        problems.append(f"image must be an H×W×3 array, got shape {shape}")
        return problems
    if img.dtype != np.uint8:
        problems.append(f"image must be uint8, got {img.dtype}")
    h, w = img.shape[:2]
    if not sample.instances:
        problems.append("sample has no instances")
    for name, mask in sample.instances.items():
        if not isinstance(mask, np.ndarray) or mask.shape != (h, w):
            problems.append(
                f"instance {name!r}: mask shape {getattr(mask, 'shape', None)} "
                f"does not match the image {h}×{w}"
            )
        elif not mask.any():
            problems.append(f"instance {name!r}: mask is empty")
    if sample.ignore is not None and getattr(sample.ignore, "shape", None) != (h, w):
        problems.append(
            f"ignore mask shape {getattr(sample.ignore, 'shape', None)} does not match {h}×{w}"
        )
    return problems
