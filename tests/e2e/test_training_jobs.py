"""Training runs as queued jobs in worker processes (issue 15), with a tiny model built here and real TRL steps:
killing the web server mid-training leaves the run going in its worker to a registered version, whose whole
loss curve a new process reads from the database (and the orphaned worker then exits); kill -9 of the worker
fails the job within its lease and `jobs retry` resumes it from its last checkpoint, registering one version;
a job that does not stop when cancelled is killed once the grace has passed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ASSISTANT, ROOT, free_port, job_show, queue_job, run_cli
from tests.finetune.test_train import FAST, sft_rows, write_set
from tests.llm_fixtures import make_tiny_base

WAIT = 300.0


@pytest.fixture(scope="module")
def tiny_base(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")


def _home(make_home, tiny_base: Path, jobs: str = "") -> Path:
    return make_home(config=f'[llm]\nmodel = "{tiny_base}"\nmax_new_tokens = 8\n[jobs]\npoll_seconds = 0.2\n{jobs}')


def _until(home: Path, job_id: int, ready) -> dict:
    deadline = time.monotonic() + WAIT
    while not ready(doc := job_show(home, job_id)):
        assert doc["state"] in ("queued", "running") and time.monotonic() < deadline, (doc["error"], doc["log"][-5:])
        time.sleep(0.3)
    return doc


def _local_worker(home: Path) -> bool:
    return subprocess.run(["pgrep", "-f", f"worker --local .* --home {home}"], capture_output=True).returncode == 0


def _versions(home: Path) -> list[tuple[str, int]]:
    res = run_cli("engines", "list", "--json", home=home)
    assert res.returncode == 0, res.stderr
    return [(e["name"], e["version"]) for e in json.loads(res.stdout)]


@pytest.mark.slow
def test_killing_the_web_server_mid_training_leaves_the_run_going_to_its_version(make_home, tiny_base: Path) -> None:
    from assistant.config import load_settings
    from assistant.services import Services, operator
    from ui.web.engines import loss_frame

    home = _home(make_home, tiny_base)
    data = write_set(home / "datasets", "sft", sft_rows(12))
    server = subprocess.Popen([*ASSISTANT, "serve", "--home", str(home), "--port", str(free_port())], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job_id = queue_job(home, "train", "sft", "--data", str(data), "--engine", "company", "--max-steps", "10",
                           "--eval-steps", "5", *FAST)
        _until(home, job_id, lambda doc: doc["done"] >= 2)  # training, in the server's local worker process
        server.send_signal(signal.SIGKILL)
        server.wait()
        res = run_cli("jobs", "wait", str(job_id), "--timeout", str(WAIT), "--json", home=home)
        assert res.returncode == 0, res.stdout + res.stderr
        deadline = time.monotonic() + 30  # its job done, the orphaned local worker exits by itself
        while _local_worker(home) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _local_worker(home)
    finally:
        if server.poll() is None:
            server.kill()
        subprocess.run(["pkill", "-f", f"worker --local .* --home {home}"], check=False)
    assert _versions(home) == [("company", 1)]
    # A restarted web app: a new process's services, and the Engines tab's own plot data.
    frame = loss_frame(Services(load_settings(home)).jobs.metrics(operator(), job_id))
    assert sorted(frame[frame.series == "training"].step) == list(range(1, 11))
    assert sorted(frame[frame.series == "validation"].step) == [5, 10]


@pytest.mark.slow
def test_a_killed_workers_training_fails_in_its_lease_and_a_retry_resumes_it(make_home, tiny_base: Path) -> None:
    home = _home(make_home, tiny_base)
    env = {"ASSISTANT_JOBS__LEASE_SECONDS": "3"}
    data = write_set(home / "datasets", "sft", sft_rows(10), val=0)
    job_id = queue_job(home, "train", "sft", "--data", str(data), "--engine", "resumable", "--max-steps", "12",
                       "--save-steps", "3", *FAST, env=env)
    run_dir = home / "engines" / "resumable" / ".runs" / "v1"
    worker = subprocess.Popen([*ASSISTANT, "worker", "--kinds", "train", "--home", str(home)], cwd=ROOT,
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while not any((c / "trainer_state.json").is_file() for c in run_dir.glob("checkpoint-*")):
            assert worker.poll() is None and time.monotonic() < deadline, job_show(home, job_id)
            time.sleep(0.1)
        worker.send_signal(signal.SIGKILL)  # no clean-up: as if its machine died
        worker.wait()
        killed = time.monotonic()
        res = run_cli("jobs", "wait", str(job_id), "--timeout", "60", "--json", home=home, env=env)
        assert res.returncode == 3, res.stdout + res.stderr
        failed = json.loads(res.stdout)
        assert failed["state"] == "failed" and "worker" in failed["error"] and "retry" in failed["error"], failed
        assert time.monotonic() - killed < 30
        assert _versions(home) == []

        res = run_cli("jobs", "retry", str(job_id), "--json", home=home, env=env)
        assert res.returncode == 0, res.stderr
        again = json.loads(res.stdout)["job"]
        worker = subprocess.Popen([*ASSISTANT, "worker", "--kinds", "train", "--home", str(home)], cwd=ROOT,
                                  env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = run_cli("jobs", "wait", str(again), "--timeout", str(WAIT), "--json", home=home, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
    finally:
        worker.kill()
        worker.wait(60)
    assert _versions(home) == [("resumable", 1)]  # one version: the resumed run's, nothing twice
    res = run_cli("jobs", "show", str(again), "--json", home=home)  # with its loss curve
    assert res.returncode == 0, res.stderr
    resumed = json.loads(res.stdout)
    start = resumed["result"]["metrics"]["resumed_from_step"]
    assert 3 <= start < 12 and start % 3 == 0
    steps = [m["step"] for m in resumed["metrics"] if "loss" in m]
    assert steps == list(range(start + 1, 13))  # continued from the checkpoint, not restarted at 1


@pytest.mark.slow
def test_a_job_that_does_not_stop_when_cancelled_is_killed_after_the_grace(make_home, tiny_base: Path) -> None:
    from assistant.config import load_settings
    from assistant.services import Services, WorkerOptions, operator

    home = _home(make_home, tiny_base, "cancel_grace_seconds = 1\n")
    data = write_set(home / "datasets", "sft", sft_rows(10), val=0)
    job_id = queue_job(home, "train", "sft", "--data", str(data), "--engine", "hung", "--max-steps", "5000", *FAST)
    worker = Services(load_settings(home)).jobs.worker(operator(), WorkerOptions(("train",)))
    runs = threading.Thread(target=worker.run, daemon=True)
    runs.start()
    try:
        doc = _until(home, job_id, lambda doc: doc["done"] >= 1)
        pid = int(re.search(r"running in process (\d+)", "\n".join(doc["log"])).group(1))
        os.kill(pid, signal.SIGSTOP)  # hung: it can no longer see the cancel request
        res = run_cli("jobs", "cancel", str(job_id), home=home)
        assert res.returncode == 0, res.stderr
        res = run_cli("jobs", "wait", str(job_id), "--timeout", "60", "--json", home=home)
        assert res.returncode == 3, res.stdout + res.stderr
        ended = json.loads(res.stdout)
        assert ended["state"] == "cancelled" and "stopped by force" in ended["error"], ended
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed, and reaped by its worker
    finally:
        worker.stop.set()
        runs.join(60)
    assert _versions(home) == []
