"""Tests for indexing.loaders._pdf_tables with PDFs built in tmp_path by fpdf2 (no fixtures committed).

The tables are drawn column by column, as many statement generators do, so that PDFium's plain text
is "number soup" (labels first, then each column's figures) and only the geometry can put each
figure back on its row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from indexing.loaders._pdf import PDFIUM_LOCK
from indexing.loaders._pdf_tables import page_text_with_tables

FIGURE_RE = re.compile(r"\(?\$?\d[\d,.]*\)?")

INCOME_ROWS = [  # label, 2023, 2022
    ("Net sales", "94,836", "97,278"),
    ("Cost of sales", "(52,860)", "(54,719)"),
    ("Gross margin", "41,976", "42,559"),
    ("Research and development", "(7,442)", "(6,797)"),
    ("Other income", "-", "5"),
    ("Operating income", "$ 34,534", "$ 35,762"),
]

PROSE = [
    "Revenue grew 5% to $1.2 billion in 2023 from $1.1 billion in 2022, driven by higher volumes in",
    "all 3 regions and 12 new products. Operating costs rose 4% to $900 million, and we expect 2024",
    "growth of 3% to 5% as the 2 new plants open in the second half of the fiscal year 2024.",
    "Capital spending was $150 million in 2023 and $140 million in 2022 for 7 projects in 4 states.",
]


def make_pdf(path: Path, draw: Callable) -> Path:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="letter")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=9)
    draw(pdf)
    pdf.output(str(path))
    return path


def texts(path: Path) -> tuple[str | None, str]:
    """(page_text_with_tables, plain get_text_range) for page 1, called as the loader calls it."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
        try:
            page = pdf[0]
            width, height = page.get_size()
            textpage = page.get_textpage()
            try:
                return page_text_with_tables(textpage, width, height), textpage.get_text_range()
            finally:
                textpage.close()
                page.close()
        finally:
            pdf.close()


def put(pdf, x: float, y: float, text: str, width: float = 0, align: str = "L") -> None:
    pdf.set_xy(x, y)
    pdf.cell(width or pdf.get_string_width(text) + 2, 11, text, align=align)


def draw_statement(pdf, rows=INCOME_ROWS, top: float = 120, header: tuple[str, ...] = ("2023", "2022"),
                   columns: tuple[float, ...] = (330, 420)) -> float:
    """Header row, then the labels column, then each figures column (so the plain text is soup)."""
    for x, caption in zip(columns, header, strict=True):
        put(pdf, x, top, caption, width=70, align="R")
    for number, (label, *_) in enumerate(rows):
        put(pdf, 72, top + 16 * (number + 1), label)
    for column, x in enumerate(columns):
        for number, row in enumerate(rows):
            figure = row[column + 1]
            if figure.startswith("$ "):  # the currency sign set apart, as statements print it
                put(pdf, x, top + 16 * (number + 1), "$")
                figure = figure[2:]
            put(pdf, x, top + 16 * (number + 1), figure, width=70, align="R")
    return top + 16 * (len(rows) + 1)


def line_with(text: str, start: str) -> str:
    matches = [line for line in text.splitlines() if line.startswith(start)]
    assert len(matches) == 1, (start, text)
    return matches[0]


def figures(text: str) -> list[str]:
    return sorted(FIGURE_RE.findall(text.replace("$ ", "$")))


# --------------------------------------------------------------------------- (a) a statement


def test_statement_rows_keep_their_headers(tmp_path: Path) -> None:
    def draw(pdf) -> None:
        put(pdf, 72, 72, "Consolidated Statements of Operations (in millions)")
        bottom = draw_statement(pdf)
        put(pdf, 72, bottom + 30, "See accompanying notes.")

    result, plain = texts(make_pdf(tmp_path / "statement.pdf", draw))
    # PDFium's own text is soup: no row line holds its figures
    assert not any("Net sales" in line and "94,836" in line for line in plain.splitlines())
    assert result is not None
    assert line_with(result, "Net sales") == "Net sales | 2023: 94,836; 2022: 97,278"
    assert line_with(result, "Cost of sales") == "Cost of sales | 2023: (52,860); 2022: (54,719)"
    assert line_with(result, "Other income") == "Other income | 2023: -; 2022: 5"
    operating = line_with(result, "Operating income")
    assert "2023: $34,534" in operating and "2022: $35,762" in operating
    # the text around the table stays as it was, in reading order
    lines = result.splitlines()
    assert lines[0] == "Consolidated Statements of Operations (in millions)"
    assert lines[-1] == "See accompanying notes."
    assert lines.index("Net sales | 2023: 94,836; 2022: 97,278") < lines.index(operating)


