"""pytest plugin (entry point ``pytest11``): fixtures for testing rclicks plugins."""

from __future__ import annotations

import pytest

from rclicks.testing import tiny_dataset, write_folder


@pytest.fixture
def rclicks_tiny_dataset():
    """Two 48×64 synthetic images with two instances each."""
    return tiny_dataset()


@pytest.fixture
def rclicks_tiny_folder(tmp_path, rclicks_tiny_dataset):
    """The tiny dataset written in the generic folder layout; returns its root."""
    return write_folder(tmp_path / "tiny", rclicks_tiny_dataset)


@pytest.fixture
def rclicks_host():
    """A fresh plugin host (built-ins + the entry points allowed by RCLICKS_LOAD_PLUGINS),
    installed as the process-wide one for the test and dropped afterwards."""
    from rclicks.plugins import reset_host

    host = reset_host()
    yield host
    reset_host()
