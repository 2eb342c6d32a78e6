"""Tests never load whatever plugins happen to be installed: only the built-ins, unless a
test asks for a plugin by name through RCLICKS_LOAD_PLUGINS."""

from __future__ import annotations

import os

import pytest

os.environ["RCLICKS_LOAD_PLUGINS"] = ""


@pytest.fixture(autouse=True)
def _fresh_host(monkeypatch):
    from rclicks.plugins import reset_host

    monkeypatch.setenv("RCLICKS_LOAD_PLUGINS", "")
    reset_host()
    yield
    reset_host()


# --- leaderboard tests: a throwaway PostgreSQL server -----------------------------------------


def _postgres_bindir() -> str | None:
    import glob
    import shutil

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL cluster for this test session (initdb in a temporary folder, started
    on a free loopback port with its socket in that folder, as the ``postgres`` OS user when
    the tests run as root); yields ``postgresql://postgres@127.0.0.1:PORT/rclicks_test``; the
    cluster is stopped and removed at the end. Fails — never skips — without the binaries."""
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _postgres_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make sysdeps` "
            "(Debian: apt-get install postgresql)"
        )
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as `postgres`
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(
                "running as root, and there is no 'postgres' OS user to run PostgreSQL as: "
                "run `make sysdeps` (Debian's postgresql package creates it)"
            )
    root = tempfile.mkdtemp(prefix="rclicks-pg-")
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data, sock, log = (os.path.join(root, n) for n in ("data", "sock", "log"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def pg(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, cwd=root)
        if done.returncode:
            extra = open(log).read()[-2000:] if os.path.exists(log) else ""
            pytest.fail(f"PostgreSQL: {' '.join(args)} failed:\n{done.stderr}{extra}")

    try:
        pg(f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
           "--locale=C", "--no-sync")  # fmt: skip
        os.mkdir(sock) if not as_user else pg("mkdir", sock)
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg(f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "start")
        pg(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
           "rclicks_test")  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/rclicks_test"
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                           capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


# --- leaderboard tests: a tiny benchmark run and a live server --------------------------------

LEADERBOARD_REGISTRY = """\
benchmarks:
  demo-tiny:
    protocol: rclicks-1
    datasets: [demo]
    simulators: [distance]
    groups: 2
    max_clicks: 3
"""


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory):
    """``(registry.yaml, run folder)``: the demo dataset under a reduced benchmark
    (``demo-tiny``: distance, 2 groups + baseline, 3 clicks), run once by ``rclicks eval``."""
    from tests.helpers import run_cli

    root = tmp_path_factory.mktemp("tiny-benchmark")
    reg = root / "registry.yaml"
    reg.write_text(LEADERBOARD_REGISTRY)
    out = root / "run"
    done = run_cli(["eval", "--benchmark", "demo-tiny", "--registry", str(reg), "--out", str(out)])
    assert done.returncode == 0, done.stderr
    return reg, out


class LiveServer:
    """``rclicks leaderboard serve`` in a subprocess on a free loopback port."""

    def __init__(self, db: str, data_dir, registry, *extra: str) -> None:
        import queue
        import socket
        import subprocess
        import sys
        import threading

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.db, self.data_dir = db, data_dir
        env = {**os.environ, "RCLICKS_LOAD_PLUGINS": ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rclicks.cli", "leaderboard", "serve", "--db", db,
             "--data-dir", str(data_dir), "--registry", str(registry), "--port",
             str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.log: list[str] = []
        lines: queue.Queue = queue.Queue()

        def drain() -> None:  # keep reading, or the server blocks on a full pipe
            for line in self.proc.stdout:
                self.log.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        while True:
            line = lines.get(timeout=120)
            if line is None:
                raise RuntimeError("the leaderboard server exited:\n" + "".join(self.log))
            if "Uvicorn running on" in line:
                break

    def mint_token(self, user: str = "tester") -> str:
        """A bearer token for ``user`` in the server's database, kept as ``self.token``."""
        from sqlalchemy import create_engine

        from rclicks.leaderboard.db import create_token, normalise_url, session_factory

        engine = create_engine(normalise_url(self.db))
        with session_factory(engine)() as s:
            self.token = create_token(s, user)
        engine.dispose()
        return self.token

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def leaderboard_server():
    """Start servers with ``leaderboard_server(db_url, data_dir, registry, *args)``; every
    one started is stopped at the end of the test."""
    started: list[LiveServer] = []

    def start(db: str, data_dir, registry, *extra: str) -> LiveServer:
        server = LiveServer(db, data_dir, registry, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
