"""Chat history: per-user isolation, ordering, deletion, and the feedback evaluators export."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.appdb import AppDB
from assistant.history import History, HistoryError
from tests.postgres import DATABASES, database_url, postgres_server  # noqa: F401

SOURCES = [{"source": "/docs/annual.pdf", "page": 3, "score": 0.8}]


@pytest.fixture(params=DATABASES)
def history(request: pytest.FixtureRequest, tmp_path: Path):
    """Each test runs on SQLite and on a PostgreSQL server (tests/postgres.py)."""
    db = AppDB(database_url(request, tmp_path))
    yield History(db)
    db.close()


def chat(history: History, user: str, question: str, answer: str, conv: int | None = None) -> tuple[int, int]:
    conv = conv or history.new_conversation(user, question)
    history.add_message(user, conv, "user", question)
    return conv, history.add_message(user, conv, "assistant", answer, SOURCES, "base")


def test_messages_round_trip(history: History) -> None:
    conv, answer_id = chat(history, "alice", "What was revenue?", "£12m [1]")
    msgs = history.messages("alice", conv)
    assert [(m["role"], m["content"]) for m in msgs] == [("user", "What was revenue?"), ("assistant", "£12m [1]")]
    assert msgs[0]["sources"] is None and msgs[0]["engine"] is None
    assert msgs[1] == {**msgs[1], "id": answer_id, "sources": SOURCES, "engine": "base"}
    assert all(m["created"] for m in msgs)
    with pytest.raises(HistoryError, match="role"):
        history.add_message("alice", conv, "robot", "hi")


def test_titles_are_cut_and_conversations_listed_newest_first(history: History) -> None:
    first = history.new_conversation("alice", "x" * 200)
    second = history.new_conversation("alice", "  second\n  question ")
    empty = history.new_conversation("alice", "")
    assert [c["id"] for c in history.conversations("alice")] == [empty, second, first]
    titles = {c["id"]: c["title"] for c in history.conversations("alice")}
    assert titles[first] == "x" * 80 and titles[second] == "second question" and titles[empty]
    history.add_message("alice", first, "user", "back to the first one")
    assert history.conversations("alice")[0]["id"] == first, "a new message moves it to the top"


def test_users_see_only_their_own_conversations(history: History) -> None:
    conv, answer_id = chat(history, "alice", "secret bid price?", "£1.2m")
    assert history.conversations("bob") == []
    not_found = f"conversation {conv} not found"
    with pytest.raises(HistoryError, match=not_found):
        history.messages("bob", conv)
    with pytest.raises(HistoryError, match=not_found):
        history.add_message("bob", conv, "user", "let me in")
    with pytest.raises(HistoryError, match=not_found):
        history.delete_conversation("bob", conv)
    with pytest.raises(HistoryError, match=f"message {answer_id} not found"):
        history.feedback("bob", answer_id, 1)
    # Someone else's conversation reads exactly like one that does not exist.
    with pytest.raises(HistoryError, match="conversation 999 not found"):
        history.messages("bob", 999)
    assert len(history.messages("alice", conv)) == 2


def test_delete_conversation(history: History) -> None:
    keep, _ = chat(history, "alice", "keep me", "kept")
    gone, answer_id = chat(history, "alice", "delete me", "deleted")
    history.feedback("alice", answer_id, -1, "wrong")
    history.delete_conversation("alice", gone)
    assert [c["id"] for c in history.conversations("alice")] == [keep]
    with pytest.raises(HistoryError):
        history.messages("alice", gone)
    assert history.all_feedback() == [], "its feedback went with it"
    with pytest.raises(HistoryError):
        history.delete_conversation("alice", gone)


def test_feedback_export(history: History) -> None:
    conv, first_answer = chat(history, "alice", "What was revenue?", "£12m")
    _, second_answer = chat(history, "alice", "And profit?", "£2m", conv)
    _, bobs_answer = chat(history, "bob", "Who won the bid?", "We did")
    user_message = history.messages("alice", conv)[0]["id"]

    history.feedback("alice", second_answer, 1)
    history.feedback("alice", second_answer, -1, "it was £3m")  # changed their mind: one row, updated
    history.feedback("bob", bobs_answer, 1, "spot on")
    with pytest.raises(HistoryError, match="only the assistant"):
        history.feedback("alice", user_message, 1)
    for bad in (0, 2, True):
        with pytest.raises(HistoryError, match="rating"):
            history.feedback("alice", first_answer, bad)

    rows = history.all_feedback()
    assert [(r["user"], r["question"], r["answer"], r["rating"], r["comment"]) for r in rows] == [
        ("alice", "And profit?", "£2m", -1, "it was £3m"),
        ("bob", "Who won the bid?", "We did", 1, "spot on"),
    ]
    assert rows[0]["engine"] == "base" and rows[0]["sources"] == SOURCES and rows[0]["created"]
    assert set(rows[0]) == {"question", "answer", "rating", "comment", "user", "engine", "sources", "created"}
