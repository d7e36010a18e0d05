"""Loading the base model with an engine's adapter chain, the tokenizer's training template, merged export.

An engine is the base plus the sum of its chain's LoRA deltas (EngineManager activates them all at
once). Training on top of a chain therefore merges the parents into the base weights first and trains
a fresh adapter there: the reference model of DPO is then the parent engine itself (the adapter
disabled), and serving base + parents + new adapter reproduces exactly the trained model.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# ChatML (SmolLM2, Qwen and others) with TRL's {% generation %} markers around each assistant turn and its
# <|im_end|>, so that assistant_only_loss trains the answers and the end of turn, and nothing else. It
# renders exactly as SmolLM2's own template for conversations that start with a system turn.
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant.<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@contextmanager
def quiet_peft() -> Iterator[None]:
    with warnings.catch_warnings():
        # PEFT still reads a deprecated transformers attribute; that FutureWarning is not the user's concern.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_tokenizer(folder: Path, assistant_only_loss: bool) -> tuple[Any, str]:
    """The base tokenizer and the loss it allows: "assistant_only" (a template with generation markers;
    ChatML templates get ours) or "completion_only" (rows become prompt + last assistant turn)."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import has_generation_markers

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not assistant_only_loss:
        return tokenizer, "full"
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    if template and has_generation_markers(template):
        return tokenizer, "assistant_only"
    if template and "<|im_start|>" in template and "<|im_end|>" in template:
        tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
        return tokenizer, "assistant_only"
    return tokenizer, "completion_only"


def load_model(folder: Path, parents: list[Path], dtype: Any) -> Any:
    """The base model with the parents' adapters merged into its weights, root first, in `dtype`.

    Parents are merged in float32 and the sum cast once: merging small deltas into bf16 weights one
    adapter at a time would round each of them away a little more."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32 if parents else dtype)
    if parents:
        from peft import PeftModel

        with quiet_peft():
            for adapter in parents:
                model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        model = model.to(dtype)
    return model


def num_layers(model: Any) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(getattr(config, "num_hidden_layers", 0) or 0)


def export_merged(base_folder: Path, adapters: list[Path], out: Path) -> Path:
    """A standalone Hugging Face folder: base + every adapter of the chain merged, with the tokenizer.

    Written beside, then renamed: a killed export leaves no half folder under the target name."""
    import torch
    from transformers import AutoTokenizer

    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    model = load_model(base_folder, adapters, torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(base_folder)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out
