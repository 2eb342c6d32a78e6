"""The leaderboard believes nothing it cannot recompute: every IoU from the submitted masks
against the server's own ground truth, every click re-derived from the previous mask. Each
made-up result below keeps ``summary.json`` consistent with its rows (so the metric check
passes) and is refused with a 422 naming the first bad row, with nothing stored."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rclicks.runs.masks import MASK_SCHEMA, decode_mask, encode_mask
from rclicks.runs.schema import ROW_SCHEMA
from tests.conftest import LiveServer
from tests.helpers import run_cli
from tests.test_leaderboard import bundle_of, call, count_submissions, stored_files


@pytest.fixture(scope="module")
def server(tiny_benchmark, tmp_path_factory):
    reg, _run = tiny_benchmark
    root = tmp_path_factory.mktemp("verify")
    db = f"sqlite:///{root / 'lb.db'}"
    live = LiveServer(db, root / "data", reg)
    live.mint_token("tester")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def truth(tiny_benchmark):
    """The demo ground truth, as the server builds it."""
    from rclicks.leaderboard.benchmarks import benchmark_spec, build_reference

    reg, _run = tiny_benchmark
    _ref, records = build_reference(benchmark_spec("demo-tiny", str(reg)), str(reg))
    return {r.key: r for r in records}


def _rows(run: Path) -> dict[str, list]:
    return pq.read_table(run / "per_click.parquet").to_pydict()


def _masks(run: Path) -> dict[str, list]:
    return pq.read_table(run / "masks.parquet").to_pydict()


def _parquet(columns: dict[str, list], schema: pa.Schema) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), buf)
    return buf.getvalue()


def consistent_bundle(run: Path, rows: dict[str, list], masks: dict[str, list] | None = None):
    """A bundle of ``rows`` (and ``masks``) with a summary recomputed from those rows: the
    metrics agree with the rows, whatever the rows say."""
    import rclicks

    table = pa.Table.from_pydict(rows, schema=ROW_SCHEMA)
    run_info = json.loads((run / "run.json").read_text())
    summary = rclicks.summarize(table, run_info)
    changes = {
        "per_click_parquet": _parquet(rows, ROW_SCHEMA),
        "summary_json": json.dumps(summary).encode(),
    }
    if masks is not None:
        changes["masks_parquet"] = _parquet(masks, MASK_SCHEMA)
    return bundle_of(run, **changes)


def _where(rows, simulator: str, group: int, click: int, sample="demo_00", inst="1") -> int:
    for i in range(len(rows["click"])):
        if (rows["sample_id"][i], rows["instance_id"][i], rows["simulator"][i]) == (
            sample,
            inst,
            simulator,
        ) and (rows["group"][i], rows["click"][i]) == (group, click):
            return i
    raise AssertionError("no such row")


def _raised(run, delta):
    rows = _rows(run)
    rows["iou"] = [v + delta for v in rows["iou"]]
    return consistent_bundle(run, rows), 0


def _all(run, value):
    rows = _rows(run)
    rows["iou"] = [value] * len(rows["iou"])
    return consistent_bundle(run, rows), 0


def _one(run, value):
    """One IoU changed, in the middle of the file."""
    rows = _rows(run)
    i = _where(rows, "distance", 2, 2, sample="demo_04")
    rows["iou"][i] = value
    return consistent_bundle(run, rows), i


def _far_click(run):
    rows = _rows(run)
    i = _where(rows, "distance", 1, 1)
    rows["x"][i] = -5000
    return consistent_bundle(run, rows), i


def _moved_baseline(run):
    rows = _rows(run)
    i = _where(rows, "baseline", 0, 2)
    rows["x"][i] += 1
    return consistent_bundle(run, rows), i


def _click_off_the_error(run, truth):
    """A positive first click on a background pixel: not in the false-negative region."""
    rows = _rows(run)
    i = _where(rows, "distance", 1, 1)
    gt, _ = truth["demo", "demo_00", "1"].masks()
    y, x = np.argwhere(~gt)[0]
    rows["x"][i], rows["y"][i] = int(x), int(y)
    return consistent_bundle(run, rows), i


def _flipped_side(run):
    rows = _rows(run)
    i = _where(rows, "distance", 1, 2)
    rows["positive"][i] = not rows["positive"][i]
    return consistent_bundle(run, rows), i


def _skipped_click(run):
    """Click 2 of a trajectory dropped, the later clicks (and their masks) moved up and the
    last one repeated so the trajectory still has clicks 1..3."""
    rows, masks = _rows(run), _masks(run)
    i = _where(rows, "distance", 1, 2)
    for cols in (rows, masks):
        for name, col in cols.items():
            if name != "click":
                col[i] = col[i + 1]  # click 3 becomes click 2, and stays click 3 too
    # the moved-up click was chosen from mask 2, so it does not follow from mask 1
    return consistent_bundle(run, rows, masks), i


def _copied_click(run):
    rows = _rows(run)
    first, last = _where(rows, "distance", 1, 1), _where(rows, "distance", 1, 3)
    for name in ("x", "y", "positive"):
        rows[name][last] = rows[name][first]
    return consistent_bundle(run, rows), last


def _perfect_mask(run, truth):
    """A mask replaced by the ground truth (IoU 1) while the row keeps its IoU."""
    rows, masks = _rows(run), _masks(run)
    i = _where(rows, "distance", 1, 1)
    gt, _ = truth["demo", "demo_00", "1"].masks()
    first = decode_mask(masks["rle"][i], gt.shape)
    second = decode_mask(masks["rle"][i + 1], gt.shape, first)
    masks["rle"][i] = encode_mask(gt)
    masks["rle"][i + 1] = encode_mask(second, gt)  # click 2's mask unchanged
    return consistent_bundle(run, rows, masks), i


def _broken_mask(run):
    rows, masks = _rows(run), _masks(run)
    i = _where(rows, "distance", 2, 3, sample="demo_02")
    masks["rle"][i] = b"\x00\xff\xff"
    return consistent_bundle(run, rows, masks), i


CASES = {
    # name: (make(run, truth) -> (bundle, index of the first bad row), words in the detail)
    "every IoU + 0.05": (lambda run, t: _raised(run, 0.05), "recomputed from its mask"),
    "every IoU = 1": (lambda run, t: _all(run, 1.0), "recomputed from its mask"),
    "every IoU = 5": (lambda run, t: _all(run, 5.0), "IoU 5.0 submitted"),
    "one IoU = -3": (lambda run, t: _one(run, -3.0), "IoU -3.0 submitted"),
    "one IoU = NaN": (lambda run, t: _one(run, math.nan), "IoU nan submitted"),
    "one IoU = +inf": (lambda run, t: _one(run, math.inf), "IoU inf submitted"),
    "click at x = -5000": (lambda run, t: _far_click(run), "(-5000, "),
    "moved baseline click": (lambda run, t: _moved_baseline(run), "the click rule on the"),
    "click off the error": (_click_off_the_error, "is not in the false-negative region"),
    "flipped side": (lambda run, t: _flipped_side(run), "the previous mask calls for"),
    "skipped click": (lambda run, t: _skipped_click(run), "region of the previous mask"),
    "copied click": (lambda run, t: _copied_click(run), "click 3"),
    "ground truth as a mask": (_perfect_mask, "recomputed from its mask"),
    "mask that does not decode": (lambda run, t: _broken_mask(run), "does not decode"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_made_up_results_are_refused_naming_the_first_bad_row(case, server, tiny_benchmark, truth):
    _reg, run = tiny_benchmark
    make, words = CASES[case]
    bundle, bad_index = make(run, truth)
    before = count_submissions(server.db), stored_files(server)
    status, answer = call(
        "POST",
        f"{server.url}/api/submissions",
        bundle,
        {"Authorization": f"Bearer {server.token}", "Content-Type": "application/zip"},
    )
    assert status == 422, answer
    detail = answer["detail"]
    assert detail.startswith(f"per_click.parquet row {bad_index} ("), detail
    assert words in detail
    assert (count_submissions(server.db), stored_files(server)) == before


def test_the_honest_run_is_accepted_and_labelled_verified(server, tiny_benchmark):
    _reg, run = tiny_benchmark
    status, answer = call(
        "POST",
        f"{server.url}/api/submissions",
        bundle_of(run),
        {"Authorization": f"Bearer {server.token}", "Content-Type": "application/zip"},
    )
    assert status == 201, answer
    assert answer["verified"].startswith("masks")
    status, sub = call("GET", f"{server.url}/api/submissions/{answer['id']}")
    v = sub["verification"]
    assert v["level"] == "masks" and v["clicks"] == sub["clicks"] == 270
    assert v["trajectories"] == 90  # 30 instances × (baseline + 2 groups)
    status, board = call("GET", f"{server.url}/api/leaderboard?benchmark=demo-tiny")
    assert board["entries"][0]["verified"].startswith("masks")


def test_a_bundle_without_masks_says_how_to_make_them(server, tiny_benchmark):
    _reg, run = tiny_benchmark
    status, answer = call(
        "POST",
        f"{server.url}/api/submissions",
        bundle_of(run, masks_parquet=None),
        {"Authorization": f"Bearer {server.token}", "Content-Type": "application/zip"},
    )
    assert status == 400 and "missing masks.parquet" in answer["detail"]
    assert "--save-masks" in answer["detail"]


def test_the_row_named_does_not_depend_on_the_pool(tiny_benchmark, truth):
    """Two bad rows in different instances: one process or two, the first is named."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from rclicks.errors import SubmissionError
    from rclicks.leaderboard.verify import verify_masks

    _reg, run = tiny_benchmark
    rows = _rows(run)
    early = _where(rows, "distance", 1, 2, sample="demo_01")
    late = _where(rows, "baseline", 0, 3, sample="demo_12")
    rows["iou"][late] = 0.123
    rows["iou"][early] = 0.456
    table = pa.Table.from_pydict(rows, schema=ROW_SCHEMA)
    masks = pq.read_table(run / "masks.parquet")
    answers = []
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        for p in (None, pool):
            with pytest.raises(SubmissionError) as info:
                verify_masks(table, masks, truth, p)
            answers.append(str(info.value))
    assert answers[0] == answers[1]
    assert answers[0].startswith(f"per_click.parquet row {early} (")
    honest = pq.read_table(run / "per_click.parquet")
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        one, two = (verify_masks(honest, masks, truth, p) for p in (None, pool))
    assert {k: v for k, v in one.items() if k != "seconds"} == {
        k: v for k, v in two.items() if k != "seconds"
    }


