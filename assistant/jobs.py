"""Background jobs: their state, progress, log, metrics and result kept in the application database, so a
page reload, or another process on the same database, sees them.

Two ways a job runs. `enqueue` stores a job with its request (`payload`, JSON) for the worker processes
(assistant/services/workers.py): a worker claims it with one conditional UPDATE, holds a lease it renews
(`heartbeat`), and a job whose lease ran out (its worker vanished) is failed by whoever notices first
(`reap`), never because another process started. `submit` runs a function on a thread of this process
(what a command in the foreground or a test uses); this process renews those leases too.

A job function gets a `JobContext`, which is also an `indexing.progress.Progress`: work that already
reports progress becomes cancellable without changes, because every report checks for a cancel request
(made by any process, through the database) and raises `JobCancelled`.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
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
LEASE_S = 30.0  # a running job's holder renews its lease every LEASE_S / 3; past it, the job is failed
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



def signal_on_parent_death(sig: int) -> bool:
    """Have the kernel send this process `sig` the moment its parent dies, even by `kill -9` (Linux's
    PR_SET_PDEATHSIG): a job's process must not outlive the process that owns it. False where that cannot be
    asked for; the caller then polls its parent."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(1, sig) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False

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
        self.stop_message: str | None = None
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

    def request_stop(self, reason: str, message: str | None = None) -> None:
        """Stop at the next report: `reason` "user" (cancelled) or "interrupted" (failed, with `message`)."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_message = message
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


def _new_row(kind: str, owner: str, title: str) -> dict[str, Any]:
    if not kind or not isinstance(kind, str):
        raise JobError("a job needs a kind")
    return {"kind": kind, "owner": owner, "title": str(title)[:200], "state": "queued", "progress": 0.0,
            "total": 0, "done": 0, "label": "", "log": [], "cancel_requested": 0, "created": now_iso()}


class JobManager:
    """The jobs of one database: the queue workers claim from (`enqueue`, `claim`, leases), and jobs this
    process runs on threads (`submit`: at most `limits[kind]` at a time per kind, default 1)."""

    def __init__(self, db: AppDB, limits: dict[str, int] | None = None, lease_s: float = LEASE_S) -> None:
        self.db = db
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.lease_s = lease_s
        self.name = f"{socket.gethostname()}:{os.getpid()}"  # the holder of this process's thread jobs
        self._beating: threading.Thread | None = None
        self._stopping = threading.Event()  # wakes the lease renewer at shutdown
        self._lock = threading.Lock()
        self._queues: dict[str, deque[tuple[int, Callable[[JobContext], Any]]]] = defaultdict(deque)
        self._running: dict[str, int] = defaultdict(int)
        self._live: dict[int, JobContext] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._ended: dict[int, threading.Event] = {}
        self._closed = False
        self.reap()

    # -- leases: who holds a job, and failing the jobs whose holder vanished -------------------------
    def reap(self) -> list[int]:
        """Fail the jobs whose lease ran out (their worker or process stopped renewing it); their ids."""
        now = time.time()
        expired = (jobs.c.lease_expires < now) | jobs.c.lease_expires.is_(None)
        held = (jobs.c.state == "running") | ((jobs.c.state == "queued") & jobs.c.worker.is_not(None))
        with self.db.engine.begin() as conn:
            rows = conn.execute(select(jobs.c.id, jobs.c.worker, jobs.c.heartbeat).where(held, expired)).all()
            failed = []
            for row in rows:
                since = datetime.fromtimestamp(row.heartbeat, UTC).strftime("%H:%M:%S") if row.heartbeat else "?"
                error = (f"{row.worker} stopped renewing its lease (last heartbeat at {since} UTC); "
                         "re-queue it with `assistant jobs retry`") if row.worker else INTERRUPTED
                n = conn.execute(update(jobs).where(jobs.c.id == row.id, held, expired)
                                 .values(state="failed", error=error, finished=now_iso())).rowcount
                if n:
                    failed.append(row.id)
        return failed

    def heartbeat(self, holder: str, job_ids: Sequence[int]) -> None:
        """Renew the leases of these jobs that `holder` still holds."""
        if not job_ids:
            return
        now = time.time()
        with self.db.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id.in_(list(job_ids)), jobs.c.worker == holder,
                                            jobs.c.state.in_(("queued", "running")))
                         .values(heartbeat=now, lease_expires=now + self.lease_s))

    def _beat(self) -> None:
        """Renew this process's thread jobs' leases while it has any (and until shutdown)."""
        while not self._closed:
            with self._lock:
                held = list(self._ended)
                if not held:
                    self._beating = None
                    return
            self.heartbeat(self.name, held)
            self._stopping.wait(self.lease_s / 3)
        with self._lock:
            self._beating = None

    # -- the queue the workers take from ------------------------------------------------------------
    def enqueue(self, kind: str, owner: str, title: str, payload: dict[str, Any]) -> Job:
        """Queue a job for the workers; `payload` is what they need to run it (JSON)."""
        with self.db.engine.begin() as conn:
            job_id = int(conn.execute(insert(jobs).values(**_new_row(kind, owner, title), payload=payload))
                         .inserted_primary_key[0])
        return self.get(job_id)

    def claim(self, holder: str, kinds: Sequence[str] | None = None) -> int | None:
        """Take the oldest queued job (of these kinds) for `holder`: running, leased to it. None if none."""
        waiting = select(jobs.c.id).where(jobs.c.state == "queued", jobs.c.worker.is_(None))
        if kinds:
            waiting = waiting.where(jobs.c.kind.in_(list(kinds)))
        waiting = waiting.order_by(jobs.c.id).limit(1)
        for _ in range(10):  # another worker may take the same row first: then the next one
            with self.db.engine.begin() as conn:
                row = conn.execute(waiting).first()
                if row is None:
                    return None
                now = time.time()
                taken = conn.execute(
                    update(jobs).where(jobs.c.id == row.id, jobs.c.state == "queued", jobs.c.worker.is_(None))
                    .values(state="running", worker=holder, started=now_iso(), heartbeat=now,
                            lease_expires=now + self.lease_s, attempts=jobs.c.attempts + 1)
                ).rowcount
            if taken:
                return int(row.id)
        return None

    def payload(self, job_id: int) -> dict[str, Any]:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(jobs.c.payload).where(jobs.c.id == job_id)).first()
        if row is None or not row.payload:
            raise JobError(f"job {job_id} has no request to run (it was not queued for a worker)")
        return dict(row.payload)

    def run_claimed(self, job_id: int, fn: Callable[[JobContext], Any]) -> None:
        """Run a job this process's worker claimed, to its end (done, failed or cancelled)."""
        ctx = JobContext(self.db, job_id)
        with self._lock:
            self._live[job_id] = ctx
        try:
            self._execute(ctx, fn)
        finally:
            with self._lock:
                self._live.pop(job_id, None)

    def interrupt(self, job_id: int, message: str | None = None) -> None:
        """Stop a job this process runs at its next report, as failed with `message` (its worker stopped)."""
        with self._lock:
            ctx = self._live.get(job_id)
        if ctx is not None:
            ctx.request_stop("interrupted", message)

    def end(self, job_id: int, state: str, error: str) -> bool:
        """End a running job from outside it (its process died or was stopped); False if it had ended."""
        with self.db.engine.begin() as conn:
            return bool(conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running")
                                     .values(state=state, error=error, finished=now_iso())).rowcount)

    def cancel_requested(self, job_id: int) -> bool:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).first()
        return bool(row and row.cancel_requested)

    # -- submitting and running ---------------------------------------------------------------
    def submit(self, kind: str, owner: str, title: str, fn: Callable[[JobContext], dict | None]) -> Job:
        """Run `fn` on a thread of this process (at most `limits[kind]` at a time)."""
        now = time.time()
        lease = {"worker": self.name, "heartbeat": now, "lease_expires": now + self.lease_s}
        row = {**_new_row(kind, owner, title), **lease}
        with self._lock:
            if self._closed:
                raise JobError("the server is shutting down; no new jobs")
            with self.db.engine.begin() as conn:
                job_id = int(conn.execute(insert(jobs).values(**row)).inserted_primary_key[0])
            self._queues[kind].append((job_id, fn))
            self._ended[job_id] = threading.Event()
            self._dispatch(kind)
            if self._beating is None:
                self._beating = threading.Thread(target=self._beat, name="job-leases", daemon=True)
                self._beating.start()
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
                error = ctx.stop_message or INTERRUPTED
                ctx.log(error)
                final = {"state": "failed", "error": error}
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
        self.reap()  # what a Jobs tab shows is never a job whose worker is long gone
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
        # Not run by this manager (another process): poll the database, failing it if its lease runs out.
        reaped = time.monotonic()
        while job.state not in FINISHED and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
            if time.monotonic() - reaped > 1.0:
                self.reap()
                reaped = time.monotonic()
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
            self._stopping.set()
            beating = self._beating
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
            for t in [*threads, *([beating] if beating else [])]:
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
