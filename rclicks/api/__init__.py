"""The Python API: everything the CLI does, without the CLI (re-exported by ``rclicks``).

- :func:`evaluate` runs the protocol and returns a :class:`~rclicks.runs.Run`;
- :func:`score_simulator` scores simulators against real clicks;
- :func:`train_clickability` trains the clickability network;
- :func:`build` builds a component by name, :func:`list_components` lists what can run.

Every function takes components by name (presets, registered names, dataset folders) or as
objects (an ``ISModel``, ``ClickSimulator`` or ``Dataset`` built in Python).
"""

from rclicks.api.components import build, list_components
from rclicks.api.evaluate import evaluate
from rclicks.api.score import ScoreResult, score_simulator
from rclicks.api.train import train_clickability

__all__ = [
    "ScoreResult",
    "build",
    "evaluate",
    "list_components",
    "score_simulator",
    "train_clickability",
]
