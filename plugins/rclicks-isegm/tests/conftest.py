import os
import sys
from pathlib import Path

import pytest

# One thread: as fast for these sizes, and no thrashing on a busy machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # fixture_weights, toy_network


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Keep the sha256 cache and RCLICKS_CHECKPOINTS of the user out of the tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("RCLICKS_CHECKPOINTS", raising=False)
