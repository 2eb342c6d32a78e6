"""``rclicks submit``: the local checks, the bundle it builds, and its error messages."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import zipfile

import pytest

import rclicks
from rclicks.leaderboard.bundle import MANIFEST_NAME, RUN_FILES
from tests.helpers import run_cli


def _copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("journal"))
    return dst


def _edit(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_dry_run_checks_and_writes_a_bundle_with_hashes_and_versions(tiny_benchmark, tmp_path):
    reg, run = tiny_benchmark
    out = tmp_path / "b.zip"
    done = run_cli(
        ["submit", str(run), "--dry-run", "--registry", str(reg), "--bundle", str(out),
         "--name", "mine", "--code", "https://example.org/code"]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "benchmark demo-tiny (protocol rclicks-1)" in done.stdout
    assert "30 instances" in done.stdout and "summary.json matches" in done.stdout
    assert "dry run: nothing uploaded" in done.stdout
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
        names = set(zf.namelist())
        files = {n: zf.read(n) for n in names}
    assert names == {*RUN_FILES, "submission.json", MANIFEST_NAME}
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["rclicks"] == rclicks.__version__
    assert "rclicks.plugins.builtins" in manifest["plugins"]
    for name in names - {MANIFEST_NAME}:
        assert manifest["files"][name]["sha256"] == hashlib.sha256(files[name]).hexdigest()
    for name in RUN_FILES:  # the run's files, byte for byte
        assert files[name] == (run / name).read_bytes()
    meta = json.loads(files["submission.json"])
    assert meta == {"name": "mine", "paper": None, "code": "https://example.org/code"}


@pytest.mark.parametrize(
    "file, edit, words",
    [
        (
            "summary.json",
            lambda s: s["results"][0].update({"NoC@90": s["results"][0]["NoC@90"] + 1}),
            "summary.json disagrees with the metrics recomputed from per_click.parquet: "
            "demo/baseline NoC@90",
        ),
        ("run.json", lambda r: r.update(limit=3), "the run used --limit 3"),
        ("run.json", lambda r: r["protocol"].update(groups=3), "protocol groups = 3"),
        ("run.json", lambda r: r.update(status="running"), "status 'running'"),
        ("run.json", lambda r: r.update(benchmark=None), "not made with --benchmark"),
        ("run.json", lambda r: r.update(benchmark="nope"), "benchmark 'nope' is not in"),
        ("run.json", lambda r: r.pop("protocol"), "run.json: protocol: Field required"),
    ],
)
def test_local_checks_refuse_a_run_that_does_not_satisfy_its_benchmark(
    file, edit, words, tiny_benchmark, tmp_path
):
    from rclicks.leaderboard.submit import SubmitError, prepare

    reg, run = tiny_benchmark
    mine = _copy(run, tmp_path)
    _edit(mine / file, edit)
    with pytest.raises(SubmitError) as err:
        prepare(mine, registry=reg)
    assert words in str(err.value)
    assert str(mine) in str(err.value)  # names the run folder or the file


def test_a_run_missing_an_instance_is_refused_locally(tiny_benchmark, tmp_path):
    """The run's own manifest lists every instance: rows without one are incomplete."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import rclicks

    reg, run = tiny_benchmark
    mine = _copy(run, tmp_path)
    table = pq.read_table(mine / "per_click.parquet")
    table = table.filter(pc.not_equal(table["sample_id"], "demo_03"))
    pq.write_table(table, mine / "per_click.parquet")
    info = json.loads((mine / "run.json").read_text())
    summary = rclicks.summarize(table, info)
    (mine / "summary.json").write_text(json.dumps(summary))
    done = run_cli(["submit", str(mine), "--dry-run", "--registry", str(reg)])
    assert done.returncode == 1
    assert "instance(s) of benchmark 'demo-tiny' missing: demo/demo_03/" in done.stderr
    assert "Traceback" not in done.stderr


def test_usage_errors_name_what_is_wrong(tiny_benchmark, tmp_path, monkeypatch):
    reg, run = tiny_benchmark
    no_token = run_cli(
        ["submit", str(run), "--to", "http://127.0.0.1:9", "--registry", str(reg)],
        env_extra={"RCLICKS_TOKEN": ""},
    )
    assert no_token.returncode == 1 and "no upload token" in no_token.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run_cli(["submit", str(empty), "--dry-run"])
    assert missing.returncode == 1
    assert "missing run.json, summary.json, per_click.parquet, masks.parquet, manifest.json" in (
        missing.stderr
    )

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = run_cli(
        ["submit", str(run), "--to", f"http://127.0.0.1:{port}", "--token", "t",
         "--registry", str(reg)]
    )  # fmt: skip
    assert down.returncode == 1 and f"cannot reach http://127.0.0.1:{port}" in down.stderr
    for done in (no_token, missing, down):
        assert "Traceback" not in done.stderr
