"""Fine-tuning on the application's parts: training sets from the index, engine training, merged export.

`assistant.services.engines` calls these (the CLI, the web app and the API through it), and so do
the benchmarks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.components import DEMO_QUESTIONS, Components, Viewer
from assistant.config import Settings
from assistant.work import Foreground, Work
from finetune.corpus import Chunk
from finetune.errors import FinetuneError


# -- data generation -------------------------------------------------------------------------------------
def index_chunks(svc: Components) -> list[Chunk]:
    """Every indexed chunk, as the keyword index holds it (the text the LLM sees, with its metadata)."""
    db = svc.indexer.docstore.connection
    rows = db.execute("SELECT c.id, c.source, c.text, c.metadata FROM chunks c ORDER BY c.source, c.id").fetchall()
    return [Chunk(cid, source, text, json.loads(meta)) for cid, source, text, meta in rows]


def retrieve_for(svc: Components) -> Callable[[list[str], int, list[str]], list[list[Chunk]]]:
    """finetune's Retrieve on the service: hybrid retrieval as a viewer of exactly the named groups."""

    def retrieve(queries: list[str], k: int, groups: list[str]) -> list[list[Chunk]]:
        ranked = svc.retrieve(queries, min(k, 200), None, Viewer(groups=list(groups)))
        return [[Chunk(c.id, c.source, c.text, dict(c.metadata)) for c in hits] for hits in ranked]

    return retrieve


def base_model_folder(settings: Settings, notify: Callable[[str], None] | None = None) -> Path:
    """The local folder of the engines' base model (the embedded one is converted on first use)."""
    from assistant.llm.embedded import resolve_llm_folder

    return resolve_llm_folder(settings.llm.model, settings.paths.models, notify)


def token_counter(settings: Settings, notify: Callable[[str], None]) -> tuple[Any, int | None]:
    """(count_tokens, the engine's context window) from the base tokenizer; (None, None) if there is none here."""
    from finetune.validate import TokenCounter

    folder: Path | None
    if settings.llm.api_base and not settings.llm.tokenizer:
        notify("llm.api_base is set and llm.tokenizer is not: token lengths are not checked")
        return None, None
    folder = Path(settings.llm.tokenizer) if settings.llm.api_base else base_model_folder(settings, notify)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    own = None
    config = folder / "config.json"
    if config.is_file():
        own = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    window = settings.llm.context_window or own
    if own and window:
        window = min(window, own)
    return TokenCounter(tokenizer), window


@dataclass
class DatagenRequest:
    """One training set to generate. `options` is finetune's SFTOptions or DPOOptions."""

    kind: str
    options: Any
    out: str | None = None
    eval_questions: Path | None = None
    val_fraction: float = 0.1
    redact: list[str] = field(default_factory=list)
    max_tokens: int | None = None
    question_engine: str | None = None
    seed: int = 0
    fit_tokens: int | None = 1024


@dataclass
class TrainRequest:
    """One new engine version to train. `overrides` are TrainRecipe fields (None = the recipe's value)."""

    kind: str
    data: Path
    engine: str
    from_engine: str | None = None
    recipe_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    val: Path | None = None


