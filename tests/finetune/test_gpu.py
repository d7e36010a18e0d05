"""The GPU paths of training and serving: packed padding-free batches, bf16, an adapter chain served on CUDA.

CI has no GPU, so the CUDA tests skip there; they are run on a GPU machine when one is at hand (the figures
are in finetune/README.md). The packing check also runs on a CPU with packing forced, so its logic is tested
everywhere. The model is a small random Llama with a byte-level BPE tokenizer trained here: nothing to
download, nothing from the embedded package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.dataset_fixtures import dpo_rows, write_jsonl

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (CI has none)")

CHATML = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def sft_rows(n: int) -> list[dict[str, Any]]:
    """Rows of several lengths (test_train's are all alike): packing must place them in blocks unevenly."""
    return [{"messages": [
        {"role": "system", "content": "You are the company's assistant." + " Answer briefly." * (i % 4)},
        {"role": "user", "content": f"Where is office {i}?"},
        {"role": "assistant", "content": f"Office {i} is in Leeds, at {i} Calder Quay, by the river." * (1 + i % 3)},
    ]} for i in range(n)]


def make_base(out: Path, hidden: int = 128, layers: int = 3) -> Path:
    """A random Llama with a ChatML, byte-level BPE tokenizer trained on the test's own rows."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [m["content"] for r in sft_rows(40) for m in r["messages"]]
    texts += [m["content"] for r in dpo_rows(40) for k in ("prompt", "chosen", "rejected") for m in r[k]]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def token_logprobs(model: Any, input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    with torch.no_grad():
        logits = model(input_ids=input_ids, **kwargs).logits.float()
    return torch.log_softmax(logits, -1)


@pytest.mark.filterwarnings("ignore:.*pin_memory.*no accelerator")  # the CPU case's DataLoader: harmless
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_a_packed_padding_free_batch_scores_each_row_as_if_alone(tmp_path: Path, device: str) -> None:
    """On a GPU our SFT default packs rows into one padding-free sequence. Each row must see only itself: the
    first batch our trainer feeds the model is scored as the rows one by one (no attention across rows)."""
    from finetune.models import load_tokenizer
    from finetune.recipes import TrainRecipe
    from finetune.train import TrainJob, _trainer

    base = make_base(tmp_path / "base")
    rows = sft_rows(12)
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    on_gpu = device == "cuda"
    # fp32 for a tight comparison: the masking does not depend on the dtype (the bf16 run is the next test).
    recipe = TrainRecipe(max_length=512, packing=True, bf16=False).resolved("sft", gpu=on_gpu)
    if on_gpu:
        assert TrainRecipe().resolved("sft", gpu=True).packing, "packing is the GPU default this test covers"
    tokenizer, mode = load_tokenizer(base, True)
    trainer = _trainer(TrainJob("sft", data, base, tmp_path / "run", recipe), recipe, tokenizer, mode, rows, [])
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.to(device).eval()
    ids = batch["input_ids"].to(device)
    positions = batch["position_ids"].to(device)
    assert batch.get("attention_mask") is None and ids.shape[0] == 1, "a padding-free batch is one flat sequence"
    starts = (positions[0] == 0).nonzero().flatten().tolist()
    assert len(starts) >= 3, f"several rows packed together, got {len(starts)}"
    assert model.device.type == device

    packed = token_logprobs(model, ids, position_ids=positions)[0]
    # The same flat sequence read as one document: later rows see earlier ones. The check must tell them apart.
    leaky = token_logprobs(model, ids)[0]
    ends = [*starts[1:], ids.shape[1]]
    worst = worst_leak = 0.0
    for start, end in zip(starts, ends, strict=True):
        alone = token_logprobs(model, ids[:, start:end])[0]
        worst = max(worst, (packed[start:end] - alone).abs().max().item())
        if start > 0:
            worst_leak = max(worst_leak, (leaky[start:end] - alone).abs().max().item())
    assert worst < 1e-3, f"a packed row's log-probs differ from the row alone by {worst}"
    assert worst_leak > 1e-2, "reading the rows as one document should have changed them"


@needs_cuda
def test_gpu_training_is_bf16_and_packed_and_the_chain_is_served_on_cuda(tmp_path: Path) -> None:
    """SFT then DPO on top, with the GPU defaults (bf16, packed batches of 8, 2 accumulated); both engines registered
    and served from one bf16 model on CUDA, switching adapters, each as its merged weights score."""
    from assistant.config import LLMSettings
    from assistant.engines import EngineManager, EngineRecord, EngineRegistry, publish_engine
    from finetune.models import load_model
    from finetune.recipes import TrainRecipe
    from finetune.train import TrainJob, run_training

    base = make_base(tmp_path / "base", hidden=256, layers=4)
    engines = tmp_path / "engines"
    sft = write_jsonl(tmp_path / "sft.jsonl", sft_rows(48))
    write_jsonl(tmp_path / "sft.val.jsonl", sft_rows(56)[48:])
    recipe = TrainRecipe(max_steps=24, eval_steps=8, learning_rate=2e-3, max_length=256)
    first = run_training(TrainJob("sft", sft, base, engines / "company" / ".runs" / "v1", recipe))
    hyper = first.hyperparameters
    assert (hyper["device"], hyper["bf16"], hyper["packing"], hyper["batch_size"], hyper["grad_accum"]) == (
        "cuda", True, True, 8, 2)
    assert first.metrics["train_loss"] < first.metrics["first_loss"]
    assert first.metrics["best_eval_loss"] <= first.metrics.get("eval_loss", first.metrics["best_eval_loss"])
    publish_engine(engines, first.adapter_dir, EngineRecord("company", 1, base=str(base)))

    dpo = write_jsonl(tmp_path / "dpo.jsonl", dpo_rows(32))
    company = EngineRegistry(engines).resolve("company").adapters
    second = run_training(TrainJob("dpo", dpo, base, engines / "bids" / ".runs" / "v1",
                                   TrainRecipe(max_steps=12, learning_rate=2e-3, max_length=256), parents=company))
    assert second.hyperparameters["bf16"] is True and second.hyperparameters["device"] == "cuda"
    assert second.metrics["rewards/margins"] > second.metrics["first_rewards/margins"]
    publish_engine(engines, second.adapter_dir, EngineRecord("bids", 1, parent="company@1", base=str(base)))

    manager = EngineManager(LLMSettings(model=str(base), max_new_tokens=8), tmp_path / "models", engines)
    text = "<|im_start|>user\nTender question 3: how will you deliver?<|im_end|>\n<|im_start|>assistant\nPromise:"
    ids = manager.base_llm().tokenizer(text, return_tensors="pt").input_ids.to("cuda")

    def served(name: str) -> torch.Tensor:
        backend = manager.get(name)
        assert isinstance(backend.generate([{"role": "user", "content": "Where is office 3?"}], 4), str)
        manager.activate(backend.chain)
        return token_logprobs(manager.base_llm().model, ids)

    llm = manager.base_llm()
    assert llm.model.device.type == "cuda" and llm.model.dtype == torch.bfloat16
    scores = {name: served(name) for name in ("bids", "base", "company", "bids")}  # switch away and back
    bids_again = served("bids")
    merged = {name: token_logprobs(load_model(base, adapters, torch.bfloat16).to("cuda"), ids)
              for name, adapters in (("company", company), ("bids", EngineRegistry(engines).resolve("bids").adapters))}
    for name in ("company", "bids"):
        off = (scores[name] - merged[name]).abs().mean().item()
        moved = (scores["base"] - merged[name]).abs().mean().item()
        assert off < 0.25 * moved, f"{name}: served differs from merged by {off}, base from merged by {moved}"
    assert torch.equal(scores["bids"], bids_again)
    assert manager.base_loads == 1
