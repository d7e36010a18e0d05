"""Learning from users: evaluators' corrections of thumbs-down answers, and "Improve from feedback" turning the
chat's ratings into training sets (thumbs up -> SFT row with its sources, thumbs down + correction -> DPO pair),
with datagen's rule for restricted sources and documents removed since; on SQLite and PostgreSQL.

A small corpus is indexed once for the module (the embedder, no LLM); the ratings are seeded through History as
the chat stores them. The base tokenizer is not loaded (token lengths unchecked): the browser test
(tests/e2e/test_feedback_loop.py) runs the whole loop with it and trains on the set."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.accounts import User
from assistant.appdb import AppDB
from assistant.components import Components
from assistant.config import load_settings
from assistant.errors import InputError, NotFound, PermissionDenied
from assistant.feedback_data import (
    DELETED,
    NO_CORRECTION,
    RESTRICTED,
    FeedbackRequest,
    build_feedback,
    renumber,
)
from assistant.history import HistoryError
from assistant.services import Services, WorkerOptions, operator
from assistant.training import index_chunks
from finetune.errors import DataError
from finetune.validate import read_dataset
from tests.postgres import DATABASES, database_url, postgres_server  # noqa: F401

PUBLIC = "Harrowgate runs its staff canteen from 07:15 every weekday and serves breakfast until 10:00. " * 3
BOARD = "The board approved the Osprey acquisition at 41 million pounds, confidential to leadership. " * 3
GONE = "The Larkspur office closed in March and its staff moved to the Harrowgate site in April. " * 3


@pytest.fixture(autouse=True)
def _no_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("assistant.training.token_counter", lambda settings, notify: (None, None))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Iterator[Components]:
    home = tmp_path_factory.mktemp("feedback") / "home"
    home.mkdir()
    (home / "models").symlink_to(shared_models, target_is_directory=True)
    docs = home.parent / "docs"
    docs.mkdir()
    (docs / "canteen.md").write_text(f"# Canteen\n\n{PUBLIC}\n")
    (docs / "osprey-board.md").write_text(f"# Osprey\n\n{BOARD}\n")
    (docs / "osprey-board.md.meta.yaml").write_text("groups: [leadership]\n")
    components = Components(load_settings(home))
    report = components.index([docs])
    assert report.added == 2 and not report.failed
    yield components


@pytest.fixture(params=DATABASES)
def ws(request: pytest.FixtureRequest, tmp_path: Path, corpus: Components) -> Iterator[Services]:
    services = Services(corpus.settings, db=AppDB(database_url(request, tmp_path)), components=corpus)
    yield services
    services.ctx.db.close()


def people(ws: Services) -> dict[str, User]:
    add = ws.ctx.accounts.add_user
    return {"sam": add("sam", "staff", [], "sam-password-1"), "eve": add("eve", "evaluator", [], "eve-password-1"),
            "lee": add("lee", "evaluator", ["leadership"], "lee-password-1"),
            "ada": add("ada", "admin", ["leadership"], "ada-password-1")}


def sources_of(components: Components, name: str, n: int = 1) -> list[dict[str, Any]]:
    """A chunk of the named file as the chat stores an answer's source (numbered n)."""
    chunk = next(c for c in index_chunks(components) if Path(c.source).name == name)
    return [{"n": n, "source": chunk.source, "page": None, "text": chunk.text, "score": 0.61,
             "metadata": {k: v for k, v in chunk.metadata.items() if not k.startswith("grp_")}}]


def rated(ws: Services, user: str, question: str, answer: str, sources: list[dict[str, Any]], rating: int,
          comment: str = "") -> int:
    """One stored turn, rated as the Chat tab rates it; the feedback row's id."""
    history = ws.ctx.history
    conv = history.new_conversation(user, question)
    history.add_message(user, conv, "user", question)
    message = history.add_message(user, conv, "assistant", answer, sources=sources, engine="base")
    history.feedback(user, message, rating, comment)
    return next(r["id"] for r in history.feedback_rows() if r["message_id"] == message)


