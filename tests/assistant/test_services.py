"""The services: server-side role checks, restricted uploads, reindexing, removal, job cancel, chat privacy.

One Services over a copy of the demo home serves the whole module, so the embedder loads once;
every test uses its own file names, so their effects on the shared index do not overlap. Only the
chat test generates text (a short turn).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.accounts import User
from assistant.config import load_settings
from assistant.errors import InputError, PermissionDenied
from assistant.evaluation import EvalOptions
from assistant.history import HistoryError
from assistant.jobs import Job, JobContext, JobError
from assistant.services import DEMO_CORPUS, ChatRequest, Services, TurnDone, WorkerOptions, operator

pytestmark = pytest.mark.slow

KESTREL = DEMO_CORPUS / "internal_comms" / "2024-06-17-memo-project-kestrel-confidential.md"
PAY_REVIEW = DEMO_CORPUS / "internal_comms" / "2024-07-29-email-pay-review-2024-confidential.txt"
JOB_TIMEOUT_S = 300

# A made-up fact found in no demo document, so retrieving it can only find the uploaded file.
ZEPHYR = (
    "Project Zephyr bonus pool\n\nThe Zephyr bonus pool for the 2025 financial year is 1.35 million pounds. "
    "Payments to the Zephyr delivery team are confirmed by the finance committee in March.\n"
)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Iterator[Services]:
    home = tmp_path_factory.mktemp("workspace") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    # Short answers keep the one chat turn quick; small write batches give the cancel test one
    # progress report per file, so it can cancel between two files.
    (home / "config.toml").write_text("[llm]\nmax_new_tokens = 24\n\n[indexing]\nbatch_chars = 1000\n")
    services = Services(load_settings(home))
    # Submitted jobs are queued for workers: one runs them here, on threads of this process.
    worker = services.jobs.worker(operator(), WorkerOptions(threads=True))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield services
    worker.stop.set()
    thread.join(60)
    services.close()


@pytest.fixture(scope="module")
def users(ws: Services) -> dict[str, User]:
    add = ws.ctx.accounts.add_user
    return {
        "ada": add("ada", "admin", ["leadership", "finance"], "ada-password-1"),
        "sam": add("sam", "staff", [], "sam-password-1"),
        "eve": add("eve", "evaluator", [], "eve-password-1"),
        "fin": add("fin", "staff", ["finance"], "fin-password-1"),
    }


def finished(ws: Services, job: Job | None) -> Job:
    assert job is not None
    done = ws.ctx.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)
    assert done.state in ("done", "failed", "cancelled"), f"job {job.id} still {done.state} after {JOB_TIMEOUT_S} s"
    return done


def metadata(ws: Services, source: Path | str) -> dict[str, Any]:
    record = ws.components.indexer.docstore.get(str(source))
    assert record is not None, f"{source} is not indexed"
    return record.metadata


def sources_for(ws: Services, user: User, query: str, top_k: int = 10) -> list[str]:
    return [c.source for c in ws.documents.search(user, [query], top_k=top_k)[0]]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- role checks ------------------------------------------------------------------------------------

def test_admin_actions_are_refused_for_staff_evaluators_and_expired_sessions(
    ws: Services, users: dict[str, User], tmp_path: Path
) -> None:
    doc = write(tmp_path / "denied.md", "A document nobody but an admin may upload.\n")
    sources_before = [r.source for r in ws.components.sources()]
    jobs_before = len(ws.jobs.list(users["ada"]))
    users_before = ws.ctx.accounts.list_users()
    actions = {
        "upload": lambda u: ws.documents.upload(u, [("denied.md", doc)], {"groups": "finance"}),
        "reindex everything": lambda u: ws.documents.submit_reindex(u),
        "reindex one": lambda u: ws.documents.submit_reindex(u, str(KESTREL)),
        "remove_source": lambda u: ws.documents.remove_one(u, str(KESTREL)),
        "sources": lambda u: ws.documents.sources(u),
        "list_users": lambda u: ws.users.list(u),
        "add_user": lambda u: ws.users.add(u, "mallory", "admin", ["leadership"], "mallory-password-1"),
    }
    for who in (users["sam"], users["eve"], None):
        for name, action in actions.items():
            with pytest.raises(PermissionDenied) as err:
                action(who)
            expected = "sign in again" if who is None else "needs the admin role"
            assert expected in str(err.value), (name, who, str(err.value))
    # Refused means nothing happened, not just an exception after the fact.
    assert not (ws.settings.paths.uploads / "denied.md").exists()
    assert [r.source for r in ws.components.sources()] == sources_before
    assert len(ws.jobs.list(users["ada"])) == jobs_before
    assert ws.ctx.accounts.list_users() == users_before and ws.ctx.accounts.get("mallory") is None
    # The admin is allowed the read-only ones (the others are exercised by the tests below).
    assert {r.source for r in ws.documents.sources(users["ada"])} == set(sources_before)
    assert {u.name for u in ws.users.list(users["ada"])} >= {"ada", "sam", "eve", "fin"}


def test_feedback_export_needs_evaluator_or_admin(ws: Services, users: dict[str, User]) -> None:
    for who in (users["sam"], users["fin"], None):
        with pytest.raises(PermissionDenied):
            ws.reports.feedback(who)
    assert isinstance(ws.reports.feedback(users["eve"]), list)
    assert isinstance(ws.reports.feedback(users["ada"]), list)


# -- restricted uploads and reindexing --------------------------------------------------------------

def test_restricted_upload_stays_hidden_from_outsiders_after_reindexing_everything(
    ws: Services, users: dict[str, User], tmp_path: Path
) -> None:
    doc = write(tmp_path / "zephyr.md", ZEPHYR)
    stored, job = ws.documents.upload(users["ada"], [("zephyr-bonus-pool.md", doc)],
                            {"groups": "finance", "doc_type": "internal_comms", "sector": ""})
    assert [p.name for p in stored.saved] == ["zephyr-bonus-pool.md"] and not stored.rejected
    target = stored.saved[0]
    assert yaml.safe_load(target.with_name(target.name + ".meta.yaml").read_text()) == {
        "groups": ["finance"], "doc_type": "internal_comms"}
    done = finished(ws, job)
    assert done.state == "done" and done.result is not None and done.result["failed"] == [], done
    assert metadata(ws, target)["groups"] == ["finance"]

    query = "How big is the Zephyr bonus pool for 2025?"
    assert str(target) not in sources_for(ws, users["sam"], query)
    assert sources_for(ws, users["fin"], query)[0] == str(target)
    assert sources_for(ws, users["ada"], query)[0] == str(target)

    # The file changes on disk and an admin reindexes everything: it is re-embedded, still restricted.
    write(target, ZEPHYR + "\nThe pool was raised after the March review.\n")
    done = finished(ws, ws.documents.submit_reindex(users["ada"]))
    assert done.state == "done" and done.result is not None and done.result["updated"] >= 1, done
    assert done.result["failed"] == [] and done.result["removed"] == 0, done.result
    assert metadata(ws, target)["groups"] == ["finance"]
    assert str(target) not in sources_for(ws, users["sam"], query)
    assert sources_for(ws, users["fin"], query)[0] == str(target)


def test_reindex_keeps_the_groups_of_the_demo_memos(ws: Services, users: dict[str, User]) -> None:
    admin = users["ada"]
    done = finished(ws, ws.documents.submit_reindex(admin))
    assert done.state == "done" and done.result is not None and done.result["removed"] == 0, done
    for memo, group in ((KESTREL, "leadership"), (PAY_REVIEW, "finance")):
        meta = metadata(ws, memo)
        assert meta["groups"] == [group] and meta["doc_type"] == "internal_comms", meta

    # One source on its own is re-embedded although unchanged, and keeps its folder and sidecar metadata.
    before = ws.components.indexer.docstore.get(str(KESTREL))
    assert before is not None
    done = finished(ws, ws.documents.submit_reindex(admin, str(KESTREL)))
    assert done.state == "done" and done.result is not None, done
    assert (done.result["updated"], done.result["added"], done.result["failed"]) == (1, 0, []), done.result
    after = ws.components.indexer.docstore.get(str(KESTREL))
    assert after is not None and after.indexed_at >= before.indexed_at and after.chunks == before.chunks
    assert after.metadata["groups"] == ["leadership"] and after.metadata["doc_type"] == "internal_comms"
    kestrel = "What is Project Kestrel and which company would it acquire?"
    assert str(KESTREL) not in sources_for(ws, users["sam"], kestrel, top_k=20)
    assert str(KESTREL) in sources_for(ws, admin, kestrel)


def test_reindex_of_one_source_keeps_metadata_from_folders_above_it(
    ws: Services, users: dict[str, User], tmp_path: Path
) -> None:
    """The regression: a file reindexed on its own lost the `_meta.yaml` of the folder it was indexed from."""
    corpus = tmp_path / "board"
    write(corpus / "_meta.yaml", "groups: [leadership]\nsector: defence\n")
    plan = write(corpus / "2025" / "q1" / "heron-plan.md",
                 "Project Heron\n\nProject Heron is the board's plan to open a Glasgow office in 2026.\n")
    report = ws.components.index([corpus])
    assert report.added == 1 and not report.failed, report
    assert metadata(ws, plan)["groups"] == ["leadership"]

    done = finished(ws, ws.documents.submit_reindex(users["ada"], str(plan)))
    assert done.state == "done" and done.result is not None and done.result["updated"] == 1, done
    meta = metadata(ws, plan)
    assert meta["groups"] == ["leadership"] and meta["sector"] == "defence", meta
    query = "Where will Project Heron open an office?"
    assert str(plan) not in sources_for(ws, users["sam"], query)
    assert sources_for(ws, users["ada"], query)[0] == str(plan)


# -- removing sources -------------------------------------------------------------------------------

def test_remove_source_deletes_uploaded_files_but_never_company_files(
    ws: Services, users: dict[str, User], tmp_path: Path
) -> None:
    admin = users["ada"]
    doc = write(tmp_path / "osprey.md", "Project Osprey\n\nOsprey is the codename of the 2026 Leeds refit.\n")
    stored, job = ws.documents.upload(admin, [("osprey-refit.md", doc)], {"groups": ["leadership"]})
    assert finished(ws, job).state == "done"
    uploaded = stored.saved[0]
    sidecar = uploaded.with_name(uploaded.name + ".meta.yaml")
    assert uploaded.exists() and sidecar.exists()

    assert ws.documents.remove_one(admin, str(uploaded)) == [str(uploaded)]
    assert not uploaded.exists() and not sidecar.exists()
    assert ws.components.indexer.docstore.get(str(uploaded)) is None
    assert str(uploaded) not in sources_for(ws, admin, "What is the codename of the Leeds refit?")

    # A file from the company's own folders leaves the index, but stays on disk with its sidecar.
    company = write(tmp_path / "company" / "canteen.md", "Canteen menu\n\nSoup is served on Fridays.\n")
    write(tmp_path / "company" / "canteen.md.meta.yaml", "doc_type: kms_fact\n")
    assert ws.components.index([company]).added == 1
    assert ws.documents.remove_one(admin, str(company)) == [str(company)]
    assert ws.components.indexer.docstore.get(str(company)) is None
    assert company.exists() and company.with_name("canteen.md.meta.yaml").exists()

    with pytest.raises(InputError, match="not an indexed source"):
        ws.documents.remove_one(admin, str(company))


# -- jobs -------------------------------------------------------------------------------------------

def test_cancelled_index_job_leaves_no_pending_rows_and_a_rerun_completes(
    ws: Services, users: dict[str, User], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = users["ada"]
    indexer = ws.components.indexer
    files = []
    for i in range(5):  # each over batch_chars, so each is its own batch with its own progress report
        body = " ".join(f"Kingfisher site {i} inspection note {n}: the roof and the lifts were checked."
                        for n in range(25))
        files.append((f"kingfisher-{i}.md", write(tmp_path / f"k{i}.md", f"Kingfisher site {i}\n\n{body}\n")))

    # Cancel through the real path (JobsService.cancel) as soon as the first file is written: the job
    # then stops at that same progress report, between two batches.
    original_advance = JobContext.advance
    cancelled: list[int] = []

    def cancel_after_first_file(ctx: JobContext, n: int = 1, label: str | None = None) -> None:
        if not cancelled:
            running = [j for j in ws.jobs.list(admin) if j.kind == "index" and j.state == "running"]
            cancelled.append(ws.jobs.cancel(admin, running[0].id).id)
        original_advance(ctx, n, label)

    monkeypatch.setattr(JobContext, "advance", cancel_after_first_file)
    stored, job = ws.documents.upload(admin, files)
    done = finished(ws, job)
    monkeypatch.undo()
    assert cancelled == [done.id] and done.state == "cancelled", done
    targets = [str(p) for p in stored.saved]
    indexed = [s for s in targets if indexer.docstore.get(s) is not None]
    assert 1 <= len(indexed) < len(targets), indexed  # it really stopped part-way
    assert indexer.docstore.all(state="pending") == []
    assert indexer.collection.count() == sum(r.chunks for r in indexer.docstore.all())  # no orphan chunks

    with pytest.raises(JobError, match="already cancelled"):
        ws.jobs.cancel(admin, done.id)  # a second cancel is refused, and changes nothing

    rerun = finished(ws, ws.documents.submit_reindex(admin))
    assert rerun.state == "done" and rerun.result is not None, rerun
    assert rerun.result["added"] == len(targets) - len(indexed) and rerun.result["failed"] == [], rerun.result
    assert all(indexer.docstore.get(s) is not None for s in targets)
    assert indexer.docstore.all(state="pending") == []
    assert indexer.collection.count() == sum(r.chunks for r in indexer.docstore.all())


# -- chat -------------------------------------------------------------------------------------------

def test_chat_history_is_private_to_its_user(ws: Services, users: dict[str, User]) -> None:
    sam, eve = users["sam"], users["eve"]
    with pytest.raises(PermissionDenied):
        ws.chat.turn(None, ChatRequest("How many people work at Calderbrook Digital?"))  # type: ignore[arg-type]
    pieces = list(ws.chat.turn(sam, ChatRequest("How many people work at Calderbrook Digital?")))
    done = pieces[-1]
    assert isinstance(done, TurnDone) and done.answer.answer.strip(), pieces
    assert all(isinstance(p, str) for p in pieces[:-1])
    conversation, message = done.conversation_id, done.message_id

    assert conversation in [c["id"] for c in ws.chat.conversations(sam)]
    assert conversation not in [c["id"] for c in ws.chat.conversations(eve)]
    stored = ws.chat.messages(sam, conversation)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"] == done.answer.answer and stored[1]["sources"]

    # Another user cannot read, continue, rate or delete it: each looks like a missing conversation.
    for attempt in (
        lambda: ws.chat.messages(eve, conversation),
        lambda: ws.chat.turn(eve, ChatRequest("And in Leeds?"), conversation_id=conversation),
        lambda: ws.chat.feedback(eve, message, -1, "not mine to rate"),
        lambda: ws.chat.delete_conversation(eve, conversation),
    ):
        with pytest.raises(HistoryError, match="not found"):
            attempt()
    assert len(ws.chat.messages(sam, conversation)) == 2

    # Sam's own rating reaches the evaluators' export.
    ws.chat.feedback(sam, message, 1, "clear")
    assert any(f["user"] == "sam" and f["rating"] == 1 and f["comment"] == "clear" for f in ws.reports.feedback(eve))


def test_reindex_keeps_metadata_given_with_index_meta(ws: Services, users: dict[str, User], tmp_path: Path) -> None:
    """`assistant index DIR --meta groups=finance`, then "Reindex" in the web app: still restricted.

    The `--meta` values are recorded with the root; without them a reindex would resolve the file's
    metadata afresh and the document would become visible to everyone.
    """
    memo = write(tmp_path / "cli-meta" / "budget.md", "Budget 2026\n\nThe Falcon budget is 4.2 million pounds.\n")
    assert ws.components.index([memo.parent], {"groups": ["finance"]}).added == 1
    assert metadata(ws, memo)["groups"] == ["finance"]
    done = finished(ws, ws.documents.submit_reindex(users["ada"], str(memo)))
    assert done.state == "done"
    assert metadata(ws, memo).get("groups") == ["finance"]
    everything = finished(ws, ws.documents.submit_reindex(users["ada"]))
    assert everything.state == "done" and not everything.result["failed"]
    assert metadata(ws, memo).get("groups") == ["finance"]


def test_evaluation_job_is_cancelled_from_its_tab_and_writes_no_report(
    ws: Services, users: dict[str, User], tmp_path: Path
) -> None:
    """The Reports tab's Cancel: the evaluator's running evaluation stops, no report appears, and someone
    else's Cancel finds nothing of theirs to stop."""
    questions = write(tmp_path / "q.jsonl", "".join(
        json.dumps({"question": f"What does the company say about topic {i}?"}) + "\n" for i in range(20)))
    reports = ws.settings.paths.reports
    before = sorted(p.name for p in reports.iterdir()) if reports.exists() else []
    job = ws.reports.submit_evaluate(users["eve"], EvalOptions(questions, ["base"], ["rag", "norag"]))
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while ws.ctx.jobs.get(job.id).done < 1:  # an answer is written: the run is under way
        assert time.monotonic() < deadline and ws.ctx.jobs.get(job.id).state in ("queued", "running")
        time.sleep(0.1)
    with pytest.raises(InputError, match="no eval job is running"):
        ws.jobs.cancel_latest(users["sam"], ("eval",))
    assert ws.jobs.cancel_latest(users["eve"], ("eval",)).id == job.id
    done = finished(ws, job)
    assert done.state == "cancelled" and done.done < 40
    assert (sorted(p.name for p in reports.iterdir()) if reports.exists() else []) == before
