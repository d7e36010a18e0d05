"""Engines on the command line (`assistant.services.engines`): `engines list|show|remove|promote|export`,
`datagen sft|dpo` (training sets from the index), `datagen feedback` (from the chat's ratings) and
`train sft|dpo` (a new engine version).

The `train` options are not written here: `recipe_options` builds one per `finetune.recipes.TrainRecipe`
field that the kind exposes (`TRAIN_OPTIONS`), as the web form does from the same list.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import (
    HomeOpt,
    JsonOpt,
    QueueOpt,
    emit_json,
    new_app,
    parse_where,
    progress_work,
    say,
    services,
)
from assistant.cli.jobs import print_queued
from assistant.errors import InputError
from assistant.feedback_data import FeedbackRequest
from assistant.services import operator
from assistant.training import DatagenRequest, TrainRequest
from finetune.datagen_dpo import DPOOptions
from finetune.datagen_sft import SFTOptions
from finetune.recipes import RecipeField, recipe_fields

datagen_app = new_app("Training sets from the index: SFT pairs (RAFT-style) and DPO pairs (won vs lost bids).",
                      no_args_is_help=True)
train_app = new_app("Train an engine version: TRL SFT or DPO with a LoRA adapter on the engine's base.",
                    no_args_is_help=True)
engines_app = new_app("The engine registry: list, show, remove, export merged.")

# `engines list --json` keeps its contract (ARCHITECTURE.md); the service's rows
# carry more (ref, promoted, gate, hyperparameters), which the table shows.
LIST_KEYS = ("name", "version", "parent", "base", "metrics", "created")


# -- training sets ---------------------------------------------------------------------------------------
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


def parse_groups(values: list[str] | None) -> list[str]:
    return sorted({g.strip().lower() for v in values or [] for g in v.split(",") if g.strip()})


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
    queue: QueueOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """SFT pairs: golden document text as answers, tender questions or templates as prompts, RAFT context."""
    options = SFTOptions(where=parse_where(where), groups=parse_groups(groups), context=context,
                         distractors=distractors, no_gold_fraction=no_gold_fraction, cite=cite,
                         include_lost_bids=lost_bids, seed=seed)
    request = DatagenRequest("sft", options, out, eval_questions, val_fraction, redact or [], max_tokens,
                             question_engine, seed, fit_tokens)
    _datagen(request, queue, home, as_json)


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
    queue: QueueOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """DPO pairs: for each tender question answered by a won and a lost bid, chosen = won, rejected = lost."""
    options = DPOOptions(where=parse_where(where), groups=parse_groups(groups), context=context,
                         distractors=distractors, summaries=summaries)
    request = DatagenRequest("dpo", options, out, eval_questions, val_fraction, redact or [], max_tokens, None, seed)
    _datagen(request, queue, home, as_json)


@datagen_app.command("feedback")
def datagen_feedback(
    groups: GroupsOpt = None,
    eval_questions: EvalOpt = None,
    val_fraction: ValOpt = 0.1,
    redact: RedactOpt = None,
    max_tokens: MaxTokOpt = None,
    seed: SeedOpt = 0,
    queue: QueueOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Learning from users: thumbs-up answers as SFT rows (HOME/datasets/feedback-sft.jsonl), thumbs-down answers
    with an evaluator's correction as DPO pairs, correction chosen (feedback-dpo.jsonl); train on either."""
    request = FeedbackRequest(parse_groups(groups), eval_questions, val_fraction, redact or [], max_tokens, seed)
    svc = services(home, quiet=as_json)
    if queue:
        print_queued(svc.engines.submit_datagen_feedback(operator(), request), as_json)
        return
    doc = svc.engines.datagen_feedback(operator(), request, progress_work(as_json))
    if as_json:
        emit_json(doc)
        return
    for kind in ("sft", "dpo"):
        part = doc[kind]
        if part["out"]:
            say(f"{kind.upper()}: wrote {part['rows']} rows to {part['out']}"
                + (f" and {part['validation_rows']} to {part['validation_out']}" if part["validation_out"] else ""))
        else:
            say(f"{kind.upper()}: no rows" + (f" ({part['error']})" if part.get("error") else ""))
    for item in doc["skipped"]:
        say(f"[yellow]skipped[/yellow] {item['count']}: {item['reason']}")


