"""The leaderboard probed as an attacker would, on loopback: stored XSS, decompression and
row bombs, poisoned manifests, broken zip members, junk around the archive, fields too long
for one database but not the other, revoked and expired tokens. Every answer is a 4xx JSON
``{"detail": ...}`` (never a 500), nothing is stored, and every response carries the CSP and
``nosniff`` headers."""

from __future__ import annotations

import io
import json
import socket
import struct
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from rclicks.leaderboard.bundle import RUN_FILES, build_bundle
from rclicks.leaderboard.db import normalise_url
from rclicks.runs.schema import ROW_SCHEMA
from tests.browser import browser_page
from tests.conftest import LiveServer
from tests.helpers import run_cli
from tests.test_leaderboard import call, count_submissions, edited_json, stored_files

JSON_HEADERS = {"Content-Type": "application/zip"}


def _server(db: str, root: Path, reg: Path) -> LiveServer:
    live = LiveServer(db, root / "data", reg)
    live.mint_token("attacker")
    return live


@pytest.fixture(scope="module")
def server(tiny_benchmark, tmp_path_factory):
    reg, _run = tiny_benchmark
    root = tmp_path_factory.mktemp("hardening")
    live = _server(f"sqlite:///{root / 'lb.db'}", root, reg)
    yield live
    live.stop()


def post(server: LiveServer, body: bytes, token: str | None = "default"):
    headers = dict(JSON_HEADERS)
    token = server.token if token == "default" else token
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return call("POST", f"{server.url}/api/submissions", body, headers)


def files_of(run: Path, meta: dict | None = None) -> dict[str, bytes]:
    files = {n: (run / n).read_bytes() for n in RUN_FILES}
    meta = meta or {"name": "tiny", "paper": None, "code": None}
    files["submission.json"] = json.dumps(meta).encode()
    return files


def bundle(files: dict[str, bytes], versions: dict | None = None) -> bytes:
    return build_bundle(files, versions or {"rclicks": "0.1.0", "plugins": {}})


def refused(server: LiveServer, body: bytes, status: int | tuple, words: str) -> dict:
    before = count_submissions(server.db), stored_files(server)
    got, answer = post(server, body)
    statuses = status if isinstance(status, tuple) else (status,)
    assert got in statuses, (got, answer)
    assert isinstance(answer, dict) and words in answer["detail"], answer
    assert (count_submissions(server.db), stored_files(server)) == before
    return answer


# --- stored XSS ----------------------------------------------------------------------------

PAYLOAD = '"><script>window.pwned=1</script><b id=pwned>x'  # fits every field (<= 64)


def test_markup_in_every_rendered_field_stays_text_in_a_browser(tiny_benchmark, tmp_path):
    reg, run = tiny_benchmark
    live = _server(f"sqlite:///{tmp_path / 'lb.db'}", tmp_path, reg)
    try:
        files = files_of(run, {"name": PAYLOAD, "paper": PAYLOAD, "code": PAYLOAD})

        def run_edit(r):
            r["model"]["name"] = PAYLOAD
            r.update(device=PAYLOAD, started=PAYLOAD, finished=PAYLOAD, python=PAYLOAD)

        files["run.json"] = edited_json(run, "run.json", run_edit)
        files["summary.json"] = edited_json(run, "summary.json", lambda s: s.update(model=PAYLOAD))
        plugins = {PAYLOAD: {"distribution": PAYLOAD, "version": PAYLOAD, "status": PAYLOAD}}
        status, answer = post(live, bundle(files, {"rclicks": PAYLOAD, "plugins": plugins}))
        assert status == 201, answer
        for url in (f"{live.url}/", answer["url"]):
            with browser_page(url) as visit:
                page = visit.page
                assert page.evaluate("window.pwned") is None
                assert page.locator("#pwned").count() == 0
                assert page.locator("script").count() == 0
                assert PAYLOAD in page.locator("body").inner_text()
                assert visit.errors == []
        status, answer = call("GET", answer["url"])
        assert status == 200 and PAYLOAD.encode() not in answer  # escaped in the HTML
    finally:
        live.stop()


@pytest.mark.parametrize(
    "file, edit, words",
    [
        ("run.json", lambda r: r["datasets"][0].update(samples=PAYLOAD), "datasets.0.samples"),
        ("run.json", lambda r: r["datasets"][0].update(instances=PAYLOAD), "instances"),
        ("run.json", lambda r: r.update(workers="<b>2</b>"), "run.json: workers"),
    ],
)
def test_numbers_that_are_markup_are_refused(server, tiny_benchmark, file, edit, words):
    _reg, run = tiny_benchmark
    files = files_of(run)
    files[file] = edited_json(run, file, edit)
    refused(server, bundle(files), 400, words)


