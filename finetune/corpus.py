"""The index seen as documents again: chunks joined back into sections with their gold chunks.

Training pairs need whole answers (a bid's answer to one tender question, a case study's
"What we did"), while the index holds overlapping chunks. Chunks of one source are joined in order
(the overlap the splitter added is removed), cut into sections at heading changes and at tender
question lines ("Q3. How will you ..."), and every section remembers which chunks it came from:
those are the gold context of a RAFT example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_QUESTION_LINE = re.compile(r"^\s*Q(\d{1,2})[.):]\s+(\S.*)$")
_SUMMARY_LINE = re.compile(r"^\s*(executive\s+)?summary\s*:?\s*$", re.I)
_FOOTER_LINE = re.compile(r"\bpage\s+\d+\s+of\s+\d+\s*$", re.I)
_MIN_OVERLAP = 12  # characters; shorter matches between chunk ends are coincidence, not splitter overlap


@dataclass(frozen=True)
class Chunk:
    """One indexed chunk as the keyword index holds it: the text shown to the LLM and its metadata."""

    id: str
    source: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def index(self) -> int:
        value = self.metadata.get("chunk")
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    @property
    def heading(self) -> str | None:
        value = self.metadata.get("heading")
        return str(value).strip() or None if value else None

    @property
    def groups(self) -> list[str]:
        return parse_groups(self.metadata.get("groups"))


def parse_groups(value: Any) -> list[str]:
    """Groups as stored (a comma-joined string in the index, a list in YAML), lower-cased."""
    if not value:
        return []
    items = value if isinstance(value, list | tuple | set) else str(value).split(",")
    return sorted({str(g).strip().lower() for g in items if str(g).strip()})


def normalise(text: str) -> str:
    return " ".join(text.split()).strip()


def question_key(question: str) -> str:
    """What makes two tender questions the same: words and case, not numbering, spacing or the final stop."""
    text = normalise(question).lower()
    text = re.sub(r"^q\d{1,2}[.):]\s+", "", text)
    return text.rstrip(" .?:;!")


@dataclass
class Section:
    source: str
    kind: str  # "question" (a tender question and its answer), "summary", or "text"
    heading: str | None
    text: str  # the body: for a question section, the answer without the question line
    chunks: list[Chunk]  # the chunks the section's text came from, in order
    metadata: dict[str, Any]
    question: str | None = None  # the tender question, without its "Qn." number
    number: int | None = None

    @property
    def key(self) -> str | None:
        return question_key(self.question) if self.question else None

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or self.metadata.get("file_name") or self.source)


def merge_chunks(texts: list[str]) -> tuple[str, list[int]]:
    """Join consecutive chunk texts, dropping the overlap the splitter repeated; also each chunk's start offset."""
    merged = ""
    starts: list[int] = []
    for text in texts:
        if not merged:
            starts.append(0)
            merged = text
            continue
        overlap = _overlap(merged, text)
        if overlap:
            starts.append(len(merged) - overlap)
            merged += text[overlap:]
        else:
            starts.append(len(merged) + 1)
            merged += "\n" + text
    return merged, starts


def _overlap(left: str, right: str) -> int:
    """The longest k >= _MIN_OVERLAP with left ending in right[:k] (0 if none)."""
    limit = min(len(left), len(right))
    probe = right[:_MIN_OVERLAP]
    if len(probe) < _MIN_OVERLAP:
        return 0
    pos = left.find(probe, len(left) - limit)
    while pos != -1:
        k = len(left) - pos
        if right.startswith(left[pos:]) and k >= _MIN_OVERLAP:
            return k
        pos = left.find(probe, pos + 1)
    return 0


@dataclass
class _Part:
    start: int
    end: int
    kind: str
    heading: str | None
    question: str | None = None
    number: int | None = None
    body_start: int = 0


