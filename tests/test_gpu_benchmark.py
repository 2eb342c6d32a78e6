"""benchmarks/gpu.py, prepared for a GPU and run here at tiny size on the CPU: it builds both
SAM-family models through their plugins, runs the protocol on real DAVIS images through the
engine and through the reference's loop structure (the same clicks), and bundles the images
for a device run byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
pytestmark = pytest.mark.skipif(
    not (SHARED / "DAVIS").is_dir(),
    reason="real data: ../shared/datasets is not beside this clone (CI has it)",
)


def _run(args, tmp_path):
    env = {**os.environ, "RCLICKS_DATA": str(SHARED), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu.py"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip


def test_the_tiny_run_measures_both_models_and_matches_the_reference_structure(tmp_path):
    done = _run(["--tiny", "--images", "1", "--json", str(tmp_path / "gpu.json")], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads((tmp_path / "gpu.json").read_text())
    assert info["device"] == "cpu" and info["tiny"] is True
    assert [c["model"] for c in info["cases"]] == ["sam-vit-h", "sam2.1-hiera-l"]
    for case in info["cases"]:
        assert case["clicks"] == case["instances"] * (1 + 3) * 4  # baseline + 3 groups, 4 clicks
        assert case["encode_s_per_image"] > 0 and case["decode_ms_per_click"] > 0
        assert case["reference_same_clicks"] is True
    assert "not measured (no CUDA device)" in done.stdout


def test_the_bundle_copies_the_images_byte_for_byte(tmp_path):
    done = _run(["--bundle", str(tmp_path / "data"), "--images", "2"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for sub, name in (("img", "000.jpg"), ("img", "001.jpg"), ("gt", "001.png")):
        got = (tmp_path / "data" / "DAVIS" / sub / name).read_bytes()
        assert got == (SHARED / "DAVIS" / sub / name).read_bytes()
    assert len(list((tmp_path / "data" / "DAVIS" / "img").iterdir())) == 2
