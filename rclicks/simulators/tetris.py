"""``tetris``: the TETRIS robustness protocol (Moskalenko et al., AAAI 2024; CONTRACT §9).

The simulator holds the search settings and nothing else; the engine runs the two
adversarial trajectories ``tetris-min`` and ``tetris-max`` beside the baseline
(:mod:`rclicks.engine.adversarial`). Every rule is in docs/robustness.md.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from rclicks.errors import OptionError
from rclicks.protocols import DifferentiablePredictor

STRATEGIES = ("auto", "gradient", "search")


def _whole(name: str, value: Any, low: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError):
        raise OptionError(
            f"simulator tetris: {name} must be a whole number >= {low}, got {value!r}"
        ) from None
    if number < low:
        raise OptionError(f"simulator tetris: {name} must be a whole number >= {low}, got {number}")
    return number


class TetrisSimulator:
    """TETRIS: per instance, the trajectories that minimise and maximise the IoU click by
    click around the baseline.

    ``strategy``: ``auto`` (``gradient`` when the model has ``predict_differentiable``, else
    ``search``), ``gradient`` or ``search``. ``candidates``: positions the search draws besides
    the baseline candidate (K, default 32). ``steps``: Adam steps of the gradient search (10:
    11 evaluated positions). ``radius``: radius in pixels of the soft disk over which the
    gradient search's location penalty is averaged (5)."""

    adversarial = True
    deterministic = True  # nothing is sampled from a density

    def __init__(
        self,
        strategy: str = "auto",
        candidates: int = 32,
        steps: int = 10,
        radius: float = 5.0,
    ) -> None:
        if strategy not in STRATEGIES:
            raise OptionError(
                f"simulator tetris: strategy must be one of {', '.join(STRATEGIES)}, "
                f"got {strategy!r}"
            )
        self.strategy = strategy
        self.candidates = _whole("candidates", candidates, 1)
        self.steps = _whole("steps", steps, 1)
        try:
            r = float(radius)
        except (TypeError, ValueError):
            r = math.nan
        if isinstance(radius, bool) or not math.isfinite(r) or r <= 0:
            raise OptionError(f"simulator tetris: radius must be a number > 0, got {radius!r}")
        self.radius = r

    def strategy_for(self, model: Any) -> str:
        """The strategy this simulator runs for ``model``; an :class:`OptionError` naming the
        model and the option when it was asked for a gradient the model cannot give."""
        gradient = isinstance(model, DifferentiablePredictor)
        if self.strategy == "gradient" and not gradient:
            raise OptionError(
                f"simulator tetris: strategy=gradient needs a model with predict_differentiable; "
                f"model {type(model).__name__} has none (use strategy=search, or leave strategy "
                "at auto)"
            )
        if self.strategy == "auto":
            return "gradient" if gradient else "search"
        return self.strategy

    def density(self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray):
        """Not used by the engine (the search needs no density): the error region itself."""
        return np.asarray(error_mask, dtype=np.float32)
