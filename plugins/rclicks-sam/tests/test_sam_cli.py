import json
import subprocess
import sys
from collections import Counter

import pyarrow.parquet as pq
from rclicks.testing import listed, run_rclicks

PLUGINS = "sam"


def test_rclicks_lists_the_model():
    models = listed("models", plugins=PLUGINS)
    assert models["sam"]["distribution"] == "rclicks-sam"


def test_plugin_import_does_not_import_torch():
    code = (
        "import sys, rclicks_sam; "
        "print(int('torch' in sys.modules), int('segment_anything' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


def test_eval_runs_the_whole_protocol(tmp_path):
    run = tmp_path / "run"
    cmd = ["eval", "--model", "sam"]
    cmd += ["--model-opt", "random_weights=true", "--model-opt", "variant=vit_b"]
    cmd += ["--simulator", "distance", "--dataset", "demo", "--limit", "1"]
    cmd += ["--groups", "2", "--max-clicks", "3", "--device", "cpu", "--out", str(run)]
    proc = run_rclicks(*cmd, plugins=PLUGINS, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("per_click.parquet", "summary.json", "run.json"):
        assert (run / name).is_file(), name
    assert not (run / "errors.jsonl").exists() or not (run / "errors.jsonl").read_text().strip()
    rows = pq.read_table(run / "per_click.parquet").to_pylist()
    assert {r["click"] for r in rows} == {1, 2, 3}
    assert {r["group"] for r in rows} == {0, 1, 2}  # baseline + 2 groups
    trajectories = Counter((r["instance_id"], r["simulator"], r["group"]) for r in rows)
    assert set(trajectories.values()) == {3}
    assert all(0.0 <= r["iou"] <= 1.0 for r in rows)
    info = json.loads((run / "run.json").read_text())
    assert "sam" in json.dumps(info)
