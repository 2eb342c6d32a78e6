"""Names to objects: a user-facing name (a preset of ``registry.yaml``, a registered
component, or a folder path for a dataset) resolved to its factory and options, and built."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclicks.errors import ComponentError, UnknownNameError
from rclicks.plugins.host import Entry, PluginHost, get_host, unknown_message
from rclicks.plugins.presets import Preset, Registry, expand, load_registry


@dataclass
class Resolved:
    kind: str
    name: str  # what the user asked for
    entry: Entry
    options: dict[str, Any]
    preset: Preset | None = None


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


def load_target(target: str) -> Any:
    """The object a ``"module:attr"`` (or ``"module:attr.sub"``) string names, imported now."""
    module, sep, attr = str(target).partition(":")
    if not (sep and module and attr):
        raise ComponentError(f"{target!r} is not a 'module:attr' import path")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ComponentError(f"{target}: cannot import {module} ({exc})") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ComponentError(f"{target}: {module} has no attribute {attr}") from None
    return obj


def factory_of(entry: Entry) -> Callable[..., Any]:
    """The entry's factory, its ``"module:attr"`` target imported when it is one."""
    factory = entry.factory
    return load_target(factory) if isinstance(factory, str) else factory


def instantiate(resolved: Resolved, device: str | None = None) -> Any:
    """Call the factory with the options (plus ``device`` when the factory accepts it)."""
    opts = dict(resolved.options)
    factory = factory_of(resolved.entry)
    if device is not None and "device" not in opts and accepts(factory, "device"):
        opts["device"] = device
    try:
        return factory(**opts)
    except ComponentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's factory failing is the user's news
        e = resolved.entry
        raise ComponentError(
            f"{resolved.kind[:-1]} {resolved.name!r} (from {e.distribution or e.plugin}) could "
            f"not be built with options {opts}: {type(exc).__name__}: {exc}"
        ) from exc


def accepts(fn: Any, param: str) -> bool:
    """Does ``fn`` take a keyword argument ``param`` (by name or through ``**kwargs``)?"""
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
