"""The built-in click simulators. A simulator is a density and nothing more: the engine owns
the side rule, the clicking groups, sampling and randomness.

- :mod:`.basic`: ``baseline``, ``uniform``, ``distance`` (weightless, exact);
- :mod:`.saliency`: ``saliency`` (the RClicks SM / SI recipes, pluggable backends);
- :mod:`.users`: ``users`` (a replay of real first clicks from ``clicks.csv``).

The ``clickability`` simulator lives with its network in :mod:`rclicks.clickability`.
"""

from rclicks.simulators.basic import BaselineSimulator, DistanceSimulator, UniformSimulator

__all__ = ["BaselineSimulator", "DistanceSimulator", "UniformSimulator"]
