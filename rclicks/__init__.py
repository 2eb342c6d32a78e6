"""rclicks: evaluate click-based interactive segmentation the way real people click.

The data types and protocols load with the package; the Python API (:func:`evaluate`,
:class:`Run`, :func:`summarize`, ...) loads on first use, so ``import rclicks`` and
``rclicks --help`` stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rclicks._version import __version__
from rclicks.devices import resolve_device
from rclicks.errors import RclicksError
from rclicks.plugins.hookspecs import hookimpl
from rclicks.protocols import ClickSimulator, Dataset, ISModel
from rclicks.types import Click, Sample

if TYPE_CHECKING:
    from rclicks.api import (
        ScoreResult,
        build,
        evaluate,
        list_components,
        score_simulator,
        train_clickability,
    )
    from rclicks.reports import compare
    from rclicks.runs import Run, load_run, summarize

# name -> module that defines it, imported on first access
_LAZY = {
    "evaluate": "rclicks.api",
    "score_simulator": "rclicks.api",
    "train_clickability": "rclicks.api",
    "build": "rclicks.api",
    "list_components": "rclicks.api",
    "ScoreResult": "rclicks.api",
    "compare": "rclicks.reports",
    "Run": "rclicks.runs",
    "load_run": "rclicks.runs",
    "summarize": "rclicks.runs",
}

# public subpackages, importable as attributes of ``rclicks`` on first use
_SUBMODULES = (
    "api",
    "clicks",
    "datasets",
    "leaderboard",
    "metrics",
    "options",
    "plugins",
    "realclicks",
    "reports",
    "runs",
    "simulators",
    "testing",
)

__all__ = [
    "Click",
    "ClickSimulator",
    "Dataset",
    "ISModel",
    "RclicksError",
    "Run",
    "Sample",
    "ScoreResult",
    "__version__",
    "build",
    "compare",
    "evaluate",
    "hookimpl",
    "list_components",
    "load_run",
    "resolve_device",
    "score_simulator",
    "summarize",
    "train_clickability",
]


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"rclicks.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rclicks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
