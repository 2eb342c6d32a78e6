"""Leaderboard tables: one row per submission, the metrics of one dataset (or their mean) and
one simulator, sorted by any metric. Pure functions over the stored, server-recomputed
results."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rclicks.errors import BoardError

ALL = "all"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    source: str  # "groups": the simulator's clicking-group entry; "baseline": the robot's
    field: str
    higher_is_better: bool
    percent: bool = False


METRICS = (
    Metric("NoC@90", "Sample NoC@90", "groups", "NoC@90", False),
    Metric("NoC@90_std", "± std", "groups", "NoC@90_std", False),
    Metric("NoC@95", "Sample NoC@95", "groups", "NoC@95", False),
    Metric("NoF@90", "NoF@90", "groups", "NoF@90", False),
    Metric("IoU-AuC", "IoU-AuC", "groups", "IoU-AuC", True),
    Metric("5-mIoU", "5-mIoU", "groups", "5-mIoU", True),
    Metric("dSB@90", "ΔSB@90", "groups", "dSB@90", False, percent=True),
    Metric("dGR@90", "ΔGR@90", "groups", "dGR@90", False, percent=True),
    Metric("NSR", "NSR", "groups", "NSR", False),
    Metric("baseline_NoC@90", "Baseline NoC@90", "baseline", "NoC@90", False),
    Metric("SPC", "ms/click", "groups", "SPC", False),
)
BY_KEY = {m.key: m for m in METRICS}
DEFAULT_METRIC = "NoC@90"


def datasets_of(reference: dict[str, Any] | None, spec: dict[str, Any]) -> list[str]:
    """The dataset labels rows carry (``dataset.name``), in benchmark order."""
    if reference:
        return [d["dataset"] for d in reference["datasets"]]
    return list(spec["datasets"])


def simulators_of(spec: dict[str, Any]) -> list[str]:
    return [s for s in spec["simulators"] if s != "baseline"] or ["baseline"]


def metric_values(results: list[dict[str, Any]], dataset: str, simulator: str) -> dict:
    by = {(r.get("dataset"), r.get("simulator")): r for r in results}
    out: dict[str, float | None] = {}
    for m in METRICS:
        entry = by.get((dataset, simulator if m.source == "groups" else "baseline"))
        v = None if entry is None else entry.get(m.field)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[m.key] = float(v) * (1000.0 if m.key == "SPC" else 1.0)
        else:
            out[m.key] = None
    return out


def _mean(values: list[dict], key: str) -> float | None:
    got = [v[key] for v in values if v[key] is not None]
    return sum(got) / len(got) if len(got) == len(values) and got else None


def table(
    spec: dict[str, Any],
    reference: dict[str, Any] | None,
    submissions: list[dict[str, Any]],
    dataset: str | None = None,
    simulator: str | None = None,
    metric: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """The leaderboard of one benchmark. ``submissions``: dicts with ``id``, ``name``,
    ``model``, ``paper``, ``code``, ``created`` and ``results``."""
    datasets = datasets_of(reference, spec)
    sims = simulators_of(spec)
    dataset = dataset or (datasets[0] if len(datasets) == 1 else ALL)
    simulator = simulator or sims[0]
    metric = metric or DEFAULT_METRIC
    if dataset != ALL and dataset not in datasets:
        raise BoardError(f"dataset {dataset!r} is not in this benchmark: {', '.join(datasets)}")
    if simulator not in sims:
        raise BoardError(f"simulator {simulator!r} is not in this benchmark: {', '.join(sims)}")
    if metric not in BY_KEY:
        raise BoardError(f"unknown metric {metric!r}; one of: {', '.join(BY_KEY)}")
    m = BY_KEY[metric]
    order = order or ("desc" if m.higher_is_better else "asc")
    if order not in ("asc", "desc"):
        raise BoardError(f"order must be asc or desc, got {order!r}")
    entries = []
    for s in submissions:
        per = {d: metric_values(s["results"], d, simulator) for d in datasets}
        if dataset == ALL:
            values = {k.key: _mean(list(per.values()), k.key) for k in METRICS}
        else:
            values = per[dataset]
        entries.append({**{k: s[k] for k in ("id", "name", "model", "paper", "code")},
                        "created": s["created"], "verified": s.get("verified", "rows only"),
                        "metrics": values})  # fmt: skip
    present = [e for e in entries if e["metrics"][metric] is not None]
    absent = [e for e in entries if e["metrics"][metric] is None]
    sign = -1.0 if order == "desc" else 1.0
    present.sort(key=lambda e: (sign * e["metrics"][metric], e["id"]))  # ties: earlier first
    ranked = present + sorted(absent, key=lambda e: e["id"])
    for i, e in enumerate(ranked, 1):
        e["rank"] = i
    return {
        "benchmark": spec["name"],
        "protocol": spec.get("protocol"),
        "dataset": dataset,
        "simulator": simulator,
        "metric": metric,
        "order": order,
        "datasets": datasets,
        "simulators": sims,
        "metrics": [
            {"key": k.key, "label": k.label, "higher_is_better": k.higher_is_better}
            for k in METRICS
        ],
        "entries": ranked,
    }
