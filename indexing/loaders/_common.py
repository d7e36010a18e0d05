"""Shared types and text helpers for the document loaders."""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_REASON_CHARS = 200


class LoadError(Exception):
    """The file cannot be turned into text.

    ``str(err)`` is a one-line reason a user can act on (e.g. ``'empty file'``,
    ``'corrupt PDF: <detail>'``). The caller prefixes the path itself.
    """


@dataclass
class Section:
    text: str  # clean text of this part of the file
    page: int | None = None  # 1-based page (PDF), slide (PPTX) or sheet (XLSX) number
    heading: str | None = None  # nearest section heading, if known


@dataclass
class LoadedDocument:
    path: Path
    sections: list[Section]  # in document order, never empty, no section with empty text
    title: str | None = None  # document title from properties / <title> / first H1, if any
    parser: str = ""  # which parser produced it, e.g. "pypdfium2", "pypdf", "python-docx"
    # What was read but not all of it: e.g. "page 7: OCR found no readable text". One line each.
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoadOptions:
    """How loaders read files; picklable, so worker processes get the same options."""

    ocr: str = "auto"  # "auto": OCR pages without a text layer when tesseract is installed; "on"; "off"
    ocr_languages: str = "eng"  # tesseract language codes, e.g. "eng+deu"
    pdf_tables: bool = True  # PDF tables as rows that keep their headers


def one_line(message: str, path: Path | None = None, limit: int = MAX_REASON_CHARS) -> str:
    """Collapse a (library) message to one short line, without the file's own path in it."""
    if path is not None:
        for form in (str(path.absolute()), str(path)):
            if form and form != ".":
                message = message.replace(form, path.name)
    message = " ".join(message.split())
    if len(message) > limit:
        message = message[: limit - 3].rstrip() + "..."
    return message


def describe(exc: BaseException, path: Path | None = None) -> str:
    """'<library message>' for an exception, falling back to its type name when it has no message."""
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1:  # str(KeyError) is the repr of its key
        key = str(exc.args[0])
        text = key if " " in key else f"missing {key!r}"
    if not text:
        return type(exc).__name__
    return one_line(text, path)


# --------------------------------------------------------------------------- text clean-up