def _datagen(request: DatagenRequest, queue: bool, home: Path | None, as_json: bool) -> None:
    svc = services(home, quiet=as_json)
    if queue:
        print_queued(svc.engines.submit_datagen(operator(), request), as_json)
        return
    _report_datagen(svc.engines.datagen(operator(), request, progress_work(as_json)).to_json(), as_json)


def _report_datagen(doc: dict[str, Any], as_json: bool) -> None:
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


# -- training: the options come from TrainRecipe ---------------------------------------------------------
Command = TypeVar("Command", bound=Callable[..., Any])


def recipe_options(kind: str) -> Callable[[Command], Command]:
    """Put one option per TrainRecipe field that `kind` exposes in place of the command's `overrides`
    parameter, and pass the command their values as that dict (None: not given, the recipe decides).

    Typer reads a command's options from its signature, so the wrapper gets a signature with the fields'
    parameters instead of `overrides`; their values are checked by `finetune.recipes.build_recipe`, the
    same code the web form's values go through, so the options carry types but no bounds of their own."""
    fields = recipe_fields(kind)

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        params = list(signature.parameters.values())
        at = [p.name for p in params].index("overrides")
        params[at:at + 1] = [_option(field) for field in fields]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            overrides = {field.name: kwargs.pop(field.name) for field in fields}
            return command(**kwargs, overrides=overrides)

        run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run  # type: ignore[return-value]

    return decorate


def _option(field: RecipeField) -> inspect.Parameter:
    flag = f"{field.flag}/--no-{field.flag[2:]}" if field.type is bool else field.flag
    hint: Any = list[field.type] | None if field.multiple else field.type | None  # type: ignore[name-defined]
    option = typer.Option(flag, help=escape(option_help(field)))  # escaped: the [...] is text, not rich markup
    return inspect.Parameter(field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                             annotation=Annotated[hint, option])


def option_help(field: RecipeField) -> str:
    """The field's description, then what click would show for a typed option: [default: 16; x>=1]."""
    notes = []
    if field.default is not None:
        shown = ", ".join(map(str, field.default)) if isinstance(field.default, list) else str(field.default)
        notes.append(f"default: {shown}")
    if field.range_text():
        notes.append(field.range_text())
    if field.choices:
        notes.append("one of: " + ", ".join(field.choices))
    text = field.help + (" Repeatable." if field.multiple else "")
    return f"{text} [{'; '.join(notes)}]" if notes else text


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


@train_app.command("sft")
@recipe_options("sft")
def train_sft(
    data: DataOpt, engine: EngineOpt, from_engine: FromOpt = None, overrides: dict[str, Any] | None = None,
    resume: ResumeOpt = False, recipe: RecipeOpt = None, val: ValFileOpt = None, queue: QueueOpt = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer + LoRA), loss on the assistant turns only."""
    _train(TrainRequest("sft", data, engine, from_engine, recipe, overrides or {}, resume, val), queue, home,
           as_json)


@train_app.command("dpo")
@recipe_options("dpo")
def train_dpo(
    data: DataOpt, engine: EngineOpt, from_engine: FromOpt = None, overrides: dict[str, Any] | None = None,
    resume: ResumeOpt = False, recipe: RecipeOpt = None, val: ValFileOpt = None, queue: QueueOpt = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Preference tuning (TRL DPOTrainer + LoRA); the reference is the --from engine (or the base)."""
    _train(TrainRequest("dpo", data, engine, from_engine, recipe, overrides or {}, resume, val), queue, home,
           as_json)


