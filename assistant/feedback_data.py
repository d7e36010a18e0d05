"""Learning from users ("Improve from feedback"): the chat's ratings as training sets.

A thumbs-up answer becomes an SFT row (the question, the sources the answer was given, the answer); a
thumbs-down answer with an evaluator's correction becomes a DPO pair (the correction chosen over the answer
given). The prompt is laid out as datagen writes it and the chat serves it (`finetune.prompts.PromptStyle`:
the numbered sources in the system turn, the bare question as the user turn), so `assistant train sft|dpo
--data HOME/datasets/feedback-sft.jsonl` (or `feedback-dpo.jsonl`) takes the sets unchanged.

The stored sources are the ones the answer cites, with the numbers it cites them by; in the row they are
numbered 1, 2, … and the answer's (and the correction's) [n] markers follow. Restricted documents follow
datagen's rule (a source whose groups the request does not name keeps its row out), and a row citing a
document no longer in the index is left out: both counted in `skipped`. Then datagen's own finish: redaction,
validation (duplicates, evaluation-question leaks, the engine's context), the validation split by question,
the files and their summary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.components import DEMO_QUESTIONS, Components
from assistant.work import Foreground, Work
from finetune.corpus import Chunk, allowed, parse_groups
from finetune.errors import DataError
from finetune.examples import Example, Generated
from finetune.prompts import PromptStyle

SFT_FILE = "feedback-sft.jsonl"
DPO_FILE = "feedback-dpo.jsonl"

NO_CORRECTION = "thumbs down without a correction (nothing to prefer)"
RESTRICTED = "restricted source (its groups are not named by --groups)"
DELETED = "source no longer in the index (removed since the answer)"
NO_QUESTION = "no question before the answer"
DECLINED = "thumbs up on a declined answer (nothing to learn from)"

# "[2]" or "[1, 3]": the citations the chat's prompt asks for (as the web app links them).
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass
class FeedbackRequest:
    """What `datagen feedback` reads the ratings with. `groups`: restricted groups whose sources may enter."""

    groups: list[str] = field(default_factory=list)
    eval_questions: Path | None = None  # questions that must not become training prompts (default: the demo's)
    val_fraction: float = 0.1
    redact: list[str] = field(default_factory=list)
    max_tokens: int | None = None  # default: the engine's context
    seed: int = 0


# Where a source stands now: None when it is no longer indexed, else its groups ([] = everyone).
SourceGroups = Callable[[str], list[str] | None]


def _context(sources: list[dict[str, Any]], message_id: Any) -> tuple[list[Chunk], dict[int, int]]:
    """The stored sources as datagen's chunks (the chat's label: title, date, page) and old n -> new n."""
    chunks, numbers = [], {}
    for i, s in enumerate(sources, 1):
        meta = dict(s.get("metadata") or {})
        if s.get("page") and not meta.get("page"):
            meta["page"] = s["page"]
        meta.setdefault("source", s.get("source", ""))
        chunks.append(Chunk(f"feedback:{message_id}:{i}", str(s.get("source", "")), str(s.get("text", "")), meta))
        numbers[int(s.get("n") or i)] = i
    return chunks, numbers


def renumber(text: str, numbers: dict[int, int]) -> str:
    """The answer's [n] markers in the row's numbering; a marker citing a source not kept stays as it is."""
    def sub(match: re.Match[str]) -> str:
        cited = [int(x) for x in match.group(1).split(",")]
        if not all(n in numbers for n in cited):
            return match.group(0)
        return "[" + ", ".join(str(numbers[n]) for n in cited) + "]"

    return _MARKER.sub(sub, text) if numbers else text


def build_feedback(rows: list[dict[str, Any]], source_groups: SourceGroups, groups: list[str],
                   style: PromptStyle | None = None, not_found: str | None = None) -> tuple[Generated, Generated]:
    """(SFT, DPO) examples from `History.feedback_rows()`, the skipped rows counted in each."""
    style = style or PromptStyle()
    sft, dpo = Generated("sft", []), Generated("dpo", [])
    for row in rows:
        rating, correction = row.get("rating"), str(row.get("correction") or "").strip()
        target = sft if rating == 1 else dpo
        if rating == -1 and not correction:
            target.skipped[NO_CORRECTION] += 1
            continue
        question = str(row.get("question") or "").strip()
        if not question:
            target.skipped[NO_QUESTION] += 1
            continue
        sources = [s for s in row.get("sources") or [] if isinstance(s, dict)]
        standing = [source_groups(str(s.get("source", ""))) for s in sources]
        if any(g is None for g in standing):
            target.skipped[DELETED] += 1
            continue
        if not all(allowed(g or [], groups) for g in standing):
            target.skipped[RESTRICTED] += 1
            continue
        answer = str(row.get("answer") or "")
        if rating == 1 and not_found and answer.strip() == not_found:
            target.skipped[DECLINED] += 1
            continue
        chunks, numbers = _context(sources, row.get("message_id"))
        prompt = [{"role": "system", "content": style.system(chunks or None)}, {"role": "user", "content": question}]
        first = sources[0].get("source", "") if sources else ""
        info = {"feedback_id": row.get("id"), "message_id": row.get("message_id"), "engine": row.get("engine")}
        if rating == 1:
            data = {"messages": [*prompt, {"role": "assistant", "content": renumber(answer, numbers)}]}
        else:
            info["corrected_by"] = row.get("corrected_by")
            data = {"prompt": prompt, "chosen": [{"role": "assistant", "content": renumber(correction, numbers)}],
                    "rejected": [{"role": "assistant", "content": renumber(answer, numbers)}]}
        target.examples.append(Example(data=data, question=question, group=question, source=str(first), info=info))
    return sft, dpo


def docstore_groups(svc: Components) -> SourceGroups:
    """A source's groups as the index holds them now (None: no longer indexed)."""
    docstore = svc.indexer.docstore

    def lookup(source: str) -> list[str] | None:
        record = docstore.get(source)
        return None if record is None else parse_groups(record.metadata.get("groups"))

    return lookup


