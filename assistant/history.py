"""Chat conversations per user, the thumbs up/down feedback evaluators export, and their corrections.

Every read and write names the user, and a conversation that is not theirs is reported exactly
like one that does not exist, so ids never reveal other people's chats.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from assistant.appdb import AppDB, conversations, feedback, messages, now_iso
from assistant.errors import InputError

TITLE_CHARS = 80
MESSAGE_ROLES = ("user", "assistant", "system")
MAX_CORRECTION = 20_000
# What `all_feedback` gives (the Reports tab's export reads these).
_EXPORT_KEYS = ("question", "answer", "rating", "comment", "user", "engine", "sources", "created")


class HistoryError(InputError):
    """A message for the user: unknown conversation or message, bad rating…"""


class History:
    def __init__(self, db: AppDB) -> None:
        self.db = db

    def new_conversation(self, user: str, title: str) -> int:
        title = " ".join(str(title or "").split())[:TITLE_CHARS] or "New conversation"
        now = now_iso()
        with self.db.engine.begin() as conn:
            res = conn.execute(insert(conversations).values(user=user, title=title, created=now, updated=now))
            return int(res.inserted_primary_key[0])

    def conversations(self, user: str) -> list[dict[str, Any]]:
        q = (select(conversations.c.id, conversations.c.title, conversations.c.updated)
             .where(conversations.c.user == user)
             .order_by(conversations.c.updated.desc(), conversations.c.id.desc()))
        with self.db.engine.connect() as conn:
            return [{"id": r.id, "title": r.title, "updated": r.updated} for r in conn.execute(q)]

    def messages(self, user: str, conversation_id: int) -> list[dict[str, Any]]:
        self._check_owner(user, conversation_id)
        q = select(messages).where(messages.c.conversation_id == conversation_id).order_by(messages.c.id)
        with self.db.engine.connect() as conn:
            return [
                {"id": r.id, "role": r.role, "content": r.content, "sources": r.sources, "engine": r.engine,
                 "created": r.created}
                for r in conn.execute(q)
            ]

    def add_message(
        self,
        user: str,
        conversation_id: int,
        role: str,
        content: str,
        sources: list[dict] | None = None,
        engine: str | None = None,
    ) -> int:
        if role not in MESSAGE_ROLES:
            raise HistoryError(f"unknown message role {role!r}; one of {', '.join(MESSAGE_ROLES)}")
        self._check_owner(user, conversation_id)
        now = now_iso()
        with self.db.engine.begin() as conn:
            res = conn.execute(insert(messages).values(conversation_id=conversation_id, role=role,
                                                       content=str(content), sources=sources, engine=engine,
                                                       created=now))
            conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(updated=now))
            return int(res.inserted_primary_key[0])

    def rename_conversation(self, user: str, conversation_id: int, title: str) -> None:
        title = " ".join(str(title or "").split())[:TITLE_CHARS] or "New conversation"
        with self.db.engine.begin() as conn:
            n = conn.execute(update(conversations)
                             .where(conversations.c.id == conversation_id, conversations.c.user == user)
                             .values(title=title)).rowcount
        if not n:
            raise HistoryError(f"conversation {conversation_id} not found")

    def delete_conversation(self, user: str, conversation_id: int) -> None:
        self._check_owner(user, conversation_id)
        ids = select(messages.c.id).where(messages.c.conversation_id == conversation_id).scalar_subquery()
        with self.db.engine.begin() as conn:
            conn.execute(delete(feedback).where(feedback.c.message_id.in_(ids)))
            conn.execute(delete(messages).where(messages.c.conversation_id == conversation_id))
            conn.execute(delete(conversations).where(conversations.c.id == conversation_id,
                                                     conversations.c.user == user))

    def feedback(self, user: str, message_id: int, rating: int, comment: str = "") -> None:
        if rating not in (1, -1) or isinstance(rating, bool):
            raise HistoryError("a rating is +1 or -1")
        q = (select(messages.c.role).join(conversations, conversations.c.id == messages.c.conversation_id)
             .where(messages.c.id == message_id, conversations.c.user == user))
        with self.db.engine.connect() as conn:
            role = conn.execute(q).scalar()
        if role is None:
            raise HistoryError(f"message {message_id} not found")
        if role != "assistant":
            raise HistoryError("only the assistant's answers can be rated")
        values = {"rating": rating, "comment": str(comment or "")[:4000], "created": now_iso()}
        where = and_(feedback.c.user == user, feedback.c.message_id == message_id)
        with self.db.engine.begin() as conn:
            if conn.execute(update(feedback).where(where).values(**values)).rowcount:
                return
            try:
                # A savepoint, so a lost race does not abort the whole transaction (PostgreSQL); on SQLite
                # the UPDATE already holds the write lock.
                with conn.begin_nested() if conn.dialect.name != "sqlite" else nullcontext():
                    conn.execute(insert(feedback).values(user=user, message_id=message_id, **values))
            except IntegrityError:  # a double click raced us; the update below is then the upsert
                conn.execute(update(feedback).where(where).values(**values))

    def all_feedback(self) -> list[dict[str, Any]]:
        """Every rating with its question and answer, oldest first: what evaluators turn into test sets."""
        return [{k: r[k] for k in _EXPORT_KEYS} for r in self.feedback_rows()]

    def feedback_rows(self, feedback_id: int | None = None) -> list[dict[str, Any]]:
        """Every rating as the Feedback tab and "Improve from feedback" read it, oldest first: its id, the
        message it rates, question, answer, the answer's sources and engine, rating, comment, who rated it,
        and an evaluator's correction (None when there is none) with who wrote it."""
        asked = messages.alias("asked")
        question = (
            select(asked.c.content)
            .where(asked.c.conversation_id == messages.c.conversation_id, asked.c.id < messages.c.id,
                   asked.c.role == "user")
            .order_by(asked.c.id.desc()).limit(1).scalar_subquery()
        )
        q = (select(feedback.c.id, feedback.c.message_id, question.label("question"),
                    messages.c.content.label("answer"), feedback.c.rating, feedback.c.comment, feedback.c.user,
                    messages.c.engine, messages.c.sources, feedback.c.created, feedback.c.correction,
                    feedback.c.corrected_by)
             .select_from(feedback.join(messages, messages.c.id == feedback.c.message_id))
             .order_by(feedback.c.created, feedback.c.id))
        if feedback_id is not None:
            q = q.where(feedback.c.id == feedback_id)
        with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def feedback_row(self, feedback_id: int) -> dict[str, Any]:
        found = self.feedback_rows(feedback_id)
        if not found:
            raise HistoryError(f"feedback {feedback_id} not found")
        return found[0]

    def correct(self, feedback_id: int, text: str, by: str) -> dict[str, Any]:
        """Keep an evaluator's corrected answer for a thumbs-down rating (replacing an earlier one); the row."""
        text = str(text or "").strip()
        if not text:
            raise HistoryError("write the corrected answer first: an empty correction is not saved")
        if len(text) > MAX_CORRECTION:
            raise HistoryError(f"a correction is at most {MAX_CORRECTION} characters (this one has {len(text)})")
        row = self.feedback_row(feedback_id)
        if row["rating"] != -1:
            raise HistoryError(f"feedback {feedback_id} is a thumbs up: only a thumbs-down answer takes a correction")
        if " ".join(text.split()) == " ".join(str(row["answer"]).split()):
            raise HistoryError("the correction is the answer as it was given: change what was wrong in it")
        with self.db.engine.begin() as conn:
            # Only while it is still a thumbs down: the user may have changed their mind meanwhile.
            n = conn.execute(update(feedback).where(feedback.c.id == feedback_id, feedback.c.rating == -1)
                             .values(correction=text, corrected_by=by)).rowcount
        if not n:
            raise HistoryError(f"feedback {feedback_id} is no longer a thumbs down; reload the list")
        return {**row, "correction": text, "corrected_by": by}

    def _check_owner(self, user: str, conversation_id: int) -> None:
        q = select(conversations.c.id).where(conversations.c.id == conversation_id, conversations.c.user == user)
        with self.db.engine.connect() as conn:
            if conn.execute(q).first() is None:
                raise HistoryError(f"conversation {conversation_id} not found")
