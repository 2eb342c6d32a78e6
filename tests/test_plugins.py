from __future__ import annotations

from pathlib import Path

import pytest

import rclicks
from rclicks.errors import PresetError, UnknownNameError
from rclicks.options import parse_options
from rclicks.plugins import build, hookspecs, load_registry, reset_host, resolve
from rclicks.plugins.presets import expand

ROOT = Path(__file__).resolve().parent.parent


def test_builtins_register_through_the_hooks():
    host = reset_host()
    assert {"baseline", "uniform", "distance"} <= set(host.entries("simulators"))
    assert {"folder", "demo"} <= set(host.entries("datasets"))
    assert "geodesic" in host.entries("models")
    builtins = [p for p in host.plugins.values() if p.status == "builtin"]
    assert [p.name for p in builtins] == ["rclicks.plugins.builtins"]
    assert builtins[0].hooks == [
        "rclicks_register_datasets",
        "rclicks_register_models",
        "rclicks_register_simulators",
    ]
    # built-ins are "module:attr" targets: registering them imports nothing
    assert host.entries("datasets")["GrabCut"].factory == "rclicks.datasets.ritm:GrabCutDataset"
    # RCLICKS_LOAD_PLUGINS="" (conftest): installed entry points are listed, not loaded
    assert all(p.status == "disabled" for p in host.plugins.values() if p not in builtins)


def test_unknown_name_lists_what_is_available():
    host = reset_host()
    with pytest.raises(UnknownNameError) as err:
        host.get("simulators", "unifrom")
    msg = str(err.value)
    assert "Did you mean 'uniform'" in msg and "baseline" in msg


def test_registered_plugin_and_conflicts_are_reported():
    class Plug:
        @rclicks.hookimpl
        def rclicks_register_simulators(self, register):
            register("mine", lambda: "sim", description="x")
            register("distance", lambda: "dup")  # already a built-in: ignored, reported

    host = reset_host()
    host.register_plugin(Plug(), "plug")
    assert host.get("simulators", "mine").factory() == "sim"
    assert host.get("simulators", "distance").plugin == "rclicks.plugins.builtins"
    assert any("'distance'" in c and "plug" in c for c in host.conflicts)


def test_a_hook_that_raises_marks_its_plugin_failed_but_others_work():
    class Bad:
        @rclicks.hookimpl
        def rclicks_register_models(self, register):
            raise RuntimeError("kaputt")

    host = reset_host()
    host.register_plugin(Bad(), "bad")
    assert "geodesic" in host.entries("models")
    assert [p.name for p in host.failed()] == ["bad"]


def test_options_are_parsed_as_yaml_scalars():
    assert parse_options(["a=3", "b=true", "c=x=y", "d=0.5", "e="]) == {
        "a": 3,
        "b": True,
        "c": "x=y",
        "d": 0.5,
        "e": "",
    }
    with pytest.raises(ValueError):
        parse_options(["novalue"])


def test_env_expansion(monkeypatch):
    monkeypatch.setenv("RCK", "/ckpt")
    monkeypatch.delenv("NOPE", raising=False)
    assert expand({"p": "${RCK}/sam.pth", "q": ["${NOPE:-dflt}"]}, "w") == {
        "p": "/ckpt/sam.pth",
        "q": ["dflt"],
    }
    with pytest.raises(PresetError, match=r"\$\{NOPE\}"):
        expand("${NOPE}", "where")


def test_repo_registry_presets_resolve_and_build():
    reg = load_registry(ROOT / "registry.yaml")
    r = resolve("simulators", "distance-squared", {}, reg)
    assert r.entry.name == "distance" and r.options == {"power": 2.0}
    sim = build("simulators", "distance-squared", {"power": 3}, reg)
    assert sim.power == 3.0  # command-line options override the preset's
    assert set(reg.benchmarks) >= {"demo-quick"}


def test_bad_registry_files_are_named(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("models:\n  x: {options: {}}\n")
    with pytest.raises(PresetError, match="needs 'plugin"):
        load_registry(bad)
    bad.write_text("models: [1, 2]\n")
    with pytest.raises(PresetError, match=str(bad)):
        load_registry(bad)
    with pytest.raises(PresetError, match="not found"):
        load_registry(tmp_path / "missing.yaml")


def test_every_hook_is_documented():
    text = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith("rclicks_")]
    assert len(hooks) == 3
    for name in hooks:
        assert name in text, f"hook {name} is not documented in docs/plugins.md"


def test_protocols_are_runtime_checkable():
    from rclicks.models.geodesic import make_model
    from rclicks.simulators import DistanceSimulator

    assert isinstance(make_model(), rclicks.ISModel)
    assert isinstance(DistanceSimulator(), rclicks.ClickSimulator)
    assert isinstance(build("datasets", "demo"), rclicks.Dataset)
