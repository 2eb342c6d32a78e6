"""``rclicks submit`` and ``rclicks leaderboard serve|token create|list|revoke|benchmark
add``."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import typer

from rclicks.cli._ui import err_console, fail, out_console

DIR_ENV = "RCLICKS_LEADERBOARD_DIR"
DB_ENV = "RCLICKS_LEADERBOARD_DB"

leaderboard_app = typer.Typer(
    no_args_is_help=True, help="Run a leaderboard server and manage its tokens and benchmarks."
)
token_app = typer.Typer(no_args_is_help=True, help="Upload tokens.")
benchmark_app = typer.Typer(no_args_is_help=True, help="Benchmark references.")
leaderboard_app.add_typer(token_app, name="token")
leaderboard_app.add_typer(benchmark_app, name="benchmark")

_DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help=f"Folder for bundles (and the default SQLite file). Default ${DIR_ENV} or ./leaderboard.",
)
_DB = typer.Option(
    None,
    "--db",
    help=f"Database URL: sqlite:///FILE or postgresql://USER@HOST:PORT/DB. Default ${DB_ENV} "
    "or sqlite:///DATA_DIR/leaderboard.db.",
)
_REGISTRY = typer.Option(None, "--registry", help="Presets file with the benchmarks.")


def _where(db: str | None, data_dir: Path | None) -> tuple[str, Path]:
    from rclicks.leaderboard.server import default_db_url

    folder = data_dir or Path(os.environ.get(DIR_ENV) or "leaderboard")
    return db or os.environ.get(DB_ENV) or default_db_url(folder), folder


def submit_cmd(
    run_dir: Path = typer.Argument(..., help="A finished `rclicks eval --benchmark` run folder."),
    to: str | None = typer.Option(None, "--to", help="The leaderboard URL (http://HOST:PORT)."),
    token: str | None = typer.Option(
        None, "--token", help="Upload token (default $RCLICKS_TOKEN).", show_default=False
    ),
    name: str | None = typer.Option(None, "--name", help="Entry name (default: the model)."),
    paper: str | None = typer.Option(None, "--paper", help="Paper URL or citation."),
    code: str | None = typer.Option(None, "--code", help="Code URL."),
    registry: Path | None = _REGISTRY,
    bundle: Path | None = typer.Option(None, "--bundle", help="Also write the bundle here."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and bundle; upload nothing."),
) -> None:
    """Check a run against its benchmark, bundle it and upload it to a leaderboard."""
    from rclicks.leaderboard.submit import TOKEN_ENV, prepare, upload

    token = token or os.environ.get(TOKEN_ENV) or None
    if not dry_run:
        if not to:
            fail("--to URL is required (or use --dry-run)")
        if not token:
            fail(f"no upload token: pass --token or set ${TOKEN_ENV}")
    prepared = prepare(run_dir, name, paper, code, registry)
    c = prepared.checked
    instances = sum(d["instances"] for d in c.run.model_dump()["datasets"])
    out_console.print(
        f"{run_dir}: benchmark {c.spec.name} (protocol {c.spec.protocol}), model "
        f"{c.run.model.name}: {instances} instances, {c.clicks} clicks, complete; summary.json "
        "matches the metrics recomputed from per_click.parquet",
        highlight=False,
        soft_wrap=True,
    )
    from rclicks.leaderboard.bundle import sha256_bytes

    out_console.print(
        f"bundle: {len(prepared.bundle)} bytes, sha256 {sha256_bytes(prepared.bundle)}",
        highlight=False,
    )
    if bundle is not None:
        bundle.write_bytes(prepared.bundle)
        out_console.print(f"wrote {bundle}", highlight=False)
    if dry_run:
        out_console.print("dry run: nothing uploaded", highlight=False)
        return
    answer = upload(to, prepared.bundle, token)
    out_console.print(f"submitted #{answer.get('id')} ({answer.get('name')})", highlight=False)
    if answer.get("verified"):
        out_console.print(f"verified by the server: {answer['verified']}", highlight=False)
    out_console.print(str(answer.get("url")), highlight=False, soft_wrap=True)


@leaderboard_app.command("serve")
def serve_cmd(
    db: str | None = _DB,
    data_dir: Path | None = _DATA_DIR,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    registry: Path | None = _REGISTRY,
    max_upload_mb: float = typer.Option(64.0, "--max-upload-mb", help="Largest upload, MiB."),
    no_build: bool = typer.Option(
        False, "--no-build", help="Do not build missing benchmark references at start-up."
    ),
    verify_workers: int = typer.Option(
        0, "--verify-workers", help="Processes that check submitted masks (0: up to 4)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the leaderboard (JSON API + HTML pages) with uvicorn."""
    import uvicorn

    from rclicks.leaderboard.server import Settings, create_app

    url, folder = _where(db, data_dir)
    if max_upload_mb <= 0:
        fail(f"--max-upload-mb must be > 0, got {max_upload_mb}")
    if verify_workers < 0:
        fail(f"--verify-workers must be >= 0, got {verify_workers}")
    settings = Settings(
        db_url=url,
        data_dir=folder,
        registry=str(registry) if registry else None,
        max_upload=int(max_upload_mb * (1 << 20)),
        build_references=not no_build,
        verify_workers=verify_workers,
    )
    from rclicks.leaderboard.db import init_db, make_engine

    app = create_app(settings)
    init_db(make_engine(url))  # fail here, with a clear message, not inside uvicorn
    err_console.print(f"leaderboard: database {_safe_url(url)}, bundles in {settings.bundles}")
    from rclicks.leaderboard.http import JSONErrorsH11Protocol

    uvicorn.run(app, host=host, port=port, log_level=log_level, http=JSONErrorsH11Protocol)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(unparsable URL)"


