"""`assistant datagen`, `assistant train` and `assistant engines`: thin commands over `assistant.training`
(the `run_*` functions the web app's jobs call too) and the engine registry.

This module does not import assistant.cli (which adds these apps): its few helpers are repeated here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from assistant.cli_common import HomeOpt, JsonOpt, emit_json, err_console, fail
from assistant.config import ConfigError, load_settings
from assistant.llm.base import LLMUnavailable
from assistant.services import AssistantService, InputError
from assistant.training import engine_summary, run_datagen, run_export, run_train
from finetune.errors import FinetuneError
from indexing.embedding import ModelUnavailable
from indexing.metadata import MetadataError, parse_key_values
from indexing.store import StoreUnavailable

USER_ERRORS = (
    FinetuneError, ConfigError, LLMUnavailable, InputError, MetadataError, StoreUnavailable, ModelUnavailable,
)

datagen_app = typer.Typer(help="Training sets from the index: SFT pairs (RAFT-style) and DPO pairs (won vs lost bids).",
                          no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
train_app = typer.Typer(help="Train an engine version: TRL SFT or DPO with a LoRA adapter on the engine's base.",
                        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
engines_app = typer.Typer(help="The engine registry: list, show, remove, export merged.",
                          add_completion=False, pretty_exceptions_enable=False)



def say(text: str, quiet: bool = False) -> None:
    if not quiet:
        err_console.print(text, highlight=False, soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """A user's mistake is one line on stderr and exit 2, never a traceback."""
    try:
        yield
    except USER_ERRORS as err:
        fail(str(err))


def parse_groups(values: list[str] | None) -> list[str]:
    return sorted({g.strip().lower() for v in values or [] for g in v.split(",") if g.strip()})


WhereOpt = Annotated[
    list[str] | None, typer.Option("--where", help="Only sources whose metadata has K=V (repeatable).")
]
GroupsOpt = Annotated[
    list[str] | None,
    typer.Option("--groups", help="Restricted groups whose sources may enter the set (comma-separated or repeated); "
                 "without it, restricted sources are left out."),
]
OutOpt = Annotated[
    str | None, typer.Option("--out", help="Output: a NAME (HOME/datasets/NAME.jsonl) or a path; default KIND.jsonl.")
]
EvalOpt = Annotated[
    Path | None,
    typer.Option("--eval-questions", help="Eval questions JSONL whose questions must not be training prompts "
                 "(default: the demo questions file)."),
]
ValOpt = Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.5, help="Share of questions held out.")]
RedactOpt = Annotated[
    list[str] | None, typer.Option("--redact", help="Extra regular expression to redact (repeatable).")
]
MaxTokOpt = Annotated[
    int | None, typer.Option("--max-tokens", min=16, help="Drop rows longer than this (default: the engine's context).")
]
ContextOpt = Annotated[bool, typer.Option("--context/--no-context", help="Put retrieved passages in the prompt.")]
DistractorsOpt = Annotated[int, typer.Option("--distractors", min=0, max=20, help="Retrieved passages per prompt.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the split and of the RAFT choices.")]


def _report_datagen(result: Any, as_json: bool) -> None:
    doc = result.to_json()
    if as_json:
        emit_json(doc)
        return
    say(f"wrote {doc['rows']} rows to {doc['out']}"
        + (f" and {doc['validation_rows']} to {doc['validation_out']}" if doc["validation_out"] else ""))
    if doc["tokens"]:
        t = doc["tokens"]
        say(f"tokens: {t['total']} in all, {t['min']} to {t['max']} a row (mean {t['mean']})")
    for item in doc["skipped"]:
        say(f"[yellow]skipped[/yellow] {item['count']}: {item['reason']}")
    if doc["redacted"]:
        say("redacted: " + ", ".join(f"{n} {k}" for k, n in doc["redacted"].items()))
    for item in doc.get("unpaired", []):
        say(f"[dim]no pair[/dim] {item.get('itt')}: {item.get('question') or item.get('source')} ({item['reason']})")


