"""``rclicks leaderboard serve``: the leaderboard as an ASGI app (FastAPI) over SQLAlchemy.

JSON API (schema at ``/openapi.json``, a plain page of it at ``/docs``)::

    GET  /api/benchmarks                      benchmarks, protocol versions, reference digests
    GET  /api/leaderboard?benchmark=NAME      ranked submissions (dataset, simulator, metric)
    GET  /api/submissions/{id}                one submission: metadata, versions, hashes, metrics
    GET  /api/submissions/{id}/bundle         the stored bundle
    POST /api/submissions                     a bundle (application/zip), Bearer token

HTML: ``/`` (the leaderboard, sortable by dataset and metric), ``/submissions/{id}`` and
``/docs``, rendered on the server: no scripts, nothing loaded from elsewhere. Every response
carries a Content-Security-Policy that forbids scripts and outside loads, and
``X-Content-Type-Options: nosniff``. Every error is JSON ``{"detail": "..."}`` with a 4xx
status naming what is wrong.

A submission is ranked only on what the server recomputed: every metric from the rows, every
IoU from the submitted masks against the server's own ground truth, every click re-derived
(:mod:`rclicks.leaderboard.verify`); each entry says what was verified.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from rclicks.errors import BenchmarkError, BundleError, SubmissionError
from rclicks.leaderboard import board
from rclicks.leaderboard.benchmarks import BenchmarkSpec, build_reference, reference_instances
from rclicks.leaderboard.bundle import read_bundle
from rclicks.leaderboard.db import (
    BenchmarkRow,
    Submission,
    TruthRow,
    add_benchmark,
    check_token,
    init_db,
    load_truth,
    make_engine,
    session_factory,
)
from rclicks.leaderboard.store import BundleStore
from rclicks.leaderboard.validate import check_files, read_run

log = logging.getLogger("rclicks.leaderboard")

MiB = 1 << 20
DEFAULT_MAX_UPLOAD = 64 * MiB


@dataclass
class Settings:
    db_url: str
    data_dir: Path
    registry: str | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD  # bytes of one upload (the zip)
    max_uncompressed: int = 0  # bytes a bundle may unpack to (0: 2 × max_upload + 16 MiB)
    build_references: bool = True  # build missing references from the datasets at start-up
    verify_workers: int = 0  # processes that check submitted masks (0: up to 4, by CPUs)

    @property
    def bundles(self) -> Path:
        return Path(self.data_dir) / "bundles"


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / 'leaderboard.db').resolve()}"


# --- every response ---------------------------------------------------------------------


def _csp() -> str:
    from rclicks.leaderboard.pages import style_hash

    return (
        "default-src 'none'; "
        f"style-src '{style_hash()}'; "
        "img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


SECURITY_HEADERS = {
    "Content-Security-Policy": _csp(),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- API models -----------------------------------------------------------------------------


class ErrorOut(BaseModel):
    detail: str


class DatasetRefOut(BaseModel):
    name: str
    dataset: str
    sha256: str
    images: int
    instances: int


class BenchmarkOut(BaseModel):
    name: str
    protocol: str | None
    datasets: list[str]
    simulators: list[str]
    groups: int
    repeats: int
    max_clicks: int
    baseline: bool
    accepting: bool
    problem: str | None
    reference: list[DatasetRefOut] | None
    submissions: int


class MetricOut(BaseModel):
    key: str
    label: str
    higher_is_better: bool


class EntryOut(BaseModel):
    rank: int
    id: int
    url: str
    name: str
    model: str
    paper: str | None
    code: str | None
    created: str
    verified: str
    metrics: dict[str, float | None]


class LeaderboardOut(BaseModel):
    benchmark: str
    protocol: str | None
    dataset: str
    simulator: str
    metric: str
    order: str
    datasets: list[str]
    simulators: list[str]
    metrics: list[MetricOut]
    entries: list[EntryOut]


class SubmissionOut(BaseModel):
    id: int
    url: str
    benchmark: str
    protocol: str
    name: str
    model: str
    paper: str | None
    code: str | None
    created: str
    rclicks: str | None
    plugins: dict[str, Any]
    run: dict[str, Any]
    results: list[dict[str, Any]]
    files: dict[str, Any]
    bundle_sha256: str
    bundle_bytes: int
    rows_sha256: str
    clicks: int
    verified: str
    verification: dict[str, Any] | None


class SubmissionCreated(BaseModel):
    id: int
    url: str
    benchmark: str
    name: str
    verified: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorOut} for c in codes}


# --- benchmarks -----------------------------------------------------------------------------


def _has_truth(s, row: BenchmarkRow) -> bool:
    """The reference records its ground truth and the truth table holds all of it."""
    truth = (row.reference or {}).get("truth")
    if not truth:
        return False
    stored = s.scalar(
        select(func.count()).select_from(TruthRow).where(TruthRow.benchmark == row.name)
    )
    return stored == truth.get("instances") == len(reference_instances(row.reference))


def sync_benchmarks(sessions, registry: str | None, build: bool = True) -> None:
    """Bring the benchmarks table in line with ``registry.yaml``: a benchmark whose spec
    changed, or that has no reference or ground truth yet, gets them (re)built from the
    datasets this server can read; one that cannot be built is listed with the reason."""
    from rclicks.plugins.presets import load_registry

    reg = load_registry(registry)
    with sessions() as s:
        for b in reg.benchmarks.values():
            spec = BenchmarkSpec.from_registry(b)
            row = s.get(BenchmarkRow, spec.name)
            if (
                row is not None
                and row.spec == spec.as_dict()
                and row.reference is not None
                and _has_truth(s, row)
            ):
                continue
            reference, truth, problem = None, None, spec.problem()
            if problem is None and build:
                try:
                    reference, truth = build_reference(spec, registry)
                except BenchmarkError as exc:
                    problem = str(exc)
            elif problem is None:
                problem = "no reference built yet (rclicks leaderboard benchmark add)"
            add_benchmark(s, spec, reference, truth, problem)
            if problem:
                log.warning("benchmark %s is not accepting submissions: %s", spec.name, problem)
            else:
                log.info("benchmark %s: reference and ground truth built", spec.name)
        s.commit()


def _benchmark_out(row: BenchmarkRow, count: int) -> BenchmarkOut:
    spec = row.spec
    ref = row.reference
    return BenchmarkOut(
        **{k: spec[k] for k in ("name", "protocol", "datasets", "simulators")},
        **{k: spec[k] for k in ("groups", "repeats", "max_clicks", "baseline")},
        accepting=ref is not None and row.problem is None and bool(ref.get("truth")),
        problem=row.problem,
        reference=None
        if ref is None
        else [
            DatasetRefOut(**{k: d[k] for k in ("name", "dataset", "sha256", "images", "instances")})
            for d in ref["datasets"]
        ],
        submissions=count,
    )


def _submission_dict(sub: Submission) -> dict[str, Any]:
    return {
        "id": sub.id,
        "name": sub.name,
        "model": sub.model,
        "paper": sub.paper,
        "code": sub.code,
        "created": _iso(sub.created),
        "verified": verified_label(sub.verification),
        "results": _well_formed(sub)["results"],
    }


def _well_formed(sub: Submission) -> dict[str, Any]:
    """The JSON fields of a stored submission as their types, whatever an older server let
    in (one once stored a MANIFEST's ``plugins: "oops"``): a wrong one reads as empty."""
    out: dict[str, Any] = {}
    for name, kind in (("plugins", dict), ("run", dict), ("files", dict), ("results", list)):
        value = getattr(sub, name)
        if not isinstance(value, kind):
            value = kind()
        if kind is dict:
            value = {str(k): v for k, v in value.items() if name == "run" or isinstance(v, dict)}
        else:
            value = [v for v in value if isinstance(v, dict)]
        out[name] = value
    if not isinstance(sub.verification, dict | None):
        out["verification"] = None
    return out


def verified_label(verification: dict[str, Any] | None) -> str:
    """What the server checked, in words: ``masks`` (every IoU recomputed from the masks,
    every click re-derived), else ``rows`` (metrics recomputed from the rows only)."""
    if isinstance(verification, dict) and verification.get("level") == "masks":
        return "masks: every IoU and click"
    return "rows only"


def _iso(when: _dt.datetime | None) -> str:
    """UTC ISO time (SQLite hands back naive datetimes; they were stored in UTC)."""
    if when is None:
        return ""
    return (when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)).isoformat()


