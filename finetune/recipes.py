"""Training recipes: defaults that work on the embedded model on a CPU, overridden by a YAML recipe,
then by command-line options. A resumed run keeps the recipe it started with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finetune.errors import RecipeError

# What a resumed run may change: how long and how often, not what is being optimised.
RESUMABLE_CHANGES = frozenset(
    {"epochs", "max_steps", "eval_steps", "save_steps", "early_stopping_patience", "logging_steps", "save_total_limit"}
)
DpoLoss = Literal[
    "sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
    "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft",
]
LEARNING_RATES = {"sft": 2e-4, "dpo": 2e-5}  # DPO wants 5e-6 .. 5e-5 with LoRA (beta 0.1)


class TrainRecipe(BaseModel):
    """Every knob of a run. `None` means "pick for this kind and machine" (see `resolved`).

    Each field is declared once, here: its type, bounds and description are also the `train` command's
    options and the web form's fields (`TRAIN_OPTIONS`, `recipe_fields`)."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(1.0, gt=0, description="Passes over the data.")
    max_steps: int = Field(-1, ge=-1, description="Stop after N optimizer steps; overrides epochs when > 0.")
    learning_rate: float | None = Field(None, gt=0, lt=1, description="Learning rate (default 2e-4 SFT, 2e-5 DPO).")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="Learning-rate schedule."
    )
    warmup: float = Field(0.0, ge=0, description="Warm-up steps, or a share of all steps when < 1.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    lora_alpha: int | None = Field(None, ge=1, description="LoRA alpha (default 2 x lora_r).")
    lora_dropout: float = Field(
        0.0, ge=0, lt=1, description="LoRA dropout (PEFT's default 0; 0.05 cost ~10% speed on a CPU)."
    )
    target_modules: str | list[str] = Field("all-linear", description="Modules that get an adapter.")
    freeze_layers: int = Field(0, ge=0, description="No adapter on the lowest N transformer layers.")
    mode: Literal["stack", "continue"] = Field(
        "stack", description="With --from: 'stack' a new adapter on the frozen parent chain, or 'continue' "
        "training its adapter."
    )
    batch_size: int | None = Field(
        None, ge=1, description="Rows per device and pass (default: 1 on a CPU, 4 accumulated; 8 on a GPU, 2 "
        "accumulated)."
    )
    grad_accum: int | None = Field(
        None, ge=1, description="Passes accumulated per step (default 4 on a CPU, 2 on a GPU, when batch_size is "
        "not set; else 1)."
    )
    max_length: int = Field(1024, ge=16, description="Tokens per sequence (longer rows are left out).")
    packing: bool | None = Field(
        None, description="SFT: pack rows into max_length blocks, padding-free (best-fit); default on a GPU only."
    )
    assistant_only_loss: bool = Field(True, description="SFT: loss on the assistant turns only.")
    beta: float = Field(0.1, gt=0, description="DPO beta: the strength of the pull towards the reference.")
    loss_type: list[DpoLoss] = Field(
        default_factory=lambda: ["sigmoid"], min_length=1,
        description="DPO: TRL's loss types, summed (e.g. sigmoid_norm: per-token, for answers of different "
        "lengths; sft: NLL on the won answers).",
    )
    loss_weights: list[float] | None = Field(None, description="DPO: one weight per loss type (default 1 each).")
    eval_steps: int = Field(20, ge=1, description="Evaluate every N steps.")
    save_steps: int | None = Field(None, ge=1, description="Checkpoint every N steps (default: eval_steps).")
    early_stopping_patience: int = Field(3, ge=0, description="Evaluations without improvement; 0 = off.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept.")
    logging_steps: int = Field(1, ge=1, description="Log the loss every N steps.")
    seed: int = Field(42, description="Random seed of the run.")
    bf16: bool | None = Field(None, description="bf16 weights (default: where the GPU or CPU runs bf16 natively).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations: less memory, slower steps.")
    report_to: Literal["none", "tensorboard", "mlflow", "trackio"] = Field(
        "none", description="Experiment tracking, offline, into the run's tracking folder: TensorBoard event "
        "files, an MLflow file store or a local trackio project (each needs its package installed)."
    )

    @model_validator(mode="after")
    def _weights_match(self) -> TrainRecipe:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(f"loss_weights has {len(self.loss_weights)} weights for {len(self.loss_type)} loss types")
        return self

    def resolved(self, kind: str, gpu: bool, bf16_ok: bool = True) -> TrainRecipe:
        """Fill the `None`s for this kind of run and this machine.

        bf16 wherever the hardware runs it natively (finetune.train._gpu). On a GPU: packed,
        padding-free batches of 8 max_length blocks, 2 accumulated. Without a flash-attention kernel the
        batch is one flat sequence under a block mask, whose memory grows with its length squared: on an
        H100, 16 blocks of 1024 took 2x the memory of 8 (60 against 30 GB for a 1.7B model) for no speed
        gain that short runs could tell apart (finetune/README.md). On a CPU there is no varlen attention
        kernel: a packed or padding-free batch is one long sequence whose attention runs on a
        materialised block mask (measured: 5x the memory and slower than padding), so the CPU default
        is one row per forward pass, no padding and no mask at all, with 4 passes accumulated per step
        (the same effective batch of 4)."""
        default_batch = self.batch_size is None
        return self.model_copy(update={
            "learning_rate": self.learning_rate or LEARNING_RATES[kind],
            "lora_alpha": self.lora_alpha or 2 * self.lora_r,
            "batch_size": self.batch_size or (8 if gpu else 1),
            "grad_accum": self.grad_accum or ((2 if gpu else 4) if default_batch else 1),
            "packing": gpu if self.packing is None else self.packing,
            "save_steps": self.save_steps or self.eval_steps,
            "bf16": bf16_ok if self.bf16 is None else self.bf16,
        })


# -- the options each kind of run exposes ----------------------------------------------------------------
# The front ends build their inputs from this list (the `train sft|dpo` options, the web form's fields); the
# other fields are set in a --recipe YAML file. Validation is `build_recipe`'s, whoever calls it.
_SHARED_OPTIONS = ("epochs", "learning_rate", "lora_r", "lora_alpha", "max_steps", "eval_steps", "save_steps",
                   "early_stopping_patience", "freeze_layers", "batch_size", "max_length", "report_to")
TRAIN_OPTIONS: dict[str, tuple[str, ...]] = {
    "sft": (*_SHARED_OPTIONS, "packing", "mode"),
    "dpo": (*_SHARED_OPTIONS, "beta", "loss_type", "mode"),
}
# Command-line flags that are not simply --field-name (kept from before the recipe declared them).
_FLAGS = {"learning_rate": "--lr"}
_BOUNDS = ("ge", "gt", "le", "lt")


@dataclass(frozen=True)
class RecipeField:
    """One TrainRecipe field as a front end shows it: `type` is int, float, bool or str (a list field has
    `multiple`), `default` None means chosen per kind and machine, `bounds` maps ge/gt/le/lt to numbers."""

    name: str
    flag: str
    type: type
    default: Any
    help: str
    bounds: dict[str, float]
    choices: tuple[str, ...] | None = None
    multiple: bool = False

    def range_text(self) -> str:
        """The bounds as click prints a range: x>=1, x>0, 0<x<1, 1<=x<=1024; empty without bounds."""
        b = self.bounds
        low = f"{b['ge']}<=" if "ge" in b else f"{b['gt']}<" if "gt" in b else ""
        high = f"<={b['le']}" if "le" in b else f"<{b['lt']}" if "lt" in b else ""
        if low and not high:
            return f"x>={b['ge']}" if "ge" in b else f"x>{b['gt']}"
        return f"{low}x{high}" if low or high else ""


def recipe_fields(kind: str) -> list[RecipeField]:
    """The TrainRecipe fields a `kind` ("sft" or "dpo") run exposes, in order, described from the model."""
    return [_describe(name) for name in TRAIN_OPTIONS[kind]]


def _describe(name: str) -> RecipeField:
    info = TrainRecipe.model_fields[name]
    annotation, multiple = _strip(info.annotation)
    choices = tuple(get_args(annotation)) if get_origin(annotation) is Literal else None
    bounds = {k: getattr(m, k) for m in info.metadata for k in _BOUNDS if getattr(m, k, None) is not None}
    default = info.get_default(call_default_factory=True)
    return RecipeField(name=name, flag=_FLAGS.get(name, "--" + name.replace("_", "-")),
                       type=str if choices else annotation, default=default, help=info.description or "",
                       bounds=bounds, choices=choices, multiple=multiple)


def _strip(annotation: Any) -> tuple[Any, bool]:
    """(the scalar type, whether it is a list) of `X`, `X | None`, `list[X]` or `list[X] | None`."""
    args = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) in (
        Union, UnionType) else [annotation]
    if len(args) != 1:
        raise TypeError(f"a recipe option needs one type, not {annotation}")
    (scalar,) = args
    if get_origin(scalar) is list:
        return get_args(scalar)[0], True
    return scalar, False


