"""One training run: TRL SFTTrainer or DPOTrainer with a LoRA adapter, in a run folder that a later
`--resume` finds again.

The run folder (chosen by the caller, e.g. HOME/engines/NAME/.runs/vN) holds run.json (the data hash,
the recipe and what the run builds on), the Trainer's checkpoints and metrics.jsonl. On success the
best adapter is saved to RUN/final, ready to be published as an engine version; nothing is registered
here, so a failed run (bad data, NaN loss, out of memory) leaves the registry as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.errors import RecipeError, TrainingError
from finetune.recipes import TrainRecipe
from finetune.store import val_path
from finetune.validate import file_sha256, read_dataset

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
FINAL_DIR = "final"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class TrainingCancelled(TrainingError):
    """The caller's stop flag ended the run; its last checkpoint can be resumed."""


@dataclass
class TrainJob:
    kind: str  # "sft" or "dpo"
    data: Path
    base_folder: Path
    run_dir: Path
    recipe: TrainRecipe  # as given (defaults left as None): resolved here for this machine
    val: Path | None = None  # default: DATA's .val.jsonl beside it, if present
    parents: list[Path] = field(default_factory=list)  # adapters merged into the base, root first
    continue_adapter: Path | None = None  # mode "continue": this adapter is trained further
    resume: bool = False
    identity: dict[str, Any] = field(default_factory=dict)  # what a resume must match (engine, parent, base)
    tracking_dir: Path | None = None  # where recipe.report_to writes (default: the run folder's tracking/)


@dataclass
class TrainResult:
    adapter_dir: Path
    metrics: dict[str, Any]
    hyperparameters: dict[str, Any]
    data_sha256: str
    seconds: float
    tokens_seen: int
    steps: int
    resumed_from: int | None = None


def is_main_process() -> bool:
    """Under `accelerate launch` every GPU runs this code; only rank 0 writes the run folder and the registry."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def read_run(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (trainer_state.json is written last; a killed save has none)."""
    found = []
    for child in run_dir.iterdir() if run_dir.is_dir() else []:
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    for _, folder in sorted(found, reverse=True):
        if (folder / "trainer_state.json").is_file():
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # half-written by a killed process
    return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare_run(
    job: TrainJob, notify: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, Path | None]:
    """Read and check the data (before any model loads), then set up or check the run folder.

    Returns (train rows, validation rows, data hash, checkpoint to resume from)."""
    val = job.val if job.val is not None else (val_path(job.data) if val_path(job.data).is_file() else None)
    train_rows = read_dataset(job.data, job.kind)
    val_rows = read_dataset(val, job.kind) if val is not None else []
    sha = file_sha256(job.data, val)
    checkpoint = None
    if job.resume:
        saved = read_run(job.run_dir)
        checkpoint = last_checkpoint(job.run_dir) if saved else None
        if saved is None or checkpoint is None:
            raise TrainingError(f"nothing to resume: no interrupted run with a checkpoint in {job.run_dir}; "
                                "start the run without --resume")
        if saved.get("data_sha256") != sha:
            raise TrainingError(f"the data changed since the run started ({job.data}); it cannot be resumed on "
                                "other data: start over without --resume")
        for key, value in job.identity.items():
            if saved.get("identity", {}).get(key) != value:
                raise TrainingError(f"the interrupted run in {job.run_dir} has {key} "
                                    f"{saved.get('identity', {}).get(key)!r}, not {value!r}; start over without "
                                    "--resume")
    elif is_main_process():
        if notify is not None and last_checkpoint(job.run_dir) is not None:
            notify(f"discarding the interrupted run in {job.run_dir} (--resume would have continued it)")
        shutil.rmtree(job.run_dir, ignore_errors=True)
        job.run_dir.mkdir(parents=True)
        _write_json(job.run_dir / RUN_FILE, {
            "kind": job.kind, "data": str(job.data), "val": str(val) if val else None, "data_sha256": sha,
            "recipe": job.recipe.model_dump(), "identity": job.identity, "started": time.time(),
        })
    wait_for_everyone()
    job.val = val
    return train_rows, val_rows, sha, checkpoint


def _gpu() -> tuple[bool, bool]:
    """(a CUDA GPU is here, bf16 runs natively): Ampere or later, or a CPU with AVX512-BF16 or AMX.

    On such a CPU bf16 autocast measured 1.6x faster than fp32 for SmolLM2 with LoRA; where bf16 is
    emulated it would be slower, so it is only the default where the hardware has it."""
    import torch

    if torch.cuda.is_available():
        return True, bool(torch.cuda.is_bf16_supported())
    native = [getattr(torch.cpu, name, lambda: False) for name in ("_is_avx512_bf16_supported",
                                                                   "_is_amx_tile_supported")]
    return False, any(bool(check()) for check in native)


