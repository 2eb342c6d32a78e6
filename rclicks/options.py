"""Component options as users give them: ``KEY=VALUE`` strings on a command line, options
scoped to one of several components (``NAME:KEY``), and boolean flags that may arrive as text.
Imports nothing of the project but its errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from rclicks.errors import OptionError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def parse_options(
    pairs: Sequence[str] | None, what: str = "option", lists: bool = False
) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict. Values are read as YAML scalars (``3`` -> 3, ``0.5`` -> 0.5,
    ``true`` -> True, anything else a string). With ``lists``, ``a,b,c`` and ``[a, b, c]``
    become lists of such scalars."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise OptionError(f"{what} {pair!r} must look like KEY=VALUE")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise OptionError(f"{what} {pair!r} has an empty key")
        raw = raw.strip() if lists else raw
        if lists and ("," in raw or raw.startswith("[")):
            out[key] = [_scalar(v.strip()) for v in raw.strip("[]() ").split(",") if v.strip()]
        else:
            out[key] = _scalar(raw)
    return out


def _scalar(raw: str) -> Any:
    if raw == "":
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, (dict, list)) or (value is None and raw.strip() not in ("null", "~")):
        return raw
    return value


def options_for(name: str, options: Mapping[str, Any] | None, names: Sequence[str]) -> dict:
    """The options of component ``name`` among several (``names``) given one option mapping:
    ``KEY`` applies to every component, ``NAME:KEY`` only to ``NAME`` (and wins over ``KEY``).
    A ``NAME:`` that names none of ``names`` is an error."""
    plain: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for key, value in (options or {}).items():
        target, sep, sub = str(key).partition(":")
        if not sep:
            plain[key] = value
            continue
        if target not in names:
            raise OptionError(
                f"option {key}={value!r} is scoped to {target!r}, which is not one of "
                f"{', '.join(names)}"
            )
        if target == name:
            scoped[sub] = value
    return {**plain, **scoped}


def as_bool(value: Any, name: str = "option") -> bool:
    """A boolean option that may come as text (``true``/``false``, ``yes``/``no``, ``1``/``0``,
    ``on``/``off``); anything else is an :class:`OptionError` naming ``name``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise OptionError(f"{name} must be true or false, got {value!r}")