def run_datagen(svc: Components, request: DatagenRequest, work: Work | None = None) -> Any:
    """Generate, redact, validate, split and write one training set; returns a finetune DatagenResult."""
    from assistant.chat import NO_RAG_SYSTEM_PROMPT, SYSTEM_PROMPT
    from finetune.datagen import finish
    from finetune.datagen_dpo import build_dpo
    from finetune.datagen_sft import build_sft
    from finetune.prompts import PromptStyle, engine_question
    from finetune.redact import Redactor
    from finetune.store import resolve_out
    from finetune.validate import load_eval_questions

    work = work or Foreground()
    notify = work.message
    kind, options, seed = request.kind, request.options, request.seed
    svc.check_filter_keys(options.where)
    redactor = Redactor(request.redact)  # a bad pattern fails before any work
    questions_file = request.eval_questions or (DEMO_QUESTIONS if DEMO_QUESTIONS.is_file() else None)
    leak_questions = load_eval_questions(questions_file) if questions_file else []
    chunks = index_chunks(svc)
    if not chunks:
        raise FinetuneError(f"the index in {svc.paths.index} is empty: index documents first (`assistant index`)")
    style = PromptStyle(rag_system=SYSTEM_PROMPT, plain_system=NO_RAG_SYSTEM_PROMPT)
    retrieve = retrieve_for(svc)
    notify(f"Generating {kind.upper()} examples from {len(chunks)} chunks")
    count, window = token_counter(svc.settings, notify)
    limit = request.max_tokens or window
    fit_tokens = request.fit_tokens
    if kind == "sft":
        writer = None
        if request.question_engine:
            engine = svc.engine(request.question_engine)
            writer = lambda section: engine_question(lambda m: engine.generate(m, 48), section.text)  # noqa: E731
        fit = (count, min(fit_tokens, limit or fit_tokens)) if count is not None and fit_tokens else None
        generated = build_sft(chunks, retrieve if options.context else None, options, style, writer, fit)
    else:
        generated = build_dpo(chunks, retrieve if options.context else None, options, style)
    target = resolve_out(request.out, svc.paths.datasets, kind)
    notes = {"eval_questions": str(questions_file) if questions_file else None, "max_tokens": limit}
    return finish(generated, target, redactor, count, limit, leak_questions, request.val_fraction, seed, notes)


def run_train(settings: Settings, request: TrainRequest, work: Work | None = None) -> dict[str, Any]:
    """Train a new version of ENGINE and register it; returns the `train` command's JSON document.

    The run folder HOME/engines/ENGINE/.runs/vN is fixed by the engine and its next version, so a rerun
    with `resume` finds the interrupted run's checkpoints."""
    from assistant.engines import EngineRecord, EngineRegistry, check_engine_name, publish_engine
    from finetune.recipes import build_recipe
    from finetune.train import TrainJob, is_main_process, read_run, run_training

    work = work or Foreground()
    notify = work.message
    kind, engine, from_engine, resume = request.kind, request.engine, request.from_engine, request.resume
    paths = settings.paths
    registry = EngineRegistry(paths.engines)
    check_engine_name(engine)
    data = request.data.expanduser().absolute()
    resolved = registry.resolve(from_engine) if from_engine else None
    base = resolved.record.base if resolved else settings.llm.model
    if settings.llm.api_base and resolved is None and not (Path(base).expanduser() / "config.json").is_file():
        raise FinetuneError(f"training needs the base model here, but llm.model {base!r} is served at "
                            f"{settings.llm.api_base}; set llm.model to 'embedded' or a local Hugging Face folder")
    version = registry.next_version(engine)
    run_dir = paths.engines / engine / ".runs" / f"v{version}"
    saved = read_run(run_dir) if resume else None
    recipe = build_recipe(request.recipe_file, request.overrides, saved["recipe"] if saved else None)
    parent: str | None = resolved.record.ref if resolved else None
    parents = resolved.adapters if resolved else []
    continue_adapter = None
    if recipe.mode == "continue":
        if resolved is None:
            raise FinetuneError("mode 'continue' trains an existing engine's adapter further: name it with --from")
        parents, continue_adapter = parents[:-1], parents[-1]
        parent = resolved.record.parent
    on_base = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": base})})
    base_folder = base_model_folder(on_base, notify)
    identity = {"engine": engine, "version": version, "kind": kind, "base": base, "parent": parent,
                "from": resolved.record.ref if resolved else None, "mode": recipe.mode}
    job = TrainJob(kind=kind, data=data, base_folder=base_folder, run_dir=run_dir, recipe=recipe, val=request.val,
                   parents=parents, continue_adapter=continue_adapter, resume=resume, identity=identity,
                   tracking_dir=paths.tracking / f"{engine}-v{version}")
    notify(f"Training {engine}@{version} ({kind.upper()}) on {base}"
           + (f", from {resolved.record.ref} ({recipe.mode})" if resolved else ""))
    result = run_training(job, StepProgress(work), work.record, lambda: work.cancelled, notify)
    if not is_main_process():  # another GPU's process under `accelerate launch`: rank 0 registers
        return {"engine": engine, "version": version, "metrics": result.metrics, "seconds": result.seconds}
    hyper = {**result.hyperparameters, "data": str(data), "validation": str(job.val) if job.val else None}
    if recipe.mode == "continue" and resolved is not None:
        hyper["continued_from"] = resolved.record.ref
    metrics = {**result.metrics, "seconds": result.seconds, "tokens_seen": result.tokens_seen}
    if result.resumed_from is not None:
        metrics["resumed_from_step"] = result.resumed_from
    record = EngineRecord(name=engine, version=version, parent=parent, base=base, data_sha256=result.data_sha256,
                          hyperparameters=hyper, metrics=metrics)
    publish_engine(paths.engines, result.adapter_dir, record)
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints and optimizer states are not needed any more
    return {"engine": engine, "version": version, "ref": record.ref, "parent": parent, "base": base,
            "metrics": metrics, "seconds": result.seconds}


