"""The web app in a real headless Chromium (Debian's `chromium`, driven by Playwright), against
`assistant serve` on a loopback port. Each step saves a screenshot under the test's tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser import KESTREL, Shots, ask, sign_in, wait_until

pytestmark = pytest.mark.slow


def test_staff_chat_streams_and_cites_the_right_file(browser, web_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "sam", shots)
    assert page.get_by_role("tab", name="Documents").count() == 0
    seen = ask(page, "Who founded Calderbrook Digital, and in which year?")
    shots(page, "answer")
    assert len(seen) >= 3, f"the answer did not stream: {seen}"
    summary = page.locator("#sources summary").first
    summary.click()
    shots(page, "citation-open")
    label = summary.inner_text()
    passage = page.locator("#sources blockquote").first.inner_text()
    link = page.locator("#sources a").first
    assert link.inner_text().removeprefix("open ") in label
    # The link opens the cited file itself, and the passage is text from that file.
    resp = page.request.get(web_server.url + link.get_attribute("href").split("#")[0])
    assert resp.status == 200
    assert resp.headers["content-disposition"].startswith("inline")
    name = link.inner_text().removeprefix("open ")
    assert name in resp.headers["content-disposition"]
    if name.endswith((".md", ".txt", ".html")):
        words = [w for w in passage.split() if len(w) > 6][:5]
        assert all(w in resp.text() for w in words), (words, name)
    # The conversation is kept: after a reload it is listed and opens again.
    page.reload()
    page.get_by_text("Signed in as").wait_for()
    page.locator("#conversations input").click()
    page.get_by_role("option", name="Who founded Calderbrook").first.click()
    page.locator("#chatbot [data-testid='bot']").first.wait_for(timeout=30_000)
    shots(page, "conversation-reopened")
    assert "Sources:" in page.locator("#chatbot").inner_text()


def test_wrong_password_and_expired_session(browser, web_server, tmp_path: Path) -> None:
    page = browser.new_context().new_page()
    messages = []
    for user, password in (("sam", "not-the-password"), ("nobody", "whatever-else")):
        page.goto(f"{web_server.url}/login")
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("button[type=submit]")
        messages.append(page.locator(".error").inner_text())
    page.screenshot(path=str(tmp_path / "wrong-password.png"))
    assert messages[0] == messages[1] == "wrong user name or password"  # no hint which part was wrong
    page.context.add_cookies([{"name": "assistant_session", "value": "stale-token", "url": web_server.url}])
    page.goto(f"{web_server.url}/")
    assert "/login" in page.url and "expired" in page.locator("body").inner_text()


def test_staff_cannot_reach_admin_actions(browser, web_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "sam", shots)
    tabs = page.get_by_role("tab").all_inner_texts()
    assert "Documents" not in tabs and "Users" not in tabs and "Chat" in tabs
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "assistant_session")
    # A crafted request to the admin actions, with the staff session: refused by the server.
    for action in ("reindex", "add_user"):
        data = {"reindex": [], "add_user": ["mallory", "admin", "", "password1"]}
        with httpx.Client(base_url=web_server.url, cookies={"assistant_session": cookie}, timeout=60) as http:
            event = http.post(f"/gradio_api/call/{action}", json={"data": data[action]}).json()["event_id"]
            stream = http.get(f"/gradio_api/call/{action}/{event}").text
        assert "event: error" in stream and "may not do this" in stream, stream
    with httpx.Client(base_url=web_server.url, timeout=60) as http:  # and no session at all
        assert http.post("/gradio_api/call/reindex", json={"data": []}).status_code == 401
    from assistant.accounts import Accounts
    from assistant.appdb import AppDB

    assert Accounts(AppDB(f"sqlite:///{web_server.home / 'app.db'}")).get("mallory") is None


def test_restricted_document_never_shown_outside_its_group(browser, web_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "sam", shots)
    ask(page, KESTREL)
    for summary in page.locator("#sources summary").all():
        summary.click()
    shots(page, "staff-kestrel")
    body = page.locator("body").inner_text()
    assert "Orrin" not in body and "confidential" not in body
    memo = next(s for s in json.loads(_sources_json(web_server)) if "kestrel" in s["source"])
    resp = page.request.get(f"{web_server.url}/document", params={"source": memo["source"]})
    assert resp.status == 404  # the file link is refused too, as if it did not exist


def _sources_json(server) -> str:
    from tests.conftest import run_cli

    res = run_cli("sources", "--json", home=server.home)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_admin_uploads_reindexes_and_finds_it_in_an_answer(browser, web_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "ada", shots)
    page.get_by_role("tab", name="Documents").click()
    filler = "\n\n".join(
        f"Section {n}. The Harrowgate facilities handbook covers desks, lockers, parking and visitor badges "
        f"for floor {n % 7}, with rules on booking rooms and quiet areas." for n in range(160)
    )
    doc = tmp_path / "harrowgate-facilities-handbook.txt"
    doc.write_text(
        "Harrowgate facilities handbook.\n\nThe Zephyrine staff canteen in the Harrowgate office opens at "
        "07:15 every weekday and serves breakfast until 10:00.\n\n" + filler
    )
    broken = tmp_path / "broken-scan.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    page.locator("#upload input[type=file]").set_input_files([str(doc), str(broken)])
    page.locator("#upload-type input").fill("kms_fact")
    page.locator("#upload-type input").press("Enter")
    shots(page, "upload-chosen")
    page.click("#upload-button")
    page.locator("#upload-status").get_by_text("Indexing in job").wait_for(timeout=60_000)
    page.locator("#upload-live progress").first.wait_for(timeout=60_000)  # live progress while it runs
    shots(page, "upload-progress")
    # Staying on the tab, the sources table lists the new file when its job finishes.
    wait_until(lambda: "harrowgate-facilities-handbook.txt" in page.locator("#sources-table").inner_text(), 120)
    shots(page, "sources-table")
    page.get_by_role("tab", name="Jobs").click()
    wait_until(lambda: "done" in page.locator("#jobs-table").inner_text(), 60)
    shots(page, "jobs-done")
    assert "failed 1: broken-scan.pdf" in page.locator("#jobs-table").inner_text()  # named, and the rest indexed
    page.get_by_role("tab", name="Chat").click()
    ask(page, "When does the Zephyrine staff canteen open?")
    shots(page, "answer-from-upload")
    labels = page.locator("#sources summary").all_inner_texts()
    assert any("harrowgate-facilities-handbook.txt" in label for label in labels), labels


def test_admin_trains_an_engine_from_the_page_and_promotes_it(browser, web_server, tmp_path: Path) -> None:
    """A tiny SFT run (a few real TRL steps on the embedded model) launched from the Engines tab: the picked
    dataset previewed, an out-of-range option refused naming its field (nothing queued), non-default options
    recorded in engine.json, the tracking folder shown, a forced promotion only with a reason."""
    datasets = web_server.home / "datasets"
    datasets.mkdir(exist_ok=True)
    rows = [{"messages": [{"role": "user", "content": f"What does Calderbrook offer to client {n}?"},
                          {"role": "assistant", "content": "Calderbrook designs, builds and runs digital services "
                                                            f"for the UK public sector (client {n})."}]}
            for n in range(8)]
    (datasets / "tiny-sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "ada", shots)
    page.get_by_role("tab", name="Engines").click()
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="tiny-sft.jsonl").first.click()
    # The picked set's preview: its counts and first rows, read by the trainer's own reader.
    page.locator("#dataset-info").get_by_text(re.compile(r"tiny-sft\.jsonl.*8 rows")).wait_for(timeout=30_000)
    assert "What does Calderbrook offer to client 0?" in page.locator("#dataset-preview").inner_text()
    page.locator("#train-name input, #train-name textarea").first.fill("webtrained")
    page.locator("#train-steps input").fill("10")
    page.get_by_text("More training options").click()
    # An out-of-range option is refused with its field's name, and nothing is queued.
    page.locator("#train-lora-r input").fill("0")
    page.click("#train-button")
    page.get_by_text(re.compile(r"lora_r: Input should be greater than or equal to 1")).first.wait_for(
        timeout=30_000)
    shots(page, "option-out-of-range")
    assert "job" not in page.locator("#engines-status").inner_text()
    page.locator("#train-lora-r input").fill("4")
    page.locator("#train-lora-alpha input, #train-lora-alpha textarea").first.fill("8")
    page.locator("#train-learning-rate input, #train-learning-rate textarea").first.fill("0.0005")
    page.locator("#train-report-to input").click()
    page.get_by_role("option", name="tensorboard", exact=True).first.click()
    page.click("#train-button")
    page.locator("#engines-status").get_by_text("job").wait_for(timeout=60_000)
    # The loss plot fills in while it trains (one point per logged step).
    # The loss plot draws its line once steps are logged, and the line grows as training goes on.
    line = page.locator("#loss-plot .mark-line path")
    wait_until(lambda: line.count() > 0 and bool(line.first.get_attribute("d")), 300)
    first = line.first.get_attribute("d")
    shots(page, "training-loss-plot")
    wait_until(lambda: line.first.get_attribute("d") != first, 300)
    shots(page, "training-loss-plot-later")
    page.get_by_role("tab", name="Jobs").click()
    wait_until(lambda: "Train webtrained" in page.locator("#jobs-table").inner_text()
               and "running" not in page.locator("#jobs-table").inner_text(), 600)
    shots(page, "training-done")
    jobs_text = page.locator("#jobs-table").inner_text()
    assert "failed" not in jobs_text.split("Train webtrained")[0].splitlines()[-1]
    assert jobs_text.count("Train webtrained") == 1, jobs_text  # the refused click queued nothing
    hyper = json.loads((web_server.home / "engines" / "webtrained" / "v1" / "engine.json").read_text())[
        "hyperparameters"]
    tracking = web_server.home / "tracking" / "webtrained-v1"
    assert (hyper["lora_r"], hyper["lora_alpha"], hyper["learning_rate"], hyper["report_to"]) == (
        4, 8, 0.0005, "tensorboard"), hyper
    assert hyper["tracking"]["dir"] == str(tracking) and any(tracking.rglob("events.out.tfevents*")), hyper
    page.get_by_role("tab", name="Engines").click()
    wait_until(lambda: "webtrained@1" in page.locator("#engines-table").inner_text(), 30)
    assert f"tensorboard: {tracking}" in page.locator("#engines-table").inner_text()  # where its logs are
    shots(page, "engine-registered")
    # Not promoted yet: staff do not see it; after a (forced, no gate yet) promotion they do.
    def staff_models() -> list[str]:
        headers = {"Authorization": f"Bearer {web_server.keys['sam']}"}
        return [m["id"] for m in httpx.get(f"{web_server.url}/v1/models", headers=headers).json()["data"]]

    assert "webtrained@1" not in staff_models()
    page.locator("#engine-pick input").click()
    page.get_by_role("option", name="webtrained@1").first.click()
    page.get_by_label("Promote without a passing gate").check()
    page.get_by_role("button", name="Promote to staff").click()  # forced without a reason: refused
    page.get_by_text(re.compile("forced promotion of webtrained@1 needs a reason")).first.wait_for(timeout=30_000)
    assert not (web_server.home / "engines" / "webtrained" / "promoted.json").exists()
    page.locator("#engine-promote-reason input, #engine-promote-reason textarea").first.fill("browser smoke test")
    page.get_by_role("button", name="Promote to staff").click()
    page.locator("#engines-status").get_by_text("Promoted webtrained@1").wait_for(timeout=30_000)
    shots(page, "promoted")
    promoted = json.loads((web_server.home / "engines" / "webtrained" / "promoted.json").read_text())
    assert (promoted["forced"], promoted["reason"]) == (True, "browser smoke test"), promoted
    assert "webtrained@1" in staff_models()


def test_evaluator_runs_an_evaluation_and_opens_its_report(browser, web_server, tmp_path: Path) -> None:
    from assistant.components import DEMO_QUESTIONS

    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "eve", shots)
    tabs = page.get_by_role("tab").all_inner_texts()
    assert "Reports" in tabs and "Documents" not in tabs and "Engines" not in tabs
    page.get_by_role("tab", name="Reports").click()
    page.locator("#eval-questions textarea, #eval-questions input").first.fill(str(DEMO_QUESTIONS))
    page.locator("#eval-limit input").fill("2")
    page.click("#eval-button")
    page.locator("#reports-status").get_by_text("job").wait_for(timeout=60_000)
    # Staying on the tab, the report is listed when its job finishes: nothing to select or refresh.
    wait_until(lambda: page.locator("#reports-table").inner_text().count("questions.jsonl") >= 1, 600)
    shots(page, "reports-list")
    page.get_by_role("tab", name="Jobs").click()
    wait_until(lambda: "Evaluate base" in page.locator("#jobs-table").inner_text()
               and "running" not in page.locator("#jobs-table").inner_text()
               and "queued" not in page.locator("#jobs-table").inner_text(), 60)
    page.get_by_role("tab", name="Reports").click()
    page.locator("#report-pick input").click()
    page.get_by_role("option").first.click()
    frame = page.frame_locator("#report-view iframe")
    frame.locator("table").first.wait_for(timeout=60_000)
    shots(page, "report-open")
    assert "rag" in frame.locator("body").inner_text()
    # Staff may not read reports, even with a direct request.
    report_id = page.locator("#report-pick input").input_value()
    staff = browser.new_context()
    staff_page = staff.new_page()
    staff_page.goto(f"{web_server.url}/login")
    staff_page.fill("#username", "sam")
    staff_page.fill("#password", web_server.passwords["sam"])
    staff_page.click("button[type=submit]")
    staff_page.get_by_text("Signed in as").wait_for(timeout=60_000)
    assert staff_page.request.get(f"{web_server.url}/reports/{report_id}/report.html").status == 403
