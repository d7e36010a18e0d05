"""Redaction before anything is written: an adapter is served to everyone who may use its engine, so
personal contact details in a training set would leak to all of them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finetune.errors import FinetuneError

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Phone numbers: an international +CC or a trunk 0, then groups of digits split by spaces, dots, dashes or
# brackets. The digit count is checked afterwards (9 to 15), so years, prices and tender ids stay.
PHONE = re.compile(r"(?<![\w+£$€.,-])(?:\+\d{1,3}[\s.-]?(?:\(0\)\s?)?|\(?0)\d[\d\s().-]{6,16}\d(?![\w-])")
_DIGITS = re.compile(r"\d")


@dataclass
class Redactor:
    """Replace e-mail addresses, phone numbers and any extra patterns; counts what it replaced."""

    patterns: list[str] = field(default_factory=list)
    emails: bool = True
    phones: bool = True
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._extra: list[re.Pattern[str]] = []
        for pattern in self.patterns:
            try:
                self._extra.append(re.compile(pattern))
            except re.error as err:
                raise FinetuneError(f"--redact {pattern!r} is not a valid regular expression: {err}") from err

    def text(self, value: str) -> str:
        if self.emails:
            value, n = EMAIL.subn("[EMAIL]", value)
            self.counts["email"] += n
        if self.phones:
            value = PHONE.sub(self._phone, value)
        for pattern in self._extra:
            value, n = pattern.subn("[REDACTED]", value)
            self.counts["pattern"] += n
        return value

    def _phone(self, match: re.Match[str]) -> str:
        digits = len(_DIGITS.findall(match.group(0)))
        if not 9 <= digits <= 15:
            return match.group(0)
        self.counts["phone"] += 1
        return "[PHONE]"

    def row(self, row: Any) -> Any:
        """Every string inside a dataset row (messages, prompt, chosen, rejected)."""
        if isinstance(row, str):
            return self.text(row)
        if isinstance(row, list):
            return [self.row(x) for x in row]
        if isinstance(row, dict):
            return {k: self.row(v) if k != "role" else v for k, v in row.items()}
        return row