def _to_completion(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversational prompt-completion rows: everything before the last assistant turn, and that turn."""
    out = []
    for row in rows:
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        out.append({"prompt": messages[:last], "completion": [messages[last]]})
    return out


def _lora_config(recipe: TrainRecipe, model: Any) -> Any:
    from peft import LoraConfig

    from finetune.models import num_layers

    layers = None
    if recipe.freeze_layers:
        total = num_layers(model)
        if recipe.freeze_layers >= total:
            raise RecipeError(f"freeze_layers {recipe.freeze_layers}: the model has only {total} layers")
        layers = list(range(recipe.freeze_layers, total))
    return LoraConfig(
        r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=recipe.target_modules, layers_to_transform=layers, task_type="CAUSAL_LM",
    )


def _common_args(recipe: TrainRecipe, run_dir: Path, has_eval: bool) -> dict[str, Any]:
    if has_eval and recipe.save_steps % recipe.eval_steps:
        raise RecipeError(f"save_steps ({recipe.save_steps}) must be a multiple of eval_steps ({recipe.eval_steps}): "
                          "the best checkpoint is chosen among saved evaluations")
    return {
        "output_dir": str(run_dir),
        "num_train_epochs": recipe.epochs,
        "max_steps": recipe.max_steps,
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler,
        "warmup_steps": recipe.warmup,
        "weight_decay": recipe.weight_decay,
        "per_device_train_batch_size": recipe.batch_size,
        "per_device_eval_batch_size": recipe.batch_size,
        "gradient_accumulation_steps": recipe.grad_accum,
        "logging_steps": recipe.logging_steps,
        "save_strategy": "steps",
        "save_steps": recipe.save_steps,
        "save_total_limit": recipe.save_total_limit,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": recipe.eval_steps if has_eval else None,
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": "eval_loss" if has_eval else None,
        "greater_is_better": False if has_eval else None,
        "bf16": bool(recipe.bf16),
        "use_cpu": bool(recipe.bf16) and not _gpu()[0],  # transformers allows bf16 on a CPU only when told so
        "activation_checkpointing": recipe.gradient_checkpointing,
        "seed": recipe.seed,
        "report_to": recipe.report_to,
        "disable_tqdm": True,
        "include_num_input_tokens_seen": "non_padding",
        "dataloader_num_workers": 0,
        "max_length": recipe.max_length,
    }


def fit_rows(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> tuple[list[dict[str, Any]], int]:
    """Rows that fit in max_length tokens. TRL cuts longer ones from the end, which is where the answer
    is: such a row would teach nothing (or half an answer), so it is left out and counted."""
    from finetune.validate import TokenCounter

    count = TokenCounter(tokenizer)
    kept = [r for r in rows if count(r) <= max_length]
    return kept, len(rows) - len(kept)


def _trainer(job: TrainJob, recipe: TrainRecipe, tokenizer: Any, loss_mode: str, train_rows: list[dict[str, Any]],
             val_rows: list[dict[str, Any]]) -> Any:
    import torch
    from datasets import Dataset

    from finetune.lean_head import add_lean_lm_head
    from finetune.models import load_model, quiet_peft

    # bf16 weights, not fp32 ones cast by autocast in every forward: the same bf16 matmuls without the casts
    # (measured 15-30% faster per step on a CPU). The LoRA weights stay fp32 (PEFT upcasts adapters).
    dtype = torch.bfloat16 if recipe.bf16 else torch.float32
    model = load_model(job.base_folder, job.parents, dtype)
    peft_config = None
    if job.continue_adapter is not None:
        from peft import PeftModel

        with quiet_peft():
            model = PeftModel.from_pretrained(model, str(job.continue_adapter), is_trainable=True)
    else:
        peft_config = _lora_config(recipe, model)
    common = _common_args(recipe, job.run_dir, bool(val_rows))
    if job.kind == "sft":
        from trl import SFTConfig, SFTTrainer

        if loss_mode == "completion_only":
            train_rows, val_rows = _to_completion(train_rows), _to_completion(val_rows)
        args = SFTConfig(
            **common, packing=recipe.packing, packing_strategy="bfd",
            assistant_only_loss=loss_mode == "assistant_only",
            completion_only_loss=True if loss_mode == "completion_only" else None,
        )
        trainer_cls: Any = SFTTrainer
    else:
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(**common, beta=recipe.beta, loss_type=recipe.loss_type, loss_weights=recipe.loss_weights)
        trainer_cls = DPOTrainer
    with quiet_peft():
        trainer = trainer_cls(
            model=model, args=args, train_dataset=Dataset.from_list(train_rows),
            eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
            processing_class=tokenizer, peft_config=peft_config,
        )
    add_lean_lm_head(trainer.model.get_base_model() if hasattr(trainer.model, "get_base_model") else trainer.model)
    return trainer


def _summarise(state: Any, output: Any, kind: str) -> dict[str, Any]:
    train_logs = [e for e in state.log_history if "loss" in e and "eval_loss" not in e]
    eval_logs = [e for e in state.log_history if "eval_loss" in e]
    metrics: dict[str, Any] = {"steps": state.global_step, "epochs": round(state.epoch or 0.0, 4)}
    if train_logs:
        metrics["first_loss"] = train_logs[0]["loss"]
        metrics["train_loss"] = train_logs[-1]["loss"]
    if output is not None and getattr(output, "training_loss", None) is not None:
        metrics["train_loss_mean"] = round(float(output.training_loss), 6)
    if eval_logs:
        metrics["eval_loss"] = eval_logs[-1]["eval_loss"]
    if state.best_metric is not None:
        metrics["best_eval_loss"] = state.best_metric
        metrics["best_step"] = state.best_global_step
    if kind == "dpo":
        for key in ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected"):
            values = [e[key] for e in train_logs if key in e]
            if values:
                metrics[key] = values[-1]
                metrics[f"first_{key}"] = values[0]
        for key in ("eval_rewards/margins", "eval_rewards/accuracies"):
            values = [e[key] for e in eval_logs if key in e]
            if values:
                metrics[key] = values[-1]
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}


def _quiet_libraries() -> None:
    """Progress bars of datasets and transformers would interleave with ours on stderr."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


# What each tracker needs installed, and how its files are opened afterwards.
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "trackio": "trackio"}


