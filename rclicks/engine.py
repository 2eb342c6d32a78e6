"""The evaluation engine: one image encode, every trajectory of an instance decoded together.

Data flows one way: Dataset -> Sample -> ``model.encode`` (once per image) -> for each
instance, all trajectories (baseline, clicking groups x repeats, for every simulator) step
together: simulator densities -> click protocol -> ``model.predict_batch`` -> IoU -> rows.
Rows of a finished instance go straight to ``journal/`` in the run folder, so a crash loses at
most the instance in flight and ``resume`` continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rclicks.clicks import DistanceMap, bbox, check_density, choose_side, distances_of, pick
from rclicks.types import Click, Sample, validate_sample

ROW_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("sample_id", pa.string()),
        ("instance_id", pa.string()),
        ("simulator", pa.string()),
        ("group", pa.int16()),
        ("repeat", pa.int16()),
        ("click", pa.int16()),
        ("x", pa.int32()),
        ("y", pa.int32()),
        ("positive", pa.bool_()),
        ("iou", pa.float64()),
        ("seconds", pa.float64()),
    ]
)
SORT_KEYS = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat", "click"]
BASELINE = "baseline"


class PluginError(RuntimeError):
    """A plugin misbehaved on one instance (wrong output shape, exception, ...)."""


@dataclass(frozen=True)
class TrajectorySpec:
    simulator: str
    group: int
    repeat: int


@dataclass
class Protocol:
    groups: int = 10
    repeats: int = 1
    max_clicks: int = 20
    seed: int = 0
    baseline: bool = True

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ValueError(f"groups must be >= 1, got {self.groups}")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if self.max_clicks < 1:
            raise ValueError(f"max_clicks must be >= 1, got {self.max_clicks}")


def plan(simulators: dict[str, Any], protocol: Protocol) -> list[TrajectorySpec]:
    """Every trajectory run for one instance, in a fixed order."""
    specs: list[TrajectorySpec] = []
    wants_baseline = protocol.baseline or any(
        getattr(s, "is_baseline", False) for s in simulators.values()
    )
    if wants_baseline:
        specs.append(TrajectorySpec(BASELINE, 0, 1))
    for name, sim in simulators.items():
        if getattr(sim, "is_baseline", False) or is_replay(sim):
            continue  # replay trajectories depend on the instance: see run_instance
        if getattr(sim, "deterministic", False):
            specs.append(TrajectorySpec(name, 0, 1))
            continue
        for g in range(1, protocol.groups + 1):
            for r in range(1, protocol.repeats + 1):
                specs.append(TrajectorySpec(name, g, r))
    return specs


def is_replay(sim: Any) -> bool:
    """A replay simulator (``replay = True``) provides recorded clicks instead of a density:
    ``user_clicks(dataset, sample_id, instance_id, shape, instance_ids) -> list[Click]``; the
    engine runs one single-click trajectory per recorded click (group 0, repeat = its index)."""
    return bool(getattr(sim, "replay", False))


def _replay_specs(
    simulators: dict[str, Any], key: tuple[str, str, str], shape, instance_ids
) -> list[tuple[TrajectorySpec, Any, list[Click]]]:
    out = []
    for name, sim in simulators.items():
        if not is_replay(sim):
            continue
        recorded = list(sim.user_clicks(*key, shape, list(instance_ids)))
        h, w = shape
        for i, c in enumerate(recorded, start=1):
            if not isinstance(c, Click) or not (0 <= c.x < w and 0 <= c.y < h):
                raise PluginError(
                    f"simulator {type(sim).__name__}.user_clicks returned {c!r}, expected a "
                    f"Click inside the {h}×{w} image"
                )
            out.append((TrajectorySpec(name, 0, i), sim, [c]))
    return out


def trajectory_rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator derived from (seed, dataset, sample, instance, simulator, group, repeat):
    results do not depend on the order of work or the number of workers."""
    text = "\x1f".join(str(k) for k in (seed, *key))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


@dataclass
class _Traj:
    spec: TrajectorySpec
    sim: Any
    rng: np.random.Generator
    errors: tuple[np.ndarray, np.ndarray]  # flat indices of FN and FP pixels
    clicks: list[Click] = field(default_factory=list)
    flat: list[int] = field(default_factory=list)  # the clicks as flat indices y * W + x
    state: Any = None
    script: list[Click] | None = None  # recorded clicks of a replay trajectory

    def active(self, k: int) -> bool:
        return self.script is None or k <= len(self.script)


