"""The cited page: where a passage sits in its document, shown to a person.

A PDF page is rendered to a PNG (pypdfium2) with the passage's lines under semi-transparent highlight
rectangles (Pillow); any other document is its text as HTML with the passage in ``<mark>`` (the project's own
loaders read it). The passage is a chunk's text, which differs from the page's text in whitespace, line-end
hyphens, ligatures and tables laid out as rows, so both are compared in a normalised form (letters and digits
only, case-folded); when the whole passage is not found, its long runs that are are highlighted, and a passage
that is not on the page at all gives the page without a highlight and a note saying so.

Public API::

    preview(path, page, passage, render=True) -> PagePreview    # raises PreviewError (NoSuchPage) only
    locate(passage, text) -> tuple[list[tuple[int, int]], bool]  # spans of text, whether all of it matched
    PagePreview, PreviewError, NoSuchPage, HIGHLIGHT_RGBA
"""

from __future__ import annotations

import ctypes
import html
import io
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Literal

from indexing.loaders import LoadError, load_file
from indexing.loaders._pdf import PDFIUM_LOCK

# Yellow at 43% opacity: the text stays readable under it, and it is nothing a document page is printed in.
HIGHLIGHT_RGBA = (255, 213, 0, 110)
RENDER_SCALE = 1.5  # an A4 page becomes about 890 x 1260 pixels
MAX_PASSAGE_CHARS = 2000  # bounds the fallback's matching work; a chunk's opening is enough to find it
MIN_RUN = 24  # normalised characters a partial match must share: shorter runs occur on any page by chance
MIN_INNER_RUN = 6  # between two such runs, shorter ones count too (a table's cells between its rows' labels)
_PAD = 1.5  # points around each line's box, so descenders and accents sit inside the highlight

NOT_FOUND_NOTE = "The passage was not found on this page, so nothing is highlighted."
PARTIAL_NOTE = ("Only part of the passage matches the page's text (a table, or text laid out differently); "
                "that part is highlighted.")


class PreviewError(Exception):
    """The file cannot be previewed; ``str(err)`` names the file and says why."""


class NoSuchPage(PreviewError):
    """The page asked for is not in the document."""


@dataclass(frozen=True)
class PagePreview:
    file_name: str
    page: int  # 1-based; 1 for documents without pages
    pages: int  # the document's page (or slide) count; 1 for documents without pages
    found: bool  # some of the passage was found and highlighted
    complete: bool  # the whole passage was found
    note: str  # "" when the whole passage is highlighted, else what the reader should know
    kind: Literal["image", "html"]
    png: bytes | None = None  # the rendered page (kind "image", when rendered)
    html: str | None = None  # the text with <mark>s (kind "html"); the first mark has id="passage"


def preview(path: Path | str, page: int | None, passage: str, render: bool = True) -> PagePreview:
    """The page of ``path`` that cites ``passage``: a PDF page as a PNG (``render=False`` only locates the
    passage, for a page that shows the image from another request), anything else as highlighted HTML."""
    path = Path(path)
    passage = (passage or "")[:MAX_PASSAGE_CHARS]
    if path.suffix.lower() == ".pdf":
        return _pdf_preview(path, page or 1, passage, render)
    return _text_preview(path, page, passage)


# --------------------------------------------------------------------------- finding the passage


