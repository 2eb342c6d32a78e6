"""The plugin seen from the command line: listed, cheap to import, runs an evaluation."""

import json
import os
import subprocess
import sys

ENV = {**os.environ, "RCLICKS_LOAD_PLUGINS": "sam2"}


def test_rclicks_lists_the_model():
    out = subprocess.run(
        [sys.executable, "-m", "rclicks.cli", "list", "--json"],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
        timeout=120,
    )
    models = {m["name"]: m for m in json.loads(out.stdout)["models"]}
    assert models["sam2"]["distribution"] == "rclicks-sam2"


def test_plugin_import_is_light():
    code = (
        "import sys, rclicks_sam2; "
        "heavy = [m for m in ('torch', 'sam2', 'hydra') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_eval_end_to_end(tmp_path):
    out_dir = tmp_path / "run"
    env = {**ENV, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "rclicks.cli",
            "eval",
            "--model",
            "sam2",
            "--model-opt",
            "random_weights=true",
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--groups",
            "2",
            "--max-clicks",
            "3",
            "--device",
            "cpu",
            "--out",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("per_click.parquet", "summary.json", "run.json"):
        assert (out_dir / name).is_file(), name
    assert not (out_dir / "errors.jsonl").exists()
    run = json.loads((out_dir / "run.json").read_text())
    assert "sam2" in json.dumps(run)
