"""A plugin used by the tests through a real entry point (see tests/helpers.py)."""

from __future__ import annotations

import os
import signal

import numpy as np

import rclicks

_ENCODES = {"n": 0}


class VoronoiModel:
    """Each pixel takes the label of its nearest click (deterministic, no weights).

    RCLICKS_TEST_DIE_AFTER=N kills the process with SIGKILL at the (N+1)-th encode.
    """

    threshold = 0.5

    def encode(self, image):
        die = os.environ.get("RCLICKS_TEST_DIE_AFTER")
        if die is not None and _ENCODES["n"] >= int(die):
            os.kill(os.getpid(), signal.SIGKILL)
        _ENCODES["n"] += 1
        h, w = image.shape[:2]
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


@rclicks.hookimpl
def rclicks_register_models(register):
    register("voronoi", VoronoiModel)
