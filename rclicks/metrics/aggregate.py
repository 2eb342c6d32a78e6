"""Per-click rows -> one entry of metrics per (dataset, simulator): NoC / NoF / mIoU /
IoU-AuC / SPC (all clicks, the first, the later ones) / Time@t for single trajectories, Sample
NoC ± std / ΔSB / ΔGR / NSR and the same efficiency metrics for clicking groups, IoU@1 / User
NSR for replayed real clicks. :func:`rclicks.summarize` wraps these entries into
``summary.json``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rclicks.metrics.segmentation import THRESHOLDS, iou_auc, noc, nof, time_at


def _pct(t: float) -> str:
    return f"{round(t * 100):d}"


def trajectories(columns: dict[str, np.ndarray], max_clicks: int) -> dict[str, Any]:
    """Group per-click rows into trajectories: keys and an (n_traj, max_clicks) IoU array."""
    keys = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat"]
    n = len(columns["click"])
    order = np.lexsort([columns["click"]] + [columns[k] for k in reversed(keys)])
    cols = {k: np.asarray(v)[order] for k, v in columns.items()}
    if n % max_clicks:
        raise ValueError(f"{n} rows is not a whole number of {max_clicks}-click trajectories")
    t = n // max_clicks
    clicks = cols["click"].reshape(t, max_clicks)
    if not (clicks == np.arange(1, max_clicks + 1)[None, :]).all():
        raise ValueError("every trajectory must have clicks 1..max_clicks exactly once")
    out = {k: cols[k][::max_clicks] for k in keys}
    out["iou"] = cols["iou"].astype(np.float64).reshape(t, max_clicks)
    out["seconds"] = cols["seconds"].astype(np.float64).reshape(t, max_clicks)
    return out


def replay_simulators(columns: dict[str, Sequence], max_clicks: int) -> list[str]:
    """Simulators whose rows are replayed real clicks: only single-click trajectories, group 0,
    told apart from simulated ones by their length (< max_clicks) or their repeats (> 1)."""
    sims = np.asarray(columns["simulator"])
    out = []
    for name in np.unique(sims):
        sel = sims == name
        if (np.asarray(columns["group"])[sel] != 0).any():
            continue
        single = bool((np.asarray(columns["click"])[sel] == 1).all())
        many = int(np.max(np.asarray(columns["repeat"])[sel])) > 1
        if single and (max_clicks > 1 or many):
            out.append(str(name))
    return out


def metric_entries(
    columns: dict[str, Sequence],
    max_clicks: int,
    thresholds: Sequence[float] = THRESHOLDS,
    replay: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One entry per (dataset, simulator), recomputed from the per-click rows alone.
    ``replay``: simulators replaying real users' first clicks (default: recognised from the
    rows, see :func:`replay_simulators`); they get ``kind = "users"`` entries."""
    cols = {k: np.asarray(v) for k, v in columns.items()}
    if len(cols.get("click", [])) == 0:
        return []
    if replay is None:
        replay = replay_simulators(cols, max_clicks)
    rep = np.isin(cols["simulator"], np.asarray(list(replay), dtype=object))
    results = _users({k: v[rep] for k, v in cols.items()}) if rep.any() else []
    if not rep.all():
        results += _simulated({k: v[~rep] for k, v in cols.items()}, max_clicks, thresholds)
    return sorted(results, key=lambda e: (e["dataset"], e["simulator"]))


