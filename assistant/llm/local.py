"""Generation with transformers on this machine: the embedded SmolLM2 or any local Hugging Face folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.config import LLMSettings


class LocalLLM:
    def __init__(self, folder: Path, settings: LLMSettings) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from indexing.embedding import pick_device

        self.settings = settings
        self.device = pick_device(settings.device)
        dtype = torch.bfloat16 if self.device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(self.device).eval()
        self.name = folder.name

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _generation_kwargs(self, max_new_tokens: int | None, prompt_length: int) -> dict[str, Any]:
        from transformers import LogitsProcessorList

        from assistant.llm.guards import GeneratedNoRepeatNGram, GeneratedRepetitionPenalty

        s = self.settings
        guards = LogitsProcessorList()
        if s.repetition_penalty > 1.0:
            guards.append(GeneratedRepetitionPenalty(s.repetition_penalty, prompt_length))
        if s.no_repeat_ngram_size > 0:
            guards.append(GeneratedNoRepeatNGram(s.no_repeat_ngram_size, prompt_length))
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens or s.max_new_tokens,
            "logits_processor": guards,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if s.temperature > 0:
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def generate(self, messages: list[dict[str, str]], max_new_tokens: int | None = None) -> str:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        with torch.inference_mode():
            prompt_length = inputs["input_ids"].shape[1]
            output = self.model.generate(**inputs, **self._generation_kwargs(max_new_tokens, prompt_length))
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
