"""Shared test helpers: fake installed distributions with real entry points, CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fake_distribution(root: Path, dist: str, entry_points: dict[str, str]) -> Path:
    """Make ``root`` a site dir holding ``dist`` with entry points in the ``rclicks`` group;
    the modules come from tests/testplugins."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = ["[rclicks]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


def run_cli(
    args: list[str],
    env_extra: dict[str, str] | None = None,
    site: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    env = {**os.environ, "RCLICKS_LOAD_PLUGINS": ""}
    env.pop("COLUMNS", None)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE / "testplugins")])
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "rclicks.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def host_with(kind: str, name: str, factory, plugin: str = "test-plugin"):
    """A fresh process-wide plugin host with one more component, registered through a real
    ``rclicks_register_<kind>`` hook (``kind``: models, simulators or datasets)."""
    import types

    import rclicks
    from rclicks.plugins import reset_host

    @rclicks.hookimpl
    def hook(register):
        register(name, factory)

    host = reset_host()
    host.register_plugin(types.SimpleNamespace(**{f"rclicks_register_{kind}": hook}), plugin)
    return host