def _users(cols: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """IoU after each user's first click, and the User NSR (per-instance std / mean of those
    IoUs across users: how unequal the first click leaves people), per dataset and instance."""
    first = cols["click"] == 1
    results = []
    pairs = sorted({(d, s) for d, s in zip(cols["dataset"], cols["simulator"])})
    for dataset, simulator in pairs:
        sel = first & (cols["dataset"] == dataset) & (cols["simulator"] == simulator)
        acc: dict[tuple[str, str], list[float]] = {}
        for sid, iid, v in zip(cols["sample_id"][sel], cols["instance_id"][sel], cols["iou"][sel]):
            acc.setdefault((str(sid), str(iid)), []).append(float(v))
        per = []
        for (sid, iid), vals in sorted(acc.items()):
            a = np.asarray(vals)
            mean, std = float(a.mean()), float(a.std())
            per.append(
                {
                    "sample_id": sid,
                    "instance_id": iid,
                    "users": int(a.size),
                    "IoU@1": mean,
                    "IoU@1_std": std,
                    "User NSR": std / mean if mean > 0 else None,
                }
            )
        nsr = [p["User NSR"] for p in per if p["User NSR"] is not None]
        results.append(
            {
                "dataset": dataset,
                "simulator": simulator,
                "kind": "users",
                "instances": len(per),
                "users": int(np.count_nonzero(sel)),
                "IoU@1": float(np.mean([p["IoU@1"] for p in per])),
                "IoU@1_std": float(np.mean([p["IoU@1_std"] for p in per])),
                "User NSR": float(np.mean(nsr)) if nsr else None,
                "SPC": float(cols["seconds"][sel].mean()),
                "per_instance": per,
            }
        )
    return results


def _simulated(
    cols: dict[str, np.ndarray], max_clicks: int, thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    tr = trajectories(cols, max_clicks)
    ious = tr["iou"]
    nocs = {t: np.array([noc(r, t, max_clicks) for r in ious]) for t in thresholds}
    aucs = np.array([iou_auc(r, max_clicks) for r in ious])
    times = {
        t: np.array([time_at(r, sec, t, max_clicks) for r, sec in zip(ious, tr["seconds"])])
        for t in thresholds
    }
    inst = np.array(
        [f"{s}\x1f{i}" for s, i in zip(tr["sample_id"], tr["instance_id"])], dtype=object
    )
    results = []
    pairs = sorted({(d, s) for d, s in zip(tr["dataset"], tr["simulator"])})
    for dataset, simulator in pairs:
        sel = (tr["dataset"] == dataset) & (tr["simulator"] == simulator)
        base_sel = (tr["dataset"] == dataset) & (tr["simulator"] == "baseline")
        entry: dict[str, Any] = {"dataset": dataset, "simulator": simulator}
        groups = np.unique(tr["group"][sel])
        if groups.size == 1 and groups[0] == 0:
            entry.update(_single(sel, inst, nocs, aucs, ious, tr, max_clicks))
        else:
            entry.update(_grouped(sel, base_sel, inst, nocs, aucs, ious, tr, max_clicks))
        entry.update(_efficiency(sel, inst, times, tr, grouped=entry["kind"] == "groups"))
        results.append(entry)
    return results


def _per_instance(values: np.ndarray, inst: np.ndarray) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for k, v in zip(inst, values):
        acc.setdefault(k, []).append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _efficiency(sel, inst, times, tr, grouped: bool) -> dict[str, Any]:
    """SPC@1 (model seconds of the first click), SPC@2+ (of the later ones) and Time@t (model
    seconds until IoU t, per instance — the mean over its groups and repeats — averaged)."""
    secs = tr["seconds"][sel]
    out: dict[str, Any] = {
        "SPC@1": float(secs[:, 0].mean()),
        "SPC@2+": float(secs[:, 1:].mean()) if secs.shape[1] > 1 else None,
    }
    for t, arr in times.items():
        per = _per_instance(arr[sel], inst[sel])
        out[f"Time@{_pct(t)}"] = float(np.mean(list(per.values())))
    return out


def _single(sel, inst, nocs, aucs, ious, tr, max_clicks) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "single", "instances": int(len(set(inst[sel])))}
    for t, arr in nocs.items():
        out[f"NoC@{_pct(t)}"] = float(arr[sel].mean())
        out[f"NoF@{_pct(t)}"] = nof(arr[sel], max_clicks)
    out["1-mIoU"] = float(ious[sel, 0].mean())
    if max_clicks >= 5:
        out["5-mIoU"] = float(ious[sel, 4].mean())
    out["IoU-AuC"] = float(aucs[sel].mean())
    out["SPC"] = float(tr["seconds"][sel].mean())
    return out


def _grouped(sel, base_sel, inst, nocs, aucs, ious, tr, max_clicks) -> dict[str, Any]:
    groups = sorted(int(g) for g in np.unique(tr["group"][sel]))
    gsel = {g: sel & (tr["group"] == g) for g in groups}
    instances = sorted(set(inst[sel]))
    out: dict[str, Any] = {
        "kind": "groups",
        "instances": len(instances),
        "groups": len(groups),
        "repeats": int(np.max(tr["repeat"][sel])),
    }

    def table(values: np.ndarray) -> np.ndarray:
        """instances × groups matrix of per-(instance, group) means over repeats."""
        m = np.full((len(instances), len(groups)), np.nan)
        index = {k: i for i, k in enumerate(instances)}
        for j, g in enumerate(groups):
            for k, v in _per_instance(values[gsel[g]], inst[gsel[g]]).items():
                m[index[k], j] = v
        return m

    def base(values: np.ndarray) -> np.ndarray:
        got = _per_instance(values[base_sel], inst[base_sel])
        return np.array([got.get(k, np.nan) for k in instances])

    has_base = bool(base_sel.any())
    per_group: dict[str, list[float]] = {}
    for t, arr in nocs.items():
        p = _pct(t)
        m = table(arr.astype(np.float64))
        out[f"NoC@{p}"] = float(np.nanmean(m.mean(axis=1)))
        out[f"NoC@{p}_std"] = float(np.nanmean(m.std(axis=1)))
        per_group[f"NoC@{p}"] = [float(v) for v in np.nanmean(m, axis=0)]
        nof_g = [
            float(
                np.mean(
                    [
                        nof(arr[gsel[g] & (tr["repeat"] == r)], max_clicks)
                        for r in np.unique(tr["repeat"][gsel[g]])
                    ]
                )
            )
            for g in groups
        ]
        out[f"NoF@{p}"] = float(np.mean(nof_g))
        per_group[f"NoF@{p}"] = nof_g
        out[f"dGR@{p}"] = float(np.nanmean((m[:, 0] - m[:, -1]) / m[:, -1]))
        if has_base:
            b = base(arr.astype(np.float64))
            out[f"dSB@{p}"] = float(np.nanmean((m.mean(axis=1) - b) / b))
        else:
            out[f"dSB@{p}"] = None
    m_auc = table(aucs)
    out["IoU-AuC"] = float(np.nanmean(m_auc.mean(axis=1)))
    out["IoU-AuC_std"] = float(np.nanmean(m_auc.std(axis=1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["NSR"] = float(np.nanmean(m_auc.std(axis=1) / m_auc.mean(axis=1)))
    per_group["IoU-AuC"] = [float(v) for v in np.nanmean(m_auc, axis=0)]
    out["1-mIoU"] = float(np.nanmean(table(ious[:, 0]).mean(axis=1)))
    if max_clicks >= 5:
        out["5-mIoU"] = float(np.nanmean(table(ious[:, 4]).mean(axis=1)))
    out["SPC"] = float(tr["seconds"][sel].mean())
    out["per_group"] = per_group
    return out


def adversarial_names(columns: dict[str, Sequence]) -> list[str]:
    """TETRIS simulators recognised from the rows: names ``N`` with both ``N-min`` and
    ``N-max`` trajectories (for runs whose run.json does not mark them)."""
    sims = {str(s) for s in np.unique(np.asarray(columns["simulator"]))}
    return sorted(s[: -len("-min")] for s in sims if s.endswith("-min") and s[:-4] + "-max" in sims)


def robustness_entries(
    columns: dict[str, Sequence], max_clicks: int, names: Sequence[str]
) -> list[dict[str, Any]]:
    """The TETRIS metrics (CONTRACT §9) per (dataset, TETRIS simulator ``N`` of ``names``):
    over the instances that have the baseline, ``N-min`` and ``N-max``, the mean IoU and BIoU
    curves of the three, their IoU-AuC and BIoU-AuC × 100 (trapezoid area under the mean
    curve / (max_clicks − 1)) and Δ = Max − Min, and per instance the same AuCs."""
    cols = {k: np.asarray(v) for k, v in columns.items()}
    if not names or len(cols.get("click", [])) == 0:
        return []
    wanted = {"baseline": "base"}
    for n in names:
        wanted[f"{n}-min"], wanted[f"{n}-max"] = "min", "max"
    sel = np.isin(cols["simulator"], np.asarray(list(wanted), dtype=object)) & (cols["group"] == 0)
    cols = {k: v[sel] for k, v in cols.items()}
    if not sel.any():
        return []
    if "biou" not in cols:
        cols["biou"] = np.full(len(cols["click"]), np.nan)
    biou = np.array([np.nan if v is None else float(v) for v in cols["biou"]], dtype=np.float64)
    tr = trajectories({**cols, "seconds": biou}, max_clicks)  # the BIoU rides as "seconds"
    curves_of: dict[tuple[str, str, str, str], tuple[np.ndarray, np.ndarray]] = {}
    for i in range(len(tr["simulator"])):
        key = (str(tr["dataset"][i]), str(tr["sample_id"][i]), str(tr["instance_id"][i]))
        curves_of[(*key, str(tr["simulator"][i]))] = (tr["iou"][i], tr["seconds"][i])
    out = []
    for dataset in sorted({k[0] for k in curves_of}):
        for n in names:
            roles = {"base": "baseline", "min": f"{n}-min", "max": f"{n}-max"}
            insts = [
                i
                for i in sorted({(k[1], k[2]) for k in curves_of if k[0] == dataset})
                if all((dataset, *i, sim) in curves_of for sim in roles.values())
            ]
            if not insts:
                continue
            entry: dict[str, Any] = {
                "dataset": dataset,
                "simulator": n,
                "kind": "tetris",
                "instances": len(insts),
                "max_clicks": max_clicks,
            }
            curves: dict[str, dict[str, list[float] | None]] = {"IoU": {}, "BIoU": {}}
            per: dict[tuple[str, str], dict[str, Any]] = {
                i: {"sample_id": i[0], "instance_id": i[1]} for i in insts
            }
            for metric, which in (("IoU", 0), ("BIoU", 1)):
                aucs: dict[str, float | None] = {}
                for role, sim in roles.items():
                    m = np.stack([curves_of[(dataset, *i, sim)][which] for i in insts])
                    if np.isnan(m).any():  # not computed (a run without BIoU for the baseline)
                        aucs[role], curves[metric][role] = None, None
                        for i in insts:
                            per[i][f"{metric}-AuC {role}"] = None
                        continue
                    curves[metric][role] = [float(v) for v in m.mean(axis=0)]
                    aucs[role] = 100.0 * iou_auc(m.mean(axis=0), max_clicks)
                    for i, row in zip(insts, m):
                        per[i][f"{metric}-AuC {role}"] = 100.0 * iou_auc(row, max_clicks)
                lo, hi = aucs["min"], aucs["max"]
                aucs["delta"] = None if lo is None or hi is None else hi - lo
                entry[f"{metric}-AuC"] = aucs
                for row in per.values():
                    a, b = row[f"{metric}-AuC min"], row[f"{metric}-AuC max"]
                    row[f"{metric}-AuC delta"] = None if a is None or b is None else b - a
            entry["curves"] = curves
            entry["per_instance"] = list(per.values())
            out.append(entry)
    return out
