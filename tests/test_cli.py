"""The CLI as a user runs it (subprocesses): bad data, unknown names, plugins, output."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from rclicks.testing import tiny_dataset, write_folder
from tests.helpers import fake_distribution, run_cli


def test_version():
    out = run_cli(["--version"])
    assert out.returncode == 0 and out.stdout.startswith("rclicks ")


def test_corrupt_image_and_wrong_size_mask_refuse_the_run_naming_both(tmp_path):
    root = write_folder(tmp_path / "ds", tiny_dataset(n=3))
    corrupt = root / "images" / "img0.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nthis is not an image")
    wrong = root / "masks" / "img1.png"
    Image.fromarray(np.ones((10, 10), np.uint8)).save(wrong)
    out = run_cli(["eval", "--dataset", str(root), "--out", str(tmp_path / "run")])
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert str(corrupt) in text and "unreadable image" in text
    assert str(wrong) in text and "10×10" in text
    assert "Traceback" not in text
    assert not (tmp_path / "run" / "per_click.parquet").exists()


def test_missing_mask_is_named(tmp_path):
    root = write_folder(tmp_path / "ds", tiny_dataset(n=2))
    (root / "masks" / "img1.png").unlink()
    out = run_cli(["eval", "--dataset", str(root), "--out", str(tmp_path / "run")])
    assert out.returncode == 1 and "img1.png: mask missing" in out.stderr


def test_unknown_names_suggest_close_matches():
    out = run_cli(["eval", "--simulator", "distanse"])
    assert out.returncode == 1
    assert "Did you mean 'distance'" in out.stderr and "Traceback" not in out.stderr
    out = run_cli(["eval", "--model", "geodesik"])
    assert "Did you mean 'geodesic'" in out.stderr


def test_eval_on_a_folder_writes_the_run_files(tmp_path):
    root = write_folder(tmp_path / "ds", tiny_dataset(n=2))
    out = run_cli(
        [
            "eval",
            "--dataset",
            str(root),
            "--groups",
            "3",
            "--max-clicks",
            "4",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert out.returncode == 0, out.stderr
    assert "NoC@90" in out.stdout and "ΔSB@90" in out.stdout
    assert "evaluating" not in out.stderr  # no progress bar when not on a terminal
    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "run" / "per_click.parquet")
    from rclicks.runs import ROW_SCHEMA

    assert t.column_names == ROW_SCHEMA.names  # CONTRACT §6, in this order
    assert (
        ROW_SCHEMA.names
        == """dataset sample_id instance_id simulator group repeat click x y
        positive iou seconds biou""".split()
    )
    assert t.num_rows == 2 * 2 * (1 + 3) * 4
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"]["name"] == "geodesic" and run["device"] == "cpu"
    assert run["protocol"]["groups"] == 3 and run["status"] == "complete"
    assert run["started"] and run["finished"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    sims = {e["simulator"]: e for e in summary["results"]}
    assert set(sims) == {"baseline", "distance"}
    assert sims["distance"]["groups"] == 3 and "dSB@90" in sims["distance"]


def test_a_plugin_that_fails_to_import_is_named_and_the_cli_works(tmp_path):
    site = fake_distribution(tmp_path / "site", "rclicks-broken", {"broken": "rclicks_brokenplug"})
    env = {"RCLICKS_LOAD_PLUGINS": "broken"}
    out = run_cli(["list", "--json"], env, site)
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    assert plugins["broken"]["status"] == "failed"
    assert "this_module_does_not_exist_anywhere" in plugins["broken"]["error"]
    assert plugins["broken"]["distribution"] == "rclicks-broken"
    root = write_folder(tmp_path / "ds", tiny_dataset(n=1))
    out = run_cli(
        [
            "eval",
            "--dataset",
            str(root),
            "--groups",
            "2",
            "--max-clicks",
            "2",
            "--out",
            str(tmp_path / "run"),
        ],
        env,
        site,
    )
    assert out.returncode == 0, out.stderr
    assert "plugin 'broken'" in out.stderr and "failed to load" in out.stderr


def test_entry_point_plugin_is_listed_and_runs(tmp_path):
    site = fake_distribution(
        tmp_path / "site", "rclicks-testplug", {"testplug": "rclicks_testplug"}
    )
    env = {"RCLICKS_LOAD_PLUGINS": "testplug"}
    listing = json.loads(run_cli(["list", "--json"], env, site).stdout)
    models = {m["name"]: m for m in listing["models"]}
    assert models["voronoi"]["distribution"] == "rclicks-testplug"
    # and not loaded when the environment variable does not name it
    listing = json.loads(run_cli(["list", "--json"], {"RCLICKS_LOAD_PLUGINS": ""}, site).stdout)
    assert "voronoi" not in {m["name"] for m in listing["models"]}


def test_template_plugin_end_to_end(tmp_path):
    env = {"RCLICKS_LOAD_PLUGINS": "template"}
    listing = json.loads(run_cli(["list", "--json"], env).stdout)
    assert "template-colour" in {m["name"] for m in listing["models"]}
    out = run_cli(
        [
            "eval",
            "--model",
            "template-colour",
            "--limit",
            "1",
            "--groups",
            "2",
            "--max-clicks",
            "3",
            "--out",
            str(tmp_path / "run"),
        ],
        env,
    )
    assert out.returncode == 0, out.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"]["distribution"] == "rclicks-plugin-template"


def test_benchmark_and_registry_override_with_env_expansion(tmp_path):
    root = write_folder(tmp_path / "ds", tiny_dataset(n=1))
    reg = tmp_path / "reg.yaml"
    reg.write_text(
        "datasets:\n  mine:\n    plugin: folder\n    options: {root: '${MY_DATA}', name: mine}\n"
        "simulators:\n  sq:\n    plugin: distance\n    options: {power: 2}\n"
        "benchmarks:\n  tiny:\n    datasets: [mine]\n    simulators: [sq, uniform]\n"
        "    groups: 2\n    max_clicks: 3\n"
    )
    out = run_cli(
        ["eval", "--benchmark", "tiny", "--registry", str(reg), "--out", str(tmp_path / "run")],
        {"MY_DATA": str(root)},
    )
    assert out.returncode == 0, out.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["benchmark"] == "tiny"
    assert run["datasets"][0]["options"]["root"] == str(root)
    assert run["simulators"][0]["options"] == {"power": 2}
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {e["simulator"] for e in summary["results"]} == {"baseline", "sq", "uniform"}
    # the variable unset: a clear error naming it, the preset and the file
    out = run_cli(
        ["eval", "--benchmark", "tiny", "--registry", str(reg), "--out", str(tmp_path / "run2")]
    )
    assert out.returncode == 1 and "${MY_DATA}" in out.stderr and str(reg) in out.stderr


def test_baseline_only_and_no_baseline(tmp_path):
    root = write_folder(tmp_path / "ds", tiny_dataset(n=1))
    out = run_cli(
        [
            "eval",
            "--dataset",
            str(root),
            "--simulator",
            "baseline",
            "--max-clicks",
            "3",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert out.returncode == 0, out.stderr
    s = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert [e["simulator"] for e in s["results"]] == ["baseline"]
    out = run_cli(
        [
            "eval",
            "--dataset",
            str(root),
            "--no-baseline",
            "--groups",
            "2",
            "--max-clicks",
            "3",
            "--out",
            str(tmp_path / "n"),
        ]
    )
    s = json.loads((tmp_path / "n" / "summary.json").read_text())
    assert [e["simulator"] for e in s["results"]] == ["distance"]
    assert s["results"][0]["dSB@90"] is None


def test_a_bad_option_is_a_clear_error_and_leaves_no_run_folder(tmp_path):
    root = write_folder(tmp_path / "ds", tiny_dataset(n=1))
    out = run_cli(
        ["eval", "--dataset", str(root), "--sim-opt", "bogus=1", "--out", str(tmp_path / "run")]
    )
    assert out.returncode == 1
    assert "simulator 'distance'" in out.stderr and "bogus" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


def test_device_auto_is_cheap_and_bad_devices_are_refused():
    import subprocess
    import sys

    code = (
        "import sys; from rclicks.devices import resolve_device, nvidia_present; "
        "print(resolve_device('auto'), nvidia_present(), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    device, nvidia, imported = out.stdout.split()
    if nvidia == "False":  # no GPU: CPU, and torch was not imported just to find that out
        assert device == "cpu" and imported == "False"
    else:
        assert device in ("cuda", "cpu")
    bad = run_cli(["eval", "--device", "tpu"])
    assert bad.returncode == 1
    assert "device must be auto, cpu, cuda or cuda:N, got 'tpu'" in bad.stderr


def test_prefetch_option_does_not_change_results(tmp_path):
    import pyarrow.parquet as pq

    base = ["eval", "--limit", "9", "--groups", "2", "--max-clicks", "3"]
    # one process, and two workers that take their samples three at a time, decoding ahead
    for name, extra in (("0", []), ("3", []), ("3j2", ["-j", "2"])):
        depth = name[0]
        r = run_cli([*base, "--prefetch", depth, *extra, "--out", str(tmp_path / name)])
        assert r.returncode == 0, r.stderr
    a = pq.read_table(tmp_path / "0" / "per_click.parquet").drop(["seconds"])
    for name in ("3", "3j2"):
        b = pq.read_table(tmp_path / name / "per_click.parquet").drop(["seconds"])
        assert a.num_rows > 0 and a.equals(b), name


def test_workers_get_consecutive_pieces_of_the_run():
    from rclicks.api.local import chunks

    work = list(range(50))
    assert chunks(work, 2, 4) == [work[i : i + 4] for i in range(0, 50, 4)]  # 13 pieces
    assert chunks(work, 2, 0) == [[i] for i in work]  # no prefetching: one at a time
    assert [len(c) for c in chunks(list(range(9)), 2, 4)] == [1] * 9  # 4 pieces each at least
    assert sum(chunks(work, 3, 7), []) == work


def test_sim_opt_scoped_to_one_simulator(tmp_path):
    out = tmp_path / "run"
    r = run_cli(
        [
            "eval",
            "-s",
            "distance",
            "-s",
            "uniform",
            "--sim-opt",
            "distance:power=2",
            "--limit",
            "1",
            "--groups",
            "2",
            "--max-clicks",
            "2",
            "--out",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stderr  # unscoped, `power` would break `uniform`
    sims = {
        s["name"]: s["options"] for s in json.loads((out / "run.json").read_text())["simulators"]
    }
    assert sims == {"distance": {"power": 2}, "uniform": {}}
    r = run_cli(["eval", "--sim-opt", "nope:power=2", "--out", str(tmp_path / "x")])
    assert r.returncode == 1 and "scoped to 'nope'" in r.stderr


def test_options_for_scoping_rules():
    from rclicks.options import options_for

    opts = {"a": 1, "x:a": 2, "y:b": 3}
    assert options_for("x", opts, ["x", "y"]) == {"a": 2}
    assert options_for("y", opts, ["x", "y"]) == {"a": 1, "b": 3}
