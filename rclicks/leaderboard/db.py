"""The leaderboard database (SQLAlchemy): tokens, benchmarks with their references, and
submissions. A SQLite file by default, PostgreSQL by URL (``postgresql://user@host/db``).

Tokens are ``rclk_<key id>_<secret>``; the database keeps the key id, a random salt and
HMAC-SHA256(salt, secret), never the secret. A token is checked with a constant-time compare.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from rclicks.errors import DatabaseError, OptionError

TOKEN_PREFIX = "rclk"


class Base(DeclarativeBase):
    pass


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    salt: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class BenchmarkRow(Base):
    __tablename__ = "benchmarks"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    protocol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the instance list the server built from its own data (None: not available here)
    reference: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Submission(Base):
    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    benchmark: Mapped[str] = mapped_column(String(200), index=True)
    protocol: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    paper: Mapped[str | None] = mapped_column(String(500), nullable=True)
    code: Mapped[str | None] = mapped_column(String(500), nullable=True)
    submitted_by: Mapped[str] = mapped_column(String(200))
    created: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    rclicks: Mapped[str | None] = mapped_column(String(64), nullable=True)
    plugins: Mapped[dict[str, Any]] = mapped_column(JSON)
    run: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[list[Any]] = mapped_column(JSON)
    files: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    bundle_file: Mapped[str] = mapped_column(String(200))
    bundle_bytes: Mapped[int] = mapped_column(Integer)
    clicks: Mapped[int] = mapped_column(Integer)


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use psycopg 3; other URLs are kept."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"--db: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # durable, readers never block writers
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)
    except Exception as exc:  # noqa: BLE001 - a missing driver, a bad option
        raise DatabaseError(f"--db {url!r}: {exc}") from None


def init_db(engine: Engine) -> None:
    try:
        Base.metadata.create_all(engine)
    except Exception as exc:  # noqa: BLE001 - unreachable server, bad credentials
        first = str(exc).splitlines()[0]
        raise DatabaseError(f"cannot use the database {engine.url!r}: {first}") from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def create_token(session: Session, name: str) -> str:
    """A new token for ``name`` (unique); returns the secret token once."""
    if session.scalar(select(Token).where(Token.name == name)) is not None:
        raise OptionError(f"a token named {name!r} exists already")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    session.add(Token(name=name, key_id=key_id, salt=salt, digest=_digest(salt, secret)))
    session.commit()
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


_DUMMY_SALT = secrets.token_hex(16)


def verify_token(session: Session, token: str) -> str | None:
    """The token's name, or ``None`` when it is not a valid token."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    row = None
    if prefix == TOKEN_PREFIX and key_id and secret and len(token) < 200:
        row = session.scalar(select(Token).where(Token.key_id == key_id))
    salt = row.salt if row is not None else _DUMMY_SALT
    expected = row.digest if row is not None else "0" * 64
    ok = hmac.compare_digest(_digest(salt, secret), expected)  # same work either way
    return row.name if (ok and row is not None) else None
