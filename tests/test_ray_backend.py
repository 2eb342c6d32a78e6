"""``--backend ray`` (CONTRACT §6) on a real two-node Ray cluster started here: the head node and
a second node, both on this machine, one CPU each, so two actors must land on different nodes.
One cluster for the whole module, torn down at its end.

Every run is the demo with two simulators on a short protocol, compared with the same run on the
local backend with one worker: ``per_click.parquet`` equal apart from ``seconds``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray  # make test installs it (the rclicks[ray] extra)

import rclicks
from rclicks.errors import OptionError, RunError
from tests.helpers import HERE, fake_distribution

PROTOCOL = ["--groups", "3", "--max-clicks", "8", "--seed", "3"]
SIMULATORS = ["-s", "distance", "-s", "saliency"]


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).drop(columns=["seconds"])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return fake_distribution(
        tmp_path_factory.mktemp("site"), "rclicks-testplug", {"testplug": "rclicks_testplug"}
    )


@pytest.fixture(scope="module")
def cluster(site):
    """A head node and a second node (one CPU each); their worker processes can import the
    test plugin (the nodes inherit this environment)."""
    from ray.cluster_utils import Cluster

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE / "testplugins")])
    try:
        c = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
        )
        c.add_node(num_cpus=1)
        c.wait_for_nodes()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same run on the local backend, one worker."""
    out = tmp_path_factory.mktemp("ref") / "local"
    rclicks.evaluate("geodesic", ["distance", "saliency"], groups=3, max_clicks=8, seed=3, out=out)
    return _frame(out / "per_click.parquet")


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RCLICKS_LOAD_PLUGINS": ""}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE / "testplugins")])
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


def _eval(args: list[str], cluster, site: Path, **env: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rclicks.cli", "eval", *args]
    cmd += ["--backend", "ray", "--ray-address", cluster.address]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(site, **env)
    )


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _markers(folder: Path) -> int:
    return len(list((folder / "journal").glob("*.done")))


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 180) -> None:
    t0 = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.communicate()[1][-2000:]}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)


def _actor_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "^ray::Evaluator"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def test_two_actors_on_two_nodes_give_the_local_rows(cluster, site, reference, tmp_path):
    out = tmp_path / "ray"
    code, stdout, err = _finish(
        _eval([*SIMULATORS, *PROTOCOL, "--workers", "2", "-o", str(out)], cluster, site)
    )
    assert code == 0, err[-3000:]
    assert "NoC@90" in stdout and "distance ×3" in stdout
    pd.testing.assert_frame_equal(_frame(out / "per_click.parquet"), reference)
    info = json.loads((out / "run.json").read_text())
    assert info["backend"] == "ray" and info["workers"] == 2 and info["status"] == "complete"
    r = info["ray"]
    assert r["version"] == ray.__version__ and r["address"] == cluster.address
    assert len(r["nodes"]) == 2 and r["cpus"] == 2
    # both nodes did work: one actor on each (one CPU per node), each computed samples
    nodes = {n["id"] for n in r["nodes"]}
    assert {a["node"] for a in r["actors"]} == nodes
    assert set(r["samples_by_node"]) == nodes and all(v > 0 for v in r["samples_by_node"].values())
    assert sum(r["samples_by_node"].values()) == 14  # the demo's images, each once
    assert r["retried_samples"] == 0 and info["device"] == "cpu"


def test_shipped_data_gives_the_same_rows(cluster, reference, tmp_path):
    """--ray-ship-data through the API: the driver decodes, the actors never open a file. The
    progress callback hears of every image as the driver writes it."""
    events = []
    run = rclicks.evaluate(
        "geodesic",
        ["distance", "saliency"],
        groups=3,
        max_clicks=8,
        seed=3,
        out=tmp_path / "shipped",
        workers=2,
        backend="ray",
        ray_address=cluster.address,
        ship_data=True,
        progress=lambda event, info: events.append((event, info)),
    )
    pd.testing.assert_frame_equal(run.per_click.drop(columns=["seconds"]), reference)
    samples = [info for event, info in events if event == "sample"]
    assert [e for e, _ in events] == ["start"] + ["sample"] * 14 + ["end"]
    assert sum(i["clicks"] for i in samples) == len(reference) == events[-1][1]["clicks"]
    assert sum(i["instances"] for i in samples) == 30
    assert run.info["ray"]["ship_data"] == ["demo"]
    assert not ray.is_initialized()  # the API disconnected again


