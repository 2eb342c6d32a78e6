"""Per-instance numbers for the report: NoC per group, IoU@1 spread, IoU curves.

These follow the formulas of docs/metrics.md exactly (per (instance, group) the mean over
repeats first, population std), so their means over instances equal the aggregates that
:func:`rclicks.summarize` computes — the tests check that.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from rclicks.metrics import THRESHOLDS, iou_auc, noc, trajectories
from rclicks.reports.runs import RunData

BASELINE = "baseline"


def _pct(t: float) -> str:
    return f"{round(t * 100):d}"


def _simulated(run: RunData) -> dict[str, Any] | None:
    """Trajectories of the non-replayed simulators with their NoC@t, IoU-AuC and IoU@1."""
    cache = getattr(run, "_traj_cache", None)
    if cache is not None:
        return cache
    replay = run.replay
    sel = ~np.isin(run.rows["simulator"], np.asarray(replay, dtype=object))
    if not sel.any():
        run._traj_cache = None  # type: ignore[attr-defined]
        return None
    tr = trajectories({k: v[sel] for k, v in run.rows.items()}, run.max_clicks)
    tr["noc"] = {
        _pct(t): np.array([noc(r, t, run.max_clicks) for r in tr["iou"]], dtype=np.float64)
        for t in THRESHOLDS
    }
    tr["auc"] = np.array([iou_auc(r, run.max_clicks) for r in tr["iou"]])
    run._traj_cache = tr  # type: ignore[attr-defined]
    return tr


def _mean_over_repeats(keys: list[tuple], values: np.ndarray) -> dict[tuple, float]:
    acc: dict[tuple, list[float]] = defaultdict(list)
    for k, v in zip(keys, values):
        acc[k].append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def instance_stats(run: RunData) -> list[dict[str, Any]]:
    """One record per (dataset, sample, instance, simulator) — the baseline only when the run
    has nothing else. Grouped simulators carry per-group NoC, their mean and std over groups,
    IoU@1 and IoU-AuC mean and std over groups, and the baseline's NoC and IoU@1; replayed
    users carry their IoU@1 mean, std and User NSR."""
    out: list[dict[str, Any]] = []
    tr = _simulated(run)
    if tr is not None:
        base: dict[tuple, dict[str, float]] = {}
        n = len(tr["group"])
        for i in range(n):
            if tr["simulator"][i] == BASELINE:
                k = (str(tr["dataset"][i]), str(tr["sample_id"][i]), str(tr["instance_id"][i]))
                base[k] = {
                    **{f"NoC@{p}": float(a[i]) for p, a in tr["noc"].items()},
                    "IoU@1": float(tr["iou"][i, 0]),
                    "IoU-AuC": float(tr["auc"][i]),
                }
        keys = [
            (
                str(tr["dataset"][i]),
                str(tr["sample_id"][i]),
                str(tr["instance_id"][i]),
                str(tr["simulator"][i]),
                int(tr["group"][i]),
            )
            for i in range(n)
        ]
        series = {f"NoC@{p}": a for p, a in tr["noc"].items()}
        series["IoU@1"] = tr["iou"][:, 0]
        series["IoU-AuC"] = tr["auc"]
        means = {name: _mean_over_repeats(keys, vals) for name, vals in series.items()}
        by_inst: dict[tuple, list[int]] = defaultdict(list)
        for k in means["IoU@1"]:
            by_inst[k[:4]].append(k[4])
        sims = {k[3] for k in by_inst}
        for k in sorted(by_inst):
            dataset, sample_id, instance_id, sim = k
            if sim == BASELINE and sims != {BASELINE}:
                continue
            groups = sorted(by_inst[k])
            rec: dict[str, Any] = {
                "dataset": dataset,
                "sample_id": sample_id,
                "instance_id": instance_id,
                "simulator": sim,
                "kind": "groups" if groups != [0] else "single",
                "groups": len(groups) if groups != [0] else 0,
            }
            for name, m in means.items():
                vals = np.array([m[(*k, g)] for g in groups])
                rec[name] = float(vals.mean())
                rec[name + "_std"] = float(vals.std())
                if rec["kind"] == "groups" and name.startswith("NoC@"):
                    rec[name + "_per_group"] = [float(v) for v in vals]
            mean1 = rec["IoU@1"]
            rec["IoU@1 NSR"] = rec["IoU@1_std"] / mean1 if mean1 > 0 else None
            b = base.get(k[:3])
            rec["baseline"] = b
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
    tr = _simulated(run)
    out: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    if tr is None:
        return out
    acc: dict[tuple, list[np.ndarray]] = defaultdict(list)
    for i in range(len(tr["group"])):
        k = (
            str(tr["dataset"][i]),
            str(tr["simulator"][i]),
            int(tr["group"][i]),
            str(tr["sample_id"][i]),
            str(tr["instance_id"][i]),
        )
        acc[k].append(tr["iou"][i])
    per: dict[tuple, list[np.ndarray]] = defaultdict(list)
    for k, curves in acc.items():
        per[k[:3]].append(np.mean(curves, axis=0))
    for (dataset, sim, g), curves in sorted(per.items()):
        out.setdefault((dataset, sim), {})[g] = np.mean(curves, axis=0)
    return out


def trajectory_rows(run: RunData) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(dataset, sample, instance) -> its trajectories, each with simulator, group, repeat and
    the clicks (x, y, positive, iou) in order: the click sequences the HTML report links to."""
    r = run.rows
    order = np.lexsort(
        [r["click"], r["repeat"], r["group"], r["simulator"], r["instance_id"], r["sample_id"]]
        + [r["dataset"]]
    )
    out: dict[tuple[str, str, str], dict[tuple, dict[str, Any]]] = defaultdict(dict)
    for i in order:
        inst = (str(r["dataset"][i]), str(r["sample_id"][i]), str(r["instance_id"][i]))
        tk = (str(r["simulator"][i]), int(r["group"][i]), int(r["repeat"][i]))
        t = out[inst].setdefault(
            tk, {"simulator": tk[0], "group": tk[1], "repeat": tk[2], "clicks": []}
        )
        t["clicks"].append(
            [int(r["x"][i]), int(r["y"][i]), bool(r["positive"][i]), float(r["iou"][i])]
        )
    return {k: list(v.values()) for k, v in out.items()}
