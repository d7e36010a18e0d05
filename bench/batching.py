"""Continuous batching on the embedded model, in process: N concurrent requests against one request at a time.

    python bench/batching.py                    # prepares the embedded model in a temporary folder (~20 s)
    python bench/batching.py --models DIR       # reuse a prepared models folder (e.g. HOME/models)
    python bench/batching.py --clients 1,4,16 --seconds 60 --max-new-tokens 64
    python bench/batching.py --dtype bfloat16   # llm.dtype (a CPU with AVX512-BF16 or AMX reads prompts faster)

Two prompt shapes, each with N = --clients threads asking back to back for --seconds through
LocalLLM.generate (the Batcher the server uses, without HTTP, retrieval or the API around it):
  grounded   a RAG-shaped prompt of about --grounded-tokens tokens (numbered passages of the demo corpus)
  short      a bare question (what a chat without retrieval sends)
Printed per shape and N (a table on stderr, one JSON document on stdout): requests done, p50/p95 latency,
aggregate tokens/s of the answers, and the ratio against N = 1 of the same shape, measured in this run.

Then the two costs that bound the ratio: reading one grounded prompt (prefill, seconds) and one decode
step of the batcher's running batch at 1 and at 16 rows, beside the same step on transformers'
DynamicCache (the baseline: it copies the whole cache at every step). Reading a prompt is compute-bound, so
batching cannot share it; a decode step is bound by reading the weights, so batching shares it. The
ceiling printed is the ratio batching could reach if decode steps were its only cost beside prefill:
  ceiling = (prefill + T * step_1) / (prefill + T * step_16 / 16),  T = --max-new-tokens

Last, engines in one batch (--adapters, on by default): two random rank-16 LoRA adapters on every linear
layer (the training recipe's default) are put on the model, and the batcher's step is timed with its rows
on the base, on one adapter, and alternating between the two, first with the adapters stacked
(assistant/llm/mixed_lora.py), then with PEFT's `adapter_names` (the baseline), at 1 and 16 rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import assistant  # noqa: F401  (first: it sets the OpenMP wait policy before torch loads)
from assistant.config import LLMSettings
from assistant.llm.embedded import prepare_embedded_llm
from assistant.llm.local import LocalLLM
from bench.chat import grounded_prompt
from bench.common import log

QUESTIONS = ["What does the company do?", "Who leads the bids team?", "Summarise our tender process.",
             "Which sectors do we work in?", "What was last year's revenue?", "How do we price a proposal?"]


@dataclass
class Phase:
    shape: str
    clients: int
    done: int
    p50_s: float
    p95_s: float
    tokens_per_s: float
    peak_rows: int
    vs_1: float = 1.0


def prompts(llm: LocalLLM, shape: str, grounded_tokens: int) -> list[list[dict[str, str]]]:
    """One prompt per question: the same grounded sources with a different question, or the bare question."""
    if shape == "short":
        return [[{"role": "user", "content": q}] for q in QUESTIONS]
    base = grounded_prompt(llm, grounded_tokens)
    return [[base[0], {"role": "user", "content": q}] for q in QUESTIONS]


def run_phase(llm: LocalLLM, shape: str, asks: list, clients: int, seconds: float) -> Phase:
    latencies: list[float] = []
    tokens = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    llm.batcher.peak = 0

    def client(k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            started = time.monotonic()
            answer = llm.generate(asks[i % len(asks)])
            with lock:
                latencies.append(time.monotonic() - started)
                tokens[0] += llm.count_tokens(answer)
            i += clients

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return Phase(shape, clients, len(latencies), round(statistics.median(latencies), 2), round(p95, 2),
                 round(tokens[0] / wall, 2), llm.batcher.peak)


def costs(llm: LocalLLM, asks: list, steps: int = 8) -> dict[str, float]:
    """Seconds to read one grounded prompt, and per decode step at batch 1 and 16: the batcher's own step
    (RunningBatch on its SlotCache, loop guards and token picking included), and beside it the model on
    transformers' DynamicCache (16 copies of one prompt, no mask), the baseline the SlotCache replaced."""
    import torch

    from assistant.llm.decoding import Row, RunningBatch

    ids = llm.prepare(asks[0])[0]["input_ids"]
    out: dict[str, float] = {"prompt_tokens": int(ids.shape[1])}

    def sync() -> None:  # a GPU runs ahead of the host: time what it did, not what was queued
        if ids.is_cuda:
            torch.cuda.synchronize()

    with torch.inference_mode():
        llm.model(input_ids=ids, logits_to_keep=1)  # warm
        sync()
        started = time.perf_counter()
        first = llm.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        sync()
        out["prefill_s"] = time.perf_counter() - started
        for batch in (1, 16):
            cache = first.past_key_values
            if batch > 1:
                cache.batch_repeat_interleave(batch)
            token = torch.zeros((batch, 1), dtype=torch.long, device=ids.device)
            sync()
            started = time.perf_counter()
            for _ in range(steps):
                cache = llm.model(input_ids=token, past_key_values=cache, use_cache=True).past_key_values
            sync()
            out[f"dynamic_step_{batch}_s"] = (time.perf_counter() - started) / steps
            first = llm.model(input_ids=ids, use_cache=True, logits_to_keep=1)
    for batch in (1, 16):
        running = RunningBatch(llm.device)
        for k in range(batch):
            job = llm.job(asks[k % len(asks)], max_new_tokens=4 * steps)
            running.join(Row(job, llm.tokenizer, set(), running.device))  # no end of turn: every row steps
        running.step()  # warm
        sync()
        started = time.perf_counter()
        for _ in range(steps):
            running.step()
        sync()
        out[f"step_{batch}_s"] = (time.perf_counter() - started) / steps
    return {k: round(v, 4) for k, v in out.items()}


