"""The plugin host: pluggy, entry-point loading and the three component tables.

Plugins implement any of the hooks of :mod:`rclicks.plugins.hookspecs`, each receiving a
``register(name, factory, **meta)`` callback. Built-ins register through the very same hooks.
Entry points of the group ``rclicks`` are loaded lazily, one at a time; one that fails is
reported and skipped. ``RCLICKS_LOAD_PLUGINS`` (comma-separated entry-point names; empty =
none) selects which third-party plugins load.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

import rclicks.plugins.hookspecs as hookspecs
from rclicks._version import __version__
from rclicks.errors import UnknownNameError
from rclicks.plugins.hookspecs import PROJECT

ENTRY_POINT_GROUP = "rclicks"
LOAD_ENV = "RCLICKS_LOAD_PLUGINS"
KINDS = ("models", "simulators", "datasets")
BUILTIN_MODULES = ("rclicks.plugins.builtins",)


@dataclass
class Entry:
    """One registered component: its ``factory`` is a callable or a ``"module:attr"``
    target (see :func:`rclicks.plugins.names.load_target`)."""

    kind: str
    name: str
    factory: Callable[..., Any] | str
    plugin: str
    distribution: str | None = None
    version: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    status: str  # "loaded" | "failed" | "builtin" | "registered" | "disabled"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


def _dist_of(ep: md.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


class PluginHost:
    """Holds the plugin manager, what loaded or failed, and the three registries."""

    def __init__(self, load_entry_points: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._sources: dict[int, tuple[str, str | None, str | None]] = {}
        self._load_entry_points = load_entry_points
        self._entries: dict[str, dict[str, Entry]] | None = None
        self.conflicts: list[str] = []

    # -- loading -------------------------------------------------------------------------
    def load_builtins(self) -> None:
        for modname in BUILTIN_MODULES:
            mod = importlib.import_module(modname)
            self._add(mod, modname, "rclicks", __version__, "builtin")

    def load_entry_points(self) -> None:
        selected = os.environ.get(LOAD_ENV)
        wanted = None if selected is None else {s.strip() for s in selected.split(",") if s.strip()}
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist, version = _dist_of(ep)
            if wanted is not None and ep.name not in wanted:
                self.plugins[ep.name] = PluginInfo(ep.name, dist, version, "disabled")
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error is reported, not raised
                self.plugins[ep.name] = PluginInfo(
                    ep.name, dist, version, "failed", f"{type(exc).__name__}: {exc}"
                )
                continue
            try:
                self._add(obj, ep.name, dist, version, "loaded")
            except Exception as exc:  # noqa: BLE001 - e.g. a hook with a wrong signature
                self.plugins[ep.name] = PluginInfo(
                    ep.name, dist, version, "failed", f"{type(exc).__name__}: {exc}"
                )

    def register_plugin(self, obj: Any, name: str, distribution: str | None = None) -> None:
        """Register a plugin object directly (tests, notebooks)."""
        self._add(obj, name, distribution, None, "registered")
        self._entries = None

    def _add(self, obj: Any, name: str, dist: str | None, version: str | None, status: str):
        self.pm.register(obj, name=name)
        self._sources[id(obj)] = (name, dist, version)
        hooks = [h.name for h in self.pm.get_hookcallers(obj) or []]
        self.plugins[name] = PluginInfo(name, dist, version, status, hooks=sorted(hooks))

    def ensure_loaded(self) -> None:
        if self._entries is not None:
            return
        if not any(p.status == "builtin" for p in self.plugins.values()):
            self.load_builtins()
        load_eps = self._load_entry_points
        if load_eps is None:
            load_eps = True
        if load_eps and not any(
            p.status in ("loaded", "failed", "disabled") for p in self.plugins.values()
        ):
            self.load_entry_points()
        self._collect()

    def _collect(self) -> None:
        entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        for kind in KINDS:
            hook = getattr(self.pm.hook, f"rclicks_register_{kind}")
            # built-ins first: a third-party name clash never shadows a built-in
            impls = sorted(
                hook.get_hookimpls(),
                key=lambda i: i.plugin_name not in BUILTIN_MODULES,
            )
            for impl in impls:
                pname, dist, version = self._sources.get(
                    id(impl.plugin), (impl.plugin_name, None, None)
                )

                def register(
                    name: str,
                    factory: Callable[..., Any],
                    _kind: str = kind,
                    _p: tuple = (pname, dist, version),
                    **meta: Any,
                ) -> None:
                    if not isinstance(name, str) or not name:
                        raise ValueError(f"plugin {_p[0]!r}: a {_kind[:-1]} name must be a string")
                    if not (callable(factory) or _is_target(factory)):
                        raise TypeError(
                            f"plugin {_p[0]!r}: factory for {name!r} is neither callable nor "
                            "a 'module:attr' string"
                        )
                    table = entries[_kind]
                    if name in table:
                        self.conflicts.append(
                            f"{_kind[:-1]} {name!r} from plugin {_p[0]!r} ignored: "
                            f"already registered by {table[name].plugin!r}"
                        )
                        return
                    table[name] = Entry(_kind, name, factory, _p[0], _p[1], _p[2], dict(meta))

                try:
                    impl.function(register)
                except Exception as exc:  # noqa: BLE001 - a broken hook must not stop the rest
                    info = self.plugins.get(pname)
                    if info is not None:
                        info.status = "failed"
                        info.error = f"{type(exc).__name__}: {exc}"
                        info.error += "\n" + traceback.format_exc(limit=2)
        self._entries = entries

    # -- queries -------------------------------------------------------------------------
    def entries(self, kind: str) -> dict[str, Entry]:
        self.ensure_loaded()
        assert self._entries is not None
        return self._entries[kind]

    def get(self, kind: str, name: str) -> Entry:
        table = self.entries(kind)
        if name in table:
            return table[name]
        raise UnknownNameError(unknown_message(kind, name, list(table)))

    def failed(self) -> list[PluginInfo]:
        self.ensure_loaded()
        return [p for p in self.plugins.values() if p.status == "failed"]


def unknown_message(kind: str, name: str, available: list[str]) -> str:
    singular = kind[:-1]
    close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
    msg = f"unknown {singular} {name!r}."
    if close:
        msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    msg += f" Available {kind}: " + (", ".join(sorted(available)) or "(none)")
    return msg


def _is_target(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    module, sep, attr = value.partition(":")
    return bool(sep and module and attr)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host (created and loaded lazily on first use)."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def reset_host(host: PluginHost | None = None) -> PluginHost:
    """Replace the process-wide host (tests use this to start from a clean slate)."""
    global _HOST
    _HOST = host if host is not None else PluginHost()
    return _HOST