class StepProgress:
    """finetune's TrainProgress (absolute steps) on a Work's progress (relative advances)."""

    def __init__(self, work: Work) -> None:
        self.work, self.step = work, 0

    def start(self, total_steps: int, first_step: int) -> None:
        self.step = first_step
        self.work.start(max(1, total_steps - first_step), "Training")

    def update(self, step: int, metrics: dict[str, float]) -> None:
        loss = metrics.get("loss")
        label = f"step {step}" + (f", loss {loss:.3f}" if isinstance(loss, int | float) else "")
        if step > self.step:
            self.work.advance(step - self.step, label)
            self.step = step

    def finish(self) -> None:
        self.work.finish()


def run_export(settings: Settings, ref: str, out: Path, notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Merge an engine's whole adapter chain into its base: a standalone Hugging Face folder (vLLM can serve it)."""
    from assistant.engines import EngineRegistry
    from assistant.llm.embedded import resolve_llm_folder
    from finetune.models import export_merged

    resolved = EngineRegistry(settings.paths.engines).resolve(ref)
    base_folder = resolve_llm_folder(resolved.record.base, settings.paths.models, notify)
    out = out.expanduser().absolute()
    try:
        export_merged(base_folder, resolved.adapters, out)
    except FileExistsError as err:
        raise FinetuneError(str(err)) from err
    return {"engine": resolved.record.ref, "out": str(out), "chain": [r.ref for r in resolved.chain],
            "base": resolved.record.base}


def run_export_adapter(settings: Settings, ref: str, out: Path,
                       notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """An engine's whole adapter chain as ONE PEFT LoRA adapter folder (ranks concatenated: exact), for a
    server that applies one adapter per request (vLLM's runtime LoRA)."""
    from assistant.engines import EngineError, EngineRegistry
    from assistant.llm.embedded import resolve_llm_folder
    from finetune.adapters import export_combined

    out = out.expanduser().absolute()
    if out.exists():
        raise FinetuneError(f"{out} already exists; choose a new folder for the adapter")
    if ref.strip() == "base":
        raise EngineError("the base model has no adapter to export; name an engine (see `assistant engines list`)")
    resolved = EngineRegistry(settings.paths.engines).resolve(ref)
    base_folder = resolve_llm_folder(resolved.record.base, settings.paths.models, notify)
    try:
        export_combined(base_folder, resolved.adapters, out)
    except FileExistsError as err:
        raise FinetuneError(str(err)) from err
    rank = sum(int(r.hyperparameters.get("lora_r", 0) or 0) for r in resolved.chain) or None
    return {"engine": resolved.record.ref, "out": str(out), "chain": [r.ref for r in resolved.chain],
            "base": resolved.record.base, "adapter": True, "rank": rank}
