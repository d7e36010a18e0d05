"""From generated examples to a written dataset: redact, validate, split, write, summarise."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.errors import DataError
from finetune.examples import Generated
from finetune.redact import Redactor
from finetune.store import val_path, write_dataset
from finetune.validate import split, validate


@dataclass
class DatagenResult:
    kind: str
    out: Path
    val_out: Path | None
    rows: int
    validation_rows: int
    skipped: Counter[str]
    tokens: dict[str, Any]
    redacted: dict[str, int]
    notes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `datagen` contract {"out","rows","skipped":[{"reason","count"}]} and more."""
        return {
            "out": str(self.out),
            "rows": self.rows,
            "skipped": [{"reason": r, "count": n} for r, n in sorted(self.skipped.items())],
            "kind": self.kind,
            "validation_out": str(self.val_out) if self.val_out else None,
            "validation_rows": self.validation_rows,
            "tokens": self.tokens,
            "redacted": self.redacted,
            **self.notes,
        }


def finish(
    generated: Generated,
    out: Path,
    redactor: Redactor | None = None,
    count_tokens: Callable[[dict[str, Any]], int] | None = None,
    max_tokens: int | None = None,
    eval_questions: list[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    notes: dict[str, Any] | None = None,
) -> DatagenResult:
    """Redact (before anything is written), validate, split and write; DataError when no row is left."""
    redactor = redactor or Redactor()
    for example in generated.examples:
        example.data = redactor.row(example.data)
        example.question = redactor.text(example.question)
    kept, skipped, tokens = validate(generated, count_tokens, max_tokens, eval_questions)
    skipped.update(generated.skipped)
    if not kept:
        reasons = "; ".join(f"{r}: {n}" for r, n in skipped.most_common()) or "the index holds no matching sources"
        what = "pairs" if generated.kind == "dpo" else "rows"
        raise DataError(f"no {generated.kind.upper()} {what} to write ({reasons}); nothing written")
    train, val = split(kept, val_fraction, seed)
    notes = {**generated.notes, **(notes or {})}
    if generated.kind == "sft" and "without_gold" in notes:
        notes["without_gold"] = sum(1 for e in kept if e.info.get("gold_in_context") is False)
    result = DatagenResult(generated.kind, out, val_path(out) if val else None, len(train), len(val), skipped,
                           tokens, dict(redactor.counts), notes)
    write_dataset(out, [e.data for e in train], [e.data for e in val], result.to_json())
    return result
