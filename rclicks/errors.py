"""Every error rclicks raises on purpose, in one hierarchy under :class:`RclicksError`.

Each class also derives from the built-in exception it stands for (``ValueError``,
``LookupError``, ``FileNotFoundError``, ...), so ``except ValueError`` keeps working. The CLI
catches :class:`RclicksError` once and prints its message as one ``error:`` line; anything
else is a bug and keeps its traceback. Imports nothing of the project.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BenchmarkError",
    "BoardError",
    "BundleError",
    "CheckpointNotFoundError",
    "ChecksumError",
    "ClicksFileError",
    "ComponentError",
    "DatabaseError",
    "DatasetError",
    "DeviceError",
    "OptionError",
    "PluginError",
    "PresetError",
    "RclicksError",
    "ReportError",
    "RunError",
    "SampleError",
    "SubmissionError",
    "SubmitError",
    "TrainError",
    "UnknownNameError",
]


class RclicksError(Exception):
    """Base of every error rclicks raises on purpose: its message is meant for the user."""


# -- input: options, names, presets, devices ---------------------------------------------------


class OptionError(RclicksError, ValueError):
    """A setting or option value that cannot be used (``groups=0``, a malformed ``KEY=VALUE``,
    an unknown ``--format``, ...)."""


class UnknownNameError(RclicksError, LookupError):
    """An unknown component name; the message suggests close matches and lists what exists."""


class PresetError(RclicksError, ValueError):
    """A malformed registry file or a preset that cannot be expanded."""


class DeviceError(RclicksError, ValueError):
    """A device that is not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, or one this machine lacks."""


# -- plugins ------------------------------------------------------------------------------------


class ComponentError(RclicksError, RuntimeError):
    """A factory failed (bad option, missing package or file); the message says which."""


class PluginError(RclicksError, RuntimeError):
    """A plugin misbehaved on one instance (wrong output shape, exception, ...)."""


# -- data ---------------------------------------------------------------------------------------


class SampleError(RclicksError, ValueError):
    """One file of one sample is unusable: ``path`` and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DatasetError(RclicksError, ValueError):
    """The dataset cannot be used; ``problems`` names every bad file and what is wrong."""

    def __init__(self, name: str, problems: list[str], hint: str = "") -> None:
        self.name = name
        self.problems = list(problems)
        self.hint = hint
        lines = "\n".join(f"  - {p}" for p in self.problems)
        text = f"dataset {name!r} has {len(self.problems)} problem(s):\n{lines}"
        super().__init__(text + (f"\n{hint}" if hint else ""))


class ClicksFileError(RclicksError, ValueError):
    """A real-clicks file (``clicks.csv``) or a previous-mask folder that cannot be used."""


class CheckpointNotFoundError(RclicksError, FileNotFoundError):
    """A checkpoint file is missing; the message says every place looked and how to pass it."""


class ChecksumError(RclicksError, ValueError):
    """A file's sha256 does not match the expected one."""


# -- runs, reports, training -------------------------------------------------------------------


class RunError(RclicksError, RuntimeError):
    """A run cannot start or continue (bad folder, mismatched resume, ...)."""


class ReportError(RclicksError, RuntimeError):
    """A run folder cannot be read (the message names the file), or runs cannot be compared."""


class TrainError(RclicksError, ValueError):
    """Training cannot start or continue (bad settings, nothing to train on, ...)."""


# -- the leaderboard ---------------------------------------------------------------------------


class BundleError(RclicksError, ValueError):
    """A malformed or unsafe bundle; ``status`` is the HTTP status the server answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SubmissionError(BundleError):
    """A well-formed bundle whose contents do not satisfy the benchmark (HTTP 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message, status)


class BenchmarkError(RclicksError, ValueError):
    """A benchmark that cannot be used on the leaderboard (unknown, no reference, ...)."""


class BoardError(RclicksError, ValueError):
    """An unknown dataset, simulator, metric or order on a leaderboard query (HTTP 422)."""


class DatabaseError(RclicksError, RuntimeError):
    """The leaderboard database cannot be reached or set up."""


class SubmitError(RclicksError, RuntimeError):
    """``rclicks submit`` cannot check, bundle or upload a run."""