def _as_prob(prob: Any, shape: tuple[int, int], model: Any) -> np.ndarray:
    arr = np.asarray(prob)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != shape:
        raise PluginError(
            f"model {type(model).__name__} returned a probability map of shape {arr.shape}, "
            f"expected {shape} (H×W of the image)"
        )
    return arr


def _predict(model: Any, embedding: Any, trajs: list[_Traj]) -> tuple[list, list]:
    clicks = [list(t.clicks) for t in trajs]
    states = [t.state for t in trajs]
    batch = getattr(model, "predict_batch", None)
    if batch is not None:
        probs, new_states = batch(embedding, clicks, states)
        probs, new_states = list(probs), list(new_states)
        if len(probs) != len(trajs) or len(new_states) != len(trajs):
            raise PluginError(
                f"model {type(model).__name__}.predict_batch returned {len(probs)} maps and "
                f"{len(new_states)} states for {len(trajs)} trajectories"
            )
        return probs, new_states
    probs, new_states = [], []
    for c, s in zip(clicks, states):
        p, ns = model.predict(embedding, c, s)
        probs.append(p)
        new_states.append(ns)
    return probs, new_states


class _Target:
    """One instance's ground truth, prepared once for the IoU and error masks of every click."""

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None) -> None:
        gt = np.asarray(gt, dtype=bool)
        self.shape = (int(gt.shape[0]), int(gt.shape[1]))
        self.gt = gt
        self.valid = None if ignore is None else ~np.asarray(ignore, dtype=bool)
        counted = gt if self.valid is None else gt & self.valid
        self.count = int(np.count_nonzero(counted))
        box = bbox(counted) or (0, 0, 0, 0)
        self.box = box
        y0, y1, x0, x1 = box
        self.crop = counted[y0:y1, x0:x1]
        self.outside_crop = ~self.crop
        self.gt_idx = np.flatnonzero(counted)

    def evaluate(self, pred: np.ndarray) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
        """IoU of ``pred`` (bool H×W) and the flat indices of its FN and FP pixels.
        ``pred`` is consumed (overwritten)."""
        if self.valid is not None:
            pred = pred & self.valid
        y0, y1, x0, x1 = self.box
        p = pred[y0:y1, x0:x1]
        missed = np.greater(self.crop, p)  # gt and not pred
        inter = self.count - int(np.count_nonzero(missed))
        pred_count = int(np.count_nonzero(pred))
        union = self.count + pred_count - inter
        iou = inter / union if union else float("nan")
        fn_local = np.flatnonzero(missed)
        if fn_local.size:
            ly, lx = np.divmod(fn_local, x1 - x0)
            fn = (ly + y0) * self.shape[1] + (lx + x0)
        else:
            fn = fn_local.astype(np.int64)
        if pred_count == inter:
            fp = np.zeros(0, dtype=np.int64)
        else:
            p &= self.outside_crop  # what is left of pred is outside the object
            fp = np.flatnonzero(pred)
        return iou, (fn.astype(np.int64, copy=False), fp.astype(np.int64, copy=False))


def _region_values(sim: Any, image: np.ndarray, target: _Target, region: DistanceMap):
    """The simulator's density at the region's pixels (its fast path when it has one)."""
    who = f"simulator {type(sim).__name__}"
    fast = getattr(sim, "region_density", None)
    if fast is not None:
        values = np.asarray(fast(image, target.gt, region))
        if values.shape != (region.size,):
            raise PluginError(
                f"{who}.region_density returned shape {values.shape}, expected ({region.size},)"
            )
        return check_density(values, who)
    dens = np.asarray(sim.density(image, target.gt, region.mask()))
    if dens.shape != target.shape:
        raise PluginError(
            f"{who} returned a density of shape {dens.shape}, expected {target.shape}"
        )
    return check_density(dens.ravel()[region.idx], who)


def _densities(
    image: np.ndarray, target: _Target, wanted: list[tuple[Any, DistanceMap]]
) -> dict[tuple[int, int], np.ndarray]:
    """Density values for each (simulator, region): the simulator's ``region_density`` when it
    has one, else one ``density_batch`` call per simulator (or ``density`` per region)."""
    out: dict[tuple[int, int], np.ndarray] = {}
    by_sim: dict[int, list[DistanceMap]] = {}
    sims: dict[int, Any] = {}
    for sim, region in wanted:
        if getattr(sim, "region_density", None) is not None or not hasattr(sim, "density_batch"):
            out[(id(sim), id(region))] = _region_values(sim, image, target, region)
        else:
            by_sim.setdefault(id(sim), []).append(region)
            sims[id(sim)] = sim
    for key, regions in by_sim.items():
        sim = sims[key]
        who = f"simulator {type(sim).__name__}"
        n = len(regions)
        dens = list(sim.density_batch([image] * n, [target.gt] * n, [r.mask() for r in regions]))
        if len(dens) != n:
            raise PluginError(f"{who}.density_batch returned {len(dens)} maps for {n} regions")
        for region, d in zip(regions, dens):
            d = np.asarray(d)
            if d.shape != target.shape:
                raise PluginError(
                    f"{who} returned a density of shape {d.shape}, expected {target.shape}"
                )
            out[(key, id(region))] = check_density(d.ravel()[region.idx], who)
    return out


