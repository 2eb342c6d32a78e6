"""Components given by name or as objects, the way every API function takes them.

A model, simulator or dataset is either a name (a preset of ``registry.yaml``, a registered
component, or — for datasets — a folder path), resolved through the plugin host to a factory
and options, or an object the caller built (an in-memory ``ISModel``, ``ClickSimulator`` or
``Dataset``). :class:`Component` holds either and knows how to build it, how to describe it in
``run.json`` and how to travel to a worker process.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rclicks.errors import OptionError, RunError
from rclicks.plugins.host import KINDS, PluginHost, get_host
from rclicks.plugins.names import Resolved, instantiate, resolve
from rclicks.plugins.presets import Registry, load_registry
from rclicks.protocols import ClickSimulator, Dataset, ISModel

PROTOCOL_OF = {"models": ISModel, "simulators": ClickSimulator, "datasets": Dataset}
WHAT = {"models": "model", "simulators": "simulator", "datasets": "dataset"}


def qualified_name(obj: Any) -> str:
    """``module.QualName`` of an object's class."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass
class Component:
    """One model, simulator or dataset of a run: ``resolved`` when given by name, ``obj``
    when given as an object. ``name`` is what rows and run.json call it."""

    kind: str
    name: str
    resolved: Resolved | None = None
    obj: Any = None

    @property
    def is_object(self) -> bool:
        return self.resolved is None

    def build(self, device: str | None = None) -> Any:
        """The object (built by its factory, with ``device`` for models and simulators whose
        factory takes one; an object given by the caller is returned as is)."""
        if self.resolved is None:
            return self.obj
        return instantiate(self.resolved, None if self.kind == "datasets" else device)

    def describe(self) -> dict[str, Any]:
        """This component's entry in run.json."""
        r = self.resolved
        if r is None:
            return {
                "name": self.name,
                "source": "object",
                "class": qualified_name(self.obj),
                "plugin": None,
                "provided_by": None,
                "distribution": None,
                "version": None,
                "options": {},
                "preset": False,
            }
        return {
            "name": self.name,
            "source": "registry",
            "plugin": r.entry.name,
            "provided_by": r.entry.plugin,
            "distribution": r.entry.distribution,
            "version": r.entry.version,
            "options": r.options,
            "preset": r.preset is not None,
        }

    def check_portable(self) -> None:
        """Fail clearly when this component cannot be sent to worker processes."""
        try:
            pickle.dumps(self)
        except Exception as exc:  # noqa: BLE001 - pickling fails in many ways
            what = WHAT[self.kind]
            if self.is_object:
                raise RunError(
                    f"workers > 1 sends the {what} object {self.name!r} "
                    f"({qualified_name(self.obj)}) to worker processes, but it does not pickle "
                    f"({type(exc).__name__}: {exc}). Define its class at the top level of an "
                    "importable module (not in a notebook cell or a function) and keep "
                    "unpicklable handles out of its attributes, or run with workers=1"
                ) from None
            raise RunError(
                f"workers > 1 rebuilds the {what} {self.name!r} in worker processes, but its "
                f"factory from plugin {self.resolved.entry.plugin!r} does not pickle "  # type: ignore[union-attr]
                f"({type(exc).__name__}: {exc}); register a module-level factory (or a "
                "'module:attr' string), or run with workers=1"
            ) from None


def component(
    kind: str,
    value: Any,
    options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
    host: PluginHost | None = None,
) -> Component:
    """A :class:`Component` of ``kind`` from a name (or path) or an object."""
    what = WHAT[kind]
    if isinstance(value, (str, os.PathLike)):
        name = os.fspath(value)
        return Component(kind, name, resolve(kind, name, dict(options or {}), registry, host))
    if options:
        raise OptionError(
            f"{what} options {sorted(options)} were given with a {what} object "
            f"({qualified_name(value)}); set them on the object itself"
        )
    proto = PROTOCOL_OF[kind]
    if not isinstance(value, proto):
        missing = [m for m in _members(proto) if not hasattr(value, m)]
        raise OptionError(
            f"{qualified_name(value)} is neither a {what} name nor an rclicks.{proto.__name__}"
            + (f" (it lacks {', '.join(missing)})" if missing else "")
        )
    name = getattr(value, "name", None)
    label = str(name) if isinstance(name, str) and name else type(value).__name__
    return Component(kind, label, None, value)


def _members(proto: type) -> list[str]:
    names = set(getattr(proto, "__annotations__", {}))
    names |= {k for k, v in vars(proto).items() if callable(v) and not k.startswith("_")}
    names |= {k for k in ("__len__", "__iter__") if k in vars(proto)}
    return sorted(names)


def build(
    kind: str,
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    registry: str | os.PathLike | Registry | None = None,
    device: str | None = None,
    host: PluginHost | None = None,
) -> Any:
    """Build the component ``name`` of ``kind`` (``"models"``, ``"simulators"`` or
    ``"datasets"``) with ``options``, as ``rclicks eval`` would: presets of ``registry``
    (a ``registry.yaml`` path; default: the usual lookup), registered names, and folder paths
    for datasets. ``device`` goes to factories that take one."""
    if kind not in KINDS:
        raise OptionError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    return component(kind, name, options, reg, host).build(device)


def list_components(
    registry: str | os.PathLike | Registry | None = None, host: PluginHost | None = None
) -> dict[str, Any]:
    """What ``rclicks list --json`` prints: per kind the registered components and presets
    (name, provider, version, status, description), the benchmarks, the plugins (status,
    hooks, error) and the registration conflicts."""
    host = host or get_host()
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    data: dict[str, Any] = {}
    for kind in KINDS:
        entries = host.entries(kind)
        rows = [
            {
                "name": name,
                "provided_by": e.plugin,
                "distribution": e.distribution,
                "version": e.version,
                "status": "ok",
                "preset": False,
                "description": e.meta.get("description", ""),
            }
            for name, e in sorted(entries.items())
        ]
        for name, p in sorted(reg.presets[kind].items()):
            target = entries.get(p.plugin)
            rows.append(
                {
                    "name": name,
                    "provided_by": target.plugin if target else None,
                    "distribution": target.distribution if target else None,
                    "version": target.version if target else None,
                    "status": "ok" if target else f"plugin {p.plugin!r} not available",
                    "preset": True,
                    "plugin": p.plugin,
                    "description": p.meta.get("description", f"preset of {p.plugin}"),
                }
            )
        data[kind] = rows
    data["benchmarks"] = [
        {"name": b.name, "datasets": b.datasets, "simulators": b.simulators, **b.settings}
        for b in reg.benchmarks.values()
    ]
    data["plugins"] = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "status": p.status,
            "hooks": p.hooks,
            "error": p.error,
        }
        for p in sorted(host.plugins.values(), key=lambda p: p.name)
    ]
    data["conflicts"] = list(host.conflicts)
    return data


def as_list(value: Any) -> list[Any]:
    """One component or a sequence of them, as a list."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def require_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise OptionError(f"two {what}s are called {n!r}; give each a distinct name")
        seen.add(n)
