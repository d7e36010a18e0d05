"""Jobs: the long work running in the background (indexing, training sets, training, evaluations), as
its owner or an admin sees it."""

from __future__ import annotations

from typing import Any

from assistant.accounts import User
from assistant.errors import InputError
from assistant.jobs import Job
from assistant.services.base import ServiceContext, require


class JobsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

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