def run_instance(
    model: Any,
    embedding: Any,
    image: np.ndarray,
    gt: np.ndarray,
    ignore: np.ndarray | None,
    simulators: dict[str, Any],
    protocol: Protocol,
    key: tuple[str, str, str],
    instance_ids: Sequence[str] | None = None,
) -> dict[str, list]:
    """All trajectories of one instance; returns the per-click rows as columns.
    ``instance_ids``: every instance of the sample (for replay simulators); default: this one.

    Trajectories in the same state share work: at the first click all of them start from the
    empty prediction, so its error distances and each simulator's density are computed once.
    """
    dataset, sample_id, instance_id = key
    target = _Target(gt, ignore)
    h, w = target.shape
    threshold = float(getattr(model, "threshold", 0.5))
    start = (target.gt_idx, np.zeros(0, dtype=np.int64))  # empty prediction: FN = gt
    trajs: list[_Traj] = []
    for spec in plan(simulators, protocol):
        sim = None if spec.simulator == BASELINE else simulators[spec.simulator]
        rng = trajectory_rng(
            protocol.seed, dataset, sample_id, instance_id, spec.simulator, spec.group, spec.repeat
        )
        trajs.append(_Traj(spec, sim, rng, start))
    ids = [instance_id] if instance_ids is None else instance_ids
    for spec, sim, script in _replay_specs(simulators, key, (h, w), ids):
        trajs.append(
            _Traj(spec, sim, np.random.Generator(np.random.PCG64(0)), start, script=script)
        )
    rows: dict[str, list] = {name: [] for name in ROW_SCHEMA.names}
    for k in range(1, protocol.max_clicks + 1):
        live = [t for t in trajs if t.active(k)]
        if not live:
            break
        distances: dict[int, tuple[DistanceMap, DistanceMap]] = {}
        # 1. the side of every trajectory's click, and the error region it falls in
        sides = []
        for t in live:
            if t.script is not None:  # a recorded click: nothing to simulate
                c = t.script[k - 1]
                t.clicks.append(c)
                t.flat.append(c.y * w + c.x)
                continue
            shared = distances.get(id(t.errors))
            if shared is None:
                shared = tuple(distances_of(t.errors, (h, w)))
                distances[id(t.errors)] = shared
            clicked = np.array(t.flat, dtype=np.int64)
            positive, dfn, dfp = choose_side(shared[0], shared[1], clicked)
            region = shared[0] if positive else shared[1]
            sides.append((t, clicked, positive, region, dfn if positive else dfp))
        # 2. densities, once per distinct (simulator, region), batched per simulator
        needed: dict[tuple[int, int], tuple[Any, DistanceMap]] = {}
        for t, _, _, region, _ in sides:
            if t.sim is not None and not getattr(t.sim, "is_baseline", False):
                needed.setdefault((id(t.sim), id(region)), (t.sim, region))
        densities = _densities(image, target, list(needed.values()))
        # 3. the clicks
        for t, clicked, positive, region, chosen in sides:
            flat = None
            values = densities.get((id(t.sim), id(region)))
            if values is not None:
                weights = values.copy()
                weights[region.positions(clicked)] = 0.0
                flat = pick(
                    region.idx,
                    weights,
                    t.rng,
                    t.spec.group,
                    protocol.groups,
                    bool(getattr(t.sim, "deterministic", False)),
                )
            if flat is None:  # the baseline, or nothing left in the group: the baseline click
                y, x = chosen.first_argmax()
            else:
                y, x = divmod(flat, w)
            t.clicks.append(Click(x, y, positive))
            t.flat.append(y * w + x)
        t0 = time.perf_counter()
        probs, states = _predict(model, embedding, live)
        per_click = (time.perf_counter() - t0) / len(live)
        for t, prob, state in zip(live, probs, states):
            prob = _as_prob(prob, (h, w), model)
            t.state = state
            iou, t.errors = target.evaluate(prob > threshold)
            c = t.clicks[-1]
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
            rows["seconds"].append(per_click)
    return rows


