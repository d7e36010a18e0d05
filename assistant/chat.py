"""The grounded chat pipeline: standalone query → retrieval → evidence gate → prompt → answer with citations.

Every front end (CLI, web UI, HTTP API) goes through `ChatPipeline`, so a question gets the same
retrieval, the same refusal rules and the same prompt budget wherever it is asked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.config import ChatSettings
from assistant.llm.base import GenerationBackend, GenerationOptions, Message
from indexing.retrieval import RetrievedChunk

if TYPE_CHECKING:
    from assistant.answerability import AnswerabilityCheck

log = logging.getLogger(__name__)

NOT_FOUND = "The documents do not contain this information."
SYSTEM_PROMPT = (
    "You are the company's assistant. Answer the question using only the numbered sources. "
    "Cite the sources you use like [1]. Be brief and factual. If the sources do not contain the "
    f"answer, reply exactly: {NOT_FOUND}"
)
NO_RAG_SYSTEM_PROMPT = "You are the company's assistant. Answer briefly and factually."
REWRITE_PROMPT = (
    "Rewrite the last question so that it can be understood without the conversation. "
    "Reply with the rewritten question only."
)
# A client's own system message (Open WebUI's, an agent's) rides under this heading after our rules: it
# shapes the answer, it never replaces the grounding rules.
CLIENT_HEADING = "Instructions from the client application (the rules above still apply):"
_CITATION = re.compile(r"\[(\d{1,2})\]")
_DECLINE = re.compile(
    r"(do(es)? not contain|not (mentioned|stated|provided|available|included) in the (sources|documents)|"
    r"(sources|documents) do(es)? not (say|mention|state|provide))",
    re.I,
)
_FOLLOW_UP = re.compile(
    r"^(and|but|also|so|what about|how about)\b|\b(it|its|they|them|their|that|this|those|these|he|she|him|her)\b",
    re.I,
)

Retrieve = Callable[[str], list[RetrievedChunk]]


@dataclass
class Answer:
    question: str
    answer: str
    engine: str
    found: bool
    sources: list[RetrievedChunk] = field(default_factory=list)
    query: str = ""  # what was searched: the question, or its standalone rewrite
    # The number each source had in the prompt, which is the number the answer cites it by: an answer
    # citing only [3] shows one source, numbered 3. Empty means 1, 2, 3, ...
    numbers: list[int] = field(default_factory=list)
    # The messages really sent to the engine (our system prompt, sources, history, question); empty when
    # the evidence gate declined before generation. "length" when the answer was cut by the token limit.
    prompt: list[Message] = field(default_factory=list)
    finish_reason: str = "stop"

    def cited(self) -> list[tuple[int, RetrievedChunk]]:
        return list(zip(self.numbers or range(1, len(self.sources) + 1), self.sources, strict=True))

    def sources_json(self) -> list[dict[str, Any]]:
        return [{"n": n, **s.to_json()} for n, s in self.cited()]

    def to_json(self, with_question: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"question": self.question} if with_question else {}
        out.update(answer=self.answer, engine=self.engine, found=self.found, sources=self.sources_json())
        return out


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 4


def standalone_query(
    question: str, history: list[Message], llm: GenerationBackend | None = None, use_llm: bool = False
) -> str:
    """The question as a search query that stands on its own.

    A follow-up ("and in 2023?", "who signed it?") is rewritten with the conversation: by the engine
    when `use_llm` (worth it with a capable model), otherwise by joining it to the previous question,
    which keeps the topic words a small model would drop.
    """
    previous = [m["content"] for m in history if m["role"] == "user"]
    if not previous or not is_follow_up(question):
        return question
    if use_llm and llm is not None:
        convo = "\n".join(f"{m['role']}: {m['content']}" for m in history[-4:])
        rewritten = llm.generate(
            [{"role": "system", "content": REWRITE_PROMPT},
             {"role": "user", "content": f"{convo}\nuser: {question}"}],
            max_new_tokens=64,
        ).strip().splitlines()
        if rewritten and 3 <= len(rewritten[0]) <= 400:
            return rewritten[0]
    return f"{previous[-1]} {question}"


def relevance(chunks: list[RetrievedChunk]) -> float:
    """The evidence that retrieval found the topic: the best dense similarity among the chunks.

    Keyword-only hits carry no dense signal; a chunk matched by words alone counts as weak evidence.
    """
    return max((c.signals.get("dense", 0.0) for c in chunks), default=0.0)


def source_label(chunk: RetrievedChunk) -> str:
    label = chunk.metadata.get("title") or chunk.metadata.get("file_name") or chunk.source
    date = chunk.metadata.get("date")
    page = f", page {chunk.page}" if chunk.page else ""
    return f"{label}{', ' + str(date) if date else ''}{page}"


def with_instruction(system: str, instruction: str | None) -> str:
    """Our system prompt with the client's instruction appended under its heading (never instead of it)."""
    return f"{system}\n\n{CLIENT_HEADING}\n{instruction.strip()}" if instruction and instruction.strip() else system


