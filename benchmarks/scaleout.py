#!/usr/bin/env python
"""Throughput of the backends on real DAVIS: clicks/s of the same run (the first N DAVIS images,
the full protocol, the default model) on the local backend with 1 and 2 worker processes and on
Ray with 1 and 2 actors.

Run from the repository root (RCLICKS_DATA holds the datasets)::

    RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaleout.py \\
        --images 30 --rounds 2

Ray is one local instance (2 CPUs) started by this script before the runs, as an existing
cluster would be; every run starts its own actors. Each run reports its wall time and two
throughputs: end to end (all clicks / wall) and steady (the clicks after each worker's first
sample / the time from then to the end — what a long benchmark sees once the workers are up).
Rounds interleave the four settings; the medians are compared:

- Ray 2 actors / Ray 1 actor (target ≥ 1.7 on 2 cores),
- Ray's overhead at equal worker count: 1 − Ray / local (target ≤ 10 %).

Every run's rows are checked equal to the first run's (apart from ``seconds``).
A measurement script, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

SETTINGS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]


def one_run(backend: str, workers: int, images: int, out: Path) -> dict:
    import rclicks

    events: list[tuple[float, int]] = []

    def progress(event: str, info: dict) -> None:
        if event == "sample":
            events.append((time.perf_counter(), info["clicks"]))

    t0 = time.perf_counter()
    run = rclicks.evaluate(
        "geodesic",
        "distance",
        "DAVIS",
        limit=images,
        out=out,
        workers=workers,
        backend=backend,
        progress=progress,
    )
    wall = time.perf_counter() - t0
    clicks = sum(c for _, c in events)
    first = events[workers - 1][0]  # each worker has finished its first sample
    later = sum(c for _, c in events[workers:])
    return {
        "backend": backend,
        "workers": workers,
        "wall": wall,
        "clicks": clicks,
        "end_to_end": clicks / wall,
        "steady": later / max(events[-1][0] - first, 1e-9),
        "rows": run.per_click.drop(columns=["seconds"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=30, help="the first N DAVIS images")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions")
    args = ap.parse_args()

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    results: dict[tuple[str, int], list[dict]] = {s: [] for s in SETTINGS}
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for r in range(args.rounds):
            for backend, workers in SETTINGS:
                n += 1
                res = one_run(backend, workers, args.images, Path(tmp) / f"run{n}")
                rows = res.pop("rows")
                if reference is None:
                    reference = rows
                elif not rows.equals(reference):
                    raise SystemExit(f"{backend} × {workers}: rows differ from the first run")
                results[(backend, workers)].append(res)
                print(
                    f"  round {r + 1}  {backend:5s} {workers} worker(s): {res['wall']:6.1f} s, "
                    f"{res['clicks']} clicks, end to end {res['end_to_end']:6.1f} clicks/s, "
                    f"steady {res['steady']:6.1f} clicks/s",
                    flush=True,
                )
    ray.shutdown()

    def med(setting: tuple[str, int], key: str) -> float:
        return statistics.median(x[key] for x in results[setting])

    print(f"\nDAVIS, first {args.images} images, median of {args.rounds} round(s):")
    for key in ("steady", "end_to_end"):
        print(f"  {key.replace('_', ' ')} clicks/s:")
        for s in SETTINGS:
            print(f"    {s[0]:5s} {s[1]} worker(s): {med(s, key):7.1f}")
        print(
            f"    Ray 2 actors / Ray 1 actor: ×{med(('ray', 2), key) / med(('ray', 1), key):.2f}"
            "  (target ≥ 1.7)"
        )
        print(f"    local 2 / local 1: ×{med(('local', 2), key) / med(('local', 1), key):.2f}")
        for w in (1, 2):
            over = 1 - med(("ray", w), key) / med(("local", w), key)
            print(f"    Ray overhead, {w} worker(s): {over:+.1%}  (target ≤ 10 %)")
    print("  rows: identical in every run (apart from seconds)")


if __name__ == "__main__":
    main()