def _normalised(text: str) -> tuple[str, list[int]]:
    """Letters and digits of ``text``, NFKC case-folded (ligatures expand), and each one's index in ``text``."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                chars.append(c)
                where.append(i)
    return "".join(chars), where


def locate(passage: str, text: str) -> tuple[list[tuple[int, int]], bool]:
    """Where ``passage`` lies in ``text``: [(start, end), …] as indexes of ``text``, and whether all of it
    matched. Falls back to the passage's runs of at least MIN_RUN matching characters, in order, and the
    shorter runs between them."""
    needle, _ = _normalised(passage)
    hay, where = _normalised(text)
    if not needle or not hay:
        return [], False
    at = hay.find(needle)
    if at >= 0:
        tail = passage.rstrip()[-1:]  # "size." ends with its full stop when the passage does
        return [_widened(text, where[at], where[at + len(needle) - 1] + 1, "" if tail.isalnum() else tail)], True
    # autojunk off: in letters-only text every common letter would count as "popular" and be ignored.
    matcher = SequenceMatcher(None, hay, needle, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= min(MIN_INNER_RUN, len(needle))]
    strong = [i for i, b in enumerate(blocks) if b.size >= min(MIN_RUN, len(needle))]
    if not strong:
        return [], False
    # The blocks are in order in both texts, so those between two long runs are the same passage's words.
    kept = blocks[strong[0]: strong[-1] + 1]
    return [_widened(text, where[b.a], where[b.a + b.size - 1] + 1) for b in kept], False


_OPENING, _CLOSING = "£$€(", "%)"


def _widened(text: str, start: int, end: int, closing: str = "") -> tuple[int, int]:
    """A span of letters and digits with the signs that belong to its words: "£46.7m", "(12%)"."""
    while start > 0 and text[start - 1] in _OPENING:
        start -= 1
    while end < len(text) and text[end] in _CLOSING + closing:
        end += 1
    return start, end


def _note(found: bool, complete: bool, passage: str) -> str:
    if not passage.strip() or complete:
        return ""
    return PARTIAL_NOTE if found else NOT_FOUND_NOTE


# --------------------------------------------------------------------------- PDF


def _pdf_preview(path: Path, page: int, passage: str, render: bool) -> PagePreview:
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:  # PDFium is not thread-safe, and an index job may be parsing in this process
        try:
            pdf = pdfium.PdfDocument(str(path))
        except (pdfium.PdfiumError, OSError) as exc:
            raise PreviewError(f"{path.name}: cannot open the PDF ({exc})") from None
        try:
            pages = len(pdf)
            if not 1 <= page <= pages:
                raise NoSuchPage(f"{path.name} has no page {page} (it has {pages})")
            try:
                spans, complete, png = _pdf_page(pdf[page - 1], passage, render)
            except pdfium.PdfiumError as exc:
                raise PreviewError(f"{path.name}: cannot read page {page} ({exc})") from None
        finally:
            pdf.close()
    found = bool(spans)
    return PagePreview(path.name, page, pages, found, complete, _note(found, complete, passage), "image", png=png)


def _pdf_page(page, passage: str, render: bool) -> tuple[list[tuple[int, int]], bool, bytes | None]:
    """The passage's character spans on one page, whether it all matched, and the highlighted PNG."""
    textpage = page.get_textpage()
    try:
        spans, complete = locate(passage, _page_chars(textpage)) if passage.strip() else ([], False)
        if not render:
            return spans, complete, None
        boxes = [box for start, end in spans for box in _line_boxes(textpage, start, end)]
    finally:
        textpage.close()
    image = page.render(scale=RENDER_SCALE).to_pil().convert("RGB")
    return spans, complete, _png(_highlighted(image, [_pixel_box(page, image.size, box) for box in boxes]))


def _page_chars(textpage) -> str:
    """The page's characters one for one with PDFium's char indexes (get_text_range may drop or add some)."""
    import pypdfium2.raw as raw

    return "".join(chr(raw.FPDFText_GetUnicode(textpage, i)) for i in range(textpage.count_chars()))


def _line_boxes(textpage, start: int, end: int) -> list[tuple[float, float, float, float]]:
    """PDFium's rectangles for a char range: one per line (or run) it covers, in PDF units (l, b, r, t)."""
    return [textpage.get_rect(i) for i in range(textpage.count_rects(start, end - start))]


def _pixel_box(page, size: tuple[int, int], box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """A PDF-units box in the rendered image's pixels; PDFium maps it (crop box, /Rotate and all)."""
    left, bottom, right, top = box
    corners = [_to_device(page, size, x, y) for x, y in ((left - _PAD, bottom - _PAD), (right + _PAD, top + _PAD))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _to_device(page, size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    import pypdfium2.raw as raw

    dx, dy = ctypes.c_int(), ctypes.c_int()
    raw.FPDF_PageToDevice(page, 0, 0, size[0], size[1], 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
    return dx.value, dy.value


def _highlighted(image, boxes: list[tuple[int, int, int, int]]):
    from PIL import Image, ImageDraw

    if not boxes:
        return image
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        draw.rectangle(box, fill=HIGHLIGHT_RGBA)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def _png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=3)  # the default level takes three times as long for 15% less
    return out.getvalue()


# --------------------------------------------------------------------------- other documents


def _text_preview(path: Path, page: int | None, passage: str) -> PagePreview:
    """The document's text (a paged one's, e.g. a slide deck's: that page's) with the passage marked."""
    try:
        sections = load_file(path).sections
    except LoadError as exc:
        raise PreviewError(f"{path.name}: {exc}") from None
    numbers = sorted({s.page for s in sections if s.page is not None})
    pages = max(numbers) if numbers else 1
    if numbers and page is not None:
        if not 1 <= page <= pages:
            raise NoSuchPage(f"{path.name} has no page {page} (it has {pages})")
        sections = [s for s in sections if s.page == page]
    text = "\n\n".join(s.text for s in sections)
    spans, complete = locate(passage, text) if passage.strip() else ([], False)
    found = bool(spans)
    return PagePreview(path.name, page if numbers and page else 1, pages, found, complete,
                       _note(found, complete, passage), "html", html=marked_html(text, spans))


def marked_html(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` escaped, with each span in a <mark>; the first mark is the ``#passage`` anchor."""
    parts: list[str] = []
    at = 0
    for n, (start, end) in enumerate(spans):
        anchor = ' id="passage"' if n == 0 else ""
        parts += [html.escape(text[at:start]), f"<mark{anchor}>", html.escape(text[start:end]), "</mark>"]
        at = end
    parts.append(html.escape(text[at:]))
    return "".join(parts)
