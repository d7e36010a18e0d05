"""Retrieval metrics of our own: hit@k, MRR and reference-context recall, no judge needed.

They score the ranked top-k of a question (what the engine is given in `rag` mode), so they are the
same for every engine; they apply to `rag` rows only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from eval.model import Context, Row

CONTAINMENT_THRESHOLD = 90.0  # rapidfuzz partial_ratio, 0-100: tolerates PDF hyphenation and spacing


def _norm_path(path: str) -> str:
    return path.replace("\\", "/").strip().lstrip("./").lower()


def source_matches(source: str, reference: str) -> bool:
    """Does a retrieved chunk's source (an absolute path) name the reference source?

    References are paths relative to the corpus ("bids/bid-x.docx") or bare file names: the source
    matches when it equals the reference or ends with it on a path-component boundary.
    """
    s, r = _norm_path(source), _norm_path(reference)
    if not r:
        return False
    return s == r or s.endswith("/" + r)


def first_relevant_rank(sources: Sequence[str], references: Sequence[str]) -> int | None:
    """1-based rank of the first retrieved source matching any reference; None when none does."""
    for rank, source in enumerate(sources, 1):
        if any(source_matches(source, ref) for ref in references):
            return rank
    return None


def hit_and_rr(sources: Sequence[str], references: Sequence[str]) -> tuple[float, float]:
    rank = first_relevant_rank(sources, references)
    return (1.0, 1.0 / rank) if rank else (0.0, 0.0)


def _norm_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def context_found(reference_context: str, chunks: Sequence[str]) -> bool:
    """Is the reference context (a sentence or two) contained, near-verbatim, in one of the chunks?"""
    from rapidfuzz import fuzz

    ref = _norm_text(reference_context)
    if not ref:
        return False
    for chunk in chunks:
        text = _norm_text(chunk)
        if ref in text or fuzz.partial_ratio(ref, text) >= CONTAINMENT_THRESHOLD:
            return True
    return False


def reference_context_recall(reference_contexts: Sequence[str], chunks: Sequence[Context]) -> float:
    texts = [c.text for c in chunks]
    found = sum(context_found(ref, texts) for ref in reference_contexts)
    return found / len(reference_contexts)


def score_retrieval(rows: list[Row]) -> None:
    """hit_at_k, mrr and ref_context_recall for each row (skipped where they do not apply)."""
    for row in rows:
        q = row.question
        if not row.rag:
            for name in ("hit_at_k", "mrr", "ref_context_recall"):
                row.skip(name, "no retrieval in norag mode")
            continue
        if row.retrieval_error:
            for name in ("hit_at_k", "mrr", "ref_context_recall"):
                row.fail(name, f"retrieval failed: {row.retrieval_error}")
            continue
        if q.reference_sources:
            hit, rr = hit_and_rr([c.source for c in row.retrieved], q.reference_sources)
            row.record("hit_at_k", hit)
            row.record("mrr", rr)
        else:
            row.skip("hit_at_k", "no reference_sources")
            row.skip("mrr", "no reference_sources")
        if q.reference_contexts:
            row.record("ref_context_recall", reference_context_recall(q.reference_contexts, row.retrieved))
        else:
            row.skip("ref_context_recall", "no reference_contexts")


def score_answerability(rows: list[Row]) -> None:
    """answered (answerable questions) and declined (unanswerable ones), from the answer's `found`."""
    for row in rows:
        a = row.question.answerable
        if a is None:
            row.skip("answered", "no answerable flag")
            row.skip("declined", "no answerable flag")
            continue
        applies, other = ("answered", "declined") if a else ("declined", "answered")
        row.skip(other, "question is answerable" if a else "question is unanswerable")
        if row.error:
            row.fail(applies, f"no answer: {row.error}")
        elif a:
            row.record("answered", 1.0 if row.found else 0.0)
        else:
            row.record("declined", 0.0 if row.found else 1.0)
