"""The evaluation engine, compute only: which trajectories run (:mod:`.plan`), how the
simulators are asked for densities (:mod:`.densities`), all trajectories of an instance
stepped together (:mod:`.trajectories`, on the step threads of :mod:`.threads`) and one
sample at a time into a journal (:mod:`.samples`). It knows no screen, no run folder and no
plugin registry: the Python API (:func:`rclicks.evaluate`) drives it."""

from rclicks.engine.plan import BASELINE, ProtocolSettings, TrajectorySpec, plan
from rclicks.engine.samples import Journal, SampleOutcome, pending_samples, process_sample
from rclicks.engine.trajectories import run_instance

__all__ = [
    "BASELINE",
    "Journal",
    "ProtocolSettings",
    "SampleOutcome",
    "TrajectorySpec",
    "pending_samples",
    "plan",
    "process_sample",
    "run_instance",
]
