#!/usr/bin/env python
"""Cost and memory as a run grows, on real DAVIS: wall time, clicks/s and peak memory of
``rclicks eval --dataset DAVIS --limit N`` (the full protocol, the default model) for several
N, and the same N on one and on several workers.

Run from the repository root (RCLICKS_DATA holds the datasets)::

    RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaling.py \\
        --limits 50,100,200,345 --workers 2
    RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaling.py \\
        --limits 100 --workers 1,2

Memory is sampled every 0.2 s from /proc over the whole process tree (the CLI and its worker
processes): the peak of the tree's total and of its largest process. Rows go to the journal
as each instance finishes, so neither should grow with the number of instances.

A measurement script, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(k) for k in kids)
    return out


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(limit: int, workers: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "rclicks.cli", "eval", "--dataset", "DAVIS", "--limit",
           str(limit), "-j", str(workers), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=out.parent)  # fmt: skip
    peak = {"total": 0, "largest": 0}

    def sample():
        while proc.poll() is None:
            sizes = [_rss_kib(p) for p in _tree(proc.pid)]
            peak["total"] = max(peak["total"], sum(sizes))
            peak["largest"] = max(peak["largest"], max(sizes, default=0))
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-3000:]}")
    import pandas as pd

    clicks = len(pd.read_parquet(out / "per_click.parquet", columns=["click"]))
    return {"limit": limit, "workers": workers, "wall": wall, "clicks": clicks, **peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limits", default="50,100,200,345")
    ap.add_argument("--workers", default="2", help="comma-separated worker counts")
    args = ap.parse_args()
    limits = [int(x) for x in args.limits.split(",")]
    workers = [int(x) for x in args.workers.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for limit in limits:
            for w in workers:
                n += 1
                r = run(limit, w, Path(tmp) / f"run{n}")
                results.append(r)
                print(f"  DAVIS {limit:4d} images, {w} worker(s): {r['wall']:7.1f} s, "
                      f"{r['clicks'] / r['wall']:6.1f} clicks/s, peak RSS tree "
                      f"{r['total'] / 1024:6.0f} MiB, largest process {r['largest'] / 1024:5.0f} "
                      f"MiB", flush=True)  # fmt: skip
    base = results[0]
    print("\nper image relative to the first run (1.00 = linear):")
    for r in results:
        ratio = (r["wall"] / r["limit"]) / (base["wall"] / base["limit"])
        print(f"  {r['limit']:4d} images, {r['workers']} worker(s): ×{ratio:4.2f}")


if __name__ == "__main__":
    main()
