"""The Ray path (`[jobs] runner = "ray"`, assistant/ray_runner.py), on a real local head node started with
`ray start --head` on loopback: a worker submits each job it claims as a Ray task; a training set (datagen)
and a short training run go through it to their end, and a long run is cancelled through it. A Ray address
that does not answer is one line naming it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ASSISTANT, ROOT, free_port, job_show, queue_job, run_cli
from tests.corpus_utils import handbook_corpus
from tests.llm_fixtures import make_tiny_base

pytest.importorskip("ray", reason='Ray is an optional extra: pip install ".[ray]" (`make test` installs it)')

RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A one-node Ray cluster on loopback with 2 CPUs; stopped (with everything it ran) at the end."""
    port = free_port()
    # Ray's sockets live under its temp dir, whose path must stay short (AF_UNIX paths are limited).
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    res = subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                          "--num-cpus", "2", "--num-gpus", "0", "--object-store-memory", str(200 * 2**20),
                          "--include-dashboard=false",
                          "--disable-usage-stats", "--temp-dir", temp],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_datagen_and_training_run_as_ray_tasks_and_a_cancel_stops_one(
        make_home, tmp_path: Path, shared_models: Path, chroma_server: str, ray_head: str) -> None:
    tiny = make_tiny_base(shared_models, tmp_path / "tiny-llama")
    # A Chroma server: Ray tasks run in other processes (on other machines, in a real cluster).
    home = make_home(config=f'[llm]\nmodel = "{tiny}"\nmax_new_tokens = 8\n'
                            f'[indexing]\nchroma_url = "{chroma_server}"\n'
                            f'[jobs]\nrunner = "ray"\nray_address = "{ray_head}"\npoll_seconds = 0.2\n'
                            'cancel_grace_seconds = 0\n')
    res = run_cli("index", str(handbook_corpus(tmp_path / "handbooks")), home=home)
    assert res.returncode == 0, res.stderr
    worker = subprocess.Popen([*ASSISTANT, "worker", "--home", str(home), "--concurrency", "2"], cwd=ROOT,
                              env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        data = home / "datasets" / "ray-sft.jsonl"
        datagen = queue_job(home, "datagen", "sft", "--out", str(data), "--distractors", "1")
        res = run_cli("jobs", "wait", str(datagen), "--timeout", "300", "--json", home=home)
        assert res.returncode == 0, res.stdout + res.stderr + _worker_log(worker)
        done = job_show(home, datagen)
        assert _logged(done, "running as Ray task"), done["log"]
        assert done["result"]["rows"] > 0 and len(data.read_text().splitlines()) == done["result"]["rows"]

        long_run = queue_job(home, "train", "sft", "--data", str(data), "--engine", "cancelled", "--max-steps",
                          "5000", "--max-length", "384", "--batch-size", "2")
        train = queue_job(home, "train", "sft", "--data", str(data), "--engine", "onray", "--max-steps", "2",
                       "--max-length", "384", "--batch-size", "2")
        deadline = time.monotonic() + 300
        while not _logged(doc := job_show(home, long_run), "Training cancelled"):  # loading its model, in a Ray task
            assert doc["state"] in ("queued", "running") and time.monotonic() < deadline, (doc["error"], doc["log"])
            time.sleep(0.5)
        res = run_cli("jobs", "cancel", str(long_run), home=home)  # no grace: the worker has Ray stop it
        assert res.returncode == 0, res.stderr
        asked = time.monotonic()
        res = run_cli("jobs", "wait", str(long_run), "--timeout", "120", "--json", home=home)
        assert res.returncode == 3 and json.loads(res.stdout)["state"] == "cancelled", res.stdout + res.stderr
        assert time.monotonic() - asked < 30

        res = run_cli("jobs", "wait", str(train), "--timeout", "300", "--json", home=home)
        assert res.returncode == 0, res.stdout + res.stderr + _worker_log(worker)
        trained = job_show(home, train)
        assert _logged(trained, "running as Ray task")
        assert [m["step"] for m in trained["metrics"] if "loss" in m] == [1, 2]  # its loss curve, in the database
    finally:
        worker.terminate()
        worker.wait(60)
    res = run_cli("engines", "list", "--json", home=home)
    engines = {(e["name"], e["version"]) for e in json.loads(res.stdout)}
    assert engines == {("onray", 1)}, engines  # the cancelled run registered nothing


def test_a_ray_address_that_does_not_answer_is_one_line(make_home) -> None:
    port = free_port()
    home = make_home(config=f'[jobs]\nrunner = "ray"\nray_address = "127.0.0.1:{port}"\n'
                            '[indexing]\nchroma_url = "http://127.0.0.1:9"\n')
    res = run_cli("worker", "--kinds", "train", home=home, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: the Ray cluster at 127.0.0.1:{port} does not answer")
    assert "ray start --head" in res.stderr
    home2 = make_home("no-address", config='[jobs]\nrunner = "ray"\n')
    res = run_cli("worker", home=home2, timeout=60)
    assert res.returncode == 2 and "ray_address" in res.stderr, res.stderr


def _logged(job: dict, text: str) -> bool:
    return any(text in line for line in job["log"])


def _worker_log(worker: subprocess.Popen) -> str:
    if worker.poll() is None:
        return ""
    return "\nworker: " + (worker.stderr.read() if worker.stderr else "")[-3000:]
