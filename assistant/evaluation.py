"""Evaluation as a service: the same questions through every engine × mode, scored, written as a report.

Thin over `eval/` (which knows nothing of the assistant): this module turns an Components into
the runner's hooks (answer, retrieve, embed, house-style texts) and the judge, then writes the report.
`assistant eval`, the web app's Reports job and bench/eval.py all call `run_eval`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.components import Components, Viewer
from assistant.config import EvalSettings, LLMSettings, Settings
from eval.gate import DEFAULT_METRIC, check_gate_metric, evaluate_gate, write_gate_file
from eval.judge import JudgeSpec
from eval.metrics_ragas import JUDGE_METRICS
from eval.model import MODES
from eval.questions import EvalInputError, file_sha256, load_questions

HOUSE_DOC_TYPES = ["tone_guide", "marketing", "case_study"]
# The judge endpoint's context is unknown; a large figure leaves the limit to the server instead of
# refusing RAGAS's long prompts on our side (OpenAIBackend checks the prompt against it).
JUDGE_CONTEXT = 131072
JUDGE_KEY_ENV = "EVAL_JUDGE_API_KEY"  # the API key sent to a --judge URL, if it needs one


@dataclass
class EvalOptions:
    questions: Path
    engines: list[str] = field(default_factory=lambda: ["base"])
    modes: list[str] = field(default_factory=lambda: ["rag", "norag"])
    # The judge's fields: None = the settings' eval.* value (see with_settings).
    judge: str | None = None  # none | local | an http(s) URL
    judge_model: str | None = None
    judge_max_tokens: int | None = None
    judge_timeout: float | None = None
    judge_retries: int | None = None
    judge_metrics: list[str] | None = None
    unreliable_above: float | None = None
    limit: int | None = None
    top_k: int | None = None
    out: Path | None = None
    style: bool = True  # the house-style score (embeds the house texts once, then cached)
    gate: str | None = None
    against: str | None = None
    gate_metric: str = DEFAULT_METRIC
    min_delta: float = 0.0
    viewer: Viewer = field(default_factory=Viewer)  # whose groups retrieval runs with (default: unrestricted)

    def with_settings(self, settings: EvalSettings) -> EvalOptions:
        """The judge fields left unset, taken from the settings' eval section."""
        filled = {name: getattr(settings, name) for name in _FROM_SETTINGS if getattr(self, name) is None}
        if self.judge is not None and self.judge != settings.judge and self.judge_model is None:
            filled.pop("judge_model", None)  # the configured model belongs to the configured judge
        return replace(self, **filled)


_FROM_SETTINGS = ("judge", "judge_model", "judge_max_tokens", "judge_timeout", "judge_retries",
                  "unreliable_above")


def check_options(opts: EvalOptions) -> None:
    """Everything that can be refused before a model loads (judge fields filled: see with_settings)."""
    bad = [m for m in opts.modes if m not in MODES]
    if bad or not opts.modes:
        raise EvalInputError(f"--modes: unknown mode(s) {', '.join(bad) or '(none)'}; use rag, norag or both")
    if not opts.engines:
        raise EvalInputError("--engines: name at least one engine, e.g. --engines base,company")
    if opts.judge not in ("none", "local") and not opts.judge.startswith(("http://", "https://")):
        raise EvalInputError(f"--judge {opts.judge!r}: use none, local or the URL of an OpenAI-compatible server")
    if opts.judge.startswith("http") and not opts.judge_model:
        raise EvalInputError("--judge URL needs --judge-model (the model name the server serves)")
    unknown = [m for m in opts.judge_metrics or [] if m not in JUDGE_METRICS]
    if unknown:
        raise EvalInputError(f"--judge-metrics: unknown {', '.join(unknown)}; choose from {', '.join(JUDGE_METRICS)}")
    if not 0.0 <= opts.unreliable_above <= 1.0:
        raise EvalInputError("--unreliable-above must lie between 0 and 1")
    if (opts.gate is None) != (opts.against is None):
        raise EvalInputError("--gate CANDIDATE and --against BASELINE go together")
    if opts.gate is not None:
        check_gate_metric(opts.gate_metric, opts.modes, opts.judge != "none")
        if opts.gate == opts.against:
            raise EvalInputError("--gate and --against name the same engine")


