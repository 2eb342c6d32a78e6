"""Load on one leaderboard server: concurrent page and API reads and submissions, on loopback.

    .venv/bin/python benchmarks/leaderboard_load.py                 # 200 reads + 20 submissions
    .venv/bin/python benchmarks/leaderboard_load.py --run runs/demo --registry registry.yaml

What it does (bounded: one server, loopback only, every request with a timeout):

1. a benchmark run — ``demo-tiny`` (the demo scenes, distance, 2 groups + baseline, 3 clicks)
   made here with ``rclicks eval`` unless ``--run`` names a finished benchmark run;
2. ``--submissions`` + 1 distinct variants of it: the IoUs nudged by a different 1e-9 each
   (so no two are duplicates), ``summary.json`` recomputed, each checked and bundled by
   ``rclicks.leaderboard.submit.prepare``;
3. ``rclicks leaderboard serve`` on 127.0.0.1 with a fresh SQLite file, one token, and one
   submission so that the pages have content;
4. all at once (a barrier releases every thread together): ``--reads`` reads spread over
   ``/``, ``/submissions/1``, ``/api/leaderboard``, ``/api/benchmarks`` and
   ``/api/submissions/1``, and the other submissions;
5. checks: every read 200, every submission 201, every accepted id in the database with its
   bundle on disk (sha256 as recorded); prints latency percentiles per kind.

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


def make_run(work: Path) -> tuple[Path, Path]:
    reg = work / "registry.yaml"
    reg.write_text(TINY)
    out = work / "run"
    cmd = [sys.executable, "-m", "rclicks.cli", "eval", "--benchmark", "demo-tiny",
           "--registry", str(reg), "--out", str(out)]  # fmt: skip
    subprocess.run(
        cmd, check=True, capture_output=True, env={**os.environ, "RCLICKS_LOAD_PLUGINS": ""}
    )
    return reg, out


def variants(run: Path, registry: Path, n: int, work: Path) -> list[bytes]:
    """``n`` bundles of distinct (nudged) copies of ``run``, each passing the local checks."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import rclicks
    from rclicks.leaderboard.submit import prepare

    table = pq.read_table(run / "per_click.parquet")
    info = json.loads((run / "run.json").read_text())
    out = []
    for i in range(n):
        d = work / f"variant-{i}"
        d.mkdir()
        for f in ("run.json", "manifest.json"):
            shutil.copy(run / f, d / f)
        iou = pc.multiply(table["iou"], pa.scalar(1.0 - 1e-9 * (i + 1)))
        t = table.set_column(table.schema.get_field_index("iou"), "iou", iou)
        pq.write_table(t, d / "per_click.parquet")
        summary = rclicks.summarize(t, info)
        (d / "summary.json").write_text(json.dumps(summary))
        out.append(prepare(d, name=f"load-{i}", registry=registry).bundle)
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
    ap.add_argument("--run", type=Path, help="a finished benchmark run (default: demo-tiny)")
    ap.add_argument("--registry", type=Path, help="the registry of --run's benchmark")
    args = ap.parse_args()
    if not (0 < args.reads <= 2000 and 0 < args.submissions <= 200):
        raise SystemExit("keep it bounded: --reads <= 2000, --submissions <= 200")

    work = Path(tempfile.mkdtemp(prefix="rclicks-load-"))
    proc = None
    try:
        t0 = time.perf_counter()
        if args.run:
            run, registry = args.run, args.registry or ROOT / "registry.yaml"
        else:
            registry, run = make_run(work)
        bundles = variants(run, registry, args.submissions + 1, work)
        bench = json.loads((run / "run.json").read_text())["benchmark"]
        print(f"prepared {len(bundles)} bundles of {bench} ({len(bundles[0])} bytes each) in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

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
