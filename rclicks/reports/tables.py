"""The report's tables, built from recomputed results, and their renderings.

A :class:`ReportTable` holds raw values (``Cell.value``, ``Cell.std``) next to the text shown,
so every rendering — rich, Markdown, LaTeX, CSV, JSON, HTML — prints the same numbers, and the
machine formats carry them unrounded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rclicks.reports.instances import first_click_spread
from rclicks.reports.runs import RunData

CLASSICAL = ("NoC@85", "NoC@90", "NoC@95", "NoF@90", "NoF@95", "1-mIoU", "5-mIoU", "SPC")


@dataclass
class Column:
    label: str
    metric: str | None = None  # None: a label column (model, dataset, ...)
    group: str | None = None  # spanning header (a dataset, "dataset · simulator")
    dataset: str | None = None
    simulator: str | None = None
    align: str = "right"


@dataclass
class Cell:
    text: str
    value: Any = None
    std: float | None = None
    ci: tuple[float, float] | None = None  # a 95% bootstrap interval (``report --ci``)


@dataclass
class Row:
    cells: list[Cell]
    model: str
    dataset: str | None = None
    simulator: str | None = None
    sample_id: str | None = None  # a per-instance row (the TETRIS instances)
    instance_id: str | None = None


@dataclass
class ReportTable:
    name: str
    title: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """One record per numeric cell: table, model, dataset, simulator, metric, value, std."""
        out = []
        for row in self.rows:
            for col, cell in zip(self.columns, row.cells):
                if col.metric is None:
                    continue
                rec = {
                    "table": self.name,
                    "model": row.model,
                    "dataset": col.dataset or row.dataset,
                    "simulator": col.simulator or row.simulator,
                    "metric": col.metric,
                    "value": _plain(cell.value),
                    "std": _plain(cell.std),
                    "ci_low": _plain(cell.ci[0]) if cell.ci else None,
                    "ci_high": _plain(cell.ci[1]) if cell.ci else None,
                }
                if row.sample_id is not None:
                    rec["sample_id"], rec["instance_id"] = row.sample_id, row.instance_id
                out.append(rec)
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# -- formatting ------------------------------------------------------------------------------


def fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}"


def fmt_pct(v: Any) -> str:
    """A fraction as a signed percentage; a value that rounds to zero prints as +0.0%."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    p = 100 * v
    return f"{0.0 if abs(p) < 0.05 else p:+.1f}%"


def _num(v: Any, digits: int = 2) -> Cell:
    return Cell(fmt(v, digits), v)


def _pm(v: Any, std: Any, digits: int = 2) -> Cell:
    if v is None:
        return Cell("—")
    return Cell(f"{fmt(v, digits)} ± {fmt(std, digits)}", v, std)


def _pct(v: Any) -> Cell:
    return Cell(fmt_pct(v), v)


def _with_ci(v: Any, ci: tuple[float, float], pct: bool = False, digits: int = 2) -> Cell:
    """``value [low, high]``: the value and its 95% bootstrap interval."""
    if v is None:
        return Cell("—")
    if pct:
        text = f"{fmt_pct(v)} [{fmt_pct(ci[0])}, {fmt_pct(ci[1])}]"
    else:
        text = f"{fmt(v, digits)} [{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"
    return Cell(text, v, None, ci)


CI_NOTE = (
    "[low, high]: 95% bootstrap interval ({resamples} resamples of the instances, and of the "
    "clicking groups within each instance; seed {seed})."
)


def _nof(v: Any, grouped: bool) -> Cell:
    if v is None:
        return Cell("—")
    return Cell(fmt(v, 1) if grouped else str(int(v)), v)


def _label(text: str) -> Cell:
    return Cell(text, None)


def _empty() -> Cell:
    return Cell("", None)


# -- the tables ------------------------------------------------------------------------------