def _rezip(body: bytes, manifest_edit) -> bytes:
    """The bundle with its MANIFEST.json edited (the file hashes stay right)."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(members["MANIFEST.json"])
    manifest_edit(manifest)
    members["MANIFEST.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m.update(plugins="oops"), "MANIFEST.json: plugins"),
        (lambda m: m.update(rclicks={"a": 1}), "MANIFEST.json: rclicks"),
        (lambda m: m["files"]["run.json"].update(bytes=PAYLOAD), "MANIFEST.json: files.run.json"),
        (lambda m: m.update(extra="x"), "MANIFEST.json: extra"),
        (lambda m: m.update(rclicks="1" * 100), "MANIFEST.json: rclicks"),
    ],
)
def test_a_poisoned_manifest_is_refused_and_never_stored(server, tiny_benchmark, edit, words):
    _reg, run = tiny_benchmark
    refused(server, _rezip(bundle(files_of(run)), edit), 400, words)
    status, page = call("GET", f"{server.url}/")
    assert status == 200  # the board still renders


# --- the zip itself ------------------------------------------------------------------------


def _members(body: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return [(i, zf.read(i)) for i in zf.infolist()]


def _encrypted(body: bytes) -> bytes:
    """The flag of an encrypted member set in both headers (the data left as it is)."""
    data = bytearray(body)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        info = zf.getinfo("summary.json")
        local = info.header_offset
        data[local + 6] |= 0x01
        end = len(data) - 22
        cd_offset = struct.unpack("<I", data[end + 16 : end + 20])[0]
    at = cd_offset
    while data[at : at + 4] == b"PK\x01\x02":
        nlen, elen, clen = struct.unpack("<HHH", data[at + 28 : at + 34])
        name = bytes(data[at + 46 : at + 46 + nlen]).decode()
        if name == "summary.json":
            data[at + 8] |= 0x01
        at += 46 + nlen + elen + clen
    return bytes(data)


def _corrupt_deflate(body: bytes) -> bytes:
    data = bytearray(body)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        info = zf.getinfo("run.json")
    nlen, elen = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + nlen + elen
    for k in range(start, start + min(info.compress_size, 40)):
        data[k] ^= 0xFF
    return bytes(data)


def _lzma(body: bytes, corrupt: bool) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info, data in _members(body):
            method = zipfile.ZIP_LZMA if info.filename == "run.json" else zipfile.ZIP_DEFLATED
            zf.writestr(info.filename, data, compress_type=method)
    raw = bytearray(out.getvalue())
    if corrupt:
        with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
            info = zf.getinfo("run.json")
        start = info.header_offset + 30 + len("run.json") + 20
        for k in range(start, start + 30):
            raw[k] ^= 0x5A
    return bytes(raw)


@pytest.mark.parametrize(
    "make, words",
    [
        (_encrypted, "is encrypted"),
        (_corrupt_deflate, "'run.json' is corrupt"),
        (lambda b: _lzma(b, corrupt=True), "uses compression method 14"),
        (lambda b: _lzma(b, corrupt=False), "uses compression method 14"),
        (lambda b: b"#!/bin/sh\necho hi\n" + b, "bytes before the first member"),
        (lambda b: b + b"trailing junk", "bytes after the end of the zip archive"),
        (lambda b: b[:-30], "not a zip archive"),
    ],
)
def test_broken_archives_are_4xx(server, tiny_benchmark, make, words):
    _reg, run = tiny_benchmark
    refused(server, make(bundle(files_of(run))), 400, words)


def _zip_bomb(body: bytes) -> bytes:
    """summary.json padded with 200 MB of spaces: valid JSON, a tiny compressed member."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in _members(body):
            if info.filename == "summary.json":
                zf.writestr(
                    "summary.json", data + b" " * (200 << 20), compress_type=zipfile.ZIP_DEFLATED
                )
            else:
                zf.writestr(info, data)
    return out.getvalue()


def test_a_member_that_unpacks_past_its_limit_stops_early(server, tiny_benchmark):
    _reg, run = tiny_benchmark
    body = _zip_bomb(bundle(files_of(run)))
    assert len(body) < 1 << 20
    refused(server, body, 413, "over the limit")


# --- a parquet row bomb --------------------------------------------------------------------

BOMB_ROWS = 30_000_000


