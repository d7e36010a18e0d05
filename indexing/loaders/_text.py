"""Text decoding and the plain-text formats: TXT, Markdown, HTML, CSV/TSV."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

from ._common import (
    LoadError,
    Section,
    SectionBuilder,
    clean_text,
    describe,
    looks_like_text,
    one_line_text,
    sensible_title,
    table_sections,
)

# --------------------------------------------------------------------------- decoding

_BOMS = (  # UTF-32 first: its LE BOM starts with the UTF-16 LE BOM
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than \t \n \v \f \r and ESC (ANSI colours in logs), plus DEL.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])
_MAX_CONTROL_SHARE = 0.01
# Legacy single-byte text whose accented words mostly also hold ASCII letters is Windows-1252.
_MAX_FOREIGN_WORD_SHARE = 0.5
_WORD_RE = re.compile(r"[^\W\d_]{3,}")
_SAMPLE_CHARS = 1024 * 1024
_ESCAPED_RE = re.compile("[\udc80-\udcff]")
_ESCAPED_RUN_RE = re.compile("[\udc80-\udcff]+")
_ENCODING_ERROR = "cannot determine the text encoding"
_BINARY_ERROR = "looks like binary data, not text"


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when every other byte is mostly NUL (Latin-script UTF-16), else None."""
    sample = data[: min(len(data) - len(data) % 2, 64 * 1024)]
    half = len(sample) // 2
    if half < 8:
        return None
    even_zero, odd_zero = sample[0::2].count(0), sample[1::2].count(0)
    if odd_zero > 0.7 * half and even_zero < 0.05 * half:
        return "utf-16-le"
    if even_zero > 0.7 * half and odd_zero < 0.05 * half:
        return "utf-16-be"
    return None


def _normalise_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None
    if codec.startswith(("utf-16", "utf-32")):  # a declaration in ASCII-compatible bytes cannot be true
        return "utf-8"
    if codec in ("ascii", "iso8859-1", "latin-1"):  # as browsers do: these labels mean windows-1252
        return "cp1252"
    return codec


def _looks_western(text: str) -> bool:
    """True when cp1252-decoded text reads like a Western language: its accented words also contain
    ASCII letters ('café', 'Größe'), unlike Cyrillic/Greek/etc. mis-read as cp1252 ('Ïðèâåò')."""
    mixed = foreign = 0
    for match in _WORD_RE.finditer(text[:_SAMPLE_CHARS]):
        word = match.group()
        if word.isascii():
            continue
        if any(ch.isascii() for ch in word):
            mixed += 1
        else:
            foreign += 1
    return foreign <= _MAX_FOREIGN_WORD_SHARE * (mixed + foreign)


def _decode_mixed_utf8(data: bytes) -> str | None:
    """UTF-8 with stray legacy bytes (e.g. concatenated files): decode those bytes as cp1252."""
    text = data.decode("utf-8", errors="surrogateescape")
    escaped = len(_ESCAPED_RE.findall(text))
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - escaped
    if valid == 0 or 2 * valid < escaped:
        return None
    return _ESCAPED_RUN_RE.sub(
        lambda m: bytes(ord(c) - 0xDC00 for c in m.group()).decode("cp1252", errors="replace"),
        text,
    )


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode text bytes: BOM, UTF-8, the declared charset (HTML), then a legacy-encoding guess.

    Raises LoadError('looks like binary data, not text') for NULs / many control bytes, and
    LoadError('cannot determine the text encoding') when no encoding gives plausible text.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if b"\x00" in data:
        codec = _utf16_without_bom(data)
        if codec:
            text = data.decode(codec, errors="replace")
            if looks_like_text(text):
                return text
        raise LoadError(_BINARY_ERROR)
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls > 2 and controls > _MAX_CONTROL_SHARE * len(data):
        raise LoadError(_BINARY_ERROR)

    try:  # valid UTF-8 with non-ASCII bytes is practically never a legacy encoding, whatever is declared
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _normalise_codec(declared)
    if declared and declared != "utf-8":
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    mixed = _decode_mixed_utf8(data)
    if mixed is not None:
        return mixed
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and _looks_western(text) and looks_like_text(text):
        return text

    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # any detector failure just means "unknown"
        best = None
    if best is None:
        raise LoadError(_ENCODING_ERROR)
    try:
        text = data.decode(best.encoding, errors="replace")
    except LookupError:
        raise LoadError(_ENCODING_ERROR) from None
    if not looks_like_text(text):
        raise LoadError(_ENCODING_ERROR)
    return text


