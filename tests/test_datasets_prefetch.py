"""The prefetcher: results in order whatever order threads finish in, a bounded number in
flight, errors handed back with their item."""

from __future__ import annotations

import threading
import time

from rclicks.datasets.prefetch import prefetch


def test_order_is_kept_and_in_flight_is_bounded():
    lock = threading.Lock()
    state = {"running": 0, "max": 0, "started": 0}
    release = {i: threading.Event() for i in range(12)}

    def work(i):
        with lock:
            state["running"] += 1
            state["started"] += 1
            state["max"] = max(state["max"], state["running"])
        # later items finish first: item i waits for i+1 to start (bounded by the window)
        release[i].wait(timeout=0.2)
        with lock:
            state["running"] -= 1
        if i > 0:
            release[i - 1].set()
        return i * i

    got = []
    for item, result, exc in prefetch(work, range(12), depth=3, threads=3):
        assert exc is None
        got.append((item, result))
        assert state["started"] <= item + 1 + 3  # never more than depth ahead of the consumer
    assert got == [(i, i * i) for i in range(12)]
    assert state["max"] <= 3


def test_errors_come_back_with_their_item_and_the_rest_goes_on():
    def work(i):
        if i == 2:
            raise OSError("disk gone")
        time.sleep(0.001)
        return i

    for depth in (0, 4):
        out = list(prefetch(work, range(5), depth=depth))
        assert [o[0] for o in out] == list(range(5))
        assert isinstance(out[2][2], OSError) and out[2][1] is None
        assert [o[1] for o in out if o[2] is None] == [0, 1, 3, 4]


def test_an_abandoned_prefetch_stops_its_threads():
    calls = []

    def work(i):
        calls.append(i)
        return i

    gen = prefetch(work, range(1000), depth=2)
    next(gen)
    gen.close()
    assert len(calls) <= 4