def build_messages(
    question: str,
    chunks: list[RetrievedChunk],
    history: list[Message],
    llm: GenerationBackend,
    max_new_tokens: int,
    history_share: float = 0.25,
    instruction: str | None = None,
) -> tuple[list[Message], list[RetrievedChunk]]:
    """Sources numbered in the system turn, recent history, then the question; all within the context.

    The budget is counted in the engine's own tokens. History gets at most `history_share` of what
    is left after the question; sources fill the rest, lowest-ranked dropped first.
    """
    fixed = SYSTEM_PROMPT + question + with_instruction("", instruction)
    budget = llm.context_window - max_new_tokens - llm.count_tokens(fixed) - 64
    if budget <= 0:
        from assistant.llm.base import PromptTooLong

        raise PromptTooLong(f"the question leaves no room for an answer in the {llm.context_window}-token context")
    kept_history: list[Message] = []
    history_budget = int(budget * history_share)
    for message in reversed(history):
        cost = llm.count_tokens(message["content"]) + 8
        if cost > history_budget:
            break
        history_budget -= cost
        budget -= cost
        kept_history.insert(0, message)
    used: list[RetrievedChunk] = []
    blocks: list[str] = []
    for chunk in chunks:
        block = f"[{len(used) + 1}] ({source_label(chunk)})\n{chunk.text}"
        cost = llm.count_tokens(block) + 4
        if cost > budget:
            break
        budget -= cost
        blocks.append(block)
        used.append(chunk)
    # Sources in the system turn and the bare question as the user turn: small models then answer
    # the question instead of commenting on the sources.
    system = with_instruction(SYSTEM_PROMPT + "\n\nSources:\n\n" + "\n\n".join(blocks), instruction)
    return [{"role": "system", "content": system}, *kept_history, {"role": "user", "content": question}], used


def cited_numbers(answer: str, used: list[RetrievedChunk]) -> list[int]:
    """The prompt numbers of the sources the answer cites; all of them when it cites none."""
    numbers = sorted({int(n) for n in _CITATION.findall(answer) if 1 <= int(n) <= len(used)})
    return numbers or list(range(1, len(used) + 1))



def declines(answer: str) -> bool:
    return not answer.strip() or bool(_DECLINE.search(answer))


