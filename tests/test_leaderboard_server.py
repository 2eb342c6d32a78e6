"""The leaderboard server in process: durable storage (a failure after the rename leaves
nothing), start-up clean-up, streaming limits, tokens, the bundle reader's refusals and
the ranking."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rclicks.leaderboard import board
from rclicks.leaderboard.bundle import BundleError, read_bundle
from rclicks.leaderboard.db import (
    Submission,
    Token,
    create_token,
    make_engine,
    session_factory,
    verify_token,
)
from rclicks.leaderboard.server import Settings, create_app
from tests.test_leaderboard import bundle_of


@pytest.fixture
def app_and_token(tiny_benchmark, tmp_path):
    reg, _run = tiny_benchmark
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'lb.db'}",
        data_dir=tmp_path / "data",
        registry=str(reg),
        max_upload=200_000,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with app.state.sessions() as s:
            token = create_token(s, "unit")
        yield client, app, token


def _rows(app) -> int:
    with app.state.sessions() as s:
        return s.scalar(select(func.count()).select_from(Submission))


def _post(client, body, token, **kw):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}
    return client.post("/api/submissions", content=body, headers=headers, **kw)


def test_a_failure_after_the_rename_removes_the_file_and_stores_no_row(
    app_and_token, tiny_benchmark, monkeypatch
):
    client, app, token = app_and_token
    _reg, run = tiny_benchmark
    from sqlalchemy.orm import SessionTransaction

    def crash(self, *args, **kwargs):
        raise RuntimeError("the database went away mid-commit")

    renamed = []
    store_commit = app.state.store.commit

    def spy(part):
        renamed.append(store_commit(part))
        return renamed[-1]

    monkeypatch.setattr(app.state.store, "commit", spy)
    monkeypatch.setattr(SessionTransaction, "commit", crash)
    r = _post(client, bundle_of(run), token)
    assert r.status_code == 500 and r.json() == {"detail": "internal server error"}
    monkeypatch.undo()
    assert len(renamed) == 1 and not renamed[0].exists()  # it was stored, then removed
    assert _rows(app) == 0
    assert list(app.state.store.root.iterdir()) == []
    r = _post(client, bundle_of(run), token)  # the same bundle goes through afterwards
    assert r.status_code == 201, r.text
    assert _rows(app) == 1 and len(list(app.state.store.root.glob("*.zip"))) == 1


def test_a_streamed_upload_over_the_limit_stops_without_a_trace(app_and_token):
    client, app, token = app_and_token
    sent = []

    def body():  # no Content-Length: the server counts while it reads
        for _ in range(100):
            sent.append(1)
            yield b"z" * 10_000

    r = _post(client, body(), token)
    assert r.status_code == 413 and "over the limit of 200000 bytes" in r.json()["detail"]
    assert list(app.state.store.root.iterdir()) == []


def test_start_up_removes_unfinished_uploads_and_orphan_bundles(tiny_benchmark, tmp_path):
    reg, run = tiny_benchmark
    settings = Settings(f"sqlite:///{tmp_path / 'lb.db'}", tmp_path / "data", str(reg))
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.sessions() as s:
            token = create_token(s, "unit")
        assert _post(client, bundle_of(run), token).status_code == 201
    root = settings.bundles
    (kept,) = root.glob("*.zip")
    part, orphan, fresh = root / "a.part", root / "b.zip", root / "c.part"
    for p in (part, orphan, fresh):
        p.write_bytes(b"half")
    old = 1_000_000_000
    os.utime(part, (old, old))
    os.utime(orphan, (old, old))
    with TestClient(create_app(settings)):
        pass
    assert sorted(p.name for p in root.iterdir()) == sorted([kept.name, fresh.name])


def test_tokens_are_stored_hashed_and_checked(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    from rclicks.leaderboard.db import init_db

    init_db(engine)
    with session_factory(engine)() as s:
        token = create_token(s, "alice")
        other = create_token(s, "bob")
        with pytest.raises(ValueError, match="exists already"):
            create_token(s, "alice")
        row = s.scalar(select(Token).where(Token.name == "alice"))
        secret = token.split("_", 2)[2]
        assert secret not in (row.digest, row.salt, row.key_id)
        assert verify_token(s, token) == "alice" and verify_token(s, other) == "bob"
        assert verify_token(s, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        key_id = token.split("_")[1]
        assert verify_token(s, f"rclk_{key_id}_{other.split('_', 2)[2]}") is None
        assert verify_token(s, "nonsense") is None and verify_token(s, "") is None


def _zip(*members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def _quiet_zip(*members) -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point
        return _zip(*members)


def _dir(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFDIR | 0o755) << 16
    return info


@pytest.mark.parametrize(
    "bundle, words",
    [
        (_zip(("a\\..\\run.json", b"{}")), "a backslash"),
        (_zip(("sub/run.json", b"{}")), "a folder"),
        (_zip((_dir("run.json/"), b"")), "a folder"),
        (_zip(("C:run.json", b"{}")), "an absolute path"),
        (_zip(("notes.txt", b"hi")), "unexpected member 'notes.txt'"),
        (_quiet_zip(("run.json", b"{}"), ("run.json", b"{}")), "appears twice"),
        (_zip(("run.json", b"0" * 5000)), "over the limit"),
        (_zip(("run.json", b"{}")), "no MANIFEST.json"),
        (_zip(("MANIFEST.json", b"[]")), "'format' must be"),
    ],
)
def test_the_bundle_reader_refuses_before_it_trusts(bundle, words):
    with pytest.raises(BundleError) as err:
        read_bundle(bundle, max_bytes=4096)
    assert words in str(err.value)


def _sub(i: int, noc: float | None, auc: float) -> dict:
    results = [
        {"dataset": "d", "simulator": "sim", "kind": "groups", "NoC@90": noc, "IoU-AuC": auc},
        {"dataset": "d", "simulator": "baseline", "kind": "single", "NoC@90": 2.0},
    ]
    return {"id": i, "name": f"m{i}", "model": "m", "paper": None, "code": None,
            "created": "", "results": results}  # fmt: skip


def test_the_ranking_sorts_by_the_chosen_metric_best_first_with_missing_values_last():
    spec = {"name": "b", "protocol": "rclicks-1", "datasets": ["d"], "simulators": ["sim"]}
    subs = [_sub(1, 3.0, 0.5), _sub(2, None, 0.9), _sub(3, 1.5, 0.7), _sub(4, 1.5, 0.2)]
    ids = lambda t: [e["id"] for e in t["entries"]]  # noqa: E731
    assert ids(board.table(spec, None, subs)) == [3, 4, 1, 2]  # NoC: lower first, ties by id
    t = board.table(spec, None, subs, metric="IoU-AuC")
    assert t["order"] == "desc" and ids(t) == [2, 3, 1, 4]
    assert ids(board.table(spec, None, subs, metric="IoU-AuC", order="asc")) == [4, 1, 3, 2]
    assert [e["rank"] for e in t["entries"]] == [1, 2, 3, 4]
    with pytest.raises(board.BoardError, match="unknown metric"):
        board.table(spec, None, subs, metric="nope")
    with pytest.raises(board.BoardError, match="dataset 'x' is not in this benchmark"):
        board.table(spec, None, subs, dataset="x")


def test_benchmark_add_stores_a_reference_or_says_why_it_cannot(tiny_benchmark, tmp_path):
    from tests.helpers import run_cli

    reg, _run = tiny_benchmark
    db = f"sqlite:///{tmp_path / 'lb.db'}"
    done = run_cli(["leaderboard", "benchmark", "add", "demo-tiny", "--db", db,
                    "--registry", str(reg)])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "demo-tiny: demo: 14 images, 30 instances, manifest sha256" in done.stdout
    from rclicks.leaderboard.db import BenchmarkRow

    with session_factory(make_engine(db))() as s:
        row = s.get(BenchmarkRow, "demo-tiny")
        assert row.problem is None and row.reference["datasets"][0]["instances"] == 30

    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "benchmarks:\n  far:\n    protocol: rclicks-1\n    datasets: [./no/such/folder]\n"
        "    simulators: [distance]\n  future:\n    protocol: rclicks-9\n"
        "    datasets: [demo]\n    simulators: [distance]\n"
    )
    far = run_cli(
        ["leaderboard", "benchmark", "add", "far", "--db", db, "--registry", str(missing)]
    )
    assert far.returncode == 1 and "dataset './no/such/folder'" in far.stderr
    future = run_cli(
        ["leaderboard", "benchmark", "add", "future", "--db", db, "--registry", str(missing)]
    )
    assert future.returncode == 1 and "unknown protocol version 'rclicks-9'" in future.stderr
    for r in (far, future):
        assert "Traceback" not in r.stderr


def test_a_record_poisoned_by_an_older_server_still_renders(app_and_token, tiny_benchmark):
    """An older server stored a MANIFEST's ``plugins: "oops"`` as it came; its page and its
    API answer must not be 500s forever."""
    client, app, token = app_and_token
    _reg, run = tiny_benchmark
    answer = _post(client, bundle_of(run), token)
    assert answer.status_code == 201, answer.text
    sid = answer.json()["id"]
    with app.state.sessions.begin() as s:
        sub = s.get(Submission, sid)
        sub.plugins, sub.files, sub.verification = "oops", ["x"], "junk"
        sub.results = [*sub.results, "not a result"]
    page = client.get(f"/submissions/{sid}")
    api = client.get(f"/api/submissions/{sid}")
    board_ = client.get("/api/leaderboard?benchmark=demo-tiny")
    assert (page.status_code, api.status_code, board_.status_code) == (200, 200, 200)
    data = api.json()
    assert data["plugins"] == {} and data["files"] == {} and data["verified"] == "rows only"
    assert "rows only" in page.text
