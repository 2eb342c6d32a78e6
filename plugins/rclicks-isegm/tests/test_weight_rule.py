"""The weight rule rebuilds the reference tensors bit for bit (sum and sha256 of every key)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from fixture_weights import FAMILIES, FIXTURES, fill, read_keys

pytestmark = pytest.mark.skipif(
    FIXTURES is None, reason="../shared/fixtures/isegm is not beside this clone (CI has it)"
)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_tensor_equals_the_reference(family):
    rows = read_keys(FIXTURES / "keys" / f"{family}.tsv")
    weights = fill(rows, family)
    assert list(weights) == [r["key"] for r in rows]
    for r in rows:
        t = weights[r["key"]]
        assert tuple(t.shape) == r["shape"] and str(t.dtype) == f"torch.{r['dtype']}", r["key"]
        digest = hashlib.sha256(np.ascontiguousarray(t.numpy()).tobytes()).hexdigest()[:16]
        assert digest == r["sha256_16"], r["key"]
        assert float(t.double().sum()) == pytest.approx(float(r["sum"]), rel=1e-9, abs=1e-9)
