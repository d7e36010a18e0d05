"""What fine-tuning changes: held-out perplexity after SFT, and won-over-lost preference after DPO.

    python bench/finetune_effect.py                  # builds a demo home in a temporary folder first
    python bench/finetune_effect.py --home HOME      # an indexed home (e.g. one built by `assistant demo`)
    python bench/finetune_effect.py --sft-epochs 2 --dpo-epochs 3 --dpo-lr 5e-5

Every step is the command a user runs (`assistant datagen sft|dpo`, `assistant train sft|dpo`, in
subprocesses); only the scoring is this script's own. Two-fold cross-validation, so that every number is
on data the engine never saw and every row is scored once:
  folds   the SFT rows and DPO pairs are split in two by their question; an SFT row whose answer is a DPO
          pair's won answer goes to that pair's fold (otherwise SFT would have trained on the won text of
          a pair it is then scored on).
  train   per fold: `train sft` on the fold's rows (no validation set: nothing held out steers it), then
          `train dpo --from` that SFT engine on the fold's pairs (the usual chain: DPO on top of SFT); and
          `train sft` on the same rows made by `datagen sft --no-context` (an engine for use without RAG).
  score   on the other fold, against the base model:
          SFT: perplexity of the held-out golden answers (answer tokens only, pooled), with the prompt as
          datagen writes it (RAFT: retrieved passages, the source among them 80 % of the time), also split
          into the rows with and without their source; with the question alone; and, for the engine
          trained on question-only rows, on the held-out question-only rows. Goal: at least 30 % lower.
          DPO: share of held-out pairs where log p(won | prompt) > log p(lost | prompt), summed over the
          answer tokens, and per token (which ignores length: won answers here are about 1.5 times as long
          as lost ones, so the summed figure mostly measures length). Goal: at least 0.8. Beside them
          the held-out accuracy of DPO's implicit reward: the share of pairs where the engine raised the
          won answer's log-probability more than the lost one's, relative to its reference (the SFT
          parent it was trained against; and the base).
The DPO epochs and learning rate are the bench's (default 3, 5e-5: the top of the usual LoRA range), since
a fold of a dozen pairs gives the command's default single epoch only 3 to 5 steps. On the demo's folds
lr 3e-4 with --dpo-loss sigmoid_norm --dpo-beta 3 moved the held-out pairs most (see finetune/README.md).
A human summary goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import assistant  # noqa: F401  (first: it sets the OpenMP wait policy before torch loads)
from bench.common import log, run_assistant
from finetune.store import write_jsonl
from finetune.validate import read_dataset


class Scorer:
    """Log-probabilities of an answer after a chat prompt, under one engine (base + its adapter chain)."""

    def __init__(self, home: Path, engine: str | None) -> None:
        import torch

        from assistant.config import load_settings
        from assistant.engines import EngineRegistry
        from assistant.llm.embedded import resolve_llm_folder
        from finetune.models import load_model

        settings = load_settings(home)
        base = resolve_llm_folder(settings.llm.model, settings.paths.models)
        adapters = EngineRegistry(settings.paths.engines).resolve(engine).adapters if engine else []
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.model = load_model(base, adapters, torch.float32).eval()
        self.torch = torch

    def answer_logprobs(self, prompt: list[dict[str, str]], answer: str) -> list[float]:
        prefix = self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        full = self.tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}],
                                                  tokenize=False)
        if not full.startswith(prefix):
            raise ValueError("the chat template does not extend the prompt with the answer")
        ids = self.tokenizer(full, add_special_tokens=False, return_tensors="pt").input_ids
        start = len(self.tokenizer(prefix, add_special_tokens=False).input_ids)
        with self.torch.no_grad():
            logits = self.model(ids).logits[0, :-1].float()
        logp = self.torch.log_softmax(logits, dim=-1)
        targets = ids[0, 1:]
        picked = logp.gather(1, targets[:, None])[:, 0]
        return picked[start - 1:].tolist()


def question_only(prompt: list[dict[str, str]]) -> list[dict[str, str]]:
    """The prompt without the system turn's retrieved passages: the question as asked without RAG."""
    return [m for m in prompt if m["role"] != "system"]


