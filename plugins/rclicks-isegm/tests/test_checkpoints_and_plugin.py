"""Reading official checkpoints (and refusing what is not one), the errors of a missing file,
the plugin as ``rclicks list`` shows it, and the factory's options."""

from __future__ import annotations

import pickle
import sys
import types

import pytest
import torch
from rclicks.errors import CheckpointNotFoundError, ChecksumError, OptionError
from rclicks.testing import listed
from test_reference_trajectories import HRNET18_PARAMS, official_checkpoint

import rclicks_isegm
from rclicks_isegm import checkpoints as ck


def test_the_plugin_is_listed_with_its_distribution():
    models = listed("models", plugins="isegm")
    for name in ("ritm", "simpleclick", "cfr-icl"):
        assert models[name]["distribution"] == "rclicks-isegm"
        assert models[name]["version"] == rclicks_isegm.__version__


def test_a_missing_checkpoint_names_every_place_and_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RCLICKS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointNotFoundError) as err:
        rclicks_isegm.make_ritm(variant="ritm-hrnet32-cocolvis", checkpoint=str(tmp_path / "x"))
    msg = str(err.value)
    assert "coco_lvis_h32_itermask.pth" in msg and str(tmp_path / "x") in msg
    assert f"{tmp_path}/coco_lvis_h32_itermask.pth" in msg and "--model-opt checkpoint=" in msg
    assert ck.RITM_PAGE in msg


def test_a_checkpoint_of_another_architecture_is_refused_naming_it(tmp_path):
    path = tmp_path / "deeplab.pth"
    official_checkpoint(
        path, "isegm.model.is_deeplab_model.DeeplabModel", {"backbone": "resnet50"}, {}
    )
    with pytest.raises(ck.CheckpointError, match="DeeplabModel network; rclicks-isegm implements"):
        rclicks_isegm.make_ritm(checkpoint=str(path))
    with pytest.raises(ChecksumError, match="expected 00ff"):
        rclicks_isegm.make_ritm(checkpoint=str(path), sha256="00ff")
    plain = tmp_path / "plain.pth"
    torch.save({"conv.weight": torch.zeros(1)}, plain)
    with pytest.raises(ck.CheckpointError, match=r"not in the RITM / SimpleClick format"):
        rclicks_isegm.make_ritm(checkpoint=str(plain))
    odd = tmp_path / "odd.pth"
    official_checkpoint(odd, ck.HRNET_CLASS, {**HRNET18_PARAMS, "use_rgb_conv": True}, {})
    with pytest.raises(ck.CheckpointError, match="use_rgb_conv"):
        rclicks_isegm.make_ritm(checkpoint=str(odd))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    path = tmp_path / "h18.pth"
    official_checkpoint(
        path, ck.HRNET_CLASS, HRNET18_PARAMS, {"maps_transform.0.weight": torch.zeros(1)}
    )
    with pytest.raises(ck.CheckpointError, match="does not fit the network its config describes"):
        rclicks_isegm.make_ritm(checkpoint=str(path))


def test_isegm_objects_in_a_config_are_read_inert_and_other_code_is_refused(tmp_path, monkeypatch):
    """SimpleClick configs hold an isegm loss object: read without isegm installed. Anything
    outside torch / numpy / plain containers is refused."""
    fake = types.ModuleType("isegm.model.losses")

    class CrossEntropyLoss:
        def __init__(self):
            self.weight = 1.0

    CrossEntropyLoss.__module__ = "isegm.model.losses"
    CrossEntropyLoss.__qualname__ = "CrossEntropyLoss"
    fake.CrossEntropyLoss = CrossEntropyLoss
    for name in ("isegm", "isegm.model", "isegm.model.losses"):
        monkeypatch.setitem(sys.modules, name, fake)
    path = tmp_path / "vit.pth"
    config = {
        "class": ck.PLAINVIT_CLASS,
        "params": {
            "head_params": {
                "type": "builtin",
                "value": {"loss_decode": CrossEntropyLoss()},
                "specified": True,
            }
        },
    }
    torch.save({"config": config, "state_dict": {}}, path)
    for name in ("isegm", "isegm.model", "isegm.model.losses"):
        monkeypatch.delitem(sys.modules, name)
    data = ck.read_checkpoint(path)
    loss = data["config"]["params"]["head_params"]["value"]["loss_decode"]
    assert type(loss).__name__ == "CrossEntropyLoss" and isinstance(loss, ck._Inert)

    class Evil:
        def __reduce__(self):
            return (print, ("boom",))

    bad = tmp_path / "evil.pth"
    torch.save({"config": {"x": Evil()}, "state_dict": {}}, bad, pickle_module=pickle)
    with pytest.raises(ck.CheckpointError, match="cannot be read"):
        ck.read_checkpoint(bad)


def test_factory_options():
    m = rclicks_isegm.make_ritm(random_weights=True, dtype="float64", zoom_target=600)
    assert next(m.net.parameters()).dtype == torch.float64
    assert m.zoom.target_size == 600 and m.zoom.skip_clicks == 1 and m.threshold == 0.49
    assert m.per_call == 1  # on the CPU, one trajectory per network call unless told
    assert rclicks_isegm.make_ritm(random_weights=True, batch=4).per_call == 4
    with pytest.raises(OptionError, match="batch must be a whole number >= 1"):
        rclicks_isegm.make_ritm(random_weights=True, batch=0)
    with pytest.raises(OptionError, match="dtype must be float32 or float64"):
        rclicks_isegm.make_ritm(random_weights=True, dtype="half")
    with pytest.raises(OptionError, match="variant simpleclick-vit-b-cocolvis is a simpleclick"):
        rclicks_isegm.make_ritm(variant="simpleclick-vit-b-cocolvis", random_weights=True)
    with pytest.raises(OptionError, match="zoom_target=500: .*not a multiple of the patch"):
        rclicks_isegm.make_simpleclick(zoom_target=500, random_weights=True)
    with pytest.raises(OptionError, match="variant must be one of"):
        rclicks_isegm.make_ritm(variant="ritm-hrnet99")


def test_every_variant_has_a_preset_naming_its_file():
    from pathlib import Path

    from rclicks.plugins import load_registry

    presets = load_registry(Path(__file__).resolve().parents[3] / "registry.yaml").presets
    for v in ck.VARIANTS.values():
        p = presets["models"][v.name]
        assert p.plugin == v.family and p.options == {"variant": v.name}
        assert p.meta["checkpoint"] == v.file_name and p.meta["url"] == v.page
    models = listed("models", plugins="isegm")
    assert models["simpleclick-vit-h-sbd"]["status"] == "ok"