def _pairs(runs: list[RunData], kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    got = {
        (e["dataset"], e["simulator"]) for r in runs for e in r.results if e.get("kind") in kinds
    }
    return sorted(got)


def rclicks_table(
    runs: list[RunData], t: str = "90", ci: dict[int, Any] | None = None
) -> ReportTable | None:
    """RClicks Table 4: one row per model; per dataset (and clicking simulator) the Sample
    NoC@t ± std, ΔSB@t and ΔGR@t in % — or, with ``ci`` (id of a run -> RunIntervals), each
    with its 95% bootstrap interval."""
    pairs = _pairs(runs, ("groups",))
    if not pairs:
        return None
    several = len({s for _, s in pairs}) > 1
    cols = [Column("Model", align="left")]
    for d, s in pairs:
        head = f"{d} · {s}" if several else d
        cols += [
            Column(f"Sample NoC@{t}", f"NoC@{t}", head, d, s),
            Column("ΔSB, %", f"dSB@{t}", head, d, s),
            Column("ΔGR, %", f"dGR@{t}", head, d, s),
        ]
    spread = "[95% CI]" if ci is not None else "± std"
    table = ReportTable(
        "rclicks",
        f"Sample NoC@{t} {spread}, ΔSB and ΔGR (RClicks Table 4 layout)",
        cols,
        notes=[
            "Sample NoC: mean over clicking groups, then over instances; ± the per-instance "
            "std over groups, averaged. ΔSB: (Sample NoC − baseline NoC) / baseline NoC; "
            "ΔGR: (NoC in G1 − NoC in GN) / NoC in GN; both averaged over instances."
        ],
    )
    for r in runs:
        cells = [_label(r.label)]
        for d, s in pairs:
            e = r.entry(d, s)
            if e is None or e.get("kind") != "groups":
                cells += [Cell("—"), Cell("—"), Cell("—")]
                continue
            if ci is not None:
                iv = ci[id(r)]
                cells += [
                    _with_ci(e[f"NoC@{t}"], iv.noc(d, s, t)),
                    _with_ci(e.get(f"dSB@{t}"), iv.delta_sb(d, s, t), pct=True),
                    _with_ci(e.get(f"dGR@{t}"), iv.delta_gr(d, s, t), pct=True),
                ]
                continue
            cells += [
                _pm(e[f"NoC@{t}"], e[f"NoC@{t}_std"]),
                _pct(e.get(f"dSB@{t}")),
                _pct(e.get(f"dGR@{t}")),
            ]
        table.rows.append(Row(cells, r.label))
    if ci is not None:
        table.notes.append(_ci_note(ci))
    return table


def _ci_note(ci: dict[int, Any]) -> str:
    any_iv = next(iter(ci.values()))
    return CI_NOTE.format(resamples=any_iv.resamples, seed=any_iv.seed)


def classical_table(runs: list[RunData], ci: dict[int, Any] | None = None) -> ReportTable:
    """NoC@85/90/95, NoF@90/95, 1-mIoU, 5-mIoU and SPC (the OIS / EMC-Click layout), for the
    baseline robot and for each simulator's sample (group means); with ``ci``, the NoC cells
    carry their 95% bootstrap intervals."""
    cols = [
        Column("Model", align="left"),
        Column("Dataset", align="left"),
        Column("Clicks", align="left"),
        Column("Inst.", "instances"),
    ]
    cols += [Column("SPC, s" if m == "SPC" else m, m) for m in CLASSICAL]
    table = ReportTable(
        "classical",
        "Classical metrics: baseline robot and sampled clicks",
        cols,
        notes=[
            "Sample rows average NoC over groups then instances, and NoF over groups (a mean "
            "count). SPC: model seconds per click (decoding only)."
        ],
    )
    for r in runs:
        for e in r.results:
            if e.get("kind") == "users":
                continue
            grouped = e.get("kind") == "groups"
            who = f"{e['simulator']} ×{e['groups']}" if grouped else e["simulator"]
            cells = [_label(r.label), _label(e["dataset"]), _label(who)]
            cells.append(Cell(str(e["instances"]), e["instances"]))
            for m in CLASSICAL:
                v = e.get(m)
                if m.startswith("NoF"):
                    cells.append(_nof(v, grouped))
                elif m.startswith("NoC") and ci is not None:
                    iv = ci[id(r)]
                    cells.append(_with_ci(v, iv.noc(e["dataset"], e["simulator"], m[4:])))
                elif m.startswith("NoC"):
                    cells.append(_num(v, 2))
                elif m == "SPC":
                    cells.append(_num(v, 4))
                else:
                    cells.append(_num(v, 3))
            table.rows.append(Row(cells, r.label, e["dataset"], e["simulator"]))
    return table


def difficulty_table(runs: list[RunData]) -> ReportTable | None:
    """Dataset difficulty from first clicks: real users' (the ``users`` simulator: IoU@1 ±
    std over users, User NSR) and sampled ones (a grouped simulator: IoU@1 ± std over groups,
    the IoU@1 NSR over groups, and the Sample NSR of IoU-AuC)."""
    rows = []
    for r in runs:
        base = {e["dataset"]: e.get("1-mIoU") for e in r.results if e["simulator"] == "baseline"}
        for e in r.results:
            kind = e.get("kind")
            if kind == "users":
                rows.append(
                    Row(
                        [
                            _label(r.label),
                            _label(e["dataset"]),
                            _label(f"{e['simulator']} (real)"),
                            Cell(str(e["instances"]), e["instances"]),
                            Cell(str(e["users"]), e["users"]),
                            _pm(e["IoU@1"], e["IoU@1_std"], 3),
                            _num(e.get("User NSR"), 3),
                            Cell("—"),
                            _num(base.get(e["dataset"]), 3),
                        ],
                        r.label,
                        e["dataset"],
                        e["simulator"],
                    )
                )
            elif kind == "groups":
                spread = first_click_spread(r, e["dataset"], e["simulator"])
                clicks = e["instances"] * e["groups"] * e["repeats"]
                rows.append(
                    Row(
                        [
                            _label(r.label),
                            _label(e["dataset"]),
                            _label(f"{e['simulator']} ×{e['groups']}"),
                            Cell(str(e["instances"]), e["instances"]),
                            Cell(str(clicks), clicks),
                            _pm(e["1-mIoU"], spread["IoU@1_std"], 3),
                            _num(spread["IoU@1 NSR"], 3),
                            _num(e.get("NSR"), 3),
                            _num(base.get(e["dataset"]), 3),
                        ],
                        r.label,
                        e["dataset"],
                        e["simulator"],
                    )
                )
    if not rows:
        return None
    cols = [
        Column("Model", align="left"),
        Column("Dataset", align="left"),
        Column("First clicks", align="left"),
        Column("Inst.", "instances"),
        Column("Clicks", "first_clicks"),
        Column("IoU@1 ± std", "IoU@1"),
        Column("NSR@1", "NSR@1"),
        Column("Sample NSR", "NSR"),
        Column("baseline IoU@1", "baseline IoU@1"),
    ]
    return ReportTable(
        "difficulty",
        "Dataset difficulty: how unequal the first click leaves people",
        cols,
        rows,
        notes=[
            "IoU@1: IoU after the first click, per instance mean over real users (or over "
            "clicking groups), averaged; ± the per-instance std, averaged. NSR@1: per-instance "
            "std / mean of IoU@1, averaged (for real users: the User NSR). Sample NSR: the same "
            "over groups of IoU-AuC."
        ],
    )


EFFICIENCY = ("SPC", "SPC@1", "SPC@2+", "Time@85", "Time@90", "Time@95")


def efficiency_table(runs: list[RunData]) -> ReportTable | None:
    """Model time (the OIS / EMC-Click layout): seconds per click over all clicks, the first
    click and the later ones, and the seconds until IoU 85 / 90 / 95 %."""
    rows = []
    for r in runs:
        for e in r.results:
            if e.get("kind") == "users" or "SPC@1" not in e:
                continue
            grouped = e.get("kind") == "groups"
            who = f"{e['simulator']} ×{e['groups']}" if grouped else e["simulator"]
            cells = [_label(r.label), _label(e["dataset"]), _label(who)]
            cells += [_num(e.get(m), 4) for m in EFFICIENCY]
            rows.append(Row(cells, r.label, e["dataset"], e["simulator"]))
    if not rows:
        return None
    cols = [
        Column("Model", align="left"),
        Column("Dataset", align="left"),
        Column("Clicks", align="left"),
        Column("SPC, s", "SPC"),
        Column("SPC@1, s", "SPC@1"),
        Column("SPC@2+, s", "SPC@2+"),
        Column("Time@85, s", "Time@85"),
        Column("Time@90, s", "Time@90"),
        Column("Time@95, s", "Time@95"),
    ]
    return ReportTable(
        "efficiency",
        "Model time: seconds per click (first, later) and until the target IoU",
        cols,
        rows,
        notes=[
            "SPC: model seconds per click (the engine's share of a batched decode); SPC@1: the "
            "first click, SPC@2+: the later ones. Time@t: model seconds until the IoU first "
            "reaches t (all clicks when it never does), per instance (mean over its groups), "
            "averaged — EMC-Click's Time@90."
        ],
    )


def per_group_table(runs: list[RunData], t: str = "90") -> ReportTable | None:
    """NoC@t of every clicking group (G1 = least clickable), next to the baseline's."""
    n = max((e["groups"] for r in runs for e in r.results if e.get("kind") == "groups"), default=0)
    if not n:
        return None
    cols = [
        Column("Model", align="left"),
        Column("Dataset", align="left"),
        Column("Simulator", align="left"),
        Column("Baseline", f"baseline NoC@{t}"),
    ] + [Column(f"G{g}", f"NoC@{t} G{g}") for g in range(1, n + 1)]
    table = ReportTable("per_group", f"NoC@{t} per clicking group (G1: least clickable)", cols)
    for r in runs:
        for e in r.results:
            if e.get("kind") != "groups":
                continue
            b = r.entry(e["dataset"], "baseline")
            vals = e["per_group"][f"NoC@{t}"]
            cells = [_label(r.label), _label(e["dataset"]), _label(e["simulator"])]
            cells.append(_num(b.get(f"NoC@{t}") if b else None))
            cells += [_num(v) for v in vals] + [Cell("—")] * (n - len(vals))
            table.rows.append(Row(cells, r.label, e["dataset"], e["simulator"]))
    return table


#: the TETRIS AuC columns: (label, key in an entry's ``IoU-AuC`` / ``BIoU-AuC``)
TETRIS_ROLES = (("Min", "min"), ("Base", "base"), ("Max", "max"), ("Δ", "delta"))
#: how many instances the TETRIS per-instance table lists per run × dataset × simulator
TETRIS_TOP = 10


def _deltas(entry: dict[str, Any], metric: str = "IoU-AuC") -> list[float]:
    vals = [p.get(f"{metric} delta") for p in entry.get("per_instance") or []]
    return [float(v) for v in vals if v is not None and math.isfinite(float(v))]


def tetris_table(runs: list[RunData]) -> ReportTable | None:
    """TETRIS robustness (CONTRACT §9): per model × dataset × TETRIS simulator, IoU-AuC and
    BIoU-AuC × 100 of the minimising trajectory, the baseline and the maximising one, Δ = Max
    − Min, and the median and largest Δ of a single instance. ``None`` when no run has
    ``robustness`` entries."""
    entries = [(r, e) for r in runs for e in r.robustness]
    if not entries:
        return None
    cols = [
        Column("Model", align="left"),
        Column("Dataset", align="left"),
        Column("Simulator", align="left"),
        Column("Inst.", "instances"),
        Column("Clicks", "max_clicks"),
    ]
    for m in ("IoU-AuC", "BIoU-AuC"):
        cols += [Column(label, f"{m} {key}", m) for label, key in TETRIS_ROLES]
    per = "per inst."
    cols += [
        Column("Δ median", "IoU-AuC delta median", per),
        Column("Δ max", "IoU-AuC delta max", per),
    ]
    table = ReportTable(
        "tetris",
        "TETRIS robustness: AuC × 100 of the minimising, baseline and maximising clicks",
        cols,
        notes=[
            "Min / Base / Max: the area under the mean IoU (or boundary IoU) curve over the "
            "instances of the minimising TETRIS trajectory, the baseline robot and the "
            "maximising one, / (clicks − 1), × 100; Δ = Max − Min, the spread an annotator's "
            "click placement alone can cause. Per inst.: the IoU-AuC Δ of each instance's own "
            "curves (their mean is Δ), median and largest over the instances."
        ],
    )
    for r, e in entries:
        cells = [_label(r.label), _label(e["dataset"]), _label(e["simulator"])]
        cells += [Cell(str(e["instances"]), e["instances"])]
        cells += [Cell(str(e["max_clicks"]), e["max_clicks"])]
        for m in ("IoU-AuC", "BIoU-AuC"):
            v = e.get(m) or {}
            cells += [_num(v.get(key)) for _, key in TETRIS_ROLES]
        d = _deltas(e)
        cells += [
            _num(float(np.median(d)) if d else None),
            _num(max(d) if d else None),
        ]
        table.rows.append(Row(cells, r.label, e["dataset"], e["simulator"]))
    return table


def tetris_instances_table(runs: list[RunData], top: int = TETRIS_TOP) -> ReportTable | None:
    """The instances TETRIS moves most: per model × dataset × TETRIS simulator, the ``top``
    instances with the largest IoU-AuC Δ (Max − Min of their own curves), largest first."""
    rows = []
    for r in runs:
        for e in r.robustness:
            ranked = sorted(
                e.get("per_instance") or [],
                key=lambda p: (
                    -_finite(p.get("IoU-AuC delta")),
                    _natural(str(p["sample_id"])),
                    _natural(str(p["instance_id"])),
                ),
            )
            for p in ranked[:top]:
                cells = [_label(r.label), _label(e["dataset"]), _label(e["simulator"])]
                cells += [_label(str(p["sample_id"])), _label(str(p["instance_id"]))]
                cells += [_num(p.get(f"IoU-AuC {key}")) for _, key in TETRIS_ROLES]
                cells += [_num(p.get("BIoU-AuC delta"))]
                rows.append(
                    Row(
                        cells,
                        r.label,
                        e["dataset"],
                        e["simulator"],
                        str(p["sample_id"]),
                        str(p["instance_id"]),
                    )
                )
    if not rows:
        return None
    cols = [
        Column("Model", align="left"),
        Column("Dataset", align="left"),
        Column("Simulator", align="left"),
        Column("Sample", align="left"),
        Column("Inst.", align="left"),
    ]
    cols += [Column(label, f"IoU-AuC {key}", "IoU-AuC") for label, key in TETRIS_ROLES]
    cols += [Column("BIoU-AuC Δ", "BIoU-AuC delta")]
    return ReportTable(
        "tetris_instances",
        f"TETRIS per instance: the largest IoU-AuC Δ (AuC × 100; up to {top} per dataset)",
        cols,
        rows,
        notes=[
            "Each instance's own IoU-AuC × 100 of its minimising, baseline and maximising "
            "trajectories and Δ = Max − Min (a greedy search per click, so Max can fall "
            "below Base and Δ below 0). Every instance: summary.json → robustness → "
            "per_instance, or the JSON report's runs → robustness. `rclicks show-clicks RUN "
            "--sample S --instance I --simulator tetris-min` draws one."
        ],
    )


def _finite_json(v: Any) -> Any:
    """``v`` with every non-finite float as ``None`` (JSON has no NaN)."""
    if isinstance(v, dict):
        return {k: _finite_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite_json(x) for x in v]
    return _plain(v)


def _finite(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else -math.inf


def _natural(s: str) -> tuple:
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def build_tables(
    runs: list[RunData], t: str = "90", ci: bool = False, resamples: int = 10_000, seed: int = 0
) -> list[ReportTable]:
    """Every report table; ``ci``: Sample NoC, ΔSB, ΔGR and NoC with their 95% bootstrap
    intervals instead of ± std."""
    intervals = None
    if ci:
        from rclicks.reports.intervals import RunIntervals

        intervals = {id(r): RunIntervals(r, resamples, seed) for r in runs}
    tables = [
        rclicks_table(runs, t, intervals),
        classical_table(runs, intervals),
        per_group_table(runs, t),
        difficulty_table(runs),
        efficiency_table(runs),
        tetris_table(runs),
        tetris_instances_table(runs),
    ]
    return [x for x in tables if x is not None]


# -- the paired comparison ------------------------------------------------------------------


def comparison_table(df: Any) -> ReportTable:
    """The comparison as a :class:`~rclicks.reports.tables.ReportTable` (every rendering of
    the reports: rich, Markdown, LaTeX, HTML)."""
    from rclicks.reports.comparison import METRICS

    metric = df.attrs.get("metric", "")
    label = METRICS[metric].label if metric in METRICS else metric
    digits = 4 if metric.startswith(("time", "spc")) else 3
    pairs = list(dict.fromkeys(zip(df["a"], df["b"])))
    one_pair = len(pairs) == 1
    cols = [] if one_pair else [Column("A", align="left"), Column("B", align="left")]
    cols += [
        Column("Dataset", align="left"),
        Column("Simulator", align="left"),
        Column("n", "n"),
        Column("A", "mean_a"),
        Column("B", "mean_b"),
        Column("B − A", "diff"),
        Column("95% CI", "ci"),
        Column("p", "p_value"),
        Column("p Holm", "p_holm"),
        Column("wins A/B/=", "wins"),
        Column("verdict", align="left"),
    ]
    better = "lower" if df.attrs.get("lower_is_better", True) else "higher"
    who = f"A = {pairs[0][0]}, B = {pairs[0][1]}" if one_pair else "each B against A"
    table = ReportTable(
        "compare",
        f"{label} by instance, {who} ({better} is better)",
        cols,
        notes=[
            f"B − A: mean over instances of the per-instance difference; 95% CI: bootstrap "
            f"({df.attrs.get('resamples')} resamples of instances, and of clicking groups within "
            f"each instance, seed {df.attrs.get('seed')}); p: Wilcoxon signed-rank test of the "
            f"differences, Holm-corrected over the rows. A verdict needs p Holm < "
            f"{df.attrs.get('alpha')} and a CI that excludes 0.",
            *df.attrs.get("notes", []),
        ],
    )
    for r in df.itertuples(index=False):
        ci = f"[{r.ci_low:+.{digits}f}, {r.ci_high:+.{digits}f}]"
        cells = [] if one_pair else [Cell(r.a, None), Cell(r.b, None)]
        cells += [
            Cell(r.dataset, None),
            Cell(r.simulator, None),
            Cell(str(r.n), r.n),
            Cell(fmt(r.mean_a, digits), r.mean_a),
            Cell(fmt(r.mean_b, digits), r.mean_b),
            Cell(f"{r.diff:+.{digits}f}", r.diff),
            Cell(ci, (r.ci_low, r.ci_high)),
            Cell(_pvalue(r.p_value), r.p_value),
            Cell(_pvalue(r.p_holm), r.p_holm),
            Cell(f"{r.wins_a}/{r.wins_b}/{r.ties}", None),
            Cell(r.verdict, None),
        ]
        table.rows.append(Row(cells, r.b, r.dataset, r.simulator))
    return table


def _pvalue(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


# -- renderings ------------------------------------------------------------------------------


def to_rich(table: ReportTable):
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=table.title, header_style="bold")
    for c in table.columns:
        head = f"{c.group}\n{c.label}" if c.group else c.label
        t.add_column(escape(head), justify=c.align, no_wrap=True)  # type: ignore[arg-type]
    for row in table.rows:
        t.add_row(*(escape(c.text) for c in row.cells))
    return t


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(table: ReportTable) -> str:
    heads = [f"{c.group} {c.label}" if c.group else c.label for c in table.columns]
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in heads) + " |")
    lines.append("|" + "|".join("---:" if c.align == "right" else "---" for c in table.columns))
    lines[-1] += "|"
    for row in table.rows:
        lines.append("| " + " | ".join(_md_escape(c.text) for c in row.cells) + " |")
    if table.notes:
        lines += [""] + [f"_{n}_" for n in table.notes]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(s: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)
    return (
        out.replace("±", r"$\pm$")
        .replace("Δ", r"$\Delta$")
        .replace("×", r"$\times$")
        .replace("—", "--")
        .replace("·", r"$\cdot$")
        .replace("−", "-")
    )