def _split_lines(text: str, heading: str | None) -> list[_Part]:
    """Cut a run of text at tender-question lines and 'Summary' lines; a question may wrap over lines."""
    parts: list[_Part] = []
    current = _Part(0, 0, "text", heading, body_start=0)
    lines = text.splitlines(keepends=True)
    offset = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _QUESTION_LINE.match(line)
        if match or _SUMMARY_LINE.match(line):
            current.end = offset
            parts.append(current)
            if match:
                question, consumed = match.group(2).strip(), 1
                # A PDF wraps a long question: its next line starts in lower case, or is a short end of sentence.
                while (
                    not question.endswith(("?", ".", ":")) and i + consumed < len(lines) and consumed < 4
                    and _continues(lines[i + consumed])
                ):
                    question += " " + lines[i + consumed].strip()
                    consumed += 1
                body = offset + sum(len(x) for x in lines[i:i + consumed])
                current = _Part(offset, 0, "question", f"Q{match.group(1)}. {question}", question,
                                int(match.group(1)), body)
            else:
                consumed = 1
                current = _Part(offset, 0, "summary", line.strip(), body_start=offset + len(line))
            offset += sum(len(x) for x in lines[i:i + consumed])
            i += consumed
            continue
        offset += len(line)
        i += 1
    current.end = offset
    parts.append(current)
    return [p for p in parts if text[p.body_start:p.end].strip()]


def _continues(line: str) -> bool:
    text = line.strip()
    if not text or _QUESTION_LINE.match(text):
        return False
    return text[:1].islower() or (len(text.split()) <= 8 and text.endswith(("?", ".")))


def _clean(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines() if not _FOOTER_LINE.search(ln)]
    return "\n".join(lines).strip()


def sections_of(chunks: list[Chunk]) -> list[Section]:
    """The sections of one source (its chunks in any order)."""
    ordered = sorted(chunks, key=lambda c: c.index)
    if not ordered:
        return []
    meta = {k: v for k, v in ordered[0].metadata.items() if k not in ("chunk", "page", "heading")}
    runs: list[list[Chunk]] = []
    for chunk in ordered:
        if runs and runs[-1][-1].heading == chunk.heading:
            runs[-1].append(chunk)
        else:
            runs.append([chunk])
    sections: list[Section] = []
    for run in runs:
        merged, starts = merge_chunks([c.text for c in run])
        spans = [(s, s + len(c.text)) for s, c in zip(starts, run, strict=True)]
        parts = _split_lines(merged, run[0].heading)
        for part in parts:
            gold = [c for c, (s, e) in zip(run, spans, strict=True) if min(e, part.end) - max(s, part.body_start) > 20]
            body = _clean(merged[part.body_start:part.end])
            if part.kind == "question" or part.kind == "summary" or part.heading:
                sections.append(Section(run[0].source, part.kind, part.heading, body, gold or run, meta,
                                        part.question, part.number))
            else:
                # No heading (a PDF page, an e-mail): every chunk is its own unit of about one passage.
                for chunk in gold or run:
                    piece = _clean(chunk.text)
                    if piece:
                        sections.append(Section(run[0].source, "text", None, piece, [chunk], meta))
    # The first chunk of a heading-run repeats the heading as its first line: keep it out of the answer.
    for section in sections:
        if section.heading and section.kind != "question":
            first, _, rest = section.text.partition("\n")
            if normalise(first) == normalise(section.heading) and rest.strip():
                section.text = rest.strip()
    return sections


def documents(chunks: Iterable[Chunk]) -> dict[str, list[Section]]:
    """Every source's sections, by source."""
    by_source: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_source.setdefault(chunk.source, []).append(chunk)
    return {source: sections_of(items) for source, items in sorted(by_source.items())}


def matches(metadata: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """`--where K=V` on a source's metadata: string equality, so "2024" matches 2024."""
    for key, value in (where or {}).items():
        have = metadata.get(key)
        if key == "groups":
            if not set(parse_groups(value)) <= set(parse_groups(have)):
                return False
        elif have is None or str(have).strip().lower() != str(value).strip().lower():
            return False
    return True


def allowed(groups: list[str], named: list[str]) -> bool:
    """A restricted source enters a training set only when the command names one of its groups."""
    return not groups or bool(set(groups) & {g.lower() for g in named})