# --------------------------------------------------------------------------- TXT


def load_txt(data: bytes, path: Path) -> tuple[list[Section], str | None]:
    text = clean_text(decode_bytes(data), collapse_spaces=False)
    return ([Section(text=text)] if text else []), None


# --------------------------------------------------------------------------- Markdown

_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MAX_FRONT_MATTER_LINES = 500


def _split_front_matter(lines: list[str]) -> tuple[list[str], str | None]:
    if not lines or lines[0].strip() != "---":
        return lines, None
    for end in range(1, min(len(lines), _MAX_FRONT_MATTER_LINES)):
        if lines[end].strip() in ("---", "..."):
            title = None
            try:
                import yaml

                meta = yaml.safe_load("\n".join(lines[1:end]))
                if isinstance(meta, dict):
                    title = sensible_title(meta.get("title"))
            except Exception:  # bad front matter is still dropped
                pass
            return lines[end + 1:], title
    return lines, None


def load_markdown(data: bytes, path: Path) -> tuple[list[Section], str | None]:
    text = decode_bytes(data).replace("\r\n", "\n").replace("\r", "\n")
    lines, fm_title = _split_front_matter(text.split("\n"))
    builder = SectionBuilder(collapse_spaces=False)
    title = None
    fence: str | None = None
    for line in lines:
        fence_match = _FENCE_RE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip()[len(marker):]:
                fence = None
            builder.line(line)
            continue
        heading = None if fence else _ATX_RE.match(line)
        if heading and len(heading.group(1)) <= 3 and (heading.group(2) or "").strip():
            text_of_heading = one_line_text(heading.group(2))
            if title is None and len(heading.group(1)) == 1:
                title = text_of_heading
            builder.heading(text_of_heading)
        else:
            builder.line(line)
    builder.flush()
    return builder.sections, title or fm_title


# --------------------------------------------------------------------------- HTML

_META_CHARSET_RE = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_XML_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", re.I)
_DROP_TAGS = ["script", "style", "noscript", "nav", "footer", "header", "svg", "template", "iframe",
              "object", "embed", "canvas", "select", "button", "textarea", "head"]
_BLOCK_TAGS = ["address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div",
               "dl", "dt", "fieldset", "figcaption", "figure", "form", "h4", "h5", "h6", "hr", "li",
               "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead",
               "tr", "ul"]
_DROP_SET = frozenset(_DROP_TAGS)
_BLOCK_SET = frozenset(_BLOCK_TAGS) - {"tr"}
_PARA = "\u2029"  # paragraph break marker inside the soup
_LINE = "\u2028"  # line break marker (<br>, lines of <pre>)
_HMARK = "\ufdd0"  # starts a paragraph that is a heading (a non-character: never in real text)
_HTML_SPACE_RE = re.compile(r"[ \t\r\n\f\v\xa0]+")


def _declared_charset(data: bytes) -> str | None:
    head = data[:4096]
    match = _META_CHARSET_RE.search(head) or _XML_ENCODING_RE.search(head)
    return match.group(1).decode("ascii", "ignore") if match else None


