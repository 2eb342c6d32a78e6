"""``rclicks show-clicks``: a stored trajectory re-derived step by step.

The run folder keeps the clicks, not the maps they were drawn from. :func:`replay_trajectory`
rebuilds the model, simulator and dataset from ``run.json`` through the registry, re-runs the
model on the recorded clicks (models are deterministic) and, before every click, re-derives it
with the engine's own parts: the error regions of the previous prediction, the side and region
(:func:`rclicks.clicks.click_side`), the simulator's density there
(:func:`rclicks.engine.densities.region_values`) and the click itself
(:func:`rclicks.clicks.click_step`) with the trajectory's own random generator. Each step checks
itself: the side and the click must be the ones recorded (so a click sampled from a clicking
group is reproduced exactly), and the replayed IoU must equal the recorded one.

A TETRIS trajectory (``N-min`` / ``N-max`` of a TETRIS simulator ``N``) is re-derived as the
engine runs it: the baseline click is the candidate;
:func:`rclicks.engine.adversarial.evaluated_positions` gives every position the search
evaluates (with the trajectory's random generator); each is decoded; and
:func:`rclicks.engine.adversarial.select` keeps the lowest or highest IoU. The kept position
must be the recorded click.
"""

from __future__ import annotations

import math
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.clicks import click_side, click_step, distances_of, trajectory_rng
from rclicks.datasets import find_sample
from rclicks.engine.adversarial import Bands, evaluated_positions, keep_position
from rclicks.engine.densities import region_values
from rclicks.engine.plan import ADVERSARIAL_MODES
from rclicks.engine.trajectories import Target, as_prob, predict_all
from rclicks.errors import ReportError
from rclicks.plugins.names import build
from rclicks.plugins.presets import load_registry
from rclicks.protocols import is_adversarial, is_baseline, is_replay, threshold_of
from rclicks.reports.runs import RunData
from rclicks.types import Click


@dataclass
class Step:
    k: int
    click: Click
    recorded_iou: float
    iou: float
    prev_mask: np.ndarray  # prediction before this click
    mask: np.ndarray  # prediction after it
    region: np.ndarray  # the error region on the recorded side
    density: np.ndarray | None  # the simulator's density on that region (None: baseline)
    support: np.ndarray | None  # the clicking group's slice (None: no groups)
    fallback: bool = False  # nothing in the slice: the engine clicked the baseline point
    problems: list[str] = field(default_factory=list)
    # a TETRIS click: every position the search evaluated (the baseline candidate first),
    # the IoU each gives, and the index of the one the engine's rule keeps
    evaluated: list[Click] | None = None
    evaluated_iou: list[float] | None = None
    kept: int | None = None


@dataclass
class Replay:
    dataset: str
    sample_id: str
    instance_id: str
    simulator: str
    group: int
    repeat: int
    groups: int
    image: np.ndarray
    gt: np.ndarray
    steps: list[Step]
    mode: str = ""  # a TETRIS trajectory: "min" or "max"
    strategy: str = ""  # its search: "search" or "gradient"

    @property
    def problems(self) -> list[str]:
        return [f"click {s.k}: {p}" for s in self.steps for p in s.problems]


def _pick_run_component(items: list[dict[str, Any]], name: str | None, what: str, key: str):
    if name is None:
        if len(items) == 1:
            return items[0]
        names = ", ".join(str(i.get(key)) for i in items)
        raise ReportError(f"the run has several {what}s ({names}); choose one with --{what}")
    for i in items:
        if name in (i.get(key), i.get("name")):
            return i
    names = ", ".join(str(i.get(key)) for i in items)
    raise ReportError(f"the run has no {what} {name!r} (it has {names})")


def _select(run: RunData, **want: Any) -> np.ndarray:
    sel = np.ones(len(run.rows["click"]), dtype=bool)
    for k, v in want.items():
        sel &= run.rows[k] == v
    return sel


