"""The records an evaluation run is made of: one Row per question × engine × mode, and its metric cells.

Every metric ends in exactly one of three states per row, so that nothing is averaged away silently:
- a score (a finite float),
- a failure (the metric applied but could not be computed: judge output not parsed, timeout, answer error),
- skipped (the metric does not apply: no reference, no retrieval in `norag` mode, ...), with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from eval.questions import Question

MODES = ("rag", "norag")


@dataclass
class Context:
    source: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self, max_chars: int | None = None) -> dict[str, Any]:
        text = self.text if max_chars is None or len(self.text) <= max_chars else self.text[:max_chars] + "…"
        return {"source": self.source, "text": text}


@dataclass
class Row:
    question: Question
    engine: str
    mode: str
    answer: str = ""
    found: bool = False
    contexts: list[Context] = field(default_factory=list)  # the sources the answer was given / cites
    retrieved: list[Context] = field(default_factory=list)  # rag: the ranked search results (top k)
    seconds: float = 0.0  # time to produce the answer (retrieval + generation)
    error: str | None = None  # the answer could not be produced
    retrieval_error: str | None = None  # rag: the top-k search for the retrieval metrics failed
    prediction: str | None = None  # classification rows: the label the answer was mapped to
    scores: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def rag(self) -> bool:
        return self.mode == "rag"

    def record(self, metric: str, value: float | None, failure: str = "no score") -> None:
        """A score, or a failure when it is None/NaN (a judge that gave no usable answer)."""
        if value is None or not math.isfinite(float(value)):
            self.fail(metric, failure)
        else:
            self.scores[metric] = float(value)

    def fail(self, metric: str, reason: str) -> None:
        self.failures[metric] = reason

    def skip(self, metric: str, reason: str) -> None:
        self.skipped[metric] = reason

    def state(self, metric: str) -> str | None:
        if metric in self.scores:
            return "score"
        if metric in self.failures:
            return "failure"
        if metric in self.skipped:
            return "skipped"
        return None

    def to_json(self, max_context_chars: int = 600) -> dict[str, Any]:
        return {
            "line": self.question.line,
            "question": self.question.question,
            "engine": self.engine,
            "mode": self.mode,
            "answer": self.answer,
            "found": self.found,
            "reference": self.question.reference,
            "label": self.question.label,
            "prediction": self.prediction,
            "answerable": self.question.answerable,
            "contexts": [c.to_json(max_context_chars) for c in self.contexts],
            "retrieved_sources": [c.source for c in self.retrieved],
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "scores": {k: round(v, 4) for k, v in sorted(self.scores.items())},
            "failures": dict(sorted(self.failures.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }
