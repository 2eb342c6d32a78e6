"""The leaderboard end to end: a live ``rclicks leaderboard serve`` on 127.0.0.1 (SQLite, and a
real PostgreSQL server), ``rclicks submit``, the JSON API, the HTML page in headless Chromium,
and every rejection answered with a clear 4xx that leaves nothing stored."""

from __future__ import annotations

import hashlib
import http.client as httpclient
import io
import json
import stat
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select, text

from rclicks.leaderboard.bundle import RUN_FILES, build_bundle
from rclicks.leaderboard.db import Submission, normalise_url
from tests.browser import browser_page
from tests.conftest import LiveServer
from tests.helpers import run_cli


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            data, status, ctype = r.read(), r.status, r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        data, status, ctype = e.read(), e.code, e.headers.get("content-type", "")
    return status, (json.loads(data) if "json" in ctype else data)


def files_of(run: Path, **changes: bytes | None) -> dict[str, bytes]:
    files = {n: (run / n).read_bytes() for n in RUN_FILES}
    files["submission.json"] = json.dumps({"name": "tiny", "paper": None, "code": None}).encode()
    for name, data in changes.items():
        name = name.replace("_json", ".json").replace("_parquet", ".parquet")
        if data is None:
            files.pop(name)
        else:
            files[name] = data
    return files


def bundle_of(run: Path, **changes: bytes | None) -> bytes:
    return build_bundle(files_of(run, **changes), {"rclicks": "0.1.0", "plugins": {}})


def edited_json(run: Path, name: str, edit) -> bytes:
    data = json.loads((run / name).read_text())
    edit(data)
    return json.dumps(data).encode()


def count_submissions(db: str) -> int:
    engine = create_engine(normalise_url(db))
    try:
        with engine.connect() as c:
            return c.execute(select(func.count()).select_from(Submission)).scalar_one()
    finally:
        engine.dispose()


