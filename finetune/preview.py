"""A training set at a glance, before training on it: its kind, row counts, what datagen skipped and why,
its tokens, and its first rows shortened for a table. Checked by the same reader `train` uses, so a file
that would not train says why here, with its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finetune.errors import DataError
from finetune.store import summary_path, val_path
from finetune.validate import read_dataset

CELL = 160  # characters of a message shown in a preview cell


def dataset_kind(path: Path) -> str:
    """"sft" (rows with messages) or "dpo" (prompt, chosen, rejected), from the file's first row."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = next((line for line in fh if line.strip()), "")
        row = json.loads(first) if first else None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:1: not valid JSON ({err.msg} at column {err.colno})") from err
    if isinstance(row, dict) and "messages" in row:
        return "sft"
    if isinstance(row, dict) and "prompt" in row:
        return "dpo"
    raise DataError(f"{path}: the first row has neither \"messages\" (SFT) nor \"prompt\" (DPO)"
                    if row is not None else f"{path}: the dataset is empty")


def dataset_preview(path: Path, first: int = 5) -> dict[str, Any]:
    """{"file","kind","rows","validation_rows","skipped":[{"reason","count"}],"tokens","first":[…]}.
    `skipped` and `tokens` come from the summary datagen wrote beside the set (none for a hand-made file)."""
    kind = dataset_kind(path)
    rows = read_dataset(path, kind)
    val_file = val_path(path)
    validation = read_dataset(val_file, kind) if val_file.is_file() else []
    summary: dict[str, Any] = {}
    if summary_path(path).is_file():
        try:
            summary = json.loads(summary_path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            summary = {}  # a damaged summary only loses the skipped counts, not the preview
    return {"file": str(path), "kind": kind, "rows": len(rows), "validation_rows": len(validation),
            "skipped": summary.get("skipped", []), "tokens": summary.get("tokens"),
            "first": [_shown(row, kind) for row in rows[:first]]}


def _shown(row: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "sft":
        messages = row["messages"]
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        answer = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
        return {"question": _cut(_last_line(question)), "answer": _cut(answer)}
    question = next((m["content"] for m in reversed(row["prompt"]) if m["role"] == "user"), "")
    return {"question": _cut(_last_line(question)), "chosen": _cut(row["chosen"][-1]["content"]),
            "rejected": _cut(row["rejected"][-1]["content"])}


def _last_line(text: str) -> str:
    """A RAFT prompt is its documents then the question: the question is what a person reads first."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CELL else text[: CELL - 1] + "…"
