"""Background work on the command line: `worker` runs queued jobs; `jobs list|show|cancel|wait|retry`.

`assistant serve` runs its jobs with `LocalWorkers` (a worker process of its own unless `--no-worker`);
more workers, on this machine or others sharing the database and the home, are `assistant worker`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Annotated, Any

import typer

from assistant.cli.common import EXIT_PARTIAL, HomeOpt, JsonOpt, acting_user, emit_json, new_app, say, services
from assistant.services import Job, Services, Worker, WorkerOptions, operator

ACTING = Annotated[str | None, typer.Option("--user", help="Act as this account (its role applies).")]
JobIdArg = Annotated[int, typer.Argument(help="The job's id (see `assistant jobs list`).")]

jobs_app = new_app("Background jobs: list, show, cancel, wait for, re-queue.", no_args_is_help=True)


def worker(
    kinds: Annotated[str | None, typer.Option("--kinds", help="Job kinds it runs, e.g. train,eval (default: all).")]
    = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Jobs at once.")] = 1,
    threads: Annotated[bool, typer.Option("--threads", help="Run jobs on threads, not child processes.")] = False,
    local: Annotated[bool, typer.Option("--local", hidden=True, help="The one local worker `serve` starts.")]
    = False,
    home: HomeOpt = None,
) -> None:
    """Run queued jobs (indexing, training sets, training, evaluation) until stopped (Ctrl-C or SIGTERM)."""
    svc = services(home)
    options = WorkerOptions(tuple(k.strip() for k in (kinds or "").split(",") if k.strip()), concurrency, threads)
    worker_ = svc.jobs.worker(acting_user(svc), options, local=local)
    if worker_ is None:
        say("A local worker already runs for this home.")
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker_.stop.set())
    if local:  # its server gone (killed, or stopped without stopping it): finish the running jobs, then exit
        threading.Thread(target=_retire_when_orphaned, args=(worker_,), daemon=True).start()
    say(f"{worker_.name}: running {', '.join(options.kinds) or 'every kind of'} job(s), {concurrency} at once")
    worker_.run()


def _retire_when_orphaned(worker_: Worker) -> None:
    parent = os.getppid()
    while os.getppid() == parent and not worker_.stop.is_set():
        time.sleep(2)
    worker_.retire.set()


class LocalWorkers:
    """What `serve` runs its jobs with (`JobsService.serving_kinds`): a worker on threads of the server for the
    jobs that open an embedded vector store, and a worker process of its own for the rest (it outlives a
    server that is killed, until the jobs it runs have ended; `--no-worker` leaves those to `assistant worker`
    processes elsewhere)."""

    def __init__(self, svc: Services, process: bool) -> None:
        import threading

        here, elsewhere = svc.jobs.serving_kinds()
        self.thread_worker = None
        if here:
            self.thread_worker = svc.jobs.worker(operator(), WorkerOptions(here, len(here), threads=True))
            threading.Thread(target=self.thread_worker.run, name="jobs", daemon=True).start()
        self.process = None
        if process and elsewhere:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli", "worker", "--local", "--kinds", ",".join(elsewhere),
                 "--concurrency", str(len(elsewhere)), "--home", str(svc.settings.paths.home)])

    def stop(self) -> None:
        if self.thread_worker is not None:
            self.thread_worker.stop.set()
        if self.process is not None:
            self.process.terminate()
            self.process.wait()


@jobs_app.command("list")
def jobs_list(user: ACTING = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The newest jobs (an admin or the operator sees everyone's)."""
    svc = services(home, quiet=as_json)
    rows = svc.jobs.list(acting_user(svc, user))
    if as_json:
        emit_json([_brief(j) for j in rows])
        return
    for j in rows:
        say(f"{j.id:>5}  {j.state:<9} {j.kind:<8} {j.owner:<16} {j.progress * 100:>4.0f}%  {j.title}")


@jobs_app.command("show")
def jobs_show(job_id: JobIdArg, user: ACTING = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """One job: its state, progress, log and result (with --json, also the metrics it recorded: a loss curve)."""
    svc = services(home, quiet=as_json)
    acting = acting_user(svc, user)
    job = svc.jobs.get(acting, job_id)
    if as_json:
        emit_json({**job.to_json(), "metrics": svc.jobs.metrics(acting, job_id)})
        return
    say(f"job {job.id} ({job.kind}, {job.owner}): {job.state}, {job.progress * 100:.0f}% — {job.title}")
    for line in job.log[-40:]:
        say(f"  {line}")
    if job.error:
        say(f"error: {job.error}")


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobIdArg, user: ACTING = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a queued or running job (a running one stops at its next step)."""
    svc = services(home, quiet=as_json)
    _print(svc.jobs.cancel(acting_user(svc, user), job_id), as_json)


@jobs_app.command("wait")
def jobs_wait(
    job_id: JobIdArg,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Give up after this many seconds.")] = None,
    user: ACTING = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Wait until the job ends: exit 0 when it is done, 3 when it failed or was cancelled."""
    svc = services(home, quiet=as_json)
    job = svc.jobs.wait(acting_user(svc, user), job_id, timeout)
    _print(job, as_json)
    if job.state != "done":
        raise typer.Exit(EXIT_PARTIAL)


@jobs_app.command("retry")
def jobs_retry(job_id: JobIdArg, user: ACTING = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Queue a failed or cancelled job again (a training run resumes from its last checkpoint)."""
    svc = services(home, quiet=as_json)
    _print(svc.jobs.retry(acting_user(svc, user), job_id), as_json, queued=True)


def print_queued(job: Job, as_json: bool) -> None:
    """What `--queue` prints: `{"job": ID}` with --json."""
    _print(job, as_json, queued=True)


def _print(job: Job, as_json: bool, queued: bool = False) -> None:
    if as_json:
        emit_json({"job": job.id} if queued else _brief(job))
    else:
        say(f"job {job.id}: {job.state}" + (f" ({job.error})" if job.error else "")
            + (f"; follow it with `assistant jobs wait {job.id}`" if queued else ""))


def _brief(job: Job) -> dict[str, Any]:
    doc = job.to_json()
    doc.pop("log", None)
    return doc


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
