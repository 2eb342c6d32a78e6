"""Which trajectories run for one instance, under which protocol settings."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass

from rclicks.errors import OptionError
from rclicks.protocols import ClickSimulator, is_adversarial, is_baseline, is_replay

#: the simulator name of the baseline robot's trajectory in per_click.parquet
BASELINE = "baseline"


#: the two trajectories a TETRIS simulator named N runs: ``N-min`` and ``N-max`` (CONTRACT §9)
ADVERSARIAL_MODES = ("min", "max")


@dataclass(frozen=True)
class TrajectorySpec:
    """One trajectory of an instance: its simulator (the name in ``per_click.parquet``),
    clicking group (0 = none) and repeat. An adversarial trajectory also names the simulator
    that runs it (``source``) and whether it minimises or maximises the IoU (``mode``)."""

    simulator: str
    group: int
    repeat: int
    source: str = ""
    mode: str = ""

    @property
    def runs_with(self) -> str:
        """The name of the simulator that chooses this trajectory's clicks."""
        return self.source or self.simulator


@dataclass
class ProtocolSettings:
    """The protocol settings of a run (CONTRACT §6–7): clicking groups per sampling
    simulator, trajectories per group, clicks per trajectory, the seed and whether the
    baseline trajectory runs beside the simulators."""

    groups: int = 10
    repeats: int = 1
    max_clicks: int = 20
    seed: int = 0
    baseline: bool = True
    biou: bool = False

    def __post_init__(self) -> None:
        for name in ("groups", "repeats", "max_clicks", "seed"):
            value = getattr(self, name)
            try:
                if isinstance(value, bool):
                    raise TypeError
                number = operator.index(value)
            except TypeError:
                raise OptionError(f"{name} must be a whole number, got {value!r}") from None
            if name != "seed" and number < 1:
                raise OptionError(f"{name} must be >= 1, got {number}")
            setattr(self, name, number)
        self.baseline = bool(self.baseline)
        self.biou = bool(self.biou)


def plan(
    simulators: Mapping[str, ClickSimulator], settings: ProtocolSettings
) -> list[TrajectorySpec]:
    """Every simulated trajectory of one instance, in a fixed order: the baseline (when asked
    for, or when a simulator is the baseline), then per simulator one trajectory when it is
    deterministic, else groups × repeats; an adversarial (TETRIS) simulator ``N`` runs
    ``N-min`` and ``N-max`` and always the baseline beside them. Replay simulators add their
    trajectories per instance (see :func:`rclicks.engine.trajectories.run_instance`)."""
    specs: list[TrajectorySpec] = []
    if settings.baseline or any(is_baseline(s) or is_adversarial(s) for s in simulators.values()):
        specs.append(TrajectorySpec(BASELINE, 0, 1))
    for name, sim in simulators.items():
        if is_baseline(sim) or is_replay(sim):
            continue
        if is_adversarial(sim):
            for mode in ADVERSARIAL_MODES:
                specs.append(TrajectorySpec(f"{name}-{mode}", 0, 1, name, mode))
            continue
        if bool(getattr(sim, "deterministic", False)):
            specs.append(TrajectorySpec(name, 0, 1))
            continue
        for g in range(1, settings.groups + 1):
            for r in range(1, settings.repeats + 1):
                specs.append(TrajectorySpec(name, g, r))
    return specs