def stored_files(server: LiveServer) -> list[str]:
    folder = Path(server.data_dir) / "bundles"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_submit_a_demo_run_and_read_it_back_through_api_and_page(
    backend, request, tmp_path, tiny_benchmark, leaderboard_server
):
    reg, run = tiny_benchmark
    if backend == "sqlite":
        db = f"sqlite:///{tmp_path / 'lb.db'}"
    else:
        db = request.getfixturevalue("postgres_url")
    server = leaderboard_server(db, tmp_path / "data", reg)

    made = run_cli(["leaderboard", "token", "create", "ci-bot", "--db", db])
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("rclk_")
    engine = create_engine(normalise_url(db))
    with engine.connect() as c:  # stored hashed: neither the token nor its secret
        row = c.execute(text("SELECT key_id, salt, digest FROM tokens")).one()
    assert token.split("_", 2)[2] not in "".join(row) and len(row.digest) == 64

    name = "Geodesic <b>tiny</b>"
    done = run_cli(
        ["submit", str(run), "--to", server.url, "--registry", str(reg), "--name", name,
         "--paper", "https://example.org/paper"],
        env_extra={"RCLICKS_TOKEN": token},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{server.url}/submissions/")
    sid = int(url.rsplit("/", 1)[1])

    # the JSON API
    status, benches = call("GET", f"{server.url}/api/benchmarks")
    assert status == 200
    (bench,) = benches
    run_json = json.loads((run / "run.json").read_text())
    assert bench["name"] == "demo-tiny" and bench["accepting"] and bench["submissions"] == 1
    assert bench["reference"][0]["sha256"] == run_json["datasets"][0]["manifest_sha256"]
    assert bench["reference"][0]["instances"] == 30

    summary = json.loads((run / "summary.json").read_text())
    by = {(r["dataset"], r["simulator"]): r for r in summary["results"]}
    status, board = call("GET", f"{server.url}/api/leaderboard?benchmark=demo-tiny")
    assert status == 200
    (entry,) = board["entries"]
    assert entry["id"] == sid and entry["name"] == name and entry["url"] == url
    assert entry["metrics"]["NoC@90"] == pytest.approx(by["demo", "distance"]["NoC@90"])
    assert entry["metrics"]["baseline_NoC@90"] == pytest.approx(by["demo", "baseline"]["NoC@90"])

    status, sub = call("GET", f"{server.url}/api/submissions/{sid}")
    assert status == 200
    assert sub["benchmark"] == "demo-tiny" and sub["protocol"] == "rclicks-1"
    assert sub["clicks"] == pq.read_metadata(run / "per_click.parquet").num_rows
    for f in RUN_FILES:
        assert sub["files"][f]["sha256"] == hashlib.sha256((run / f).read_bytes()).hexdigest()
    assert [r["NoC@90"] for r in sub["results"]] == pytest.approx(
        [r["NoC@90"] for r in summary["results"]]
    )
    status, blob = call("GET", f"{server.url}/api/submissions/{sid}/bundle")
    assert status == 200 and hashlib.sha256(blob).hexdigest() == sub["bundle_sha256"]
    assert count_submissions(db) == 1 and len(stored_files(server)) == 1

    # the same results again: refused, nothing more stored
    again = run_cli(
        ["submit", str(run), "--to", server.url, "--registry", str(reg)],
        env_extra={"RCLICKS_TOKEN": token},
    )
    assert again.returncode == 1 and "(409)" in again.stderr and "duplicate" in again.stderr
    assert "Traceback" not in again.stderr
    assert count_submissions(db) == 1 and len(stored_files(server)) == 1
    engine.dispose()

    # the page, in a browser
    with browser_page(f"{server.url}/", screenshot=tmp_path / "board.png") as visit:
        page = visit.page
        table = page.locator("#board")
        assert name in table.inner_text()  # shown as text, not markup
        assert page.locator("#board b").count() == 0
        cell = page.locator(f'tr[data-submission-id="{sid}"] td[data-metric="NoC@90"]')
        assert cell.inner_text() == f"{by['demo', 'distance']['NoC@90']:.2f}"
        page.locator('a.sort[data-metric="IoU-AuC"]').click()
        page.wait_for_load_state("load")
        assert "metric=IoU-AuC" in page.url and "order=desc" in page.url
        assert "▼" in page.locator("th.sorted").inner_text()
        page.locator('a.sort[data-metric="IoU-AuC"]').click()
        page.wait_for_load_state("load")
        assert "order=asc" in page.url
        page.locator("a.submission").first.click()
        page.wait_for_load_state("load")
        assert page.url == url
        assert page.locator("#submission-name").inner_text() == f"#{sid} {name}"
        results = page.locator("#results").inner_text()
        assert "distance ×2" in results and "baseline" in results
        assert "https://example.org/paper" in page.locator("dl").inner_text()
        assert visit.errors == []


# --- rejections ---------------------------------------------------------------------------------

LIMIT_MB = 0.25  # the tiny bundle is ~10 kB


@pytest.fixture(scope="module")
def strict_server(tiny_benchmark, tmp_path_factory):
    reg, _run = tiny_benchmark
    root = tmp_path_factory.mktemp("strict")
    db = f"sqlite:///{root / 'lb.db'}"
    server = LiveServer(db, root / "data", reg, "--max-upload-mb", str(LIMIT_MB))
    server.mint_token("tester")
    yield server
    server.stop()


def _drop_instance(run: Path, sample: str, instance: str) -> dict[str, bytes]:
    """Rows and a *consistent* summary without one instance: only coverage can catch it."""
    import rclicks

    table = pq.read_table(run / "per_click.parquet")
    keep = pc.invert(
        pc.and_(pc.equal(table["sample_id"], sample), pc.equal(table["instance_id"], instance))
    )
    table = table.filter(keep)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    run_info = json.loads((run / "run.json").read_text())
    summary = rclicks.summarize(table, run_info)
    return {"per_click.parquet": buf.getvalue(), "summary.json": json.dumps(summary).encode()}


def _consistent_without_instance(run: Path) -> bytes:
    """Rows, summary *and* manifest without one instance, all consistent with each other (and
    the run's own digest updated): only a server that checks against its own reference can
    tell that the instance is missing."""
    from rclicks.datasets.base import build_manifest

    files = _drop_instance(run, "demo_00", "2")
    manifest = json.loads((run / "manifest.json").read_text())
    d = manifest["datasets"][0]
    d["samples"][0]["instances"].remove("2")
    d.update(build_manifest(d["dataset"], d["loader"], d["options"], d["samples"], d["limit"]))

    def edit(r):
        r["datasets"][0]["manifest_sha256"] = d["sha256"]

    files["manifest.json"] = json.dumps(manifest).encode()
    files["run.json"] = edited_json(run, "run.json", edit)
    return bundle_of(run, **{k.replace(".", "_"): v for k, v in files.items()})


def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def _with_member(bundle: bytes, info: zipfile.ZipInfo | str, data: bytes, drop: str = "") -> bytes:
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist() if i.filename != drop]
    return _zip([*members, (info, data)])


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _tampered_summary(run: Path) -> bytes:
    def edit(s):
        for r in s["results"]:
            if r["simulator"] == "distance":
                r["NoC@90"] += 0.25

    return bundle_of(run, summary_json=edited_json(run, "summary.json", edit))


