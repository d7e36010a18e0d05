"""Checks every training set passes before it is written or trained on.

Schema (TRL's conversational formats), empty turns, length in the base model's own tokens against
the engine's context, duplicates, and leakage of evaluation questions into training prompts (an
evaluation on questions the engine was trained on would flatter it). Generated sets drop failing
rows and count why; a file given to `train` fails on its first bad line, naming it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune.errors import DataError
from finetune.examples import Example, Generated

ROLES = ("system", "user", "assistant")
_WORD = re.compile(r"[^\W_]+")


def _messages_problem(value: Any, field: str, roles: tuple[str, ...] = ROLES) -> tuple[str, str] | None:
    if not isinstance(value, list) or not value:
        return "schema", f'"{field}" must be a non-empty list of messages'
    for n, message in enumerate(value, 1):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            return "schema", f'"{field}" message {n} must be an object with "role" and "content" strings'
        if message["role"] not in roles:
            return "schema", f'"{field}" message {n} has role {message["role"]!r} (expected {", ".join(roles)})'
        if not message["content"].strip():
            return "empty turn", f'"{field}" message {n} ({message["role"]}) is empty'
    return None


def row_problem(row: Any, kind: str) -> tuple[str, str] | None:
    """(reason, detail) for a row that is not a valid `kind` ("sft" or "dpo") example, else None."""
    if not isinstance(row, dict):
        return "schema", "not a JSON object"
    if kind == "sft":
        if "messages" not in row:
            return "schema", 'missing "messages" (expected {"messages": [{"role": ..., "content": ...}, ...]})'
        problem = _messages_problem(row["messages"], "messages")
        if problem:
            return problem
        if not any(m["role"] == "assistant" for m in row["messages"]):
            return "schema", '"messages" has no assistant turn to learn from'
        return None
    for key in ("prompt", "chosen", "rejected"):
        if key not in row:
            return "schema", f'missing "{key}" (expected {{"prompt": [...], "chosen": [...], "rejected": [...]}})'
    problem = _messages_problem(row["prompt"], "prompt", ("system", "user", "assistant"))
    if problem:
        return problem
    for key in ("chosen", "rejected"):
        problem = _messages_problem(row[key], key, ("assistant",))
        if problem:
            return problem
    if row["chosen"] == row["rejected"]:
        return "schema", '"chosen" and "rejected" are the same'
    return None


def read_dataset(path: Path, kind: str) -> list[dict[str, Any]]:
    """A JSONL training set, checked line by line; DataError names the file and the first bad line."""
    if not path.is_file():
        raise DataError(f"{path}: no such data file (make one with `assistant datagen {kind}`)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{n}: not valid JSON ({err.msg} at column {err.colno})") from err
        problem = row_problem(row, kind)
        if problem:
            raise DataError(f"{path}:{n}: {problem[1]} (not a {kind.upper()} row)")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: the dataset is empty")
    return rows


def file_sha256(*paths: Path | None) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path is not None and path.is_file():
            digest.update(path.name.encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _normal(text: str) -> str:
    return " ".join(w.lower() for w in _WORD.findall(text))


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = _normal(text).split()
    return {tuple(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


class LeakChecker:
    """Is a training question (nearly) one of the evaluation questions?"""

    def __init__(self, eval_questions: list[str], threshold: float = 0.5) -> None:
        self.items = [(_normal(q), _trigrams(q)) for q in eval_questions if q.strip()]
        self.threshold = threshold

    def leaks(self, question: str) -> bool:
        norm, grams = _normal(question), _trigrams(question)
        for other, other_grams in self.items:
            if norm == other or (len(other) >= 20 and (other in norm or (len(norm) >= 20 and norm in other))):
                return True
            if grams and other_grams and len(grams & other_grams) / len(grams | other_grams) >= self.threshold:
                return True
        return False


def load_eval_questions(path: Path) -> list[str]:
    """The "question" of each line of an eval questions file (ARCHITECTURE.md's format)."""
    if not path.is_file():
        raise DataError(f"{path}: no such eval questions file")
    questions = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{n}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise DataError(f'{path}:{n}: expected an object with a "question" string')
        questions.append(row["question"])
    return questions


class TokenCounter:
    """Length of a row in the base model's tokens, as its chat template renders it."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def _length(self, messages: list[dict[str, str]]) -> int:
        ids = self.tokenizer.apply_chat_template(messages, tokenize=True)
        if hasattr(ids, "keys"):  # transformers 5 may return a BatchEncoding
            ids = ids["input_ids"]
        return len(ids)

    def __call__(self, row: dict[str, Any]) -> int:
        if "messages" in row:
            return self._length(row["messages"])
        return max(self._length(row["prompt"] + row["chosen"]), self._length(row["prompt"] + row["rejected"]))


def validate(
    generated: Generated,
    count_tokens: Callable[[dict[str, Any]], int] | None = None,
    max_tokens: int | None = None,
    eval_questions: list[str] | None = None,
) -> tuple[list[Example], Counter[str], dict[str, Any]]:
    """The examples that pass, the reasons others failed, and token statistics of those kept."""
    skipped: Counter[str] = Counter()
    leak = LeakChecker(eval_questions or [])
    seen: set[str] = set()
    kept: list[Example] = []
    lengths: list[int] = []
    for example in generated.examples:
        problem = row_problem(example.data, generated.kind)
        if problem:
            skipped[problem[0]] += 1
            continue
        key = hashlib.sha256(json.dumps(example.data, sort_keys=True).encode()).hexdigest()
        if key in seen:
            skipped["duplicate"] += 1
            continue
        if leak.items and leak.leaks(example.question):
            skipped["eval question leak (the prompt is an evaluation question)"] += 1
            continue
        if count_tokens is not None:
            n = count_tokens(example.data)
            if max_tokens is not None and n > max_tokens:
                skipped[f"longer than the engine's context ({max_tokens} tokens)"] += 1
                continue
            lengths.append(n)
        seen.add(key)
        kept.append(example)
    stats: dict[str, Any] = {}
    if lengths:
        stats = {"total": sum(lengths), "min": min(lengths), "max": max(lengths),
                 "mean": round(sum(lengths) / len(lengths), 1)}
    return kept, skipped, stats


def split(examples: list[Example], val_fraction: float, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Train and validation, by group (a question's rows stay together), stable for the same inputs."""
    if val_fraction <= 0 or len(examples) < 2:
        return list(examples), []
    groups = sorted({e.group for e in examples},
                    key=lambda g: hashlib.sha256(f"{seed}\x1f{g}".encode()).hexdigest())
    if len(groups) < 2:
        return list(examples), []
    n_val = min(len(groups) - 1, max(1, round(val_fraction * len(groups))))
    val_groups = set(groups[:n_val])
    train = [e for e in examples if e.group not in val_groups]
    val = [e for e in examples if e.group in val_groups]
    return train, val
