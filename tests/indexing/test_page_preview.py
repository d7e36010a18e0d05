"""indexing.page_preview on real files made in tmp_path: a PDF page rendered with the passage's lines
highlighted (checked pixel by pixel), a passage that is not there, DOCX and HTML text marked, a corrupt PDF."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from indexing.page_preview import NOT_FOUND_NOTE, NoSuchPage, PreviewError, locate, preview

INTRO = "Calderbrook opened its Leeds office in the spring."
# Split over two lines with a hyphen at the first line's end: the chunk text has the word whole.
PASSAGE_LINES = ("Revenue grew by a fifth to forty-six million pounds, and the infor-", "mation team doubled in size.")
PASSAGE = "Revenue grew by a fifth to forty-six million pounds,\nand the  information team doubled in size."
MM_TO_PX = 72 / 25.4 * 1.5  # fpdf2 works in millimetres; the page is rendered at 1.5 pixels a point


def _pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()  # A4, in mm
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.set_xy(20, 30)
    pdf.cell(0, 8, INTRO)
    for i, line in enumerate(PASSAGE_LINES):
        pdf.set_xy(20, 120 + 8 * i)
        pdf.cell(0, 8, line)
    pdf.add_page()
    pdf.set_xy(20, 30)
    pdf.cell(0, 8, "The second page says something else entirely.")
    pdf.output(str(path))
    return path


def _highlight_rows(png: bytes) -> list[int]:
    """The pixel rows with highlight-coloured pixels (yellow over white paper)."""
    import numpy as np
    from PIL import Image

    r, g, b = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int).transpose(2, 0, 1)
    yellow = (r > 235) & (g > 210) & (g < 250) & (b > 110) & (b < 180)
    return [int(y) for y in np.flatnonzero(yellow.any(axis=1))]


def test_pdf_page_highlights_the_passage_lines_only(tmp_path: Path) -> None:
    result = preview(_pdf(tmp_path / "report.pdf"), 1, PASSAGE)
    assert (result.kind, result.page, result.pages, result.found, result.complete, result.note) == (
        "image", 1, 2, True, True, "")
    rows = _highlight_rows(result.png)
    top, bottom = 120 * MM_TO_PX, (120 + 16) * MM_TO_PX  # the passage's two 8 mm lines
    assert rows, "no highlight drawn"
    assert all(top - 4 <= y <= bottom + 4 for y in rows), (min(rows), max(rows), top, bottom)
    assert max(rows) - min(rows) > 10 * MM_TO_PX  # both lines, not just the first


def test_passage_not_on_the_page_gives_the_page_unhighlighted_and_says_so(tmp_path: Path) -> None:
    result = preview(_pdf(tmp_path / "report.pdf"), 2, PASSAGE)
    assert (result.found, result.note, result.page) == (False, NOT_FOUND_NOTE, 2)
    assert result.png.startswith(b"\x89PNG") and not _highlight_rows(result.png)
    located = preview(tmp_path / "report.pdf", 1, PASSAGE, render=False)
    assert located.png is None and located.found


def test_a_passage_partly_changed_highlights_the_parts_that_match() -> None:
    text = "Health revenue grew by 24.8% to £18.6 million. Justice remains our largest sector by far."
    chunk = "Health revenue grew by 24.8% to £18.6 million | Share: 39.8%. Justice remains our largest sector"
    spans, complete = locate(chunk, text)
    assert not complete
    assert [text[a:b] for a, b in spans] == ["Health revenue grew by 24.8% to £18.6 million",
                                             "Justice remains our largest sector"]
    assert locate("Nothing of the sort appears in this text at all.", text) == ([], False)


def test_docx_and_html_text_with_the_passage_marked(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Welcome to the company handbook.")
    document.add_paragraph("Employees get 25 days of leave, plus bank holidays.")
    document.save(str(tmp_path / "handbook.docx"))
    result = preview(tmp_path / "handbook.docx", None, "employees get 25 days of\nleave")
    assert (result.kind, result.pages, result.found, result.complete) == ("html", 1, True, True)
    assert '<mark id="passage">Employees get 25 days of leave</mark>, plus bank holidays.' in result.html
    assert "Welcome to the company handbook." in result.html.split("<mark")[0]

    (tmp_path / "note.html").write_text("<html><body><h1>Q&amp;A</h1><p>Use <b>a &lt;b&gt; tag</b> and "
                                        "write to the bid team.</p></body></html>")
    result = preview(tmp_path / "note.html", None, "write to the bid team")
    assert '<mark id="passage">write to the bid team</mark>' in result.html
    assert "Q&amp;A" in result.html and "&lt;b&gt;" in result.html and "<b>" not in result.html


def test_corrupt_pdf_and_missing_page_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnot really a PDF at all\n")
    with pytest.raises(PreviewError, match=re.escape("broken.pdf: cannot open the PDF")):
        preview(broken, 1, "anything")
    with pytest.raises(NoSuchPage, match=re.escape("report.pdf has no page 3 (it has 2)")):
        preview(_pdf(tmp_path / "report.pdf"), 3, "")
