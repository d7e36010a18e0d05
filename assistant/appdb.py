"""The application database (HOME/app.db, or `[database] url`, e.g. PostgreSQL): users, sessions,
API keys, jobs, chat history and the audit log.

All tables are declared here, and the same schema is built by the alembic migrations in
`assistant/migrations/versions/`: `AppDB(url)` brings a database to their head at start-up (a new
one is created, one made before migrations is adopted as revision 0001, one behind is upgraded with
a line on the log, one newer than this code is refused). A schema change is a new revision there
AND the same change to the Tables here; tests/assistant/test_migrations.py checks that they agree.

Services write with single conditional statements (UPDATE … WHERE state = …) rather than
read-then-write, which stays correct with several threads or processes on one SQLite file and on a
shared server database alike. The SQL is portable (SQLite and PostgreSQL are tested): no
dialect-only statements outside `_sqlite_engine` and `_schema_lock`.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from dataclasses import dataclass
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
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from assistant.errors import InputError, Kind, Unavailable, UserError

log = logging.getLogger("assistant.database")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The revision a database made before migrations existed is taken to be (its tables are 0001's).
BASELINE = "0001"

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created", String(32), nullable=False),
    # Revision 0003: an admin can disable an account (it keeps its history); how the account signs in:
    # "password" (ours), "oidc" (the identity provider, no password here) or "header" (a trusted proxy).
    Column("disabled", Integer, nullable=False, default=0, server_default=text("0")),
    Column("sign_in", String(16), nullable=False, default="password", server_default=text("'password'")),
)

# Revision 0003: single sign-on requests in flight (OpenID Connect's state, nonce and PKCE verifier),
# in the database so that the callback may reach any web process. Only the state's sha256 is stored.
sign_in_requests = Table(
    "sign_in_requests", metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("nonce", String(128), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("expires", Float, nullable=False),
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
    # Revision 0002, for job workers in other processes or machines:
    Column("payload", JSON),  # the job's request, so that another process can run it
    Column("worker", String(128)),  # who holds the job
    Column("lease_expires", Float),  # epoch seconds; the job's worker is presumed gone after this
    Column("heartbeat", Float),  # epoch seconds of the worker's last sign of life
    Column("attempts", Integer, nullable=False, default=0, server_default=text("0")),
    Column("resume", Integer, nullable=False, default=0, server_default=text("0")),
    Index("ix_jobs_state_kind", "state", "kind"),
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
    # Revision 0004: an evaluator's corrected answer for a thumbs-down answer, and who wrote it (training data:
    # the correction is preferred over the answer given).
    Column("correction", Text),
    Column("corrected_by", String(64)),
    UniqueConstraint("user", "message_id", name="uq_feedback_user_message"),
    Index("ix_feedback_message", "message_id"),
)


def now_iso() -> str:
    """UTC time to the microsecond: sortable as text, fine-grained enough to order chat updates."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class DatabaseUnavailable(Unavailable):
    """The database does not answer (or cannot be opened); the message names it, without its password."""


class DatabaseURLError(InputError):
    """The database URL is malformed or names a driver that is not installed."""


class SchemaTooNew(UserError):
    """The database was migrated by a newer version of the application than this one."""

    kind: Kind = "unavailable"


def safe_url(url: str) -> str:
    """The URL as it may be shown and logged: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _server_json(value: Any) -> str:
    """JSON for a database server: PostgreSQL refuses the NaN and Infinity Python writes (a metric that could
    not be computed), so they are stored as null there rather than failing the write."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _engine(url: str) -> Engine:
    try:
        if _is_sqlite(url):
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True, json_serializer=_server_json)
    except (ArgumentError, NoSuchModuleError) as err:
        raise DatabaseURLError(f"bad database URL {safe_url(url)}: {err}") from err
    except ModuleNotFoundError as err:
        extra = " (pip install 'enterprise-assistant[postgres]')" if "psycopg" in str(err.name) else ""
        raise DatabaseURLError(
            f"the database URL {safe_url(url)} needs the Python package {err.name!r}{extra}"
        ) from err


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


# -- the schema and its migrations ----------------------------------------------------------------
@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against this code's migrations."""

    url: str  # without its password
    revision: str | None  # alembic_version; None: no version table (new, or made before migrations)
    head: str  # this code's newest revision
    tables: bool  # whether application tables exist

    @property
    def state(self) -> str:
        """current | behind | ahead (a revision this code does not know) | empty | unversioned."""
        if self.revision is None:
            return "unversioned" if self.tables else "empty"
        if self.revision == self.head:
            return "current"
        return "behind" if _known_revision(self.revision) else "ahead"

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "revision": self.revision, "head": self.head, "state": self.state}


