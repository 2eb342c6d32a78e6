"""``rclicks datasets check|show`` and the presets, as a user runs them (subprocesses)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.helpers import run_cli
from tests.test_datasets_trees import write_coco, write_grabcut, write_tetris


def test_check_counts_and_ok(tmp_path):
    root = write_grabcut(tmp_path / "GrabCut", n=3)
    out = run_cli(["datasets", "check", "GrabCut", "--data-opt", f"root={root}"])
    assert out.returncode == 0, out.stderr
    assert "3 images, 3 instances, 3 with an ignore region" in out.stdout
    assert "OK" in out.stdout
    js = run_cli(
        ["datasets", "check", "GrabCut", "--json", "--manifest", str(tmp_path / "m.json")],
        env_extra={"RCLICKS_DATA": str(tmp_path)},  # the default root: $RCLICKS_DATA/GrabCut
    )
    data = json.loads(js.stdout)
    assert data["images"] == 3 and data["problems"] == [] and data["with_ignore"] == 3
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["datasets"][0]["sha256"] == data["sha256"]


def test_check_lists_every_problem_and_exits_1_without_a_traceback(tmp_path):
    root = write_grabcut(tmp_path / "GrabCut", n=3)
    (root / "data_GT" / "s0.png").write_bytes(b"garbage")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / "boundary_GT" / "s1.bmp")
    out = run_cli(["datasets", "check", "GrabCut", "--data-opt", f"root={root}"])
    assert out.returncode == 1
    assert "2 problem(s)" in out.stderr and "Traceback" not in out.stderr + out.stdout
    assert f"{root / 'data_GT' / 's0.png'}: unreadable image" in out.stderr
    assert f"{root / 'boundary_GT' / 's1.bmp'}: mask is 5×5" in out.stderr


def test_a_path_in_another_layout_gets_a_hint_and_a_missing_root_is_named(tmp_path):
    root = write_grabcut(tmp_path / "GrabCut", n=1)
    out = run_cli(["datasets", "check", str(root)])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "looks like the GrabCut layout" in out.stderr
    out = run_cli(["datasets", "check", "TETRIS"], env_extra={"RCLICKS_DATA": str(tmp_path)})
    assert (
        out.returncode == 1 and f"{tmp_path / 'TETRIS' / 'images'}: folder not found" in out.stderr
    )


def test_show_draws_the_sample_and_unknown_ids_are_named(tmp_path):
    root, _ = write_coco(tmp_path / "coco")
    png = tmp_path / "show.png"
    args = ["datasets", "show", "coco-json", "--data-opt", f"root={root}"]
    out = run_cli([*args, "--sample", "c1", "--out", str(png)])
    assert out.returncode == 0, out.stderr
    assert "instances 11 (210 px), 12 (100 px), 13 (36 px), ignore 90 px" in out.stdout
    im = np.asarray(Image.open(png).convert("RGB"))
    assert im.shape[0] > 40 and im.shape[1] >= 2 * 50 + 4
    # left: the image untouched; right: instance 12 tinted
    src = np.asarray(Image.open(root / "images" / "c1.png").convert("RGB"))
    assert np.array_equal(im[:40, :50], src)
    assert not np.array_equal(im[22:28, 50 + 4 + 7 : 50 + 4 + 13], src[22:28, 7:13])
    out = run_cli([*args, "--sample", "c3", "--out", str(png)])
    assert out.returncode == 1 and "no sample 'c3'" in out.stderr and "c1" in out.stderr


def test_eval_through_a_preset_rooted_at_rclicks_data(tmp_path):
    write_tetris(tmp_path / "TETRIS", big=False)
    (tmp_path / "TETRIS" / "images" / "a.b_small.png").rename(
        tmp_path / "TETRIS" / "images" / "tLKmQ7EQ7d0.png"  # the first stem of the train list
    )
    (tmp_path / "TETRIS" / "masks" / "a.b_small.png").rename(
        tmp_path / "TETRIS" / "masks" / "tLKmQ7EQ7d0.png"
    )
    out = run_cli(["datasets", "check", "TETRIS-train"], env_extra={"RCLICKS_DATA": str(tmp_path)})
    assert out.returncode == 1 and "1499 problem(s)" in out.stderr  # the other stems are missing
    (tmp_path / "mine.txt").write_text("tLKmQ7EQ7d0\n")
    out = run_cli(
        [
            "eval",
            "--dataset",
            "TETRIS-train",
            "--data-opt",
            f"split={tmp_path / 'mine.txt'}",
            "--limit",
            "1",
            "--groups",
            "2",
            "--max-clicks",
            "2",
            "--out",
            str(tmp_path / "run"),
        ],
        env_extra={"RCLICKS_DATA": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "manifest.json").is_file()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["datasets"][0]["options"]["root"] == str(tmp_path / "TETRIS")
    assert run["datasets"][0]["instances"] == 3
