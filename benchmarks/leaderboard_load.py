"""Load on one leaderboard server: concurrent page and API reads and submissions, on loopback.

    .venv/bin/python benchmarks/leaderboard_load.py                 # 200 reads + 20 submissions
    .venv/bin/python benchmarks/leaderboard_load.py --run runs/demo --registry registry.yaml

What it does (bounded: one server, loopback only, every request with a timeout):

1. ``--submissions`` + 1 honest runs of a benchmark — ``demo-tiny`` (the demo scenes,
   distance, 2 groups + baseline, 3 clicks) unless ``--benchmark`` names another of
   ``--registry`` — each with its own seed, so no two are duplicates; each checked and bundled
   by ``rclicks.leaderboard.submit.prepare`` (masks included);
3. ``rclicks leaderboard serve`` on 127.0.0.1 with a fresh SQLite file, one token, and one
   submission so that the pages have content;
4. all at once (a barrier releases every thread together): ``--reads`` reads spread over
   ``/``, ``/submissions/1``, ``/api/leaderboard``, ``/api/benchmarks`` and
   ``/api/submissions/1``, and the other submissions;
5. checks: every read 200, every submission 201 and verified from its masks, every accepted
   id in the database with its bundle on disk (sha256 as recorded); prints latency
   percentiles per kind, the server's verification time per submission and per 1k clicks,
   and the bundle sizes.

Exit code 1 when any check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
TINY = """\
benchmarks:
  demo-tiny:
    protocol: rclicks-1
    datasets: [demo]
    simulators: [distance]
    groups: 2
    max_clicks: 3
