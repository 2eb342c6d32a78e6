"""Asking simulators for their density on error regions, the one way the engine (and
``show-clicks``, which re-derives a run) does it: the simulator's ``region_density`` fast path
when it has one, else one ``density_batch`` call per simulator and click step, else
``density`` per region. Every answer is checked (shape, finite, non-negative), except a
region's own distances handed back as they are (valid by construction)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rclicks.clicks import DistanceMap, check_density
from rclicks.errors import PluginError
from rclicks.protocols import BatchDensity, ClickSimulator, RegionDensity


def _who(sim: ClickSimulator) -> str:
    return f"simulator {type(sim).__name__}"


def _checked(values: np.ndarray, who: str) -> np.ndarray:
    try:
        return check_density(values, who)
    except ValueError as exc:
        raise PluginError(str(exc)) from None


def _at_region(dens: np.ndarray, region: DistanceMap, shape: tuple[int, int], who: str):
    dens = np.asarray(dens)
    if dens.shape != shape:
        raise PluginError(f"{who} returned a density of shape {dens.shape}, expected {shape}")
    return _checked(dens.ravel()[region.idx], who)


def region_values(
    sim: ClickSimulator, image: np.ndarray, gt: np.ndarray, region: DistanceMap
) -> np.ndarray:
    """The density of ``sim`` at the pixels of ``region`` (float32, ``region.idx`` order)."""
    return densities(image, gt, [(sim, region)])[(id(sim), id(region))]


def densities(
    image: np.ndarray, gt: np.ndarray, wanted: Sequence[tuple[ClickSimulator, DistanceMap]]
) -> dict[tuple[int, int], np.ndarray]:
    """The density values for each ``(simulator, region)`` of ``wanted``, keyed by
    ``(id(simulator), id(region))``."""
    shape = (int(gt.shape[0]), int(gt.shape[1]))
    out: dict[tuple[int, int], np.ndarray] = {}
    batched: dict[int, list[DistanceMap]] = {}
    sims: dict[int, ClickSimulator] = {}
    for sim, region in wanted:
        who = _who(sim)
        if isinstance(sim, RegionDensity):
            values = np.asarray(sim.region_density(image, gt, region))
            if values.shape != (region.size,):
                raise PluginError(
                    f"{who}.region_density returned shape {values.shape}, expected ({region.size},)"
                )
            # the region's own distances (the distance simulator's view) are valid already
            own = region.are_distances(values)
            out[(id(sim), id(region))] = values if own else _checked(values, who)
        elif isinstance(sim, BatchDensity):
            batched.setdefault(id(sim), []).append(region)
            sims[id(sim)] = sim
        else:
            dens = sim.density(image, gt, region.mask())
            out[(id(sim), id(region))] = _at_region(dens, region, shape, who)
    for key, regions in batched.items():
        sim = sims[key]
        who = _who(sim)
        n = len(regions)
        maps = list(sim.density_batch([image] * n, [gt] * n, [r.mask() for r in regions]))  # type: ignore[attr-defined]
        if len(maps) != n:
            raise PluginError(f"{who}.density_batch returned {len(maps)} maps for {n} regions")
        for region, d in zip(regions, maps):
            out[(key, id(region))] = _at_region(d, region, shape, who)
    return out