def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost(
    cluster, site, reference, tmp_path
):
    out = tmp_path / "killed"
    proc = _eval([*SIMULATORS, *PROTOCOL, "--workers", "2", "-o", str(out)], cluster, site)
    _wait_for(lambda: _markers(out) >= 1 and len(_actor_pids()) == 2, proc)
    assert _markers(out) < 14
    victim = _actor_pids()[0]
    os.kill(victim, signal.SIGKILL)
    code, _, err = _finish(proc)
    assert code == 0, err[-3000:]
    rows = _frame(out / "per_click.parquet")
    pd.testing.assert_frame_equal(rows, reference)  # no click lost, none duplicated
    info = json.loads((out / "run.json").read_text())["ray"]
    assert info["actor_deaths"] >= 1 and info["retried_samples"] >= 1
    assert sum(info["samples_by_node"].values()) == 14
    assert victim not in _actor_pids()


@pytest.mark.parametrize("resume_backend", ["ray", "local"])
def test_a_killed_driver_leaves_a_run_that_resume_completes(
    cluster, site, reference, tmp_path, resume_backend
):
    out = tmp_path / "driver"
    proc = _eval([*SIMULATORS, *PROTOCOL, "--workers", "2", "-o", str(out)], cluster, site)
    _wait_for(lambda: _markers(out) >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "per_click.parquet").exists() and _markers(out) < 14
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    args = [*SIMULATORS, *PROTOCOL, "-o", str(out), "--resume"]
    if resume_backend == "ray":
        code, _, err = _finish(_eval([*args, "--workers", "2"], cluster, site))
    else:
        cmd = [sys.executable, "-m", "rclicks.cli", "eval", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(site))
        code, err = done.returncode, done.stderr
    assert code == 0, err[-3000:]
    pd.testing.assert_frame_equal(_frame(out / "per_click.parquet"), reference)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumed"]) == 1


def test_a_plugin_error_on_a_sample_is_recorded_and_the_run_goes_on(cluster, site, tmp_path):
    """The voronoi test model refuses images 316 pixels wide (demo_00): the error is journaled
    by the driver, every other sample is computed."""
    out = tmp_path / "errors"
    args = ["-m", "voronoi", "-s", "distance", "--groups", "2", "--max-clicks", "3"]
    env = {"RCLICKS_LOAD_PLUGINS": "testplug", "RCLICKS_TEST_FAIL_WIDTH": "316"}
    code, _, err = _finish(_eval([*args, "--workers", "2", "-o", str(out)], cluster, site, **env))
    assert code == 3, err[-3000:]  # finished, with errors
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert {(e["sample_id"], e["stage"]) for e in errors} == {("demo_00", "encode")}
    assert len(errors) == 3 and "316 pixels wide" in errors[0]["error"]
    rows = _frame(out / "per_click.parquet")
    assert rows["sample_id"].nunique() == 13 and "demo_00" not in set(rows["sample_id"])


def test_bad_ray_settings_fail_before_any_work(tmp_path, monkeypatch):
    base = dict(groups=2, max_clicks=2, backend="ray")
    with pytest.raises(RunError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:9.*"):
        rclicks.evaluate("geodesic", out=tmp_path / "a", ray_address="127.0.0.1:9", **base)
    with pytest.raises(RunError, match="from \\$RAY_ADDRESS"):
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
        rclicks.evaluate("geodesic", out=tmp_path / "b", **base)
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(OptionError, match="--gpus-per-worker"):
        rclicks.evaluate("geodesic", out=tmp_path / "c", device="cuda", **base)
    with pytest.raises(OptionError, match="gpus_per_worker must be a finite number >= 0"):
        rclicks.evaluate("geodesic", out=tmp_path / "d", gpus_per_worker=-1, **base)
    with pytest.raises(OptionError, match="options of backend 'ray'"):
        rclicks.evaluate("geodesic", out=tmp_path / "e", ray_address="x:1", groups=2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(RunError, match=r'pip install "rclicks\[ray\]"'):
        rclicks.evaluate("geodesic", out=tmp_path / "f", **base)
    assert not any((tmp_path / n).exists() for n in "abcdef")  # nothing was started
