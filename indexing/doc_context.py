"""What a document is, derived from the document itself when nobody said: title, parties, kind, period.

Files from outside arrive without sidecars, and their own metadata is often wrong (a PDF "Title"
that is an accession number, "Microsoft Word - draft3.docx"). A chunk from page 30 of such a file
says nothing about which company or period it belongs to, so retrieval needs this context from
somewhere: from the file name (`2023 Q1 ACME.pdf`, `AMAZON_2017_10K.pdf`) and the first pages.

Every derived value fills a gap only: metadata given by a sidecar, `_meta.yaml` or `--meta` wins.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexing.loaders import Section
from indexing.loaders._common import sensible_title
from indexing.periods import YEAR, YEARS, spell_out_periods

LEAD_CHARS = 6000  # of the first pages' text: enough for a cover page and a filing's front matter

# Kinds of document, as (label, pattern over the file name and the first pages). First match wins,
# so the specific ones come first. Labels are what a person would call the document.
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.I))
    for label, pattern in (
        ("annual report (10-K)", r"\b10[-_ ]?K\b|form 10-k|annual report pursuant to section"),
        ("quarterly report (10-Q)", r"\b10[-_ ]?Q\b|form 10-q|quarterly report pursuant to section"),
        ("current report (8-K)", r"\b8[-_ ]?K\b|form 8-k|current report pursuant to section"),
        ("earnings release", r"\bearnings\b|\bresults\b.{0,40}\b(?:quarter|year)\b|\bquarter\b.{0,40}\bresults\b"),
        ("invitation to tender", r"invitation to tender|\bITT\b|request for (?:proposals?|quotations?|tenders?)"
                                 r"|\bRF[PQI]\b|call for tenders?|tender notice|\btender\b"),
        ("bid", r"\bbid\b|\bproposal\b|response to (?:the )?(?:itt|rfp|tender)"),
        ("contract", r"\bcontract\b|\bagreement\b|terms and conditions|\bmemorandum of understanding\b"),
        ("annual report", r"annual report|\bannual review\b|integrated report"),
        ("policy", r"\bpolicy\b|\bcode of conduct\b|\bprocedure\b|\bhandbook\b"),
        ("minutes", r"\bminutes\b|\bagenda\b"),
        ("research article", r"\babstract\b.{0,200}\b(?:methods|results)\b|\bet al\.|\bdoi:"),
    )
)

_COMPANY_SUFFIX = (r"(?:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.|Ltd\.?|Limited|plc|PLC|LLC|LLP|"
                   r"L\.P\.|GmbH|AG|S\.A\.|N\.V\.|SE|Group|Holdings|Bancorp|Trust)")
_NAME_WORD = r"(?:[A-Z0-9][\w&'’.\-]*|&|and|of|the)"
_COMPANY = re.compile(rf"\b((?:[A-Z][\w&'’.\-]*)(?: {_NAME_WORD}){{0,6}}?,? {_COMPANY_SUFFIX})(?![\w])")
_REGISTRANT = re.compile(r"\n\s*([^\n]{2,80}?)\s*\n[^\n]{0,10}\(\s*exact name of registrant", re.I)
_ROLE_PARTY = re.compile(
    r"\b(?i:prepared for|submitted to|issued by|on behalf of|contracting authority)"
    r"\s*:?\s+((?:the )?[A-Z][\w&'’.\-]*(?: [A-Z&][\w&'’.\-]*){0,5})"
)
_PERIOD_ENDED = re.compile(
    rf"(?:fiscal )?(year|quarter|quarterly period|period|three months|six months|nine months|twelve months)"
    rf" ended,?\s+((?:january|february|march|april|may|june|july|august|september|october|november|december)"
    rf"\s+\d{{1,2}},?\s+{YEAR})", re.I,
)
# On a file name spelled out by `spell_out_periods`: "2023Q2", "Q2-23" and "FY22" are "Q2 2023", "FY 2022".
_NAME_QUARTER = re.compile(rf"(?<![A-Za-z])Q([1-4]) ({YEAR})(?!\d)", re.I)
_NAME_FY = re.compile(rf"(?<![A-Za-z])FY ({YEAR})(?!\d)", re.I)
_DATED = re.compile(rf"(?<!\d)({YEAR})[-_.](\d\d)[-_.](\d\d)(?!\d)")


@dataclass
class DocumentContext:
    title: str | None = None
    parties: list[str] = field(default_factory=list)
    kind: str | None = None
    period: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        """The derived fields as metadata keys (empty ones left out)."""
        out: dict[str, Any] = {}
        if self.title:
            out["title"] = self.title
        if self.parties:
            out["parties"] = ", ".join(self.parties)
        if self.kind:
            out["kind"] = self.kind
        if self.period:
            out["period"] = self.period
        return out


def readable_stem(file_name: str) -> str:
    """`AMAZON_2017_10K.pdf` -> `AMAZON 2017 10K`: the file name as words."""
    stem = Path(file_name).stem
    return " ".join(re.sub(r"[_+]+|(?<=[a-z])(?=[A-Z])|(?<=\D)-(?=\D)", " ", stem).split())


def plausible_title(value: object) -> str | None:
    """A metadata title a reader would recognise; identifiers, file names and placeholders are not."""
    title = sensible_title(value)
    if title is None:
        return None
    words = re.findall(r"[^\W\d_]{2,}", title)
    if not words:  # "0000320193-23-000006", "12345.pdf"
        return None
    letters = sum(len(w) for w in words)
    if letters < 0.4 * len(title.replace(" ", "")):  # mostly digits and punctuation: an identifier
        return None
    if re.fullmatch(r"[\w.\-]+", title) and re.search(r"\d", title) and "_" in title:  # a file-name-like token
        return None
    return title


def _lead_text(sections: Sequence[Section]) -> str:
    parts, size = [], 0
    for section in sections:
        if section.page is not None and section.page > 3:
            break
        parts.append(section.text)
        size += len(section.text)
        if size >= LEAD_CHARS:
            break
    return "\n".join(parts)[:LEAD_CHARS]


def _title_from_text(lead: str) -> str | None:
    """The first line of the first page that reads like a title (a few words, mostly letters)."""
    for line in lead.splitlines()[:40]:
        line = " ".join(line.split())
        if not 8 <= len(line) <= 120:
            continue
        words = re.findall(r"[^\W\d_]{2,}", line)
        if len(words) < 2 or sum(map(len, words)) < 0.6 * len(line.replace(" ", "")):
            continue
        if line.lower().startswith(("table of contents", "page ", "http", "www.")):
            continue
        return line
    return None


def derive_parties(lead: str) -> list[str]:
    found: Counter[str] = Counter()
    registrant = _REGISTRANT.search("\n" + lead)
    if registrant:
        found[re.sub(r"^[\W_]+|[\W_]+$", "", " ".join(registrant.group(1).split()))] += 10
    for match in _ROLE_PARTY.finditer(lead):
        found[match.group(1).strip(" .,")] += 3
    for match in _COMPANY.finditer(lead):
        name = " ".join(match.group(1).split())
        if len(name) <= 80 and not name.lower().startswith(("the company", "our company", "this company")):
            found[name] += 1
    # A name met once among the first pages is as likely a checkbox label ("Smaller Reporting Company")
    # or a stock exchange as a party; the registrant line and "prepared for X" say so outright.
    ranked = [name for name, n in found.most_common() if n >= 2 and any(c.isalpha() for c in name)]
    out: list[str] = []
    for name in ranked:  # "3M Company" over "3M" is a duplicate, not a second party
        if not any(name.lower() in o.lower() or o.lower() in name.lower() for o in out):
            out.append(name)
        if len(out) == 2:
            break
    return out


def derive_kind(file_name: str, lead: str) -> str | None:
    head = f"{readable_stem(file_name)}\n{lead[:800]}"  # the cover, not the body: prose mentions everything
    for label, pattern in _KINDS:
        if pattern.search(head):
            return label
    return None


def derive_period(file_name: str, lead: str) -> str | None:
    """"Q2 2023", "FY2022" or "2017" from the file name, else "year ended December 31, 2022" from the text."""
    stem = spell_out_periods(readable_stem(file_name))
    if m := _NAME_QUARTER.search(stem):
        return f"Q{m.group(1)} {m.group(2)}"
    if m := _DATED.search(Path(file_name).stem):
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    if m := _NAME_FY.search(stem):
        return f"FY{m.group(1)}"
    if m := _PERIOD_ENDED.search(lead):
        return f"{m.group(1).lower()} ended {' '.join(m.group(2).split())}"
    if m := YEARS.search(stem):
        return m.group(0)
    years = Counter(YEARS.findall(lead[:3000]))
    return years.most_common(1)[0][0] if years else None


_GENERIC_NAME_WORDS = frozenset(
    "scan scanned document doc file img image copy final draft new untitled version rev page export print".split()
)


def descriptive_stem(file_name: str) -> str | None:
    """The file name as words when it names something (`AMAZON 2017 10K`), not `scan0001` or `draft3`."""
    stem = readable_stem(file_name)
    words = [w for w in re.findall(r"[^\W\d_]{3,}", stem) if w.lower() not in _GENERIC_NAME_WORDS]
    return stem if words and len(stem.split()) >= 2 else None


def derive_context(file_name: str, sections: Sequence[Section], metadata_title: str | None) -> DocumentContext:
    lead = _lead_text(sections)
    title = (plausible_title(metadata_title) or descriptive_stem(file_name) or _title_from_text(lead)
             or readable_stem(file_name) or None)
    return DocumentContext(
        title=title[:200] if title else None,
        parties=derive_parties(lead),
        kind=derive_kind(file_name, lead),
        period=derive_period(file_name, lead),
    )


# Metadata keys that name who a document is from or about, in the order they are worth mentioning.
PARTY_KEYS = ("company", "client", "customer", "issuer", "author", "organisation", "organization", "parties")
# Keys given by people that make a derived one redundant: a sidecar's `company` is the party.
_GIVEN_FOR = {
    "parties": PARTY_KEYS,
    "kind": ("doc_type", "kind"),
    "period": ("date", "period"),
    "title": ("title",),
}


def fill_missing(metadata: dict[str, Any], derived: DocumentContext) -> dict[str, Any]:
    """The metadata with derived fields added where nobody gave them."""
    out = dict(metadata)
    for key, value in derived.as_metadata().items():
        if not any(out.get(given) for given in _GIVEN_FOR[key]):
            out[key] = value
    return out


def about(metadata: dict[str, Any]) -> str:
    """Who and what a document is about, as given in its metadata or derived at indexing: one line."""
    keys = ("company", "client", "parties", "kind", "period", "date")
    return " · ".join(str(metadata[k]) for k in keys if metadata.get(k))
