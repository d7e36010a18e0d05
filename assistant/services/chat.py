"""Chat: answering with citations, in a stored conversation (web) or statelessly (API, CLI), prompt flows,
conversations and feedback. Staff chat with the base model and promoted engine versions only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assistant.accounts import User
from assistant.chat import Answer
from assistant.errors import InputError, NotFound
from assistant.llm.base import Message
from assistant.promotion import promoted_refs
from assistant.services.base import ServiceContext, require, viewer_of
from assistant.work import Work


@dataclass
class TurnDone:
    """The last item of a streamed, stored chat turn: the answer, as kept in the user's history."""

    answer: Answer
    conversation_id: int
    message_id: int


@dataclass
class ChatRequest:
    """One question and how to answer it. `where` filters the documents; the user's groups always apply."""

    question: str
    engine: str = "base"
    use_rag: bool = True
    top_k: int | None = None
    where: dict[str, Any] | None = None


class ChatService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- engines this user may chat with ---------------------------------------------------------------
    def engine_names(self, user: User) -> list[str]:
        """What staff may chat with: the base model and each promoted engine version."""
        require(user, "chat")
        return ["base", *promoted_refs(self.ctx.components.engines.registry).values()]

    def check_engine(self, user: User, engine: str | None) -> str:
        """The engine reference this user may use; the operator may use any registered version."""
        require(user, "chat")
        name = (engine or "base").strip()
        if user.can("unrestricted"):
            self.ctx.components.engine(name)  # an unknown engine fails here, before any work
            return name
        promoted = promoted_refs(self.ctx.components.engines.registry)
        if name == "base" or name in promoted.values():
            return name
        if name in promoted:  # a bare NAME means its promoted version, not its newest
            return promoted[name]
        names = ", ".join(["base", *promoted.values()])
        raise NotFound(f"no engine named {name!r} that you may use (available: {names})")

    def count_tokens(self, user: User, engine: str | None, texts: list[str]) -> int:
        """Tokens in these texts by the engine's tokenizer (the API's usage counts)."""
        backend = self.ctx.components.engine(self.check_engine(user, engine))
        return sum(backend.count_tokens(t) for t in texts)

    # -- answering ---------------------------------------------------------------------------------------
    def answer(self, user: User, questions: list[str], request: ChatRequest, work: Work | None = None,
               ) -> list[Answer]:
        """Answer each question on its own (no conversation); request.question is ignored."""
        engine = self.check_engine(user, request.engine)
        return self.ctx.components.ask(questions, engine, request.use_rag, request.top_k, _clean(request.where),
                                       viewer_of(user), work)

    def stream(self, user: User, request: ChatRequest, history: list[Message]) -> Iterator[str | Answer]:
        """A stateless turn: the caller keeps the conversation (the API's client, the terminal chat)."""
        engine = self.check_engine(user, request.engine)
        return self.ctx.components.chat(request.question, history, engine, request.use_rag, request.top_k,
                                        _clean(request.where), viewer_of(user))

    def stream_messages(self, user: User, messages: list[dict[str, Any]], request: ChatRequest,
                        ) -> Iterator[str | Answer]:
        """A stateless turn from an OpenAI-style message list: the last message is the question."""
        turns = [m for m in messages if m.get("role") in ("user", "assistant")]
        if not turns or turns[-1]["role"] != "user":
            raise InputError("the last message must come from the user")
        question = str(turns[-1].get("content") or "")
        past = [{"role": m["role"], "content": str(m.get("content") or "")} for m in turns[:-1]]
        return self.stream(user, ChatRequest(question, request.engine, request.use_rag, request.top_k,
                                             request.where), past)

    def turn(self, user: User, request: ChatRequest, conversation_id: int | None = None,
             ) -> Iterator[str | TurnDone]:
        """One turn of a stored conversation, streamed as text pieces and then a TurnDone."""
        require(user, "chat")
        history = self.ctx.history
        earlier = history.messages(user.name, conversation_id) if conversation_id else []
        past = [{"role": m["role"], "content": m["content"]} for m in earlier]
        # Validates the question, the engine and the filter before anything is stored.
        stream = self.stream(user, request, past)
        engine = self.check_engine(user, request.engine)
        if conversation_id is None:
            conversation_id = history.new_conversation(user.name, request.question)
        history.add_message(user.name, conversation_id, "user", request.question)
        return self._stored(user, conversation_id, engine, stream)

    def _stored(self, user: User, conversation_id: int, engine: str, stream: Iterator[Any]) -> Iterator[Any]:
        for piece in stream:
            if isinstance(piece, Answer):
                message_id = self.ctx.history.add_message(
                    user.name, conversation_id, "assistant", piece.answer, sources=piece.sources_json(),
                    engine=engine)
                yield TurnDone(piece, conversation_id, message_id)
            else:
                yield piece

    # -- prompt flows ------------------------------------------------------------------------------------
    def flows(self, user: User) -> list[dict[str, Any]]:
        require(user, "chat")
        return [f.summary() for f in self.ctx.components.flows.values()]

    def run_flow(self, user: User, name: str, text: str, params: dict[str, str] | None = None,
                 engine: str = "base") -> Any:
        return self.ctx.components.run_flow(name, text, params, self.check_engine(user, engine), viewer_of(user))

    # -- conversations and feedback ------------------------------------------------------------------------
    def conversations(self, user: User) -> list[dict[str, Any]]:
        return self.ctx.history.conversations(require(user, "chat").name)

    def messages(self, user: User, conversation_id: int) -> list[dict[str, Any]]:
        return self.ctx.history.messages(require(user, "chat").name, conversation_id)

    def delete_conversation(self, user: User, conversation_id: int) -> None:
        self.ctx.history.delete_conversation(require(user, "chat").name, conversation_id)

    def feedback(self, user: User, message_id: int, rating: int, comment: str = "") -> None:
        self.ctx.history.feedback(require(user, "chat").name, message_id, rating, comment)


def _clean(where: dict[str, Any] | None) -> dict[str, Any] | None:
    """A form's empty fields are no filter."""
    return {k: v for k, v in (where or {}).items() if v not in (None, "", [])} or None