@pytest.fixture(scope="module")
def row_bomb(tmp_path_factory) -> bytes:
    """A valid-schema per_click.parquet of 30 M rows that compresses to about a megabyte."""
    n = 1_000_000
    chunk = pa.table(
        {
            "dataset": pa.array(["demo"] * n),
            "sample_id": pa.array(["demo_00"] * n),
            "instance_id": pa.array(["1"] * n),
            "simulator": pa.array(["baseline"] * n),
            "group": pa.array([0] * n, pa.int16()),
            "repeat": pa.array([1] * n, pa.int16()),
            "click": pa.array([1] * n, pa.int16()),
            "x": pa.array([1] * n, pa.int32()),
            "y": pa.array([1] * n, pa.int32()),
            "positive": pa.array([True] * n),
            "iou": pa.array([0.5] * n),
            "seconds": pa.array([0.01] * n),
            "biou": pa.nulls(n, pa.float64()),
        },
        schema=ROW_SCHEMA,
    )
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, ROW_SCHEMA, compression="zstd") as w:
        for _ in range(BOMB_ROWS // n):
            w.write_table(chunk, row_group_size=n)
    return buf.getvalue()


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_30m_row_parquet_is_refused_from_its_metadata(server, tiny_benchmark, row_bomb):
    _reg, run = tiny_benchmark
    assert pq.read_metadata(io.BytesIO(row_bomb)).num_rows == BOMB_ROWS
    files = files_of(run)
    files["per_click.parquet"] = row_bomb
    body = bundle(files)
    assert len(body) < 4 << 20
    post(server, bundle(files_of(run)))  # warm: the first check of a bundle loads code
    peak = _peak_rss_kib(server.proc.pid)
    answer = refused(server, body, 422, f"{BOMB_ROWS} rows, the benchmark has 270 clicks")
    assert answer
    grown = _peak_rss_kib(server.proc.pid) - peak
    assert grown < 100 * 1024, f"the server's peak memory grew by {grown} KiB"


def test_a_masks_file_that_declares_too_much_is_refused_before_decoding(server, tiny_benchmark):
    """Every mask row a 100 kB run of zero bytes: the file is small, its declared contents
    are not."""
    from rclicks.runs.masks import MASK_SCHEMA

    _reg, run = tiny_benchmark
    masks = pq.read_table(run / "masks.parquet").to_pydict()
    masks["rle"] = [b"\x01" + bytes(100_000)] * len(masks["rle"])
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(masks, schema=MASK_SCHEMA), buf, compression="zstd")
    files = files_of(run)
    files["masks.parquet"] = buf.getvalue()
    assert len(buf.getvalue()) < 1 << 20
    refused(server, bundle(files), 400, "masks.parquet: column 'rle' holds 27000270 bytes decoded")


def test_names_that_decode_to_too_much_are_refused_before_they_are_expanded(server, tiny_benchmark):
    """One 4,000-character sample id in every row: a few bytes in the file (a dictionary
    entry), a megabyte decoded."""
    _reg, run = tiny_benchmark
    rows = pq.read_table(run / "per_click.parquet").to_pydict()
    rows["sample_id"] = ["s" * 4000] * len(rows["sample_id"])
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(rows, schema=ROW_SCHEMA), buf)
    files = files_of(run)
    files["per_click.parquet"] = buf.getvalue()
    refused(server, bundle(files), 400, "per_click.parquet: column 'sample_id' holds 1080000")


# --- fields for one database but not the other ---------------------------------------------


