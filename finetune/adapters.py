"""A chain of LoRA adapters as ONE LoRA adapter.

LoRA deltas on the same layer add up (W + s1*B1@A1 + s2*B2@A2), and concatenating the ranks writes that
sum as one low-rank product exactly: A = [s1*A1; s2*A2], B = [B1 | B2] with scaling 1. PEFT's
`add_weighted_adapter(..., combination_type="cat")` does that; a single adapter is served as it is.

`combine_loaded` works on a PeftModel that already holds the adapters (the engines' in-memory chains);
`export_combined` writes a chain of adapter folders as one adapter folder (vLLM, any PEFT loader).
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any


def combine_loaded(peft_model: Any, names: list[str], combined: str) -> str:
    """Add `combined` to `peft_model`: the adapters `names` (already loaded) as one, exactly (ranks concatenated).
    One name is returned as it is (nothing to combine)."""
    if len(names) == 1:
        return names[0]
    if combined not in peft_model.peft_config:
        peft_model.add_weighted_adapter(list(names), [1.0] * len(names), combined, combination_type="cat")
    return combined


def export_combined(base_folder: Path, adapters: list[Path], out: Path) -> Path:
    """Write the chain `adapters` (root first) as one PEFT LoRA adapter folder at `out`, loadable with
    `PeftModel.from_pretrained(base, out)`. Written beside, then renamed; `out` must not exist."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new folder")
    if not adapters:
        raise ValueError("the base model has no adapter to export; export an engine")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if len(adapters) == 1:  # already one adapter: its files as they are
        tmp.mkdir(parents=True)
        for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
            if (adapters[0] / name).is_file():
                shutil.copy2(adapters[0] / name, tmp / name)
        os.replace(tmp, out)
        return out
    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    names = [f"chain{i}" for i in range(len(adapters))]
    with warnings.catch_warnings():  # PEFT reads a deprecated transformers attribute
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = PeftModel.from_pretrained(base, str(adapters[0]), adapter_name=names[0])
        for name, folder in zip(names[1:], adapters[1:], strict=True):
            model.load_adapter(str(folder), adapter_name=name)
    model.add_weighted_adapter(names, [1.0] * len(names), "default", combination_type="cat")
    config = model.peft_config["default"]
    config.base_model_name_or_path = str(base_folder)
    config.inference_mode = True
    model.save_pretrained(str(tmp), selected_adapters=["default"])
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out