def _question(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


def _fold_of(text: str, seed: int) -> int:
    return int(hashlib.sha256(f"{seed}\x1f{text}".encode()).hexdigest(), 16) % 2


def _shingles(text: str, n: int = 8) -> set[str]:
    words = text.lower().split()
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def assign_folds(sft: list[dict[str, Any]], dpo: list[dict[str, Any]], seed: int) -> tuple[list[int], list[int]]:
    """Two folds by question; an SFT row whose answer is (mostly) a DPO pair's won answer goes to that pair's
    fold, so the engine scored on a pair never trained on its won text, not even through SFT."""
    dpo_folds = [_fold_of(_question(r["prompt"]), seed) for r in dpo]
    won = [(_shingles(r["chosen"][-1]["content"]), k) for r, k in zip(dpo, dpo_folds, strict=True)]
    sft_folds = []
    for row in sft:
        answer = _shingles(row["messages"][-1]["content"])
        overlap = max(((len(answer & w) / max(1, min(len(answer), len(w))), k) for w, k in won), default=(0, 0))
        sft_folds.append(overlap[1] if overlap[0] >= 0.3 else _fold_of(_question(row["messages"]), seed))
    return sft_folds, dpo_folds


Pair = tuple[float, int, float, int]  # won: summed log-prob, tokens; lost: summed log-prob, tokens


def pair_logprobs(scorer: Scorer, rows: list[dict[str, Any]]) -> list[Pair]:
    out = []
    for row in rows:
        won = scorer.answer_logprobs(row["prompt"], row["chosen"][-1]["content"])
        lost = scorer.answer_logprobs(row["prompt"], row["rejected"][-1]["content"])
        out.append((sum(won), len(won), sum(lost), len(lost)))
    return out


def preferred(pairs: list[Pair], per_token: bool = False) -> list[bool]:
    """Is the won answer more probable than the lost one (summed over its tokens, or per token)?"""
    if per_token:
        return [w / wn > lo / ln for w, wn, lo, ln in pairs]
    return [w > lo for w, _, lo, _ in pairs]


def reward_wins(pairs: list[Pair], reference: list[Pair]) -> list[bool]:
    """DPO's implicit reward: did the engine raise the won answer more than the lost one, relative to the
    reference model (log pi(won) - log ref(won) > log pi(lost) - log ref(lost))?"""
    return [(w - rw) > (lo - rl) for (w, _, lo, _), (rw, _, rl, _) in zip(pairs, reference, strict=True)]


def source_in_prompt(row: dict[str, Any]) -> bool:
    """Did datagen put the answer's own passage among the prompt's passages (RAFT leaves it out of 20 %)?"""
    system = " ".join(m["content"] for m in row["messages"] if m["role"] == "system")
    answer = _shingles(row["messages"][-1]["content"])
    return len(answer & _shingles(system)) / max(1, len(answer)) > 0.5


def nll(scorer: Scorer, rows: list[dict[str, Any]], with_context: bool) -> tuple[float, int]:
    total, n = 0.0, 0
    for row in rows:
        prompt = row["messages"][:-1] if with_context else question_only(row["messages"][:-1])
        lp = scorer.answer_logprobs(prompt, row["messages"][-1]["content"])
        total -= sum(lp)
        n += len(lp)
    return total, n


class Tally:
    """Held-out numbers pooled over the folds."""

    def __init__(self) -> None:
        self.nll: dict[str, list[float]] = {}
        self.prefs: dict[str, list[bool]] = {}

    def add_prefs(self, key: str, values: list[bool]) -> None:
        self.prefs.setdefault(key, []).extend(values)

    def add_nll(self, key: str, value: tuple[float, int]) -> None:
        total = self.nll.setdefault(key, [0.0, 0])
        total[0] += value[0]
        total[1] += value[1]

    def ppl(self, key: str) -> float:
        total, n = self.nll[key]
        return math.exp(total / n)

    def share(self, key: str) -> float:
        return round(sum(self.prefs[key]) / len(self.prefs[key]), 3)


def add_sft_scores(tally: Tally, who: str, scorer: Scorer, rows: list[dict[str, Any]]) -> None:
    """Perplexity keys of RAFT rows: their prompt (pooled, and split by whether the source is in it), and
    their question alone."""
    for row in rows:
        value = nll(scorer, [row], True)
        tally.add_nll(f"{who}/context", value)
        tally.add_nll(f"{who}/context_{'with' if source_in_prompt(row) else 'without'}_source", value)
    tally.add_nll(f"{who}/question", nll(scorer, rows, False))


def run(home: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    made = {name: run_assistant(home, "datagen", kind, *extra, "--out", str(work / f"{name}-all.jsonl"),
                                "--val-fraction", "0", "--seed", str(args.seed))["out"]
            for name, kind, extra in (("sft", "sft", ()), ("nc", "sft", ("--no-context",)), ("dpo", "dpo", ()))}
    sft, nc, dpo = (read_dataset(Path(made[name]), kind) for name, kind in (("sft", "sft"), ("nc", "sft"),
                                                                            ("dpo", "dpo")))
    sft_folds, dpo_folds = assign_folds(sft, dpo, args.seed)
    nc_folds, _ = assign_folds(nc, dpo, args.seed)
    tally: Tally = Tally()
    seconds: dict[str, list[float]] = {"sft": [], "sft_no_context": [], "dpo": []}

    def fold(rows: list[dict[str, Any]], folds: list[int], k: int, held: bool) -> list[dict[str, Any]]:
        return [r for r, f in zip(rows, folds, strict=True) if (f != k) == held]

    base = Scorer(home, None)
    add_sft_scores(tally, "base", base, sft)  # every row is held out by one fold
    tally.add_nll("base/no_context_rows", nll(base, nc, True))
    base_pairs = pair_logprobs(base, dpo)
    tally.add_prefs("base", preferred(base_pairs))
    tally.add_prefs("base_per_token", preferred(base_pairs, per_token=True))
    del base
    epochs = ["--epochs", str(args.sft_epochs)] if args.sft_epochs else []

    for k in (0, 1):
        log(f"fold {k}: train on it, score on fold {1 - k}")
        write_jsonl(work / f"sft{k}.jsonl", fold(sft, sft_folds, k, held=False))
        write_jsonl(work / f"nc{k}.jsonl", fold(nc, nc_folds, k, held=False))
        write_jsonl(work / f"dpo{k}.jsonl", fold(dpo, dpo_folds, k, held=False))
        dpo_held = fold(dpo, dpo_folds, k, held=True)
        base_held = fold(base_pairs, dpo_folds, k, held=True)

        trained = run_assistant(home, "train", "sft", "--data", str(work / f"sft{k}.jsonl"), "--engine", f"fe-sft{k}",
                                *epochs)
        seconds["sft"].append(trained["seconds"])
        scorer = Scorer(home, f"fe-sft{k}")
        add_sft_scores(tally, "sft", scorer, fold(sft, sft_folds, k, held=True))
        sft_pairs = pair_logprobs(scorer, dpo_held)
        tally.add_prefs("sft", preferred(sft_pairs))
        tally.add_prefs("sft_per_token", preferred(sft_pairs, per_token=True))
        tally.add_prefs("sft_reward_vs_base", reward_wins(sft_pairs, base_held))
        del scorer

        trained = run_assistant(home, "train", "sft", "--data", str(work / f"nc{k}.jsonl"), "--engine", f"fe-nc{k}",
                                *epochs)
        seconds["sft_no_context"].append(trained["seconds"])
        tally.add_nll("sft_no_context/no_context_rows",
                      nll(Scorer(home, f"fe-nc{k}"), fold(nc, nc_folds, k, held=True), True))

        dpo_args = ["--lr", str(args.dpo_lr), *(["--epochs", str(args.dpo_epochs)] if args.dpo_epochs else []),
                    *[x for loss in args.dpo_loss for x in ("--loss-type", loss)],
                    *(["--beta", str(args.dpo_beta)] if args.dpo_beta else [])]
        trained = run_assistant(home, "train", "dpo", "--data", str(work / f"dpo{k}.jsonl"), "--engine", f"fe-dpo{k}",
                                "--from", f"fe-sft{k}", *dpo_args)
        seconds["dpo"].append(trained["seconds"])
        dpo_pairs = pair_logprobs(Scorer(home, f"fe-dpo{k}"), dpo_held)
        tally.add_prefs("sft_dpo", preferred(dpo_pairs))
        tally.add_prefs("sft_dpo_per_token", preferred(dpo_pairs, per_token=True))
        tally.add_prefs("sft_dpo_reward_vs_sft", reward_wins(dpo_pairs, sft_pairs))
        tally.add_prefs("sft_dpo_reward_vs_base", reward_wins(dpo_pairs, base_held))

    ppl = {}
    for key, engine, label in (
        ("context", "sft", "RAFT prompt as datagen writes it (pooled)"),
        ("context_with_source", "sft", "  of which: the source among the passages"),
        ("context_without_source", "sft", "  of which: the source left out"),
        ("question", "sft", "the same rows, question alone"),
        ("no_context_rows", "sft_no_context", "question-only rows (datagen --no-context), engine trained on them"),
    ):
        b, t = tally.ppl(f"base/{key}"), tally.ppl(f"{engine}/{key}")
        ppl[key] = {"base": round(b, 3), "sft": round(t, 3), "reduction": round(1 - t / b, 3),
                    "tokens": tally.nll[f"{engine}/{key}"][1]}
        log(f"held-out golden answers, perplexity, {label}: base {b:.2f} -> SFT {t:.2f} ({1 - t / b:.0%} lower)")
    log("  goal: at least 30 % lower")
    shares = {key: tally.share(key) for key in tally.prefs}
    log(f"held-out won/lost pairs where the won answer is more probable ({len(dpo)} pairs): base {shares['base']:.2f}"
        f", SFT {shares['sft']:.2f}, SFT+DPO {shares['sft_dpo']:.2f} (goal >= 0.8); per token: base "
        f"{shares['base_per_token']:.2f}, SFT {shares['sft_per_token']:.2f}, SFT+DPO {shares['sft_dpo_per_token']:.2f}")
    log(f"implicit reward (won raised more than lost): DPO vs its SFT reference {shares['sft_dpo_reward_vs_sft']:.2f}, "
        f"SFT+DPO vs base {shares['sft_dpo_reward_vs_base']:.2f}, SFT vs base {shares['sft_reward_vs_base']:.2f}")
    return {"sft_rows": len(sft), "no_context_rows": len(nc), "dpo_pairs": len(dpo),
            "sft_folds": [sft_folds.count(k) for k in (0, 1)], "dpo_folds": [dpo_folds.count(k) for k in (0, 1)],
            "perplexity": ppl, "won_preferred": shares, "train_seconds": seconds,
            "dpo": {"lr": args.dpo_lr, "epochs": args.dpo_epochs, "loss_type": args.dpo_loss, "beta": args.dpo_beta}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="an indexed home (default: a demo home in a temporary folder)")
    parser.add_argument("--sft-epochs", type=float, help="default: the train command's default")
    parser.add_argument("--dpo-epochs", type=float, default=3, help="DPO passes over its fold (default 3)")
    parser.add_argument("--dpo-lr", type=float, default=5e-5, help="DPO learning rate (default 5e-5)")
    parser.add_argument("--dpo-beta", type=float, help="DPO beta (default: the command's, 0.1)")
    parser.add_argument("--dpo-loss", action="append", default=[], help="DPO loss type, repeatable (default: the "
                        "command's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ft-"))
    try:
        home = args.home or tmp / "home"
        if args.home is None:
            log("building a demo home")
            run_assistant(home, "demo", "--no-serve")
        work = tmp / "data"
        work.mkdir()
        result: dict[str, Any] = {"threads": os.cpu_count(), **run(home, work, args)}
        if args.home is not None:
            # leave the user's home as it was
            for name in ("fe-dpo0", "fe-dpo1", "fe-sft0", "fe-sft1", "fe-nc0", "fe-nc1"):
                if (home / "engines" / name).exists():
                    run_assistant(home, "engines", "remove", name)
        result["seconds"] = round(time.perf_counter() - started)
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
