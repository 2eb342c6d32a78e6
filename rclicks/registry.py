"""Resolve a user-facing name (preset, registered component or dataset path) to an object."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rclicks.plugins import Entry, PluginHost, UnknownNameError, get_host, unknown_message
from rclicks.presets import Preset, Registry, expand, load_registry


class ComponentError(RuntimeError):
    """A factory failed (bad option, missing package or file); the message says which."""


@dataclass
class Resolved:
    kind: str
    name: str  # what the user asked for
    entry: Entry
    options: dict[str, Any]
    preset: Preset | None = None


def parse_options(pairs: list[str] | None, what: str = "option") -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values are read as YAML scalars (``3`` -> 3, ``true`` -> True)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"{what} {pair!r} must look like KEY=VALUE")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError(f"{what} {pair!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) or value is None and raw.strip() not in ("null", "~"):
            value = raw
        out[key] = value
    return out


def options_for(name: str, options: dict[str, Any] | None, names: list[str]) -> dict[str, Any]:
    """The options of component ``name`` among several (``names``) given one option list:
    ``KEY`` applies to every component, ``NAME:KEY`` only to ``NAME`` (and wins over ``KEY``).
    A ``NAME:`` that names none of ``names`` is an error."""
    plain: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for key, value in (options or {}).items():
        target, sep, sub = key.partition(":")
        if not sep:
            plain[key] = value
            continue
        if target not in names:
            raise ValueError(
                f"option {key}={value!r} is scoped to {target!r}, which is not one of "
                f"{', '.join(names)}"
            )
        if target == name:
            scoped[sub] = value
    return {**plain, **scoped}


def resolve(
    kind: str,
    name: str,
    options: dict[str, Any] | None = None,
    registry: Registry | None = None,
    host: PluginHost | None = None,
) -> Resolved:
    host = host or get_host()
    registry = registry if registry is not None else load_registry()
    options = dict(options or {})
    preset = registry.presets[kind].get(name)
    if preset is not None:
        where = f"{preset.source}: {kind}.{name}"
        entry = _entry(host, kind, preset.plugin, registry, context=where)
        merged = {**expand(preset.options, where), **options}
        return Resolved(kind, name, entry, merged, preset)
    if kind == "datasets" and name not in host.entries(kind) and _looks_like_path(name):
        path = Path(name)
        if not path.is_dir():
            raise UnknownNameError(f"dataset folder {name} does not exist")
        entry = _entry(host, kind, "folder", registry)
        return Resolved(kind, name, entry, {"root": str(path), **options})
    return Resolved(kind, name, _entry(host, kind, name, registry), options)


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(".") or Path(name).is_dir()


def _entry(host: PluginHost, kind: str, name: str, registry: Registry, context: str = "") -> Entry:
    table = host.entries(kind)
    if name in table:
        return table[name]
    known = list(table) + list(registry.presets[kind])
    msg = unknown_message(kind, name, known)
    failed = host.failed()
    if failed:
        msg += ". Plugins that failed to load: " + ", ".join(
            f"{p.name} ({(p.error or '').splitlines()[0]})" for p in failed
        )
    raise UnknownNameError(f"{context}: {msg}" if context else msg)


def instantiate(resolved: Resolved, device: str | None = None) -> Any:
    """Call the factory with the options (plus ``device`` when the factory accepts it)."""
    opts = dict(resolved.options)
    if device is not None and "device" not in opts and _accepts(resolved.entry.factory, "device"):
        opts["device"] = device
    try:
        return resolved.entry.factory(**opts)
    except ComponentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's factory failing is the user's news
        e = resolved.entry
        raise ComponentError(
            f"{resolved.kind[:-1]} {resolved.name!r} (from {e.distribution or e.plugin}) could "
            f"not be built with options {opts}: {type(exc).__name__}: {exc}"
        ) from exc


def _accepts(fn: Any, param: str) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return param in sig.parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()
    )


def build(
    kind: str,
    name: str,
    options: dict[str, Any] | None = None,
    registry: Registry | None = None,
    host: PluginHost | None = None,
    device: str | None = None,
) -> Any:
    return instantiate(resolve(kind, name, options, registry, host), device)
