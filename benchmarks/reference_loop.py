"""The RClicks reference's model-call structure, shared by the benchmarks: one trajectory at a
time, the image encoded again before every click, no batching. The clicks themselves come
from rclicks' own click rules (:func:`rclicks.clicks.next_click`), so the two ways give
the same clicks and IoUs and only their cost differs."""

from __future__ import annotations

from typing import Any

import numpy as np

from rclicks.clicks import next_click
from rclicks.engine import BASELINE, ProtocolSettings
from rclicks.types import Click


def reference_trajectory(
    model: Any,
    image: np.ndarray,
    gt: np.ndarray,
    simulator: str,
    group: int,
    settings: ProtocolSettings,
    rng: np.random.Generator,
    density: Any = None,
    threshold: float = 0.5,
) -> list[tuple[int, int, bool, float]]:
    """``(x, y, positive, IoU)`` per click; ``density(image, gt, error_mask)`` gives the
    simulator's map (unused for the baseline)."""
    gt_count = int(np.count_nonzero(gt))
    pred = np.zeros(gt.shape, dtype=bool)
    clicks: list[Click] = []
    state = None
    out = []
    for _ in range(settings.max_clicks):
        if simulator == BASELINE:
            click = next_click(gt, pred, clicks).click
        else:
            sim_map = lambda err: density(image, gt, err)  # noqa: E731
            click = next_click(gt, pred, clicks, sim_map, rng, group, settings.groups).click
        clicks.append(click)
        embedding = model.encode(image)  # the reference: set_image before every click
        prob, state = model.predict(embedding, list(clicks), state)
        pred = np.asarray(prob) > threshold
        inter = int(np.count_nonzero(pred & gt))
        union = gt_count + int(np.count_nonzero(pred)) - inter
        out.append((click.x, click.y, click.positive, inter / union if union else float("nan")))
    return out