def _hash_mismatch(run: Path) -> bytes:
    bundle = bundle_of(run)
    changed = edited_json(run, "summary.json", lambda s: s.update(model="better"))
    return _with_member(bundle, "summary.json", changed, drop="summary.json")


def _unknown_protocol(run: Path) -> bytes:
    def edit(d):
        d["benchmark_protocol"] = "rclicks-99"

    return bundle_of(
        run,
        run_json=edited_json(run, "run.json", edit),
        summary_json=edited_json(run, "summary.json", edit),
    )


def _other_data(run: Path) -> bytes:
    def edit(d):
        d["datasets"][0]["manifest_sha256"] = "0" * 64

    return bundle_of(run, run_json=edited_json(run, "run.json", edit))


def _limit_run(run: Path) -> bytes:
    return bundle_of(run, run_json=edited_json(run, "run.json", lambda d: d.update(limit=5)))


def _other_groups(run: Path) -> bytes:
    def edit(d):
        d["protocol"]["groups"] = 3

    return bundle_of(
        run,
        run_json=edited_json(run, "run.json", edit),
        summary_json=edited_json(run, "summary.json", edit),
    )


def _unknown_benchmark(run: Path) -> bytes:
    return bundle_of(run, run_json=edited_json(run, "run.json", lambda d: d.update(benchmark="x")))