def adapter_costs(llm: LocalLLM, asks: list, steps: int = 8) -> dict[str, float]:
    """Seconds per decode step with rows on engines: stacked adapters against PEFT's adapter_names, at 1 and
    16 rows on one adapter, on two alternating, and on the base inside the PeftModel, the same rows timed each
    way. (While PEFT's path is timed the stack's hooks stay on the model, idle.) Wraps llm's model in a
    PeftModel: run it last."""
    import torch
    from peft import LoraConfig, get_peft_model

    from assistant.llm.decoding import BASE_ROW, Row, RunningBatch

    torch.manual_seed(0)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    peft = get_peft_model(llm.model, lora, adapter_name="one")
    peft.add_adapter("two", lora)
    llm.peft = peft.eval()
    mixes = {"base": [BASE_ROW], "one": ["one"], "two": ["one", "two"]}
    out: dict[str, float] = {}
    running = RunningBatch(llm.device)
    for mix, names in mixes.items():
        for batch in (1, 16) if mix != "two" else (16,):
            for k in range(batch):
                job = llm.job(asks[k % len(asks)], max_new_tokens=8 * steps, adapter=names[k % len(names)])
                running.join(Row(job, llm.tokenizer, set(), running.device))
            for stacked in (False, True):  # the same rows and cache, each way
                running.stack_adapters = stacked
                running.step()  # warm
                started = time.perf_counter()
                for _ in range(steps):
                    running.step()
                if "cuda" in str(llm.device):
                    torch.cuda.synchronize()
                out[f"{'stacked' if stacked else 'peft'}_{mix}_{batch}_s"] = (time.perf_counter() - started) / steps
            for row in running.rows:  # they leave the way a closed stream leaves
                row.job.cancelled.set()
            running.release_finished()
    return {k: round(v, 4) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, help="a prepared models folder (default: a temporary one)")
    ap.add_argument("--clients", default="1,4,16", help="comma-separated N (default 1,4,16)")
    ap.add_argument("--seconds", type=float, default=60.0, help="per phase (default 60)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--grounded-tokens", type=int, default=1200, help="length of the grounded prompt")
    ap.add_argument("--shapes", default="grounded,short")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                    help="llm.dtype for the run (default auto: float32 on a CPU)")
    ap.add_argument("--adapters", action=argparse.BooleanOptionalAction, default=True,
                    help="time decode steps with rows on LoRA engines too (default on)")
    args = ap.parse_args()
    ns = sorted({int(n) for n in args.clients.split(",")} | {1})
    models = args.models or Path(tempfile.mkdtemp(prefix="bench-batching-"))
    llm = LocalLLM(prepare_embedded_llm(models, log), LLMSettings(max_new_tokens=args.max_new_tokens,
                                                                          dtype=args.dtype))
    log(f"{llm.name}, max_batch {llm.batcher.max_batch}, {args.max_new_tokens} new tokens at most")
    phases: list[Phase] = []
    for shape in args.shapes.split(","):
        asks = prompts(llm, shape, args.grounded_tokens)
        llm.generate(asks[0], 4)  # warm
        for n in ns:
            log(f"{shape}: {n} client(s) for {args.seconds:.0f} s ...")
            phase = run_phase(llm, shape, asks, n, args.seconds)
            one = next(p for p in [*phases, phase] if p.shape == shape and p.clients == 1)
            phase.vs_1 = round(phase.tokens_per_s / one.tokens_per_s, 2) if one.tokens_per_s else 0.0
            phases.append(phase)
    measured = costs(llm, prompts(llm, "grounded", args.grounded_tokens))
    t = args.max_new_tokens
    ceiling = (measured["prefill_s"] + t * measured["step_1_s"]) / (
        measured["prefill_s"] + t * measured["step_16_s"] / 16)
    log(f"\n{'shape':9} {'N':>3} {'done':>5} {'p50 s':>7} {'p95 s':>7} {'tok/s':>7} {'vs 1':>5} {'rows':>5}")
    for p in phases:
        log(f"{p.shape:9} {p.clients:>3} {p.done:>5} {p.p50_s:>7.2f} {p.p95_s:>7.2f} {p.tokens_per_s:>7.1f} "
            f"{p.vs_1:>5.2f} {p.peak_rows:>5}")
    log(f"\ngrounded prompt {measured['prompt_tokens']} tokens: prefill {measured['prefill_s']:.2f} s; decode step "
        f"{measured['step_1_s'] * 1000:.0f} ms at batch 1, {measured['step_16_s'] * 1000:.0f} ms at batch 16 "
        f"({16 * measured['step_1_s'] / measured['step_16_s']:.1f}x the tokens per step-second); transformers' "
        f"DynamicCache: {measured['dynamic_step_1_s'] * 1000:.0f} ms and {measured['dynamic_step_16_s'] * 1000:.0f} ms "
        f"(the batcher's 16-row step takes {measured['step_16_s'] / measured['dynamic_step_16_s']:.2f}x its time)")
    log(f"ceiling for grounded prompts at 16 clients, {t} new tokens: {ceiling:.2f}x one client")
    engines = adapter_costs(llm, prompts(llm, "grounded", args.grounded_tokens)) if args.adapters else {}
    if engines:
        log(f"\ndecode step with rows on engines (ms)   {'stacked':>8} {'PEFT':>8} {'ratio':>6}")
        for mix, label in (("base", "base, inside the PeftModel"), ("one", "one adapter"),
                           ("two", "two adapters alternating")):
            for batch in (1, 16):
                if f"stacked_{mix}_{batch}_s" in engines:
                    ours, theirs = engines[f"stacked_{mix}_{batch}_s"], engines[f"peft_{mix}_{batch}_s"]
                    log(f"{label + f', {batch} row(s)':38} {ours * 1000:>8.0f} {theirs * 1000:>8.0f} "
                        f"{ours / theirs:>6.2f}")
    print(json.dumps({"phases": [asdict(p) for p in phases], "costs": measured, "engines": engines,
                      "grounded_ceiling_16": round(ceiling, 2), "max_new_tokens": t}))


if __name__ == "__main__":
    main()
