"""A plugin used by the tests through a real entry point (see tests/helpers.py)."""

from __future__ import annotations

import os
import signal

import numpy as np

import rclicks

_ENCODES = {"n": 0}


class VoronoiModel:
    """Each pixel takes the label of its nearest click (deterministic, no weights).

    RCLICKS_TEST_DIE_AFTER=N kills the process with SIGKILL at the (N+1)-th encode;
    RCLICKS_TEST_FAIL_WIDTH=W makes the encode of every image W pixels wide raise.
    """

    threshold = 0.5

    def encode(self, image):
        die = os.environ.get("RCLICKS_TEST_DIE_AFTER")
        if die is not None and _ENCODES["n"] >= int(die):
            os.kill(os.getpid(), signal.SIGKILL)
        _ENCODES["n"] += 1
        h, w = image.shape[:2]
        if os.environ.get("RCLICKS_TEST_FAIL_WIDTH") == str(w):
            raise ValueError(f"voronoi refuses images {w} pixels wide")
        return np.mgrid[0:h, 0:w].astype(np.float32)

    def predict(self, emb, clicks, state):
        yy, xx = emb
        best = np.full(yy.shape, np.inf, np.float32)
        prob = np.zeros(yy.shape, np.float32)
        for c in clicks:
            d = (yy - c.y) ** 2 + (xx - c.x) ** 2
            closer = d < best
            best[closer] = d[closer]
            prob[closer] = 1.0 if c.positive else 0.0
        return prob, len(clicks)


class DiskModel:
    """A third-party model with large errors: every click paints a disk of ``radius`` pixels
    (1 for a positive click, 0 for a negative one, later clicks over earlier ones) on an empty
    map. Deterministic, no weights; ``predict_batch`` decodes trajectories one by one."""

    threshold = 0.5

    def __init__(self, radius: int = 150) -> None:
        self.radius = int(radius)

    def encode(self, image):
        return image.shape[:2]

    def predict(self, emb, clicks, state):
        h, w = emb
        r = self.radius
        prob = np.zeros((h, w), np.float32)
        yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
        disk = yy * yy + xx * xx <= r * r
        for c in clicks:
            y0, y1, x0, x1 = c.y - r, c.y + r + 1, c.x - r, c.x + r + 1
            n = 2 * r + 1
            d = disk[max(0, -y0) : n - max(0, y1 - h), max(0, -x0) : n - max(0, x1 - w)]
            prob[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)][d] = 1.0 if c.positive else 0.0
        return prob, None

    def predict_batch(self, emb, clicks, states):
        out = [self.predict(emb, c, s) for c, s in zip(clicks, states)]
        return [p for p, _ in out], [s for _, s in out]


def hard_scene(index: int = 0, shape: tuple[int, int] = (1536, 2048)):
    """A deterministic 2048×1536 scene with one large object (about 1.1 Mpx): a wavy disc with
    an off-centre hole, drawn from closed-form curves only (no random generator, so the same on
    every numpy). Returns ``(image uint8 H×W×3, mask bool H×W)``."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h / 2 + 40 * np.sin(index), w / 2 + 60 * np.cos(index)
    theta = np.arctan2(yy - cy, xx - cx)
    rho = np.hypot(yy - cy, xx - cx)
    r0 = 0.385 * min(h, w)
    edge = r0 * (1 + 0.16 * np.sin(5 * theta + index) + 0.07 * np.cos(11 * theta + 2 * index))
    hole = np.hypot(yy - cy - 0.2 * r0, xx - cx + 0.35 * r0) < 0.12 * r0
    mask = (rho < edge) & ~hole
    image = np.empty((h, w, 3), np.uint8)
    image[..., 0] = (xx * 255 / w).astype(np.uint8)
    image[..., 1] = (yy * 255 / h).astype(np.uint8)
    image[..., 2] = np.where(mask, 200, 40)
    return image, mask


@rclicks.hookimpl
def rclicks_register_models(register):
    register("voronoi", VoronoiModel)
    register("disks", DiskModel)
