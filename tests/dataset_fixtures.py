"""Test helpers for training and evaluation sets: JSONL files and preference rows (no heavy imports, so
the GPU tests can use them on a machine with only the training stack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def dpo_rows(n: int) -> list[dict[str, Any]]:
    return [{
        "prompt": [{"role": "user", "content": f"Tender question {i}: how will you deliver?"}],
        "chosen": [{"role": "assistant", "content": f"Promise: we deliver in {i + 3} months. Proof: we did it."}],
        "rejected": [{"role": "assistant", "content": "We are a leading provider of innovative solutions."}],
    } for i in range(n)]
