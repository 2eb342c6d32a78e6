"""The hooks a plugin may implement, each optional (pluggy project ``rclicks``).

Every hook receives a ``register(name, factory, **meta)`` callback: ``name`` is what users
type after ``--model`` / ``--simulator`` / ``--dataset``; ``factory(**options)`` returns the
object — a callable, or a ``"module:attr"`` string naming one, imported only when the
component is first built (so registering stays instant); ``meta`` is free-form
(``description`` is shown by ``rclicks list``).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "rclicks"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rclicks_register_models(register: Callable[..., None]) -> None:
    """Register interactive segmentation models: ``register(name, factory, **meta)``;
    ``factory(**options)`` returns an object implementing :class:`rclicks.ISModel`."""


@hookspec
def rclicks_register_simulators(register: Callable[..., None]) -> None:
    """Register click simulators: ``factory(**options)`` returns a
    :class:`rclicks.ClickSimulator`."""


@hookspec
def rclicks_register_datasets(register: Callable[..., None]) -> None:
    """Register datasets: ``factory(**options)`` returns a :class:`rclicks.Dataset`."""