def test_no_cell_text_is_lost(tmp_path: Path) -> None:
    def draw(pdf) -> None:
        put(pdf, 72, 72, "Selected data")
        draw_statement(pdf)

    result, plain = texts(make_pdf(tmp_path / "lost.pdf", draw))
    assert result is not None
    for label, *values in INCOME_ROWS:
        assert label in result
        for value in values:
            assert value.replace("$ ", "$") in result.replace("$ ", "$"), value
    # every figure of the page, and nothing more (the header years are repeated per row, so compare
    # without them)
    years = {"2023", "2022"}
    assert [f for f in figures(result) if f not in years] == [f for f in figures(plain) if f not in years]


# --------------------------------------------------------------------------- (b) prose


def test_prose_page_is_not_a_table(tmp_path: Path) -> None:
    def draw(pdf) -> None:
        put(pdf, 72, 72, "Management's Discussion and Analysis")
        for number, line in enumerate(PROSE):
            put(pdf, 72, 100 + 12 * number, line)

    result, plain = texts(make_pdf(tmp_path / "prose.pdf", draw))
    assert "$1.2 billion" in plain  # the page does hold figures
    assert result is None


def test_prose_around_a_table_is_unchanged(tmp_path: Path) -> None:
    def draw(pdf) -> None:
        for number, line in enumerate(PROSE[:2]):
            put(pdf, 72, 72 + 12 * number, line)
        bottom = draw_statement(pdf, top=130)
        for number, line in enumerate(PROSE[2:]):
            put(pdf, 72, bottom + 30 + 12 * number, line)

    result, _ = texts(make_pdf(tmp_path / "mixed.pdf", draw))
    assert result is not None
    lines = result.splitlines()
    for line in PROSE:
        assert line in lines
    assert lines.index(PROSE[1]) < lines.index("Net sales | 2023: 94,836; 2022: 97,278") < lines.index(PROSE[2])


def test_page_without_text_or_figures(tmp_path: Path) -> None:
    def draw(pdf) -> None:
        pdf.rect(72, 72, 200, 100, style="F")

    assert texts(make_pdf(tmp_path / "blank.pdf", draw))[0] is None

    def draw_list(pdf) -> None:  # one figure per line (a table of contents) is no table either
        for number, (entry, page) in enumerate([("Business", "3"), ("Risk Factors", "12"), ("Properties", "25"),
                                                 ("Legal Proceedings", "27"), ("Financial Statements", "40")]):
            put(pdf, 72, 72 + 14 * number, entry)
            put(pdf, 480, 72 + 14 * number, page, width=40, align="R")

    assert texts(make_pdf(tmp_path / "contents.pdf", draw_list))[0] is None


# --------------------------------------------------------------------------- (c) two-line headers


def test_header_on_two_lines(tmp_path: Path) -> None:
    rows = [("Revenue", "12,400", "11,900"), ("Net income", "1,020", "(310)"), ("Diluted EPS", "2.15", "(0.64)")]

    def draw(pdf) -> None:
        put(pdf, 72, 72, "Quarterly results (unaudited)")
        # each column's caption is stacked on two lines: "March 31," over "2024"
        for x in (330, 420):
            put(pdf, x, 100, "March 31,", width=70, align="R")
        draw_statement(pdf, rows=rows, top=111, header=("2024", "2023"))

    result, _ = texts(make_pdf(tmp_path / "stacked.pdf", draw))
    assert result is not None
    assert line_with(result, "Revenue") == "Revenue | March 31, 2024: 12,400; March 31, 2023: 11,900"
    assert line_with(result, "Net income") == "Net income | March 31, 2024: 1,020; March 31, 2023: (310)"
    assert line_with(result, "Diluted EPS") == "Diluted EPS | March 31, 2024: 2.15; March 31, 2023: (0.64)"
    assert "March 31," not in result.replace("March 31, 2024", "").replace("March 31, 2023", "")


def test_caption_spanning_two_columns(tmp_path: Path) -> None:
    rows = [("Net sales", "3,673", "3,909", "14,694", "14,544"), ("Net income", "184", "112", "1,058", "815")]
    columns = (260, 330, 420, 490)

    def draw(pdf) -> None:
        # "Quarter" centred over the first two columns' figures (set right in their columns), "Year"
        # over the other two: both narrower than the pair of columns they name
        for left, right, caption in [(260, 330, "Quarter"), (420, 490, "Year")]:
            figures_left = left + 70 - pdf.get_string_width("14,694") - 1
            put(pdf, figures_left, 100, caption, width=right + 70 - figures_left, align="C")
        draw_statement(pdf, rows=rows, top=111, header=("2023", "2022", "2023", "2022"), columns=columns)

    result, _ = texts(make_pdf(tmp_path / "spanning.pdf", draw))
    assert result is not None
    assert line_with(result, "Net sales") == (
        "Net sales | Quarter 2023: 3,673; Quarter 2022: 3,909; Year 2023: 14,694; Year 2022: 14,544")
    assert line_with(result, "Net income") == (
        "Net income | Quarter 2023: 184; Quarter 2022: 112; Year 2023: 1,058; Year 2022: 815")


