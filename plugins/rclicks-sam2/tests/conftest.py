import pytest


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny random-weight SAM 2.1 (256-pixel input), built once for the session."""
    from rclicks_sam2 import create_model

    return create_model(variant="sam2.1-hiera-t", random_weights=True, device="cpu")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Keep the sha256 cache of the tests out of the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