def tracking_target(job: TrainJob) -> Path:
    return job.tracking_dir or job.run_dir / "tracking"


def check_tracker(report_to: str) -> None:
    """Refuse a tracker whose package is missing before a model is loaded, saying what to install."""
    import importlib.util

    package = TRACKER_PACKAGES.get(report_to)
    if package and importlib.util.find_spec(package) is None:
        raise RecipeError(f"report_to {report_to!r} needs the {package} package: pip install {package} "
                          "(or set report_to to none)")


def tracking_command(report_to: str, folder: Path) -> str:
    """The command that opens a run's tracking files, shown with the version (all of them read local files)."""
    return {"tensorboard": f"tensorboard --logdir {folder}",
            "mlflow": f"mlflow ui --backend-store-uri file:{folder / 'mlflow'}",
            "trackio": f"TRACKIO_DIR={folder} trackio show --project assistant"}.get(report_to, "")


@contextlib.contextmanager
def tracking_environment(report_to: str, folder: Path) -> Iterator[None]:
    """transformers' tracker callbacks read their destination from the environment only: point it at the
    run's folder (never a server, never the Hub) while the trainer is built and runs, then put it back."""
    values = {"tensorboard": {"TENSORBOARD_LOGGING_DIR": str(folder)},
              "mlflow": {"MLFLOW_TRACKING_URI": f"file:{folder / 'mlflow'}", "MLFLOW_EXPERIMENT_NAME": "assistant"},
              "trackio": {"TRACKIO_DIR": str(folder), "TRACKIO_PROJECT": "assistant"}}.get(report_to, {})
    if values:
        folder.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_training(
    job: TrainJob, progress: Any = None, on_log: Any = None, should_stop: Any = None, notify: Any = None,
) -> TrainResult:
    """Train; raise TrainingError (nothing saved as final) on NaN loss, out of memory or a stop request.

    progress: a finetune.callbacks.TrainProgress; on_log(entry) gets each metrics.jsonl line as it is
    written; should_stop() is asked after every step (a cancel button); notify(text) gets messages."""
    import warnings

    import torch
    from transformers import EarlyStoppingCallback, PrinterCallback

    _quiet_libraries()
    warnings.filterwarnings("ignore", message=".*pin_memory.*no accelerator.*")
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    from finetune.callbacks import MetricsLog, NanGuard, ProgressCallback, StopFlag

    check_tracker(job.recipe.report_to)
    train_rows, val_rows, sha, checkpoint = prepare_run(job, notify)
    gpu, bf16_ok = _gpu()
    recipe = job.recipe.resolved(job.kind, gpu, bf16_ok)
    started = time.monotonic()
    from finetune.models import load_tokenizer

    tokenizer, loss_mode = load_tokenizer(job.base_folder, recipe.assistant_only_loss and job.kind == "sft")
    total = len(train_rows)
    train_rows, dropped = fit_rows(train_rows, tokenizer, recipe.max_length)
    val_rows, val_dropped = fit_rows(val_rows, tokenizer, recipe.max_length)
    if not train_rows:
        raise TrainingError(f"all {total} training rows are longer than max_length {recipe.max_length} tokens: "
                            "raise --max-length (or generate shorter rows, e.g. datagen --distractors 1)")
    if dropped + val_dropped and notify is not None:
        notify(f"{dropped + val_dropped} rows are longer than max_length {recipe.max_length} tokens and are left out "
               "(raise --max-length to keep them)")
    tracking = tracking_target(job)
    with tracking_environment(recipe.report_to, tracking):
        trainer = _trainer(job, recipe, tokenizer, loss_mode, train_rows, val_rows)
    # Trainer prints every log dict on stdout when tqdm is off; stdout belongs to --json.
    trainer.remove_callback(PrinterCallback)
    metrics_log = MetricsLog(job.run_dir / METRICS_FILE, on_log)
    resumed_from = None
    if checkpoint is not None:
        resumed_from = int(_CHECKPOINT.match(checkpoint.name).group(1))  # type: ignore[union-attr]
        metrics_log.truncate_after(resumed_from)
    nan_guard = NanGuard()
    trainer.add_callback(metrics_log)
    trainer.add_callback(nan_guard)
    if progress is not None:
        trainer.add_callback(ProgressCallback(progress))
    stop = StopFlag(should_stop) if should_stop is not None else None
    if stop is not None:
        trainer.add_callback(stop)
    if val_rows and recipe.early_stopping_patience:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience))
    try:
        with tracking_environment(recipe.report_to, tracking):
            output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except torch.OutOfMemoryError as err:
        raise TrainingError(f"out of memory at step {trainer.state.global_step}: lower batch_size "
                            f"({recipe.batch_size}) or max_length ({recipe.max_length}); --resume continues") from err
    except RuntimeError as err:
        if "out of memory" in str(err).lower():
            raise TrainingError(f"out of memory at step {trainer.state.global_step}: lower batch_size or "
                                "max_length; --resume continues") from err
        raise
    if nan_guard.bad_step is not None:
        raise TrainingError(f"the loss became NaN or infinite at step {nan_guard.bad_step}: lower the learning rate "
                            f"({recipe.learning_rate}) and start over; nothing was registered")
    if stop is not None and stop.stopped:
        raise TrainingCancelled(f"stopped at step {trainer.state.global_step}; --resume continues from the last "
                                "checkpoint")
    metrics = _summarise(trainer.state, output, job.kind)
    for key in ("train_loss", "eval_loss", "best_eval_loss"):
        value = metrics.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainingError(f"{key} is {value}: the run diverged; lower the learning rate; nothing was registered")
    final = job.run_dir / FINAL_DIR
    if is_main_process():
        shutil.rmtree(final, ignore_errors=True)
    wait_for_everyone()  # several processes: none saves into a folder rank 0 is still removing
    trainer.save_model(str(final))  # with load_best_model_at_end this is the best checkpoint's adapter
    if is_main_process():  # (every process saves: ZeRO-3 and FSDP gather the weights; rank 0 writes them)
        for stray in ("training_args.bin", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                      "chat_template.jinja", "README.md"):
            (final / stray).unlink(missing_ok=True)  # the base's tokenizer serves every engine
        if (job.run_dir / METRICS_FILE).is_file():
            shutil.copy(job.run_dir / METRICS_FILE, final / METRICS_FILE)
    wait_for_everyone()  # the adapter is whole before any process returns (and rank 0 registers it)
    only = {"sft": ("packing", "assistant_only_loss"), "dpo": ("beta", "loss_type", "loss_weights")}
    hyper = recipe.model_dump(exclude={k for kind, keys in only.items() if kind != job.kind for k in keys})
    hyper.update({"kind": job.kind, "loss": loss_mode if job.kind == "sft" else "dpo_" + "+".join(recipe.loss_type),
                  "continued_adapter": job.continue_adapter is not None, "train_rows": len(train_rows),
                  "validation_rows": len(val_rows), "rows_longer_than_max_length": dropped + val_dropped,
                  "device": "cuda" if gpu else "cpu"})
    if recipe.report_to != "none":
        hyper["tracking"] = {"report_to": recipe.report_to, "dir": str(tracking), "open": tracking_command(
            recipe.report_to, tracking)}
    tokens = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0)
    return TrainResult(final, metrics, hyper, sha, round(time.monotonic() - started, 2), tokens,
                       trainer.state.global_step, resumed_from)