def questions_summary(path: Path, preview: int = 5) -> dict[str, Any]:
    """What a questions file holds, read by the very reader a run uses (`load_questions`, every line checked):
    how many questions, answerable / unanswerable / unmarked, with a reference, and the first `preview` rows.
    Raises EvalInputError naming FILE:LINE of the first broken line."""
    questions = load_questions(path)
    answerable = sum(q.answerable is True for q in questions)
    unanswerable = sum(q.answerable is False for q in questions)
    return {"path": str(path), "questions": len(questions), "answerable": answerable, "unanswerable": unanswerable,
            "unmarked": len(questions) - answerable - unanswerable,
            "with_reference": sum(q.reference is not None for q in questions),
            "preview": [q.to_json() for q in questions[:preview]]}


def gate_metrics(modes: list[str], judge: bool) -> list[str]:
    """The metrics a gate may decide on in a run of these modes, with or without a judge (`check_gate_metric`)."""
    from eval.catalog import METRICS

    usable = []
    for name in METRICS:
        try:
            check_gate_metric(name, modes, judge)
        except EvalInputError:
            continue
        usable.append(name)
    return usable


def _judge_spec(opts: EvalOptions, svc: Components) -> JudgeSpec:
    if opts.judge == "none":
        return JudgeSpec("none")
    embeddings = svc.indexer.embed_model
    if opts.judge == "local":
        name = opts.judge_model or "base"
        return JudgeSpec("local", svc.engine(name), model=name, max_new_tokens=opts.judge_max_tokens,
                         timeout_s=opts.judge_timeout, retries=opts.judge_retries, workers=1, embeddings=embeddings)
    from assistant.llm.openai_backend import OpenAIBackend

    settings = LLMSettings(
        # Its own key (never llm.api_key: the judge may be another organisation's server).
        model=opts.judge_model or "", api_base=opts.judge, api_key=os.environ.get(JUDGE_KEY_ENV) or None,
        max_new_tokens=opts.judge_max_tokens, temperature=0.0, timeout_s=opts.judge_timeout,
        max_retries=0,  # retries are counted by the evaluation (--judge-retries), not hidden in the client
        frequency_penalty=0.0,  # JSON repeats braces and quotes: no penalty on repeated tokens
        context_window=JUDGE_CONTEXT,
    )
    backend = OpenAIBackend(settings, model=opts.judge_model, name=f"judge:{opts.judge_model}")
    return JudgeSpec("url", backend, model=opts.judge_model, url=opts.judge, max_new_tokens=opts.judge_max_tokens,
                     timeout_s=opts.judge_timeout, retries=opts.judge_retries, workers=4, embeddings=embeddings)


def _style_texts(svc: Components) -> tuple[list[str], list[str]]:
    """House texts (tone guide, marketing, case studies, won bids) and in-corpus generic ones (lost bids)."""
    collection = svc.indexer.collection

    def fetch(where: dict[str, Any]) -> list[str]:
        try:
            return [d for d in collection.get(where=where, include=["documents"]).get("documents") or [] if d]
        except Exception:  # an empty or older index without these keys: no texts, the score is skipped
            return []

    house = fetch({"doc_type": {"$in": HOUSE_DOC_TYPES}})
    house += fetch({"$and": [{"doc_type": "bid"}, {"outcome": "won"}]})
    generic = fetch({"$and": [{"doc_type": "bid"}, {"outcome": "lost"}]})
    return house, generic