def to_latex(table: ReportTable) -> str:
    """A booktabs ``tabular`` fragment (needs ``\\usepackage{booktabs}``)."""
    spec = "".join("l" if c.align == "left" else "r" for c in table.columns)
    lines = [f"% {table.title}", f"\\begin{{tabular}}{{{spec}}}", r"\toprule"]
    if any(c.group for c in table.columns):
        heads, rules, i = [], [], 0
        while i < len(table.columns):
            g = table.columns[i].group
            j = i
            while j + 1 < len(table.columns) and table.columns[j + 1].group == g:
                j += 1
            span = j - i + 1
            if g:
                heads.append(f"\\multicolumn{{{span}}}{{c}}{{{latex_escape(g)}}}")
                rules.append(f"\\cmidrule(lr){{{i + 1}-{j + 1}}}")
            else:
                heads += [""] * span
            i = j + 1
        lines.append(" & ".join(heads) + r" \\")
        lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(c.label) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    for row in table.rows:
        lines.append(" & ".join(latex_escape(c.text) for c in row.cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


CSV_FIELDS = (
    "table", "model", "dataset", "simulator", "metric", "value", "std", "ci_low", "ci_high",
)  # fmt: skip
#: the columns a CSV gains when a table has per-instance rows (the TETRIS instances)
CSV_INSTANCE_FIELDS = ("sample_id", "instance_id")


def to_csv(tables: list[ReportTable]) -> str:
    """Every numeric cell as one tidy row: table, model, dataset, simulator, metric, value,
    std, ci_low, ci_high (full precision; empty for a missing value), and sample_id,
    instance_id when a table has per-instance rows."""
    records = [rec for t in tables for rec in t.records()]
    fields = list(CSV_FIELDS)
    if any("sample_id" in rec for rec in records):
        fields += CSV_INSTANCE_FIELDS
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for rec in records:
        w.writerow({k: ("" if rec.get(k) is None else rec[k]) for k in fields})
    return buf.getvalue()


def to_json(tables: list[ReportTable], runs: list[RunData], warnings: list[str]) -> str:
    data = {
        "runs": [
            {
                "path": str(r.path),
                "label": r.label,
                "model": r.model,
                "protocol": r.protocol,
                "datasets": r.manifests(),
                **({"robustness": _finite_json(r.robustness)} if r.robustness else {}),
            }
            for r in runs
        ],
        "warnings": warnings,
        "tables": [
            {
                "name": t.name,
                "title": t.title,
                "columns": [c.label for c in t.columns],
                "groups": [c.group for c in t.columns],
                "rows": [[c.text for c in row.cells] for row in t.rows],
                "values": t.records(),
                "notes": t.notes,
            }
            for t in tables
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
