"""Metrics (CONTRACT §7) as pure functions over arrays and per-click rows; nothing here needs
the engine or torch.

- :mod:`~rclicks.metrics.segmentation`: IoU, boundary IoU, NoC, NoF, IoU-AuC of one
  trajectory;
- :mod:`~rclicks.metrics.density`: PDE, NSS, 2-D KS, WD, PL1 of a density against real clicks;
- :mod:`~rclicks.metrics.aggregate`: rows -> one entry per (dataset, simulator), the
  ``results`` of ``summary.json`` (:func:`rclicks.summarize` builds the whole file).
"""

from rclicks.metrics.aggregate import (
    adversarial_names,
    metric_entries,
    replay_simulators,
    robustness_entries,
    trajectories,
)
from rclicks.metrics.density import (
    ks2d_pvalue,
    ks2d_pvalues,
    ks2d_statistic,
    nss,
    pde,
    pl1,
    wasserstein_equal,
    wd,
)
from rclicks.metrics.segmentation import (
    THRESHOLDS,
    band_width,
    boundary,
    boundary_iou,
    iou,
    iou_auc,
    noc,
    nof,
    time_at,
)

__all__ = [
    "THRESHOLDS",
    "adversarial_names",
    "band_width",
    "boundary",
    "boundary_iou",
    "iou",
    "iou_auc",
    "ks2d_pvalue",
    "ks2d_pvalues",
    "ks2d_statistic",
    "metric_entries",
    "noc",
    "nof",
    "nss",
    "pde",
    "pl1",
    "replay_simulators",
    "robustness_entries",
    "time_at",
    "trajectories",
    "wasserstein_equal",
    "wd",
]
