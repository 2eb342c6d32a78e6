"""``registry.yaml``: named presets (name -> plugin + options) and named benchmarks.

Strings may use ``${VAR}`` or ``${VAR:-default}``; they are expanded when a preset is used,
so a preset that needs an unset variable only fails when somebody asks for it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rclicks.errors import PresetError

REGISTRY_ENV = "RCLICKS_REGISTRY"
SECTIONS = ("models", "simulators", "datasets")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Preset:
    kind: str
    name: str
    plugin: str
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass
class Benchmark:
    name: str
    datasets: list[str]
    simulators: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass
class Registry:
    presets: dict[str, dict[str, Preset]] = field(default_factory=lambda: {k: {} for k in SECTIONS})
    benchmarks: dict[str, Benchmark] = field(default_factory=dict)
    path: Path | None = None


def default_registry_path() -> Path | None:
    """``$RCLICKS_REGISTRY``, else ``./registry.yaml``, else the one beside the package."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env)
    cwd = Path.cwd() / "registry.yaml"
    if cwd.is_file():
        return cwd
    beside = Path(__file__).resolve().parents[2] / "registry.yaml"
    return beside if beside.is_file() else None


def expand(value: Any, where: str) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string inside ``value``."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            got = os.environ.get(var)
            if got is None or (got == "" and default is not None):
                if default is None:
                    raise PresetError(f"{where}: environment variable ${{{var}}} is not set")
                return default
            return got

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, where) for v in value]
    return value


def load_registry(path: str | Path | None = None) -> Registry:
    """Read a registry file (``None``: the default location, or an empty registry)."""
    p = Path(path) if path is not None else default_registry_path()
    reg = Registry(path=p)
    if p is None:
        return reg
    if not p.is_file():
        raise PresetError(f"{p}: registry file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PresetError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PresetError(f"{p}: the top level must be a mapping")
    unknown = set(data) - set(SECTIONS) - {"benchmarks", "version"}
    if unknown:
        raise PresetError(f"{p}: unknown section(s) {sorted(unknown)}")
    for kind in SECTIONS:
        section = data.get(kind) or {}
        if not isinstance(section, dict):
            raise PresetError(f"{p}: section {kind!r} must be a mapping of name -> preset")
        for name, body in section.items():
            where = f"{p}: {kind}.{name}"
            if not isinstance(body, dict) or not isinstance(body.get("plugin"), str):
                raise PresetError(f"{where}: a preset needs 'plugin: <registered name>'")
            options = body.get("options") or {}
            if not isinstance(options, dict):
                raise PresetError(f"{where}: 'options' must be a mapping")
            meta = {k: v for k, v in body.items() if k not in ("plugin", "options")}
            reg.presets[kind][str(name)] = Preset(
                kind, str(name), body["plugin"], options, meta, str(p)
            )
    for name, body in (data.get("benchmarks") or {}).items():
        where = f"{p}: benchmarks.{name}"
        if not isinstance(body, dict):
            raise PresetError(f"{where}: must be a mapping")
        ds, sims = body.get("datasets"), body.get("simulators")
        if not isinstance(ds, list) or not ds or not isinstance(sims, list) or not sims:
            raise PresetError(f"{where}: needs non-empty 'datasets' and 'simulators' lists")
        settings = {k: v for k, v in body.items() if k not in ("datasets", "simulators")}
        reg.benchmarks[str(name)] = Benchmark(
            str(name), [str(d) for d in ds], [str(s) for s in sims], settings, str(p)
        )
    return reg