def _train(request: TrainRequest, queue: bool, home: Path | None, as_json: bool) -> None:
    if queue:
        print_queued(services(home, quiet=as_json).engines.submit_train(operator(), request), as_json)
        return
    doc = services(home).engines.train(operator(), request, progress_work())
    if "ref" not in doc:  # another GPU's process under `accelerate launch`: rank 0 registers and reports
        return
    if as_json:
        emit_json(doc)
        return
    m = doc["metrics"]
    loss = f"loss {m.get('first_loss')} -> {m.get('train_loss')}"
    best = f", best eval loss {m['best_eval_loss']} at step {m.get('best_step')}" if "best_eval_loss" in m else ""
    say(f"registered {doc['ref']} (parent {doc['parent'] or 'none'}): {m['steps']} steps, {loss}{best}, "
        f"{doc['seconds']:.1f} s")


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
    rows = services(home, quiet=as_json).engines.list(operator(), all_versions=all_versions)
    if as_json:
        emit_json([{k: row[k] for k in LIST_KEYS} for row in rows])
        return
    table = Table("engine", "parent", "base", "loss", "eval loss", "promoted", "created")
    for d in rows:
        m = d["metrics"]
        table.add_row(d["ref"], d["parent"] or "", d["base"], str(m.get("train_loss", "")),
                      str(m.get("best_eval_loss", m.get("eval_loss", ""))), "yes" if d["promoted"] else "",
                      d["created"])
    Console().print(table)


@engines_app.command("show")
def engines_show(
    name: Annotated[str, typer.Argument(help="NAME (latest version) or NAME@N.")],
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """One engine version in full: its record, adapter chain and the other versions."""
    doc = services(home, quiet=as_json).engines.show(operator(), name)
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
    removed = services(home, quiet=as_json).engines.remove(operator(), name)
    if as_json:
        emit_json({"removed": removed})
    else:
        say("removed " + ", ".join(removed))


@engines_app.command("promote")
def engines_promote(
    name: Annotated[str, typer.Argument(help="NAME (its latest version) or NAME@N.")],
    force: Annotated[bool, typer.Option("--force", help="Promote without a passing evaluation gate.")] = False,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why it is forced: recorded in promoted.json and the audit log (blank is refused).")] = None,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Offer a version to staff (chat, /v1/models); needs a passing `assistant eval --gate` unless --force."""
    ref = services(home, quiet=as_json).engines.promote(operator(), name, force, reason)
    if as_json:
        doc: dict[str, Any] = {"promoted": ref, "forced": force}
        if reason is not None:
            doc["reason"] = " ".join(reason.split())
        emit_json(doc)
    else:
        say(f"promoted {ref}")


@engines_app.command("export")
def engines_export(
    name: Annotated[str, typer.Argument(help="NAME or NAME@N.")],
    merged: Annotated[Path | None, typer.Option(
        "--merged", help="New folder for the merged Hugging Face model.")] = None,
    adapter: Annotated[Path | None, typer.Option(
        "--adapter", help="New folder for the whole chain as ONE PEFT LoRA adapter (vLLM's runtime LoRA).")] = None,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Write base + adapter chain merged as a standalone model folder (--merged), or the chain as one adapter
    (--adapter)."""
    if (merged is None) == (adapter is None):
        raise InputError("engines export needs exactly one of --merged DIR or --adapter DIR")
    out = adapter if adapter is not None else merged
    doc = services(home).engines.export(operator(), name, out, progress_work(), adapter=adapter is not None)
    if as_json:
        emit_json(doc)
    else:
        kind = "as one adapter" if adapter is not None else "merged"
        say(f"wrote {doc['engine']} ({' + '.join(doc['chain'])} on {doc['base']}) {kind} to {doc['out']}")


def register(app: typer.Typer) -> None:
    app.add_typer(datagen_app, name="datagen")
    app.add_typer(train_app, name="train")
    app.add_typer(engines_app, name="engines")
