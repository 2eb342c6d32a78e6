"""Per-instance numbers for the report: NoC per group, IoU@1 spread, IoU curves.

These follow the formulas of docs/metrics.md exactly (per (instance, group) the mean over
repeats first, population std), so their means over instances equal the aggregates that
:func:`rclicks.summarize` computes — the tests check that. The grouping is pandas'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rclicks.metrics import THRESHOLDS, iou_auc, noc, trajectories
from rclicks.reports.runs import RunData

BASELINE = "baseline"
INSTANCE = ["dataset", "sample_id", "instance_id"]


def _pct(t: float) -> str:
    return f"{round(t * 100):d}"


def _simulated(run: RunData) -> pd.DataFrame | None:
    """One row per trajectory of the non-replayed simulators: its keys, NoC@t, IoU-AuC,
    IoU@1 and the IoU curve (``curve``, an array)."""
    cache = getattr(run, "_traj_cache", None)
    if cache is not None or getattr(run, "_traj_none", False):
        return cache
    sel = ~np.isin(run.rows["simulator"], np.asarray(run.replay, dtype=object))
    if not sel.any():
        run._traj_none = True  # type: ignore[attr-defined]
        return None
    k = run.max_clicks
    tr = trajectories({c: v[sel] for c, v in run.rows.items()}, k)
    frame = pd.DataFrame({c: tr[c] for c in (*INSTANCE, "simulator", "group", "repeat")})
    for t in THRESHOLDS:
        frame[f"NoC@{_pct(t)}"] = [float(noc(r, t, k)) for r in tr["iou"]]
    frame["IoU@1"] = tr["iou"][:, 0]
    frame["IoU-AuC"] = [iou_auc(r, k) for r in tr["iou"]]
    frame["curve"] = list(tr["iou"])
    run._traj_cache = frame  # type: ignore[attr-defined]
    return frame


def _series_names() -> list[str]:
    return [f"NoC@{_pct(t)}" for t in THRESHOLDS] + ["IoU@1", "IoU-AuC"]


def instance_stats(run: RunData) -> list[dict[str, Any]]:
    """One record per (dataset, sample, instance, simulator) — the baseline only when the run
    has nothing else. Grouped simulators carry per-group NoC, their mean and std over groups,
    IoU@1 and IoU-AuC mean and std over groups, and the baseline's NoC and IoU@1; replayed
    users carry their IoU@1 mean, std and User NSR."""
    out: list[dict[str, Any]] = []
    frame = _simulated(run)
    if frame is not None:
        names = _series_names()
        # per (instance, simulator, group): the mean over repeats
        per_group = frame.groupby([*INSTANCE, "simulator", "group"], sort=True)[names].mean()
        sims = set(per_group.index.get_level_values("simulator"))
        base: dict[tuple, dict[str, float]] = {}
        if BASELINE in sims:
            robot = per_group.xs(BASELINE, level="simulator").droplevel("group")
            base = {key: row.to_dict() for key, row in robot.iterrows()}
        only_baseline = sims == {BASELINE}
        for key, sub in per_group.groupby(level=[*INSTANCE, "simulator"], sort=True):
            dataset, sample_id, instance_id, sim = key
            if sim == BASELINE and not only_baseline:
                continue
            groups = list(sub.index.get_level_values("group"))
            grouped = groups != [0]
            rec: dict[str, Any] = {
                "dataset": dataset,
                "sample_id": sample_id,
                "instance_id": instance_id,
                "simulator": sim,
                "kind": "groups" if grouped else "single",
                "groups": len(groups) if grouped else 0,
            }
            for name in names:
                vals = sub[name].to_numpy(dtype=np.float64)
                rec[name] = float(vals.mean())
                rec[name + "_std"] = float(vals.std())
                if grouped and name.startswith("NoC@"):
                    rec[name + "_per_group"] = [float(v) for v in vals]
            mean1 = rec["IoU@1"]
            rec["IoU@1 NSR"] = rec["IoU@1_std"] / mean1 if mean1 > 0 else None
            b = base.get((dataset, sample_id, instance_id))
            rec["baseline"] = None if b is None else {k: float(v) for k, v in b.items()}
            out.append(rec)
    for e in run.results:
        if e.get("kind") != "users":
            continue
        for p in e["per_instance"]:
            out.append(
                {
                    "dataset": e["dataset"],
                    "sample_id": p["sample_id"],
                    "instance_id": p["instance_id"],
                    "simulator": e["simulator"],
                    "kind": "users",
                    "users": p["users"],
                    "IoU@1": p["IoU@1"],
                    "IoU@1_std": p["IoU@1_std"],
                    "IoU@1 NSR": p["User NSR"],
                    "baseline": None,
                }
            )
    return out


def first_click_spread(run: RunData, dataset: str, simulator: str) -> dict[str, float | None]:
    """Sampled first clicks of a grouped simulator: mean over instances of the std over groups
    of IoU@1, and the IoU@1 NSR (per-instance std / mean over groups, averaged)."""
    recs = [
        r
        for r in instance_stats_cached(run)
        if r["dataset"] == dataset and r["simulator"] == simulator and r["kind"] == "groups"
    ]
    if not recs:
        return {"IoU@1_std": None, "IoU@1 NSR": None}
    nsr = [r["IoU@1 NSR"] for r in recs if r["IoU@1 NSR"] is not None]
    return {
        "IoU@1_std": float(np.mean([r["IoU@1_std"] for r in recs])),
        "IoU@1 NSR": float(np.mean(nsr)) if nsr else None,
    }


def instance_stats_cached(run: RunData) -> list[dict[str, Any]]:
    cache = getattr(run, "_inst_cache", None)
    if cache is None:
        cache = instance_stats(run)
        run._inst_cache = cache  # type: ignore[attr-defined]
    return cache


def iou_curves(run: RunData) -> dict[tuple[str, str], dict[int, np.ndarray]]:
    """(dataset, simulator) -> group -> mean IoU after each click (over instances of the
    per-instance mean over repeats); group 0 is the baseline or a deterministic simulator."""
    frame = _simulated(run)
    out: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    if frame is None:
        return out
    keys = ["dataset", "simulator", "group", "sample_id", "instance_id"]
    per_instance = frame.groupby(keys, sort=True)["curve"].apply(lambda c: np.mean(list(c), 0))
    for (dataset, sim, g), curves in per_instance.groupby(level=[0, 1, 2], sort=True):
        out.setdefault((str(dataset), str(sim)), {})[int(g)] = np.mean(list(curves), axis=0)
    return out


def trajectory_rows(run: RunData) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(dataset, sample, instance) -> its trajectories, each with simulator, group, repeat and
    the clicks (x, y, positive, iou) in order: the click sequences the HTML report links to."""
    r = run.rows
    rows = pd.DataFrame({k: r[k] for k in (*INSTANCE, "simulator", "group", "repeat", "click")})
    rows["c"] = [
        [int(x), int(y), bool(p), float(v)]
        for x, y, p, v in zip(r["x"], r["y"], r["positive"], r["iou"])
    ]
    rows = rows.sort_values([*INSTANCE, "simulator", "group", "repeat", "click"], kind="stable")
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for key, sub in rows.groupby([*INSTANCE, "simulator", "group", "repeat"], sort=True):
        dataset, sample_id, instance_id, sim, group, repeat = key
        out.setdefault((str(dataset), str(sample_id), str(instance_id)), []).append(
            {
                "simulator": str(sim),
                "group": int(group),
                "repeat": int(repeat),
                "clicks": list(sub["c"]),
            }
        )
    return out
