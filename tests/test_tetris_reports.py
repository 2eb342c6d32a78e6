"""The TETRIS results in the reports, on a small TETRIS run the engine wrote on the demo data:
every format of `rclicks report` holds summary.json's robustness numbers, the curves plot draws
its mean curves, the HTML has its section, `show-clicks` re-derives every click of a tetris-min
and a tetris-max trajectory (the evaluated positions included), and runs without TETRIS (or
written before it) report as before."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from rclicks.runs import read_rows
from tests.helpers import run_cli

CLICKS = 5
TETRIS = ["eval", "--simulator", "tetris", "--dataset", "demo", "--limit", "2",
          "--max-clicks", str(CLICKS), "--sim-opt", "candidates=4"]  # fmt: skip
ROLES = ("min", "base", "max", "delta")


@pytest.fixture(scope="module")
def tetris_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tetris-report") / "t"
    r = run_cli([*TETRIS, "--out", str(out)])
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def stored(tetris_run):
    """summary.json's robustness entry (one dataset, one TETRIS simulator)."""
    (entry,) = json.loads((tetris_run / "summary.json").read_text())["robustness"]
    assert entry["dataset"] == "demo" and entry["simulator"] == "tetris"
    assert entry["instances"] >= 2 and entry["IoU-AuC"]["delta"] > 0
    return entry


def report(args):
    return run_cli(["report", *map(str, args)])


def close(got, want) -> bool:
    if want is None:
        return got is None
    return got is not None and got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_every_format_holds_summary_jsons_tetris_numbers(tetris_run, stored):
    r = report([tetris_run, "--format", "json"])
    assert r.returncode == 0, r.stderr
    assert "DISAGREES" not in r.stderr
    data = json.loads(r.stdout)
    tables = {t["name"]: t for t in data["tables"]}
    assert {"tetris", "tetris_instances"} <= set(tables)
    # the main table: every AuC of the entry, and the per-instance Δ median / max
    vals = {v["metric"]: v["value"] for v in tables["tetris"]["values"]}
    for m in ("IoU-AuC", "BIoU-AuC"):
        for role in ROLES:
            assert close(vals[f"{m} {role}"], stored[m][role]), (m, role)
    deltas = [p["IoU-AuC delta"] for p in stored["per_instance"]]
    assert close(vals["IoU-AuC delta median"], float(np.median(deltas)))
    assert close(vals["IoU-AuC delta max"], max(deltas))
    assert vals["instances"] == stored["instances"] and vals["max_clicks"] == CLICKS
    # the per-instance table: the instances by IoU-AuC Δ, largest first, with their numbers
    per = {(p["sample_id"], p["instance_id"]): p for p in stored["per_instance"]}
    recs = tables["tetris_instances"]["values"]
    order = list(dict.fromkeys((v["sample_id"], v["instance_id"]) for v in recs))
    assert sorted(order) == sorted(per)  # fewer than 10 instances: all of them
    assert [per[k]["IoU-AuC delta"] for k in order] == sorted(deltas, reverse=True)
    for v in recs:
        assert close(v["value"], per[(v["sample_id"], v["instance_id"])][v["metric"]]), v
    # every instance of the entry rides along in the JSON runs
    shipped = data["runs"][0]["robustness"][0]["per_instance"]
    assert len(shipped) == len(stored["per_instance"])
    for a, b in zip(shipped, stored["per_instance"]):
        assert a.keys() == b.keys() and all(
            a[k] == b[k] if isinstance(b[k], str) else close(a[k], b[k]) for k in b
        )
    # markdown: the row as summary.json's numbers print
    md = report([tetris_run, "--format", "markdown"]).stdout
    cells = [f"{stored[m][role]:.2f}" for m in ("IoU-AuC", "BIoU-AuC") for role in ROLES]
    row = f"| geodesic | demo | tetris | {stored['instances']} | {CLICKS} | " + " | ".join(cells)
    assert row in md
    top = max(stored["per_instance"], key=lambda p: p["IoU-AuC delta"])
    inst = [f"{top[f'IoU-AuC {role}']:.2f}" for role in ROLES]
    assert (
        f"| geodesic | demo | tetris | {top['sample_id']} | {top['instance_id']} | "
        + " | ".join(inst)
        + f" | {top['BIoU-AuC delta']:.2f} |"
    ) in md
    # the console table and LaTeX print the same numbers
    from rich.console import Console

    from rclicks.reports import build_tables, load_runs, to_latex, to_rich

    tables = {t.name: t for t in build_tables(load_runs([tetris_run]))}
    console = Console(file=io.StringIO(), width=250)
    console.print(to_rich(tables["tetris"]))
    shown = console.file.getvalue()
    assert "TETRIS robustness" in shown and all(c in shown for c in cells)
    tex = to_latex(tables["tetris"])
    assert " & ".join(cells) in tex and r"$\Delta$" in tex
    # CSV: the records at full precision, the per-instance ones with their instance
    rows = list(csv.DictReader(io.StringIO(report([tetris_run, "--format", "csv"]).stdout)))
    got = {r["metric"]: float(r["value"]) for r in rows if r["table"] == "tetris"}
    assert got["IoU-AuC delta"] == pytest.approx(stored["IoU-AuC"]["delta"], rel=1e-12)
    inst_rows = [r for r in rows if r["table"] == "tetris_instances"]
    assert inst_rows and all(r["sample_id"] and r["instance_id"] for r in inst_rows)
    first = next(r for r in inst_rows if r["metric"] == "IoU-AuC delta")
    assert (first["sample_id"], first["instance_id"]) == (top["sample_id"], top["instance_id"])


def test_a_summary_whose_tetris_numbers_differ_is_flagged(tetris_run, tmp_path, stored):
    c = tmp_path / "c"
    shutil.copytree(tetris_run, c)
    summary = json.loads((c / "summary.json").read_text())
    summary["robustness"][0]["IoU-AuC"]["delta"] = 12.5
    (c / "summary.json").write_text(json.dumps(summary))
    r = report([c, "--format", "markdown"])
    assert r.returncode == 0, r.stderr
    text = r.stderr.replace("\n", " ")
    assert "DISAGREES" in text and "TETRIS demo/tetris IoU-AuC.delta 12.5 in file" in text
    assert f"{stored['IoU-AuC']['delta']:.2f}" in r.stdout and "12.50" not in r.stdout


def test_the_curves_plot_draws_min_base_max_and_their_band(tetris_run, stored, tmp_path):
    from matplotlib.collections import PolyCollection

    from rclicks.reports import load_runs
    from rclicks.reports.plots import all_figures, save, tetris_curves

    runs = load_runs([tetris_run])
    fig = tetris_curves(runs)
    assert fig is not None and len(fig.axes) == 2
    for ax, metric in zip(fig.axes, ("IoU", "BIoU")):
        lines = {x.get_gid(): x for x in ax.get_lines()}
        assert set(lines) == {"min", "base", "max"}
        for role, line in lines.items():
            assert list(line.get_xdata()) == list(range(1, CLICKS + 1))
            assert np.allclose(line.get_ydata(), stored["curves"][metric][role])
        (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        ys = band.get_paths()[0].vertices[:, 1]
        lo, hi = stored["curves"][metric]["min"], stored["curves"][metric]["max"]
        assert ys.min() == pytest.approx(min(lo + hi)) and ys.max() == pytest.approx(max(lo + hi))
        assert f"Δ {stored[f'{metric}-AuC']['delta']:.1f}" in ax.get_title()
    figs = all_figures(runs)
    assert "tetris" in figs
    png, svg = save(figs["tetris"], tmp_path / "tetris")
    assert png.read_bytes()[:4] == b"\x89PNG" and b"<svg" in svg.read_bytes()[:500]
    # and `report --plots` writes it
    r = report([tetris_run, "--format", "csv", "--out", tmp_path / "x.csv", "--plots", tmp_path])
    assert r.returncode == 0 and (tmp_path / "tetris.png").stat().st_size > 10_000


def test_html_has_a_tetris_section_with_its_tables_and_plot(tetris_run, stored, tmp_path):
    page = tmp_path / "r.html"
    r = report([tetris_run, "--format", "html", "--out", page])
    assert r.returncode == 0, r.stderr
    text = page.read_text()
    m = re.search(r'<h2 id="tetris">TETRIS robustness</h2>(.*?)<h2 id="instances">', text, re.S)
    assert m, "no TETRIS section"
    section = m.group(1)
    assert 'data-table="tetris"' in section and 'data-table="tetris_instances"' in section
    assert re.search(r'<img id="plot-tetris" alt="[^"]*" src="data:image/png;base64,', section)
    for role in ROLES:
        v = stored["IoU-AuC"][role]
        assert f'data-v="{v!r}">{v:.2f}</td>' in section
    # the summary section does not repeat them
    summary = text.split('<h2 id="tables">', 1)[1].split('<h2 id="plots">', 1)[0]
    assert 'data-table="tetris' not in summary and "plot-tetris" not in summary


def _recorded(run, sample, inst, simulator):
    rows = run.rows
    sel = (rows["sample_id"] == sample) & (rows["instance_id"] == inst)
    sel &= rows["simulator"] == simulator
    idx = np.flatnonzero(sel)
    idx = idx[np.argsort(rows["click"][idx])]
    return idx, [(int(rows["x"][i]), int(rows["y"][i]), bool(rows["positive"][i])) for i in idx]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_show_clicks_rederives_every_tetris_click(tetris_run, stored, mode):
    from rclicks.reports import report_run
    from rclicks.reports.trajectory import render_replay, replay_trajectory

    run = report_run(tetris_run)
    checked = full = 0
    for p in stored["per_instance"]:
        sample, inst = p["sample_id"], p["instance_id"]
        rep = replay_trajectory(run, sample, inst, f"tetris-{mode}")
        assert rep.problems == [] and rep.mode == mode and rep.strategy == "search"
        _, recorded = _recorded(run, sample, inst, f"tetris-{mode}")
        assert [(s.click.x, s.click.y, s.click.positive) for s in rep.steps] == recorded
        _, base = _recorded(run, sample, inst, "baseline")
        # click 1 starts from the empty prediction: its candidate is the baseline's click 1
        assert (rep.steps[0].evaluated[0].x, rep.steps[0].evaluated[0].y) == base[0][:2]
        for s in rep.steps:
            assert s.iou == pytest.approx(s.recorded_iou, abs=1e-12)
            # the candidate + candidates=4 (all of the allowed region when it is smaller)
            assert 1 <= len(s.evaluated) <= 5
            full += len(s.evaluated) == 5
            assert len({(c.x, c.y) for c in s.evaluated}) == len(s.evaluated)
            kept = s.evaluated[s.kept]
            assert (kept.x, kept.y) == (s.click.x, s.click.y)
            best = min(s.evaluated_iou) if mode == "min" else max(s.evaluated_iou)
            assert s.evaluated_iou[s.kept] == best == pytest.approx(s.recorded_iou, abs=1e-12)
            assert all(s.region[c.y, c.x] for c in s.evaluated)  # inside the error region
            checked += 1
        fig = render_replay(rep)
        for ax, s in zip(fig.axes, rep.steps):
            by = {c.get_gid(): c.get_offsets() for c in ax.collections if c.get_gid()}
            assert [tuple(o) for o in by["evaluated"]] == [(c.x, c.y) for c in s.evaluated]
            assert tuple(by["kept"][0]) == (s.click.x, s.click.y)
            assert tuple(by["candidate"][0]) == (s.evaluated[0].x, s.evaluated[0].y)
    assert checked == len(stored["per_instance"]) * CLICKS and full > checked / 2


def test_show_clicks_reports_a_click_the_search_would_not_keep(tetris_run, stored):
    from rclicks.reports import report_run
    from rclicks.reports.trajectory import replay_trajectory

    p = max(stored["per_instance"], key=lambda p: p["IoU-AuC delta"])
    sample, inst = p["sample_id"], p["instance_id"]
    run = report_run(tetris_run)
    rep = replay_trajectory(run, sample, inst, "tetris-min")
    s = rep.steps[0]
    other = next(c for i, c in enumerate(s.evaluated) if i != s.kept)
    idx, _ = _recorded(run, sample, inst, "tetris-min")
    rows = run.rows
    rows["x"], rows["y"] = rows["x"].copy(), rows["y"].copy()
    rows["x"][idx[0]], rows["y"][idx[0]] = other.x, other.y
    bad = replay_trajectory(run, sample, inst, "tetris-min")
    assert any(
        p.startswith("click 1: the TETRIS search (search, min) keeps "
                     f"({s.click.x}, {s.click.y})") and f"recorded ({other.x}, {other.y})" in p
        for p in bad.problems
    ), bad.problems  # fmt: skip
    # another seed draws other positions: the recorded clicks are no longer re-derived
    run = report_run(tetris_run)
    run.run["protocol"]["seed"] = 12345
    moved = replay_trajectory(run, sample, inst, "tetris-min").problems
    moved += replay_trajectory(run, sample, inst, "tetris-max").problems
    assert any("the TETRIS search" in p for p in moved)


def test_show_clicks_command_on_a_tetris_trajectory(tetris_run, stored, tmp_path):
    p = stored["per_instance"][0]
    out = tmp_path / "steps.png"
    r = run_cli(["show-clicks", str(tetris_run), "--sample", p["sample_id"], "--instance",
                 p["instance_id"], "--simulator", "tetris-max", "--out", str(out)])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr and out.read_bytes()[:4] == b"\x89PNG"
    assert "evaluated" in r.stdout and "baseline click" in r.stdout and "tetris-max" in r.stdout
    r = run_cli(["show-clicks", str(tetris_run), "--sample", p["sample_id"], "-s", "tetris"])
    assert r.returncode == 1 and "no simulator 'tetris'" in r.stderr
    assert "tetris-min" in r.stderr and "Traceback" not in r.stderr


def test_runs_without_tetris_or_written_before_it_report_as_before(tmp_path):
    old = tmp_path / "old"
    r = run_cli(["eval", "-s", "distance", "--dataset", "demo", "--limit", "1", "--groups", "2",
                 "--max-clicks", "3", "--out", str(old)])  # fmt: skip
    assert r.returncode == 0, r.stderr
    # as written before TETRIS: no robustness in summary.json, no biou column in the rows
    summary = json.loads((old / "summary.json").read_text())
    assert summary.pop("robustness") == []
    (old / "summary.json").write_text(json.dumps(summary))
    table = pq.read_table(old / "per_click.parquet")
    pq.write_table(table.drop(["biou"]), old / "per_click.parquet")
    assert "biou" not in pq.read_table(old / "per_click.parquet").column_names
    from rclicks.reports import build_tables, load_runs, to_csv, to_json, to_latex, to_markdown
    from rclicks.reports.plots import all_figures

    runs = load_runs([old])
    assert runs[0].warnings == [] and runs[0].robustness == []
    tables = build_tables(runs)
    assert [t.name for t in tables] == [
        "rclicks", "classical", "per_group", "difficulty", "efficiency",
    ]  # fmt: skip
    text = "".join(to_markdown(t) + to_latex(t) for t in tables) + to_csv(tables)
    assert "TETRIS" not in text and "tetris" not in text
    assert to_csv(tables).splitlines()[0].endswith(",ci_low,ci_high")  # no instance columns
    assert "robustness" not in json.loads(to_json(tables, runs, []))["runs"][0]
    assert "tetris" not in all_figures(runs)
    r = report([old, "--format", "html", "--out", tmp_path / "r.html", "--plots", tmp_path])
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert 'id="tetris"' not in (tmp_path / "r.html").read_text()
    assert not (tmp_path / "tetris.png").exists() and (tmp_path / "iou_vs_click.png").exists()
    rows = read_rows(old / "per_click.parquet")
    assert all(v is None or v != v for v in rows["biou"])  # read back as empty
