"""The leaderboard database (SQLAlchemy): tokens, benchmarks with their references and
ground truth, and submissions. A SQLite file by default, PostgreSQL by URL
(``postgresql://user@host/db``). Every string a client sends is checked for type, length and
NUL bytes before it gets here (:mod:`rclicks.leaderboard.validate`), so both databases store
and refuse the same things.

Tokens are ``rclk_<key id>_<secret>``; the database keeps the key id, a random salt and
HMAC-SHA256(salt, secret), never the secret. A token is checked with a constant-time compare;
it may expire, and it can be revoked.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    inspect,
    select,
)
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
    expires: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BenchmarkRow(Base):
    __tablename__ = "benchmarks"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    protocol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the instance list the server built from its own data (None: not available here)
    reference: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class TruthRow(Base):
    """One instance's ground truth of a benchmark (:mod:`rclicks.leaderboard.truth`)."""

    __tablename__ = "truth"
    benchmark: Mapped[str] = mapped_column(String(200), primary_key=True)
    dataset: Mapped[str] = mapped_column(Text, primary_key=True)
    sample_id: Mapped[str] = mapped_column(Text, primary_key=True)
    instance_id: Mapped[str] = mapped_column(Text, primary_key=True)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    gt: Mapped[bytes] = mapped_column(LargeBinary)
    ignore: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


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
    #: what the server checked: {"level": "masks" | "rows", ...} (None: before verification)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


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
    """Create the tables, and add the nullable columns a database made by an older rclicks
    lacks."""
    try:
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
    except Exception as exc:  # noqa: BLE001 - unreachable server, bad credentials
        first = str(exc).splitlines()[0]
        raise DatabaseError(f"cannot use the database {engine.url!r}: {first}") from None


def _add_missing_columns(engine: Engine) -> None:
    insp = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            have = {c["name"] for c in insp.get_columns(table.name)}
            for col in table.columns:
                if col.name not in have and col.nullable:
                    kind = col.type.compile(dialect=engine.dialect)
                    conn.exec_driver_sql(
                        f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" {kind}'
                    )


# -- ground truth -------------------------------------------------------------------------------


def store_truth(session: Session, benchmark: str, records) -> None:
    """Replace the stored ground truth of ``benchmark`` with ``records``
    (:class:`rclicks.leaderboard.truth.TruthRecord`)."""
    session.execute(delete(TruthRow).where(TruthRow.benchmark == benchmark))
    session.add_all(
        TruthRow(
            benchmark=benchmark,
            dataset=r.dataset,
            sample_id=r.sample_id,
            instance_id=r.instance_id,
            height=r.height,
            width=r.width,
            gt=r.gt,
            ignore=r.ignore,
        )
        for r in records
    )


def add_benchmark(s: Session, spec, reference: dict | None, truth, problem: str | None):
    """Store (or replace) a benchmark's spec, reference and ground truth in session ``s``."""
    row = s.get(BenchmarkRow, spec.name)
    if row is None:
        row = BenchmarkRow(name=spec.name)
        s.add(row)
    row.spec, row.protocol = spec.as_dict(), spec.protocol
    row.reference, row.problem = reference, problem
    store_truth(s, spec.name, truth or [])
    return row


def load_truth(session: Session, benchmark: str) -> dict[tuple[str, str, str], Any]:
    """The stored ground truth of ``benchmark`` by (dataset, sample id, instance id)."""
    from rclicks.leaderboard.truth import TruthRecord

    rows = session.scalars(select(TruthRow).where(TruthRow.benchmark == benchmark))
    return {
        (r.dataset, r.sample_id, r.instance_id): TruthRecord(
            r.dataset, r.sample_id, r.instance_id, r.height, r.width, r.gt, r.ignore
        )
        for r in rows
    }


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def create_token(session: Session, name: str, expires: _dt.datetime | None = None) -> str:
    """A new token for ``name`` (unique), valid until ``expires`` (UTC; ``None``: until
    revoked); returns the secret token once."""
    if not name or len(name) > 200 or "\x00" in name:
        raise OptionError("a token name is 1 to 200 characters, without NUL bytes")
    if session.scalar(select(Token).where(Token.name == name)) is not None:
        raise OptionError(f"a token named {name!r} exists already")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    session.add(
        Token(name=name, key_id=key_id, salt=salt, digest=_digest(salt, secret), expires=expires)
    )
    session.commit()
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def _aware(when: _dt.datetime | None) -> _dt.datetime | None:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=_dt.timezone.utc)


def token_status(token: Token, now: _dt.datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if token.revoked is not None:
        return "revoked"
    expires = _aware(token.expires)
    if expires is not None and expires <= now:
        return "expired"
    return "active"


def list_tokens(session: Session) -> list[dict[str, Any]]:
    """Every token: name, key id, created, expires, status (never a secret)."""
    return [
        {
            "name": t.name,
            "key_id": t.key_id,
            "created": _aware(t.created),
            "expires": _aware(t.expires),
            "revoked": _aware(t.revoked),
            "status": token_status(t),
        }
        for t in session.scalars(select(Token).order_by(Token.id))
    ]


def revoke_token(session: Session, name: str) -> bool:
    """Revoke the token ``name``; False when there is none (revoking twice is fine)."""
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        return False
    if token.revoked is None:
        token.revoked = _now()
    session.commit()
    return True


_DUMMY_SALT = secrets.token_hex(16)


def check_token(session: Session, token: str) -> tuple[str | None, str]:
    """``(name, "active")`` for a usable token; ``(None, why)`` otherwise, ``why`` one of
    ``invalid``, ``expired``, ``revoked``."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    row = None
    if prefix == TOKEN_PREFIX and key_id and secret and len(token) < 200 and "\x00" not in token:
        row = session.scalar(select(Token).where(Token.key_id == key_id))
    salt = row.salt if row is not None else _DUMMY_SALT
    expected = row.digest if row is not None else "0" * 64
    ok = hmac.compare_digest(_digest(salt, secret), expected)  # same work either way
    if not ok or row is None:
        return None, "invalid"
    status = token_status(row)
    return (row.name, status) if status == "active" else (None, status)


def verify_token(session: Session, token: str) -> str | None:
    """The token's name, or ``None`` when it is not a valid, active token."""
    return check_token(session, token)[0]