class ChatPipeline:
    def __init__(
        self, settings: ChatSettings, max_new_tokens: int, answerability: AnswerabilityCheck | None = None
    ) -> None:
        self.settings = settings
        self.max_new_tokens = max_new_tokens
        # Judges, before generation, whether the passages hold the answer (assistant/answerability.py);
        # None = the relevance threshold and the engine's own refusals only.
        self.answerability = answerability

    def evidence_suffices(self, query: str, chunks: list[RetrievedChunk]) -> bool:
        """The gate: is there evidence enough to let the engine answer from these passages?

        First the topic (the best dense similarity), then, when configured, whether the passages
        hold the question's specific content: a passage on the right topic often lacks the answer.
        The standalone query is judged, so a follow-up is judged with the conversation's terms.
        """
        if not chunks or relevance(chunks) < self.settings.min_relevance:
            return False
        if self.answerability is None:
            return True
        verdict = self.answerability.judge(query, chunks)
        if not verdict.answerable:
            log.debug("declined before generation: %s", verdict.reason)
        return verdict.answerable

    def limit(self, options: GenerationOptions | None) -> int:
        """The request's token limit, never above the settings' (llm.max_new_tokens)."""
        asked = options.max_new_tokens if options else None
        return min(asked, self.max_new_tokens) if asked else self.max_new_tokens

    def prepare(
        self, question: str, retrieve: Retrieve | None, llm: GenerationBackend, history: list[Message],
        instruction: str | None = None, max_new_tokens: int | None = None,
    ) -> tuple[str, list[Message] | None, list[RetrievedChunk]]:
        """(search query, prompt messages or None when the evidence is too weak to answer, sources in the prompt)."""
        if retrieve is None:
            system = with_instruction(NO_RAG_SYSTEM_PROMPT, instruction)
            messages = [{"role": "system", "content": system}, *history,
                        {"role": "user", "content": question}]
            return question, messages, []
        query = standalone_query(question, history, llm, self.settings.rewrite_with_llm)
        chunks = retrieve(query)
        if not self.evidence_suffices(query, chunks):
            # Declined before generation: no sources are shown, as none holds the answer.
            return query, None, []
        messages, used = build_messages(question, chunks, history, llm, max_new_tokens or self.max_new_tokens,
                                        instruction=instruction)
        return query, messages, used

    def finish(self, question: str, query: str, text: str, engine: str, used: list[RetrievedChunk],
               rag: bool) -> Answer:
        if not rag:
            return Answer(question, text, engine, found=True, query=query)
        if declines(text):
            return Answer(question, NOT_FOUND if not text.strip() else text, engine, found=False, query=query)
        numbers = cited_numbers(text, used)
        return Answer(question, text, engine, found=True, sources=[used[n - 1] for n in numbers], query=query,
                      numbers=numbers)

    def answer(
        self, question: str, retrieve: Retrieve | None, llm: GenerationBackend, engine: str,
        history: list[Message] | None = None, options: GenerationOptions | None = None,
        instruction: str | None = None,
    ) -> Answer:
        """`retrieve=None` answers without retrieval (the engine alone). `options`: this request's sampling
        (its token limit capped by the settings'); `instruction`: the client's own system message."""
        limit = self.limit(options)
        query, messages, used = self.prepare(question, retrieve, llm, history or [], instruction, limit)
        if messages is None:
            return Answer(question, NOT_FOUND, engine, found=False, query=query)
        text = llm.generate(messages, limit, **_options(options, limit))
        return self._done(question, query, text, engine, used, retrieve is not None, messages, llm, limit)

    def stream(
        self, question: str, retrieve: Retrieve | None, llm: GenerationBackend, engine: str,
        history: list[Message] | None = None, options: GenerationOptions | None = None,
        instruction: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they are generated, then the finished `Answer`."""
        limit = self.limit(options)
        query, messages, used = self.prepare(question, retrieve, llm, history or [], instruction, limit)
        if messages is None:
            yield NOT_FOUND
            yield Answer(question, NOT_FOUND, engine, found=False, query=query)
            return
        pieces = []
        for piece in llm.stream(messages, limit, **_options(options, limit)):
            pieces.append(piece)
            yield piece
        yield self._done(question, query, "".join(pieces), engine, used, retrieve is not None, messages, llm, limit)

    def _done(self, question: str, query: str, text: str, engine: str, used: list[RetrievedChunk], rag: bool,
              messages: list[Message], llm: GenerationBackend, limit: int) -> Answer:
        answer = self.finish(question, query, text, engine, used, rag)
        answer.prompt = messages
        # Cut by the limit: the engine's own tokenizer counts as many tokens as it was allowed.
        answer.finish_reason = "length" if text.strip() and llm.count_tokens(text) >= limit else "stop"
        return answer


def _options(options: GenerationOptions | None, limit: int) -> dict[str, Any]:
    """The `options` keyword for a backend's generate/stream (absent when the request set none)."""
    if options is None:
        return {}
    return {"options": GenerationOptions(limit, options.temperature, options.top_p, options.stop, options.seed)}
