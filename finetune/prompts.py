"""How a training example's prompt looks: the layout the chat pipeline serves, so the engine is trained
on the prompts it will see (sources numbered in the system turn, the bare question as the user turn)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finetune.corpus import Chunk, Section

# The assistant's own prompts are passed in by assistant.training (assistant.chat); these defaults
# are the same text, so the package also works on its own.
NOT_FOUND = "The documents do not contain this information."
RAG_SYSTEM = (
    "You are the company's assistant. Answer the question using only the numbered sources. "
    "Cite the sources you use like [1]. Be brief and factual. If the sources do not contain the "
    f"answer, reply exactly: {NOT_FOUND}"
)
PLAIN_SYSTEM = "You are the company's assistant. Answer briefly and factually."
BID_SYSTEM = (
    "You draft answers to tender questions for our company. Use the numbered passages from our past bids "
    "and documents below where they help. Cite the passage for each claim like [1]."
)
BID_PLAIN_SYSTEM = "You draft answers to tender questions for our company, in our tone of voice."
QUESTION_WRITER_SYSTEM = (
    "You write one question that the passage answers, as a colleague would ask it. Reply with the question only."
)


def source_label(metadata: dict[str, Any]) -> str:
    label = metadata.get("title") or metadata.get("file_name") or metadata.get("source", "")
    date = metadata.get("date")
    page = metadata.get("page")
    return f"{label}{', ' + str(date) if date else ''}{', page ' + str(page) if page else ''}"


@dataclass
class PromptStyle:
    rag_system: str = RAG_SYSTEM
    plain_system: str = PLAIN_SYSTEM
    bid_system: str = BID_SYSTEM
    bid_plain_system: str = BID_PLAIN_SYSTEM

    def system(self, context: list[Chunk] | None, bid: bool = False) -> str:
        """The system turn: with context, the instructions and the numbered sources; without, the plain one."""
        if context is None:
            return self.bid_plain_system if bid else self.plain_system
        blocks = [f"[{n}] ({source_label(c.metadata)})\n{c.text}" for n, c in enumerate(context, 1)]
        header = "\n\nPassages:\n\n" if bid else "\n\nSources:\n\n"
        return (self.bid_system if bid else self.rag_system) + header + "\n\n".join(blocks)


def tender_prompt(question: str) -> str:
    return f"Tender question: {question}\nDraft our answer."


def template_question(section: Section) -> str:
    """A prompt built from the section's own heading and title, when no tender question or engine gives one."""
    doc_type = str(section.metadata.get("doc_type", "")).replace("_", " ") or "document"
    title = section.title
    heading = section.heading
    if heading and title.strip().lower().startswith(heading.strip().lower()):
        heading = None
    if section.kind == "summary":
        return f"Write the summary of our {doc_type} \"{title}\"."
    if doc_type == "kms fact":
        return f"What does our \"{title}\" say about {heading}?" if heading else f"What does our \"{title}\" say?"
    if doc_type in ("case study", "marketing"):
        what = "case study" if doc_type == "case study" else "marketing piece"
        if heading:
            return f"Write the \"{heading}\" part of our {what} \"{title}\"."
        return f"Write our {what} \"{title}\"."
    page = section.chunks[0].metadata.get("page") if section.chunks else None
    where = f" (page {page})" if page else ""
    if heading:
        return f"What does the {doc_type} \"{title}\" say under \"{heading}\"?"
    return f"What does the {doc_type} \"{title}\"{where} say?"


def engine_question(generate: Callable[[list[dict[str, str]]], str], passage: str) -> str | None:
    """Ask an engine for a question the passage answers (a fixed prompt); None when the reply is no question."""
    reply = generate([
        {"role": "system", "content": QUESTION_WRITER_SYSTEM},
        {"role": "user", "content": f"Passage:\n{passage[:1500]}\n\nQuestion:"},
    ])
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    line = line.removeprefix("Question:").strip().strip('"')
    words = len(line.split())
    return line if line.endswith("?") and 4 <= words <= 40 else None
