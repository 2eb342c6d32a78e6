import hashlib
import os
import subprocess
import sys

import pytest
import torch

from rclicks_hqsam import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    MissingDependencyError,
    WrongVariantError,
    make_hq_sam,
)
from rclicks_hqsam import checkpoints as ck

VIT_B = ck.VARIANTS["vit_b"]


def test_variants_and_urls():
    assert set(ck.VARIANTS) == {"vit_b", "vit_l", "vit_h", "vit_tiny"}
    for name, v in ck.VARIANTS.items():
        assert v.file_name == f"sam_hq_{name}.pth"
        assert v.url == f"https://huggingface.co/lkeab/hq-sam/resolve/main/sam_hq_{name}.pth"


def test_missing_checkpoint_says_where_it_looked_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError) as info:
        make_hq_sam(variant="vit_b", device="cpu")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert msg.startswith("HQ-SAM vit_b checkpoint sam_hq_vit_b.pth not found")
    assert str(tmp_path / "sam_hq_vit_b.pth") in msg
    assert "checkpoint= (option not given)" in msg
    assert "no published sha256" in msg and "None" not in msg
    assert VIT_B.url in msg
    assert "RCLICKS_CHECKPOINTS" in msg and "--model-opt checkpoint=" in msg
    assert "\n" not in msg


def test_wrong_sha256_names_the_file_and_both_digests(tmp_path):
    fake = tmp_path / VIT_B.file_name
    fake.write_bytes(b"not a checkpoint" * 1000)
    got = hashlib.sha256(fake.read_bytes()).hexdigest()
    with pytest.raises(ChecksumMismatchError) as info:
        make_hq_sam(variant="vit_b", device="cpu", checkpoint=str(tmp_path), sha256="0123abcd")
    msg = str(info.value)
    assert str(fake) in msg and got in msg and "0123abcd" in msg and VIT_B.url in msg


def test_wrong_published_sha256(tmp_path, monkeypatch):
    fake = tmp_path / "x.pth"
    fake.write_bytes(b"junk")
    monkeypatch.setitem(
        ck.VARIANTS,
        "vit_b",
        ck.HQVariant("vit_b", "x.pth", "ab" * 32, "", 768, 12, 12, (2, 5, 8, 11)),
    )
    with pytest.raises(ChecksumMismatchError, match="the published sum"):
        make_hq_sam(variant="vit_b", device="cpu", checkpoint=str(fake))


def _random_state(**kw):
    from rclicks_hqsam.model import build_random_hq_sam

    return build_random_hq_sam(image_size=64, **kw).state_dict()


def test_plain_sam_checkpoint_is_named(tmp_path):
    from rclicks_sam.model import build_random_sam

    path = tmp_path / "plain.pth"
    torch.save(build_random_sam(image_size=64).state_dict(), path)
    with pytest.raises(WrongVariantError, match="plain SAM") as info:
        make_hq_sam(variant="vit_b", device="cpu", checkpoint=str(path))
    assert "`sam` model" in str(info.value)


def test_hq_checkpoint_of_another_width_is_named(tmp_path):
    state = _random_state()
    state["image_encoder.patch_embed.proj.weight"] = torch.zeros(1024, 3, 16, 16)
    for i in range(24):
        state[f"image_encoder.blocks.{i}.norm1.weight"] = torch.zeros(1)
    path = tmp_path / "mystery.pth"
    torch.save(state, path)
    with pytest.raises(WrongVariantError, match="HQ-SAM vit_l checkpoint") as info:
        make_hq_sam(variant="vit_b", device="cpu", checkpoint=str(path), sha256="skip")
    assert "--model-opt variant=vit_l" in str(info.value)


def test_a_checkpoint_that_fits_loads_and_checks_its_sha256(tmp_path, monkeypatch):
    from rclicks_hqsam.model import build_random_hq_sam

    net = build_random_hq_sam(image_size=1024, depth=2, embed_dim=64)
    path = tmp_path / "custom.pth"
    torch.save({"model": net.state_dict()}, path)  # wrapped, as training checkpoints are
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    tiny_variant = ck.HQVariant("vit_b", "custom.pth", digest, "", 64, 2, 2, (1,))
    monkeypatch.setitem(ck.VARIANTS, "vit_b", tiny_variant)
    from rclicks_hqsam import model as m

    monkeypatch.setattr(m, "build_hq_sam", lambda v: build_random_hq_sam(1024, 2, 64, seed=5))
    model = make_hq_sam(variant="vit_b", device="cpu", checkpoint=str(path))
    torch.testing.assert_close(
        model.sam.mask_decoder.hf_token.weight, net.mask_decoder.hf_token.weight
    )
    assert model.name == "hq-sam-vit_b"


def test_missing_segment_anything_hq_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "segment_anything_hq", None)
    with pytest.raises(MissingDependencyError) as info:
        make_hq_sam(variant="vit_b", random_weights=True, device="cpu")
    assert isinstance(info.value, ImportError)
    assert "pip install segment-anything-hq==0.3 timm" in str(info.value)


def test_missing_timm_is_named(monkeypatch):
    for name in [
        k for k in sys.modules if k == "timm" or k.startswith(("timm.", "segment_anything_hq"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingDependencyError, match="pip install timm"):
        make_hq_sam(variant="vit_b", random_weights=True, device="cpu")


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    env = {
        **os.environ,
        "RCLICKS_LOAD_PLUGINS": "sam,hqsam",
        "RCLICKS_CHECKPOINTS": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "rclicks.cli", "eval", "--model", "hq-sam"]
        + ["--model-opt", "variant=vit_tiny", "--dataset", "demo", "--limit", "1"]
        + ["--device", "cpu", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert "sam_hq_vit_tiny.pth" in text and "huggingface.co/lkeab/hq-sam" in text


def test_vit_tiny_layout_loads_and_is_told_apart(tmp_path):
    """The official vit_tiny network (TinyViT encoder) takes its own state dict, and a ViT
    variant refuses it."""
    from rclicks_hqsam.model import build_hq_sam

    path = tmp_path / "sam_hq_vit_tiny.pth"
    torch.save(build_hq_sam(ck.VARIANTS["vit_tiny"]).state_dict(), path)
    model = make_hq_sam(variant="vit_tiny", device="cpu", checkpoint=str(tmp_path))
    assert model.name == "hq-sam-vit_tiny"
    with pytest.raises(WrongVariantError, match="variant=vit_tiny"):
        make_hq_sam(variant="vit_b", device="cpu", checkpoint=str(path))