def parse_expiry(text: str | None, now: _dt.datetime | None = None) -> _dt.datetime | None:
    """``30d``, ``12h``, ``90m`` from now, or an ISO date / time (UTC unless it says
    otherwise); ``None`` for no expiry."""
    if text is None:
        return None
    now = now or _dt.datetime.now(_dt.timezone.utc)
    units = {"d": "days", "h": "hours", "m": "minutes"}
    t = text.strip()
    if t[-1:] in units and t[:-1].isdigit():
        return now + _dt.timedelta(**{units[t[-1]]: int(t[:-1])})
    try:
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        fail(f"--expires {text!r}: give a duration (30d, 12h, 90m) or an ISO date (2027-01-31)")
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    if when <= now:
        fail(f"--expires {text!r} is in the past")
    return when


def _sessions(db: str | None, data_dir: Path | None):
    from rclicks.leaderboard.db import init_db, make_engine, session_factory

    url, _folder = _where(db, data_dir)
    engine = make_engine(url)
    init_db(engine)
    return session_factory(engine)


@token_app.command("create")
def token_create_cmd(
    name: str = typer.Argument(..., help="Who the token is for (unique)."),
    expires: str | None = typer.Option(
        None, "--expires", help="Expiry: a duration (30d, 12h) or an ISO date. Default: never."
    ),
    db: str | None = _DB,
    data_dir: Path | None = _DATA_DIR,
) -> None:
    """Create an upload token; it is printed once, on the last line (stored hashed)."""
    from rclicks.leaderboard.db import create_token

    when = parse_expiry(expires)
    with _sessions(db, data_dir)() as s:
        token = create_token(s, name, when)
    until = f", valid until {when.isoformat(timespec='seconds')}" if when else ""
    err_console.print(
        f"token for {name!r}{until} (shown once; the database keeps only its hash):",
        highlight=False,
    )
    print(token)


@token_app.command("list")
def token_list_cmd(
    db: str | None = _DB,
    data_dir: Path | None = _DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Every token: name, key id, created, expires, status (never a secret)."""
    import json

    from rich.table import Table

    from rclicks.leaderboard.db import list_tokens

    with _sessions(db, data_dir)() as s:
        tokens = list_tokens(s)

    def iso(when: _dt.datetime | None) -> str | None:
        return None if when is None else when.isoformat(timespec="seconds")

    rows = [{**t, **{k: iso(t[k]) for k in ("created", "expires", "revoked")}} for t in tokens]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table("name", "key id", "created", "expires", "status")
    for t in rows:
        table.add_row(t["name"], t["key_id"], t["created"], t["expires"] or "never", t["status"])
    out_console.print(table)


@token_app.command("revoke")
def token_revoke_cmd(
    name: str = typer.Argument(..., help="The token's name (rclicks leaderboard token list)."),
    db: str | None = _DB,
    data_dir: Path | None = _DATA_DIR,
) -> None:
    """Revoke a token: from now on the server answers 401 to it."""
    from rclicks.leaderboard.db import revoke_token

    with _sessions(db, data_dir)() as s:
        if not revoke_token(s, name):
            fail(f"no token named {name!r} (rclicks leaderboard token list)")
    out_console.print(f"revoked the token {name!r}", highlight=False)


@benchmark_app.command("add")
def benchmark_add_cmd(
    name: str = typer.Argument(..., help="A benchmark in registry.yaml."),
    db: str | None = _DB,
    data_dir: Path | None = _DATA_DIR,
    registry: Path | None = _REGISTRY,
) -> None:
    """Build (or rebuild) a benchmark's reference and ground truth from the datasets on this
    machine and store them, so the server checks coverage against the reference and every
    submitted mask against the ground truth."""
    from rclicks.leaderboard.benchmarks import benchmark_spec, build_reference
    from rclicks.leaderboard.db import add_benchmark

    reg_path = str(registry) if registry else None
    spec = benchmark_spec(name, reg_path)
    reference, truth = build_reference(spec, reg_path)
    with _sessions(db, data_dir).begin() as s:
        add_benchmark(s, spec, reference, truth, None)
    for d in reference["datasets"]:
        out_console.print(
            f"{name}: {d['dataset']}: {d['images']} images, {d['instances']} instances, "
            f"manifest sha256 {d['sha256']}",
            highlight=False,
        )
    t = reference["truth"]
    out_console.print(
        f"{name}: ground truth of {t['instances']} instances stored ({t['codec']}, sha256 "
        f"{t['sha256']})",
        highlight=False,
    )
