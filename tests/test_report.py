"""`rclicks report` and `rclicks show-clicks` on run folders the engine wrote on the demo data:
every table cell equals the value recomputed from per_click.parquet, LaTeX parses, runs with
other protocols are refused, bad folders fail cleanly, the HTML works in headless Chromium,
the plots draw the recomputed numbers and show-clicks re-derives the recorded trajectory."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from rclicks.datasets import FolderDataset, demo_root
from rclicks.metrics import iou_auc, metric_entries, noc
from rclicks.runs import read_rows
from tests.helpers import run_cli, synthetic_clicks

SMALL = ["--dataset", "demo", "--limit", "3", "--groups", "3", "--max-clicks", "6"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two models on the same protocol: run a (distance + real users) and run b."""
    root = tmp_path_factory.mktemp("report")
    clicks = root / "clicks.csv"
    synthetic_clicks(clicks, FolderDataset(demo_root(), name="demo"), per_set=5, limit=3)
    a, b = root / "a", root / "b"
    r = run_cli(
        ["eval", *SMALL, "-s", "distance", "-s", "users", "--out", str(a)],
        env_extra={"RCLICKS_CLICKS": str(clicks)},
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(["eval", *SMALL, "--model", "geodesic-fine", "--out", str(b)])
    assert r.returncode == 0, r.stderr
    return a, b


def recomputed(run) -> list[dict]:
    summary = json.loads((run / "summary.json").read_text())
    return metric_entries(read_rows(run / "per_click.parquet"), 6, replay=summary["replay"])


def first_click_spread(run, dataset: str, simulator: str) -> tuple[float, float]:
    """mean_i std_g IoU@1 and mean_i std_g / mean_g IoU@1, straight from the rows."""
    rows = read_rows(run / "per_click.parquet")
    sel = (rows["click"] == 1) & (rows["simulator"] == simulator) & (rows["dataset"] == dataset)
    per: dict[tuple, list[float]] = {}
    for s, i, v in zip(rows["sample_id"][sel], rows["instance_id"][sel], rows["iou"][sel]):
        per.setdefault((s, i), []).append(float(v))
    stds = [np.std(v) for v in per.values()]
    nsr = [np.std(v) / np.mean(v) for v in per.values()]
    return float(np.mean(stds)), float(np.mean(nsr))


def expected_value(runs_by_model, rec) -> tuple[float | None, float | None]:
    """(value, std) a report cell must hold, from summarize() on the rows."""
    run = runs_by_model[rec["model"]]
    res = {(e["dataset"], e["simulator"]): e for e in recomputed(run)}
    e = res[(rec["dataset"], rec["simulator"])]
    m, table = rec["metric"], rec["table"]
    if table == "rclicks":
        return e[m], e.get(m + "_std") if m.startswith("NoC") else None
    if table in ("classical", "efficiency"):
        return e[m], None
    if table == "per_group":
        if m.startswith("baseline"):
            return res[(rec["dataset"], "baseline")][m.split()[1]], None
        t, g = m.split()
        return e["per_group"][t][int(g[1:]) - 1], None
    if table == "difficulty":
        base = res[(rec["dataset"], "baseline")]["1-mIoU"]
        if e["kind"] == "users":
            return {
                "instances": (e["instances"], None),
                "first_clicks": (e["users"], None),
                "IoU@1": (e["IoU@1"], e["IoU@1_std"]),
                "NSR@1": (e["User NSR"], None),
                "NSR": (None, None),
                "baseline IoU@1": (base, None),
            }[m]
        std1, nsr1 = first_click_spread(run, rec["dataset"], rec["simulator"])
        return {
            "instances": (e["instances"], None),
            "first_clicks": (e["instances"] * e["groups"], None),
            "IoU@1": (e["1-mIoU"], std1),
            "NSR@1": (nsr1, None),
            "NSR": (e["NSR"], None),
            "baseline IoU@1": (base, None),
        }[m]
    raise AssertionError(f"unknown table {table}")


def same(got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return got == pytest.approx(want, rel=1e-12, abs=1e-12)


def report(args, **kw) -> subprocess.CompletedProcess:
    return run_cli(["report", *map(str, args)], **kw)


def test_every_json_and_csv_cell_equals_the_recomputation(runs):
    a, b = runs
    r = report([a, b, "--format", "json"])
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    by_model = {"geodesic": a, "geodesic-fine": b}
    names = {t["name"] for t in data["tables"]}
    assert names == {"rclicks", "classical", "per_group", "difficulty", "efficiency"}
    checked = 0
    for t in data["tables"]:
        for rec in t["values"]:
            value, std = expected_value(by_model, rec)
            assert same(rec["value"], value) and same(rec["std"], std), (rec, value, std)
            checked += 1
    assert checked > 60
    # the users simulator shows up in the difficulty table of run a only
    diff = next(t for t in data["tables"] if t["name"] == "difficulty")
    assert {(v["model"], v["simulator"]) for v in diff["values"]} == {
        ("geodesic", "distance"),
        ("geodesic", "users"),
        ("geodesic-fine", "distance"),
    }
    r = report([a, b, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    flat = [v for t in data["tables"] for v in t["values"]]
    assert len(rows) == len(flat)
    for row, v in zip(rows, flat):
        assert (row["table"], row["model"], row["metric"]) == (v["table"], v["model"], v["metric"])
        assert row["value"] == ("" if v["value"] is None else str(v["value"]))


def pct(v: float) -> str:
    p = 100 * v
    return f"{0.0 if abs(p) < 0.05 else p:+.1f}%"


def test_markdown_and_console_tables_print_the_recomputed_numbers(runs):
    a, b = runs
    md = report([a, b, "--format", "markdown"]).stdout
    console = report([a, b]).stdout
    for run, model in ((a, "geodesic"), (b, "geodesic-fine")):
        e = next(x for x in recomputed(run) if x["simulator"] == "distance")
        base = next(x for x in recomputed(run) if x["simulator"] == "baseline")
        table4 = (
            f"| {model} | {e['NoC@90']:.2f} ± {e['NoC@90_std']:.2f} | "
            f"{pct(e['dSB@90'])} | {pct(e['dGR@90'])} |"
        )
        assert table4 in md
        classical = " | ".join(
            [f"{base[k]:.2f}" for k in ("NoC@85", "NoC@90", "NoC@95")]
            + [str(base["NoF@90"]), str(base["NoF@95"]), f"{base['1-mIoU']:.3f}"]
        )
        assert f"| {model} | demo | baseline | {base['instances']} | {classical} |" in md
        assert f"{e['NoC@90']:.2f} ± {e['NoC@90_std']:.2f}" in console
    users = next(x for x in recomputed(a) if x["kind"] == "users")
    assert f"{users['IoU@1']:.3f} ± {users['IoU@1_std']:.3f} | {users['User NSR']:.3f}" in md


def test_latex_is_a_well_formed_tabular_fragment(runs, tmp_path):
    a, b = runs
    tex = report([a, b, "--format", "latex"]).stdout
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 5
    body = "\n".join(x for x in tex.splitlines() if not x.startswith("%"))
    depth = 0
    for ch in re.sub(r"\\[{}]", "", body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    for block in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", body, re.S):
        spec, rows = block
        for line in rows.strip().splitlines():
            if not line.endswith(r"\\"):
                continue
            cells = len(re.findall(r"(?<!\\)&", line)) + 1
            spans = [int(n) for n in re.findall(r"\\multicolumn\{(\d+)\}", line)]
            assert cells - len(spans) + sum(spans) == len(spec), line
    assert re.search(r"(?<!\\)%\S", body) is None and "_" not in body.replace(r"\_", "")
    latex = shutil.which("pdflatex")
    if latex:  # compile it when TeX is installed
        doc = tmp_path / "t.tex"
        doc.write_text(
            "\\documentclass{article}\\usepackage{booktabs}\\usepackage[utf8]{inputenc}"
            "\\begin{document}\n" + tex + "\n\\end{document}\n"
        )
        out = subprocess.run(
            [latex, "-interaction=nonstopmode", doc.name], cwd=tmp_path, capture_output=True
        )
        assert out.returncode == 0, out.stdout[-2000:]


def test_runs_with_other_protocol_settings_are_refused_unless_forced(runs, tmp_path):
    a, b = runs
    other = tmp_path / "other"
    r = run_cli(["eval", "--limit", "2", "--groups", "2", "--max-clicks", "4", "--out", str(other)])
    assert r.returncode == 0, r.stderr
    r = report([a, other])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    msg = r.stderr.replace("\n", " ")
    assert "max_clicks differs" in msg and "groups differs" in msg and "--force" in msg
    assert "dataset 'demo' is not the same data" in msg
    r = report([a, other, "--force", "--format", "markdown"])
    assert r.returncode == 0, r.stderr
    assert "compared anyway (--force)" in r.stderr
    assert "| geodesic (a) |" in r.stdout and "| geodesic (other) |" in r.stdout
    assert "max_clicks differs: geodesic (a)=6, geodesic (other)=4" in msg
    # the same simulator name with other options is another protocol too
    c = tmp_path / "c"
    shutil.copytree(b, c)
    run = json.loads((c / "run.json").read_text())
    run["simulators"][0]["options"] = {"power": 3}
    (c / "run.json").write_text(json.dumps(run))
    r = report([a, c])
    assert r.returncode == 1 and "simulator 'distance' ran with other settings" in r.stderr


def test_a_summary_that_disagrees_with_the_rows_is_flagged(runs, tmp_path):
    a, _ = runs
    c = tmp_path / "c"
    shutil.copytree(a, c)
    summary = json.loads((c / "summary.json").read_text())
    entry = next(e for e in summary["results"] if e["simulator"] == "distance")
    true = entry["NoC@90"]
    entry["NoC@90"] = 17.25
    (c / "summary.json").write_text(json.dumps(summary))
    r = report([c, "--format", "markdown"])
    assert r.returncode == 0
    text = r.stderr.replace("\n", " ")
    assert "DISAGREES" in text and "NoC@90 17.25 in file" in text
    assert f"{true:.2f} ±" in r.stdout and "17.25" not in r.stdout


@pytest.mark.parametrize(
    "breakage, named",
    [
        ("nofolder", "no such run folder"),
        ("run.json", "run.json: missing"),
        ("per_click.parquet", "per_click.parquet: unreadable parquet file"),
        ("summary.json", "summary.json: not valid JSON"),
    ],
)
def test_a_missing_or_corrupt_run_folder_is_one_error_line(runs, tmp_path, breakage, named):
    a, _ = runs
    c = tmp_path / "c"
    if breakage != "nofolder":
        shutil.copytree(a, c)
        if breakage == "run.json":
            (c / "run.json").unlink()
        else:
            (c / breakage).write_text("{ this is not")
    r = report([c])
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and named in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and str(c) in r.stderr.replace("\n", "")


def test_html_report_in_headless_chromium(runs, tmp_path):
    from tests.browser import browser_page

    a, b = runs
    page_file = tmp_path / "report.html"
    r = report([a, b, "--format", "html", "--out", page_file])
    assert r.returncode == 0, r.stderr
    text = page_file.read_text()
    # self-contained: nothing to fetch
    assert not re.search(r"""(src|href)=["'](https?:|//)""", text)
    shot = tmp_path / "shot.png"
    with browser_page(page_file, screenshot=shot) as visit:
        page = visit.page
        body = page.inner_text("body")
        for title in ("RClicks Table 4", "Classical metrics", "Dataset difficulty"):
            assert title in body
        e = next(x for x in recomputed(b) if x["simulator"] == "distance")
        row = page.locator("table[data-table=rclicks] tbody tr").nth(1)
        assert row.inner_text().split("\t")[:2] == [
            "geodesic-fine",
            f"{e['NoC@90']:.2f} ± {e['NoC@90_std']:.2f}",
        ]
        for plot in ("iou_vs_click", "noc_per_group", "difficulty", "forest"):
            assert page.eval_on_selector(f"#plot-{plot}", "img => img.naturalWidth") > 300
        # two runs: the paired comparison of b against a, as rclicks.compare computes it
        import rclicks

        df = rclicks.compare(a, b)
        cmp_rows = page.locator("table[data-table=compare] tbody tr")
        assert cmp_rows.count() == len(df)
        first = cmp_rows.nth(0).inner_text().split("\t")
        assert first[0] == df.iloc[0]["dataset"] and first[-1] == df.iloc[0]["verdict"]
        # sortable per-instance table: sort by IoU@1
        col = [h.strip() for h in page.locator("#instance-table thead th").all_inner_texts()]
        k = col.index("IoU@1")
        cells = f"#instance-table tbody tr td:nth-child({k + 1})"
        page.locator("#instance-table thead th").nth(k).click()
        up = [float(x) for x in page.locator(cells).all_inner_texts()]
        assert up == sorted(up) and up != list(reversed(up))
        page.locator("#instance-table thead th").nth(k).click()
        assert [float(x) for x in page.locator(cells).all_inner_texts()] == sorted(up)[::-1]
        # a "clicks" link shows that instance's recorded clicks
        assert page.is_hidden("#clicks")
        link = page.locator("#instance-table tbody tr").first
        sample, inst = (
            link.locator("td").nth(2).inner_text(),
            link.locator("td").nth(3).inner_text(),
        )
        model = link.locator("td").nth(0).inner_text()
        link.locator("a", has_text="clicks").click()
        page.wait_for_selector("#clicks:not([hidden])")
        panel = page.inner_text("#clicks")
        rows = read_rows((a if model == "geodesic" else b) / "per_click.parquet")
        sel = (rows["sample_id"] == sample) & (rows["instance_id"] == inst)
        sel &= (rows["simulator"] == "baseline") & (rows["click"] == 2)
        (i,) = np.flatnonzero(sel)
        assert f"({rows['x'][i]}, {rows['y'][i]}) {rows['iou'][i]:.3f}" in panel
        assert visit.errors == []
    assert shot.stat().st_size > 50_000


def test_plots_draw_the_recomputed_numbers(runs, tmp_path):
    from rclicks.reports import load_runs
    from rclicks.reports.plots import all_figures, save

    a, b = runs
    data = load_runs([a, b])
    figs = all_figures(data)
    assert set(figs) == {"iou_vs_click", "noc_per_group", "difficulty"}
    for name, fig in figs.items():
        png, svg = save(fig, tmp_path / name)
        assert png.read_bytes()[:4] == b"\x89PNG" and b"<svg" in svg.read_bytes()[:500]
    # IoU vs click: the baseline line is the mean IoU of the baseline trajectories
    rows = read_rows(a / "per_click.parquet")
    ax = figs["iou_vs_click"].axes[0]
    line = next(x for x in ax.get_lines() if x.get_label() == "baseline")
    want = [
        rows["iou"][(rows["simulator"] == "baseline") & (rows["click"] == k)].mean()
        for k in range(1, 7)
    ]
    assert np.allclose(line.get_ydata(), want)
    # NoC per group: bar heights are summarize()'s per-group NoC@90
    bars = [p.get_height() for p in figs["noc_per_group"].axes[0].patches]
    per = [next(e for e in recomputed(r) if e["simulator"] == "distance") for r in (a, b)]
    assert np.allclose(bars, per[0]["per_group"]["NoC@90"] + per[1]["per_group"]["NoC@90"])
    # difficulty: run a has real users, so its points are the users' per-instance IoU@1
    users = next(e for e in recomputed(a) if e["kind"] == "users")
    pts = figs["difficulty"].axes[0].collections[0].get_offsets()
    assert np.allclose(pts, [(p["IoU@1"], p["IoU@1_std"]) for p in users["per_instance"]])
    # noc() and iou_auc() are what the per-instance numbers are made of
    assert noc([0.5, 0.91], 0.9, 6) == 2 and iou_auc([0, 1]) == 0.5


def test_show_clicks_redraws_the_recorded_trajectory(runs, tmp_path):
    from rclicks.reports import report_run
    from rclicks.reports.trajectory import render_replay, replay_trajectory

    a, _ = runs
    run = report_run(a)
    rows = run.rows
    rep = replay_trajectory(run, "demo_02", "1", "distance", 2)
    sel = (
        (rows["sample_id"] == "demo_02")
        & (rows["instance_id"] == "1")
        & (rows["simulator"] == "distance")
        & (rows["group"] == 2)
    )
    recorded = [
        (int(rows["x"][i]), int(rows["y"][i]), bool(rows["positive"][i]))
        for i in np.flatnonzero(sel)
    ]
    assert [(s.click.x, s.click.y, s.click.positive) for s in rep.steps] == recorded
    assert rep.problems == []
    for s in rep.steps:
        assert s.iou == pytest.approx(s.recorded_iou, abs=1e-12)
        if not s.fallback:
            assert s.support[s.click.y, s.click.x] and s.region[s.click.y, s.click.x]
    assert not rep.steps[0].fallback and rep.steps[0].support.sum() > 1
    fig = render_replay(rep)
    drawn = [
        tuple(c.get_offsets()[0])
        for ax in fig.axes
        for c in ax.collections
        if c.get_gid() == "click"
    ]
    assert drawn == [(x, y) for x, y, _ in recorded]
    # the check is not vacuous: a click moved out of its group is reported
    moved = rep.steps[0]
    far = np.argwhere(moved.region & ~moved.support)[0]
    i0 = np.flatnonzero(sel)[0]
    rows["x"], rows["y"] = rows["x"].copy(), rows["y"].copy()
    rows["x"][i0], rows["y"][i0] = int(far[1]), int(far[0])
    bad = replay_trajectory(run, "demo_02", "1", "distance", 2)
    assert any(
        f"the run recorded ({far[1]}, {far[0]})" in p and "the engine's click step gives" in p
        for p in bad.problems
    )
    # and the command line
    out = tmp_path / "steps.png"
    r = run_cli(["show-clicks", str(a), "--sample", "demo_02", "--group", "2", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] == b"\x89PNG" and "warning" not in r.stderr
    r = run_cli(["show-clicks", str(a), "--sample", "nope"])
    assert r.returncode == 1 and "no sample 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_ci_cells_hold_the_value_and_a_bootstrap_interval_of_it(runs):
    a, b = runs
    plain = json.loads(report([a, b, "--format", "json"]).stdout)
    r = report([a, b, "--format", "json", "--ci", "--resamples", "4000"])
    assert r.returncode == 0, r.stderr
    with_ci = json.loads(r.stdout)
    again = json.loads(report([a, b, "--format", "json", "--ci", "--resamples", "4000"]).stdout)
    assert with_ci["tables"] == again["tables"]  # seeded: the same intervals
    values = {t["name"]: t["values"] for t in with_ci["tables"]}
    by_key = {(t["name"], v["model"], v["dataset"], v["simulator"], v["metric"]): v["value"]
              for t in plain["tables"] for v in t["values"]}  # fmt: skip
    checked = 0
    for name in ("rclicks", "classical"):
        for v in values[name]:
            if v["ci_low"] is None:
                continue
            key = (name, v["model"], v["dataset"], v["simulator"], v["metric"])
            assert v["value"] == pytest.approx(by_key[key])  # the same numbers, plus an interval
            assert v["ci_low"] <= v["value"] + 1e-12 and v["value"] - 1e-12 <= v["ci_high"]
            checked += 1
    assert checked >= 8
    # the baseline NoC@90 interval, bootstrapped here in a plain loop with another generator
    rows = read_rows(a / "per_click.parquet")
    sel = (rows["simulator"] == "baseline") & (rows["dataset"] == "demo")
    per = {}
    for s, i, k, v in zip(rows["sample_id"][sel], rows["instance_id"][sel], rows["click"][sel],
                          rows["iou"][sel]):  # fmt: skip
        per.setdefault((s, i), {})[int(k)] = float(v)
    nocs = np.array([noc([c[k] for k in sorted(c)], 0.9, 6) for c in per.values()], float)
    # the same draws as the report's (its generator and chunking), the means taken in a loop
    from rclicks.clicks import trajectory_rng

    rng = trajectory_rng(0, "report-ci", "noc", "demo", "baseline", "90")
    boot = []
    for _ in range(4000 // 500):
        for draw in rng.integers(0, nocs.size, size=(500, nocs.size)):
            boot.append(sum(nocs[i] for i in draw) / nocs.size)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    cell = next(
        v for v in values["classical"]
        if v["model"] == "geodesic" and v["simulator"] == "baseline" and v["metric"] == "NoC@90"
    )  # fmt: skip
    assert cell["ci_low"] == pytest.approx(lo) and cell["ci_high"] == pytest.approx(hi)
