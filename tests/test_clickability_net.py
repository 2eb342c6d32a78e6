"""Tests of ``rclicks.nets.segnext.ClickabilityNet`` against the shared reference fixtures.

The fixtures (``tests/fixtures/clickability``, copied from the team's shared folder) were made
with the reference RClicks ``SegNeXtSaliency(arch_type='b')`` (mmseg 1.2.2) on deterministic
weights; ``keys.tsv`` documents every ``state_dict`` entry and the weight-filling rule.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rclicks.nets.segnext import ClickabilityNet

N_KEYS = 862
N_PARAMS = 27_604_290
WEIGHT_BASE = 1234


def _find_fixture_dir() -> Path:
    """``tests/fixtures/clickability`` (a copy of the shared fixtures, so the repository is
    self-contained), else ``shared/fixtures/clickability`` beside the clone."""
    here = Path(__file__).resolve()
    candidates = [here.parent / "fixtures" / "clickability"]
    candidates += [p / "shared" / "fixtures" / "clickability" for p in here.parents]
    for cand in candidates:
        if (cand / "keys.tsv").is_file() and (cand / "main_case.npz").is_file():
            return cand
    raise FileNotFoundError(
        "clickability fixtures not found (keys.tsv, main_case.npz); looked in "
        + ", ".join(str(c) for c in candidates)
    )


FIXTURES = _find_fixture_dir()


def _read_keys() -> list[dict[str, str]]:
    lines = [
        ln.rstrip("\n")
        for ln in (FIXTURES / "keys.tsv").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


def _shape_str(t: torch.Tensor) -> str:
    return "scalar" if t.dim() == 0 else "x".join(str(s) for s in t.shape)


def _fill(row: dict[str, str], ref: torch.Tensor, base: int) -> torch.Tensor:
    """The README's weight-filling rule for one ``state_dict`` entry."""
    kind = row["kind"]
    shape = tuple(ref.shape)
    g = torch.Generator().manual_seed(base + int(row["index"]))
    if kind in ("weight", "bias", "norm_bias"):
        return 0.02 * torch.randn(shape, generator=g)
    if kind in ("norm_weight", "layer_scale", "scale"):
        return 1.0 + 0.02 * torch.randn(shape, generator=g)
    if kind == "running_mean":
        return torch.zeros(shape)
    if kind == "running_var":
        return torch.ones(shape)
    if kind == "num_batches_tracked":
        return torch.zeros((), dtype=torch.int64)
    if kind == "nmf_bases":
        return torch.nn.functional.normalize(torch.rand(shape, generator=g), dim=1)
    raise AssertionError(f"unknown kind {kind!r} for {row['key']}")


def _sha16(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return _read_keys()


@pytest.fixture(scope="module")
def net() -> ClickabilityNet:
    return ClickabilityNet()


def test_state_dict_layout_matches_keys_tsv(rows, net):
    sd = net.state_dict()
    assert len(rows) == N_KEYS
    assert list(sd) == [r["key"] for r in rows]
    for r, (key, value) in zip(rows, sd.items(), strict=True):
        assert _shape_str(value) == r["shape"], key
        assert str(value.dtype).removeprefix("torch.") == r["dtype"], key
        assert value.numel() == int(r["numel"]), key
    params = {k for k, _ in net.named_parameters()}
    for r in rows:
        assert (r["key"] in params) == (r["param_or_buffer"] == "param"), r["key"]


def test_parameter_count(net):
    assert sum(p.numel() for p in net.parameters()) == N_PARAMS


def test_main_case_matches_reference(rows, net):
    sd = net.state_dict()
    weights = {}
    for r in rows:
        t = _fill(r, sd[r["key"]], WEIGHT_BASE)
        assert _sha16(t) == r["sha256_16"], r["key"]
        assert math.isclose(
            t.sum(dtype=torch.float64).item(), float(r["sum"]), rel_tol=1e-6, abs_tol=1e-6
        )
        weights[r["key"]] = t
    net.load_state_dict(weights, strict=True)
    net.eval()

    case = np.load(FIXTURES / "main_case.npz")
    image = torch.from_numpy(case["image_f16"].astype(np.float32))
    coord = torch.from_numpy(case["coord_features"].astype(np.float32))
    with torch.no_grad():
        out, logits = net.forward_with_logits(image, coord)

    expected = case["output"]
    assert out.shape == expected.shape == (1, 1, 416, 416)
    out_np = out.numpy()
    assert np.abs(out_np - expected).max() < 1e-4
    assert out_np.min() == pytest.approx(0.0, abs=1e-6)
    assert out_np.max() == pytest.approx(1.0, abs=1e-6)
    assert float(out_np.astype(np.float64).mean()) == pytest.approx(
        float(case["output_mean"]), abs=1e-5
    )

    ref_logits = case["logits_lowres"]
    assert logits.shape == ref_logits.shape == (1, 1, 104, 104)
    span = float(ref_logits.max() - ref_logits.min())
    assert np.abs(logits.numpy() - ref_logits).max() < 1e-4 * span


def test_batch_is_min_max_normalised_per_sample():
    torch.manual_seed(0)
    model = ClickabilityNet().eval()
    image = torch.randn(2, 3, 64, 96)
    coord = (torch.rand(2, 2, 64, 96) > 0.5).float()
    with torch.no_grad():
        both = model(image, coord)
        first = model(image[:1], coord[:1])
        logits = model.forward_logits(image, coord)
    assert both.shape == (2, 1, 64, 96)
    assert logits.shape == (2, 1, 16, 24)
    flat = both.flatten(1)
    assert torch.allclose(flat.min(dim=1).values, torch.zeros(2), atol=1e-6)
    assert torch.allclose(flat.max(dim=1).values, torch.ones(2), atol=1e-6)
    assert torch.allclose(both[:1], first, atol=1e-5)
