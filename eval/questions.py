"""Read an evaluation questions file (JSONL, ARCHITECTURE.md "Eval questions").

One object per line: {"question", "reference"?, "reference_contexts"?: [...], "reference_sources"?: [...],
"answerable"?: bool, "label"?}. Every problem names the file and the line, so a user can fix it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class EvalInputError(ValueError):
    """A bad questions file, option or setting; the message says which and where (file:line)."""


@dataclass
class Question:
    line: int  # 1-based line in the file, so a report row can be traced back to its source
    question: str
    reference: str | None = None
    reference_contexts: list[str] = field(default_factory=list)
    reference_sources: list[str] = field(default_factory=list)
    answerable: bool | None = None
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line, "question": self.question, "reference": self.reference,
            "reference_contexts": self.reference_contexts, "reference_sources": self.reference_sources,
            "answerable": self.answerable, "label": self.label,
        }


def _string_list(value: Any, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvalInputError(f'{where}: "{key}" must be a list of strings')
    return [v for v in value if v.strip()]


def parse_question(row: Any, where: str, line: int) -> Question:
    if not isinstance(row, dict):
        raise EvalInputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    text = row.get("question")
    if not isinstance(text, str) or not text.strip():
        raise EvalInputError(f'{where}: expected a non-empty "question" string')
    reference = row.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise EvalInputError(f'{where}: "reference" must be a string')
    answerable = row.get("answerable")
    if answerable is not None and not isinstance(answerable, bool):
        raise EvalInputError(f'{where}: "answerable" must be true or false')
    label = row.get("label")
    if label is not None and not isinstance(label, str | int | float | bool):
        raise EvalInputError(f'{where}: "label" must be a string')
    return Question(
        line=line,
        question=text,
        # An empty reference ("" for unanswerable questions) is no reference: metrics needing one skip it.
        reference=reference if reference and reference.strip() else None,
        reference_contexts=_string_list(row.get("reference_contexts"), "reference_contexts", where),
        reference_sources=_string_list(row.get("reference_sources"), "reference_sources", where),
        answerable=answerable,
        label=str(label).strip() if label is not None and str(label).strip() else None,
    )


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    """Every question of the file (the first `limit` with a limit). Raises EvalInputError naming file:line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as err:
        raise EvalInputError(f"{path}: no such questions file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise EvalInputError(f"{path}: cannot read: {err}") from err
    questions: list[Question] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise EvalInputError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from err
        questions.append(parse_question(row, where, n))
    if not questions:
        raise EvalInputError(f'{path}: no questions (expected one {{"question": ...}} object per line)')
    # The whole file is checked even with a limit: a broken line should not wait for the full run to show up.
    return questions[:limit] if limit else questions


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