def replay_trajectory(
    run: RunData,
    sample_id: str,
    instance_id: str | None = None,
    simulator: str | None = None,
    group: int | None = None,
    repeat: int = 1,
    dataset: str | None = None,
    registry_path: str | None = None,
    device: str = "cpu",
) -> Replay:
    """Re-derive one stored trajectory (defaults: the run's only dataset, the sample's first
    instance, the first clicking simulator, group 1 — or the baseline when there is none)."""
    ds_info = _pick_run_component(run.run.get("datasets") or [], dataset, "dataset", "dataset")
    label = str(ds_info.get("dataset", ds_info.get("name")))
    rows = run.rows
    in_sample = _select(run, dataset=label, sample_id=sample_id)
    if not in_sample.any():
        known = sorted(set(rows["sample_id"][rows["dataset"] == label].tolist()))
        shown = ", ".join(known[:8]) + (" …" if len(known) > 8 else "")
        raise ReportError(f"no sample {sample_id!r} in this run's {label} rows (it has {shown})")
    if instance_id is None:
        instance_id = sorted(set(rows["instance_id"][in_sample].tolist()), key=_natural)[0]
    in_inst = in_sample & (rows["instance_id"] == instance_id)
    if not in_inst.any():
        raise ReportError(f"sample {sample_id!r} has no instance {instance_id!r} in this run")
    sims = sorted(set(rows["simulator"][in_inst].tolist()))
    if simulator is None:
        grouped = [s for s in sims if (rows["group"][in_inst & (rows["simulator"] == s)] > 0).any()]
        simulator = grouped[0] if grouped else ("baseline" if "baseline" in sims else sims[0])
    if simulator not in sims:
        raise ReportError(f"no simulator {simulator!r} in this run (it has {', '.join(sims)})")
    in_sim = in_inst & (rows["simulator"] == simulator)
    groups_here = sorted(set(int(g) for g in rows["group"][in_sim]))
    if group is None:
        group = groups_here[0]
    sel = in_sim & (rows["group"] == group) & (rows["repeat"] == repeat)
    if not sel.any():
        raise ReportError(
            f"no trajectory {simulator} group {group} repeat {repeat} (groups: "
            f"{', '.join(map(str, groups_here))})"
        )
    idx = np.flatnonzero(sel)
    idx = idx[np.argsort(rows["click"][idx])]
    recorded = [
        (Click(int(rows["x"][i]), int(rows["y"][i]), bool(rows["positive"][i])), rows["iou"][i])
        for i in idx
    ]

    registry = load_registry(registry_path)
    m = run.run["model"]
    _rebuildable(m, "model")
    model = build("models", m["name"], m.get("options") or {}, registry, device=device)
    sim = None
    mode = ""
    if simulator != "baseline":
        s_info, mode = _simulator_info(run.run.get("simulators") or [], simulator)
        _rebuildable(s_info, "simulator")
        sim = build("simulators", s_info["name"], s_info.get("options") or {}, registry, None)
        if mode and not is_adversarial(sim):
            raise ReportError(
                f"trajectory {simulator!r} looks like a TETRIS one, but simulator "
                f"{s_info['name']!r} rebuilds as {type(sim).__name__}, not a TETRIS search"
            )
    _rebuildable(ds_info, "dataset")
    ds = build("datasets", ds_info["name"], ds_info.get("options") or {}, registry)
    sample = find_sample(ds, sample_id)
    if instance_id not in sample.instances:
        raise ReportError(f"dataset sample {sample_id!r} has no instance {instance_id!r}")
    gt = np.asarray(sample.instances[instance_id], dtype=bool)
    n_groups = int(run.protocol.get("groups", 1))
    seed = int(run.protocol.get("seed", 0))
    h, w = gt.shape
    target = Target(gt, sample.ignore)
    errors = target.start()
    rng = trajectory_rng(seed, label, sample_id, instance_id, simulator, group, repeat)
    sampling = (
        sim is not None and not is_baseline(sim) and not is_replay(sim) and not is_adversarial(sim)
    )
    deterministic = bool(getattr(sim, "deterministic", False)) if sim is not None else True
    threshold = threshold_of(model)
    strategy = sim.strategy_for(model) if mode else ""  # type: ignore[union-attr]
    bands = Bands(gt, sample.ignore) if mode else None
    embedding = model.encode(sample.image)
    state = None
    pred = np.zeros(gt.shape, dtype=bool)
    clicks: list[Click] = []
    steps: list[Step] = []
    for k, (click, rec_iou) in enumerate(recorded, start=1):
        problems: list[str] = []
        fn_map, fp_map = distances_of(errors, (h, w))
        clicked = np.array([c.y * w + c.x for c in clicks], dtype=np.int64)
        side = click_side(fn_map, fp_map, clicked)
        density = support = None
        fallback = False
        evaluated: list[Click] | None = None
        evaluated_iou: list[float] | None = None
        kept: int | None = None
        decoded = None  # the recorded click's (IoU, errors, mask, state) when already decoded
        if mode:
            # as the engine: the baseline click is the candidate, the search evaluates
            # positions around it, the lowest / highest IoU is kept
            cand = click_step(side, None, clicked, rng, group, n_groups, True).click
            region = side.region.mask()
            if side.positive != click.positive:
                problems.append(
                    f"the side rule gives {'positive' if side.positive else 'negative'}, the "
                    f"run recorded {'positive' if click.positive else 'negative'}"
                )
            ev = evaluated_positions(
                strategy,
                sim,
                model,
                embedding,
                list(clicks),
                state,
                cand,
                side.region.idx,
                clicked,
                target.gt,
                target.valid,
                mode == "min",
                rng,
                time.perf_counter,
            )
            evaluated = [Click(f % w, f // w, cand.positive) for f in ev.positions]
            probs, states = predict_all(
                model, embedding, [[*clicks, c] for c in evaluated], [state] * len(evaluated)
            )
            found = []
            for prob, st in zip(probs, states):
                mask = as_prob(prob, (h, w), model) > threshold
                value, errs = target.evaluate(mask.copy())  # evaluate() consumes its argument
                found.append((value, errs, mask, st))
            evaluated_iou = [f[0] for f in found]
            masks = [f[2] for f in found]
            kept = keep_position(mode == "min", evaluated_iou, masks, bands, ev.penalties)  # type: ignore[arg-type]
            keep = evaluated[kept]
            if (keep.x, keep.y) != (click.x, click.y):
                problems.append(
                    f"the TETRIS search ({strategy}, {mode}) keeps ({keep.x}, {keep.y}) of "
                    f"{len(evaluated)} evaluated positions, the run recorded "
                    f"({click.x}, {click.y})"
                )
            at = [(c.x, c.y, c.positive) for c in evaluated]
            if (click.x, click.y, click.positive) in at:  # decoded already: reuse it
                decoded = found[at.index((click.x, click.y, click.positive))]
        elif sim is not None and is_replay(sim):
            region = (fn_map if click.positive else fp_map).mask()
        else:
            values = region_values(sim, sample.image, gt, side.region) if sampling else None
            choice = click_step(side, values, clicked, rng, group, n_groups, deterministic)
            region = side.region.mask()
            if side.positive != click.positive:
                problems.append(
                    f"the side rule gives {'positive' if side.positive else 'negative'}, the "
                    f"run recorded {'positive' if click.positive else 'negative'}"
                )
            derived = choice.click
            if (derived.x, derived.y) != (click.x, click.y):
                problems.append(
                    f"the engine's click step gives ({derived.x}, {derived.y}), the run "
                    f"recorded ({click.x}, {click.y})"
                )
            if values is not None:
                fallback = choice.fallback
                flat = np.zeros(h * w, dtype=np.float32)
                flat[side.region.idx] = values
                density = flat.reshape(h, w)
                support = np.zeros(h * w, dtype=bool)
                support[choice.support()] = True
                support = support.reshape(h, w)
        clicks.append(click)
        if decoded is None:
            probs, states = predict_all(model, embedding, [list(clicks)], [state])
            state = states[0]
            new = as_prob(probs[0], (h, w), model) > threshold
            value, errors = target.evaluate(new.copy())
        else:
            value, errors, new, state = decoded
        if not (
            math.isclose(value, float(rec_iou), abs_tol=1e-9)
            or (math.isnan(value) and math.isnan(float(rec_iou)))
        ):
            problems.append(
                f"replayed IoU {value:.6f} ≠ recorded {float(rec_iou):.6f}: the model did not "
                "reproduce the run's masks (non-deterministic, or other weights/options)"
            )
        steps.append(
            Step(
                k,
                click,
                float(rec_iou),
                value,
                pred,
                new,
                region,
                density,
                support,
                fallback,
                problems,
                evaluated,
                evaluated_iou,
                kept,
            )
        )
        pred = new
    return Replay(
        label,
        sample_id,
        instance_id,
        simulator,
        group,
        repeat,
        n_groups,
        sample.image,
        gt,
        steps,
        mode,
        strategy,
    )


def _simulator_info(items: list[dict[str, Any]], simulator: str) -> tuple[dict[str, Any], str]:
    """run.json's entry of the simulator that ran the trajectory ``simulator``, and the
    TETRIS mode ("min" / "max") when it is one: a TETRIS simulator ``N`` (``"adversarial":
    true`` in run.json) writes its trajectories as ``N-min`` and ``N-max``."""
    for i in items:
        if simulator == i.get("name"):
            return i, ""
    stem, _, mode = simulator.rpartition("-")
    if mode in ADVERSARIAL_MODES:
        for i in items:
            if stem == i.get("name") and i.get("adversarial", True):
                return i, mode
    return _pick_run_component(items, simulator, "simulator", "name"), ""


def _rebuildable(info: dict[str, Any], what: str) -> None:
    if info.get("source") == "object":
        raise ReportError(
            f"the run's {what} {info.get('name')!r} was a Python object ({info.get('class')}); "
            "show-clicks rebuilds components from their names, so it can only replay runs "
            f"whose {what} was given by name"
        )


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def render_replay(rep: Replay, max_steps: int | None = None, ncols: int = 4):
    """One panel per click: the image, the ground truth outline (white), the prediction before
    the click (cyan), the density over the error region (heat), the group slice (yellow
    outline), earlier clicks (small) and this click (large; green + / red −)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    steps = rep.steps[:max_steps] if max_steps else rep.steps
    n = len(steps)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    h, w = rep.gt.shape
    scale = 3.6 / max(h, w)
    where = f"G{rep.group}/{rep.groups}" if rep.group else "no group"
    if rep.mode:
        legend = (
            f"{'lowest' if rep.mode == 'min' else 'highest'} IoU kept; dots: the evaluated "
            "positions by their IoU (darkest: the click's lowest, brightest: its highest), "
            "diamond: the baseline click, ring: kept; white: object, cyan: previous mask"
        )
        where = f"(TETRIS {rep.strategy})"
    else:
        legend = (
            "heat: density on the error region, yellow: group slice, white: object, cyan: "
            "previous mask"
        )
    row_title = 0.75 if rep.mode else 0.55  # a TETRIS panel's title has a second line
    width = ncols * w * scale + 0.4
    head = textwrap.wrap(
        f"{rep.dataset} · {rep.sample_id} · instance {rep.instance_id} · {rep.simulator} "
        f"{where} · repeat {rep.repeat}",
        int(width * 12),
    ) + textwrap.wrap(f"({legend})", int(width * 12))
    top = (0.34 if rep.mode else 0.17) + 0.16 * len(head) + 0.15  # inches above the panels
    fig = Figure(figsize=(width, nrows * (h * scale + row_title) + top - row_title + 0.1))
    fig.suptitle("\n".join(head), fontsize=9)
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - top / fig.get_figheight(),
        wspace=0.04,
        hspace=0.25,
    )
    img = np.asarray(rep.image, dtype=np.float32) / 255.0
    heat = matplotlib.colormaps["inferno"]
    yellow = ListedColormap([(1, 1, 1, 0), (1.0, 0.9, 0.0, 0.55)])
    for i, s in enumerate(steps):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(img * 0.55 + 0.2, interpolation="nearest")
        if s.density is not None and s.region.any():
            d = np.where(s.region, s.density, np.nan)
            top = np.nanmax(d)
            if top > 0:
                ax.imshow(d / top, cmap=heat, alpha=0.75, vmin=0, vmax=1, interpolation="nearest")
        elif s.region.any():
            ax.imshow(np.where(s.region, 1.0, np.nan), cmap=heat, alpha=0.35, vmin=0, vmax=1.5)
        if s.support is not None and s.support.any():
            ax.imshow(s.support.astype(float), cmap=yellow, vmin=0, vmax=1, interpolation="nearest")
            if s.support.sum() > 1:
                ax.contour(s.support.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        ax.contour(rep.gt.astype(float), levels=[0.5], colors="white", linewidths=1.0)
        if s.prev_mask.any():
            ax.contour(s.prev_mask.astype(float), levels=[0.5], colors="cyan", linewidths=1.0)
        if s.evaluated:
            _draw_evaluated(ax, s)
        before = rep.steps[: s.k - 1]
        if before:
            ax.scatter(
                [b.click.x for b in before],
                [b.click.y for b in before],
                s=18,
                c=["#34c759" if b.click.positive else "#ff3b30" for b in before],
                edgecolors="black",
                linewidths=0.5,
                gid="earlier-clicks",
            )
        ax.scatter(
            [s.click.x],
            [s.click.y],
            s=120,
            marker="P" if s.click.positive else "X",
            c="#34c759" if s.click.positive else "#ff3b30",
            edgecolors="white",
            linewidths=1.2,
            gid="click",
            zorder=5,
        )
        flag = " fallback" if s.fallback else ""
        bad = " ⚠" if s.problems else ""
        searched = ""
        if s.evaluated_iou:
            lo, hi = np.nanmin(s.evaluated_iou), np.nanmax(s.evaluated_iou)
            searched = f"\n{len(s.evaluated_iou)} tried: {lo:.3f}–{hi:.3f}, "
            searched += f"baseline {s.evaluated_iou[0]:.3f}"
        ax.set_title(
            f"{s.k}: {'+' if s.click.positive else '−'}({s.click.x},{s.click.y}) "
            f"IoU {s.recorded_iou:.3f}{flag}{bad}{searched}",
            fontsize=8,
        )
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_axis_off()
    return fig


#: the colours of a TETRIS click's evaluated positions, by the IoU each gives
EVALUATED_CMAP = "plasma"


def _draw_evaluated(ax: Any, s: Step) -> None:
    """A TETRIS click's evaluated positions (small dots coloured by IoU, from this click's
    lowest, dark, to its highest, bright), the baseline candidate (diamond) and the kept one
    (ring)."""
    assert s.evaluated is not None and s.evaluated_iou is not None
    ious = np.nan_to_num(np.asarray(s.evaluated_iou, dtype=np.float64), nan=0.0)
    lo, hi = float(ious.min()), float(ious.max())
    ax.scatter(
        [c.x for c in s.evaluated],
        [c.y for c in s.evaluated],
        s=12,
        c=ious,
        cmap=EVALUATED_CMAP,
        vmin=lo,
        vmax=hi if hi > lo else lo + 1e-9,
        edgecolors="none",
        gid="evaluated",
        zorder=4,
    )
    first = s.evaluated[0]
    ax.scatter(
        [first.x],
        [first.y],
        s=60,
        marker="D",
        facecolors="none",
        edgecolors="white",
        linewidths=1.0,
        gid="candidate",
        zorder=4,
    )
    if s.kept is not None:
        k = s.evaluated[s.kept]
        ax.scatter(
            [k.x],
            [k.y],
            s=300,
            facecolors="none",
            edgecolors="#ffd60a",
            linewidths=1.6,
            gid="kept",
            zorder=6,
        )


def save_replay(fig: Any, out: Path, dpi: int = 110) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out