def _remove_set(out: Path) -> None:
    """A set this run wrote no rows for: an older one would train on ratings no longer allowed or present."""
    from finetune.store import summary_path, val_path

    for path in (out, val_path(out), summary_path(out)):
        path.unlink(missing_ok=True)


def run_feedback_datagen(svc: Components, rows: list[dict[str, Any]], request: FeedbackRequest | None = None,
                         work: Work | None = None) -> dict[str, Any]:
    """Write HOME/datasets/feedback-sft.jsonl and feedback-dpo.jsonl (with their .val.jsonl and summaries);
    returns the summary: {"rows","skipped":[{"reason","count"}],"feedback",…,"sft":{datagen's JSON},"dpo":{…}}.
    DataError when neither set has a row (nothing written, older sets removed)."""
    from assistant.chat import NO_RAG_SYSTEM_PROMPT, NOT_FOUND, SYSTEM_PROMPT
    from assistant.training import token_counter
    from finetune.datagen import finish
    from finetune.redact import Redactor
    from finetune.validate import load_eval_questions

    request = request or FeedbackRequest()
    work = work or Foreground()
    redactor = Redactor(request.redact)  # a bad pattern fails before any work
    groups = sorted({g.strip().lower() for g in request.groups if g.strip()})
    questions_file = request.eval_questions or (DEMO_QUESTIONS if DEMO_QUESTIONS.is_file() else None)
    leak_questions = load_eval_questions(questions_file) if questions_file else []
    work.message(f"Reading {len(rows)} ratings")
    style = PromptStyle(rag_system=SYSTEM_PROMPT, plain_system=NO_RAG_SYSTEM_PROMPT)
    sets = build_feedback(rows, docstore_groups(svc), groups, style, NOT_FOUND)
    count, window = (None, None)
    if any(g.examples for g in sets):
        count, window = token_counter(svc.settings, work.message)
    limit = request.max_tokens or window
    notes = {"eval_questions": str(questions_file) if questions_file else None, "max_tokens": limit}
    summary: dict[str, Any] = {}
    skipped: Counter[str] = Counter()
    for generated, name in zip(sets, (SFT_FILE, DPO_FILE), strict=True):
        out = svc.paths.datasets / name
        doc: dict[str, Any] | None = None
        if generated.examples:
            try:
                doc = finish(generated, out, redactor, count, limit, leak_questions, request.val_fraction,
                             request.seed, notes).to_json()
            except DataError as err:  # every row failed validation: the reasons are in its message
                doc = {"error": str(err)}
        if doc is None or "error" in doc:
            _remove_set(out)
            doc = {"out": None, "rows": 0, "validation_out": None, "validation_rows": 0,
                   "skipped": [{"reason": r, "count": n} for r, n in sorted(generated.skipped.items())],
                   "kind": generated.kind, **(doc or {})}
        summary[generated.kind] = doc
        skipped.update({item["reason"]: item["count"] for item in doc["skipped"]})
    ratings = Counter("up" if r.get("rating") == 1 else "down" for r in rows)
    result = {
        "rows": summary["sft"]["rows"] + summary["dpo"]["rows"],
        "skipped": [{"reason": r, "count": n} for r, n in sorted(skipped.items())],
        "feedback": len(rows), "thumbs_up": ratings["up"], "thumbs_down": ratings["down"],
        "corrected": sum(1 for r in rows if r.get("rating") == -1 and str(r.get("correction") or "").strip()),
        "groups": groups, **summary,
    }
    if not result["rows"] and not (summary["sft"]["validation_rows"] or summary["dpo"]["validation_rows"]):
        reasons = "; ".join(f"{r}: {n}" for r, n in skipped.most_common()) or "no ratings yet"
        raise DataError(f"no training rows from the chat's feedback ({reasons}); nothing written. Thumbs-up "
                        "answers become SFT rows, thumbs-down answers with an evaluator's correction DPO pairs")
    work.message(f"{summary['sft']['rows']} SFT rows, {summary['dpo']['rows']} DPO pairs from {len(rows)} ratings")
    return result
