import hashlib
import os
import subprocess
import sys

import pytest
import torch

from rclicks_mobilesam import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    MissingDependencyError,
    WrongVariantError,
    make_mobile_sam,
)
from rclicks_mobilesam import checkpoints as ck

VIT_T = ck.VARIANTS["vit_t"]


def test_missing_checkpoint_says_where_it_looked_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError) as info:
        make_mobile_sam(device="cpu")
    msg = str(info.value)
    assert msg.startswith("MobileSAM vit_t checkpoint mobile_sam.pt not found")
    assert str(tmp_path / "mobile_sam.pt") in msg and "no published sha256" in msg
    assert ck.URL in msg and "--model-opt checkpoint=" in msg and "\n" not in msg


def test_wrong_sha256_names_the_file_and_both_digests(tmp_path):
    fake = tmp_path / "mobile_sam.pt"
    fake.write_bytes(b"not a checkpoint" * 100)
    got = hashlib.sha256(fake.read_bytes()).hexdigest()
    with pytest.raises(ChecksumMismatchError) as info:
        make_mobile_sam(device="cpu", checkpoint=str(tmp_path), sha256="0123abcd")
    msg = str(info.value)
    assert str(fake) in msg and got in msg and "0123abcd" in msg


def test_other_models_files_are_named(tmp_path):
    from rclicks_sam.model import build_random_sam

    path = tmp_path / "plain.pth"
    torch.save(build_random_sam(image_size=64).state_dict(), path)
    with pytest.raises(WrongVariantError, match="SAM v1 ViT checkpoint.*`sam` model"):
        make_mobile_sam(device="cpu", checkpoint=str(path))
    torch.save({ck.HQ_KEY: torch.zeros(1), ck.TINY_KEY: torch.zeros(1)}, path)
    with pytest.raises(WrongVariantError, match="HQ-SAM"):
        make_mobile_sam(device="cpu", checkpoint=str(path))


def test_the_official_layout_loads(tmp_path):
    from rclicks_mobilesam.model import build_mobile_sam

    path = tmp_path / "mobile_sam.pt"
    net = build_mobile_sam()
    torch.save(net.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = make_mobile_sam(device="cpu", checkpoint=str(path), sha256=digest)
    assert model.name == "mobile-sam"
    torch.testing.assert_close(
        model.sam.mask_decoder.iou_token.weight, net.mask_decoder.iou_token.weight
    )


def test_missing_package_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mobile_sam", None)
    with pytest.raises(MissingDependencyError) as info:
        make_mobile_sam(random_weights=True, device="cpu")
    assert "pip install mobilesam-mirror==1.0.0 timm" in str(info.value)


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    env = {
        **os.environ,
        "RCLICKS_LOAD_PLUGINS": "sam,mobilesam",
        "RCLICKS_CHECKPOINTS": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "rclicks.cli", "eval", "--model", "mobile-sam"]
        + ["--dataset", "demo", "--limit", "1", "--device", "cpu", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text and "mobile_sam.pt" in text and "ChaoningZhang" in text
