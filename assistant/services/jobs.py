"""Jobs: the long work running in the background (indexing, training sets, training, evaluations), as
its owner or an admin sees it; and what a worker runs.

A service's `submit_*` queues a job with `job_payload(user, "feature.method", **args)`: the acting user,
the service method that does the work, and its arguments (JSON, see assistant/job_payload.py). A worker
(assistant/services/workers.py) calls `execute`, which rebuilds the user and the arguments and calls
`services.<feature>.<method>(user, work, **args)` — only the methods listed in RUNNERS.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from assistant.accounts import User
from assistant.errors import InputError
from assistant.job_payload import decode, encode
from assistant.jobs import FINISHED, Job
from assistant.services.base import ServiceContext, operator, require
from assistant.services.workers import KINDS, STORE_KINDS, Worker, WorkerOptions

# What a queued job may call: "feature.method" of the Services.
RUNNERS = frozenset({"documents.index_job", "engines.datagen_job", "engines.datagen_feedback_job", "engines.train_job",
                     "reports.evaluate_job"})


def job_payload(user: User, call: str, **args: Any) -> dict[str, Any]:
    """What a queued job stores: who asked, which service method does the work, and its arguments."""
    if call not in RUNNERS:
        raise ValueError(f"{call!r} is not a job runner (RUNNERS)")
    return {"user": user.name, "operator": user.role == "operator", "call": call, "args": encode(args)}


class JobsService:
    def __init__(self, ctx: ServiceContext, services: Any = None) -> None:
        self.ctx = ctx
        self.services = services  # the Services this belongs to: what `execute` calls

    # -- what a worker runs ---------------------------------------------------------------------------
    def execute(self, job_id: int, where: str | None = None) -> None:
        """Run a job this process's worker claimed, to its end, as the user who queued it; `where` it runs
        is the first line of its log."""
        def run(work: Any) -> Any:
            if where:
                work.log(where)
            payload = self.ctx.jobs.payload(job_id)
            if payload.get("call") not in RUNNERS:
                raise InputError(f"job {job_id} asks for {payload.get('call')!r}, which no worker runs")
            feature, method = payload["call"].split(".")
            user = self._user(payload)
            runner = getattr(getattr(self.services, feature), method)
            try:
                args = decode(payload.get("args") or {})
                inspect.signature(runner).bind(user, work, **args)
            except (TypeError, ValueError, AttributeError, ImportError) as exc:
                raise InputError(f"job {job_id}'s request was queued by another version of the assistant and "
                                 f"cannot be read ({exc}); queue the work again") from exc
            return runner(user, work, **args)

        self.ctx.jobs.run_claimed(job_id, run)

    def _user(self, payload: dict[str, Any]) -> User:
        if payload.get("operator"):
            return operator(payload["user"])
        user = self.ctx.accounts.get(payload["user"])
        if user is None:
            raise InputError(f"the account {payload['user']!r} that queued this job no longer exists")
        return user

    def serving_kinds(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The job kinds `serve` runs on threads of its own process, and those its local worker process runs.

        The embedded vector store (no `indexing.chroma_url`) is opened by one process only: another process
        writing it leaves the server's view inconsistent. So with it, the jobs that open the store (index,
        datagen, eval) run inside the serving process, and only training goes to a worker process. With a
        Chroma server every kind runs in workers."""
        if self.ctx.settings.indexing.chroma_url:
            return (), KINDS
        return STORE_KINDS, tuple(k for k in KINDS if k not in STORE_KINDS)

    def worker(self, user: User, options: WorkerOptions, local: bool = False) -> Worker | None:
        """A worker over this home's database (`run()` it). `local`: the one local worker `serve` starts; None
        when one already runs for this home (it holds HOME/worker.lock while it lives)."""
        require(user, "jobs:all")
        unknown = [k for k in options.kinds if k not in KINDS]
        if unknown:
            raise InputError(f"unknown job kind {', '.join(map(repr, unknown))}; the kinds are {', '.join(KINDS)}")
        if not options.threads and not self.ctx.settings.indexing.chroma_url:
            kinds = options.kinds or self.serving_kinds()[1]
            shared = [k for k in kinds if k in STORE_KINDS]
            if shared:
                raise InputError(
                    f"{', '.join(shared)} jobs open the embedded vector store, which only `assistant serve` may "
                    "hold: they run there; give this worker --kinds train, or set indexing.chroma_url to a "
                    "Chroma server so that every worker can run them")
            options = replace(options, kinds=tuple(kinds))
        if local and not self._lock_local():
            return None
        self.ctx.audit(user, "worker", ",".join(options.kinds) or "all kinds")
        return Worker(self.services, options)

    def _lock_local(self) -> bool:
        import fcntl

        path = self.ctx.paths.home / "worker.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held for the worker's lifetime: the lock is the open file
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._local_lock = handle
        return True

    def retry(self, user: User, job_id: int) -> Job:
        """Queue a failed or cancelled job again, as a new job; a training run resumes from its checkpoints."""
        job = self.get(user, job_id)
        if job.state not in FINISHED or job.state == "done":
            raise InputError(f"job {job_id} is {job.state}; only a failed or cancelled job can be re-queued")
        payload = self.ctx.jobs.payload(job_id)
        if payload["call"] == "engines.train_job":
            args = decode(payload["args"])
            payload = {**payload, "args": encode({**args, "request": replace(args["request"], resume=True)})}
        again = self.ctx.jobs.enqueue(job.kind, job.owner, job.title, payload)
        self.ctx.audit(user, "retry job", f"{job_id} as {again.id}")
        return again

    def list(self, user: User) -> list[Job]:
        return self.ctx.jobs.list(require(user, "chat"))

    def get(self, user: User, job_id: int) -> Job:
        job = self.ctx.jobs.get(job_id)
        if job.owner != require(user, "chat").name and not user.can("jobs:all"):
            raise InputError(f"job {job_id} not found")
        return job

    def metrics(self, user: User, job_id: int) -> list[dict[str, Any]]:
        """The metrics rows a job recorded (a training run's loss curve), from any process."""
        self.get(user, job_id)
        return self.ctx.jobs.metrics(job_id)

    def wait(self, user: User, job_id: int, timeout: float | None = None) -> Job:
        self.get(user, job_id)
        return self.ctx.jobs.wait(job_id, timeout)

    def cancel(self, user: User, job_id: int) -> Job:
        job = self.ctx.jobs.cancel(job_id, require(user, "chat"))
        self.ctx.audit(user, "cancel job", str(job_id))
        return job

    def cancel_latest(self, user: User, kinds: tuple[str, ...]) -> Job:
        """Cancel the newest queued or running job of these kinds that this user may cancel (a tab's own
        Cancel button: the job it started, without looking up its id)."""
        active = [j for j in self.list(user) if j.kind in kinds and j.state in ("queued", "running")
                  and (j.owner == user.name or user.can("jobs:all"))]
        if not active:
            raise InputError(f"no {' or '.join(kinds)} job is running")
        return self.cancel(user, max(active, key=lambda j: j.id).id)
