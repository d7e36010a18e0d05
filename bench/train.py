"""Training throughput: our `assistant train sft` path against a plain TRL SFTTrainer script.

    python bench/train.py                      # prepares the embedded model in a temporary folder (~20 s)
    python bench/train.py --models DIR         # reuse a prepared models folder (e.g. HOME/models)
    python bench/train.py --data F.jsonl       # an SFT set of your own (default: RAG-shaped rows from the demo)

Both runs train the same LoRA (r 16, alpha 32, dropout 0, all linear layers, lr 2e-4) on the same rows, model,
effective batch (4 rows on a CPU; on a GPU ours takes 16 packed blocks a step) and max length, one epoch,
each in its own subprocess (so peak memory is its own), alternated --repeats times (the best of each counts:
other load on a shared machine comes and goes):
  ours    finetune.train.run_training, what `assistant train sft` runs with its defaults: loss on the
          assistant turns only, and on a CPU only those positions go through the LM head
          (finetune/lean_head.py; TRL's own head scores every position there), no activation
          checkpointing; on a CPU one row per pass x4 accumulated (no padding, no attention mask), on a
          GPU packed padding-free batches in bf16
  plain   SFTTrainer(model, SFTConfig(defaults + the shared settings), peft_config=LoraConfig(...)):
          TRL's defaults, so no packing, activation checkpointing on, loss on every token, bf16 autocast
          (on a CPU with use_cpu=True, without which TRL's default bf16 refuses to start); --plain-fp32
          runs it in fp32 instead
Throughput counts the rows' real (non-padding) tokens per second of training: per CPU-second of the process
(the headline ratio ours / plain on a CPU, goal >= 1.5: on a shared machine other load stretches wall time,
not the work done) and per wall second (the Trainer's train_runtime; the headline on a GPU, which works
apart from the process' CPU time). A human summary goes to stderr, one JSON line to stdout.
On a GPU pass --batch-size 16 (the plain script's batch) and more --rows: 32 rows are a few steps there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import assistant  # noqa: F401  (first: it sets the OpenMP wait policy before torch loads)
from bench.common import log

CORPUS = Path(__file__).resolve().parent.parent / "assistant" / "demo" / "corpus"
SYSTEM = "You are the company's assistant. Answer the question using only the numbered sources. Cite them like [1]."


def demo_rows(n: int) -> list[dict]:
    """RAG-shaped SFT rows of varied length, from the demo corpus' text files: 1 to 3 numbered passages in
    the system turn, a question from the section heading, the section as the answer (as datagen makes)."""
    sections = []
    for path in sorted(CORPUS.rglob("*.md")):
        heading, body = path.stem, []
        for line in [*path.read_text(encoding="utf-8").splitlines(), "# end"]:
            if line.startswith("#"):
                text = " ".join(body).strip()
                if len(text.split()) >= 15:
                    sections.append((heading, text))
                heading, body = line.lstrip("# ").strip(), []
            elif line.strip():
                body.append(line.strip())
    rows = []
    for i in range(n):
        heading, answer = sections[i % len(sections)]
        passages = [sections[(i * 7 + k) % len(sections)][1] for k in range(1 + i % 3)] + [answer]
        system = SYSTEM + "\n\nSources:\n\n" + "\n\n".join(f"[{k}] {p}" for k, p in enumerate(passages, 1))
        rows.append({"messages": [{"role": "system", "content": system},
                                  {"role": "user", "content": f"What do our documents say about {heading}?"},
                                  {"role": "assistant", "content": f"{answer} [{len(passages)}]"}]})
    return rows


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuClock:
    """CPU seconds of this process between the start and the end of training (a TrainProgress for ours, a
    TrainerCallback for plain): on a shared machine, other load stretches wall time, not this."""

    def __init__(self) -> None:
        self.start_s = self.end_s = 0.0

    def start(self, *args: object) -> None:
        self.start_s = cpu_seconds()

    def update(self, *args: object) -> None:
        pass

    def finish(self) -> None:
        self.end_s = cpu_seconds()

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


def peak_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def real_tokens(rows: list[dict], folder: Path, max_length: int) -> int:
    from transformers import AutoTokenizer

    from finetune.validate import TokenCounter

    count = TokenCounter(AutoTokenizer.from_pretrained(folder))
    return sum(min(count(r), max_length) for r in rows)


def worker_ours(data: Path, folder: Path, args: argparse.Namespace) -> dict:
    from finetune.recipes import TrainRecipe
    from finetune.train import METRICS_FILE, TrainJob, run_training

    run_dir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    # Our defaults decide the batching (the point of the comparison): on a CPU one row per pass with 4 passes
    # accumulated, the plain run's batch of 4 with padding; on a GPU 8 packed blocks of max_length, 2 accumulated.
    packing = {"default": None, "on": True, "off": False}[args.ours_packing]
    recipe = TrainRecipe(epochs=1, max_length=args.max_length, learning_rate=2e-4,
                         lora_r=16, save_steps=10_000, logging_steps=5, packing=packing)
    clock = CpuClock()
    try:
        result = run_training(TrainJob("sft", data, folder, run_dir, recipe, val=None), progress=clock)
        runtime = [json.loads(x) for x in (run_dir / METRICS_FILE).read_text().splitlines()][-1]["train_runtime"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"runtime": runtime, "cpu_s": round(clock.seconds, 1), "steps": result.steps,
            "loss": result.metrics.get("train_loss_mean"),
            "tokens_seen": result.tokens_seen, "peak_mb": peak_mb()}


def worker_plain(data: Path, folder: Path, args: argparse.Namespace) -> dict:
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    out_dir = tempfile.mkdtemp(prefix="bench-plain-")
    config = SFTConfig(output_dir=out_dir, num_train_epochs=1,
                       per_device_train_batch_size=args.batch_size, max_length=args.max_length, learning_rate=2e-4,
                       save_strategy="no", report_to="none", logging_steps=5, disable_tqdm=True,
                       # TRL's default bf16=True starts on a CPU only with use_cpu; --plain-fp32 turns it off.
                       use_cpu=not torch.cuda.is_available(), bf16=False if args.plain_fp32 else None)
    from finetune.recipes import TrainRecipe

    lora = TrainRecipe().resolved("sft", False)  # the same LoRA as ours: r 16, alpha 32, dropout 0, all linear
    peft_config = LoraConfig(r=lora.lora_r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
                             target_modules=lora.target_modules, task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=load_dataset("json", data_files=str(data))["train"],
                         processing_class=tokenizer, peft_config=peft_config)
    from transformers import TrainerCallback

    clock = CpuClock()

    class Clock(TrainerCallback):
        def on_train_begin(self, *args: object, **kwargs: object) -> None:
            clock.start()

        def on_train_end(self, *args: object, **kwargs: object) -> None:
            clock.finish()

    trainer.add_callback(Clock())
    try:
        output = trainer.train()
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"runtime": output.metrics["train_runtime"], "cpu_s": round(clock.seconds, 1),
            "steps": trainer.state.global_step,
            "loss": round(output.training_loss, 4), "peak_mb": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="a prepared models folder to reuse (saves the conversion)")
    parser.add_argument("--model", type=Path, help="a local Hugging Face model folder instead of the embedded one")
    parser.add_argument("--data", type=Path, help="SFT JSONL (default: RAG-shaped rows from the demo corpus)")
    parser.add_argument("--rows", type=int, default=32, help="rows of the default data (default 32)")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="the plain script's batch (ours keeps its defaults: 1 x 4 on a CPU, 8 x 2 on a GPU)")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--plain-fp32", action="store_true", help="run the plain baseline in fp32")
    parser.add_argument("--ours-packing", choices=["default", "on", "off"], default="default",
                        help="ours with packed padding-free batches or padded ones (default: ours' default, "
                             "packed on a GPU only)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternated; the best counts")
    parser.add_argument("--worker", choices=["ours", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        run = worker_ours if args.worker == "ours" else worker_plain
        print(json.dumps(run(args.data, args.folder, args)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path) -> None:
    if args.model:
        folder = args.model
    else:
        from assistant.llm.embedded import prepare_embedded_llm

        folder = prepare_embedded_llm(args.models or work / "models", log)
    data = args.data
    if data is None:
        data = work / "sft.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in demo_rows(args.rows)))
    rows = [json.loads(x) for x in data.read_text().splitlines() if x.strip()]
    tokens = real_tokens(rows, folder, args.max_length)
    log(f"{len(rows)} rows, {tokens} tokens (max length {args.max_length}), batch {args.batch_size}, model {folder}")
    runs: dict[str, list[dict]] = {}
    # Alternated, best of --repeats each: other load on a shared machine comes and goes. Plain goes first, so
    # any warm-up (the weights in the page cache) favours the baseline.
    for name in ("plain", "ours") * args.repeats:
        started = time.monotonic()
        cmd = [sys.executable, __file__, "--worker", name, "--data", str(data), "--folder", str(folder),
               "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
               "--ours-packing", args.ours_packing, *(["--plain-fp32"] if args.plain_fp32 else [])]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if done.returncode != 0:
            raise SystemExit(f"{name} run failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["tokens_per_s"] = round(tokens / result["runtime"], 1)
        result["tokens_per_cpu_s"] = round(tokens / result["cpu_s"], 1)
        result["samples_per_s"] = round(len(rows) / result["runtime"], 3)
        result["wall_s"] = round(time.monotonic() - started, 1)
        runs.setdefault(name, []).append(result)
        log(f"{name:5}  {result['tokens_per_s']:7.1f} tokens/s  {result['tokens_per_cpu_s']:6.1f} tokens/CPU-s  "
            f"{result['samples_per_s']:6.3f} samples/s  train {result['runtime']:.1f} s ({result['cpu_s']:.0f} CPU-s)  "
            f"{result['steps']} steps  loss {result['loss']}  peak {result['peak_mb']:.0f} MB")
    best = {name: {key: max(r[key] for r in items) for key in ("tokens_per_s", "tokens_per_cpu_s", "samples_per_s")}
            | {"peak_mb": max(r["peak_mb"] for r in items), "runs": items} for name, items in runs.items()}
    cpu_ratio = best["ours"]["tokens_per_cpu_s"] / best["plain"]["tokens_per_cpu_s"]
    wall_ratio = best["ours"]["tokens_per_s"] / best["plain"]["tokens_per_s"]
    import torch

    # A GPU works asynchronously from the process' CPU time: there the headline is per wall second.
    gpu = torch.cuda.is_available()
    ratio = wall_ratio if gpu else cpu_ratio
    log(f"ratio ours / plain, best of {args.repeats} each: {cpu_ratio:.2f}x tokens per CPU-second, "
        f"{wall_ratio:.2f}x tokens per wall second (headline: {'wall' if gpu else 'CPU'}; on a shared CPU other "
        f"load skews wall time); peak {best['ours']['peak_mb']:.0f} vs {best['plain']['peak_mb']:.0f} MB "
        "(goal >= 1.5)")
    print(json.dumps({"rows": len(rows), "tokens": tokens, "device": "cuda" if gpu else "cpu", "ours": best["ours"],
                      "plain": best["plain"], "plain_fp32": args.plain_fp32, "ours_packing": args.ours_packing,
                      "ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2), "wall_ratio": round(wall_ratio, 2)}))


if __name__ == "__main__":
    main()
