"""What mask verification costs: bundle sizes, the server's check time, and a row bomb.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/leaderboard_verify.py
    RCLICKS_DATA=../shared/datasets OMP_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/leaderboard_verify.py RUN_DIR ...       # e.g. a DAVIS run with --save-masks

1. For every run folder (default: the ``demo`` benchmark, run here: 30 instances, 10 groups
   + baseline, 20 clicks): the bundle's size and bytes per click (``masks.parquet`` alone
   too), then the check a server runs — ground truth read from the datasets, every IoU
   recomputed from the masks and every click re-derived — timed in this process and on a
   pool of ``--workers`` processes (median of ``--repeats``), in seconds per 1k clicks.
2. A row bomb: a bundle whose ``per_click.parquet`` holds 30 M valid rows (about a megabyte
   compressed) posted to a live ``rclicks leaderboard serve``: the time to the refusal and
   the server's peak memory growth (``VmHWM``).

Nothing is asserted; it prints numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def spec_of(run: Path):
    """The benchmark a run satisfies: its own, or one made of its settings."""
    from rclicks.leaderboard.benchmarks import BenchmarkSpec, benchmark_spec

    info = json.loads((run / "run.json").read_text())
    if info.get("benchmark"):
        return benchmark_spec(info["benchmark"]), info
    p = info["protocol"]
    spec = BenchmarkSpec(
        name="adhoc",
        protocol="rclicks-1",
        datasets=tuple(d["name"] for d in info["datasets"]),
        simulators=tuple(s["name"] for s in info["simulators"]),
        groups=p["groups"],
        repeats=p["repeats"],
        max_clicks=p["max_clicks"],
        baseline=p["baseline"],
    )
    return spec, info


def measure(run: Path, workers: int, repeats: int) -> None:
    from rclicks.leaderboard.benchmarks import build_reference
    from rclicks.leaderboard.bundle import RUN_FILES, build_bundle
    from rclicks.leaderboard.validate import read_masks, read_table
    from rclicks.leaderboard.verify import verify_masks

    spec, _info = spec_of(run)
    files = {n: (run / n).read_bytes() for n in RUN_FILES}
    files["submission.json"] = b'{"name": "size"}'
    bundle = build_bundle(files, {"rclicks": "x", "plugins": {}})
    rows = read_table(files["per_click.parquet"])
    n = rows.num_rows
    t0 = time.perf_counter()
    _ref, truth = build_reference(spec)
    truth = {r.key: r for r in truth}
    built = time.perf_counter() - t0
    masks = read_masks(files["masks.parquet"], n, max(r.height * r.width for r in truth.values()))
    print(f"{run}: {n} clicks, {len(truth)} instances")
    print(f"  bundle {len(bundle) / 1e6:.2f} MB = {len(bundle) / n:.0f} bytes per click "
          f"(masks.parquet {len(files['masks.parquet']) / n:.0f} bytes per click)")  # fmt: skip
    print(f"  ground truth read from the datasets in {built:.1f} s")
    times = {}
    for w in (1, workers):
        pool = None if w == 1 else ProcessPoolExecutor(w, mp_context=get_context("spawn"))
        try:
            if pool is not None:
                list(pool.map(abs, range(w)))  # start the processes before timing
            runs = []
            for _ in range(repeats):
                t = time.perf_counter()
                verify_masks(rows, masks, truth, pool)
                runs.append(time.perf_counter() - t)
        finally:
            if pool is not None:
                pool.shutdown()
        times[w] = statistics.median(runs)
        print(f"  verification, {w} process(es): {times[w]:.2f} s = "
              f"{1000 * times[w] / n:.2f} s per 1k clicks")  # fmt: skip
    if workers > 1:
        print(f"  speed-up with {workers} processes: {times[1] / times[workers]:.2f}×")


def row_bomb() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rclicks.leaderboard.bundle import RUN_FILES, build_bundle
    from rclicks.leaderboard.db import create_token, make_engine, session_factory
    from rclicks.runs.schema import ROW_SCHEMA
    from tests.conftest import LEADERBOARD_REGISTRY, LiveServer

    work = Path(tempfile.mkdtemp(prefix="rclicks-bomb-"))
    reg = work / "registry.yaml"
    reg.write_text(LEADERBOARD_REGISTRY)
    import rclicks

    run = rclicks.evaluate("geodesic", benchmark="demo-tiny", registry=reg, out=work / "run")
    n = 1_000_000
    chunk = pa.table({f.name: pa.array([_value(f)] * n, f.type) for f in ROW_SCHEMA})
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, ROW_SCHEMA, compression="zstd") as w:
        for _ in range(30):
            w.write_table(chunk, row_group_size=n)
    files = {f: (run.path / f).read_bytes() for f in RUN_FILES}
    files["per_click.parquet"] = buf.getvalue()
    files["submission.json"] = b'{"name": "bomb"}'
    body = build_bundle(files, {"rclicks": "x", "plugins": {}})
    db = f"sqlite:///{work / 'lb.db'}"
    server = LiveServer(db, work / "data", reg)
    try:
        engine = make_engine(db)
        with session_factory(engine)() as s:
            token = create_token(s, "bomb")
        engine.dispose()
        honest = {**files, "per_click.parquet": (run.path / "per_click.parquet").read_bytes()}
        _post(server.url, build_bundle(honest, {"rclicks": "x", "plugins": {}}), token)
        before = _hwm(server.proc.pid)
        t = time.perf_counter()
        status, detail = _post(server.url, body, token)
        took = time.perf_counter() - t
        grown = (_hwm(server.proc.pid) - before) / 1024
        print(f"row bomb: {len(body) / 1e6:.2f} MB bundle with 30,000,000 rows -> {status} in "
              f"{took:.3f} s, server peak memory +{grown:.1f} MB ({detail})")  # fmt: skip
    finally:
        server.stop()


def _value(field):
    import pyarrow as pa

    if pa.types.is_string(field.type):
        return {"dataset": "demo", "sample_id": "demo_00", "instance_id": "1"}.get(
            field.name, "baseline"
        )
    if pa.types.is_boolean(field.type):
        return True
    return 0.5 if pa.types.is_floating(field.type) else 1


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _post(url: str, body: bytes, token: str) -> tuple[int, str]:
    req = urllib.request.Request(
        f"{url}/api/submissions",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
    )
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, "accepted"
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())["detail"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*", type=Path, help="run folders with masks.parquet")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-bomb", action="store_true", help="skip the row bomb")
    args = ap.parse_args()
    runs = args.runs
    if not runs:
        import rclicks

        out = Path(tempfile.mkdtemp(prefix="rclicks-verify-")) / "demo"
        rclicks.evaluate("geodesic", benchmark="demo", out=out)
        runs = [out]
    for run in runs:
        measure(run, args.workers, args.repeats)
    if not args.no_bomb:
        row_bomb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