def test_ratings_become_sft_rows_and_dpo_pairs(ws: Services) -> None:
    who = people(ws)
    canteen = sources_of(ws.components, "canteen.md", n=3)
    rated(ws, "sam", "When does the canteen open?", "It opens at 07:15 [3].", canteen, 1, "clear")
    down = rated(ws, "sam", "Until when is breakfast served?", "Until 11:00 [3].", canteen, -1, "wrong time")
    rated(ws, "sam", "Is there a canteen?", "No [3].", canteen, -1)  # never corrected
    rated(ws, "ada", "What did the board approve?", "The Osprey acquisition [1].",
          sources_of(ws.components, "osprey-board.md"), 1)

    # The evaluator corrects the thumbs-down answer, keeping its citation numbers.
    row = ws.chat.correct(who["eve"], down, "  Breakfast is served until 10:00 [3].  ")
    assert (row["correction"], row["corrected_by"]) == ("Breakfast is served until 10:00 [3].", "eve")
    assert ws.ctx.db.audit_entries()[0]["action"] == "correct feedback"
    listed = ws.chat.feedback_rows(who["eve"])
    assert [(r["question"], r["rating"], r["correction"]) for r in listed] == [
        ("When does the canteen open?", 1, None),
        ("Until when is breakfast served?", -1, "Breakfast is served until 10:00 [3]."),
        ("Is there a canteen?", -1, None),
    ], "the board's answer cites a leadership document: not listed for an evaluator outside leadership"
    assert len(ws.chat.feedback_rows(who["lee"])) == 4

    doc = ws.engines.datagen_feedback(who["ada"])
    assert (doc["rows"], doc["feedback"], doc["thumbs_up"], doc["thumbs_down"], doc["corrected"]) == (2, 4, 2, 2, 1)
    assert doc["skipped"] == [{"reason": RESTRICTED, "count": 1}, {"reason": NO_CORRECTION, "count": 1}]
    datasets = ws.ctx.paths.datasets
    assert doc["sft"]["out"] == str(datasets / "feedback-sft.jsonl")
    assert doc["dpo"]["out"] == str(datasets / "feedback-dpo.jsonl")

    # The files are what `assistant train sft|dpo --data F` reads, in datagen's prompt layout.
    [sft] = read_dataset(datasets / "feedback-sft.jsonl", "sft")
    system, user, assistant = sft["messages"]
    assert system["role"] == "system" and system["content"].startswith("You are the company's assistant.")
    assert "\n\nSources:\n\n[1] (" in system["content"] and canteen[0]["text"] in system["content"]
    assert user == {"role": "user", "content": "When does the canteen open?"}
    assert assistant == {"role": "assistant", "content": "It opens at 07:15 [1]."}, "[3] is the row's [1]"
    [pair] = read_dataset(datasets / "feedback-dpo.jsonl", "dpo")
    assert pair["prompt"][0] == system and pair["prompt"][1]["content"] == "Until when is breakfast served?"
    assert pair["chosen"] == [{"role": "assistant", "content": "Breakfast is served until 10:00 [1]."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "Until 11:00 [1]."}]
    summary = json.loads((datasets / "feedback-sft.summary.json").read_text())
    assert summary["rows"] == 1 and summary["kind"] == "sft"

    # Naming the leadership group admits the board's answer, as datagen's --groups does.
    doc = ws.engines.datagen_feedback(who["ada"], FeedbackRequest(groups=["Leadership"]))
    assert doc["sft"]["rows"] + doc["sft"]["validation_rows"] == 2 and doc["groups"] == ["leadership"]
    assert {s["reason"] for s in doc["skipped"]} == {NO_CORRECTION}


def test_a_rating_whose_source_was_removed_since_is_skipped_and_counted(ws: Services, tmp_path: Path) -> None:
    who = people(ws)
    gone = tmp_path / "larkspur.md"
    gone.write_text(f"# Larkspur\n\n{GONE}\n")
    ws.components.index([gone])
    rated(ws, "sam", "What happened to Larkspur?", "It closed [1].", sources_of(ws.components, "larkspur.md"), 1)
    rated(ws, "sam", "When does the canteen open?", "At 07:15 [1].", sources_of(ws.components, "canteen.md"), 1)
    removed, failed = ws.documents.remove(who["ada"], [str(gone)])
    assert removed and not failed
    doc = ws.engines.datagen_feedback(who["ada"])
    assert doc["rows"] == 1 and doc["skipped"] == [{"reason": DELETED, "count": 1}]
    assert "Larkspur" not in (ws.ctx.paths.datasets / "feedback-sft.jsonl").read_text()