def _problems(err: ValidationError, where: str) -> RecipeError:
    items = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(recipe)"
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
        items.append(f"{field}: {msg}")
    known = ", ".join(TrainRecipe.model_fields)
    return RecipeError(f"{where}: {'; '.join(items)} (known fields: {known})")


def load_recipe_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecipeError(f"{path}: no such recipe file") from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise RecipeError(f"{path}: not a readable YAML recipe ({' '.join(str(err).split())})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of fields (e.g. lora_r: 8), not {type(data).__name__}")
    try:
        TrainRecipe(**data)
    except ValidationError as err:
        raise _problems(err, str(path)) from err
    return data


def build_recipe(
    recipe_file: Path | None = None, overrides: dict[str, Any] | None = None, saved: dict[str, Any] | None = None,
) -> TrainRecipe:
    """defaults <- YAML recipe <- options; or, resuming, the saved recipe <- the options it may change."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if saved is not None:
        base = dict(saved)
        if recipe_file is not None:
            given = {**load_recipe_file(recipe_file), **given}
        changed = sorted(k for k, v in given.items() if k not in RESUMABLE_CHANGES and base.get(k) != v)
        if changed:
            raise RecipeError(
                f"--resume continues the run as it was started; {', '.join(changed)} differ from it "
                "(drop them, or start a new run without --resume)"
            )
        base.update(given)
        data = base
    else:
        data = {**(load_recipe_file(recipe_file) if recipe_file else {}), **given}
    try:
        return TrainRecipe(**data)
    except ValidationError as err:
        raise _problems(err, "training options") from err
