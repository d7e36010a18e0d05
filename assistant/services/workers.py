"""Workers: the processes that run queued jobs (`assistant worker`; `assistant serve` starts one).

A worker claims the oldest queued job of its kinds (one conditional UPDATE, so several workers on one
database never take the same job), runs it, and renews its lease every `jobs.lease_seconds / 3` while
it runs. Each job runs in a child process of its own (spawned: a fresh interpreter), so a training run
never shares the web server's memory, and a job that does not stop when cancelled is killed after
`jobs.cancel_grace_seconds`. A worker that vanishes (kill -9, a lost machine) stops renewing: any other
worker, or the web app, fails its jobs once their lease has run out. A child whose worker vanished stops
itself at its next progress report. `threads=True` runs jobs on threads of the worker's own process
instead (no hard stop; for tests and small deployments). With `[jobs] runner = "ray"` each job is a task
on a Ray cluster instead of a child process (assistant/ray_runner.py); the rest is the same.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.jobs import INTERRUPTED, signal_on_parent_death

KINDS = ("index", "datagen", "train", "eval")
STORE_KINDS = ("index", "datagen", "eval")  # the jobs that open the vector store


@dataclass
class WorkerOptions:
    kinds: tuple[str, ...] = ()  # the job kinds it takes; () = every kind
    concurrency: int = 1  # jobs at once, at most one of each kind (two indexing runs on one home would collide)
    threads: bool = False  # run jobs on threads of this process instead of child processes


@dataclass
class _Running:
    job_id: int
    kind: str
    runner: Any  # a multiprocessing Process or a Thread
    cancel_seen: float | None = None  # when this worker first saw a cancel request for it
    started: float = field(default_factory=time.monotonic)


class Worker:
    """One worker over the home's database. `run()` until `stop` is set; `step()` is one round."""

    def __init__(self, services: Any, options: WorkerOptions | None = None, name: str | None = None) -> None:
        import socket

        self.services = services
        self.options = options or WorkerOptions()
        self.name = name or f"worker:{socket.gethostname()}:{os.getpid()}"
        self.jobs = services.ctx.jobs
        self.settings = services.settings.jobs
        self.running: dict[int, _Running] = {}
        self.stop = threading.Event()
        self.retire = threading.Event()  # set: claim nothing more, and stop once the running jobs have ended
        self._last_beat = 0.0
        self.cluster = None
        if self.settings.runner == "ray" and not self.options.threads:
            from assistant.ray_runner import RayCluster

            self.cluster = RayCluster(self.settings)  # fails now, naming the address, if it does not answer

    def run(self) -> None:
        while not self.stop.is_set():
            self.step()
            if self.retire.is_set() and not self.running:
                break
            self.stop.wait(self.settings.poll_seconds)
        self._drain()

    def step(self) -> None:
        self.jobs.reap()
        self._check_running()
        while len(self.running) < self.options.concurrency and not (self.stop.is_set() or self.retire.is_set()):
            busy = {job.kind for job in self.running.values()}
            free = [k for k in (self.options.kinds or KINDS) if k not in busy]
            job_id = self.jobs.claim(self.name, free) if free else None
            if job_id is None:
                break
            kind = self.jobs.get(job_id).kind
            try:
                self.running[job_id] = _Running(job_id, kind, self._start(job_id, kind))
            except Exception as exc:  # e.g. resources the Ray cluster does not have: this job fails, the queue goes on
                self.jobs.end(job_id, "failed", f"could not start the job: {exc}")
        if time.monotonic() - self._last_beat >= self.settings.lease_seconds / 3:
            self.jobs.heartbeat(self.name, list(self.running))
            self._last_beat = time.monotonic()

    def _start(self, job_id: int, kind: str) -> Any:
        home = str(self.services.settings.home)
        runner: Any
        if self.cluster is not None:
            runner = self.cluster.submit(home, job_id, kind)
        else:
            if self.options.threads:
                runner = threading.Thread(target=self.services.jobs.execute, args=(job_id,), name=f"job-{job_id}",
                                          daemon=True)
            else:
                runner = multiprocessing.get_context("spawn").Process(target=run_in_child, args=(home, job_id),
                                                                      name=f"job-{job_id}")
            runner.start()
        self.jobs.heartbeat(self.name, [job_id])
        return runner

    def _check_running(self) -> None:
        for job_id, job in list(self.running.items()):
            if not job.runner.is_alive():
                job.runner.join()
                code = getattr(job.runner, "exitcode", 0)
                # The job ends its own row; a process that died without doing so ends here.
                self.jobs.end(job_id, "failed", getattr(job.runner, "failure", None)
                              or f"the job's process exited with code {code} before it ended (out of memory?); "
                                 "see the worker's log")
                del self.running[job_id]
            elif self.jobs.cancel_requested(job_id):
                job.cancel_seen = job.cancel_seen or time.monotonic()
                if time.monotonic() - job.cancel_seen > self.settings.cancel_grace_seconds:
                    self._kill(job)

    def _kill(self, job: _Running) -> None:
        if not hasattr(job.runner, "kill"):
            return  # a thread cannot be stopped from outside; it stops at its next report
        job.runner.kill()
        job.runner.join(10)
        self.jobs.end(job.job_id, "cancelled",
                      f"stopped by force: it did not stop within {self.settings.cancel_grace_seconds:.0f} s "
                      "of the cancel request")
        del self.running[job.job_id]

    def _drain(self) -> None:
        """On stop: the running jobs are asked to stop and given the grace period, then killed."""
        deadline = time.monotonic() + self.settings.cancel_grace_seconds
        for job in self.running.values():
            if hasattr(job.runner, "terminate"):
                job.runner.terminate()  # the child's SIGTERM handler stops the job at its next report
        for job in list(self.running.values()):
            job.runner.join(max(0.0, deadline - time.monotonic()))
            if job.runner.is_alive() and hasattr(job.runner, "kill"):
                job.runner.kill()
                job.runner.join(10)
            self.jobs.end(job.job_id, "failed", INTERRUPTED)
        self.running.clear()


def run_in_child(home: str, job_id: int, watch_parent: bool = True, where: str | None = None) -> None:
    """A job's child process (or Ray task, `watch_parent=False`): its own services over the home, the job
    run to its end. Its log starts with `where` it runs (an operator looking for its process)."""
    import signal
    import socket

    from assistant.config import load_settings
    from assistant.services import Services

    services = Services(load_settings(Path(home)))
    parent = os.getppid()
    jobs = services.ctx.jobs

    retry = f"re-queue it with `assistant jobs retry {job_id}`"

    def stopped(*_args: Any) -> None:
        jobs.interrupt(job_id, f"interrupted: its worker (pid {parent}) was stopped; {retry}")

    def vanished() -> None:
        jobs.interrupt(job_id, f"its worker (pid {parent}) stopped without ending it; {retry}")

    if watch_parent:  # a Ray task's parent is its node's raylet; its worker's lease covers it instead
        signal.signal(signal.SIGTERM, stopped)
        # At once on Linux, so that a short job cannot finish (and register a version) in the time a
        # poll of the parent takes; _watch_parent covers the rest.
        signal_on_parent_death(signal.SIGTERM)
        threading.Thread(target=_watch_parent, args=(parent, vanished), daemon=True).start()
    try:
        services.jobs.execute(job_id, where or f"running in process {os.getpid()} on {socket.gethostname()}")
    finally:
        services.close()


def _watch_parent(parent: int, stop: Any) -> None:
    """Its worker gone (the child re-parented): stop the job at its next report, as the lease will fail it."""
    while os.getppid() == parent:
        time.sleep(0.5)
    stop()