REJECTIONS = {
    # name: (bundle maker, status, words the detail must hold)
    "tampered summary": (_tampered_summary, 422, "summary.json disagrees"),
    "missing instance": (
        lambda run: bundle_of(run, **_drop_instance(run, "demo_00", "2")),
        422,
        "1 instance(s) of benchmark 'demo-tiny' missing: demo/demo_00/2",
    ),
    "missing instance, manifest to match": (
        _consistent_without_instance,
        422,
        "1 sample(s) other data (e.g. demo_00)",
    ),
    "malformed parquet": (
        lambda run: bundle_of(run, per_click_parquet=b"PAR1 this is not parquet PAR1"),
        400,
        "per_click.parquet: not a readable parquet file",
    ),
    "wrong parquet columns": (
        lambda run: bundle_of(
            run,
            per_click_parquet=_parquet(pa.table({"dataset": ["demo"], "iou": [0.5]})),
        ),
        400,
        "per_click.parquet: column 'sample_id' is missing",
    ),
    "hash mismatch": (_hash_mismatch, 400, "sha256 of summary.json does not match"),
    "path traversal": (
        lambda run: _with_member(bundle_of(run), "../evil.json", b"{}"),
        400,
        "'../evil.json' has '..' (path traversal)",
    ),
    "absolute path": (
        lambda run: _with_member(bundle_of(run), "/tmp/rclicks-evil.json", b"{}"),
        400,
        "has an absolute path",
    ),
    "symlink": (
        lambda run: _with_member(
            bundle_of(run), _symlink("summary.json"), b"/etc/passwd", drop="summary.json"
        ),  # fmt: skip
        400,
        "'summary.json' is a symbolic link",
    ),
    "not a zip": (lambda run: b"just some bytes", 400, "not a zip archive"),
    "missing file": (lambda run: bundle_of(run, manifest_json=None), 400, "missing manifest.json"),
    "unknown protocol": (_unknown_protocol, 422, "unknown protocol version 'rclicks-99'"),
    "other data": (_other_data, 422, "the run's data is not the benchmark's"),
    "limit run": (_limit_run, 422, "--limit 5"),
    "inconsistent manifest": (
        lambda run: bundle_of(
            run,
            manifest_json=edited_json(
                run, "manifest.json", lambda m: m["datasets"][0]["samples"].pop()
            ),
        ),
        422,
        "its sha256 is not the digest of its samples",
    ),
    "other settings": (_other_groups, 422, "groups = 3, benchmark 'demo-tiny' needs 2"),
    "unknown benchmark": (_unknown_benchmark, 422, "benchmark 'x' is not on this leaderboard"),
}


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _post(server: LiveServer, body: bytes, token: str | None):
    headers = {"Content-Type": "application/zip"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return call("POST", f"{server.url}/api/submissions", body, headers)


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_bad_bundles_are_rejected_with_a_clear_4xx_and_nothing_stored(
    case, strict_server, tiny_benchmark
):
    _reg, run = tiny_benchmark
    make, want_status, words = REJECTIONS[case]
    before = count_submissions(strict_server.db), stored_files(strict_server)
    status, answer = _post(strict_server, make(run), strict_server.token)
    assert status == want_status, answer
    assert words in answer["detail"]
    assert (count_submissions(strict_server.db), stored_files(strict_server)) == before
    assert not Path("/tmp/rclicks-evil.json").exists()
    assert not (Path(strict_server.data_dir) / "evil.json").exists()


@pytest.mark.parametrize(
    "token, words",
    [(None, "missing token"), ("rclk_0123456789ab_wrong", "invalid token"), ("garbage", "invalid")],
)
def test_a_wrong_or_missing_token_is_401(token, words, strict_server, tiny_benchmark):
    _reg, run = tiny_benchmark
    before = count_submissions(strict_server.db), stored_files(strict_server)
    status, answer = _post(strict_server, bundle_of(run), token)
    assert status == 401 and words in answer["detail"]
    assert (count_submissions(strict_server.db), stored_files(strict_server)) == before


def test_uploads_over_the_limit_are_413_whether_announced_or_streamed(strict_server):
    limit = int(LIMIT_MB * (1 << 20))
    before = count_submissions(strict_server.db), stored_files(strict_server)
    status, answer = _post(strict_server, b"x" * (limit + 1), strict_server.token)
    assert status == 413 and "over the limit" in answer["detail"]

    # no Content-Length: chunked, so the server can only count while it streams
    conn = httpclient.HTTPConnection("127.0.0.1", strict_server.port, timeout=60)
    conn.putrequest("POST", "/api/submissions")
    conn.putheader("Authorization", f"Bearer {strict_server.token}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"y" * 16384
    try:
        for _ in range(limit // len(chunk) + 2):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer and close before the client is done
    resp = conn.getresponse()
    assert resp.status == 413 and "over the limit" in json.loads(resp.read())["detail"]
    conn.close()
    assert (count_submissions(strict_server.db), stored_files(strict_server)) == before


def test_the_strict_server_accepts_the_untouched_bundle(strict_server, tiny_benchmark):
    """The rejections above are specific: the same bundle, unchanged, is accepted."""
    _reg, run = tiny_benchmark
    before = count_submissions(strict_server.db)
    status, answer = _post(strict_server, bundle_of(run), strict_server.token)
    assert status == 201, answer
    assert count_submissions(strict_server.db) == before + 1
    assert f"{answer['id']}" in answer["url"]