# -- run folder ------------------------------------------------------------------------------


def unit_digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


class RunFolder:
    """Files of one run: ``journal/`` (one parquet per finished instance and one ``.done``
    marker per finished sample), ``errors.jsonl``, then ``per_click.parquet``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.journal = self.path / "journal"

    def prepare(self) -> None:
        self.journal.mkdir(parents=True, exist_ok=True)

    def instance_file(self, dataset: str, sample_id: str, instance_id: str) -> Path:
        return self.journal / f"{unit_digest(dataset, sample_id, instance_id)}.parquet"

    def sample_marker(self, dataset: str, sample_id: str) -> Path:
        return self.journal / f"{unit_digest(dataset, sample_id)}.done"

    def write_instance(self, key: tuple[str, str, str], rows: dict[str, list]) -> None:
        table = pa.Table.from_pydict(rows, schema=ROW_SCHEMA)
        final = self.instance_file(*key)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        pq.write_table(table, tmp)
        os.replace(tmp, final)

    def mark_sample(self, dataset: str, sample_id: str, instances: Sequence[str]) -> None:
        final = self.sample_marker(dataset, sample_id)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(
            json.dumps({"dataset": dataset, "sample_id": sample_id, "instances": list(instances)})
        )
        os.replace(tmp, final)

    def record_error(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        fd = os.open(self.path / "errors.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def journal_tables(self) -> list[pa.Table]:
        return [pq.read_table(p) for p in sorted(self.journal.glob("*.parquet"))]


@dataclass
class SampleOutcome:
    dataset: str
    sample_id: str
    instances_done: int = 0
    instances_skipped: int = 0
    clicks: int = 0
    errors: int = 0
    seconds: float = 0.0


def process_sample(
    model: Any,
    simulators: dict[str, Any],
    protocol: Protocol,
    folder: RunFolder,
    dataset: str,
    sample: Sample,
    on_instance: Callable[[SampleOutcome], None] | None = None,
) -> SampleOutcome:
    """Encode the image once and run every pending instance of it, journaling each one."""
    out = SampleOutcome(dataset, sample.sample_id)
    t_start = time.perf_counter()
    todo = [
        iid
        for iid in sample.instances
        if not folder.instance_file(dataset, sample.sample_id, iid).exists()
    ]
    out.instances_skipped = len(sample.instances) - len(todo)
    if not todo:
        folder.mark_sample(dataset, sample.sample_id, list(sample.instances))
        return out
    problems = validate_sample(sample)
    if problems:
        for iid in todo:
            _error(folder, out, dataset, sample.sample_id, iid, "dataset", "; ".join(problems))
        return out
    try:
        embedding = model.encode(sample.image)
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        for iid in todo:
            _error(folder, out, dataset, sample.sample_id, iid, "encode", exc)
        return out
    for iid in todo:
        key = (dataset, sample.sample_id, iid)
        try:
            rows = run_instance(
                model,
                embedding,
                sample.image,
                sample.instances[iid],
                sample.ignore,
                simulators,
                protocol,
                key,
                list(sample.instances),
            )
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            _error(folder, out, dataset, sample.sample_id, iid, "predict", exc)
            continue
        folder.write_instance(key, rows)
        out.instances_done += 1
        out.clicks += len(rows["click"])
        if on_instance is not None:
            on_instance(out)
    if out.errors == 0:
        folder.mark_sample(dataset, sample.sample_id, list(sample.instances))
    out.seconds = time.perf_counter() - t_start
    return out


def _error(folder, out, dataset, sample_id, instance_id, stage, exc) -> None:
    out.errors += 1
    if isinstance(exc, BaseException):
        message = f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
    else:
        message, tb = str(exc), None
    folder.record_error(
        {
            "dataset": dataset,
            "sample_id": sample_id,
            "instance_id": instance_id,
            "stage": stage,
            "error": message,
            "traceback": tb,
            "time": time.time(),
        }
    )


def iter_pending(
    dataset: Any, folder: RunFolder, name: str, limit: int | None
) -> Iterator[tuple[int, Sample | None]]:
    """``(index, sample)`` for the samples not finished yet (samples load lazily)."""
    n = len(dataset)
    if limit is not None:
        n = min(n, limit)
    if hasattr(dataset, "__getitem__") and hasattr(dataset, "sample_ids"):
        ids = dataset.sample_ids()
        for i in range(n):
            if not folder.sample_marker(name, ids[i]).exists():
                yield i, None
        return
    for i, sample in enumerate(dataset):
        if i >= n:
            break
        if not folder.sample_marker(name, sample.sample_id).exists():
            yield i, sample
