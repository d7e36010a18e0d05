"""Years and periods as people and filings write them: FY2022, FY 22, FY2023/24, Q2'2023, 2023Q2, Q4 2022.

Questions name periods ("Pfizer's Q2'2023 revenue", "Adobe's FY2022 margin") in forms that neither
a word index nor a small embedder relate to the "2022" of a file name or a title. Spelling them out
the same way on both sides, and ranking documents of the named year first, fixes that.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

YEAR = r"(?:19[5-9]\d|20\d\d)"
YEARS = re.compile(rf"(?<!\d){YEAR}(?!\d)")
_FY = re.compile(r"(?<![A-Za-z])FY[\s_-]?['’]?(\d{4}|\d{2})(?!\d)", re.I)
_QUARTER_FIRST = re.compile(rf"(?<![A-Za-z])Q([1-4])[\s_-]?['’]?({YEAR}|\d{{2}})(?!\d)", re.I)
_YEAR_FIRST = re.compile(rf"(?<!\d)({YEAR})[\s_-]?Q([1-4])(?!\d)", re.I)
_SPLIT_YEAR = re.compile(rf"(?<!\d)({YEAR})\s?[/-]\s?(\d{{2}})(?![\d/-])")  # "2023/24": a fiscal year over two
# Metadata that says which period a whole document is of.
_PERIOD_KEYS = ("title", "period", "date", "file_name")


def _full_year(digits: str) -> str:
    return digits if len(digits) == 4 else f"20{digits}"


def spell_out_periods(text: str) -> str:
    """'FY22' -> 'FY 2022', "Q2'23" and '2023Q2' -> 'Q2 2023', '2023/24' -> '2023/2024': years as words of their own."""
    text = _SPLIT_YEAR.sub(lambda m: f"{m.group(1)}/{m.group(1)[:2]}{m.group(2)}", text)
    text = _FY.sub(lambda m: f"FY {_full_year(m.group(1))}", text)
    text = _QUARTER_FIRST.sub(lambda m: f"Q{m.group(1)} {_full_year(m.group(2))}", text)
    return _YEAR_FIRST.sub(lambda m: f"Q{m.group(2)} {m.group(1)}", text)


def years_named(text: str) -> set[str]:
    return set(YEARS.findall(spell_out_periods(text)))


def document_years(metadata: dict[str, Any]) -> set[str]:
    """The years a document is of, by its title, period, date and file name (not by what its text mentions)."""
    return _years_of(tuple(str(metadata.get(key) or "") for key in _PERIOD_KEYS))


@lru_cache(maxsize=4096)  # asked for every candidate chunk of every question; a document's chunks share it
def _years_of(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(year for value in values if value for year in years_named(value.replace("_", " ")))