"""


def honest_runs(work: Path, registry: Path, benchmark: str, n: int) -> list[bytes]:
    """``n`` bundles of runs of ``benchmark`` with seeds 0..n-1, each passing the local
    checks."""
    import rclicks
    from rclicks.leaderboard.submit import prepare

    out = []
    for seed in range(n):
        run = work / f"run-{seed}"
        rclicks.evaluate("geodesic", benchmark=benchmark, seed=seed, out=run, registry=registry)
        out.append(prepare(run, name=f"load-{seed}", registry=registry).bundle)
    return out


def start_server(work: Path, registry: Path) -> tuple[subprocess.Popen, int, list[str]]:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "rclicks.cli", "leaderboard", "serve", "--host", HOST,
           "--port", str(port), "--data-dir", str(work / "lb"), "--registry", str(registry),
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "RCLICKS_LOAD_PLUGINS": ""})  # fmt: skip
    log: list[str] = []
    lines: queue.Queue = queue.Queue()

    def drain() -> None:
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it accepts connections
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return proc, port, log
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("server exited:\n" + "".join(log)) from None
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("server did not start within 120 s")


def request(port: int, method: str, path: str, body: bytes | None = None, token: str = ""):
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    headers = (
        {"Content-Type": "application/zip", "Authorization": f"Bearer {token}"} if body else {}
    )
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        status = resp.status
    except OSError as exc:
        status, data = 0, str(exc).encode()
    finally:
        conn.close()
    return status, data, time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--submissions", type=int, default=20)
    ap.add_argument("--benchmark", default="demo-tiny", help="the benchmark to run")
    ap.add_argument("--registry", type=Path, help="the registry of --benchmark")
    args = ap.parse_args()
    if not (0 < args.reads <= 2000 and 0 < args.submissions <= 200):
        raise SystemExit("keep it bounded: --reads <= 2000, --submissions <= 200")

    work = Path(tempfile.mkdtemp(prefix="rclicks-load-"))
    proc = None
    try:
        t0 = time.perf_counter()
        registry = args.registry
        if registry is None:
            registry = work / "registry.yaml"
            registry.write_text(TINY)
        bench = args.benchmark
        bundles = honest_runs(work, registry, bench, args.submissions + 1)
        sizes = sorted(len(b) for b in bundles)
        print(f"prepared {len(bundles)} bundles of {bench} (median {statistics.median(sizes):.0f}"
              f" bytes) in {time.perf_counter() - t0:.1f} s")  # fmt: skip

        proc, port, log = start_server(work, registry)
        from rclicks.leaderboard.db import create_token, make_engine, session_factory

        engine = make_engine(f"sqlite:///{work / 'lb' / 'leaderboard.db'}")
        with session_factory(engine)() as s:
            token = create_token(s, "load")
        status, data, _ = request(port, "POST", "/api/submissions", bundles[0], token)
        if status != 201:
            raise SystemExit(f"the first submission failed: {status} {data[:300]!r}")
        first = json.loads(data)["id"]

        paths = [
            "/",
            f"/submissions/{first}",
            f"/api/leaderboard?benchmark={bench}",
            "/api/benchmarks",
            f"/api/submissions/{first}",
        ]
        jobs = [("read", "GET", paths[i % len(paths)], None) for i in range(args.reads)]
        jobs += [("submit", "POST", "/api/submissions", b, token) for b in bundles[1:]]
        barrier = threading.Barrier(len(jobs))

        def go(job):
            kind, method, path, body, *tok = job
            barrier.wait()
            return kind, path, *request(port, method, path, body, *(tok or [""]))

        t1 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            results = list(pool.map(go, jobs))
        wall = time.perf_counter() - t1

        failures = []
        accepted = [first]
        for kind, path, status, data, _dt in results:
            want = 201 if kind == "submit" else 200
            if status != want:
                failures.append(f"{kind} {path}: {status} {data[:200]!r}")
            elif kind == "submit":
                accepted.append(json.loads(data)["id"])
        from sqlalchemy import select

        from rclicks.leaderboard.db import Submission

        with session_factory(engine)() as s:
            rows = {r.id: r for r in s.scalars(select(Submission))}
        for sid in accepted:
            row = rows.get(sid)
            if row is None:
                failures.append(f"submission {sid} accepted but not in the database")
                continue
            blob = (work / "lb" / "bundles" / row.bundle_file).read_bytes()
            if hashlib.sha256(blob).hexdigest() != row.bundle_sha256:
                failures.append(f"submission {sid}: stored bundle differs from its sha256")
        if len(rows) != len(accepted):
            failures.append(f"{len(rows)} rows in the database, {len(accepted)} accepted")
        checks = [r.verification or {} for r in rows.values()]
        unverified = [sid for sid, r in rows.items() if (r.verification or {}).get("level")
                      != "masks"]  # fmt: skip
        if unverified:
            failures.append(f"submissions {unverified} were not verified from their masks")
        engine.dispose()

        print(f"{len(jobs)} concurrent requests in {wall:.2f} s on loopback "
              f"({os.cpu_count()} CPUs); {len(accepted)} submissions in the database")  # fmt: skip
        print(f"{'kind':<28}{'n':>5}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        groups: dict[str, list[float]] = {}
        for kind, path, _status, _data, dt in results:
            label = "submissions" if kind == "submit" else path.split("?")[0]
            groups.setdefault(label, []).append(dt * 1000)
            if kind == "read":
                groups.setdefault("all reads", []).append(dt * 1000)
        for label, v in groups.items():
            print(f"{label:<28}{len(v):>5}{pct(v, 50):>10.0f}{pct(v, 90):>10.0f}"
                  f"{pct(v, 99):>10.0f}{max(v):>10.0f}")  # fmt: skip
        mean = statistics.mean(groups["all reads"])
        print(f"mean read latency {mean:.0f} ms")
        secs = [c["seconds"] for c in checks if "seconds" in c]
        clicks = [c["clicks"] for c in checks if "clicks" in c]
        if secs:
            per_k = statistics.median(1000 * s / c for s, c in zip(secs, clicks))
            print(
                f"verification on the server: median {statistics.median(secs):.3f} s per "
                f"submission of {clicks[0]} clicks, {per_k:.2f} s per 1k clicks (under load)"
            )
        print(f"bundle: median {statistics.median(sizes):.0f} bytes, "
              f"{statistics.median(sizes) / clicks[0]:.0f} bytes per click")  # fmt: skip
        if failures:
            print(f"{len(failures)} FAILURE(S):")
            for f in failures[:20]:
                print("  " + f)
            return 1
        print("no errors; every accepted submission is in the database with its bundle")
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
