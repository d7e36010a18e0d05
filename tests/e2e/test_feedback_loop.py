"""Learning from users, in a real headless Chromium against `assistant serve` over its own copy of the demo home:
staff rate two answers (👍 and 👎) in the Chat tab, an evaluator writes the corrected answer in the Feedback tab,
an admin presses "Improve from feedback" in the Engines tab and trains a version on the generated set (2 steps),
whose engine.json names that set."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune.validate import read_dataset
from tests.conftest import WebServer, free_port, run_cli
from tests.e2e.browser import Shots, ask, sign_in, wait_until

pytestmark = pytest.mark.slow

USERS = {"sam": "staff", "eve": "evaluator", "ada": "admin"}
LIKED = "Who founded Calderbrook Digital, and in which year?"
DISLIKED = "Who is the chief executive of Calderbrook Digital?"
CORRECTION = "Calderbrook Digital's chief executive is named in the annual report [1]."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Iterator[WebServer]:
    home = tmp_path_factory.mktemp("feedback-loop") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    (home / "config.toml").write_text("[llm]\nmax_new_tokens = 32\n")
    passwords = {name: f"{name}-password-1" for name in USERS}
    for name, role in USERS.items():
        res = run_cli("users", "add", name, "--role", role, "--password-stdin", "--json", home=home,
                      input=passwords[name] + "\n")
        assert res.returncode == 0, res.stderr
    web = WebServer(home, free_port(), passwords, {})
    web.start()
    yield web
    web.stop()


def _rate(page, button: str, comment: str = "") -> None:
    if comment:
        page.get_by_label("Comment for your next thumbs up or down (optional)").fill(comment)
    page.locator(f"#chatbot button[aria-label='{button}']").last.click()
    page.get_by_text(f"your {'👍' if button == 'Like' else '👎'} was saved").wait_for(timeout=30_000)


def test_ratings_a_correction_and_a_version_trained_on_them(browser, server: WebServer, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    datasets = server.home / "datasets"

    page = sign_in(browser, server, "sam", shots)
    assert page.get_by_role("tab", name="Feedback").count() == 0, "staff do not see the Feedback tab"
    ask(page, LIKED)
    _rate(page, "Like")
    ask(page, DISLIKED)
    _rate(page, "Dislike", "it does not name the chief executive")
    shots(page, "rated")
    page.context.close()

    page = sign_in(browser, server, "eve", shots)
    page.get_by_role("tab", name="Feedback").click()
    table = page.locator("#feedback-table")
    wait_until(lambda: LIKED[:30] in table.inner_text() and DISLIKED[:30] in table.inner_text(), 30)
    page.locator("#feedback-pick input").click()
    page.get_by_role("option", name=DISLIKED[:30]).first.click()
    page.locator("#feedback-shown").get_by_text("Answer given").wait_for(timeout=30_000)
    page.locator("#feedback-correction textarea").fill(CORRECTION)
    page.click("#feedback-save")
    page.locator("#feedback-status").get_by_text("Saved the correction").wait_for(timeout=30_000)
    wait_until(lambda: CORRECTION[:40] in table.inner_text(), 30)
    shots(page, "corrected")
    page.context.close()

    page = sign_in(browser, server, "ada", shots)
    page.get_by_role("tab", name="Engines").click()
    page.click("#datagen-feedback")
    page.locator("#engines-status").get_by_text("Improve from feedback: job").wait_for(timeout=60_000)
    wait_until(lambda: (datasets / "feedback-dpo.summary.json").is_file(), 300)
    [pair] = read_dataset(datasets / "feedback-dpo.jsonl", "dpo")
    assert pair["prompt"][-1]["content"] == DISLIKED and pair["chosen"][0]["content"] == CORRECTION
    [row] = read_dataset(datasets / "feedback-sft.jsonl", "sft")
    assert row["messages"][1]["content"] == LIKED
    longest = json.loads((datasets / "feedback-sft.summary.json").read_text())["tokens"]["max"]

    page.get_by_role("tab", name="Jobs").click()  # back to Engines: its lists are read again
    page.get_by_role("tab", name="Engines").click()
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="feedback-sft.jsonl").first.click()
    page.locator("#train-name input, #train-name textarea").first.fill("fromfeedback")
    page.locator("#train-steps input").fill("2")
    if longest > 1024:  # the sources the answer was given are long: the run must not leave its one row out
        page.get_by_text("More training options").click()
        page.locator("#train-max-length input").fill(str(longest + 16))
    shots(page, "train-on-feedback")
    page.click("#train-button")
    page.locator("#engines-status").get_by_text("job").wait_for(timeout=60_000)
    record = server.home / "engines" / "fromfeedback" / "v1" / "engine.json"
    wait_until(record.is_file, 600)
    hyper = json.loads(record.read_text())["hyperparameters"]
    assert Path(hyper["data"]).name == "feedback-sft.jsonl", hyper
    # Staying on the tab: the finished job lists its engine, and the chosen training set stays chosen.
    wait_until(lambda: "fromfeedback@1" in page.locator("#engines-table").inner_text(), 60)
    assert page.locator("#train-dataset input").input_value().endswith("feedback-sft.jsonl")
    shots(page, "trained-on-feedback")
