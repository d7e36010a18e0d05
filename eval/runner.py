"""One evaluation run: answer every question with every engine × mode, then score with each metric family.

The runner knows nothing of the assistant's services: the caller hands in callables (answer a question,
retrieve, embed, the house and generic texts) and a judge. So the CLI, the web app's job and the
benchmark run the same code, and tests can drive it with stand-ins.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from eval.classify import label_set, score_classification, summarize_classification
from eval.judge import JudgeSpec, JudgeStats, probe
from eval.metrics_retrieval import score_answerability, score_retrieval
from eval.model import Context, Row
from eval.questions import Question
from eval.results import DEFAULT_UNRELIABLE_ABOVE, aggregate, compact, notes


class Progress(Protocol):
    """The subset of indexing.progress.Progress the runner uses."""

    def message(self, text: str) -> None: ...
    def start(self, total: int, label: str) -> None: ...
    def advance(self, n: int = 1, label: str | None = None) -> None: ...
    def finish(self) -> None: ...


class _Silent:
    def message(self, text: str) -> None: ...
    def start(self, total: int, label: str) -> None: ...
    def advance(self, n: int = 1, label: str | None = None) -> None: ...
    def finish(self) -> None: ...


@dataclass
class Hooks:
    # (question, engine, use_rag) -> an object with .answer, .found, .sources (each .source, .text, .metadata)
    answer: Callable[[str, str, bool], Any]
    # questions -> ranked chunks per question (top k); None when there is no index
    retrieve: Callable[[list[str]], list[list[Any]]] | None = None
    embed: Callable[[list[str]], np.ndarray] | None = None
    # () -> (house texts, generic texts found in the corpus, e.g. lost bids); None: no house-style score
    style_texts: Callable[[], tuple[list[str], list[str]]] | None = None
    # embeds the house-style training texts (e.g. a cached `embed`); default: `embed`
    style_embed: Callable[[list[str]], np.ndarray] | None = None


@dataclass
class EvalRequest:
    questions: list[Question]
    engines: list[str]
    modes: list[str]
    judge: JudgeSpec = field(default_factory=lambda: JudgeSpec("none"))
    judge_metrics: list[str] | None = None
    unreliable_above: float = DEFAULT_UNRELIABLE_ABOVE
    settings: dict[str, Any] = field(default_factory=dict)  # recorded as-is in results.json (engines, hashes…)


@dataclass
class EvalRun:
    id: str
    created: str
    request: EvalRequest
    rows: list[Row]
    summary: dict[str, Any]
    classification: dict[str, dict[str, Any]]
    style: dict[str, Any]
    judge: dict[str, Any]
    notes: list[str]
    timings: dict[str, float]
    gate: dict[str, Any] | None = None

    @property
    def answer_errors(self) -> list[Row]:
        return [r for r in self.rows if r.error]

    @property
    def partial(self) -> bool:
        """Some of what was asked could not be done (answers failed, the judge was unreachable)."""
        return bool(self.answer_errors) or self.judge.get("status") == "unreachable"

    def results(self) -> dict[str, Any]:
        return compact(self.summary)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "settings": {
                **self.request.settings,
                "engines_requested": self.request.engines,
                "modes": self.request.modes,
                "questions_n": len(self.request.questions),
                "judge": self.request.judge.describe(),
                "unreliable_above": self.request.unreliable_above,
            },
            "results": self.results(),
            "summary": self.summary,
            "classification": self.classification,
            "style": self.style,
            "judge": self.judge,
            "notes": self.notes,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "gate": self.gate,
            "rows": [r.to_json() for r in self.rows],
        }


def new_report_id(request: EvalRequest, now: datetime) -> str:
    """Timestamp (sorts by time) + a short hash of what was asked (two runs in one second stay apart)."""
    asked = f"{request.engines}|{request.modes}|{request.settings.get('questions_sha256')}"
    seed = f"{now.isoformat()}|{asked}|{time.perf_counter_ns()}"
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{hashlib.sha256(seed.encode()).hexdigest()[:6]}"


def _contexts(chunks: Sequence[Any]) -> list[Context]:
    return [Context(str(getattr(c, "source", "")), str(getattr(c, "text", "")), dict(getattr(c, "metadata", {}) or {}))
            for c in chunks]


def _one_line(err: BaseException) -> str:
    return (" ".join(str(err).split()) or type(err).__name__)[:300]


def answer_rows(request: EvalRequest, hooks: Hooks, progress: Progress,
                timings: dict[str, float]) -> list[Row]:
    """Every question × engine × mode answered (a failed answer becomes a row with `error`), and the ranked
    top-k of each question for the retrieval metrics (searched once: it is the same for every engine)."""
    questions = request.questions
    t0 = time.perf_counter()
    retrieved: list[list[Context]] = [[] for _ in questions]
    retrieval_errors: list[str | None] = [None for _ in questions]
    if "rag" in request.modes and hooks.retrieve is not None:
        try:
            retrieved = [_contexts(r) for r in hooks.retrieve([q.question for q in questions])]
        except Exception:  # e.g. one question over the length limit: retry one by one to keep the others
            for i, q in enumerate(questions):
                try:
                    retrieved[i] = _contexts(hooks.retrieve([q.question])[0])
                except Exception as err:
                    retrieval_errors[i] = _one_line(err)
    timings["retrieval_search"] = time.perf_counter() - t0
    rows: list[Row] = []
    total = len(questions) * len(request.engines) * len(request.modes)
    progress.start(total, "Answering")
    started = time.perf_counter()
    for engine in request.engines:
        for mode in request.modes:
            for i, q in enumerate(questions):
                row = Row(q, engine, mode)
                if mode == "rag":
                    row.retrieved, row.retrieval_error = retrieved[i], retrieval_errors[i]
                t0 = time.perf_counter()
                try:
                    a = hooks.answer(q.question, engine, mode == "rag")
                    row.answer, row.found, row.contexts = str(a.answer), bool(a.found), _contexts(a.sources)
                except Exception as err:  # one failed answer must not lose the others
                    row.error = _one_line(err)
                row.seconds = time.perf_counter() - t0
                rows.append(row)
                progress.advance(1, f"{engine}/{mode}")
    progress.finish()
    timings["answers"] = time.perf_counter() - started
    return rows


def run_evaluation(request: EvalRequest, hooks: Hooks, progress: Progress | None = None) -> EvalRun:
    progress = progress or _Silent()
    now = datetime.now(UTC)
    timings: dict[str, float] = {}
    rows = answer_rows(request, hooks, progress, timings)

    t0 = time.perf_counter()
    score_retrieval(rows)
    score_answerability(rows)
    timings["retrieval"] = time.perf_counter() - t0

    progress.message("Scoring with the non-LLM metrics (RAGAS: ROUGE, BLEU, chrF, string similarity, …)")
    from eval.ragas_env import import_ragas

    t0 = time.perf_counter()
    import_ragas()
    timings["ragas_import"] = time.perf_counter() - t0
    from eval.metrics_classic import score_classic

    t0 = time.perf_counter()
    score_classic(rows)
    timings["classic"] = time.perf_counter() - t0

    style_info = _style(rows, hooks, progress, timings)
    classification = _classification(rows, request)
    judge_info = _judge(rows, request, progress, timings)

    summary = aggregate(rows, request.engines, request.modes, request.unreliable_above, classification)
    run_notes = notes(summary, request.unreliable_above)
    if judge_info.get("note"):
        run_notes.insert(0, judge_info["note"])
    if style_info.get("note"):
        run_notes.append(style_info["note"])
    failed = [r for r in rows if r.error]
    if failed:
        run_notes.insert(0, f"{len(failed)} of {len(rows)} answers could not be produced (first: {failed[0].error}); "
                            "their metrics are counted as failures.")
    return EvalRun(
        id=new_report_id(request, now), created=now.isoformat(timespec="seconds"), request=request, rows=rows,
        summary=summary, classification=classification, style=style_info, judge=judge_info, notes=run_notes,
        timings=timings,
    )


def _style(rows: list[Row], hooks: Hooks, progress: Progress, timings: dict[str, float]) -> dict[str, Any]:
    from eval.generic_corpus import GENERIC_TEXTS
    from eval.style import fit_style, score_style

    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    model = None
    if hooks.embed is None or hooks.style_texts is None:
        info["note"] = "house_style was not scored (turned off, or no embedder and index to learn it from)."
    else:
        progress.message("Learning the house style from the index (tone guide, marketing, case studies, won bids)")
        house, generic_corpus = hooks.style_texts()
        fitted = fit_style(house, [*generic_corpus, *GENERIC_TEXTS], hooks.style_embed or hooks.embed)
        if isinstance(fitted, str):
            info["note"] = f"house_style was not scored: {fitted}."
        else:
            model = fitted
            info["calibration"] = fitted.calibration
            if fitted.calibration["heldout_auc"] < 0.75:
                info["note"] = (f"house_style separates held-out house from generic text poorly (AUC "
                                f"{fitted.calibration['heldout_auc']:.2f}); read its scores with care.")
    score_style(rows, model, hooks.embed, info.get("note", ""))
    timings["style"] = time.perf_counter() - t0
    return info


def _classification(rows: list[Row], request: EvalRequest) -> dict[str, dict[str, Any]]:
    labels = label_set(rows)
    if not labels:
        return {}
    score_classification(rows, labels)
    out: dict[str, dict[str, Any]] = {}
    for engine in request.engines:
        for mode in request.modes:
            block = summarize_classification([r for r in rows if r.engine == engine and r.mode == mode], labels)
            if block:
                out.setdefault(engine, {})[mode] = block
    return out


def _judge(rows: list[Row], request: EvalRequest, progress: Progress, timings: dict[str, float]) -> dict[str, Any]:
    from eval.metrics_ragas import JUDGE_METRICS, score_judged

    spec = request.judge
    wanted = request.judge_metrics or list(JUDGE_METRICS)
    if spec.kind == "none" or spec.backend is None:
        return {"status": "none", "note": "No judge (--judge none): the LLM-judged RAGAS metrics were not run."}
    progress.message(f"Checking the judge ({spec.kind}: {spec.url or spec.model})")
    problem = probe(spec)
    if problem:
        for row in rows:
            for name in wanted:
                row.skip(name, "judge unreachable")
        return {"status": "unreachable", "error": problem,
                "note": f"The judge could not be used ({problem}); only the non-LLM metrics were scored."}
    stats = JudgeStats(before_call=getattr(progress, "check_cancelled", None))
    progress.message(f"Scoring with the judge: {', '.join(wanted)} (slow with a small local model)")
    progress.start(len(rows) * len(wanted), "Judging")
    t0 = time.perf_counter()
    score_judged(rows, spec, stats, wanted, progress=progress.advance)
    progress.finish()
    timings["judge"] = time.perf_counter() - t0
    per_metric = {}
    for name in wanted:
        scored = sum(1 for r in rows if name in r.scores)
        failed = sum(1 for r in rows if name in r.failures)
        per_metric[name] = {"scored": scored, "failed": failed,
                            "failure_share": round(failed / (scored + failed), 4) if scored + failed else None}
    return {"status": "ok", "metrics": per_metric, "calls": stats.to_json()}
