"""Is a difference between two runs real? Paired comparisons with bootstrap confidence
intervals and Wilcoxon signed-rank tests (``rclicks compare``, :func:`rclicks.compare`).

Instances are paired by (dataset, sample, instance); per dataset × simulator the table holds
each run's mean, the mean paired difference B − A with a 95% bootstrap CI, the Wilcoxon
signed-rank p-value of the per-instance differences, how many instances each run wins, the
Holm-corrected p-value over the table's rows and a verdict.

The bootstrap resamples instances with replacement; for a clicking-group simulator it also
resamples the groups (and repeats) within each drawn instance — the same ones for both runs,
since group g of both runs is the same mass slice — so the interval accounts for the
sampling of clicks as well as of instances. It is seeded: the same seed gives the same
interval. A verdict says "A better" / "B better" only when the Holm-corrected p-value is
below ``alpha`` *and* the interval excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rclicks.clicks import trajectory_rng
from rclicks.errors import OptionError, ReportError
from rclicks.metrics import iou_auc, noc, time_at, trajectories
from rclicks.reports.runs import RunData, check_comparable, label_runs, report_run

NOT_SIGNIFICANT = "no significant difference"
UNIT = ["group", "repeat"]
INSTANCE = ["sample_id", "instance_id"]


@dataclass(frozen=True)
class Metric:
    """A per-trajectory value, averaged per instance. ``lower_is_better`` decides who wins;
    ``grouped_only``: rows of clicking-group simulators only (Sample NoC)."""

    name: str
    kind: str  # noc | auc | miou | time | spc
    arg: float = 0.0
    lower_is_better: bool = True
    grouped_only: bool = False
    label: str = ""


def _metrics() -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for t in (85, 90, 95):
        out[f"noc@{t}"] = Metric(f"noc@{t}", "noc", t / 100, label=f"NoC@{t}")
        out[f"sample-noc@{t}"] = Metric(
            f"sample-noc@{t}", "noc", t / 100, grouped_only=True, label=f"Sample NoC@{t}"
        )
        out[f"time@{t}"] = Metric(f"time@{t}", "time", t / 100, label=f"Time@{t}, s")
    out["iou-auc"] = Metric("iou-auc", "auc", lower_is_better=False, label="IoU-AuC")
    out["1-miou"] = Metric("1-miou", "miou", 1, lower_is_better=False, label="1-mIoU")
    out["5-miou"] = Metric("5-miou", "miou", 5, lower_is_better=False, label="5-mIoU")
    out["spc"] = Metric("spc", "spc", label="SPC, s")
    return out


METRICS = _metrics()


def metric_of(name: str) -> Metric:
    key = str(name).strip().lower()
    if key not in METRICS:
        raise OptionError(f"unknown metric {name!r}; one of: {', '.join(METRICS)}")
    return METRICS[key]


# -- per-trajectory values --------------------------------------------------------------------


def trajectory_values(run: RunData, metric: Metric) -> pd.DataFrame:
    """One row per simulated trajectory (replayed real clicks left out): dataset, simulator,
    sample_id, instance_id, group, repeat, value."""
    rows = run.rows
    keep = ~np.isin(rows["simulator"], np.asarray(run.replay, dtype=object))
    if not keep.any():
        return pd.DataFrame(columns=["dataset", "simulator", *INSTANCE, *UNIT, "value"])
    k = run.max_clicks
    tr = trajectories({c: v[keep] for c, v in rows.items()}, k)
    ious, secs = tr["iou"], tr["seconds"]
    if metric.kind == "noc":
        values = [noc(r, metric.arg, k) for r in ious]
    elif metric.kind == "time":
        values = [time_at(r, s, metric.arg, k) for r, s in zip(ious, secs)]
    elif metric.kind == "auc":
        values = [iou_auc(r, k) for r in ious]
    elif metric.kind == "miou":
        click = int(metric.arg)
        if click > k:
            raise OptionError(f"{metric.name}: the runs have only {k} clicks per trajectory")
        values = ious[:, click - 1]
    else:  # spc
        values = secs.mean(axis=1)
    frame = pd.DataFrame({c: tr[c] for c in ("dataset", "simulator", *INSTANCE, *UNIT)})
    frame["value"] = np.asarray(values, dtype=np.float64)
    return frame


# -- statistics -------------------------------------------------------------------------------


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator, chunk: int = 500
) -> np.ndarray:
    """Bootstrap replicates of the mean over instances of the per-instance mean of ``b − a``.

    ``a`` and ``b`` are instances × units (units: clicking groups × repeats, paired between
    the runs; one column for a single trajectory). Each replicate draws instances with
    replacement and, with several units, units with replacement within each drawn instance
    (the same draw for ``a`` and ``b``)."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n, m = d.shape
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        inst = rng.integers(0, n, size=(r, n))
        if m == 1:
            out[start : start + r] = d[inst, 0].mean(axis=1)
        else:
            units = rng.integers(0, m, size=(r, n, m))
            out[start : start + r] = d[inst[..., None], units].mean(axis=(1, 2))
    return out


def wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of per-instance differences (1 when they are all
    zero, NaN for fewer than two instances)."""
    from scipy.stats import wilcoxon

    diff = np.asarray(diff, dtype=np.float64)
    if diff.size < 2:
        return float("nan")
    if not np.any(diff != 0):
        return 1.0
    return float(wilcoxon(diff).pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment (NaN stays NaN and does not count)."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    m = len(order)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


# -- comparing runs ---------------------------------------------------------------------------


def _as_run(run: Any) -> RunData:
    if isinstance(run, RunData):
        return run
    path = getattr(run, "path", run)  # a rclicks.Run, or a path
    return report_run(Path(path))


def _instances(frame: pd.DataFrame) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for d, sub in frame.groupby("dataset"):
        out[str(d)] = set(zip(sub["sample_id"], sub["instance_id"]))
    return out


def mismatches(a: RunData, b: RunData, fa: pd.DataFrame, fb: pd.DataFrame) -> list[str]:
    """Why runs ``a`` and ``b`` should not be compared instance by instance (empty: they may):
    other protocol settings, other data or simulator settings (see
    :func:`rclicks.reports.check_comparable`), other instances, other clicking groups."""
    problems = list(check_comparable([a, b]))
    ia, ib = _instances(fa), _instances(fb)
    for d in sorted(set(ia) | set(ib)):
        only_a = sorted(ia.get(d, set()) - ib.get(d, set()))
        only_b = sorted(ib.get(d, set()) - ia.get(d, set()))
        for who, only in ((a.label, only_a), (b.label, only_b)):
            if only:
                shown = ", ".join("/".join(x) for x in only[:3]) + (" …" if len(only) > 3 else "")
                problems.append(f"dataset {d!r}: {len(only)} instance(s) only in {who} ({shown})")
    return problems


def compare(
    run_a: Any,
    run_b: Any,
    *runs: Any,
    metric: str = "noc@90",
    alpha: float = 0.05,
    resamples: int = 10_000,
    seed: int = 0,
    force: bool = False,
) -> pd.DataFrame:
    """Compare run A with run B (and with every further run): one row per (run, dataset,
    simulator) with ``n`` paired instances, ``mean_a``, ``mean_b``, ``diff`` (B − A),
    ``ci_low`` / ``ci_high`` (95% bootstrap), ``p_value`` (Wilcoxon), ``p_holm``, ``wins_a``,
    ``wins_b``, ``ties`` and ``verdict``. Runs are run folders (paths), ``rclicks.Run`` objects
    or report ``RunData``. Runs over different instances or settings are refused, naming what
    differs, unless ``force`` (then the common instances are compared and ``attrs["notes"]``
    says so)."""
    spec = metric_of(metric)
    if not 0 < alpha < 1:
        raise OptionError(f"alpha must be between 0 and 1, got {alpha}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise OptionError(f"resamples must be a whole number >= 100, got {resamples!r}")
    data = [_as_run(r) for r in (run_a, run_b, *runs)]
    label_runs(data)
    frames = [trajectory_values(r, spec) for r in data]
    a, fa = data[0], frames[0]
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for b, fb in zip(data[1:], frames[1:]):
        problems = mismatches(a, b, fa, fb)
        if problems and not force:
            raise ReportError(
                f"{a.label} and {b.label} cannot be compared instance by instance: "
                + "; ".join(problems)
                + ". Use --force (force=True) to compare the instances they share"
            )
        notes += [f"compared anyway (force): {p}" for p in problems]
        records += _compare_pair(a, b, fa, fb, spec, resamples, seed, notes)
    adjusted = holm([r["p_value"] for r in records])
    for r, p in zip(records, adjusted):
        r["p_holm"] = p
        r["verdict"] = _verdict(r, spec, alpha)
    columns = [
        "a", "b", "dataset", "simulator", "metric", "n", "mean_a", "mean_b", "diff", "ci_low",
        "ci_high", "p_value", "p_holm", "wins_a", "wins_b", "ties", "verdict",
    ]  # fmt: skip
    out = pd.DataFrame.from_records(records, columns=columns)
    out.attrs.update(
        notes=notes,
        metric=spec.name,
        alpha=alpha,
        resamples=resamples,
        seed=seed,
        lower_is_better=spec.lower_is_better,
    )
    return out


def _compare_pair(a, b, fa, fb, spec, resamples, seed, notes) -> list[dict[str, Any]]:
    out = []
    keys = sorted(
        set(map(tuple, fa[["dataset", "simulator"]].drop_duplicates().values))
        & set(map(tuple, fb[["dataset", "simulator"]].drop_duplicates().values))
    )
    for dataset, simulator in keys:
        sa = fa[(fa["dataset"] == dataset) & (fa["simulator"] == simulator)]
        sb = fb[(fb["dataset"] == dataset) & (fb["simulator"] == simulator)]
        grouped = bool((sa["group"] > 0).any() or (sb["group"] > 0).any())
        if spec.grouped_only and not grouped:
            continue
        ma = sa.pivot_table(index=INSTANCE, columns=UNIT, values="value")
        mb = sb.pivot_table(index=INSTANCE, columns=UNIT, values="value")
        rows = ma.index.intersection(mb.index)
        cols = ma.columns.intersection(mb.columns)
        if len(cols) < max(len(ma.columns), len(mb.columns)):
            notes.append(
                f"{dataset}/{simulator}: the runs have other clicking groups; "
                f"{len(cols)} shared group(s) compared"
            )
        if len(rows) == 0 or len(cols) == 0:
            continue
        va = ma.loc[rows, cols].to_numpy()
        vb = mb.loc[rows, cols].to_numpy()
        per_a, per_b = va.mean(axis=1), vb.mean(axis=1)
        diff = per_b - per_a
        rng = trajectory_rng(seed, "compare", dataset, simulator, spec.name)
        boot = paired_bootstrap(va, vb, resamples, rng)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        better_a = diff > 0 if spec.lower_is_better else diff < 0
        better_b = diff < 0 if spec.lower_is_better else diff > 0
        out.append(
            {
                "a": a.label,
                "b": b.label,
                "dataset": dataset,
                "simulator": simulator,
                "metric": spec.name,
                "n": int(len(rows)),
                "mean_a": float(per_a.mean()),
                "mean_b": float(per_b.mean()),
                "diff": float(diff.mean()),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "p_value": wilcoxon_p(diff),
                "wins_a": int(np.count_nonzero(better_a)),
                "wins_b": int(np.count_nonzero(better_b)),
                "ties": int(np.count_nonzero(diff == 0)),
            }
        )
    return out


def _verdict(r: dict[str, Any], spec: Metric, alpha: float) -> str:
    p = r["p_holm"]
    excludes_zero = r["ci_low"] > 0 or r["ci_high"] < 0
    if math.isnan(p) or p >= alpha or not excludes_zero:
        return NOT_SIGNIFICANT
    b_higher = r["diff"] > 0
    return "A better" if b_higher == spec.lower_is_better else "B better"
