"""All trajectories of one instance, stepped together.

At each click step every live trajectory (baseline, clicking groups × repeats of every
simulator, replayed clicks) takes its side and error region (:func:`rclicks.clicks.click_side`),
the simulators are asked for their densities once per distinct region
(:func:`rclicks.engine.densities.densities`), every trajectory takes its click
(:func:`rclicks.clicks.click_step`) and the model decodes them all in one ``predict_batch``
call. Trajectories in the same state share work: at the first click all of them start from
the empty prediction, so its error distances and each simulator's density are computed once.
The per-trajectory work of a step (distances, sides, clicks, IoUs) runs on the step threads
(:mod:`rclicks.engine.threads`); simulators and the model are always called from this thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rclicks.clicks import (
    DistanceMap,
    Target,
    click_side,
    click_step,
    distances_of,
    trajectory_rng,
)
from rclicks.engine.adversarial import Bands, evaluated_positions, keep_position
from rclicks.engine.densities import densities
from rclicks.engine.plan import BASELINE, ProtocolSettings, TrajectorySpec, plan
from rclicks.engine.threads import PARALLEL_PIXELS, map_ordered, threads
from rclicks.errors import PluginError
from rclicks.protocols import (
    BatchPredictor,
    ClickSimulator,
    ISModel,
    is_adversarial,
    is_baseline,
    is_replay,
    threshold_of,
)
from rclicks.runs.masks import encode_mask
from rclicks.runs.schema import empty_rows
from rclicks.types import Click


@dataclass
class _Traj:
    spec: TrajectorySpec
    sim: ClickSimulator | None
    rng: np.random.Generator
    errors: tuple[np.ndarray, np.ndarray]  # flat indices of FN and FP pixels
    clicks: list[Click] = field(default_factory=list)
    flat: list[int] = field(default_factory=list)  # the clicks as flat indices y * W + x
    state: Any = None
    script: list[Click] | None = None  # recorded clicks of a replay trajectory
    pred: np.ndarray | None = None  # the last predicted mask (kept when masks are saved)
    strategy: str = ""  # an adversarial trajectory's search: "search" or "gradient"
    samples: bool = field(init=False)  # does it ask its simulator for densities?
    deterministic: bool = field(init=False)

    def __post_init__(self) -> None:
        self.samples = (
            self.sim is not None and not is_baseline(self.sim) and not is_adversarial(self.sim)
        )
        self.deterministic = bool(getattr(self.sim, "deterministic", False))

    def active(self, k: int) -> bool:
        return self.script is None or k <= len(self.script)


def _replay_trajectories(
    simulators: Mapping[str, ClickSimulator],
    key: tuple[str, str, str],
    shape: tuple[int, int],
    instance_ids: Sequence[str],
    start: tuple[np.ndarray, np.ndarray],
) -> list[_Traj]:
    out = []
    h, w = shape
    for name, sim in simulators.items():
        if not is_replay(sim):
            continue
        recorded = list(sim.user_clicks(*key, shape, list(instance_ids)))  # type: ignore[attr-defined]
        for i, c in enumerate(recorded, start=1):
            if not isinstance(c, Click) or not (0 <= c.x < w and 0 <= c.y < h):
                raise PluginError(
                    f"simulator {type(sim).__name__}.user_clicks returned {c!r}, expected a "
                    f"Click inside the {h}×{w} image"
                )
            rng = np.random.Generator(np.random.PCG64(0))  # never used: nothing is sampled
            out.append(_Traj(TrajectorySpec(name, 0, i), sim, rng, start, script=[c]))
    return out


def as_prob(prob: Any, shape: tuple[int, int], model: ISModel) -> np.ndarray:
    """A model's probability map as H×W (1×H×W accepted); :class:`PluginError` otherwise."""
    arr = np.asarray(prob)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != shape:
        raise PluginError(
            f"model {type(model).__name__} returned a probability map of shape {arr.shape}, "
            f"expected {shape} (H×W of the image)"
        )
    return arr