# Zero-width characters, soft hyphen and BOMs carry no content; Unicode spaces become a plain space;
# line/paragraph separators and form feeds become line breaks. (A regex with a lookup is much faster
# than str.translate on large texts, where these characters are rare.)
_REPLACEMENTS = {
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
    **dict.fromkeys("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                    "\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    "\u2028": "\n",
    "\u2029": "\n\n",
    "\f": "\n\n",
    "\v": "\n",
}
_REPLACE_RE = re.compile("[" + "".join(_REPLACEMENTS) + "]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACE_RUN_RE = re.compile(r"[ \t]{2,}")
_TRAILING_SPACE_RE = re.compile(r"[ \t]+\n")
_LEADING_SPACE_RE = re.compile(r"\n[ \t]+")
_BLANK_RUN_RE = re.compile(r"\n{3,}")
# "infor-\nmation" -> "information": only between lower-case letters, so "Covid-\n19" stays.
_HYPHEN_BREAK_RE = re.compile(r"(?<=[a-zß-öø-ÿ])-\n(?=[a-zß-öø-ÿ])")


def clean_text(text: str, *, collapse_spaces: bool = True, dehyphenate: bool = False) -> str:
    """Normalise extracted text, keeping line and paragraph breaks meaningful.

    Strips NULs/control characters and invisible characters, unifies line endings, collapses runs
    of spaces (all of them, or with ``collapse_spaces=False`` only trailing ones so that indentation
    in plain text / Markdown survives) and collapses 3+ line breaks to one blank line.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _REPLACE_RE.sub(lambda m: _REPLACEMENTS[m.group()], text)
    text = _CONTROL_RE.sub("", text)
    if "\t" in text and collapse_spaces:
        text = text.replace("\t", " ")
    text = _TRAILING_SPACE_RE.sub("\n", text)
    if collapse_spaces:
        text = _SPACE_RUN_RE.sub(" ", text)
        text = _LEADING_SPACE_RE.sub("\n", text)
    if dehyphenate:
        text = _HYPHEN_BREAK_RE.sub("", text)
    text = _BLANK_RUN_RE.sub("\n\n", text)
    return text.strip()


def one_line_text(text: str) -> str:
    """Text squeezed onto one line (headings, table cells, titles)."""
    return " ".join(clean_text(text).split())


# --------------------------------------------------------------------------- plausibility

_SAMPLE_CHUNK = 64 * 1024
_SAMPLE_CHUNKS = 8


def _sample(text: str) -> str:
    if len(text) <= _SAMPLE_CHUNK * _SAMPLE_CHUNKS:
        return text
    step = (len(text) - _SAMPLE_CHUNK) // (_SAMPLE_CHUNKS - 1)
    return "".join(text[i * step: i * step + _SAMPLE_CHUNK] for i in range(_SAMPLE_CHUNKS))


def text_stats(text: str) -> tuple[int, int, int, int, int]:
    """(non-space, letters+digits, clearly-bad, private-use, distinct non-space) chars of a sample of text."""
    nonspace = alnum = bad = private = 0
    sample = _sample(text)
    for ch in sample:
        if ch.isspace():
            continue
        nonspace += 1
        if ch.isalnum():
            alnum += 1
            continue
        if ch == "\ufffd":
            bad += 1
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cn", "Cs"):
            bad += 1
        elif cat == "Co":
            private += 1
    return nonspace, alnum, bad, private, len(set(sample) - set(" \t\n\r"))


def looks_like_text(text: str, *, min_alnum_share: float = 0.25, max_bad_share: float = 0.05,
                    max_junk_share: float = 0.2) -> bool:
    """True when ``text`` reads like human text rather than binary noise or glyph garbage.

    Requires some letters/digits (at least ``min_alnum_share`` of the non-space characters), few
    replacement/control/unassigned characters (``max_bad_share``) and few of those plus
    private-use glyphs together (``max_junk_share``), and more than a couple of distinct characters in
    a long text (one byte repeated, mis-decoded, is not text). Long texts are judged on a sample.
    """
    nonspace, alnum, bad, private, distinct = text_stats(text)
    if nonspace == 0 or alnum == 0 or (nonspace >= 64 and distinct < 4):
        return False
    if bad / nonspace > max_bad_share or (bad + private) / nonspace > max_junk_share:
        return False
    return alnum / nonspace >= min_alnum_share


# --------------------------------------------------------------------------- sections


class SectionBuilder:
    """Collects lines into Sections, starting a new one at each heading."""

    def __init__(self, *, page: int | None = None, heading: str | None = None,
                 collapse_spaces: bool = True) -> None:
        self.sections: list[Section] = []
        self._lines: list[str] = []
        self._page = page
        self._heading = heading
        self._collapse = collapse_spaces

    def heading(self, text: str, page: int | None = None) -> None:
        text = one_line_text(text)
        if not text:
            return
        self.flush()
        self._heading = text
        if page is not None:
            self._page = page
        self._lines.append(text)

    def line(self, text: str) -> None:
        if text and text.strip():
            self._lines.append(text)

    def flush(self) -> None:
        text = clean_text("\n".join(self._lines), collapse_spaces=self._collapse)
        self._lines = []
        if text:
            self.sections.append(Section(text=text, page=self._page, heading=self._heading))


def sensible_title(value: object, max_chars: int = 300) -> str | None:
    """A metadata title if it is real text, not a placeholder or a file name."""
    if not isinstance(value, str):
        return None
    title = one_line_text(value)
    if not title or len(title) > max_chars or not looks_like_text(title):
        return None
    lowered = title.lower()
    if lowered in {"untitled", "title", "document", "no title", "slide 1", "powerpoint presentation"}:
        return None
    if lowered.startswith(("microsoft word - ", "microsoft powerpoint - ", "untitled-")):
        return None
    if re.fullmatch(r"[\w\-. ]+\.(pdf|docx?|pptx?|xlsx?|txt|rtf|odt|indd|qxd|tmp)", lowered):
        return None
    return title


# --------------------------------------------------------------------------- tables (CSV / XLSX)

ROWS_PER_SECTION = 50


def cell_str(value: object) -> str:
    """A spreadsheet / CSV cell as short one-line text ('' for empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return one_line_text(str(value))


def table_sections(rows: Iterable[Sequence[object]], *, heading: str | None, page: int | None = None,
                   rows_per_section: int = ROWS_PER_SECTION) -> list[Section]:
    """Render rows as 'Header1: v1; Header2: v2' lines (first non-empty row = header), grouped."""
    header: list[str] | None = None
    lines: list[str] = []
    sections: list[Section] = []

    def flush() -> None:
        if lines:
            sections.append(Section(text="\n".join(lines), page=page, heading=heading))
            lines.clear()

    for row in rows:
        cells = [cell_str(v) for v in row]
        if not any(cells):
            continue
        if header is None:
            header = [c or f"Column {i}" for i, c in enumerate(cells, 1)]
            continue
        names = header + [f"Column {i}" for i in range(len(header) + 1, len(cells) + 1)]
        pairs = zip(names, cells, strict=False)
        lines.append("; ".join(f"{name}: {value}" for name, value in pairs if value))
        if len(lines) >= rows_per_section:
            flush()
    flush()
    if header is not None and not sections:  # a header row and nothing else
        sections.append(Section(text="Columns: " + "; ".join(header), page=page, heading=heading))
    return sections
