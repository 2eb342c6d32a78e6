"""Decode ahead of the model: a small thread pool with a bounded number of samples in flight.

Results come back in the order of the items, whatever order the threads finish in, so
prefetching never changes what a run computes — only when the decoding happens.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

PREFETCH_ENV = "RCLICKS_PREFETCH"
DEFAULT_DEPTH = 4


def default_depth() -> int:
    """``$RCLICKS_PREFETCH`` (samples decoded ahead; 0 turns prefetching off), else 4."""
    raw = os.environ.get(PREFETCH_ENV, "").strip()
    if not raw:
        return DEFAULT_DEPTH
    try:
        return max(0, int(raw))
    except ValueError:
        raise ValueError(f"${PREFETCH_ENV} must be a whole number, got {raw!r}") from None


def prefetch(
    fn: Callable[[T], R],
    items: Iterable[T],
    depth: int = DEFAULT_DEPTH,
    threads: int | None = None,
) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """``(item, fn(item), None)`` — or ``(item, None, exception)`` — for every item, in order.

    At most ``depth`` calls are queued or running at any time (so at most ``depth`` decoded
    samples wait in memory besides the one being used), on ``threads`` threads (default
    ``min(depth, 4)``). ``depth=0`` calls ``fn`` in the caller's thread, one item at a time.
    """
    if depth <= 0:
        for item in items:
            try:
                yield item, fn(item), None
            except Exception as exc:  # noqa: BLE001 - handed to the caller with its item
                yield item, None, exc
        return
    threads = max(1, min(threads or min(depth, 4), depth))
    pool = ThreadPoolExecutor(threads, thread_name_prefix="rclicks-prefetch")
    pending: deque[tuple[Any, Future]] = deque()
    source = iter(items)
    try:
        for item in source:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= depth:
                break
        while pending:
            item, fut = pending.popleft()
            try:
                result, exc = fut.result(), None
            except Exception as e:  # noqa: BLE001 - handed to the caller with its item
                result, exc = None, e
            nxt = next(source, _END)
            if nxt is not _END:
                pending.append((nxt, pool.submit(fn, nxt)))
            yield item, result, exc
            del result
    finally:
        for _, fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()
