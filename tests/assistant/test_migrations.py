"""The application database's schema migrations (assistant/migrations/), on SQLite and on a PostgreSQL
server: a new database is created at head; one at 0001 with rows, and one made before migrations existed,
are upgraded keeping them; one migrated by a newer version is refused; `assistant db upgrade|current`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, inspect, select, text
from typer.testing import CliRunner

from assistant.accounts import Accounts
from assistant.appdb import (
    AppDB,
    DatabaseUnavailable,
    SchemaTooNew,
    _alembic_config,
    head_revision,
    job_metrics,
    jobs,
    metadata,
    safe_url,
)
from assistant.cli.db import db_app
from assistant.config import load_settings
from tests.conftest import ROOT, free_port, run_cli
from tests.postgres import DATABASES, database_url, postgres_server  # noqa: F401

# What revisions 0002, 0003 and 0004 add to the schema of 0001: nothing else may differ.
ADDED_SINCE_0001 = ({("add_column", "jobs", c) for c in ("payload", "worker", "lease_expires", "heartbeat", "attempts",
                                                         "resume")} | {("add_index", "jobs", "ix_jobs_state_kind")}
                    | {("add_column", "users", c) for c in ("disabled", "sign_in")}
                    | {("add_table", "sign_in_requests", "")}
                    | {("add_column", "feedback", c) for c in ("correction", "corrected_by")})


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, tmp_path)


def schema_diffs(db: AppDB) -> set[tuple[str, str, str]]:
    """How the database's schema differs from the Tables in assistant/appdb.py, as (what, table, name)."""
    out = set()
    with db.engine.connect() as conn:
        for diff in compare_metadata(MigrationContext.configure(conn), metadata):
            if isinstance(diff, list):  # column changes come as a list of modifications
                out |= {(d[0], d[2], d[3]) for d in diff}
            elif diff[0] in ("add_column", "remove_column"):
                out.add((diff[0], diff[2], diff[3].name))
            elif diff[0] in ("add_index", "remove_index"):
                out.add((diff[0], diff[1].table.name, diff[1].name))
            else:
                out.add((diff[0], getattr(diff[1], "name", str(diff[1])), ""))
    return out


def at_revision(url: str, revision: str) -> AppDB:
    """A database migrated only to `revision` (no start-up upgrade)."""
    db = AppDB(url, upgrade=False)
    with db.engine.connect() as conn:
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()
    return db


def add_0001_rows(db: AppDB) -> None:
    """A user, a finished job with its metrics, a conversation and a message, in the tables as 0001 made them."""
    with db.engine.begin() as conn:
        old = MetaData()
        present = set(inspect(conn).get_table_names())
        tables = {name: Table(name, old, autoload_with=conn)
                  for name in ("users", "jobs", "job_metrics", "conversations", "messages", "feedback")
                  if name in present}
        conn.execute(insert(tables["users"]).values(name="alice", role="admin", groups=["sales"],
                                                    password_hash="scrypt$x", created="2026-01-01T00:00:00Z"))
        conn.execute(insert(tables["jobs"]).values(
            id=7, kind="train", owner="alice", title="Train", state="done", progress=1.0, total=3, done=3,
            label="steps", log=["[00:00:00] ok"], result={"version": 2}, error=None, cancel_requested=0,
            created="2026-01-01T00:00:00Z", started="2026-01-01T00:00:01Z", finished="2026-01-01T00:01:00Z"))
        if "job_metrics" in tables:
            conn.execute(insert(tables["job_metrics"]).values(job_id=7, row={"step": 1, "loss": 2.5}))
        conn.execute(insert(tables["conversations"]).values(id=3, user="alice", title="Revenue",
                                                            created="2026-01-01", updated="2026-01-01"))
        conn.execute(insert(tables["messages"]).values(conversation_id=3, role="user", content="What was revenue?",
                                                       created="2026-01-01"))
        conn.execute(insert(tables["messages"]).values(id=11, conversation_id=3, role="assistant", content="£12m",
                                                       created="2026-01-01"))
        conn.execute(insert(tables["feedback"]).values(user="alice", message_id=11, rating=-1, comment="",
                                                       created="2026-01-01"))


