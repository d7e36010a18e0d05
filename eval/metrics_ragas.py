"""RAGAS's LLM-judged metrics through `ragas.evaluate`, with every failure counted.

One `evaluate` call per metric, over the rows that metric applies to (so a row without a reference is
skipped with a reason, never scored as a failure). `raise_exceptions=False` turns a failed row into
NaN; RAGAS logs the exception of each failed job ("Exception raised in Job[i]: ..."), and a handler on
that logger maps job i (= row i, with one metric per call) to the reason: judge output not parsed,
judge timed out, judge error. A NaN without a logged exception is counted as "no score (NaN)".
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from typing import Any

from eval.judge import JudgeSpec, JudgeStats, JudgeTimeout, make_ragas_llm
from eval.model import Row
from eval.ragas_env import import_ragas

JUDGE_METRICS = ("faithfulness", "response_relevancy", "context_precision", "context_recall", "factual_correctness")
_JOB = re.compile(r"Job\[(\d+)\]")
_REASONS = {
    "RagasOutputParserException": "judge output not parsed",
    "OutputParserException": "judge output not parsed",
    "ValidationError": "judge output not parsed",
    "JSONDecodeError": "judge output not parsed",
    "JudgeTimeout": "judge timed out",
    "TimeoutError": "judge timed out",
    "CancelledError": "judge timed out",
    "JudgeError": "judge error",
}


def _metric(name: str) -> Any:
    import_ragas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ragas.metrics._answer_relevance import ResponseRelevancy
        from ragas.metrics._context_precision import LLMContextPrecisionWithReference
        from ragas.metrics._context_recall import LLMContextRecall
        from ragas.metrics._factual_correctness import FactualCorrectness
        from ragas.metrics._faithfulness import Faithfulness

    return {
        "faithfulness": lambda: Faithfulness(),
        # strictness 1: our judges decode greedily, so several generations would be the same text.
        "response_relevancy": lambda: ResponseRelevancy(strictness=1),
        "context_precision": lambda: LLMContextPrecisionWithReference(),
        "context_recall": lambda: LLMContextRecall(),
        "factual_correctness": lambda: FactualCorrectness(),
    }[name]()


def skip_reason(row: Row, name: str) -> str | None:
    """Why `name` does not apply to this row (None: it applies)."""
    q = row.question
    if name in ("faithfulness", "context_precision", "context_recall"):
        if not row.rag:
            return "no retrieval in norag mode"
        if not row.error and not row.found:
            return "answer declined (see answerability)"
        if not row.error and not row.contexts:
            return "no sources"
    if name in ("context_precision", "context_recall", "factual_correctness") and not q.reference:
        return "no reference"
    if name in ("response_relevancy", "factual_correctness") and not row.error and not row.found:
        return "answer declined (see answerability)"
    return None


def _sample(row: Row, sample_cls: Any) -> Any:
    return sample_cls(
        user_input=row.question.question,
        response=row.answer,
        retrieved_contexts=[c.text for c in row.contexts] if row.rag else None,
        reference=row.question.reference,
    )


class _JobErrors(logging.Handler):
    """Collects "Exception raised in Job[i]: Name(message)" records of ragas.executor."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_job: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) >= 2 and isinstance(args[0], int):
            self.by_job[args[0]] = str(args[1])
            return
        match = _JOB.search(record.getMessage())
        if match:
            self.by_job[int(match.group(1))] = record.getMessage()


class _QuietRagas:
    """Keeps RAGAS's own error logging (one line per failed job) off the user's terminal, and captures it."""

    def __enter__(self) -> _JobErrors:
        self.handler = _JobErrors()
        self.executor_log = logging.getLogger("ragas.executor")
        self.ragas_log = logging.getLogger("ragas")
        self.saved = (self.executor_log.level, self.executor_log.propagate, self.ragas_log.level)
        self.executor_log.setLevel(logging.ERROR)
        self.executor_log.propagate = False
        self.executor_log.addHandler(self.handler)
        self.ragas_log.setLevel(logging.CRITICAL)
        return self.handler

    def __exit__(self, *exc: object) -> None:
        self.executor_log.removeHandler(self.handler)
        self.executor_log.setLevel(self.saved[0])
        self.executor_log.propagate = self.saved[1]
        self.ragas_log.setLevel(self.saved[2])


def _reason(exception_name: str | None) -> str:
    if exception_name is None:
        return "no score (NaN)"
    return _REASONS.get(exception_name, f"error: {exception_name}")


def score_judged(
    rows: list[Row], spec: JudgeSpec, stats: JudgeStats, metrics: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Score the judge metrics on the rows they apply to; failures recorded per row with their reason.
    progress(n) gets len(rows) after each metric (skipped rows count as done)."""
    import_ragas()
    from ragas import EvaluationDataset, evaluate
    from ragas.dataset_schema import SingleTurnSample
    from ragas.run_config import RunConfig

    # A row can take several judge calls (statements, then verdicts, plus RAGAS's own format-fixing
    # retries); the per-row limit leaves room for them. Only timeouts are retried by RunConfig.
    run_config = RunConfig(
        timeout=int(spec.timeout_s * 12), max_retries=1 + spec.retries, max_wait=2,
        max_workers=spec.workers, exception_types=(JudgeTimeout,),
    )
    llm = make_ragas_llm(spec, stats, run_config)
    embeddings = None
    if spec.embeddings is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from ragas.embeddings.base import LlamaIndexEmbeddingsWrapper

            embeddings = LlamaIndexEmbeddingsWrapper(spec.embeddings, run_config=run_config)
    for name in metrics or list(JUDGE_METRICS):
        todo: list[Row] = []
        for row in rows:
            reason = skip_reason(row, name)
            if reason:
                row.skip(name, reason)
            elif row.error:
                row.fail(name, f"no answer: {row.error}")
            else:
                todo.append(row)
        if name == "response_relevancy" and embeddings is None:
            for row in todo:
                row.skip(name, "no embedder for the judge")
            todo = []
        if not todo:
            if progress:
                progress(len(rows))
            continue
        metric = _metric(name)
        dataset = EvaluationDataset(samples=[_sample(r, SingleTurnSample) for r in todo])
        with _QuietRagas() as job_errors, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = evaluate(
                dataset, metrics=[metric], llm=llm, embeddings=embeddings, run_config=run_config,
                raise_exceptions=False, show_progress=False, allow_nest_asyncio=False,
            )
        for i, (row, scores) in enumerate(zip(todo, result.scores, strict=True)):
            value = next(iter(scores.values()), None) if scores else None
            row.record(name, value, _reason(job_errors.by_job.get(i)))
        if progress:
            progress(len(rows))
