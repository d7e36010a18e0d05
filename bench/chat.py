"""Chat generation benchmark on the embedded model: the streaming path against plain generate().

    python bench/chat.py                       # prepares the embedded model in a temporary folder (~20 s)
    python bench/chat.py --models DIR          # reuse a prepared models folder (e.g. HOME/models)

Prints, from one run (a human summary on stderr, one JSON line on stdout):
  stream tokens/s   LocalLLM.stream(): the Batcher's decode loop (assistant/llm/batching.py), one row alone,
                    tokens of the text it yields
  plain tokens/s    model.generate() on the same prompt and settings, tokens of its decoded text; run on
                    the calling thread and on a worker thread, the faster of the two is the baseline
  ratio             stream / plain                        (goal >= 0.95: streaming costs next to nothing)
  time to first token   for a ~1 500-token grounded prompt (real demo documents), until the first piece
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import assistant  # noqa: F401  (first: it sets the OpenMP wait policy before torch loads)
from assistant.config import LLMSettings
from assistant.llm.base import cut_at_stop
from assistant.llm.embedded import prepare_embedded_llm
from assistant.llm.local import LocalLLM
from bench.common import log

CORPUS = Path(__file__).resolve().parent.parent / "assistant" / "demo" / "corpus"
QUESTION = "Explain step by step how our company prepares a bid for a public tender, with examples."


def grounded_prompt(llm: LocalLLM, target_tokens: int) -> list[dict[str, str]]:
    """A RAG-shaped prompt: numbered passages of the demo corpus' text files, about target_tokens long."""
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(CORPUS.rglob("*")) if
             p.suffix in (".md", ".txt") and p.is_file()]
    system = "You are the company's assistant. Answer using only the numbered sources. Cite them like [1].\n\n"
    blocks: list[str] = []
    for text in texts * 4:
        for paragraph in (p.strip() for p in text.split("\n\n")):
            if len(paragraph) < 80:
                continue
            candidate = [*blocks, f"[{len(blocks) + 1}] {paragraph}"]
            messages = [{"role": "system", "content": system + "\n\n".join(candidate)},
                        {"role": "user", "content": "What services does the company offer?"}]
            if prompt_tokens(llm, messages) > target_tokens:
                return [{"role": "system", "content": system + "\n\n".join(blocks)}, messages[1]]
            blocks = candidate
    raise SystemExit(f"not enough text under {CORPUS} for a {target_tokens}-token prompt")


def prompt_tokens(llm: LocalLLM, messages: list[dict[str, str]]) -> int:
    return len(llm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"])


def run_stream(llm: LocalLLM, messages: list[dict[str, str]]) -> tuple[str, float]:
    start = time.perf_counter()
    text = "".join(llm.stream(messages))
    return text, time.perf_counter() - start


def run_plain(llm: LocalLLM, messages: list[dict[str, str]], on_thread: bool) -> tuple[str, float]:
    import torch

    inputs, kwargs = llm.prepare(messages)  # the very arguments the streaming path uses
    result: dict[str, float | str] = {}

    def work() -> None:
        with torch.inference_mode():
            start = time.perf_counter()
            output = llm.model.generate(**inputs, **kwargs)
            result["seconds"] = time.perf_counter() - start
        new = output[0, inputs["input_ids"].shape[1] :]
        result["text"] = cut_at_stop(llm.tokenizer.decode(new, skip_special_tokens=True), llm.settings.stop)

    if on_thread:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    else:
        work()
    return str(result["text"]), float(result["seconds"])


def time_to_first_token(llm: LocalLLM, messages: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    stream = llm.stream(messages)
    next(stream)
    elapsed = time.perf_counter() - start
    stream.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="a prepared models folder to reuse (saves the conversion)")
    parser.add_argument("--tokens", type=int, default=96, help="max new tokens per generation (default 96)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each path; the best counts (default 3)")
    parser.add_argument("--prompt-tokens", type=int, default=1500, help="prompt size for time to first token")
    args = parser.parse_args()
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        models = args.models or Path(tmp) / "models"
        folder = prepare_embedded_llm(models, log)
        llm = LocalLLM(folder, LLMSettings(max_new_tokens=args.tokens))
        messages = [{"role": "user", "content": QUESTION}]
        llm.generate(messages, 8)  # warm-up, not timed

        rates: dict[str, list[float]] = {"stream": [], "plain": [], "plain_thread": []}
        texts: dict[str, str] = {}
        for _ in range(args.repeats):  # interleaved, so that a busy moment hits every path alike
            for key, run in (("stream", lambda: run_stream(llm, messages)),
                             ("plain", lambda: run_plain(llm, messages, on_thread=False)),
                             ("plain_thread", lambda: run_plain(llm, messages, on_thread=True))):
                text, seconds = run()
                texts[key] = text
                rates[key].append(llm.count_tokens(text) / seconds)
        if len(set(texts.values())) != 1:
            log("warning: the paths generated different texts; the comparison is off")
        tokens = llm.count_tokens(texts["stream"])
        best = {key: max(values) for key, values in rates.items()}
        baseline = max(best["plain"], best["plain_thread"])
        ratio = best["stream"] / baseline

        long_prompt = grounded_prompt(llm, args.prompt_tokens)
        n_prompt = prompt_tokens(llm, long_prompt)
        ttfts = [time_to_first_token(llm, long_prompt) for _ in range(3)]
        ttft = statistics.median(ttfts)
        short_ttft = statistics.median(time_to_first_token(llm, messages) for _ in range(3))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {
        "model": folder.name, "device": llm.device, "threads": _torch_threads(), "max_new_tokens": args.tokens,
        "generated_tokens": tokens, "stream_tokens_per_s": round(best["stream"], 2),
        "plain_tokens_per_s": round(best["plain"], 2), "plain_thread_tokens_per_s": round(best["plain_thread"], 2),
        "ratio": round(ratio, 3), "ratio_goal": 0.95, "ttft_s": round(ttft, 3), "ttft_prompt_tokens": n_prompt,
        "ttft_short_prompt_s": round(short_ttft, 3), "load_average_1m": load,
        "seconds": round(time.perf_counter() - began, 1),
    }
    log(f"model {folder.name} on {llm.device}, {result['threads']} threads, load average {load}")
    log(f"stream        {best['stream']:6.1f} tokens/s  ({tokens} tokens, best of {args.repeats})")
    log(f"plain         {best['plain']:6.1f} tokens/s  (model.generate on the calling thread)")
    log(f"plain thread  {best['plain_thread']:6.1f} tokens/s  (model.generate on a worker thread)")
    log(f"ratio         {ratio:6.3f}   (goal >= 0.95) {'ok' if ratio >= 0.95 else 'BELOW GOAL'}")
    log(f"first token   {ttft:6.2f} s for a {n_prompt}-token prompt; {short_ttft:.2f} s for a short one")
    print(json.dumps(result))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
