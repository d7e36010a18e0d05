"""Queued jobs and the workers that run them (assistant/jobs.py queue, assistant/services/workers.py): a job is
claimed exactly once however many workers race for it; a job whose worker vanished is failed once its lease
runs out (never because another process started); a queued index job runs in a worker's child process, fails
promptly when its worker is killed (kill -9) and, re-queued, finishes with nothing missing and nothing twice.
Killing the web server mid-job, and training runs in workers: tests/e2e/test_training_jobs.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from assistant.appdb import AppDB
from assistant.jobs import JobManager
from tests.conftest import ASSISTANT, ROOT, job_show, run_cli
from tests.postgres import DATABASES, database_url, postgres_server  # noqa: F401

WAIT = 120.0


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """On SQLite and on a PostgreSQL server (tests/postgres.py): several workers share one database."""
    return database_url(request, tmp_path)


def test_racing_workers_claim_each_job_exactly_once(url: str) -> None:
    queue = JobManager(AppDB(url))
    ids = [queue.enqueue("index", "ada", f"job {i}", {"call": "documents.index_job", "args": {}}).id
           for i in range(30)]
    claimed: dict[str, list[int]] = {}

    def work(name: str) -> None:
        mine = JobManager(AppDB(url))  # its own connections, as another process would have
        claimed[name] = []
        while (job_id := mine.claim(name)) is not None:
            claimed[name].append(job_id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    taken = [job_id for ids_ in claimed.values() for job_id in ids_]
    assert sorted(taken) == ids  # every job once, none twice
    rows = [queue.get(i) for i in ids]
    assert {r.state for r in rows} == {"running"}


def test_a_vanished_workers_job_fails_when_its_lease_runs_out_not_before(url: str) -> None:
    first = JobManager(AppDB(url), lease_s=1.0)
    job = first.enqueue("train", "ada", "Train company", {"call": "engines.train_job", "args": {}})
    assert first.claim("worker:ghost") == job.id
    JobManager(AppDB(url), lease_s=1.0)  # another process starting: the job is still leased, untouched
    assert first.get(job.id).state == "running"
    first.heartbeat("worker:ghost", [job.id])
    time.sleep(0.6)
    assert first.reap() == [] and first.get(job.id).state == "running"  # renewed: still within its lease
    time.sleep(1.0)
    assert first.reap() == [job.id]
    failed = first.get(job.id)
    assert failed.state == "failed" and "worker:ghost stopped renewing its lease" in failed.error


def _write_corpus(folder: Path, n: int) -> None:
    folder.mkdir()
    topics = ["tenders", "revenue", "staff", "offices", "safety", "bids", "pricing", "training"]
    for i in range(n):
        words = " ".join(f"{topics[(i + j) % len(topics)]}-{i}-{j}" for j in range(400))
        (folder / f"note-{i:03}.txt").write_text(f"Note {i} about {topics[i % len(topics)]}.\n\n{words}\n")


def _worker(home: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([*ASSISTANT, "worker", "--home", str(home)], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_killed_workers_job_fails_in_its_lease_and_a_retry_finishes_it(make_home, tmp_path: Path,
                                                                        chroma_server: str) -> None:
    # A Chroma server, so that a worker process may write the index; a progress report per file.
    home = make_home(config=f'[indexing]\nchroma_url = "{chroma_server}"\nbatch_chars = 1000\n')
    _write_corpus(tmp_path / "notes", 24)
    env = {"ASSISTANT_JOBS__LEASE_SECONDS": "3", "ASSISTANT_JOBS__POLL_SECONDS": "0.2"}
    res = run_cli("index", str(tmp_path / "notes"), "--queue", "--json", home=home, env=env)
    assert res.returncode == 0, res.stderr
    job_id = json.loads(res.stdout)["job"]
    res = run_cli("jobs", "show", str(job_id), "--json", home=home)
    assert json.loads(res.stdout)["state"] == "queued", res.stderr  # nothing runs it until a worker does

    worker = _worker(home, env)
    deadline = time.monotonic() + WAIT
    while (doc := job_show(home, job_id))["done"] < 5:  # embedding files, in the worker's child process
        assert doc["state"] in ("queued", "running") and time.monotonic() < deadline, doc
        time.sleep(0.3)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed = time.monotonic()
    res = run_cli("jobs", "wait", str(job_id), "--timeout", "60", "--json", env=env, home=home)
    assert res.returncode == 3, res.stderr  # failed
    failed = json.loads(res.stdout)
    # Failed by its orphaned child (which noticed its worker gone) or by the lease, whichever came first.
    assert failed["state"] == "failed" and "worker" in failed["error"] and "retry" in failed["error"], failed
    assert time.monotonic() - killed < 30

    res = run_cli("jobs", "retry", str(job_id), "--json", home=home, env=env)
    assert res.returncode == 0, res.stderr
    again = json.loads(res.stdout)["job"]
    worker = _worker(home, env)
    try:
        res = run_cli("jobs", "wait", str(again), "--timeout", "600", "--json", home=home, env=env)
        assert res.returncode == 0, res.stderr + res.stdout
    finally:
        worker.terminate()
        worker.wait(60)
    res = run_cli("sources", "--json", home=home)
    sources = [s["source"] for s in json.loads(res.stdout)]
    assert len(sources) == len(set(sources)) == 24  # nothing missing, nothing twice


def test_the_embedded_store_keeps_its_jobs_in_the_serving_process(make_home) -> None:
    """Two processes writing one embedded Chroma leave the server's view broken ("Error finding id", seen in the
    browser tests): a worker process refuses those kinds, and `serve` keeps them on its own threads."""
    from assistant.config import load_settings
    from assistant.errors import UserError
    from assistant.services import Services, WorkerOptions, operator

    embedded = Services(load_settings(make_home("embedded")))
    assert embedded.jobs.serving_kinds() == (("index", "datagen", "eval"), ("train",))
    with pytest.raises(UserError, match="index jobs open the embedded vector store"):
        embedded.jobs.worker(operator(), WorkerOptions(("index", "train")))
    assert embedded.jobs.worker(operator(), WorkerOptions()).options.kinds == ("train",)
    with pytest.raises(UserError, match="unknown job kind 'trian'; the kinds are index, datagen, train, eval"):
        embedded.jobs.worker(operator(), WorkerOptions(("trian",), threads=True))
    served = Services(load_settings(make_home("served", config='[indexing]\nchroma_url = "http://127.0.0.1:9"\n')))
    assert served.jobs.serving_kinds() == ((), ("index", "datagen", "train", "eval"))


def test_old_requests_and_a_missing_model_fail_their_jobs_and_the_queue_goes_on(make_home, tmp_path: Path) -> None:
    """What a worker may meet: requests queued by another version (a field this code does not know; a required
    one missing), and a job needing a model this worker's machine lacks (its llm.model names a folder that is
    not there). Each job fails saying why; the job queued after them still runs."""
    from assistant.config import load_settings
    from assistant.services import Services, WorkerOptions, operator
    from assistant.services.jobs import job_payload
    from assistant.training import TrainRequest
    from tests.finetune.test_train import sft_rows, write_set

    missing_model = tmp_path / "models-not-mounted" / "llm"
    svc = Services(load_settings(make_home(config=f'[llm]\nmodel = "{missing_model}"\n')))
    data = write_set(tmp_path / "datasets", "sft", sft_rows(6), val=0)
    user = operator()
    train = job_payload(user, "engines.train_job", request=TrainRequest("sft", data, "company"))
    newer = json.loads(json.dumps(train))
    newer["args"]["request"]["curriculum"] = "easy-first"
    older = json.loads(json.dumps(train))
    del older["args"]["request"]["engine"]
    _write_corpus(tmp_path / "notes", 2)
    index = job_payload(user, "documents.index_job", paths=[tmp_path / "notes"])
    ids = [svc.ctx.jobs.enqueue(kind, user.name, kind, payload).id
           for kind, payload in (("train", newer), ("train", older), ("train", train), ("index", index))]

    worker = svc.jobs.worker(user, WorkerOptions(threads=True))
    deadline = time.monotonic() + WAIT
    while (ended := [svc.ctx.jobs.get(i) for i in ids]) and any(j.state not in ("done", "failed") for j in ended):
        assert time.monotonic() < deadline, [(j.state, j.error) for j in ended]
        worker.step()
        time.sleep(0.2)
    unknown, incomplete, no_model, indexed = ended
    assert unknown.state == "failed" and "queued by another version" in unknown.error
    assert "TrainRequest has field(s) this version does not know: curriculum" in unknown.error
    assert incomplete.state == "failed" and "queued by another version" in incomplete.error
    assert "engine" in incomplete.error
    assert no_model.state == "failed" and str(missing_model) in no_model.error, no_model.error
    assert indexed.state == "done" and len(svc.documents.sources(user)) == 2, indexed.result
