"""Continuous batching on one local model (assistant/llm/batching.py, decoding.py): concurrent requests share
forward passes, each row with its own stop sequences, token limit, stream, sampling and engine (PEFT adapter per
row); a request joins a batch already decoding and a finished or abandoned row leaves it at once; greedy
decoding (and sampling with a seed) gives the same text batched as alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import LLMSettings
from assistant.engines import EngineManager
from assistant.errors import UserError
from assistant.llm.base import GenerationOptions
from assistant.llm.batching import Busy
from assistant.llm.embedded import prepare_embedded_llm
from assistant.llm.local import LocalLLM
from tests.llm_fixtures import make_random_adapter, make_tiny_base

pytestmark = pytest.mark.slow

PROMPTS = ["Write two sentences about the sea.", "Name three colours.", "What is a bid?",
           "Say hello to a new colleague in one sentence, please, and mention the weather today."]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def llm(shared_models: Path) -> LocalLLM:
    return LocalLLM(prepare_embedded_llm(shared_models), LLMSettings(max_new_tokens=16))


def together(llm: LocalLLM, jobs: list) -> list:
    """Submit the jobs so that the worker takes them as one batch (it cannot take any while we hold cond)."""
    with llm.batcher.cond:
        for job in jobs:
            llm.batcher.submit(job)
    return jobs


def answer(job) -> str:
    while True:
        kind, value = job.out.get(timeout=120)
        if kind == "end":
            return value
        if kind == "error":
            raise value


def test_greedy_text_is_the_same_batched_as_alone(llm: LocalLLM) -> None:
    alone = [llm.generate(ask(p)) for p in PROMPTS]
    batches, rows = llm.batcher.batches, llm.batcher.rows
    jobs = together(llm, [llm.job(ask(p)) for p in PROMPTS])
    assert [answer(j) for j in jobs] == alone
    assert (llm.batcher.batches - batches, llm.batcher.rows - rows) == (1, 4)  # one batch of 4 rows


def test_each_row_keeps_its_own_stop_limit_and_stream(llm: LocalLLM) -> None:
    full = llm.generate(ask(PROMPTS[0]))
    stop_word = full.split()[3]
    short = llm.generate(ask(PROMPTS[1]), 4)
    jobs = together(llm, [
        llm.job(ask(PROMPTS[0]), options=GenerationOptions(stop=(stop_word,))),
        llm.job(ask(PROMPTS[1]), 4),
        llm.job(ask(PROMPTS[2])),
    ])
    pieces: list[list[str]] = [[] for _ in jobs]
    for i, job in enumerate(jobs):
        while (item := job.out.get(timeout=120))[0] == "text":
            pieces[i].append(item[1])
        assert item[0] == "end" and "".join(pieces[i]) == item[1]
    assert "".join(pieces[0]) == full[: full.index(stop_word)].strip()
    assert "".join(pieces[1]) == short
    assert len(pieces[2]) >= 3  # streamed in pieces, not at once


def test_a_closed_stream_leaves_the_batch_and_the_others_are_unaffected(llm: LocalLLM) -> None:
    expected = llm.generate(ask(PROMPTS[2]))
    leaving, staying = together(llm, [llm.job(ask(PROMPTS[0]), 64), llm.job(ask(PROMPTS[2]))])
    assert leaving.out.get(timeout=120)[0] == "text"
    leaving.cancelled.set()  # what closing its stream does (Batcher.stream), then it waits for `left`
    assert leaving.left.wait(120)
    assert answer(staying) == expected


def test_a_request_joins_a_batch_already_decoding(llm: LocalLLM) -> None:
    alone = [llm.generate(ask(PROMPTS[0]), 48), llm.generate(ask(PROMPTS[1]))]
    batches, rows = llm.batcher.batches, llm.batcher.rows
    first = llm.batcher.submit(llm.job(ask(PROMPTS[0]), 48))
    assert first.out.get(timeout=120)[0] == "text"  # it is decoding now
    second = llm.batcher.submit(llm.job(ask(PROMPTS[1])))
    assert [answer(first), answer(second)] == alone
    assert (llm.batcher.batches - batches, llm.batcher.rows - rows) == (1, 2)  # it joined, no new batch


def test_an_abandoned_row_is_out_of_the_batch_when_its_stream_closes(llm: LocalLLM) -> None:
    leaving, staying = together(llm, [llm.job(ask(PROMPTS[0]), 64), llm.job(ask(PROMPTS[3]), 64)])
    assert leaving.out.get(timeout=120)[0] == "text"
    leaving.cancelled.set()
    assert leaving.left.wait(120)
    assert all(row.job is not leaving for row in llm.batcher.running.rows)
    assert answer(staying)


def test_a_seed_gives_the_same_sample_batched_as_alone(llm: LocalLLM) -> None:
    def sampled(seed: int) -> GenerationOptions:
        return GenerationOptions(temperature=1.2, top_p=0.95, seed=seed)

    alone = llm.generate(ask(PROMPTS[0]), options=sampled(7))
    assert llm.generate(ask(PROMPTS[0]), options=sampled(7)) == alone
    jobs = together(llm, [llm.job(ask(PROMPTS[0]), options=sampled(s)) for s in (7, 8, 9)])
    texts = [answer(j) for j in jobs]
    assert texts[0] == alone and len(set(texts)) > 1


def test_the_token_budget_keeps_a_request_out_until_there_is_room(llm: LocalLLM) -> None:
    small = LocalLLM.__new__(LocalLLM)
    small.__dict__.update(llm.__dict__)
    from assistant.llm.batching import Batcher

    jobs = [small.job(ask(p), 8) for p in PROMPTS[:2]]
    small.batcher = Batcher(small, max_batch=4, max_queue=8, max_batch_tokens=jobs[0].tokens + 1)
    together(small, jobs)
    assert all(answer(j) for j in jobs)
    assert (small.batcher.batches, small.batcher.peak) == (2, 1)  # one after the other, never together


def test_past_the_queue_limit_a_request_is_refused_busy(llm: LocalLLM) -> None:
    small = LocalLLM.__new__(LocalLLM)
    small.__dict__.update(llm.__dict__)
    from assistant.llm.batching import Batcher

    small.batcher = Batcher(small, max_batch=4, max_queue=2)
    with small.batcher.cond:
        jobs = [small.batcher.submit(small.job(ask(p), 2)) for p in PROMPTS[:2]]
        with pytest.raises(Busy, match=r"busy: 2 requests waiting \(llm.max_queue = 2\); try again") as err:
            small.batcher.submit(small.job(ask(PROMPTS[2]), 2))
    assert isinstance(err.value, UserError) and err.value.kind == "unavailable"
    assert all(answer(j) for j in jobs)


def test_engines_of_a_mixed_batch_each_get_their_own_adapters(shared_models: Path, tmp_path: Path) -> None:
    tiny = make_tiny_base(shared_models, tmp_path / "tiny")
    engines = tmp_path / "engines"
    make_random_adapter(tiny, engines / "company" / "v1", seed=1, base=str(tiny), scale=3.0)
    make_random_adapter(tiny, engines / "bids" / "v1", seed=3, base=str(tiny), parent="company@1", scale=3.0)
    manager = EngineManager(LLMSettings(model=str(tiny), max_new_tokens=12), tmp_path / "models", engines)
    llm = manager.base_llm()
    names = ["base", "company", "bids", "base"]
    alone = {}
    with llm.lock:  # the old way, one at a time: activate the chain, generate
        for name in set(names):
            manager.activate(manager.get(name).chain)
            alone[name] = llm.generate_nolock(ask(PROMPTS[1]))
    assert len(set(alone.values())) == 3, alone  # the adapters change the text
    jobs = [llm.job(ask(PROMPTS[1]), adapter=manager.row_adapter(manager.get(n).chain)) for n in names]
    together(llm, jobs)
    assert [answer(j) for j in jobs] == [alone[n] for n in names]
    assert [manager.get(n).generate(ask(PROMPTS[1])) for n in ("bids", "base")] == [alone["bids"], alone["base"]]


def test_bfloat16_on_the_cpu_loads_answers_and_batches(shared_models: Path) -> None:
    """`llm.dtype = "bfloat16"` on a CPU: the weights are bfloat16, and alone and batched rows answer (the
    words may differ from float32's, so only that they answer is checked; float32 is the default)."""
    import warnings

    import torch

    from assistant.llm import local

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bf16 = LocalLLM(prepare_embedded_llm(shared_models), LLMSettings(dtype="bfloat16", device="cpu",
                                                                        max_new_tokens=8))
    slow = [w for w in caught if issubclass(w.category, local.SlowBfloat16Warning)]
    assert bool(slow) != local._cpu_has_bf16()  # warned exactly when this CPU emulates bfloat16
    assert bf16.model.dtype == torch.bfloat16
    assert bf16.generate(ask(PROMPTS[1])).strip()
    batches = bf16.batcher.batches
    jobs = together(bf16, [bf16.job(ask(p)) for p in PROMPTS[:3]])
    assert all(answer(j).strip() for j in jobs)
    assert bf16.batcher.batches - batches == 1


def test_the_local_models_dtype_follows_the_setting(monkeypatch) -> None:
    import torch

    from assistant.llm import local

    assert local.model_dtype("auto", "cpu") == torch.float32
    assert local.model_dtype("float32", "cpu") == torch.float32
    monkeypatch.setattr(local, "_cpu_has_bf16", lambda: False)  # a CPU without AVX512-BF16 or AMX
    with pytest.warns(local.SlowBfloat16Warning, match="emulated"):
        assert local.model_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        LLMSettings(dtype="float16")


def test_a_request_is_found_among_waiting_ones_by_identity() -> None:
    """A client leaving looks its request up among the waiting ones: prompts of other lengths must not be
    compared (that raised "The size of tensor a (1075) must match the size of tensor b (622)" under load)."""
    import torch

    from assistant.llm.base import GenerationOptions
    from assistant.llm.decoding import Job

    waiting = [Job(torch.zeros(622, dtype=torch.long), GenerationOptions(8), None, {}),
               Job(torch.zeros(7, dtype=torch.long), GenerationOptions(8), None, {})]
    mine = Job(torch.zeros(1075, dtype=torch.long), GenerationOptions(8), None, {})
    assert mine not in waiting
    waiting.append(mine)
    waiting.remove(mine)
    assert len(waiting) == 2 and mine not in waiting
