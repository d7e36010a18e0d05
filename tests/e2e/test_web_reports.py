"""The Reports tab's evaluation and promotion in a real headless Chromium: an admin uploads a questions file
(a broken one is named by its line and runs nothing), gates an engine version nobody has promoted against
base, promotes it on its pass (a forced promotion without a reason is refused), and staff then find it in the
Chat tab's engine selector. Its own server over a copy of the demo home, so the shared one is left alone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import WebServer, free_port, job_show, run_cli
from tests.e2e.browser import Shots, sign_in, wait_until

pytestmark = pytest.mark.slow

USERS = {"ada": "admin", "sam": "staff"}


@pytest.fixture
def server(tmp_path: Path, demo_home: Path, shared_models: Path):
    from assistant.llm.embedded import prepare_embedded_llm
    from tests.llm_fixtures import make_random_adapter

    home = tmp_path / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    (home / "config.toml").write_text("[llm]\nmax_new_tokens = 24\n")
    # A version as a finished training run leaves it: registered, never gated, never promoted.
    make_random_adapter(prepare_embedded_llm(shared_models), home / "engines" / "gated" / "v1", seed=1, scale=0.5)
    passwords = {}
    for name, role in USERS.items():
        passwords[name] = f"{name}-password-1"
        res = run_cli("users", "add", name, "--role", role, "--password-stdin", home=home, input=passwords[name] + "\n")
        assert res.returncode == 0, res.stderr
    web = WebServer(home, free_port(), passwords, {})
    web.start()
    yield web
    web.stop()


def pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).first.click()


def test_admin_uploads_questions_gates_an_unpromoted_version_and_promotes_it(browser, server, tmp_path: Path,
                                                                           ) -> None:
    from assistant.components import DEMO_QUESTIONS

    demo = [json.loads(line) for line in DEMO_QUESTIONS.read_text().splitlines() if line.strip()]
    rows = [next(q for q in demo if q.get("answerable") is not False),
            next(q for q in demo if q.get("answerable") is False)]
    good = tmp_path / "two-questions.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(rows[0]) + "\n" + '{"question": "unclosed\n')

    shots = Shots(tmp_path)
    page = sign_in(browser, server, "ada", shots)
    page.get_by_role("tab", name="Reports").click()
    questions = page.locator("#eval-questions textarea, #eval-questions input").first

    # A broken file: the error names its line, no file is taken, nothing runs.
    page.locator("#eval-upload input[type=file]").set_input_files(str(broken))
    page.get_by_text(re.compile(r"broken\.jsonl:2: not valid JSON")).first.wait_for(timeout=30_000)
    shots(page, "broken-questions-file")
    assert questions.input_value() == ""
    page.click("#gate-button")
    page.get_by_text("Upload a questions file, use the demo's, or type its path.").first.wait_for(timeout=10_000)

    # A good file: counted and previewed, kept in the home.
    page.locator("#eval-upload").get_by_label("Clear").click()
    page.locator("#eval-upload input[type=file]").set_input_files(str(good))
    info = page.locator("#eval-questions-info")
    info.get_by_text("2 questions, 1 answerable, 1 unanswerable").wait_for(timeout=30_000)
    assert rows[0]["question"][:30] in page.locator("#eval-preview").inner_text()
    assert str(server.home / "datasets" / "questions") in questions.input_value()
    shots(page, "questions-previewed")

    # The gate on a version nobody promoted, against base, rag only.
    page.locator("#eval-modes").get_by_label("norag").uncheck()
    page.locator("#reports-refresh").click()
    pick(page, "gate-candidate", "gated@1")
    page.locator("#gate-min-delta input").fill("-0.5")
    page.click("#gate-button")
    started = page.locator("#reports-status").get_by_text(re.compile(r"Gate gated@1 against base: job \d+"))
    started.wait_for(timeout=60_000)
    job_id = int(re.search(r"job (\d+)", started.inner_text()).group(1))
    wait_until(lambda: job_show(server.home, job_id)["state"] not in ("queued", "running"), 600)
    assert job_show(server.home, job_id)["state"] == "done", job_show(server.home, job_id)["log"][-5:]
    page.locator("#reports-refresh").click()
    table = page.locator("#gate-table")
    wait_until(lambda: "passed" in table.inner_text(), 30)
    assert "rouge_l" in table.inner_text() and "rag" in table.inner_text()
    shots(page, "gate-passed")

    # Forcing needs a reason; through the passing gate it needs none.
    page.locator("#promote-force input").check()
    page.click("#promote-button")
    page.get_by_text(re.compile("forced promotion of gated@1 needs a reason")).first.wait_for(timeout=30_000)
    assert not (server.home / "engines" / "gated" / "promoted.json").exists()
    page.locator("#promote-force input").uncheck()
    page.click("#promote-button")
    page.locator("#reports-status").get_by_text("Promoted gated@1").wait_for(timeout=30_000)
    wait_until(lambda: "yes" in table.inner_text(), 30)
    shots(page, "promoted")
    assert json.loads((server.home / "engines" / "gated" / "promoted.json").read_text())["forced"] is False

    # Staff now find it in the chat's engine selector.
    staff = sign_in(browser, server, "sam", shots)
    staff.get_by_label("Engine", exact=True).click()
    staff.get_by_role("option", name="gated@1", exact=True).wait_for(timeout=30_000)
    shots(staff, "staff-engine-selector")