@datagen_app.command("sft")
def datagen_sft(
    out: OutOpt = None,
    where: WhereOpt = None,
    groups: GroupsOpt = None,
    context: ContextOpt = True,
    distractors: DistractorsOpt = 3,
    no_gold_fraction: Annotated[
        float, typer.Option("--no-gold-fraction", "--no-context-fraction", min=0.0, max=1.0,
                            help="Share of examples whose context lacks the gold passage (RAFT).")
    ] = 0.2,
    cite: Annotated[bool, typer.Option("--cite/--no-cite", help="End answers with the gold passage numbers.")] = True,
    question_engine: Annotated[
        str | None,
        typer.Option("--question-engine", help="Engine that writes a question for passages without a tender "
                     "question (default: a question built from the heading and title)."),
    ] = None,
    lost_bids: Annotated[bool, typer.Option("--lost-bids", help="Also use lost bids as golden answers.")] = False,
    fit_tokens: Annotated[
        int, typer.Option("--fit-tokens", min=0, help="Drop distractors from rows longer than this many tokens "
                          "(default 1024, training's default max length; 0 = never).")
    ] = 1024,
    eval_questions: EvalOpt = None,
    val_fraction: ValOpt = 0.1,
    redact: RedactOpt = None,
    max_tokens: MaxTokOpt = None,
    seed: SeedOpt = 0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """SFT pairs: golden document text as answers, tender questions or templates as prompts, RAFT context."""
    from assistant.cli import RichProgress  # at call time: assistant.cli imports this module
    from finetune.datagen_sft import SFTOptions

    with user_errors():
        svc = AssistantService(load_settings(home), RichProgress(as_json))
        options = SFTOptions(where=parse_key_values(where, "--where") or None, groups=parse_groups(groups),
                             context=context, distractors=distractors, no_gold_fraction=no_gold_fraction, cite=cite,
                             include_lost_bids=lost_bids, seed=seed)
        result = run_datagen(svc, "sft", options, out, eval_questions, val_fraction, redact, max_tokens,
                             question_engine, seed, fit_tokens)
    _report_datagen(result, as_json)


@datagen_app.command("dpo")
def datagen_dpo(
    out: OutOpt = None,
    where: WhereOpt = None,
    groups: GroupsOpt = None,
    context: ContextOpt = True,
    distractors: DistractorsOpt = 3,
    summaries: Annotated[
        bool, typer.Option("--summaries/--no-summaries", help="Also pair the bids' summaries.")
    ] = True,
    eval_questions: EvalOpt = None,
    val_fraction: ValOpt = 0.1,
    redact: RedactOpt = None,
    max_tokens: MaxTokOpt = None,
    seed: SeedOpt = 0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """DPO pairs: for each tender question answered by a won and a lost bid, chosen = won, rejected = lost."""
    from assistant.cli import RichProgress
    from finetune.datagen_dpo import DPOOptions

    with user_errors():
        svc = AssistantService(load_settings(home), RichProgress(as_json))
        options = DPOOptions(where=parse_key_values(where, "--where") or None, groups=parse_groups(groups),
                             context=context, distractors=distractors, summaries=summaries)
        result = run_datagen(svc, "dpo", options, out, eval_questions, val_fraction, redact, max_tokens, None, seed)
    _report_datagen(result, as_json)


# -- training --------------------------------------------------------------------------------------------
class RichTrainProgress:
    """finetune's TrainProgress as a rich bar on stderr: steps, latest loss (and eval loss), time left."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        self.label = label
        self.quiet = quiet
        self._bar: Any = None
        self._task: Any = None

    def start(self, total_steps: int, first_step: int) -> None:
        if self.quiet:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=err_console,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=total_steps, completed=first_step, loss="")

    def update(self, step: int, metrics: dict[str, float]) -> None:
        if self._bar is None:
            return
        shown = "  ".join(f"{k.replace('rewards/', '')} {v:.4f}" for k, v in metrics.items())
        self._bar.update(self._task, completed=step, loss=shown)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _train(kind: str, data: Path, engine: str, from_engine: str | None, recipe: Path | None, resume: bool,
           val: Path | None, home: Path | None, as_json: bool, overrides: dict[str, Any]) -> None:
    with user_errors():
        settings = load_settings(home)
        progress = RichTrainProgress(f"{kind.upper()} {engine}", quiet=False)
        doc = run_train(settings, kind, data, engine, from_engine, recipe, overrides, resume, val, progress,
                        notify=lambda text: say(f"[dim]{text}[/dim]"))
    from finetune.train import is_main_process

    if not is_main_process():
        return
    if as_json:
        emit_json(doc)
        return
    m = doc["metrics"]
    loss = f"loss {m.get('first_loss')} -> {m.get('train_loss')}"
    best = f", best eval loss {m['best_eval_loss']} at step {m.get('best_step')}" if "best_eval_loss" in m else ""
    say(f"registered {doc['ref']} (parent {doc['parent'] or 'none'}): {m['steps']} steps, {loss}{best}, "
        f"{doc['seconds']:.1f} s")


DataOpt = Annotated[
    Path, typer.Option("--data", help="Training JSONL (its .val.jsonl beside it is the validation set).")
]
EngineOpt = Annotated[str, typer.Option("--engine", help="Name of the engine to train a new version of.")]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="Continue from this engine (NAME or NAME@N): its chain is the base.")
]
RecipeOpt = Annotated[Path | None, typer.Option("--recipe", help="YAML recipe of training fields (see finetune).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the interrupted run from its last checkpoint.")]
ValFileOpt = Annotated[Path | None, typer.Option("--val", help="Validation JSONL (default: DATA's .val.jsonl).")]
EpochsOpt = Annotated[float | None, typer.Option("--epochs", min=0.01, help="Passes over the data.")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate (default 2e-4 SFT, 2e-5 DPO).")]
RankOpt = Annotated[int | None, typer.Option("--lora-r", min=1, help="LoRA rank (default 16).")]
StepsOpt = Annotated[int | None, typer.Option("--max-steps", min=1, help="Stop after N optimizer steps.")]
EvalStepsOpt = Annotated[int | None, typer.Option("--eval-steps", min=1, help="Evaluate every N steps.")]
SaveStepsOpt = Annotated[int | None, typer.Option("--save-steps", min=1, help="Checkpoint every N steps.")]
PatienceOpt = Annotated[
    int | None, typer.Option("--early-stopping-patience", min=0, help="Evaluations without improvement; 0 = off.")
]
FreezeOpt = Annotated[int | None, typer.Option("--freeze-layers", min=0, help="No adapter on the lowest N layers.")]
BatchOpt = Annotated[
    int | None, typer.Option("--batch-size", min=1, help="Rows per device and pass (default: 1 x4 accumulated on "
                             "a CPU, 16 packed on a GPU).")
]
MaxLenOpt = Annotated[int | None, typer.Option("--max-length", min=16, help="Tokens per sequence (default 1024).")]
ModeOpt = Annotated[
    str | None, typer.Option("--mode", help="With --from: 'stack' a new adapter (default) or 'continue' its adapter.")
]


@train_app.command("sft")
def train_sft(
    data: DataOpt, engine: EngineOpt, from_engine: FromOpt = None, epochs: EpochsOpt = None, lr: LrOpt = None,
    lora_r: RankOpt = None, max_steps: StepsOpt = None, resume: ResumeOpt = False, recipe: RecipeOpt = None,
    eval_steps: EvalStepsOpt = None, save_steps: SaveStepsOpt = None, early_stopping_patience: PatienceOpt = None,
    freeze_layers: FreezeOpt = None, batch_size: BatchOpt = None, max_length: MaxLenOpt = None,
    packing: Annotated[
        bool | None, typer.Option("--packing/--no-packing", help="Pack rows (default: on a GPU).")
    ] = None,
    mode: ModeOpt = None, val: ValFileOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer + LoRA), loss on the assistant turns only."""
    _train("sft", data, engine, from_engine, recipe, resume, val, home, as_json, {
        "epochs": epochs, "learning_rate": lr, "lora_r": lora_r, "max_steps": max_steps, "eval_steps": eval_steps,
        "save_steps": save_steps, "early_stopping_patience": early_stopping_patience, "freeze_layers": freeze_layers,
        "batch_size": batch_size, "max_length": max_length, "packing": packing, "mode": mode,
    })


@train_app.command("dpo")
def train_dpo(
    data: DataOpt, engine: EngineOpt, from_engine: FromOpt = None, epochs: EpochsOpt = None, lr: LrOpt = None,
    lora_r: RankOpt = None, max_steps: StepsOpt = None, resume: ResumeOpt = False, recipe: RecipeOpt = None,
    eval_steps: EvalStepsOpt = None, save_steps: SaveStepsOpt = None, early_stopping_patience: PatienceOpt = None,
    freeze_layers: FreezeOpt = None, batch_size: BatchOpt = None, max_length: MaxLenOpt = None,
    beta: Annotated[float | None, typer.Option("--beta", min=0.0, help="DPO beta (default 0.1).")] = None,
    loss_type: Annotated[
        list[str] | None,
        typer.Option("--loss-type", help="TRL DPO loss type, repeatable to sum several (default sigmoid; e.g. "
                     "sigmoid_norm: per-token, for answers of different lengths; sft: NLL on the won answers)."),
    ] = None,
    mode: ModeOpt = None, val: ValFileOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Preference tuning (TRL DPOTrainer + LoRA); the reference is the --from engine (or the base)."""
    _train("dpo", data, engine, from_engine, recipe, resume, val, home, as_json, {
        "epochs": epochs, "learning_rate": lr, "lora_r": lora_r, "max_steps": max_steps, "eval_steps": eval_steps,
        "save_steps": save_steps, "early_stopping_patience": early_stopping_patience, "freeze_layers": freeze_layers,
        "batch_size": batch_size, "max_length": max_length, "beta": beta, "loss_type": loss_type, "mode": mode,
    })


# -- the engine registry ---------------------------------------------------------------------------------
@engines_app.callback(invoke_without_command=True)
def engines_main(ctx: typer.Context, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Without a subcommand: the same as `engines list`."""
    if ctx.invoked_subcommand is None:
        engines_list(all_versions=False, home=home, as_json=as_json)


@engines_app.command("list")
def engines_list(
    all_versions: Annotated[bool, typer.Option("--all", help="Every version, not just the latest.")] = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Registered engines (the latest version of each)."""
    from assistant.engines import EngineRegistry

    with user_errors():
        records = EngineRegistry(load_settings(home).paths.engines).list(all_versions=all_versions)
    docs = [engine_summary(r) for r in records]
    if as_json:
        emit_json(docs)
        return
    from rich.table import Table

    table = Table("engine", "parent", "base", "loss", "eval loss", "created")
    for d in docs:
        m = d["metrics"]
        table.add_row(f"{d['name']}@{d['version']}", d["parent"] or "", d["base"], str(m.get("train_loss", "")),
                      str(m.get("best_eval_loss", m.get("eval_loss", ""))), d["created"])
    Console().print(table)


@engines_app.command("show")
def engines_show(
    name: Annotated[str, typer.Argument(help="NAME (latest version) or NAME@N.")],
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """One engine version in full: its record, adapter chain and the other versions."""
    from assistant.engines import EngineRegistry

    with user_errors():
        registry = EngineRegistry(load_settings(home).paths.engines)
        resolved = registry.resolve(name)
        versions = [r.version for r in registry.list(all_versions=True) if r.name == resolved.record.name]
    doc = {**resolved.record.to_json(), "folder": str(resolved.record.folder),
           "chain": [r.ref for r in resolved.chain], "versions": versions}
    if as_json:
        emit_json(doc)
        return
    Console().print_json(json.dumps(doc, default=str))


@engines_app.command("remove")
def engines_remove(
    name: Annotated[str, typer.Argument(help="NAME (every version) or NAME@N (one version).")],
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Delete an engine's versions (refused while another engine is built on them)."""
    from assistant.engines import EngineRegistry, remove_engine

    with user_errors():
        removed = remove_engine(EngineRegistry(load_settings(home).paths.engines), name)
    if as_json:
        emit_json({"removed": removed})
    else:
        say("removed " + ", ".join(removed))


@engines_app.command("promote")
def engines_promote(
    name: Annotated[str, typer.Argument(help="NAME (its latest version) or NAME@N.")],
    force: Annotated[bool, typer.Option("--force", help="Promote without a passing evaluation gate.")] = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Offer a version to staff (chat, /v1/models); needs a passing `assistant eval --gate` unless --force."""
    from assistant.engines import EngineRegistry
    from assistant.promotion import promote

    with user_errors():
        record = promote(EngineRegistry(load_settings(home).paths.engines), name, force)
    if as_json:
        emit_json({"promoted": record.ref, "forced": force})
    else:
        say(f"promoted {record.ref}")


@engines_app.command("export")
def engines_export(
    name: Annotated[str, typer.Argument(help="NAME or NAME@N.")],
    merged: Annotated[Path, typer.Option("--merged", help="New folder for the merged Hugging Face model.")],
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Write base + adapter chain merged as a standalone model folder (AutoModelForCausalLM, vLLM)."""
    with user_errors():
        doc = run_export(load_settings(home), name, merged, lambda text: say(f"[dim]{text}[/dim]"))
    if as_json:
        emit_json(doc)
    else:
        say(f"wrote {doc['engine']} ({' + '.join(doc['chain'])} on {doc['base']}) to {doc['out']}")