def test_corrections_are_for_evaluators_and_thumbs_down_only(ws: Services) -> None:
    who = people(ws)
    canteen = sources_of(ws.components, "canteen.md")
    up = rated(ws, "sam", "When does the canteen open?", "At 07:15 [1].", canteen, 1)
    down = rated(ws, "sam", "Until when is breakfast?", "Until 11:00 [1].", canteen, -1)
    board = rated(ws, "ada", "What did the board approve?", "Osprey [1].",
                  sources_of(ws.components, "osprey-board.md"), -1)
    with pytest.raises(InputError, match="empty correction is not saved"):
        ws.chat.correct(who["eve"], down, "   ")
    with pytest.raises(HistoryError, match="thumbs up"):
        ws.chat.correct(who["eve"], up, "At 07:15.")
    with pytest.raises(HistoryError, match="as it was given"):
        ws.chat.correct(who["eve"], down, "Until  11:00 [1].")
    with pytest.raises(PermissionDenied, match="evaluator or admin"):
        ws.chat.correct(who["sam"], down, "Until 10:00 [1].")
    with pytest.raises(PermissionDenied):
        ws.chat.feedback_rows(who["sam"])
    with pytest.raises(NotFound, match=f"feedback {board} not found"):  # a leadership document's answer
        ws.chat.correct(who["eve"], board, "Osprey, for 41 million pounds [1].")
    with pytest.raises(NotFound):
        ws.chat.correct(who["eve"], 99999, "text")
    ws.chat.correct(who["lee"], board, "Osprey, for 41 million pounds [1].")
    with pytest.raises(PermissionDenied):
        ws.engines.datagen_feedback(who["eve"])
    assert ws.ctx.history.all_feedback()[0].keys() == {"question", "answer", "rating", "comment", "user", "engine",
                                                        "sources", "created"}, "the Reports export keeps its keys"


def test_no_usable_feedback_writes_nothing_and_removes_older_sets(ws: Services) -> None:
    who = people(ws)
    datasets = ws.ctx.paths.datasets
    datasets.mkdir(parents=True, exist_ok=True)
    for name in ("feedback-sft.jsonl", "feedback-sft.val.jsonl", "feedback-dpo.jsonl"):
        (datasets / name).write_text("{}\n")  # an older run's sets, whose ratings are gone
    rated(ws, "sam", "Is there a canteen?", "No [1].", sources_of(ws.components, "canteen.md"), -1)
    with pytest.raises(DataError, match="no training rows from the chat's feedback") as err:
        ws.engines.datagen_feedback(who["ada"])
    assert NO_CORRECTION in str(err.value)
    assert not any(datasets.glob("feedback-*"))


def test_improve_from_feedback_as_a_background_job(ws: Services, request: pytest.FixtureRequest) -> None:
    if "postgres" in request.node.name:
        pytest.skip("the job path is the same on both databases; once is enough")
    who = people(ws)
    rated(ws, "sam", "When does the canteen open?", "At 07:15 [1].", sources_of(ws.components, "canteen.md"), 1)
    job = ws.engines.submit_datagen_feedback(who["ada"])
    assert (job.kind, job.title) == ("datagen", "Improve from feedback")
    worker = ws.jobs.worker(operator(), WorkerOptions(threads=True))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        done = ws.ctx.jobs.wait(job.id, timeout=120)
    finally:
        worker.stop.set()
        thread.join(30)
    assert done.state == "done", (done.error, done.log[-3:])
    assert done.result["sft"]["rows"] == 1 and done.result["rows"] == 1


def test_cli_datagen_feedback_json(corpus: Components) -> None:
    from assistant.cli.engines import datagen_app
    from assistant.history import History

    settings = corpus.settings
    db = AppDB(settings.database_address())
    try:
        history = History(db)
        conv = history.new_conversation("sam", "q")
        history.add_message("sam", conv, "user", "When does the canteen open?")
        message = history.add_message("sam", conv, "assistant", "At 07:15 [1].",
                                      sources=sources_of(corpus, "canteen.md"))
        history.feedback("sam", message, 1)
    finally:
        db.close()
    res = CliRunner().invoke(datagen_app, ["feedback", "--json", "--home", str(settings.paths.home)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rows"] == 1 and doc["sft"]["out"].endswith("feedback-sft.jsonl") and doc["dpo"]["rows"] == 0
    assert {"rows", "skipped", "sft", "dpo"} <= doc.keys()


def test_renumbering_and_rows_without_sources() -> None:
    assert renumber("A [2], B [2, 5] and C [7].", {2: 1, 5: 2}) == "A [1], B [1, 2] and C [7]."
    rows = [{"id": 1, "message_id": 5, "question": "Hello?", "answer": "Hi.", "rating": 1, "sources": []},
            {"id": 2, "message_id": 6, "question": "Q?", "answer": "A.", "rating": -1, "correction": " ",
             "sources": []}]
    sft, dpo = build_feedback(rows, lambda source: [], [])
    assert sft.examples[0].data["messages"][0]["content"] == "You are the company's assistant. Answer briefly and " \
        "factually.", "no sources: the plain system prompt, as the chat without RAG"
    assert not dpo.examples and dpo.skipped == {NO_CORRECTION: 1}
