"""DPO preference pairs from bid outcomes: for one tender question, the won bid's answer is chosen and
the lost bid's answer rejected.

Bids are matched through their `itt` metadata and the question itself (its words, not its number);
a bid's summary pairs with another bid's summary for the same tender. Every question that yields no
pair is reported with the reason, so a missing lost bid or an unlabelled outcome is visible.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finetune.corpus import Chunk, Section, allowed, documents, matches
from finetune.examples import Example, Generated, Retrieve
from finetune.prompts import PromptStyle, tender_prompt

SUMMARY_KEY = "summary"


@dataclass
class DPOOptions:
    where: dict[str, Any] | None = None  # filter on the bids (e.g. sector=justice)
    groups: list[str] = field(default_factory=list)
    context: bool = True  # retrieved passages (never the pair's own bids) in the prompt
    distractors: int = 3
    summaries: bool = True  # pair the bids' summaries too
    min_words: int = 15


@dataclass
class _Question:
    itt: str
    key: str
    text: str  # the tender question as the user turn asks it
    won: list[Section] = field(default_factory=list)
    lost: list[Section] = field(default_factory=list)


def _tender_titles(docs: dict[str, list[Section]]) -> dict[str, str]:
    titles = {}
    for sections in docs.values():
        meta = sections[0].metadata if sections else {}
        if meta.get("doc_type") == "itt" and meta.get("itt"):
            titles[str(meta["itt"])] = str(meta.get("title") or meta["itt"])
    return titles


def _tender_questions(docs: dict[str, list[Section]]) -> dict[tuple[str, str], str]:
    """The questions each ITT document asks, so a question no bid answered is reported too."""
    asked = {}
    for sections in docs.values():
        meta = sections[0].metadata if sections else {}
        if meta.get("doc_type") == "itt" and meta.get("itt"):
            for s in sections:
                if s.kind == "question" and s.key:
                    asked[(str(meta["itt"]), s.key)] = s.question or s.key
    return asked


def build_dpo(
    chunks: list[Chunk], retrieve: Retrieve | None, options: DPOOptions | None = None,
    style: PromptStyle | None = None,
) -> Generated:
    options = options or DPOOptions()
    style = style or PromptStyle()
    docs = documents(chunks)
    titles = _tender_titles(docs)
    skipped: Counter[str] = Counter()
    unpaired: list[dict[str, Any]] = []
    questions: dict[tuple[str, str], _Question] = {}
    for source, sections in docs.items():
        meta = sections[0].metadata if sections else {}
        if meta.get("doc_type") != "bid" or not matches(meta, options.where):
            continue
        if not allowed(sections[0].chunks[0].groups, options.groups):
            skipped["restricted bid (its groups are not named by --groups)"] += 1
            continue
        itt, outcome = meta.get("itt"), str(meta.get("outcome", "")).lower()
        if not itt or outcome not in ("won", "lost"):
            skipped["bid without itt or won/lost outcome metadata"] += 1
            unpaired.append({"itt": itt, "question": None, "source": source,
                             "reason": "the bid has no itt or no won/lost outcome metadata"})
            continue
        for s in sections:
            if len(s.text.split()) < options.min_words:
                continue
            if s.kind == "question" and s.key:
                key, text = s.key, s.question or s.key
            elif s.kind == "summary" and options.summaries:
                key, text = SUMMARY_KEY, f"Write the summary of our bid for {titles.get(str(itt), itt)}."
            else:
                continue
            entry = questions.setdefault((str(itt), key), _Question(str(itt), key, text))
            (entry.won if outcome == "won" else entry.lost).append(s)

    for (itt, key), text in _tender_questions(docs).items():
        if (itt, key) not in questions and (not options.where or any(q[0] == itt for q in questions)):
            unpaired.append({"itt": itt, "question": text, "reason": "no bid answers this question"})

    pairable = []
    for entry in questions.values():
        if entry.won and entry.lost:
            pairable.append(entry)
            continue
        reason = "no lost bid answers it" if entry.won else "no won bid answers it"
        unpaired.append({"itt": entry.itt, "question": entry.text, "reason": reason})
    for item in unpaired:
        if item.get("question") is not None:
            skipped[f"question without a pair: {item['reason']}"] += 1

    contexts: dict[tuple[str, str], list[Chunk] | None] = {(q.itt, q.key): None for q in pairable}
    if options.context and pairable:
        if retrieve is None:
            raise ValueError("context needs a retrieve function")
        k = options.distractors + 12
        ranked = retrieve([q.text for q in pairable], k, options.groups)
        for entry, hits in zip(pairable, ranked, strict=True):
            own = {s.source for s in entry.won + entry.lost}  # never show the answers being compared
            picked = [c for c in hits if c.source not in own and allowed(c.groups, options.groups)]
            contexts[(entry.itt, entry.key)] = picked[: options.distractors]

    examples = []
    for entry in pairable:
        context = contexts[(entry.itt, entry.key)]
        user = tender_prompt(entry.text) if entry.key != SUMMARY_KEY else entry.text
        prompt = [{"role": "system", "content": style.system(context, bid=True)}, {"role": "user", "content": user}]
        for won, lost in itertools.product(entry.won, entry.lost):
            examples.append(Example(
                data={"prompt": prompt, "chosen": [{"role": "assistant", "content": won.text}],
                      "rejected": [{"role": "assistant", "content": lost.text}]},
                question=entry.text, group=f"{entry.itt}|{entry.key}", source=won.source,
                info={"itt": entry.itt, "chosen_source": won.source, "rejected_source": lost.source},
            ))
    notes = {"questions_paired": len(pairable), "unpaired": unpaired}
    return Generated("dpo", examples, skipped, notes)