def _html_stream(soup) -> str:
    """The visible text of ``soup`` with _PARA / _LINE / _HMARK markers, in one linear pass.

    Iterative (no recursion limit on deep markup) and without mutating the tree (bs4 insertions are
    O(children), which turns large flat pages quadratic).
    """
    from bs4 import CData, NavigableString, Tag

    out: list[str] = []
    buffers: list[list[str]] = [out]  # text goes to buffers[-1]; headings and cells capture their own
    row_cells: list[list[str]] = []  # cells of the rows being read (outermost tables only)
    in_cell = in_pre = in_heading = 0
    stack: list[tuple[object, bool]] = [(soup, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, NavigableString):
            if type(node) in (NavigableString, CData):  # not comments, doctypes, scripts
                text = str(node)
                buffers[-1].append(text.replace("\r\n", "\n").replace("\n", _LINE) if in_pre else text)
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        is_cell, is_heading = name in ("td", "th"), name in ("h1", "h2", "h3")
        if not leaving:
            if name in _DROP_SET or node.has_attr("hidden"):
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
            if name == "br":
                buffers[-1].append(_LINE)
            elif name == "pre":
                in_pre += 1
            if in_cell:  # inside a cell everything (nested tables too) is flattened to one line
                in_cell += is_cell
                if name in _BLOCK_SET or is_cell or is_heading:
                    buffers[-1].append(" ")
            elif is_cell:
                in_cell = 1
                buffers.append([])
            elif name == "tr":
                row_cells.append([])
            elif is_heading:
                in_heading += 1
                if in_heading == 1:
                    buffers.append([])
            elif name in _BLOCK_SET:
                buffers[-1].append(_PARA)
            continue
        if name == "pre":
            in_pre -= 1
        if is_cell and in_cell == 1:
            in_cell = 0
            cell = one_line_text("".join(buffers.pop()))
            if row_cells and cell:
                row_cells[-1].append(cell)
            elif cell:  # a cell outside any row
                buffers[-1].append(_PARA + cell + _PARA)
        elif in_cell:
            in_cell -= is_cell
            if name in _BLOCK_SET or is_cell or is_heading:
                buffers[-1].append(" ")
        elif name == "tr" and row_cells:
            buffers[-1].append(_PARA + " | ".join(row_cells.pop()) + _PARA)
        elif is_heading and in_heading:
            in_heading -= 1
            if in_heading == 0:
                heading = one_line_text("".join(buffers.pop()))
                buffers[-1].append(_PARA + _HMARK + heading + _PARA if heading else _PARA)
        elif name in _BLOCK_SET:
            buffers[-1].append(_PARA)
    return "".join(out)


def load_html(data: bytes, path: Path) -> tuple[list[Section], str | None]:
    from bs4 import BeautifulSoup

    text = decode_bytes(data, declared=_declared_charset(data))
    soup = BeautifulSoup(text, "html.parser")

    title = None
    if soup.title is not None:
        title = sensible_title(soup.title.get_text())
    if title is None:
        h1 = soup.find("h1")
        title = sensible_title(h1.get_text(" ")) if h1 is not None else None

    flat = _HTML_SPACE_RE.sub(" ", _html_stream(soup))
    builder = SectionBuilder()
    for paragraph in flat.split(_PARA):
        paragraph = "\n".join(line.strip() for line in paragraph.split(_LINE)).strip()
        if paragraph.startswith(_HMARK):
            builder.heading(paragraph[len(_HMARK):])
        elif paragraph:
            builder.line(paragraph)
    builder.flush()
    return builder.sections, title


# --------------------------------------------------------------------------- CSV / TSV

_DELIMITERS = ",;\t|"


def _sniff_delimiter(text: str, suffix: str) -> str:
    default = "\t" if suffix == ".tsv" else ","
    sample = text[: 64 * 1024]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return default
    if default in sample.split("\n", 1)[0] and delimiter not in sample.split("\n", 1)[0]:
        return default
    return delimiter


def load_csv(data: bytes, path: Path) -> tuple[list[Section], str | None]:
    text = decode_bytes(data)
    delimiter = _sniff_delimiter(text, path.suffix.lower())
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise LoadError(f"cannot parse CSV: {describe(exc)}") from None
    return table_sections(rows, heading=path.stem), None
