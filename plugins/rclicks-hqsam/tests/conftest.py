import os

import pytest

# The tests use a tiny model: one thread is as fast and does not thrash on a busy machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the sha256 cache and RCLICKS_CHECKPOINTS of the user out of the tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("RCLICKS_CHECKPOINTS", raising=False)


@pytest.fixture(scope="session")
def tiny():
    """A tiny random-weight HQ-SAM (256 px input, 2 ViT blocks of width 64), deterministic."""
    import torch

    from rclicks_hqsam import make_hq_sam

    torch.set_num_threads(1)
    return make_hq_sam(variant="vit_b", random_weights=True, device="cpu")