def _run_record(run) -> dict[str, Any]:
    data = run.model_dump()
    keep = (
        "model", "simulators", "datasets", "protocol", "benchmark", "benchmark_protocol",
        "device", "workers", "started", "finished", "python", "platform", "numpy", "torch",
    )  # fmt: skip
    return json.loads(json.dumps({k: data.get(k) for k in keep}, default=str))


# --- the app --------------------------------------------------------------------------------


def create_app(settings: Settings) -> FastAPI:
    engine = make_engine(settings.db_url)
    sessions = session_factory(engine)
    store = BundleStore(settings.bundles)
    max_unpacked = settings.max_uncompressed or 2 * settings.max_upload + 16 * MiB
    workers = settings.verify_workers or min(4, os.cpu_count() or 1)
    pools: list[ProcessPoolExecutor] = []

    def verify_pool() -> ProcessPoolExecutor | None:
        """The processes that check masks, started with the first submission."""
        if workers <= 1:
            return None
        if not pools:
            pools.append(ProcessPoolExecutor(workers, mp_context=get_context("spawn")))
        return pools[0]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        def start() -> None:
            init_db(engine)
            sync_benchmarks(sessions, settings.registry, settings.build_references)
            with sessions() as s:
                known = set(s.scalars(select(Submission.bundle_file)))
            removed = store.cleanup(known)
            if removed:
                log.warning("removed %d unfinished upload(s): %s", len(removed), removed)

        await run_in_threadpool(start)
        yield
        for pool in pools:
            pool.shutdown(cancel_futures=True)
        engine.dispose()

    app = FastAPI(
        title="rclicks leaderboard",
        version="1",
        description="Submissions of rclicks benchmark runs; every metric is recomputed "
        "from the submitted per-click rows, every IoU from the submitted masks against the "
        "server's ground truth, and every click re-derived.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load scripts from a CDN; /docs is our own page
        redoc_url=None,
    )
    app.add_middleware(SecurityHeaders)
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.store = store

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:3]:
            loc = ".".join(str(p) for p in e.get("loc", ()))
            parts.append(f"{loc}: {e.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal server error"}, status_code=500, headers=SECURITY_HEADERS
        )

    # --- reads ------------------------------------------------------------------------------

    def _counts(s) -> dict[str, int]:
        rows = s.execute(select(Submission.benchmark, func.count()).group_by(Submission.benchmark))
        return {name: n for name, n in rows}

    @app.get("/api/benchmarks", response_model=list[BenchmarkOut], tags=["read"])
    def list_benchmarks() -> list[BenchmarkOut]:
        """Every benchmark this server knows, whether it accepts submissions, and the digests
        of the reference data it checks coverage against."""
        with sessions() as s:
            counts = _counts(s)
            rows = s.scalars(select(BenchmarkRow).order_by(BenchmarkRow.name)).all()
            return [_benchmark_out(r, counts.get(r.name, 0)) for r in rows]

    def _leaderboard(
        request: Request, benchmark: str, dataset, simulator, metric, order
    ) -> dict[str, Any]:
        with sessions() as s:
            ok = len(benchmark) <= 200 and "\x00" not in benchmark
            row = s.get(BenchmarkRow, benchmark) if ok else None
            if row is None:
                raise HTTPException(404, f"unknown benchmark {benchmark!r}")
            subs = s.scalars(
                select(Submission)
                .where(Submission.benchmark == benchmark, Submission.protocol == row.protocol)
                .order_by(Submission.id)
            ).all()
            try:
                data = board.table(
                    row.spec,
                    row.reference,
                    [_submission_dict(x) for x in subs],
                    dataset,
                    simulator,
                    metric,
                    order,
                )
            except board.BoardError as exc:
                raise HTTPException(422, str(exc)) from None
        for e in data["entries"]:
            e["url"] = str(request.url_for("submission_page", submission_id=e["id"]))
        return data

    @app.get(
        "/api/leaderboard",
        response_model=LeaderboardOut,
        responses=_errors(404, 422),
        tags=["read"],
    )
    def leaderboard(
        request: Request,
        benchmark: str = Query(..., description="benchmark name (GET /api/benchmarks)"),
        dataset: str | None = Query(None, description="a dataset of the benchmark, or 'all'"),
        simulator: str | None = Query(None, description="a simulator of the benchmark"),
        metric: str | None = Query(None, description="the metric to rank by"),
        order: str | None = Query(None, description="asc or desc (default: best first)"),
    ) -> dict[str, Any]:
        """Ranked submissions of one benchmark; metrics of one dataset (or their mean, 'all')
        and one simulator."""
        return _leaderboard(request, benchmark, dataset, simulator, metric, order)

    def _get_submission(s, submission_id: int) -> Submission:
        sub = s.get(Submission, submission_id) if 0 < submission_id < 2**31 else None
        if sub is None:
            raise HTTPException(404, f"no submission {submission_id}")
        return sub

    def _submission_out(request: Request, sub: Submission) -> dict[str, Any]:
        return {
            **{c: getattr(sub, c) for c in SubmissionOut.model_fields if hasattr(sub, c)},
            **_well_formed(sub),
            "created": _iso(sub.created),
            "verified": verified_label(sub.verification),
            "url": str(request.url_for("submission_page", submission_id=sub.id)),
        }

    @app.get(
        "/api/submissions/{submission_id}",
        response_model=SubmissionOut,
        responses=_errors(404, 422),
        tags=["read"],
    )
    def get_submission(request: Request, submission_id: int) -> dict[str, Any]:
        """One submission: who, what, versions, file hashes and every (recomputed) metric."""
        with sessions() as s:
            return _submission_out(request, _get_submission(s, submission_id))

    @app.get(
        "/api/submissions/{submission_id}/bundle",
        response_class=FileResponse,
        responses={200: {"content": {"application/zip": {}}}, **_errors(404, 422)},
        tags=["read"],
    )
    def get_bundle(submission_id: int) -> FileResponse:
        """The bundle as it was submitted."""
        with sessions() as s:
            sub = _get_submission(s, submission_id)
            path = store.path(sub.bundle_file)
        if not path.is_file():
            raise HTTPException(404, f"the bundle of submission {submission_id} is missing")
        return FileResponse(
            path, media_type="application/zip", filename=f"submission-{submission_id}.zip"
        )

    # --- the upload -------------------------------------------------------------------------

    bearer = HTTPBearer(auto_error=False, description="an upload token (rclicks leaderboard "
                        "token create)")  # fmt: skip

    def authenticate(credentials: HTTPAuthorizationCredentials | None) -> str:
        token = credentials.credentials if credentials is not None else ""
        if not token.strip():
            raise HTTPException(
                401,
                "missing token: send 'Authorization: Bearer <token>' "
                "(rclicks submit --token or $RCLICKS_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        with sessions() as s:
            name, status = check_token(s, token.strip())
        if name is None:
            raise HTTPException(401, f"{status} token", headers={"WWW-Authenticate": "Bearer"})
        return name

    def accept(part: Path, bundle_sha: str, size: int, who: str) -> Submission:
        """Validate the uploaded bundle; store it and its row, or nothing."""
        files = read_bundle(part, max_unpacked)
        claim = read_run(files).benchmark  # typed and bounded before any lookup
        with sessions() as s:
            row = s.get(BenchmarkRow, claim) if claim is not None else None
            if row is None:
                names = ", ".join(s.scalars(select(BenchmarkRow.name)))
                raise SubmissionError(
                    f"run.json: benchmark {claim!r} is not on this leaderboard (it has: {names})"
                )
            if row.reference is None or row.problem or not _has_truth(s, row):
                raise SubmissionError(
                    f"benchmark {row.name!r} is not accepting submissions: "
                    f"{row.problem or 'no ground truth on this server'}"
                )
            spec, reference = BenchmarkSpec.from_dict(row.spec), row.reference
            truth = load_truth(s, spec.name)
        checked = check_files(files, spec, reference, truth, verify_pool())
        del truth
        with sessions() as s:
            same = Submission.rows_sha256 == checked.rows_sha256
            dup = s.scalar(select(Submission.id).where(same))
        if dup is not None:
            raise SubmissionError(f"duplicate: these results were already submitted (#{dup})", 409)
        bundle = checked.bundle.model_dump()
        final = store.commit(part)
        try:
            with sessions.begin() as s:
                sub = Submission(
                    benchmark=spec.name,
                    protocol=spec.protocol or "",
                    name=checked.meta.name,
                    model=checked.run.model.name,
                    paper=checked.meta.paper,
                    code=checked.meta.code,
                    submitted_by=who,
                    rclicks=bundle["rclicks"],
                    plugins=bundle["plugins"],
                    run=_run_record(checked.run),
                    results=checked.results,
                    files=bundle["files"],
                    rows_sha256=checked.rows_sha256,
                    bundle_sha256=bundle_sha,
                    bundle_file=final.name,
                    bundle_bytes=size,
                    clicks=checked.clicks,
                    verification=checked.verification,
                )
                s.add(sub)
                s.flush()
        except IntegrityError:
            store.discard(final)
            raise SubmissionError("duplicate: these results were already submitted", 409) from None
        except BaseException:
            store.discard(final)
            raise
        return sub

    @app.post(
        "/api/submissions",
        status_code=201,
        response_model=SubmissionCreated,
        responses=_errors(400, 401, 409, 413, 422),
        tags=["submit"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "a bundle made by `rclicks submit` (zip)",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def post_submission(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> JSONResponse:
        """Submit a bundle. The server checks the MANIFEST hashes, the benchmark and protocol
        version, coverage against its own reference, and recomputes every metric."""
        who = await run_in_threadpool(authenticate, credentials)
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise HTTPException(400, "Content-Length is not a number")
            if int(length) > settings.max_upload:
                raise HTTPException(
                    413, f"upload of {length} bytes is over the limit of {settings.max_upload}"
                )
        part = store.new_part()
        digest = hashlib.sha256()
        size = 0
        try:
            with open(part, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > settings.max_upload:  # stop while streaming
                        raise HTTPException(
                            413, f"upload is over the limit of {settings.max_upload} bytes"
                        )
                    digest.update(chunk)
                    f.write(chunk)
            if size == 0:
                raise HTTPException(400, "empty upload: send the bundle as the request body")
            sub = await run_in_threadpool(accept, part, digest.hexdigest(), size, who)
        except BundleError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        except ClientDisconnect:
            log.info("client disconnected during an upload; nothing stored")
            raise HTTPException(400, "upload interrupted") from None
        finally:
            if part.exists():
                store.discard(part)
        url = str(request.url_for("submission_page", submission_id=sub.id))
        log.info("submission #%d (%s) accepted from %s", sub.id, sub.name, who)
        return JSONResponse(
            {
                "id": sub.id,
                "url": url,
                "benchmark": sub.benchmark,
                "name": sub.name,
                "verified": verified_label(sub.verification),
            },
            status_code=201,
            headers={"Location": url},
        )

    # --- pages ------------------------------------------------------------------------------

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs_page() -> HTMLResponse:
        from rclicks.leaderboard import pages

        return HTMLResponse(pages.api_docs(app.openapi()))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index_page(
        request: Request,
        benchmark: str | None = None,
        dataset: str | None = None,
        simulator: str | None = None,
        metric: str | None = None,
        order: str | None = None,
    ) -> HTMLResponse:
        from rclicks.leaderboard import pages

        with sessions() as s:
            counts = _counts(s)
            rows = s.scalars(select(BenchmarkRow).order_by(BenchmarkRow.name)).all()
            benches = [_benchmark_out(r, counts.get(r.name, 0)) for r in rows]
        if not benches:
            return HTMLResponse(pages.index(benches, None, None))
        if benchmark is None:  # the first that has submissions, else the first accepting
            ranked = sorted(benches, key=lambda b: (-b.submissions, not b.accepting, b.name))
            benchmark = ranked[0].name
        try:
            data = _leaderboard(request, benchmark, dataset, simulator, metric, order)
            error = None
        except HTTPException as exc:
            data, error = None, str(exc.detail)
        status = 200 if error is None else 404 if "unknown benchmark" in error else 422
        return HTMLResponse(pages.index(benches, data, error), status_code=status)

    @app.get(
        "/submissions/{submission_id}",
        response_class=HTMLResponse,
        include_in_schema=False,
        name="submission_page",
    )
    def submission_page(request: Request, submission_id: int) -> HTMLResponse:
        from rclicks.leaderboard import pages

        with sessions() as s:
            sub = _submission_out(request, _get_submission(s, submission_id))
            row = s.get(BenchmarkRow, sub["benchmark"])
            spec = row.spec if row is not None else None
        return HTMLResponse(pages.submission(sub, spec))

    return app
