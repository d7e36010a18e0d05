"""Jobs on a Ray cluster (`[jobs] runner = "ray"`): a worker submits each job it claims as a Ray task.

The worker still claims the job from the database and holds its lease; the task does the work on whichever
node Ray picks, with the resources its kind needs (`jobs.ray_cpus`, and `jobs.ray_train_gpus` for
training), and writes its progress, log and loss curve to the database itself, as a child process does.
So every node needs the project installed, the same home at the same path (a network filesystem), the
database (PostgreSQL) and, for the jobs that open the vector store, a Chroma server. A task is cancelled
through Ray: the job's own cancel check stops it at its next step; past `jobs.cancel_grace_seconds`
the worker has Ray kill it (`ray.cancel(force=True)`).

`RayTask` has the shape the worker expects of a job's runner (that of `multiprocessing.Process`:
`is_alive`, `join`, `terminate`, `kill`, `exitcode`), plus `failure`: why the task ended without
ending its job (Ray's error), for the job's row.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from assistant.config import JobsSettings
from assistant.errors import InputError

# Passed on to each task, so a job runs with the worker's overrides (the task's own environment is its node's).
_FORWARDED = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "ANONYMIZED_TELEMETRY")


class RayUnavailable(InputError):
    """Ray is not installed, or its cluster does not answer; the message says which address and what to do."""


class RayCluster:
    """The worker's connection to the cluster at `jobs.ray_address` (one per worker process)."""

    def __init__(self, settings: JobsSettings) -> None:
        self.settings = settings
        self.address = settings.ray_address or "auto"
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable('[jobs] runner = "ray" needs Ray on this machine: pip install ".[ray]"') from exc
        self.ray = ray
        _check_answers(self.address)
        try:
            ray.init(address=self.address, namespace="assistant", ignore_reinit_error=True, log_to_driver=False,
                     logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"the Ray cluster at {self.address} does not answer: {exc}; start it with "
                                 "`ray start --head` or fix jobs.ray_address") from exc
        # One job per Ray worker process: a job loads its models; the next one starts clean.
        self._remote = ray.remote(max_calls=1)(_task)

    def resources(self, kind: str) -> dict[str, float]:
        gpus = 0.0
        if kind == "train":
            have = float(self.ray.cluster_resources().get("GPU", 0))
            processes = self.settings.training_processes()
            gpus = self.settings.ray_train_gpus
            if gpus is None:  # one GPU per training process when the cluster has GPUs
                gpus = float(processes) if processes > 1 and have else min(1.0, have)
            if gpus > have:
                raise InputError(f"a training job asks for {gpus:g} GPU(s) (jobs.ray_train_gpus, or one per process "
                                 f"of jobs.train_processes) but the Ray cluster at {self.address} has {have:g}; "
                                 "lower it or add a GPU node")
        return {"num_cpus": self.settings.ray_cpus, "num_gpus": gpus}

    def submit(self, home: str, job_id: int, kind: str) -> RayTask:
        env = {k: v for k, v in os.environ.items() if k.startswith("ASSISTANT_") or k in _FORWARDED}
        ref = self._remote.options(**self.resources(kind), name=f"assistant-job-{job_id}",
                                   runtime_env={"env_vars": env}).remote(home, job_id)
        return RayTask(self.ray, ref)


class RayTask:
    """A submitted job's Ray task, seen as a process by the worker."""

    pid = None

    def __init__(self, ray: Any, ref: Any) -> None:
        self.ray, self.ref = ray, ref
        self.exitcode: int | None = None
        self.failure: str | None = None

    def is_alive(self) -> bool:
        ready, _ = self.ray.wait([self.ref], timeout=0)
        return not ready

    def join(self, timeout: float | None = None) -> None:
        ready, _ = self.ray.wait([self.ref], timeout=timeout)
        if ready and self.exitcode is None:
            try:
                self.ray.get(self.ref)
                self.exitcode = 0
            except self.ray.exceptions.TaskCancelledError:
                self.exitcode, self.failure = -15, "its Ray task was cancelled before it ended the job"
            except self.ray.exceptions.RayError as exc:
                self.exitcode = 1
                self.failure = f"its Ray task failed: {str(exc).strip().splitlines()[-1][:500]}"

    def terminate(self) -> None:
        """Ask the task to stop (Ray raises KeyboardInterrupt in it)."""
        self.ray.cancel(self.ref, force=False)

    def kill(self) -> None:
        """Stop it by force: Ray kills the worker process that runs it."""
        self.ray.cancel(self.ref, force=True)


def _task(home: str, job_id: int) -> None:
    """What a Ray worker runs: the job, as a child process would, its log saying where."""
    import ray

    from assistant.services.workers import run_in_child

    where = (f"running as Ray task {ray.get_runtime_context().get_task_id()} on node "
             f"{ray.util.get_node_ip_address()}, process {os.getpid()}")
    run_in_child(home, job_id, watch_parent=False, where=where)


def _check_answers(address: str) -> None:
    """A quick connect to host:port first: ray.init on an address nobody listens at retries for a long while."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"jobs.ray_address {address!r} is not host:port (e.g. 10.0.0.5:6379, as `ray start "
                             "--head` prints) or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise RayUnavailable(f"the Ray cluster at {address} does not answer ({exc.strerror or exc}); start it "
                             "with `ray start --head --port " + port + "` or fix jobs.ray_address") from exc
