"""Two web processes and two workers on one PostgreSQL database (issue 15): the deployment README's "Deploying on
several machines" describes, on loopback. One home folder (as a network filesystem would share it), a real
PostgreSQL server (tests/postgres.py), a real Chroma server; two `assistant serve --no-worker` and two
`assistant worker` processes. Twenty training-set jobs are submitted through the two web processes, ten each,
the way the page does it (Gradio's HTTP API, signed in); every job runs exactly once, none fails, and each web
process shows all twenty in its Jobs tab, in a real browser.

The workers run jobs on threads (`--threads`): a child process per job would add an interpreter start to each of
the twenty, and what is tested here is who claims what, not the process isolation (tests/e2e/test_training_jobs.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ASSISTANT, ROOT, WebServer, free_port, run_cli
from tests.corpus_utils import handbook_corpus
from tests.e2e.browser import wait_until
from tests.postgres import postgres_server  # noqa: F401

JOBS = 20
PASSWORD = "ada-password-1"


def _submit(client, job_title_re: re.Pattern) -> int:
    """Press "Generate SFT data" through Gradio's API: POST the call, then read its result stream."""
    res = client.post("/gradio_api/call/datagen_sft", json={"data": []})
    assert res.status_code == 200, res.text
    event = res.json()["event_id"]
    stream = client.get(f"/gradio_api/call/datagen_sft/{event}", timeout=120).text
    assert "event: complete" in stream, stream
    found = job_title_re.search(stream)
    assert found, stream
    return int(found.group(1))


@pytest.mark.slow
def test_two_web_processes_and_two_workers_share_one_postgres_database(
        make_home, tmp_path: Path, postgres_server, chroma_server: str, browser) -> None:  # noqa: F811
    import httpx

    url = postgres_server.url(postgres_server.create_database("two_web"))
    home = make_home(config=f'[database]\nurl = "{url}"\n[indexing]\nchroma_url = "{chroma_server}"\n')
    res = run_cli("index", str(handbook_corpus(tmp_path / "handbooks")), home=home)
    assert res.returncode == 0, res.stderr
    res = run_cli("users", "add", "ada", "--role", "admin", "--password-stdin", home=home, input=PASSWORD + "\n")
    assert res.returncode == 0, res.stderr

    env = {**os.environ, "ASSISTANT_JOBS__POLL_SECONDS": "0.2"}
    webs = [WebServer(home, free_port(), {"ada": PASSWORD}, {}) for _ in range(2)]
    workers: list[subprocess.Popen] = []
    try:
        for web in webs:
            web.start(["--no-worker"])
        workers = [subprocess.Popen([*ASSISTANT, "worker", "--threads", "--home", str(home)], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        started = re.compile(r"job (\d+) started")
        submitted: list[int] = []
        clients = [httpx.Client(base_url=web.url, timeout=60) for web in webs]
        for client in clients:
            res = client.post("/login", data={"username": "ada", "password": PASSWORD})
            assert res.status_code in (200, 303), res.text
        for i in range(JOBS):  # alternately through each web process
            submitted.append(_submit(clients[i % 2], started))
        assert len(set(submitted)) == JOBS

        from assistant.appdb import AppDB
        from assistant.jobs import JobManager

        jobs = JobManager(AppDB(url))
        deadline = time.monotonic() + 300
        while any(jobs.get(j).state in ("queued", "running") for j in submitted):
            assert time.monotonic() < deadline, [(j, jobs.get(j).state) for j in submitted]
            assert all(w.poll() is None for w in workers), "a worker exited"
            time.sleep(0.5)
        ended = [jobs.get(j) for j in submitted]
        assert [j.state for j in ended] == ["done"] * JOBS, [(j.id, j.state, j.error) for j in ended]
        with AppDB(url).engine.connect() as conn:
            from sqlalchemy import text

            rows = conn.execute(text("SELECT id, attempts, worker FROM jobs WHERE kind = 'datagen'")).all()
        assert sorted(r.id for r in rows) == sorted(submitted)  # nothing but the twenty, each once
        assert {r.attempts for r in rows} == {1}  # each claimed once
        assert len({r.worker for r in rows}) == 2  # and both workers took some

        # Each web process shows all twenty, done, in its Jobs tab.
        for web in webs:
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.goto(f"{web.url}/login")
            page.fill("#username", "ada")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.get_by_text("Signed in as").wait_for(timeout=60_000)
            page.get_by_role("tab", name="Jobs").click()
            wait_until(lambda page=page: page.locator("#jobs-table").inner_text().count("Generate SFT data") >= JOBS,
                       60)
            table = page.locator("#jobs-table").inner_text()
            assert "failed" not in table and "running" not in table
            page.context.close()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        for web in webs:
            web.stop()
    assert json.loads(run_cli("jobs", "list", "--json", home=home).stdout)  # the CLI reads the same rows
