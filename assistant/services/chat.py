"""Chat: answering with citations, in a stored conversation (web) or statelessly (API, CLI), prompt flows,
conversations and feedback. Staff chat with the base model and promoted engine versions only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assistant.accounts import User
from assistant.chat import Answer
from assistant.errors import InputError, NotFound
from assistant.llm.base import GenerationOptions, Message
from assistant.promotion import promoted_refs
from assistant.services.base import ServiceContext, may_see, require, viewer_of
from assistant.work import Work

# A request that only asks for a title, a summary or tags of the conversation (Open WebUI's background
# "### Task:" prompts, LibreChat's title request): answered by the engine alone, without retrieval.
_META_TASK = re.compile(
    r"^\s*#{1,3}\s*task\s*:|\b(generate|create|write|suggest|give|provide)\b[^\n]{0,80}?"
    r"\b(title|summary|summari[sz]e|tags)\b[^\n]{0,80}?\b(conversation|chat|discussion|exchange)\b",
    re.I,
)


def is_meta_task(messages: list[dict[str, Any]]) -> bool:
    """A client's system message or last user message asking for a title/summary/tags of the chat."""
    users = [m for m in messages if m.get("role") == "user"]
    asked = [m for m in messages if m.get("role") == "system"] + users[-1:]
    return any(_META_TASK.search(str(m.get("content") or "")) for m in asked)


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
    options: GenerationOptions | None = None  # this request's sampling (an API client's max_tokens, stop, ...)
    instruction: str | None = None  # the client's system message, added beside ours


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
                                       viewer_of(user), work, request.options, request.instruction)

    def stream(self, user: User, request: ChatRequest, history: list[Message]) -> Iterator[str | Answer]:
        """A stateless turn: the caller keeps the conversation (the API's client, the terminal chat)."""
        engine = self.check_engine(user, request.engine)
        return self.ctx.components.chat(request.question, history, engine, request.use_rag, request.top_k,
                                        _clean(request.where), viewer_of(user), request.options,
                                        request.instruction)

    def stream_messages(self, user: User, messages: list[dict[str, Any]], request: ChatRequest,
                        ) -> Iterator[str | Answer]:
        """A stateless turn from an OpenAI-style message list: the last message is the question, the
        client's system (or developer) messages its instruction, beside our prompt. A request that only asks
        for a title, summary or tags of the conversation (`is_meta_task`) skips retrieval."""
        turns = [m for m in messages if m.get("role") in ("user", "assistant")]
        if not turns or turns[-1]["role"] != "user":
            raise InputError("the last message must come from the user")
        question = str(turns[-1].get("content") or "")
        past = [{"role": m["role"], "content": str(m.get("content") or "")} for m in turns[:-1]]
        system = [str(m.get("content") or "") for m in messages if m.get("role") in ("system", "developer")]
        instruction = "\n\n".join(t for t in [request.instruction or "", *system] if t.strip()) or None
        use_rag = request.use_rag and not is_meta_task(messages)
        return self.stream(user, ChatRequest(question, request.engine, use_rag, request.top_k, request.where,
                                             request.options, instruction), past)

    def embed(self, user: User, texts: list[str]) -> tuple[str, list[list[float]]]:
        """(embedder name, one vector per text) by the configured embedder, the one the index uses."""
        require(user, "chat")
        if not texts or any(not isinstance(t, str) or not t for t in texts):
            raise InputError("input must be a non-empty string or a list of non-empty strings")
        model = self.ctx.components.indexer.embed_model
        return self.ctx.settings.indexing.embedder, [list(v) for v in model.get_text_embedding_batch(texts)]

    def readiness(self) -> dict[str, str]:
        """Each dependency a chat needs -> "ok" or why not: the base engine, the embedder, the vector store."""
        components = self.ctx.components
        checks = {"llm": lambda: components.engine("base").context_window,
                  "embedder": lambda: components.indexer.embed_model,
                  "vector_store": lambda: components.indexer.collection.count()}
        out = {}
        for name, check in checks.items():
            try:
                check()
                out[name] = "ok"
            except Exception as err:  # readiness reports, it does not raise
                out[name] = f"{type(err).__name__}: {err}"[:300]
        return out

    def load(self) -> dict[str, int] | None:
        """The local model's rows generating and requests waiting; None when no local model is loaded."""
        return self.ctx.components.engines.load()

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

    # -- learning from users: evaluators correct thumbs-down answers ---------------------------------------
    def feedback_rows(self, user: User) -> list[dict[str, Any]]:
        """Every rating (evaluators and admins), oldest first: id, message_id, question, answer, rating,
        comment, user, engine, sources, created, correction, corrected_by. A rating whose answer cites a
        document this user may not read is left out, as retrieval would leave it out for them."""
        require(user, "reports")
        return [r for r in self.ctx.history.feedback_rows() if self._may_read(user, r)]

    def correct(self, user: User, feedback_id: int, text: str) -> dict[str, Any]:
        """Keep the corrected answer for a thumbs-down rating (evaluators and admins; audited); the row.
        "Improve from feedback" then prefers it over the answer that was given (a DPO pair)."""
        require(user, "reports")
        if not str(text or "").strip():
            raise InputError("write the corrected answer first: an empty correction is not saved")
        rows = self.ctx.history.feedback_rows(int(feedback_id))
        if not rows or not self._may_read(user, rows[0]):
            raise NotFound(f"feedback {feedback_id} not found")
        row = self.ctx.history.correct(int(feedback_id), text, user.name)
        self.ctx.audit(user, "correct feedback", f"feedback {feedback_id} (message {row['message_id']}, "
                                                 f"rated by {row['user']})")
        return row

    def _may_read(self, user: User, row: dict[str, Any]) -> bool:
        return all(may_see(user, s.get("metadata") or {}) for s in row.get("sources") or [] if isinstance(s, dict))


def _clean(where: dict[str, Any] | None) -> dict[str, Any] | None:
    """A form's empty fields are no filter."""
    return {k: v for k, v in (where or {}).items() if v not in (None, "", [])} or None
