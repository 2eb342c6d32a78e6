import hashlib
import os
import subprocess
import sys

import pytest
import torch

from rclicks_sam import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    MissingDependencyError,
    WrongVariantError,
    make_sam,
)
from rclicks_sam import checkpoints as ck

VIT_B = ck.VARIANTS["vit_b"]


def test_missing_checkpoint_says_where_it_looked_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError) as info:
        make_sam(variant="vit_b", device="cpu")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "sam_vit_b_01ec64.pth" in msg
    assert str(tmp_path / "sam_vit_b_01ec64.pth") in msg  # where it looked
    assert "checkpoint= (option not given)" in msg
    assert VIT_B.sha256 in msg
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in msg
    assert "RCLICKS_CHECKPOINTS" in msg and "--model-opt checkpoint=" in msg
    assert "\n" not in msg


def test_missing_checkpoint_without_env_and_with_a_bad_path(tmp_path):
    with pytest.raises(CheckpointNotFoundError) as info:
        make_sam(variant="vit_h", device="cpu", checkpoint=str(tmp_path / "nope.pth"))
    msg = str(info.value)
    assert str(tmp_path / "nope.pth") in msg and "no such file" in msg
    assert "$RCLICKS_CHECKPOINTS is not set" in msg
    assert "sam_vit_h_4b8939.pth" in msg and ck.VARIANTS["vit_h"].sha256 in msg


def test_wrong_sha256_names_the_file_and_both_digests(tmp_path):
    fake = tmp_path / VIT_B.file_name
    fake.write_bytes(b"not a checkpoint" * 1000)
    got = hashlib.sha256(fake.read_bytes()).hexdigest()
    with pytest.raises(ChecksumMismatchError) as info:
        make_sam(variant="vit_b", device="cpu", checkpoint=str(fake))
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(fake) in msg and got in msg and VIT_B.sha256 in msg
    assert "download it again" in msg
    # an explicit sha256 option is what the file is compared with
    with pytest.raises(ChecksumMismatchError, match="0123abcd"):
        make_sam(variant="vit_b", device="cpu", checkpoint=str(tmp_path), sha256="0123abcd")


def test_sha256_is_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    f = tmp_path / "blob.bin"
    f.write_bytes(os.urandom(3 * ck.CHUNK + 5))
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert ck.file_sha256(f) == want
    assert (tmp_path.parent / "cache0").exists() or ck._cache_file().exists()

    def boom(*a, **k):
        raise AssertionError("hashed again")

    monkeypatch.setattr(ck.hashlib, "sha256", boom)
    assert ck.file_sha256(f) == want  # from the cache
    f.write_bytes(b"changed")
    with pytest.raises(AssertionError, match="hashed again"):
        ck.file_sha256(f)


def _tiny_state(embed_dim, depth=2):
    from rclicks_sam.model import build_random_sam

    return build_random_sam(image_size=64, depth=depth, embed_dim=embed_dim).state_dict()


def test_state_dict_of_another_width_is_named(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(_tiny_state(64), path)
    for sha in (None, "skip"):
        with pytest.raises(WrongVariantError) as info:
            make_sam(variant="vit_b", device="cpu", checkpoint=str(path), sha256=sha)
        msg = str(info.value)
        assert str(path) in msg and "width 64" in msg and "variant=vit_b" in msg


def test_checkpoint_of_another_variant_is_recognised(tmp_path):
    # the shapes of a vit_l checkpoint, without its 1.2 GB: patch embedding 1024 wide, 24 blocks
    state = {ck.PATCH_KEY: torch.zeros(1024, 3, 16, 16)}
    for i in range(24):
        state[f"image_encoder.blocks.{i}.norm1.weight"] = torch.zeros(1)
    path = tmp_path / "mystery.pth"
    torch.save(state, path)
    with pytest.raises(WrongVariantError) as info:
        make_sam(variant="vit_b", device="cpu", checkpoint=str(path))
    msg = str(info.value)
    assert "SAM vit_l checkpoint" in msg and "--model-opt variant=vit_l" in msg


def test_official_file_of_another_variant_is_recognised_by_its_sha256(tmp_path, monkeypatch):
    path = tmp_path / "sam_vit_l_0b3195.pth"
    path.write_bytes(b"x")
    monkeypatch.setattr(ck, "file_sha256", lambda p, use_cache=True: ck.VARIANTS["vit_l"].sha256)
    with pytest.raises(WrongVariantError, match="official SAM vit_l checkpoint"):
        make_sam(variant="vit_h", device="cpu", checkpoint=str(path))


def test_a_checkpoint_with_the_expected_sha256_loads(tmp_path, monkeypatch):
    from rclicks_sam.model import build_sam

    net = build_sam(64, 2, 2, (1,))  # the real 1024 px layout, tiny encoder
    path = tmp_path / "custom.pth"
    torch.save(net.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    tiny_variant = ck.Variant("vit_b", "custom.pth", digest, "", 64, 2, 2, (1,))
    monkeypatch.setitem(ck.VARIANTS, "vit_b", tiny_variant)
    # the package's builder, shrunk the same way (its full-size layout is pinned elsewhere)
    import segment_anything

    monkeypatch.setitem(
        segment_anything.sam_model_registry,
        "vit_b",
        lambda checkpoint=None: build_sam(64, 2, 2, (1,)),
    )
    model = make_sam(variant="vit_b", device="cpu", checkpoint=str(path))
    assert torch.equal(
        model.sam.image_encoder.patch_embed.proj.weight, net.image_encoder.patch_embed.proj.weight
    )
    # a fine-tuned checkpoint: explicit sha256
    model = make_sam(variant="vit_b", device="cpu", checkpoint=str(path), sha256=digest)
    assert model.threshold == 0.5


def test_missing_segment_anything_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    with pytest.raises(MissingDependencyError) as info:
        make_sam(variant="vit_b", random_weights=True, device="cpu")
    assert isinstance(info.value, ImportError)
    assert "pip install segment-anything==1.0" in str(info.value)


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    env = {
        **os.environ,
        "RCLICKS_LOAD_PLUGINS": "sam",
        "RCLICKS_CHECKPOINTS": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "rclicks.cli", "eval", "--model", "sam"]
        + ["--model-opt", "variant=vit_b", "--dataset", "demo", "--limit", "1"]
        + ["--device", "cpu", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert "sam_vit_b_01ec64.pth" in text and "dl.fbaipublicfiles.com" in text
