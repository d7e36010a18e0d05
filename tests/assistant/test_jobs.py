"""Background jobs: progress, results, failures, cancelling, visibility, persistence, restarts, limits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from assistant.accounts import User
from assistant.appdb import AppDB
from assistant.jobs import INTERRUPTED, JobCancelled, JobContext, JobError, JobManager
from tests.postgres import DATABASES, database_url, postgres_server  # noqa: F401

ALICE = User("alice", "staff", ())
BOB = User("bob", "staff", ())
ADMIN = User("root", "admin", ())
WAIT = 10.0  # generous: the test machine may be busy; a passing run never waits this long


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs on SQLite and on a PostgreSQL server (tests/postgres.py)."""
    return database_url(request, tmp_path)


@pytest.fixture
def manager(url: str):
    jm = JobManager(AppDB(url))
    yield jm
    jm.shutdown(wait=True, timeout=WAIT)


def blocking_job(started: threading.Event, release: threading.Event, result: dict | None = None):
    def fn(ctx: JobContext) -> dict | None:
        started.set()
        assert release.wait(WAIT), "the test never released the job"
        return result

    return fn


def until(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_job_reports_progress_and_result(manager: JobManager) -> None:
    halfway, release = threading.Event(), threading.Event()

    def fn(ctx: JobContext) -> dict:
        ctx.message("reading files")
        ctx.start(4, "files")
        ctx.advance(2, "b.pdf")
        halfway.set()
        release.wait(WAIT)
        ctx.advance(2, "d.pdf")
        ctx.finish()
        return {"chunks": 7}

    job = manager.submit("index", "alice", "Reindex", fn)
    assert job.state in ("queued", "running") and job.owner == "alice" and job.kind == "index"
    assert halfway.wait(WAIT)
    live = manager.get(job.id)
    assert (live.state, live.total, live.done, live.progress, live.label) == ("running", 4, 2, 0.5, "b.pdf")
    release.set()
    done = manager.wait(job.id, timeout=WAIT)
    assert done.state == "done" and done.result == {"chunks": 7} and done.error is None
    assert (done.progress, done.done, done.total) == (1.0, 4, 4)
    assert any(line.endswith("reading files") for line in done.log)
    assert done.created and done.started and done.finished
    assert done.to_json()["result"] == {"chunks": 7}


def test_failure_is_captured(manager: JobManager) -> None:
    def fn(ctx: JobContext) -> None:
        ctx.start(3, "files")
        raise OSError("disk full")

    job = manager.wait(manager.submit("index", "alice", "Reindex", fn).id, timeout=WAIT)
    assert job.state == "failed" and job.error == "disk full" and job.result is None
    log = "\n".join(job.log)
    assert "Traceback" in log and "OSError: disk full" in log


def test_cancel_queued_job(manager: JobManager) -> None:
    started, release = threading.Event(), threading.Event()
    ran = threading.Event()
    first = manager.submit("index", "alice", "first", blocking_job(started, release))
    assert started.wait(WAIT)
    second = manager.submit("index", "alice", "second", lambda ctx: ran.set())
    assert manager.get(second.id).state == "queued", "one index job at a time"

    assert manager.cancel(second.id, ALICE).state == "cancelled"
    with pytest.raises(JobError, match=f"^job {second.id} is already cancelled$"):
        manager.cancel(second.id, ALICE)
    release.set()
    assert manager.wait(first.id, timeout=WAIT).state == "done"
    assert manager.wait(second.id, timeout=WAIT).state == "cancelled"
    manager.shutdown()
    assert not ran.is_set(), "a cancelled queued job never runs"
    with pytest.raises(JobError, match=f"job {first.id} is already done"):
        manager.cancel(first.id, ALICE)


def test_cancel_running_job_stops_at_next_progress_report(manager: JobManager) -> None:
    started, release = threading.Event(), threading.Event()
    reports = []

    def fn(ctx: JobContext) -> dict:
        ctx.start(100_000, "steps")
        started.set()
        release.wait(WAIT)
        for i in range(100_000):
            time.sleep(0.001)
            ctx.advance()  # raises JobCancelled once a cancel was requested
            reports.append(i)
        return {"finished": True}

    job = manager.submit("train", "alice", "Train", fn)
    assert started.wait(WAIT)
    assert manager.cancel(job.id, ALICE).id == job.id
    with pytest.raises(JobError, match="already being cancelled"):
        manager.cancel(job.id, ALICE)
    release.set()
    ended = manager.wait(job.id, timeout=WAIT)
    assert ended.state == "cancelled" and ended.result is None and ended.finished
    assert len(reports) < 100_000
    with pytest.raises(JobError, match=f"^job {job.id} is already cancelled$"):
        manager.cancel(job.id, ALICE)


def test_job_context_cancel_checks(manager: JobManager) -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def fn(ctx: JobContext) -> None:
        started.set()
        release.wait(WAIT)
        seen.append(f"cancelled={ctx.cancelled}")
        ctx.log("plain log lines never raise")
        try:
            ctx.message("but a message does")
        except JobCancelled:
            seen.append("message raised")
            raise

    job = manager.submit("eval", "alice", "Eval", fn)
    assert started.wait(WAIT)
    manager.cancel(job.id, ALICE)
    release.set()
    assert manager.wait(job.id, timeout=WAIT).state == "cancelled"
    assert seen == ["cancelled=True", "message raised"]


def test_only_owner_or_admin_may_cancel(manager: JobManager) -> None:
    started, release = threading.Event(), threading.Event()
    job = manager.submit("index", "alice", "Reindex", blocking_job(started, release))
    assert started.wait(WAIT)
    with pytest.raises(JobError, match=r"^not your job$"):
        manager.cancel(job.id, BOB)
    assert manager.get(job.id).state == "running"
    manager.cancel(job.id, ADMIN)
    release.set()
    assert manager.wait(job.id, timeout=WAIT).state == "done", "it ignored the cancel and finished its work"
    with pytest.raises(JobError, match="job 999 not found"):
        manager.get(999)
    with pytest.raises(JobError, match="job 999 not found"):
        manager.cancel(999, ADMIN)


def test_list_shows_own_jobs_and_admin_sees_all(manager: JobManager) -> None:
    ids = [manager.submit(kind, owner, f"{owner}'s", lambda ctx: None).id
           for kind, owner in (("index", "alice"), ("eval", "bob"), ("eval", "alice"))]
    for job_id in ids:
        manager.wait(job_id, timeout=WAIT)
    assert [j.id for j in manager.list(ALICE)] == [ids[2], ids[0]], "newest first"
    assert [j.id for j in manager.list(BOB)] == [ids[1]]
    assert [j.id for j in manager.list(ADMIN)] == ids[::-1]
    assert [j.id for j in manager.list(ADMIN, limit=1)] == [ids[2]]


def test_jobs_persist_for_another_manager(url: str, manager: JobManager) -> None:
    def fn(ctx: JobContext) -> dict:
        ctx.start(2, "files")
        ctx.advance(2)
        ctx.log("all good")
        return {"path": Path("/x/y"), "n": 2}

    job = manager.wait(manager.submit("index", "alice", "Reindex", fn).id, timeout=WAIT)
    failed = manager.wait(manager.submit("eval", "alice", "Eval", lambda ctx: 1 / 0).id, timeout=WAIT)
    other = JobManager(AppDB(url))
    seen = other.get(job.id)
    assert seen.state == "done" and seen.result == {"path": "/x/y", "n": 2} and seen.done == 2
    assert any(line.endswith("all good") for line in seen.log)
    again = other.get(failed.id)
    assert again.state == "failed" and again.error == "division by zero"
    assert [j.id for j in other.list(ALICE)] == [failed.id, job.id]


def test_another_process_starting_leaves_jobs_alone_until_their_lease_runs_out(url: str) -> None:
    """The old bug: a second web process starting marked the first one's running jobs failed. Now a job fails
    only when its holder stopped renewing its lease."""
    manager = JobManager(AppDB(url), lease_s=1.0)
    started, release = threading.Event(), threading.Event()
    running = manager.submit("index", "alice", "Reindex", blocking_job(started, release, {"late": True}))
    assert started.wait(WAIT)
    queued = manager.submit("index", "alice", "Reindex again", lambda ctx: {"ran": True})

    other = JobManager(AppDB(url), lease_s=1.0)  # a second process on the same database
    time.sleep(1.5)  # past one lease: the first process renews its jobs' leases
    assert other.reap() == []
    assert [other.get(j.id).state for j in (running, queued)] == ["running", "queued"]

    manager._closed = True  # the first process stops renewing (as if it had died)
    time.sleep(1.6)
    assert sorted(other.reap()) == [running.id, queued.id]
    for job_id in (running.id, queued.id):
        job = other.get(job_id)
        assert job.state == "failed" and manager.name in job.error and job.finished

    # The old thread finishing late must not overwrite that.
    release.set()
    manager.shutdown(wait=True, timeout=WAIT)
    assert other.get(running.id).state == "failed" and other.get(running.id).result is None


def test_one_job_at_a_time_per_kind(url: str) -> None:
    manager = JobManager(AppDB(url), limits={"eval": 2})
    lock = threading.Lock()
    active: dict[str, int] = {"index": 0, "eval": 0}
    peak: dict[str, int] = {"index": 0, "eval": 0}
    release = threading.Event()

    def work(kind: str):
        def fn(ctx: JobContext) -> None:
            with lock:
                active[kind] += 1
                peak[kind] = max(peak[kind], active[kind])
            release.wait(WAIT)
            time.sleep(0.02)
            with lock:
                active[kind] -= 1

        return fn

    try:
        jobs = [manager.submit(kind, "alice", kind, work(kind)) for kind in ("index", "index", "eval", "eval", "eval")]
        until(lambda: active["index"] == 1 and active["eval"] == 2)
        states = [manager.get(j.id).state for j in jobs]
        assert states == ["running", "queued", "running", "running", "queued"]
        release.set()
        assert [manager.wait(j.id, timeout=WAIT).state for j in jobs] == ["done"] * 5
        assert peak == {"index": 1, "eval": 2}
    finally:
        release.set()
        manager.shutdown(wait=True, timeout=WAIT)


def test_shutdown_interrupts_queued_and_running_jobs(manager: JobManager) -> None:
    started = threading.Event()

    def fn(ctx: JobContext) -> None:
        started.set()
        while True:
            time.sleep(0.01)
            ctx.advance()

    running = manager.submit("train", "alice", "Train", fn)
    assert started.wait(WAIT)
    queued = manager.submit("train", "alice", "Train 2", lambda ctx: None)
    manager.shutdown(wait=True, timeout=WAIT)
    for job_id in (running.id, queued.id):
        job = manager.get(job_id)
        assert job.state == "failed" and job.error == INTERRUPTED
    with pytest.raises(JobError, match="shutting down"):
        manager.submit("train", "alice", "Train 3", lambda ctx: None)


def test_long_logs_are_capped(manager: JobManager) -> None:
    def fn(ctx: JobContext) -> None:
        for i in range(3000):
            ctx.log(f"line {i}")

    job = manager.wait(manager.submit("index", "alice", "chatty", fn).id, timeout=WAIT)
    assert job.state == "done" and len(job.log) <= 1001
    assert job.log[0].endswith("line 0") and job.log[-1].endswith("line 2999")
    assert any("lines omitted" in line for line in job.log)


def test_a_job_failed_by_another_process_stops_at_next_report(url: str) -> None:
    manager = JobManager(AppDB(url), lease_s=1.0)
    started = threading.Event()
    reports: list[int] = []

    def fn(ctx: JobContext) -> None:
        started.set()
        while len(reports) < 100_000:
            time.sleep(0.005)
            ctx.advance()
            reports.append(1)

    job = manager.submit("index", "alice", "Reindex", fn)
    assert started.wait(WAIT)
    other = JobManager(AppDB(url), lease_s=1.0)
    manager._closed = True  # its leases are no longer renewed: another process fails the job
    time.sleep(1.6)
    assert other.reap() == [job.id]
    t0 = time.monotonic()
    assert manager.wait(job.id, timeout=WAIT).state == "failed"
    assert time.monotonic() - t0 < WAIT / 2, "the orphaned thread noticed within about a second"
    count = len(reports)
    time.sleep(0.05)
    assert len(reports) == count
    manager.shutdown(wait=True, timeout=WAIT)


def test_metrics_rows_are_kept_with_the_job_for_every_process(url: str) -> None:
    """A training run's loss curve is recorded with its job: a second manager on the same database (another
    web process, or this one after a restart) reads the same rows, in order; another job's rows stay apart."""
    first = JobManager(AppDB(url))
    try:
        def train(ctx: JobContext) -> dict:
            for step in (1, 2, 3):
                ctx.record({"step": step, "loss": 2.0 / step})
            return {}

        job = first.submit("train", "alice", "Train", train)
        other = first.submit("eval", "alice", "Eval", lambda ctx: ctx.record({"step": 9}) or {})
        assert first.wait(job.id, WAIT).state == "done" and first.wait(other.id, WAIT).state == "done"
    finally:
        first.shutdown(wait=True, timeout=WAIT)
    second = JobManager(AppDB(url))
    try:
        assert second.metrics(job.id) == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0},
                                          {"step": 3, "loss": 2.0 / 3}]
        assert second.metrics(other.id) == [{"step": 9}]
        assert second.metrics(12345) == []
    finally:
        second.shutdown(wait=True, timeout=WAIT)
