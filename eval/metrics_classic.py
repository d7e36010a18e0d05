"""RAGAS's non-LLM metrics: answer vs reference (ROUGE-L, BLEU, chrF, string similarity, exact match) and
retrieved chunks vs reference contexts (non-LLM context recall and precision).

They are called through each metric's single-turn scoring rather than `ragas.evaluate`: they need no
LLM, and scoring row by row lets one bad row fail alone (counted as a failure) instead of a batch.
All coroutines run in one event loop; the metrics themselves are CPU-bound and quick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from eval.model import Row
from eval.ragas_env import import_ragas

ANSWER_METRICS = ("rouge_l", "bleu", "chrf", "string_similarity", "exact_match")
CONTEXT_METRICS = ("nonllm_context_recall", "nonllm_context_precision")


def _metric_objects() -> dict[str, Any]:
    import_ragas()
    from ragas.metrics._bleu_score import BleuScore
    from ragas.metrics._chrf_score import ChrfScore
    from ragas.metrics._context_precision import NonLLMContextPrecisionWithReference
    from ragas.metrics._context_recall import NonLLMContextRecall
    from ragas.metrics._rouge_score import RougeScore
    from ragas.metrics._string import ExactMatch, NonLLMStringSimilarity

    return {
        "rouge_l": RougeScore(rouge_type="rougeL", mode="fmeasure"),
        "bleu": BleuScore(),
        "chrf": ChrfScore(),
        "string_similarity": NonLLMStringSimilarity(),
        "exact_match": ExactMatch(),
        "nonllm_context_recall": NonLLMContextRecall(),
        "nonllm_context_precision": NonLLMContextPrecisionWithReference(),
    }


def _plan(rows: list[Row], sample_cls: Any) -> list[tuple[Row, str, Any]]:
    """(row, metric, RAGAS sample) for every metric that applies; the others are marked skipped."""
    jobs: list[tuple[Row, str, Any]] = []
    for row in rows:
        q = row.question
        for name in ANSWER_METRICS:
            if row.error:
                row.fail(name, f"no answer: {row.error}")
            elif not q.reference:
                row.skip(name, "no reference")
            else:
                jobs.append((row, name, sample_cls(user_input=q.question, response=row.answer, reference=q.reference)))
        for name in CONTEXT_METRICS:
            if not row.rag:
                row.skip(name, "no retrieval in norag mode")
            elif not q.reference_contexts:
                row.skip(name, "no reference_contexts")
            elif row.retrieval_error:
                row.fail(name, f"retrieval failed: {row.retrieval_error}")
            elif not row.retrieved:  # RAGAS cannot take an empty list: nothing found is recall 0, precision n/a
                if name == "nonllm_context_recall":
                    row.record(name, 0.0)
                else:
                    row.skip(name, "nothing retrieved")
            else:
                jobs.append((row, name, sample_cls(
                    user_input=q.question,
                    retrieved_contexts=[c.text for c in row.retrieved],
                    reference_contexts=list(q.reference_contexts),
                )))
    return jobs


def score_classic(rows: list[Row], progress: Callable[[int], None] | None = None) -> int:
    """Score every applicable (row, metric); returns how many scores were attempted."""
    objects = _metric_objects()
    from ragas.dataset_schema import SingleTurnSample

    jobs = _plan(rows, SingleTurnSample)

    async def run_all() -> list[float | BaseException]:
        results: list[float | BaseException] = []
        for _, name, sample in jobs:
            try:
                results.append(await objects[name].single_turn_ascore(sample))
            except Exception as err:  # one bad row is a failure of that cell, not of the run
                results.append(err)
        return results

    for (row, name, _), value in zip(jobs, asyncio.run(run_all()), strict=True):
        if isinstance(value, BaseException):
            row.fail(name, f"{type(value).__name__}: {value}"[:200])
        else:
            row.record(name, value, "no score (NaN)")
    if progress:
        progress(len(jobs))
    return len(jobs)
