"""Plugins: the hooks (:mod:`.hookspecs`), the host that loads built-ins and entry points
(:mod:`.host`), ``registry.yaml`` presets and benchmarks (:mod:`.presets`), and names
resolved to built objects (:mod:`.names`). The built-ins register from :mod:`.builtins`."""

from rclicks.plugins.hookspecs import hookimpl, hookspec
from rclicks.plugins.host import KINDS, Entry, PluginHost, PluginInfo, get_host, reset_host
from rclicks.plugins.names import Resolved, build, instantiate, load_target, resolve
from rclicks.plugins.presets import Benchmark, Preset, Registry, load_registry

__all__ = [
    "KINDS",
    "Benchmark",
    "Entry",
    "PluginHost",
    "PluginInfo",
    "Preset",
    "Registry",
    "Resolved",
    "build",
    "get_host",
    "hookimpl",
    "hookspec",
    "instantiate",
    "load_registry",
    "load_target",
    "reset_host",
    "resolve",
]
