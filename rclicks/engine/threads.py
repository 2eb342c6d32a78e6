"""Threads for the independent trajectories of a click step.

The heavy per-trajectory work of a click (thresholding the probability map, the IoU and error
regions, the distance transform, the clicking-group slice) runs in C or NumPy with the GIL
released, so the trajectories of an instance can advance on several cores at once. Every
trajectory keeps its own state and random generator and results are collected in trajectory
order, so the rows do not depend on the number of threads.

The number of threads is ``$RCLICKS_THREADS`` when set, else the CPUs this process may use
divided by the worker processes of the run (:func:`set_share`); 1 runs everything inline.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_share = 1  # worker processes sharing this machine's CPUs


def cpus() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def set_share(workers: int) -> None:
    """This process is one of ``workers`` processes of a run on this machine."""
    global _share
    _share = max(1, int(workers))


def threads() -> int:
    """The threads a click step may use."""
    env = os.environ.get("RCLICKS_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"RCLICKS_THREADS must be a whole number, got {env!r}") from None
    return max(1, cpus() // _share)


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(size, thread_name_prefix="rclicks-step")
            _pool_size = size
        return _pool


#: below this many pixels per image the work of a trajectory is too small to gain from threads
#: (handing it over costs more): measured on real DAVIS (0.4 Mpx), 2 threads were slower
PARALLEL_PIXELS = 1 << 20


def map_ordered(fn: Callable[[T], R], items: Sequence[T], pixels: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, on the step threads when there are several (and the image
    has at least :data:`PARALLEL_PIXELS` ``pixels`` when given); the first exception in item
    order is raised, as the plain loop would."""
    n = threads()
    if n == 1 or len(items) < 2 or (pixels is not None and pixels < PARALLEL_PIXELS):
        return [fn(x) for x in items]
    return list(_executor(n).map(fn, items))
