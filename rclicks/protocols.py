"""The three protocols a plugin implements. Runtime-checkable, import nothing of the project."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rclicks.types import Click, Sample


@runtime_checkable
class ISModel(Protocol):
    """A click-based interactive segmentation model.

    ``encode(image)`` runs once per image (H×W×3 uint8 RGB); its result is shared by every
    trajectory and every instance of that image. ``predict(embedding, clicks, state)`` returns
    an H×W float32 probability map and the model's own per-trajectory state (``None`` on the
    first click). A pixel is foreground when ``prob > threshold``.

    Optionally ``predict_batch(embedding, clicks_per_trajectory, states)`` decodes several
    trajectories at once; the engine uses it when present.
    """

    threshold: float

    def encode(self, image: np.ndarray) -> Any: ...

    def predict(
        self, embedding: Any, clicks: Sequence[Click], state: Any | None
    ) -> tuple[np.ndarray, Any]: ...


@runtime_checkable
class ClickSimulator(Protocol):
    """Where people click: a non-negative H×W density, of which only the values inside the
    error mask matter. ``deterministic=True`` means "click the maximum"; ``False`` means
    "sample from the density" (with clicking groups). Optionally ``density_batch`` takes lists.
    """

    deterministic: bool

    def density(
        self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray
    ) -> np.ndarray: ...


@runtime_checkable
class Dataset(Protocol):
    """A named, sized iterable of :class:`~rclicks.types.Sample`."""

    name: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Sample]: ...
