"""Each user error gives one clear message (what, where looked, how to fix), no traceback."""

import hashlib
import os
import subprocess
import sys

import pytest
import torch
from rclicks_sam2 import VARIANTS, Sam2Error, create_model, get_variant
from rclicks_sam2.checkpoints import file_sha256, verify_checkpoint


def test_variant_names_and_configs_exist():
    from importlib.resources import files

    assert len(VARIANTS) == 8
    root = files("sam2")
    for v in VARIANTS.values():
        assert root.joinpath(v.config).is_file(), v.config
        assert v.url.endswith(v.filename)
        assert v.sha256 is None or len(v.sha256) == 64
    assert get_variant("sam2.1_hiera_base_plus").name == "sam2.1-hiera-b+"
    assert get_variant("SAM2-Hiera-Tiny").name == "sam2-hiera-t"
    with pytest.raises(Sam2Error, match="sam2.1-hiera-l"):
        get_variant("vit_h")


def test_missing_checkpoint_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(Sam2Error) as err:
        create_model(variant="sam2.1-hiera-l", device="cpu")
    msg = str(err.value)
    v = VARIANTS["sam2.1-hiera-l"]
    assert str(tmp_path / "sam2.1_hiera_large.pt") in msg
    assert v.sha256 in msg and v.url in msg
    assert "checkpoint=" in msg and "RCLICKS_CHECKPOINTS" in msg

    monkeypatch.delenv("RCLICKS_CHECKPOINTS")
    with pytest.raises(Sam2Error) as err:
        create_model(variant="sam2-hiera-s", checkpoint=str(tmp_path / "nope.pt"), device="cpu")
    msg = str(err.value)
    assert str(tmp_path / "nope.pt") in msg and "sam2_hiera_small.pt" in msg
    assert VARIANTS["sam2-hiera-s"].url in msg


def test_wrong_sha256(tmp_path):
    fake = tmp_path / "sam2.1_hiera_tiny.pt"
    fake.write_bytes(b"not a checkpoint\n" * 1000)
    actual = hashlib.sha256(fake.read_bytes()).hexdigest()
    with pytest.raises(Sam2Error) as err:
        create_model(variant="sam2.1-hiera-t", checkpoint=str(fake), device="cpu")
    msg = str(err.value)
    assert actual in msg and VARIANTS["sam2.1-hiera-t"].sha256 in msg and str(fake) in msg
    assert f"sha256={actual}" in msg
    # a pinned sum that matches gets past the check (and then fails to load: not a checkpoint)
    with pytest.raises(Sam2Error, match="could not be read by torch.load"):
        create_model(variant="sam2.1-hiera-t", checkpoint=str(fake), sha256=actual, device="cpu")


def test_sha256_cache_and_unpinned_file(tmp_path, capsys):
    f = tmp_path / "x.pt"
    f.write_bytes(b"abc" * 100000)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert file_sha256(f) == digest
    cache = tmp_path / "cache" / "rclicks" / "sha256.json"
    assert digest in cache.read_text()
    assert file_sha256(f) == digest  # from the cache
    verify_checkpoint(f, VARIANTS["sam2-hiera-t"], None)
    assert f"sha256={digest}" in capsys.readouterr().err


def test_checkpoint_of_another_variant(tmp_path):
    """A state dict saved from a (tiny) SAM 2.1 model, loaded as SAM 2.0: the message says
    which variant the file looks like."""
    src = create_model(variant="sam2.1-hiera-t", random_weights=True, device="cpu")
    path = tmp_path / "sam2_hiera_tiny.pt"
    torch.save({"model": src.sam.state_dict()}, path)
    with pytest.raises(Sam2Error) as err:
        create_model(variant="sam2-hiera-t", checkpoint=str(path), sha256="skip", tiny=True)
    msg = str(err.value)
    assert "does not fit variant sam2-hiera-t" in msg
    assert "sam2.1-hiera-t" in msg and "no_obj_embed_spatial" in msg
    # the right variant loads it, and gives the same outputs as the model it came from
    ok = create_model(
        variant="sam2.1-hiera-t",
        checkpoint=str(path),
        sha256=file_sha256(path),
        tiny=True,
        device="cpu",
    )
    a, b = ok.sam.state_dict(), src.sam.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sam2_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "sam2.build_sam", None)
    with pytest.raises(Sam2Error) as err:
        create_model(random_weights=True, device="cpu")
    msg = str(err.value)
    assert "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0" in msg
    assert "pip install torch torchvision" in msg
    assert msg.index("1. pip install torch") < msg.index("2. SAM2_BUILD_CUDA=0")


def test_bad_options():
    with pytest.raises(Sam2Error, match="multimask"):
        create_model(random_weights=True, multimask="three")
    with pytest.raises(Sam2Error, match="prev_mask"):
        create_model(random_weights=True, prev_mask="sometimes")
    with pytest.raises(Sam2Error, match="exclude"):
        create_model(random_weights=True, checkpoint="x.pt")
    with pytest.raises(Sam2Error, match="sha256"):
        create_model(checkpoint=__file__, sha256="abc")


def test_cli_error_has_no_traceback(tmp_path):
    env = {**os.environ, "RCLICKS_LOAD_PLUGINS": "sam2", "RCLICKS_CHECKPOINTS": str(tmp_path)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rclicks.cli",
            "eval",
            "--model",
            "sam2",
            "--model-opt",
            "variant=sam2-hiera-b+",
            "--dataset",
            "demo",
            "--limit",
            "1",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Traceback" not in text
    assert "sam2_hiera_base_plus.pt" in text and VARIANTS["sam2-hiera-b+"].url in text


def test_sha256_skip_does_not_hash(tmp_path, capsys):
    fake = tmp_path / "sam2_hiera_tiny.pt"
    fake.write_bytes(b"\0" * 1000)
    with pytest.raises(Sam2Error, match="could not be read by torch.load"):
        create_model(variant="sam2-hiera-t", checkpoint=str(fake), sha256="skip", device="cpu")
    assert "sha256" not in capsys.readouterr().err
    assert not (tmp_path / "cache" / "rclicks" / "sha256.json").exists()
