"""The deterministic weight rule of ``../shared/fixtures/isegm/README.md``: a ``state_dict``
rebuilt from a key list (``keys/*.tsv``), one seeded draw per key, so a network can be compared
with the reference outputs computed with the same weights. Needs only torch."""

from __future__ import annotations

import math
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
FIXTURES = next(
    (
        p / "shared" / "fixtures" / "isegm"
        for p in HERE.parents
        if (p / "shared" / "fixtures" / "isegm" / "README.md").is_file()
    ),
    None,
)

#: the family constants: GAIN, COORD_GAIN, CLS_GAIN, POS_STD and the public seed BASE
FAMILIES = {
    "ritm_hrnet18": {"base": 1000, "gain": 0.85, "coord_gain": 30.0},
    "simpleclick_vit_base": {
        "base": 1001,
        "gain": 1.0,
        "coord_gain": 20.0,
        "cls_gain": 8.0,
        "pos_std": 0.5,
    },
}


def read_keys(path: Path) -> list[dict]:
    """The rows of a keys tsv: index, key, shape (tuple), dtype, kind, and when present the
    seed, float64 sum and sha256_16 of the reference tensor."""
    rows, header = [], None
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells))
        shape = row["shape"]
        row["shape"] = () if shape == "scalar" else tuple(int(s) for s in shape.split("x"))
        row["index"] = int(row["index"])
        rows.append(row)
    return rows


def _fan_in(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def fill(rows: list[dict], family: str) -> dict[str, torch.Tensor]:
    """The state_dict of the rule for ``family`` (a key of :data:`FAMILIES`)."""
    c = FAMILIES[family]
    out: dict[str, torch.Tensor] = {}
    for row in rows:
        shape, kind = row["shape"], row["kind"]
        if kind == "running_mean":
            out[row["key"]] = torch.zeros(shape)
            continue
        if kind == "running_var":
            out[row["key"]] = torch.ones(shape)
            continue
        if kind == "num_batches_tracked":
            out[row["key"]] = torch.tensor(0, dtype=torch.int64)
            continue
        g = torch.Generator().manual_seed(c["base"] + row["index"])
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if kind == "weight":
            t = (c["gain"] / math.sqrt(_fan_in(shape))) * z
        elif kind == "tconv_weight":
            t = (c["gain"] / math.sqrt(shape[0])) * z
        elif kind == "coord_weight":
            t = (c["gain"] / math.sqrt(_fan_in(shape))) * z
            t[:, 1:] = t[:, 1:] * c["coord_gain"]
        elif kind == "cls_weight":
            t = (c["cls_gain"] / math.sqrt(_fan_in(shape))) * z
        elif kind in ("bias", "norm_bias", "cls_token"):
            t = 0.02 * z
        elif kind in ("norm_weight", "scale"):
            t = 1.0 + 0.02 * z
        elif kind == "pos_embed":
            t = c["pos_std"] * z
        else:
            raise ValueError(f"{row['key']}: unknown kind {kind!r}")
        out[row["key"]] = t
    return out


def fixture_state_dict(family: str) -> dict[str, torch.Tensor]:
    """The rule's weights for ``family`` from ``keys/<family>.tsv``."""
    if FIXTURES is None:
        raise FileNotFoundError("../shared/fixtures/isegm is not beside this clone")
    return fill(read_keys(FIXTURES / "keys" / f"{family}.tsv"), family)