@dataclass(frozen=True)
class SchemaUpgrade:
    """What `AppDB.upgrade` did: `before` None = a new database, created at head."""

    url: str
    before: str | None
    after: str

    @property
    def upgraded(self) -> bool:
        return self.before != self.after

    @property
    def created(self) -> bool:
        return self.before is None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "from": self.before, "to": self.after, "upgraded": self.upgraded,
                "created": self.created}

    def message(self) -> str:
        if self.created:
            return f"database created at schema {self.after} ({self.url})"
        if self.upgraded:
            return f"database schema upgraded from {self.before} to {self.after} ({self.url})"
        return f"database schema is current at {self.after} ({self.url})"


@functools.cache
def _scripts() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    return str(_scripts().get_current_head())


def _known_revision(revision: str) -> bool:
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        return _scripts().get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = conn  # env.py migrates on it, inside our transaction
    return cfg


_alembic_lock = threading.Lock()

# pg_advisory_xact_lock's key: processes starting together on one server migrate one after the other.
_PG_LOCK_KEY = 0x6173_7369_7374


def _schema_lock(conn: Connection) -> None:
    """Begin the transaction that reads and migrates the schema, holding the database's schema lock, so
    that two processes starting at once do not both migrate (the second then finds the schema current)."""
    if conn.dialect.name == "sqlite":
        # pysqlite runs DDL outside any transaction unless one is begun explicitly; IMMEDIATE takes the
        # write lock now (others wait, busy_timeout), so check and migration are one step.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _read_state(conn: Connection, url: str) -> SchemaState:
    from alembic.runtime.migration import MigrationContext

    revision = MigrationContext.configure(conn).get_current_revision()
    tables = bool(set(inspect(conn).get_table_names()) & set(metadata.tables))
    return SchemaState(safe_url(url), revision, head_revision(), tables)


def _too_new(state: SchemaState) -> SchemaTooNew:
    return SchemaTooNew(
        f"the database {state.url} has schema revision {state.revision}, which this version of the application "
        f"does not know (its newest is {state.head}): the database was upgraded by a newer version; upgrade "
        "the application"
    )


def _unavailable(url: str, err: DBAPIError) -> DatabaseUnavailable:
    reason = (str(err.orig) if err.orig is not None else str(err)).strip().splitlines()
    return DatabaseUnavailable(f"the database {safe_url(url)} does not answer: {reason[0] if reason else err}")


class AppDB:
    """One engine per database; thread-safe (the engine pools connections per thread).

    `AppDB(url)` brings the schema to this code's head first (`upgrade`), unless `upgrade=False` (for
    `assistant db current|upgrade`, which report what they find)."""

    _shared: ClassVar[dict[str, AppDB]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        self.engine: Engine = _engine(url)
        if upgrade:
            try:
                done = self.upgrade()
            except BaseException:
                self.engine.dispose()
                raise
            if done.upgraded and not done.created:
                log.warning(done.message())
            elif done.created:
                log.info(done.message())

    @classmethod
    def for_settings(cls, settings: Any) -> AppDB:
        """The database of a home, one instance per URL in this process (the UI and API share it)."""
        url = settings.database_address()
        make_sqlite_folder(url)
        with cls._shared_lock:
            db = cls._shared.get(url)
            if db is None:
                db = cls._shared[url] = cls(url)
            return db

    def schema(self) -> SchemaState:
        """The schema's revision against this code's head, read without changing anything."""
        try:
            with self.engine.connect() as conn:
                return _read_state(conn, self.url)
        except DBAPIError as err:
            raise _unavailable(self.url, err) from err

    def upgrade(self) -> SchemaUpgrade:
        """Bring the schema to head: create a new database; adopt one made before migrations as 0001 (its
        missing tables created) and upgrade it; upgrade one behind. Refuses (SchemaTooNew) a database
        migrated by a newer version of the application."""
        try:
            state = self.schema()  # the usual case, a current schema, takes no lock
            if state.state == "ahead":
                raise _too_new(state)
            if state.state == "current":
                return SchemaUpgrade(state.url, state.revision, state.head)
            with self.engine.connect() as conn:
                _schema_lock(conn)
                state = _read_state(conn, self.url)  # again: another process may have migrated meanwhile
                if state.state == "ahead":
                    raise _too_new(state)
                before = BASELINE if state.state == "unversioned" else state.revision
                if state.state != "current":
                    # From no revision, 0001 creates only the tables that are missing: a database made
                    # before migrations keeps its tables and rows, and is then upgraded like any other.
                    with _alembic_lock:  # alembic's `context` and `op` are process-wide
                        from alembic import command

                        command.upgrade(_alembic_config(conn), "head")
                conn.commit()
        except DBAPIError as err:
            raise _unavailable(self.url, err) from err
        return SchemaUpgrade(state.url, before, state.head)

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


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite URL's file (a new home's); nothing for another database."""
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
