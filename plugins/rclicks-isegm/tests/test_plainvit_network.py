"""SimpleClick ``PlainVitModel`` (``rclicks_isegm.plainvit``) against the isegm fixtures
(``../shared/fixtures/isegm``): checkpoint keys of ViT-B/L/H 448, parameter counts, and the ViT-B
``main_case`` forward with the deterministic fixture weights."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

try:
    import rclicks_isegm  # noqa: F401
except ImportError:  # the plugin is not pip-installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixture_weights import FIXTURES, fixture_state_dict, read_keys

from rclicks_isegm.maps import disk_maps
from rclicks_isegm.plainvit import (
    CONFIGS,
    PlainVitModel,
    build_plainvit,
    global_block_period,
    window_layout,
)

needs_fixtures = pytest.mark.skipif(
    FIXTURES is None,
    reason="../shared/fixtures/isegm (the isegm reference fixtures) is not present",
)

#: parameter totals of the README's "Totals" table (== the tsv comment lines)
TOTAL_PARAMETERS = {
    "simpleclick_vit_base": 98_025_513,
    "simpleclick_vit_large": 324_206_377,
    "simpleclick_vit_huge": 662_184_793,
}

#: README "Suggested comparison tolerances": atol 5e-4 on logits (observed implementation noise
#: <= 6.2e-5; GELU-tanh, the smallest listed real bug, moves the ViT logits by 2.2e-3) and
#: atol 1e-4 on probabilities (sigmoid).
LOGIT_ATOL = 5e-4
PROB_ATOL = 1e-4


def _assert_matches_keys(model: torch.nn.Module, name: str) -> list[dict]:
    rows = read_keys(FIXTURES / "keys" / f"{name}.tsv")
    state = model.state_dict()
    assert list(state) == [row["key"] for row in rows]
    for row in rows:
        tensor = state[row["key"]]
        assert tuple(tensor.shape) == row["shape"], row["key"]
        assert str(tensor.dtype).removeprefix("torch.") == row["dtype"], row["key"]
    return rows


def _param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@needs_fixtures
def test_vit_base_keys_weights_and_main_case_forward():
    name = "simpleclick_vit_base"
    # Built on the meta device and filled by assignment (saves the 98M-parameter default init).
    with torch.device("meta"):
        model = build_plainvit(name)
    _assert_matches_keys(model, name)
    model.load_state_dict(fixture_state_dict(name), strict=True, assign=True)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert not model.training

    case = np.load(FIXTURES / name / "main_case.npz")
    # README "Forward cases": cat(image_u8 / 255, prev_mask_u8 / 255) in float32.
    image = torch.from_numpy(case["image_u8"]).to(torch.float32) / 255
    prev = torch.from_numpy(case["prev_mask_u8"]).to(torch.float32) / 255
    net_input = torch.cat([image, prev], dim=1)
    points = torch.from_numpy(case["points"])
    assert net_input.shape == (1, 4, 448, 448) and points.dtype == torch.float64

    with torch.no_grad():
        out = model(net_input, points)
    for key, ref_key, size in (
        ("instances", "instances", 448),
        ("instances_lowres", "logits_lowres", 112),
    ):
        got, ref = out[key], torch.from_numpy(case[ref_key])
        assert got.shape == ref.shape == (1, 1, size, size) and got.dtype == torch.float32
        torch.testing.assert_close(got, ref, rtol=0, atol=LOGIT_ATOL)
        torch.testing.assert_close(got.sigmoid(), ref.sigmoid(), rtol=0, atol=PROB_ATOL)
    assert int(out["instances"].argmax()) == int(case["instances_argmax"])
    assert int(out["instances"].argmin()) == int(case["instances_argmin"])


@needs_fixtures
@pytest.mark.parametrize("name", ["simpleclick_vit_large", "simpleclick_vit_huge"])
def test_vit_large_huge_checkpoint_keys(name):
    with torch.device("meta"):
        model = PlainVitModel(**copy.deepcopy(CONFIGS[name]))
    rows = _assert_matches_keys(model, name)
    # strict loading of a checkpoint-shaped state dict (meta tensors: no memory, no copy)
    state = {row["key"]: torch.empty(row["shape"], device="meta") for row in rows}
    model.load_state_dict(state, strict=True, assign=True)


@pytest.mark.parametrize("name", sorted(TOTAL_PARAMETERS))
def test_parameter_count(name):
    with torch.device("meta"):
        model = PlainVitModel(**copy.deepcopy(CONFIGS[name]))
    assert _param_count(model) == TOTAL_PARAMETERS[name]


def test_attention_schedule_rule():
    # README "Architecture" 5: windows of 14x14 tokens on ViT-B/L's 28x28 grid (2x2 windows),
    # 16x16 tokens on ViT-H's 32x32 grid; global blocks every 6th (B, L) / 8th (H), 1-based.
    assert window_layout((28, 28), (16, 16)) == (2, 2)
    assert window_layout((32, 32), (14, 14)) == (2, 2)
    assert [global_block_period(d) for d in (12, 24, 32)] == [6, 6, 8]
    expected_global = {
        "simpleclick_vit_base": [6, 12],
        "simpleclick_vit_large": [6, 12, 18, 24],
        "simpleclick_vit_huge": [8, 16, 24, 32],
    }
    for name, one_based in expected_global.items():
        with torch.device("meta"):
            backbone = PlainVitModel(**copy.deepcopy(CONFIGS[name])).backbone
        got = [i + 1 for i in range(len(backbone.blocks)) if backbone.is_global(i)]
        assert got == one_based, name


def _tiny_config() -> dict:
    """A small 224x224 model (one global block of four; a 14x14 grid is a single window)."""
    config = copy.deepcopy(CONFIGS["simpleclick_vit_base"])
    config["backbone_params"].update(img_size=(224, 224), embed_dim=32, depth=4, num_heads=2)
    config["neck_params"] = dict(in_dim=32, out_dims=[8, 16, 24, 32])
    config["head_params"].update(in_channels=[8, 16, 24, 32], channels=16)
    return config


def test_forward_equals_forward_maps_and_is_differentiable():
    torch.manual_seed(0)
    model = PlainVitModel(**_tiny_config()).eval()
    image = torch.rand(2, 4, 224, 224)
    points = torch.tensor(
        [
            [[50.0, 60.0, 0.0], [-1.0, -1.0, -1.0], [120.5, 30.25, 1.0], [-1.0, -1.0, -1.0]],
            [[10.0, 200.0, 0.0], [100.0, 100.0, 2.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]],
        ],
        dtype=torch.float64,
    )
    with torch.no_grad():
        out = model(image, points)
    assert out["instances"].shape == (2, 1, 224, 224)
    assert out["instances_lowres"].shape == (2, 1, 56, 56)

    maps = torch.cat([image[:, 3:], disk_maps(points, 224, 224, radius=5.0)], dim=1)
    maps.requires_grad_(True)
    via_maps = model.forward_maps(image, maps)
    torch.testing.assert_close(via_maps["instances"], out["instances"], rtol=0, atol=0)
    via_maps["instances"].sum().backward()
    assert maps.grad is not None and maps.grad[:, 1:].abs().sum() > 0

    with pytest.raises(ValueError, match="input size"):
        model(image[:, :, :112, :112], points)


def _with(path: tuple[str, ...], value) -> dict:
    config = copy.deepcopy(_tiny_config())
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "option"),
    [
        (("random_split",), True, "random_split"),
        (("use_disks",), False, "use_disks"),
        (("with_prev_mask",), False, "with_prev_mask"),
        (("head_params", "upsample"), "x2", "upsample"),
        (("head_params", "upsample"), "x4", "upsample"),
        (("head_params", "norm_cfg"), {"type": "BN"}, "norm_cfg"),
        (("head_params", "some_new_option"), 1, "some_new_option"),
        (("backbone_params", "depth"), 6, "depth"),
        (("backbone_params", "img_size"), (160, 160), "img_size"),
    ],
)
def test_unsupported_options_raise(path, value, option):
    with pytest.raises(ValueError, match=option):
        PlainVitModel(**_with(path, value))


def test_training_only_head_entries_are_ignored():
    config = _tiny_config()
    config["head_params"]["loss_decode"] = object()  # a CrossEntropyLoss() in the official configs
    model = PlainVitModel(**config)
    assert not any("loss" in key for key in model.state_dict())
