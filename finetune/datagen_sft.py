"""SFT pairs from golden outputs that already exist in the index, RAFT-style.

The response is real document text: a won bid's answer to a tender question, a case study's or a
marketing piece's section, a knowledge-base fact. The prompt is the tender question the answer was
written for, else a question built from the section's heading and title (or, with a question
writer, one an engine wrote for the passage). The context is what serving would show: the gold
chunks plus distractors the retriever itself returns for the prompt (hard negatives); for a fixed
fraction of examples the gold chunks are left out, so the engine learns both to use context and to
cope without it (RAFT, Zhang et al. 2024).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finetune.corpus import Chunk, Section, allowed, documents, matches
from finetune.examples import Example, Generated, Retrieve
from finetune.prompts import PromptStyle, template_question, tender_prompt

GOLDEN_DOC_TYPES = ("bid", "marketing", "case_study", "kms_fact")


@dataclass
class SFTOptions:
    where: dict[str, Any] | None = None  # metadata filter on the golden sources; doc_type defaults to GOLDEN
    groups: list[str] = field(default_factory=list)  # restricted groups the command names explicitly
    context: bool = True
    distractors: int = 3
    no_gold_fraction: float = 0.2
    cite: bool = True  # end the answer with the numbers of the gold passages, as the chat prompt asks
    min_words: int = 15
    include_lost_bids: bool = False  # lost bids are no golden output (they are DPO's rejected answers)
    seed: int = 0


def _stable_hash(*parts: object) -> int:
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def golden_sections(
    chunks: list[Chunk], options: SFTOptions, skipped: Counter[str]
) -> list[Section]:
    """Sections whose text is a golden answer, restricted and lost ones counted in `skipped`."""
    where = dict(options.where or {})
    doc_types = None if "doc_type" in where else set(GOLDEN_DOC_TYPES)
    picked: list[Section] = []
    for _source, sections in documents(chunks).items():
        if not sections:
            continue
        meta = sections[0].metadata
        if doc_types is not None and meta.get("doc_type") not in doc_types:
            continue
        if not matches(meta, where):
            continue
        if not allowed(sections[0].chunks[0].groups, options.groups):
            skipped["restricted source (its groups are not named by --groups)"] += len(sections)
            continue
        is_bid = meta.get("doc_type") == "bid"
        if is_bid and str(meta.get("outcome", "")).lower() == "lost" and not options.include_lost_bids:
            skipped["lost bid (not a golden answer)"] += len(sections)
            continue
        for section in sections:
            if is_bid and section.kind == "text":
                skipped["bid front matter (no question or summary)"] += 1
            elif len(section.text.split()) < options.min_words:
                skipped["too short to be an answer"] += 1
            else:
                picked.append(section)
    return picked


def build_sft(
    chunks: list[Chunk],
    retrieve: Retrieve | None,
    options: SFTOptions | None = None,
    style: PromptStyle | None = None,
    question_writer: Callable[[Section], str | None] | None = None,
    fit: tuple[Callable[[dict[str, Any]], int], int] | None = None,
) -> Generated:
    """SFT examples ({"messages": [system, user, assistant]}) from the indexed chunks.

    fit: (count_tokens, limit): a row longer than limit loses distractors, last first, until it fits."""
    options = options or SFTOptions()
    style = style or PromptStyle()
    skipped: Counter[str] = Counter()
    sections = golden_sections(chunks, options, skipped)
    questions: list[str] = []
    prompts: list[str] = []
    origins: list[str] = []
    for section in sections:
        if section.kind == "question" and section.question:
            questions.append(section.question)
            prompts.append(tender_prompt(section.question))
            origins.append("tender question")
            continue
        written = question_writer(section) if question_writer else None
        questions.append(written or template_question(section))
        prompts.append(questions[-1])
        origins.append("engine" if written else "template")

    contexts: list[list[Chunk] | None] = [None] * len(sections)
    gold_in: list[bool | None] = [None] * len(sections)
    if options.context and sections:
        if retrieve is None:
            raise ValueError("context needs a retrieve function")
        # Exactly round(fraction * n) examples lose their gold chunks, chosen by a stable hash: the same
        # index and options give the same set.
        order = sorted(range(len(sections)), key=lambda i: _stable_hash(options.seed, sections[i].source,
                                                                        sections[i].heading, sections[i].text[:80]))
        no_gold = set(order[: round(options.no_gold_fraction * len(sections))])
        k = options.distractors + max(len(s.chunks) for s in sections) + 4
        ranked = retrieve(questions, k, options.groups)
        for i, (section, hits) in enumerate(zip(sections, ranked, strict=True)):
            gold_ids = {c.id for c in section.chunks}
            distractors = [c for c in hits if c.id not in gold_ids and allowed(c.groups, options.groups)]
            context = distractors[: options.distractors]
            if i not in no_gold:
                context = context + list(section.chunks)
                random.Random(_stable_hash(options.seed, "order", i, section.source)).shuffle(context)
            contexts[i] = context
            gold_in[i] = i not in no_gold

    examples: list[Example] = []
    trimmed = 0
    for i, section in enumerate(sections):
        gold_ids = {c.id for c in section.chunks}
        is_bid = section.kind == "question" or section.metadata.get("doc_type") == "bid"
        context = contexts[i]
        while True:
            answer = section.text
            if context is not None and gold_in[i] and options.cite:
                answer += " " + "".join(f"[{n}]" for n, c in enumerate(context, 1) if c.id in gold_ids)
            messages = [
                {"role": "system", "content": style.system(context, bid=is_bid)},
                {"role": "user", "content": prompts[i]},
                {"role": "assistant", "content": answer},
            ]
            # Over the training length: fewer distractors rather than a row training would have to drop.
            distractors = [n for n, c in enumerate(context or []) if c.id not in gold_ids]
            if not (fit is not None and distractors and fit[0]({"messages": messages}) > fit[1]):
                break
            context = [c for n, c in enumerate(context or []) if n != distractors[-1]]
            trimmed += 1
        examples.append(Example(
            data={"messages": messages}, question=questions[i], group=questions[i], source=section.source,
            info={"gold_in_context": gold_in[i], "question_from": origins[i], "kind": section.kind},
        ))
    notes = {"question_from": dict(Counter(origins))}
    if options.context:
        notes["without_gold"] = sum(1 for g in gold_in if g is False)
        notes["distractors_trimmed"] = trimmed
    return Generated("sft", examples, skipped, notes)
