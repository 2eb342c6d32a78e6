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
    """A small random-weight MobileSAM (1024 px, narrow one-block TinyViT stages), deterministic."""
    import torch

    from rclicks_mobilesam import make_mobile_sam

    torch.set_num_threads(1)
    return make_mobile_sam(random_weights=True, device="cpu")
