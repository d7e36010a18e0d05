"""Stacked adapters: each row of one forward pass gets its own LoRA adapter's logits, as PEFT's active adapter
gives that row alone, whatever the mix of adapters, ranks and target modules in the batch."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from assistant.llm.mixed_lora import BASE, MixedLoRA, adapters_key


def tiny_peft() -> object:
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    # random B (init_lora_weights=False), so every adapter changes the logits
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                            init_lora_weights=False), adapter_name="company")
    peft.add_adapter("bids", LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj", "down_proj"],
                                        init_lora_weights=False, layers_to_transform=[1]))
    peft.add_weighted_adapter(["company", "bids"], [1.0, 1.0], "chain", combination_type="cat")
    return peft.eval()


def alone(peft: object, name: str, ids: torch.Tensor) -> torch.Tensor:
    """The logits of one row with PEFT's own active adapter (no adapter for the base)."""
    with torch.inference_mode():
        if name == BASE:
            peft.base_model.disable_adapter_layers()
        else:
            peft.base_model.enable_adapter_layers()
            peft.base_model.set_adapter(name)
        return peft(input_ids=ids[None]).logits[0]


def test_each_row_gets_its_own_adapter() -> None:
    peft = tiny_peft()
    torch.manual_seed(1)
    prompts = torch.randint(0, 300, (5, 12))
    names = ["company", "bids", BASE, "chain", "company"]
    expected = [alone(peft, name, ids) for name, ids in zip(names, prompts, strict=True)]
    assert (expected[0] - alone(peft, BASE, prompts[0])).abs().max() > 1e-2  # the adapters matter here
    assert (expected[3] - alone(peft, "company", prompts[3])).abs().max() > 1e-2

    stacked = MixedLoRA.build(peft)
    assert stacked is not None and stacked.width == 8 + 4 + 12
    cases = [(names, [0, 1, 2, 3, 4]),  # mixed
             (["bids", "bids"], [1, 1]),  # one adapter: its slice alone
             ([BASE, BASE], [2, 2]),  # no adapter: nothing added
             (["chain"], [3])]  # a prefill: one row
    for case, rows in cases:
        with torch.inference_mode(), stacked.rows(case):
            got = peft(input_ids=prompts[rows]).logits
        for k, i in enumerate(rows):
            assert torch.allclose(got[k], expected[i], atol=1e-5), (case, k, (got[k] - expected[i]).abs().max())
    with torch.inference_mode():  # outside a pass the hooks add nothing (and PEFT's layers stay off)
        assert torch.allclose(peft(input_ids=prompts[2:3]).logits[0], expected[2], atol=1e-6)


def test_new_adapters_change_the_key_and_other_kinds_are_not_stacked() -> None:
    peft = tiny_peft()
    before = adapters_key(peft)
    peft.add_adapter("dora", LoraConfig(r=4, target_modules=["q_proj"], use_dora=True))
    assert adapters_key(peft) != before
    assert MixedLoRA.build(peft) is None  # DoRA: PEFT's adapter_names path (which refuses it clearly)


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_stacks_follow_the_model_dtype(dtype: torch.dtype) -> None:
    peft = tiny_peft().to(dtype)
    stacked = MixedLoRA.build(peft)
    assert stacked is not None and all(a.dtype == dtype and b.dtype == dtype for a, b in stacked.stacks)
    ids = torch.randint(0, 300, (2, 6))
    with torch.inference_mode(), stacked.rows(["company", BASE]):
        got = peft(input_ids=ids).logits
    assert torch.allclose(got[0].float(), alone(peft, "company", ids[0]).float(), atol=0.1)