def check_0001_rows(db: AppDB) -> None:
    assert Accounts(db, sleep=lambda s: None).get("alice").groups == ("sales",)
    with db.engine.connect() as conn:
        job = conn.execute(select(jobs).where(jobs.c.id == 7)).one()
        assert (job.state, job.result, job.log, job.done) == ("done", {"version": 2}, ["[00:00:00] ok"], 3)
        # The new columns: empty, or their defaults, on the rows already there.
        assert (job.payload, job.worker, job.lease_expires, job.heartbeat, job.attempts, job.resume) == (
            None, None, None, None, 0, 0)
    from assistant.history import History

    assert [m["content"] for m in History(db).messages("alice", 3)] == ["What was revenue?", "£12m"]
    rated = History(db).feedback_rows()
    assert [(r["answer"], r["rating"], r["correction"], r["corrected_by"]) for r in rated] == [("£12m", -1, None, None)]


def test_new_database_is_created_at_head_with_the_declared_schema(url: str) -> None:
    db = AppDB(url)
    try:
        state = db.schema()
        assert (state.revision, state.head, state.state) == (head_revision(), "0004", "current")
        assert schema_diffs(db) == set(), "the migrations build exactly the Tables of assistant/appdb.py"
        names = {ix["name"] for ix in inspect(db.engine).get_indexes("jobs")}
        assert "ix_jobs_state_kind" in names
        # New jobs rows get the new columns' defaults without naming them.
        with db.engine.begin() as conn:
            job_id = conn.execute(insert(jobs).values(kind="index", owner="a", title="t", state="queued", progress=0,
                                                      total=0, done=0, label="", log=[], created="x")
                                  ).inserted_primary_key[0]
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
        assert (row.attempts, row.resume, row.payload, row.cancel_requested) == (0, 0, None, 0)
        assert AppDB(url).schema().state == "current", "a second start changes nothing"
    finally:
        db.close()


def test_revision_0001_is_the_schema_before_migrations(url: str) -> None:
    """0001 is what create_all made until migrations began: it differs from head by later revisions' additions."""
    db = at_revision(url, "0001")
    try:
        assert db.schema().to_json()["state"] == "behind"
        assert schema_diffs(db) == ADDED_SINCE_0001
    finally:
        db.close()


def test_database_at_0001_with_rows_is_upgraded_keeping_them(url: str, caplog: pytest.LogCaptureFixture) -> None:
    old = at_revision(url, "0001")
    add_0001_rows(old)
    old.close()
    with caplog.at_level(logging.INFO, logger="assistant.database"):
        db = AppDB(url)
    try:
        lines = [r.getMessage() for r in caplog.records if r.name == "assistant.database"]
        assert lines == [f"database schema upgraded from 0001 to 0004 ({safe_url(url)})"]
        assert db.schema().state == "current" and schema_diffs(db) == set()
        check_0001_rows(db)
        with db.engine.connect() as conn:
            assert [r.row for r in conn.execute(select(job_metrics))] == [{"step": 1, "loss": 2.5}]
    finally:
        db.close()