def test_wrapped_label_and_row_without_label(tmp_path: Path) -> None:
    def draw(pdf) -> None:
        for x, caption in zip((330, 420), ("2023", "2022"), strict=True):
            put(pdf, x, 100, caption, width=70, align="R")
        put(pdf, 72, 116, "Net sales")
        put(pdf, 330, 116, "94,836", width=70, align="R")
        put(pdf, 420, 116, "97,278", width=70, align="R")
        put(pdf, 72, 132, "Proceeds from issuance of stock pursuant to")  # the label goes on below
        put(pdf, 72, 148, "benefit plans")
        put(pdf, 330, 148, "485", width=70, align="R")
        put(pdf, 420, 148, "734", width=70, align="R")
        put(pdf, 330, 164, "95,321", width=70, align="R")  # a total with no caption
        put(pdf, 420, 164, "98,012", width=70, align="R")

    result, _ = texts(make_pdf(tmp_path / "wrapped.pdf", draw))
    assert result is not None
    assert "Proceeds from issuance of stock pursuant to benefit plans | 2023: 485; 2022: 734" in result.splitlines()
    assert "2023: 95,321; 2022: 98,012" in result.splitlines()


@pytest.mark.parametrize("rotation", [0, 90])
def test_sideways_statement(tmp_path: Path, rotation: int) -> None:
    """A landscape statement set sideways on a portrait page: read as shown when the page says it is
    turned (/Rotate 90), and left alone when it does not (its text then runs bottom to top)."""
    import pypdfium2 as pdfium

    def draw(pdf) -> None:
        with pdf.rotation(angle=90, x=306, y=396):
            draw_statement(pdf, top=300)

    path = make_pdf(tmp_path / "sideways.pdf", draw)
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(str(path))
        document[0].set_rotation(rotation)
        document.save(str(tmp_path / "turned.pdf"))
        document.close()
    result, plain = texts(tmp_path / "turned.pdf")
    assert "Net sales" in plain
    if rotation:
        assert result is not None
        assert line_with(result, "Net sales") == "Net sales | 2023: 94,836; 2022: 97,278"
    else:
        assert result is None


@pytest.mark.parametrize("closed", [False, True])
def test_contract_with_the_caller(tmp_path: Path, closed: bool) -> None:
    import pypdfium2 as pdfium

    path = make_pdf(tmp_path / "contract.pdf", lambda pdf: draw_statement(pdf))
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
        page = pdf[0]
        textpage = page.get_textpage()
        try:
            if closed:  # using a closed text page is the caller's error, and PDFium's to report
                textpage.close()
                with pytest.raises(Exception):  # noqa: B017 - pypdfium2 raises its own error type here
                    page_text_with_tables(textpage, *page.get_size())
            else:
                result = page_text_with_tables(textpage, *page.get_size())
                assert isinstance(result, str) and "\r" not in result
                assert textpage.get_text_range()  # the text page is still usable afterwards
        finally:
            textpage.close()
            page.close()
            pdf.close()


# --------------------------------------------------------------------------- through load_file


def test_load_file_writes_table_rows_and_the_setting_turns_it_off(tmp_path: Path) -> None:
    from indexing.loaders import LoadOptions, load_file

    path = make_pdf(tmp_path / "statement.pdf", lambda pdf: draw_statement(pdf))
    on = load_file(path).sections[0].text
    off = load_file(path, options=LoadOptions(pdf_tables=False)).sections[0].text
    assert "Net sales | 2023: 94,836; 2022: 97,278" in on.splitlines()
    assert not any("Net sales" in line and "94,836" in line for line in off.splitlines())
    assert set(figures(on)) == set(figures(off))  # the same figures, now on their rows (headers repeated)


def test_a_table_spanning_two_pages_keeps_its_headers_on_both(tmp_path: Path) -> None:
    from fpdf import FPDF

    from indexing.loaders import load_file

    pdf = FPDF(unit="pt", format="letter")
    pdf.set_auto_page_break(False)
    pdf.set_font("helvetica", size=9)
    for rows in (INCOME_ROWS[:3], INCOME_ROWS[3:]):  # a statement continued on the next page, header repeated
        pdf.add_page()
        draw_statement(pdf, rows=rows)
    pdf.output(str(tmp_path / "two-pages.pdf"))
    doc = load_file(tmp_path / "two-pages.pdf")
    assert [s.page for s in doc.sections] == [1, 2]
    assert "Net sales | 2023: 94,836; 2022: 97,278" in doc.sections[0].text
    assert "Research and development | 2023: (7,442); 2022: (6,797)" in doc.sections[1].text