def _corpus_sha256(svc: Components) -> str | None:
    try:
        records = svc.sources()
    except Exception:
        return None
    digest = hashlib.sha256()
    for r in sorted(records, key=lambda r: r.source):
        digest.update(f"{r.source}\0{r.sha256}\n".encode())
    return digest.hexdigest()


def run_eval(svc: Components, opts: EvalOptions, progress: Any = None) -> tuple[Any, Path]:
    """Run one evaluation and write its report; (EvalRun, report folder). Raises EvalInputError or the
    service's user errors (unknown engine, ...) before anything is answered."""
    import numpy as np

    from eval.report import write_report
    from eval.runner import EvalRequest, Hooks, run_evaluation

    opts = opts.with_settings(svc.settings.eval)
    check_options(opts)
    engines = list(dict.fromkeys([*opts.engines, *(e for e in (opts.against, opts.gate) if e)]))
    questions = load_questions(opts.questions, opts.limit)
    versions = {name: svc.engine(name).name for name in engines}  # an unknown engine fails here, before any work
    judge = _judge_spec(opts, svc)
    top_k = opts.top_k or svc.settings.retrieval.top_k
    settings = {
        "engines": versions,
        "questions_file": str(opts.questions),
        "questions_sha256": file_sha256(opts.questions),
        "corpus_sha256": _corpus_sha256(svc),
        "top_k": top_k,
        "max_new_tokens": svc.settings.llm.max_new_tokens,
        "llm": svc.settings.llm.model,
        "home": str(svc.paths.home),
        "retrieved_as": _viewer_label(opts.viewer),
    }
    request = EvalRequest(questions, engines, list(opts.modes), judge, opts.judge_metrics, opts.unreliable_above,
                          settings)

    def answer(question: str, engine: str, use_rag: bool) -> Any:
        return svc.ask([question], engine, use_rag=use_rag, top_k=top_k, viewer=opts.viewer)[0]

    def embed(texts: list[str]) -> Any:
        return np.asarray(svc.indexer.embed_model.get_text_embedding_batch(texts), dtype=float)

    from eval.embed_cache import CachedEmbed

    style_cache = CachedEmbed(embed, svc.paths.reports / ".cache" / "style-embeddings.npz",
                              svc.settings.indexing.embedder)
    hooks = Hooks(answer=answer, retrieve=lambda qs: svc.retrieve(qs, top_k, viewer=opts.viewer), embed=embed,
                  style_texts=(lambda: _style_texts(svc)) if opts.style else None, style_embed=style_cache)
    run = run_evaluation(request, hooks, progress)
    if opts.gate and opts.against:
        run.gate = evaluate_gate(run.summary, opts.gate, opts.against, opts.gate_metric, opts.min_delta, opts.modes)
        run.gate["report"] = run.id
        run.gate["candidate_version"] = versions[opts.gate]
        run.gate["baseline_version"] = versions[opts.against]
        run.gate["questions_sha256"] = settings["questions_sha256"]
    report = write_report(run, opts.out or svc.paths.reports)
    if run.gate is not None:
        folder = _version_folder(svc.settings, versions[opts.gate])  # type: ignore[index]
        if folder is not None:
            run.gate["gate_file"] = str(write_gate_file(folder, {**run.gate, "report_path": str(report)}))
    return run, report


def _viewer_label(viewer: Viewer) -> str:
    if viewer.groups is None:
        return "unrestricted (command line, no --user)"
    return f"{viewer.name or 'user'} (groups: {', '.join(viewer.groups) or 'none'})"


def _version_folder(settings: Settings, ref: str) -> Path | None:
    """The folder of a registered engine version ("NAME@N"), served locally or by a remote server alike (the
    gate is recorded where promotion reads it); None for base or a model name that is no registered engine."""
    if "@" not in ref:
        return None
    from assistant.engines import EngineError, EngineRegistry

    try:
        return EngineRegistry(settings.paths.engines).record(ref).folder
    except EngineError:
        return None