def test_database_made_before_migrations_is_adopted_and_upgraded(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Tables but no alembic_version (create_all before migrations), from before job_metrics existed: taken as
    0001, its missing table created, then upgraded, its rows kept."""
    old = at_revision(url, "0001")
    with old.engine.begin() as conn:
        conn.execute(text("DROP TABLE job_metrics"))
        conn.execute(text("DROP TABLE alembic_version"))
    add_0001_rows(old)
    assert old.schema().state == "unversioned"
    old.close()
    with caplog.at_level(logging.INFO, logger="assistant.database"):
        db = AppDB(url)
    try:
        assert [r.getMessage() for r in caplog.records if r.name == "assistant.database"] == [
            f"database schema upgraded from 0001 to 0004 ({safe_url(url)})"]
        assert db.schema().state == "current" and schema_diffs(db) == set()
        check_0001_rows(db)
    finally:
        db.close()


def test_database_from_a_newer_version_is_refused(url: str) -> None:
    db = AppDB(url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    state = db.schema()
    assert (state.revision, state.state) == ("0099", "ahead")
    with pytest.raises(SchemaTooNew) as refused:
        db.upgrade()
    db.close()
    message = str(refused.value)
    assert "revision 0099" in message and "newest is 0004" in message and "upgrade the application" in message
    assert refused.value.kind == "unavailable"
    with pytest.raises(SchemaTooNew, match="0099"):
        AppDB(url)
    check = AppDB(url, upgrade=False)
    try:
        assert check.schema().revision == "0099", "nothing was changed"
    finally:
        check.close()


def test_processes_starting_together_migrate_once(url: str) -> None:
    """Several processes opening a new database at once: one creates it, the others wait and find it current."""
    code = "import sys; from assistant.appdb import AppDB; print(AppDB(sys.argv[1]).schema().state)"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["current"] * 4
    db = AppDB(url, upgrade=False)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0004"]
    finally:
        db.close()


def test_a_database_that_does_not_answer_is_one_clear_error() -> None:
    url = f"postgresql+psycopg://someone:secret@127.0.0.1:{free_port()}/assistant"
    with pytest.raises(DatabaseUnavailable) as err:
        AppDB(url)
    assert "someone:***@127.0.0.1" in str(err.value) and "secret" not in str(err.value)
    assert err.value.kind == "unavailable" and "does not answer" in str(err.value)


def test_database_settings(tmp_path: Path) -> None:
    """[database] url, the older top-level database_url (still read), and the default file in the home."""
    assert load_settings(tmp_path).database_address() == f"sqlite:///{tmp_path / 'app.db'}"
    (tmp_path / "config.toml").write_text('database_url = "sqlite:///old.db"\n')
    assert load_settings(tmp_path).database_address() == "sqlite:///old.db"
    (tmp_path / "config.toml").write_text('database_url = "sqlite:///old.db"\n[database]\nurl = "sqlite:///new.db"\n')
    assert load_settings(tmp_path).database_address() == "sqlite:///new.db", "[database] url wins"


# -- the command line -------------------------------------------------------------------------------------

def home_on(url: str, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    if not url.startswith("sqlite"):
        (home / "config.toml").write_text(f'[database]\nurl = "{url}"\n')
    return home


def test_cli_db_upgrade_json(url: str, tmp_path: Path) -> None:
    home = home_on(url, tmp_path)
    shown = safe_url(url) if not url.startswith("sqlite") else f"sqlite:///{home / 'app.db'}"
    at_revision(load_settings(home).database_address(), "0001").close()
    res = run_cli("db", "upgrade", "--json", home=home, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"url": shown, "from": "0001", "to": "0004", "upgraded": True,
                                      "created": False}

    runner = CliRunner()
    res = runner.invoke(db_app, ["upgrade", "--json", "--home", str(home)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"url": shown, "from": "0004", "to": "0004", "upgraded": False,
                                      "created": False}
    res = runner.invoke(db_app, ["current", "--json", "--home", str(home)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"url": shown, "revision": "0004", "head": "0004", "state": "current"}
    res = runner.invoke(db_app, ["current", "--home", str(home)])
    assert res.exit_code == 0 and "revision 0004" in res.stdout and "current" in res.stdout

    db = AppDB(load_settings(home).database_address(), upgrade=False)
    try:
        assert [e["action"] for e in db.audit_entries()] == ["db.upgrade"]
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    finally:
        db.close()
    res = runner.invoke(db_app, ["upgrade", "--home", str(home)])
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert "0099" in res.stderr and "upgrade the application" in res.stderr
    res = runner.invoke(db_app, ["current", "--json", "--home", str(home)])
    assert res.exit_code == 0 and json.loads(res.stdout)["state"] == "ahead"


def test_cli_db_upgrade_creates_a_new_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    res = CliRunner().invoke(db_app, ["upgrade", "--json", "--home", str(home)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"url": f"sqlite:///{home / 'app.db'}", "from": None, "to": "0004",
                                      "upgraded": True, "created": True}


def test_json_that_postgres_refuses_is_still_stored(url: str) -> None:
    """A metric that could not be computed (NaN, infinity) fails no write: PostgreSQL's json refuses them, so
    there they are stored as null; SQLite keeps them."""
    from assistant.jobs import JobManager

    manager = JobManager(AppDB(url))
    try:
        job = manager.submit("eval", "alice", "Eval", lambda ctx: ctx.record({"loss": float("nan")}) or
                             {"score": float("inf"), "ok": 1.5})
        done = manager.wait(job.id, timeout=10)
        assert done.state == "done", done.error
        loss = manager.metrics(job.id)[0]["loss"]
        score = done.result["score"]
        if url.startswith("sqlite"):
            assert loss != loss and score == float("inf")
        else:
            assert loss is None and score is None
        assert done.result["ok"] == 1.5
    finally:
        manager.shutdown(wait=True, timeout=10)