# --- real data, end to end -----------------------------------------------------------------

GRABCUT_REGISTRY = """\
benchmarks:
  grabcut-quick:
    protocol: rclicks-1
    datasets: [GrabCut]
    simulators: [distance]
    groups: 2
    max_clicks: 3
"""


@pytest.fixture(scope="module")
def grabcut_run(tmp_path_factory):
    """An honest run of a GrabCut benchmark (real files from ../shared/datasets)."""
    from tests.test_python_api import SHARED

    if SHARED is None:
        pytest.skip(
            "real data: ../shared/datasets is not beside this clone (CI has it, and .ci/run "
            "refuses to run without it)"
        )
    root = tmp_path_factory.mktemp("grabcut")
    reg = root / "registry.yaml"
    reg.write_text(GRABCUT_REGISTRY)
    out = root / "run"
    env = {"RCLICKS_DATA": str(SHARED)}
    done = run_cli(["eval", "--benchmark", "grabcut-quick", "--registry", str(reg), "--out",
                    str(out), "-j", "2"], env_extra=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return reg, out, SHARED


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_honest_grabcut_run_is_verified_end_to_end(
    backend, grabcut_run, tmp_path, request, monkeypatch
):
    from tests.browser import browser_page
    from tests.test_leaderboard_hardening import _fresh_pg

    reg, run, shared = grabcut_run
    monkeypatch.setenv("RCLICKS_DATA", str(shared))  # the server reads its own copy
    if backend == "sqlite":
        db = f"sqlite:///{tmp_path / 'lb.db'}"
    else:
        db = _fresh_pg(request.getfixturevalue("postgres_url"), "rclicks_grabcut")
    live = LiveServer(db, tmp_path / "data", reg)
    try:
        status, benches = call("GET", f"{live.url}/api/benchmarks")
        (bench,) = benches
        assert bench["accepting"] and bench["reference"][0]["instances"] == 50
        made = run_cli(["leaderboard", "token", "create", "lab", "--db", db])
        token = made.stdout.strip().splitlines()[-1]
        done = run_cli(
            [
                "submit",
                str(run),
                "--to",
                live.url,
                "--registry",
                str(reg),
                "--name",
                "geodesic on GrabCut",
            ],
            env_extra={"RCLICKS_TOKEN": token},
        )
        assert done.returncode == 0, done.stderr  # fmt: skip
        url = done.stdout.strip().splitlines()[-1]
        status, sub = call("GET", url.replace("/submissions/", "/api/submissions/"))
        assert status == 200 and sub["verified"].startswith("masks")
        assert sub["verification"]["clicks"] == sub["clicks"] == 50 * 3 * 3
        assert sub["verification"]["trajectories"] == 150
        summary = json.loads((run / "summary.json").read_text())
        assert [r["NoC@90"] for r in sub["results"]] == pytest.approx(
            [r["NoC@90"] for r in summary["results"]]
        )
        with browser_page(url, screenshot=tmp_path / "verified.png") as visit:
            page = visit.page
            assert "✓ masks" in page.locator("dl").inner_text()
            assert (
                "every IoU recomputed from the submitted masks" in page.locator("dl").inner_text()
            )
            assert visit.errors == []
    finally:
        live.stop()