def _fresh_pg(postgres_url: str, name: str) -> str:
    engine = create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def _field_cases(run: Path) -> dict[str, bytes]:
    def model(name):
        def edit_run(r):
            r["model"]["name"] = name

        files = files_of(run)
        files["run.json"] = edited_json(run, "run.json", edit_run)
        files["summary.json"] = edited_json(run, "summary.json", lambda s: s.update(model=name))
        return bundle(files)

    return {
        "300-char model name": model("m" * 300),
        "NUL in the model name": model("a\x00b"),
        "100-char rclicks version": bundle(files_of(run), {"rclicks": "1" * 100, "plugins": {}}),
        "NUL in the entry name": bundle(files_of(run, {"name": "a\x00b"})),
        "NUL in a plugin name": bundle(
            files_of(run), {"rclicks": "0.1.0", "plugins": {"p\x00": {"version": "1"}}}
        ),
        "5 MiB model name": model("m" * (5 << 20)),
        "deep JSON": bundle(
            {
                **files_of(run),
                "submission.json": b'{"name": "x", "paper": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            }  # fmt: skip
        ),
    }


def test_sqlite_and_postgresql_give_the_same_answers(tiny_benchmark, tmp_path, postgres_url):
    reg, run = tiny_benchmark
    cases = _field_cases(run)
    answers = {}
    for backend in ("sqlite", "postgresql"):
        root = tmp_path / backend
        db = f"sqlite:///{root / 'lb.db'}" if backend == "sqlite" else _fresh_pg(
            postgres_url, "rclicks_fields"
        )  # fmt: skip
        live = _server(db, root, reg)
        try:
            got = {}
            for name, body in cases.items():
                before = count_submissions(db)
                status, answer = post(live, body)
                assert 400 <= status < 500, (backend, name, status, answer)
                assert count_submissions(db) == before
                got[name] = (status, answer["detail"])
            status, answer = post(live, bundle(files_of(run)))
            assert status == 201, (backend, answer)
            answers[backend] = got
        finally:
            live.stop()
    assert answers["sqlite"] == answers["postgresql"]
    assert "at most 200 characters" in answers["sqlite"]["300-char model name"][1]
    assert "NUL" in answers["sqlite"]["NUL in the model name"][1]


# --- tokens --------------------------------------------------------------------------------


def test_revoked_and_expired_tokens_are_401(tiny_benchmark, tmp_path):
    reg, run = tiny_benchmark
    db = f"sqlite:///{tmp_path / 'lb.db'}"
    live = LiveServer(db, tmp_path / "data", reg)
    try:

        def token(*args: str) -> str:
            made = run_cli(["leaderboard", "token", "create", *args, "--db", db])
            assert made.returncode == 0, made.stderr
            return made.stdout.strip().splitlines()[-1]

        keep, gone, soon = token("keep"), token("gone"), token("soon", "--expires", "30d")
        done = run_cli(["leaderboard", "token", "revoke", "gone", "--db", db])
        assert done.returncode == 0 and "revoked" in done.stdout
        engine = create_engine(db)
        with engine.begin() as c:  # 30 days later
            c.execute(text("UPDATE tokens SET expires = '2001-01-01 00:00:00' WHERE name='soon'"))
        engine.dispose()
        listed = run_cli(["leaderboard", "token", "list", "--db", db, "--json"])
        status = {t["name"]: t["status"] for t in json.loads(listed.stdout)}
        assert status == {"keep": "active", "gone": "revoked", "soon": "expired"}
        assert keep not in listed.stdout and keep.split("_", 2)[2] not in listed.stdout

        body = bundle(files_of(run))
        for tok, words in ((gone, "revoked token"), (soon, "expired token")):
            got, answer = post(live, body, tok)
            assert got == 401 and answer["detail"] == words
        assert count_submissions(db) == 0
        got, answer = post(live, body, keep)
        assert got == 201, answer

        unknown = run_cli(["leaderboard", "token", "revoke", "nobody", "--db", db])
        assert unknown.returncode == 1 and "no token named 'nobody'" in unknown.stderr
        past = run_cli(["leaderboard", "token", "create", "x", "--expires", "2001-01-01",
                        "--db", db])  # fmt: skip
        assert past.returncode == 1 and "in the past" in past.stderr
    finally:
        live.stop()


# --- every response ------------------------------------------------------------------------


def _headers(url: str, method: str = "GET", body: bytes | None = None, headers=None):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_every_response_forbids_scripts_and_sniffing(server):
    answers = [
        _headers(f"{server.url}/"),
        _headers(f"{server.url}/docs"),
        _headers(f"{server.url}/api/benchmarks"),
        _headers(f"{server.url}/nowhere"),
        _headers(f"{server.url}/api/submissions/999"),
        _headers(f"{server.url}/api/submissions/x"),
        _headers(f"{server.url}/api/submissions", "POST", b"zip"),
        _headers(f"{server.url}/api/submissions", "DELETE"),
    ]
    for status, headers, body in answers:
        assert "script-src" not in headers["content-security-policy"]
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["x-content-type-options"] == "nosniff"
        if status >= 400:
            assert 400 <= status < 500 and "detail" in json.loads(body)
    assert [a[0] for a in answers] == [200, 200, 200, 404, 404, 422, 401, 405]


def test_a_request_too_malformed_for_the_app_gets_json(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    assert b"x-content-type-options: nosniff" in head.lower()
    assert json.loads(body)["detail"] == "Invalid HTTP request received."


def test_the_api_page_loads_nothing_from_elsewhere(server):
    with browser_page(f"{server.url}/docs") as visit:
        page = visit.page
        assert page.locator("script").count() == 0
        text_ = page.locator("body").inner_text()
        assert "POST /api/submissions" in text_ and "GET /api/leaderboard" in text_
        assert visit.errors == []
