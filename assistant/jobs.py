"""Background jobs (reindexing now; training and evaluation later) run on threads, with their
state, progress, log and result kept in the application database so a page reload, or another
process on the same database, sees them.

A job function gets a `JobContext`, which is also an `indexing.progress.Progress`: work that
already reports progress becomes cancellable without changes, because every report checks for a
cancel request and raises `JobCancelled`.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from assistant.appdb import AppDB, job_metrics, jobs, now_iso
from assistant.errors import InputError

if TYPE_CHECKING:
    from assistant.accounts import User

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
INTERRUPTED = "interrupted: the server stopped before the job finished"
DEFAULT_LIMITS = {"index": 1, "train": 1, "eval": 1}
# Progress reaches the database at most this often; this process's readers see it live anyway.
WRITE_INTERVAL_S = 0.5
# A chatty job must not grow its row without bound: keep the first lines (what it set out to do)
# and the last ones (where it is, or how it failed).
LOG_HEAD_LINES = 100
LOG_TAIL_LINES = 900
MAX_LINE_CHARS = 2000


class JobError(InputError):
    """A message for the user: unknown job, not theirs, already finished…"""


class JobCancelled(Exception):
    """Raised inside a job function when a cancel was requested."""


@dataclass
class Job:
    id: int
    kind: str
    owner: str
    title: str
    state: str
    progress: float
    total: int
    done: int
    label: str
    log: list[str] = field(default_factory=list)
    result: dict | None = None
    error: str | None = None
    created: str = ""
    started: str | None = None
    finished: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _job(row: Any) -> Job:
    return Job(
        id=row.id, kind=row.kind, owner=row.owner, title=row.title, state=row.state, progress=row.progress,
        total=row.total, done=row.done, label=row.label, log=list(row.log or []), result=row.result,
        error=row.error, created=row.created, started=row.started, finished=row.finished,
    )


class JobContext:
    """What a job function reports to; implements `indexing.progress.Progress`."""

    def __init__(self, db: AppDB, job_id: int) -> None:
        self.job_id = job_id
        self._db = db
        self._lock = threading.RLock()
        self._cancel = threading.Event()
        # "user" (a cancel request) or "interrupted" (shutdown, or the row was taken over by a restart).
        self.stop_reason: str | None = None
        self.total = 0
        self.done = 0
        self.label = ""
        self.progress = 0.0
        self._head: list[str] = []
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._dropped = 0
        self._last_write = 0.0
        self._last_poll = time.monotonic()

    # -- Progress protocol --------------------------------------------------------------------
    def message(self, text: str) -> None:
        self.log(text)
        self._flush()
        self.check_cancelled()

    def start(self, total: int, label: str) -> None:
        with self._lock:
            self.total, self.done, self.label, self.progress = max(0, int(total)), 0, str(label)[:200], 0.0
        self._flush(force=True)
        self.check_cancelled()

    def advance(self, n: int = 1, label: str | None = None) -> None:
        with self._lock:
            self.done += n
            if label is not None:
                self.label = str(label)[:200]
            self.progress = min(1.0, self.done / self.total) if self.total > 0 else 0.0
        self._flush()
        self.check_cancelled()

    def finish(self) -> None:
        with self._lock:
            if self.total > 0:
                self.done = max(self.done, self.total)
            self.progress = 1.0
        self._flush(force=True)

    # -- log and cancellation -----------------------------------------------------------------
    def log(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        with self._lock:
            for part in str(line).splitlines() or [""]:
                entry = f"[{stamp}] {part[:MAX_LINE_CHARS]}"
                if len(self._head) < LOG_HEAD_LINES:
                    self._head.append(entry)
                else:
                    if len(self._tail) == self._tail.maxlen:
                        self._dropped += 1
                    self._tail.append(entry)

    def record(self, row: dict[str, Any]) -> None:
        """Keep one metrics row (step, loss, ...) with the job, where every process can read it."""
        with self._db.engine.begin() as conn:
            conn.execute(insert(job_metrics).values(job_id=self.job_id, row=_jsonable(row)))

    def lines(self) -> list[str]:
        with self._lock:
            gap = [f"… {self._dropped} lines omitted …"] if self._dropped else []
            return [*self._head, *gap, *self._tail]

    @property
    def cancelled(self) -> bool:
        self._poll()
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._cancel.set()

    def _poll(self) -> None:
        """Look for a cancel request made through another process (at most every WRITE_INTERVAL_S)."""
        if self._cancel.is_set() or time.monotonic() - self._last_poll < WRITE_INTERVAL_S:
            return
        self._last_poll = time.monotonic()
        with self._db.engine.connect() as conn:
            row = conn.execute(select(jobs.c.state, jobs.c.cancel_requested).where(jobs.c.id == self.job_id)).first()
        if row is None or row.state != "running":
            self.request_stop("interrupted")  # taken over: a restarted manager marked it failed
        elif row.cancel_requested:
            self.request_stop("user")

    def _flush(self, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_write < WRITE_INTERVAL_S:
                return
            self._last_write = now
            values = self.snapshot()
        with self._db.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == self.job_id, jobs.c.state == "running").values(**values))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"progress": self.progress, "total": self.total, "done": self.done, "label": self.label,
                    "log": self.lines()}


def _jsonable(result: Any) -> dict | None:
    import json

    if result is None:
        return None
    if not isinstance(result, dict):
        result = {"value": result}
    # Round-trip so a stray Path or datetime is stored as text instead of failing the job at the end.
    return json.loads(json.dumps(result, default=str))


class JobManager:
    """Runs submitted jobs on threads, at most `limits[kind]` at a time per kind (default 1)."""

    def __init__(self, db: AppDB, limits: dict[str, int] | None = None) -> None:
        self.db = db
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._lock = threading.Lock()
        self._queues: dict[str, deque[tuple[int, Callable[[JobContext], Any]]]] = defaultdict(deque)
        self._running: dict[str, int] = defaultdict(int)
        self._live: dict[int, JobContext] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._ended: dict[int, threading.Event] = {}
        self._closed = False
        self._mark_interrupted()

    def _mark_interrupted(self) -> None:
        # Jobs a previous process left unfinished will never finish: say so instead of "running" forever.
        with self.db.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.state.in_(("queued", "running")))
                         .values(state="failed", error=INTERRUPTED, finished=now_iso()))

    # -- submitting and running ---------------------------------------------------------------
    def submit(self, kind: str, owner: str, title: str, fn: Callable[[JobContext], dict | None]) -> Job:
        if not kind or not isinstance(kind, str):
            raise JobError("a job needs a kind")
        row = {"kind": kind, "owner": owner, "title": str(title)[:200], "state": "queued", "progress": 0.0,
               "total": 0, "done": 0, "label": "", "log": [], "cancel_requested": 0, "created": now_iso()}
        with self._lock:
            if self._closed:
                raise JobError("the server is shutting down; no new jobs")
            with self.db.engine.begin() as conn:
                job_id = int(conn.execute(insert(jobs).values(**row)).inserted_primary_key[0])
            self._queues[kind].append((job_id, fn))
            self._ended[job_id] = threading.Event()
            self._dispatch(kind)
        return self.get(job_id)

    def _dispatch(self, kind: str) -> None:
        """Start queued jobs of this kind while below its limit. Caller holds self._lock."""
        queue = self._queues[kind]
        while queue and self._running[kind] < self.limits.get(kind, 1) and not self._closed:
            job_id, fn = queue.popleft()
            self._running[kind] += 1
            t = threading.Thread(target=self._run, args=(job_id, kind, fn), name=f"job-{job_id}", daemon=True)
            self._threads[job_id] = t
            t.start()

    def _run(self, job_id: int, kind: str, fn: Callable[[JobContext], Any]) -> None:
        try:
            with self.db.engine.begin() as conn:
                started = conn.execute(
                    update(jobs).where(jobs.c.id == job_id, jobs.c.state == "queued")
                    .values(state="running", started=now_iso())
                ).rowcount
            if started:
                ctx = JobContext(self.db, job_id)
                with self._lock:
                    self._live[job_id] = ctx
                    closing = self._closed
                if closing:
                    ctx.request_stop("interrupted")
                self._execute(ctx, fn)
        finally:
            with self._lock:
                self._running[kind] -= 1
                self._live.pop(job_id, None)
                self._threads.pop(job_id, None)
                ended = self._ended.pop(job_id, None)
                self._dispatch(kind)
            if ended is not None:
                ended.set()

    def _execute(self, ctx: JobContext, fn: Callable[[JobContext], Any]) -> None:
        final: dict[str, Any]
        try:
            result = _jsonable(fn(ctx))
        except JobCancelled:
            if ctx.stop_reason == "user":
                ctx.log("cancelled")
                final = {"state": "cancelled"}
            else:
                ctx.log(INTERRUPTED)
                final = {"state": "failed", "error": INTERRUPTED}
        except Exception as exc:
            ctx.log(traceback.format_exc())
            final = {"state": "failed", "error": str(exc) or type(exc).__name__}
        else:
            if ctx.stop_reason == "user":
                ctx.log("a cancel was requested, but the job had already finished its work")
            with ctx._lock:
                ctx.progress = 1.0
            final = {"state": "done", "result": result}
        values = {**ctx.snapshot(), **final, "finished": now_iso()}
        try:
            with self.db.engine.begin() as conn:
                # Only from "running": a restarted manager may have marked this job failed meanwhile.
                conn.execute(update(jobs).where(jobs.c.id == ctx.job_id, jobs.c.state == "running").values(**values))
        except Exception as exc:  # e.g. a result the database rejects: still end the job
            with self.db.engine.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id == ctx.job_id, jobs.c.state == "running")
                             .values(state="failed", error=f"could not store the job's result: {exc}",
                                     finished=now_iso()))

    # -- reading ------------------------------------------------------------------------------
    def get(self, job_id: int) -> Job:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobError(f"job {job_id} not found")
        job = _job(row)
        with self._lock:
            ctx = self._live.get(job_id)
        if ctx is not None and job.state == "running":
            # This process runs it: show progress live rather than as of the last throttled write.
            for key, value in ctx.snapshot().items():
                setattr(job, key, value)
        return job

    def metrics(self, job_id: int) -> list[dict[str, Any]]:
        """The metrics rows the job recorded, oldest first (empty for a job that records none)."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(job_metrics.c.row).where(job_metrics.c.job_id == job_id)
                                .order_by(job_metrics.c.id)).all()
        return [dict(r.row) for r in rows]

    def list(self, user: User, limit: int = 50) -> list[Job]:
        q = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if not user.can("jobs:all"):
            q = q.where(jobs.c.owner == user.name)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).all()
        with self._lock:
            live = {job_id: ctx.snapshot() for job_id, ctx in self._live.items()}
        out = []
        for row in rows:
            job = _job(row)
            if job.id in live and job.state == "running":
                for key, value in live[job.id].items():
                    setattr(job, key, value)
            out.append(job)
        return out

    def wait(self, job_id: int, timeout: float | None = None) -> Job:
        """The job once finished, or as it is when `timeout` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            ended = self._ended.get(job_id)
        if ended is not None:
            ended.wait(timeout)
        job = self.get(job_id)
        # Not run by this manager (another process): poll the database.
        while job.state not in FINISHED and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
            job = self.get(job_id)
        return job

    # -- cancelling ---------------------------------------------------------------------------
    def cancel(self, job_id: int, user: User) -> Job:
        job = self.get(job_id)
        if job.owner != user.name and not user.can("jobs:all"):
            raise JobError("not your job")
        if job.state == "queued":
            with self._lock:
                with self.db.engine.begin() as conn:
                    n = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "queued")
                                     .values(state="cancelled", finished=now_iso(), log=["cancelled before it started"])
                                     ).rowcount
                if n:
                    for queue in self._queues.values():
                        for item in list(queue):
                            if item[0] == job_id:
                                queue.remove(item)
                    ended = self._ended.pop(job_id, None)
            if n:
                if ended is not None:
                    ended.set()
                return self.get(job_id)
            job = self.get(job_id)  # it started meanwhile
        if job.state == "running":
            with self.db.engine.begin() as conn:
                n = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running",
                                                    jobs.c.cancel_requested == 0).values(cancel_requested=1)).rowcount
            if n:
                with self._lock:
                    ctx = self._live.get(job_id)
                if ctx is not None:
                    ctx.request_stop("user")
                return self.get(job_id)
            job = self.get(job_id)
            if job.state == "running":
                raise JobError(f"job {job_id} is already being cancelled")
        if job.state == "failed":
            raise JobError(f"job {job_id} has already failed")
        raise JobError(f"job {job_id} is already {job.state}")

    # -- stopping -----------------------------------------------------------------------------
    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop: queued jobs fail as interrupted; running ones are asked to stop at their next report."""
        with self._lock:
            self._closed = True
            queued = [job_id for queue in self._queues.values() for job_id, _ in queue]
            for queue in self._queues.values():
                queue.clear()
            for ctx in self._live.values():
                ctx.request_stop("interrupted")
            threads = list(self._threads.values())
            ended = [self._ended.pop(job_id) for job_id in queued if job_id in self._ended]
        if queued:
            with self.db.engine.begin() as conn:
                conn.execute(update(jobs).where(jobs.c.id.in_(queued), jobs.c.state == "queued")
                             .values(state="failed", error=INTERRUPTED, finished=now_iso()))
        for ev in ended:
            ev.set()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for t in threads:
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
