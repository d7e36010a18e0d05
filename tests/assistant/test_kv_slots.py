"""The running batch's preallocated KV cache: rows that join, grow the buffers and leave out of order get,
at every step, the logits they would get decoding alone on transformers' own cache."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from assistant.llm.decoding import _as_model_mask, mergeable
from assistant.llm.kv_slots import SlotCache


def tiny_model(attention: str) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    config._attn_implementation = attention
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def alone(model: LlamaForCausalLM, prompt: list[int], steps: int) -> list[torch.Tensor]:
    """The logits of each greedy step of `prompt` decoded by itself (the reference)."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt]), use_cache=True)
        logits = [out.logits[0, -1]]
        cache = out.past_key_values
        for _ in range(steps):
            token = logits[-1].argmax().view(1, 1)
            out = model(input_ids=token, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits.append(out.logits[0, -1])
    return logits


class Batch:
    """Rows on one SlotCache, each decoding greedily, the way RunningBatch drives it."""

    def __init__(self, model: LlamaForCausalLM) -> None:
        self.model = model
        self.cache = SlotCache(model.config.num_hidden_layers)
        self.names: list[str] = []
        self.logits: dict[str, list[torch.Tensor]] = {}

    def join(self, name: str, prompt: list[int]) -> None:
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([prompt]), use_cache=True, logits_to_keep=1)
            self.cache.add(out.past_key_values)
        self.names.append(name)
        self.logits[name] = [out.logits[0, -1]]

    def step(self) -> None:
        last = torch.stack([self.logits[n][-1].argmax() for n in self.names])[:, None]
        with torch.inference_mode():
            positions, mask = self.cache.begin_step()
            out = self.model(input_ids=last, position_ids=positions, past_key_values=self.cache,
                             attention_mask=_as_model_mask(self.model, mask), use_cache=True)
            self.cache.end_step()
        for i, name in enumerate(self.names):
            self.logits[name].append(out.logits[i, -1])

    def leave(self, *names: str) -> None:
        kept = [i for i, n in enumerate(self.names) if n not in names]
        order = self.cache.keep(kept)
        self.names = [self.names[i] for i in order]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_rows_that_join_grow_and_leave_out_of_order_decode_as_if_alone(attention: str) -> None:
    model = tiny_model(attention)
    assert mergeable(model)
    g = torch.Generator().manual_seed(1)
    prompts = {name: torch.randint(3, 300, (length,), generator=g).tolist()
               for name, length in [("a", 20), ("b", 150), ("c", 7), ("d", 90), ("e", 33)]}
    batch = Batch(model)
    batch.join("a", prompts["a"])  # one slot, 64 columns
    for _ in range(3):
        batch.step()
    batch.join("b", prompts["b"])  # more columns (its 150) and a second slot
    batch.join("c", prompts["c"])  # slots grow again
    for _ in range(4):
        batch.step()
    batch.leave("a")  # the first slot is freed: the last row moves into it
    batch.join("d", prompts["d"])
    batch.join("e", prompts["e"])  # past four slots
    for _ in range(5):
        batch.step()
    batch.leave("b", "d")  # two in the middle at once
    for _ in range(2):
        batch.step()
    assert sorted(batch.names) == ["c", "e"] and batch.cache.rows == 2

    for name, got in batch.logits.items():
        want = alone(model, prompts[name], len(got) - 1)
        for step, (g_, w) in enumerate(zip(got, want, strict=True)):
            assert torch.allclose(g_, w, atol=1e-4), f"row {name}, step {step}: {float((g_ - w).abs().max())}"


def test_a_model_whose_attention_takes_no_4d_mask_is_not_batched() -> None:
    model = tiny_model("sdpa")
    model.config._attn_implementation = "flash_attention_2"
    assert not mergeable(model)
