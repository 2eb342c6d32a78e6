"""A minimal rclicks model plugin: a colour-nearest-click segmenter.

``encode`` converts the image to float once; ``predict`` labels each pixel by whether its
colour is closer to the colours under the positive clicks or under the negative ones (the
image border stands in for the background before the first negative click).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import rclicks
from rclicks import Click


class ColourClickModel:
    """Per-pixel colour nearest-click classifier. ``softness`` sets how sharp the map is."""

    threshold = 0.5

    def __init__(self, softness: float = 20.0, device: str = "cpu") -> None:
        self.softness = float(softness)
        self.device = device  # a CPU-only model just records it

    def encode(self, image: np.ndarray) -> dict[str, Any]:
        img = np.asarray(image, dtype=np.float32)
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        return {"image": img, "border": border.mean(axis=0)}

    def predict(
        self, embedding: dict[str, Any], clicks: Sequence[Click], state: Any | None
    ) -> tuple[np.ndarray, Any]:
        img = embedding["image"]
        pos = [img[c.y, c.x] for c in clicks if c.positive]
        neg = [img[c.y, c.x] for c in clicks if not c.positive] or [embedding["border"]]
        if not pos:
            return np.zeros(img.shape[:2], dtype=np.float32), state
        d_pos = np.min([np.linalg.norm(img - p, axis=2) for p in pos], axis=0)
        d_neg = np.min([np.linalg.norm(img - n, axis=2) for n in neg], axis=0)
        prob = 1.0 / (1.0 + np.exp((d_pos - d_neg) / self.softness))
        return prob.astype(np.float32), state


@rclicks.hookimpl
def rclicks_register_models(register):
    register(
        "template-colour", ColourClickModel, description="template plugin: colour nearest click"
    )
