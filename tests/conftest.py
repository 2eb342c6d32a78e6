"""Tests never load whatever plugins happen to be installed: only the built-ins, unless a
test asks for a plugin by name through RCLICKS_LOAD_PLUGINS."""

from __future__ import annotations

import os

import pytest

os.environ["RCLICKS_LOAD_PLUGINS"] = ""


@pytest.fixture(autouse=True)
def _fresh_host(monkeypatch):
    from rclicks.plugins import reset_host

    monkeypatch.setenv("RCLICKS_LOAD_PLUGINS", "")
    reset_host()
    yield
    reset_host()
