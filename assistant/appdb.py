"""The application database (HOME/app.db or `settings.database_url`): users, sessions, API keys,
jobs, chat history and the audit log.

All tables are declared here, so one `create_all` makes a complete schema whichever service
module is imported first. Services write with single conditional statements (UPDATE … WHERE
state = …) rather than read-then-write, which stays correct with several threads or processes on
one SQLite file and on a shared server database alike.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created", String(32), nullable=False),
)

# Only sha256 digests of session tokens and API keys are stored: a copy of the database does not
# let anyone log in.
sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False, index=True),
    Column("created", String(32), nullable=False),
)

# Failed logins per name, in the database so every app process behind a load balancer sees them.
login_failures = Table(
    "login_failures", metadata,
    Column("name", String(128), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("last_failure", Float, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", String(32), nullable=False),
    Column("actor", String(128)),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    sqlite_autoincrement=True,
)

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("owner", String(64), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("progress", Float, nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("label", String(200), nullable=False),
    Column("log", JSON, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Column("cancel_requested", Integer, nullable=False, default=0),
    Column("created", String(32), nullable=False),
    Column("started", String(32)),
    Column("finished", String(32)),
    # Never reuse an id: a page still showing job 7 must not start showing someone else's job 7.
    sqlite_autoincrement=True,
)

# A job's metrics as it logs them (a training run's loss curve): any web process can draw the plot.
# Its own table, so databases made before it gain it without touching the jobs table.
job_metrics = Table(
    "job_metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False, index=True),
    Column("row", JSON, nullable=False),
)

conversations = Table(
    "conversations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(64), nullable=False, index=True),
    Column("title", String(80), nullable=False),
    Column("created", String(32), nullable=False),
    Column("updated", String(32), nullable=False),
    sqlite_autoincrement=True,
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("sources", JSON),
    Column("engine", String(128)),
    Column("created", String(32), nullable=False),
    sqlite_autoincrement=True,
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(64), nullable=False),
    Column("message_id", Integer, ForeignKey("messages.id"), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created", String(32), nullable=False),
    UniqueConstraint("user", "message_id", name="uq_feedback_user_message"),
    Index("ix_feedback_message", "message_id"),
)


def now_iso() -> str:
    """UTC time to the microsecond: sortable as text, fine-grained enough to order chat updates."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    in_memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        # Every connection to ":memory:" is a new, empty database: share one.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not in_memory:
            # WAL: readers (page loads) never wait for the writer (a job reporting progress).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


class AppDB:
    """One engine per database; thread-safe (the engine pools connections per thread)."""

    _shared: ClassVar[dict[str, AppDB]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _sqlite_engine(url) if _is_sqlite(url) else create_engine(url, pool_pre_ping=True)
        metadata.create_all(self.engine)

    @classmethod
    def for_settings(cls, settings: Any) -> AppDB:
        """The database of a home, one instance per URL in this process (the UI and API share it)."""
        url = settings.database_url
        if not url:
            path = Path(settings.paths.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        with cls._shared_lock:
            db = cls._shared.get(url)
            if db is None:
                db = cls._shared[url] = cls(url)
            return db

    def audit(self, actor: str | None, action: str, detail: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(audit_log).values(time=now_iso(), actor=actor, action=action, detail=detail))

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows first: [{"time","actor","action","detail"}]."""
        q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                {"time": r.time, "actor": r.actor, "action": r.action, "detail": r.detail}
                for r in conn.execute(q)
            ]

    def close(self) -> None:
        """Release pooled connections (and file handles); the instance must not be used afterwards."""
        with self._shared_lock:
            for key, db in list(self._shared.items()):
                if db is self:
                    del self._shared[key]
        self.engine.dispose()