def predict_all(
    model: ISModel, embedding: Any, clicks: Sequence[Sequence[Click]], states: Sequence[Any]
) -> tuple[list, list]:
    """Decode several trajectories: ``predict_batch`` when the model has it, else ``predict``
    one trajectory at a time."""
    if isinstance(model, BatchPredictor):
        probs, new_states = model.predict_batch(embedding, clicks, states)
        probs, new_states = list(probs), list(new_states)
        if len(probs) != len(clicks) or len(new_states) != len(clicks):
            raise PluginError(
                f"model {type(model).__name__}.predict_batch returned {len(probs)} maps and "
                f"{len(new_states)} states for {len(clicks)} trajectories"
            )
        return probs, new_states
    probs, new_states = [], []
    for c, s in zip(clicks, states):
        p, ns = model.predict(embedding, list(c), s)
        probs.append(p)
        new_states.append(ns)
    return probs, new_states


def run_instance(
    model: ISModel,
    embedding: Any,
    image: np.ndarray,
    gt: np.ndarray,
    ignore: np.ndarray | None,
    simulators: Mapping[str, ClickSimulator],
    settings: ProtocolSettings,
    key: tuple[str, str, str],
    instance_ids: Sequence[str] | None = None,
    masks: dict[str, list] | None = None,
) -> dict[str, list]:
    """Every trajectory of one instance; returns its per-click rows as columns
    (:data:`rclicks.runs.ROW_SCHEMA`). ``key`` = (dataset label, sample id, instance id);
    ``instance_ids``: every instance of the sample (for replay simulators; default: this one).
    ``masks``: columns of :data:`rclicks.runs.masks.MASK_SCHEMA` to append the predicted mask
    after every click to (one row per click, in the order of the returned rows).
    """
    dataset, sample_id, instance_id = key
    target = Target(gt, ignore)
    h, w = target.shape
    threshold = threshold_of(model)
    start = target.start()
    trajs: list[_Traj] = []
    for spec in plan(simulators, settings):
        sim = None if spec.simulator == BASELINE else simulators[spec.runs_with]
        rng = trajectory_rng(
            settings.seed, dataset, sample_id, instance_id, spec.simulator, spec.group, spec.repeat
        )
        strategy = sim.strategy_for(model) if spec.mode else ""  # type: ignore[union-attr]
        trajs.append(_Traj(spec, sim, rng, start, strategy=strategy))
    ids = [instance_id] if instance_ids is None else list(instance_ids)
    trajs += _replay_trajectories(simulators, key, (h, w), ids, start)
    adversarial = any(t.strategy for t in trajs)
    # boundary IoU: every click with --biou; TETRIS trajectories and the baseline beside them
    bands = Bands(gt, ignore) if settings.biou or adversarial else None

    def wants_biou(t: _Traj) -> bool:
        return settings.biou or bool(t.strategy) or (adversarial and t.sim is None)

    rows = empty_rows()
    for k in range(1, settings.max_clicks + 1):
        live = [t for t in trajs if t.active(k)]
        if not live:
            break
        # 1. every trajectory's side and error region (distances shared by equal states)
        stepping = []
        for t in live:
            if t.script is not None:  # a recorded click: nothing to simulate
                c = t.script[k - 1]
                t.clicks.append(c)
                t.flat.append(c.y * w + c.x)
            else:
                stepping.append(t)
        # distance maps compute their values on first use: the side rule needs only their
        # maxima. One state (the first click, or a single trajectory) has its transforms split
        # over the step threads; several states run side by side instead.
        errors = {id(t.errors): t.errors for t in stepping}
        split = threads() if len(errors) == 1 and h * w >= PARALLEL_PIXELS else 1
        distances = {key: distances_of(e, (h, w), split) for key, e in errors.items()}

        def side_of(t: _Traj, distances=distances):
            fn, fp = distances[id(t.errors)]
            clicked = np.array(t.flat, dtype=np.int64)
            if t.samples:  # its simulator will get a whole region, most likely the larger one
                (fn if fn.size >= fp.size else fp).dist  # noqa: B018
            side = click_side(fn, fp, clicked)
            if t.samples:  # computed here, on this step thread, if it is the other one
                side.region.dist  # noqa: B018
            return t, clicked, side

        sides = map_ordered(side_of, stepping, h * w)
        # 2. densities, once per distinct (simulator, region), batched per simulator
        needed: dict[tuple[int, int], tuple[ClickSimulator, DistanceMap]] = {}
        for t, _, side in sides:
            if t.samples:
                needed.setdefault((id(t.sim), id(side.region)), (t.sim, side.region))
        values = densities(image, target.gt, list(needed.values()))

        # 3. the clicks
        def choose(item, values=values) -> Click:
            t, clicked, side = item
            return click_step(
                side,
                values.get((id(t.sim), id(side.region))) if t.samples else None,
                clicked,
                t.rng,
                t.spec.group,
                settings.groups,
                t.deterministic,
            ).click

        for (t, _, _), c in zip(sides, map_ordered(choose, sides, h * w)):
            t.clicks.append(c)
            t.flat.append(c.y * w + c.x)
        # 4. the model, all trajectories at once: one decode each, and every position each
        # adversarial click evaluates (the candidate first), all in one batch
        side_of_traj = {id(t): (clicked, side) for t, clicked, side in sides}
        spans: list[tuple[_Traj, int, list[Click], Any]] = []
        batch: list[list[Click]] = []
        batch_states: list[Any] = []
        for t in live:
            if not t.strategy:
                spans.append((t, len(batch), [t.clicks[-1]], None))
                batch.append(list(t.clicks))
                batch_states.append(t.state)
                continue
            clicked, side = side_of_traj[id(t)]
            cand, earlier = t.clicks[-1], t.clicks[:-1]
            ev = evaluated_positions(
                t.strategy,
                t.sim,
                model,
                embedding,
                earlier,
                t.state,
                cand,
                side.region.idx,
                clicked,
                target.gt,
                target.valid,
                t.spec.mode == "min",
                t.rng,
                time.perf_counter,
            )
            positions = [Click(f % w, f // w, cand.positive) for f in ev.positions]
            spans.append((t, len(batch), positions, ev))
            batch += [[*earlier, c] for c in positions]
            batch_states += [t.state] * len(positions)
        t0 = time.perf_counter()
        probs, states = predict_all(model, embedding, batch, batch_states)
        per_item = (time.perf_counter() - t0) / len(batch)

        # 5. every prediction's IoU and error regions
        def outcome(j: int, keep: bool, probs=probs) -> tuple[float, tuple, np.ndarray | None]:
            pred = as_prob(probs[j], (h, w), model) > threshold
            kept = pred.copy() if keep else None  # evaluate() consumes its argument
            iou, errors = target.evaluate(pred)
            return iou, errors, kept

        # a prediction is kept for the masks file, its BIoU, or an adversarial choice
        jobs = [
            (j, masks is not None or wants_biou(t))
            for t, first, positions, _ in spans
            for j in range(first, first + len(positions))
        ]
        results = map_ordered(lambda job: outcome(*job), jobs, h * w)
        for t, first, positions, ev in spans:
            pick = 0
            if ev is not None:  # keep the lowest / highest IoU of the evaluated positions
                found = results[first : first + len(positions)]
                ious, preds = [r[0] for r in found], [r[2] for r in found]
                pick = keep_position(t.spec.mode == "min", ious, preds, bands, ev.penalties)  # type: ignore[arg-type]
                t.clicks[-1] = positions[pick]
                t.flat[-1] = positions[pick].y * w + positions[pick].x
            iou, t.errors, pred = results[first + pick]
            t.state = states[first + pick]
            seconds = per_item * len(positions) + (ev.seconds if ev is not None else 0.0)
            biou = bands.biou(pred) if bands is not None and wants_biou(t) else None
            c = t.clicks[-1]
            if masks is not None:
                masks["rle"].append(encode_mask(pred, t.pred))
                t.pred = pred
                for name, value in zip(
                    ("dataset", "sample_id", "instance_id", "simulator", "group", "repeat"),
                    (dataset, sample_id, instance_id, t.spec.simulator, t.spec.group,
                     t.spec.repeat),
                ):  # fmt: skip
                    masks[name].append(value)
                masks["click"].append(k)
                masks["height"].append(h)
                masks["width"].append(w)
            rows["dataset"].append(dataset)
            rows["sample_id"].append(sample_id)
            rows["instance_id"].append(instance_id)
            rows["simulator"].append(t.spec.simulator)
            rows["group"].append(t.spec.group)
            rows["repeat"].append(t.spec.repeat)
            rows["click"].append(k)
            rows["x"].append(c.x)
            rows["y"].append(c.y)
            rows["positive"].append(c.positive)
            rows["iou"].append(iou)
            rows["seconds"].append(seconds)
            rows["biou"].append(biou)
    return rows
