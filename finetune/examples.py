"""What the generators produce and the validator checks: one dataset row plus what it was made from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finetune.corpus import Chunk

# queries, how many chunks each, the groups the set may draw on -> ranked chunks per query
Retrieve = Callable[[list[str], int, list[str]], list[list[Chunk]]]


@dataclass
class Example:
    data: dict[str, Any]  # the JSONL row as written
    question: str  # the user's question (leakage and duplicate checks)
    group: str  # rows sharing a group land on the same side of the train/validation split
    source: str
    info: dict[str, Any] = field(default_factory=dict)  # e.g. {"gold_in_context": True}


@dataclass
class Generated:
    kind: str  # "sft" or "dpo"
    examples: list[Example]
    skipped: Counter[str] = field(default_factory=Counter)
    notes: dict[str, Any] = field(default_factory=dict)  # extra summary keys (e.g. DPO's unpaired questions)
