"""docs/results.md tells the truth: every table in it is what ``rclicks report`` recomputes
from the runs kept in docs/results/ (the default model on the real GrabCut, Berkeley and
DAVIS photos), and every figure it shows exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rclicks.reports import load_runs
from rclicks.reports.tables import build_tables, to_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"
DATASETS = ("GrabCut", "Berkeley", "DAVIS")


@pytest.fixture(scope="module")
def doc_and_runs():
    runs = load_runs([DOCS / "results" / d for d in DATASETS])
    return (DOCS / "results.md").read_text(encoding="utf-8"), runs


def test_the_runs_are_the_full_protocol_on_the_real_data(doc_and_runs):
    _, runs = doc_and_runs
    sizes = {r.results[0]["dataset"]: r.results[0]["instances"] for r in runs}
    assert sizes == {"GrabCut": 50, "Berkeley": 100, "DAVIS": 345}
    for r in runs:
        assert r.protocol["groups"] == 10 and r.protocol["max_clicks"] == 20
        assert r.model == "geodesic" and not r.warnings  # summary.json agrees with the rows


def _body(table) -> str:
    return to_markdown(table).split("\n", 1)[1].strip()  # without its heading


def test_every_table_of_the_doc_is_the_recomputed_one(doc_and_runs):
    doc, runs = doc_and_runs
    for r in runs:
        r.label = r.model
        (mine,) = [t for t in build_tables([r], "90", ci=True) if t.name == "rclicks"]
        assert _body(mine) in doc, f"docs/results.md: the RClicks table of {r.path.name}"
    tables = {t.name: t for t in build_tables(runs, "90", ci=True)}
    for name in ("classical", "per_group", "efficiency"):
        assert _body(tables[name]) in doc, f"docs/results.md: table {name!r} is not recomputed"


def test_the_summary_lines_and_figures(doc_and_runs):
    doc, runs = doc_and_runs
    for r in runs:
        d = next(e for e in r.results if e["simulator"] == "distance")
        b = next(e for e in r.results if e["simulator"] == "baseline")
        line = (
            f"- **{b['dataset']}**: baseline NoC@90 {b['NoC@90']:.2f}, Sample NoC@90 "
            f"{d['NoC@90']:.2f} ± {d['NoC@90_std']:.2f}, ΔSB {100 * d['dSB@90']:+.1f}%, "
            f"ΔGR {100 * d['dGR@90']:+.1f}%."
        )
        assert line in doc
    images = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", doc)
    assert len(images) >= 6
    for img in images:
        assert (DOCS / img).stat().st_size > 10_000, img
