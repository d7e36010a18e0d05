"""A grounded answer: retrieved chunks numbered in the prompt, the engine's answer, the sources cited.

This is the first, plain pipeline (one dense retrieval, one generation); hybrid retrieval, the
answerability check and conversation history build on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from indexing.retrieval import RetrievedChunk

NOT_FOUND = "The documents do not contain this information."
SYSTEM_PROMPT = (
    "You are the company's assistant. Answer the question using only the numbered sources. "
    "Cite the sources you use like [1]. Be brief and factual. If the sources do not contain the "
    f"answer, reply exactly: {NOT_FOUND}"
)
NO_RAG_SYSTEM_PROMPT = "You are the company's assistant. Answer briefly and factually."
_CITATION = re.compile(r"\[(\d{1,2})\]")
_DECLINE = re.compile(
    r"(do(es)? not contain|not (mentioned|stated|provided|available) in the (sources|documents))", re.I
)


class Generator(Protocol):
    def generate(self, messages: list[dict[str, str]], max_new_tokens: int | None = None) -> str: ...
    def count_tokens(self, text: str) -> int: ...

    @property
    def context_window(self) -> int: ...


@dataclass
class Answer:
    question: str
    answer: str
    engine: str
    found: bool
    sources: list[RetrievedChunk] = field(default_factory=list)

    def to_json(self, with_question: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"question": self.question} if with_question else {}
        out.update(answer=self.answer, engine=self.engine, found=self.found,
                   sources=[s.to_json() for s in self.sources])
        return out


def build_messages(question: str, chunks: list[RetrievedChunk], llm: Generator, reserve: int) -> tuple[
    list[dict[str, str]], list[RetrievedChunk]
]:
    """Number the chunks into the prompt, dropping the lowest-ranked ones that do not fit the context."""
    budget = llm.context_window - reserve - llm.count_tokens(SYSTEM_PROMPT + question) - 32
    used: list[RetrievedChunk] = []
    blocks: list[str] = []
    for chunk in chunks:
        label = chunk.metadata.get("title") or chunk.metadata.get("file_name") or chunk.source
        page = f", page {chunk.page}" if chunk.page else ""
        block = f"[{len(used) + 1}] ({label}{page})\n{chunk.text}"
        cost = llm.count_tokens(block)
        if cost > budget:
            break
        budget -= cost
        blocks.append(block)
        used.append(chunk)
    # Sources in the system turn and the bare question as the user turn: small models then answer
    # the question instead of commenting on the sources.
    system = SYSTEM_PROMPT + "\n\nSources:\n\n" + "\n\n".join(blocks)
    return [{"role": "system", "content": system}, {"role": "user", "content": question}], used


def cited_sources(answer: str, used: list[RetrievedChunk]) -> list[RetrievedChunk]:
    numbers = sorted({int(n) for n in _CITATION.findall(answer) if 1 <= int(n) <= len(used)})
    return [used[n - 1] for n in numbers] or used


def answer_question(
    question: str, chunks: list[RetrievedChunk] | None, llm: Generator, engine: str, max_new_tokens: int
) -> Answer:
    """`chunks=None` answers without retrieval (the engine alone)."""
    if chunks is None:
        messages = [{"role": "system", "content": NO_RAG_SYSTEM_PROMPT}, {"role": "user", "content": question}]
        text = llm.generate(messages, max_new_tokens)
        return Answer(question, text, engine, found=True)
    if not chunks:
        return Answer(question, NOT_FOUND, engine, found=False)
    messages, used = build_messages(question, chunks, llm, reserve=max_new_tokens)
    text = llm.generate(messages, max_new_tokens)
    found = not _DECLINE.search(text)
    return Answer(question, text, engine, found=found, sources=cited_sources(text, used) if found else [])
