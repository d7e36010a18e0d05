"""Tests for indexing.loaders with real files built in tmp_path (no mocks, nothing committed)."""

from __future__ import annotations

import csv
import datetime
import os
import random
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from indexing.loaders import (
    SUPPORTED_SUFFIXES,
    LoadedDocument,
    LoadError,
    LoadOptions,
    Section,
    decode_bytes,
    is_supported,
    load_file,
    looks_like_text,
)
from indexing.loaders._pdf import extract_pypdf

# --------------------------------------------------------------------------- fixture builders


def make_pdf(path: Path, pages: list[str | None], *, title: str | None = None, compress: bool = True) -> Path:
    """A PDF with one page per entry; None makes a page with a drawing but no text."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_compression(compress)
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.rect(20, 20, 100, 60, style="F")
        else:
            pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def texts(doc: LoadedDocument) -> str:
    return "\n".join(s.text for s in doc.sections)


def assert_well_formed(doc: LoadedDocument, path: Path) -> None:
    assert doc.path == path
    assert doc.sections, "sections must never be empty"
    for section in doc.sections:
        assert isinstance(section, Section)
        assert section.text.strip() == section.text and section.text
        assert "\x00" not in section.text


# --------------------------------------------------------------------------- PDF


def test_pdf_three_pages_numbers_title_and_text(tmp_path):
    path = make_pdf(tmp_path / "report.pdf", ["Alpha revenue grew strongly.", "Beta costs fell slightly.",
                                              "Gamma outlook remains stable."], title="Annual Report 2024")
    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.parser == "pypdfium2"
    assert doc.title == "Annual Report 2024"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert "Alpha revenue grew strongly." in doc.sections[0].text
    assert "Beta costs fell slightly." in doc.sections[1].text
    assert "Gamma outlook remains stable." in doc.sections[2].text
    assert "Beta" not in doc.sections[0].text


def test_pdf_page_without_text_is_skipped_keeping_numbers(tmp_path):
    path = make_pdf(tmp_path / "gap.pdf", ["First page words.", None, "Third page words."])
    doc = load_file(path)
    assert [s.page for s in doc.sections] == [1, 3]
    assert "Third page words." in doc.sections[1].text


def test_pdf_text_normalisation_hyphenation_and_spaces(tmp_path):
    path = make_pdf(tmp_path / "hyph.pdf", ["The infor-\nmation was   spread out.\nCOVID-\n19 stays."])
    text = texts(load_file(path))
    assert "information was spread out." in text
    assert re.search(r"COVID-\n?19 stays", text)  # only lower-case word breaks are joined
    assert "  " not in text


def test_pdf_refused_by_pdfium_falls_back_to_pypdf(tmp_path):
    import pypdfium2 as pdfium

    good = make_pdf(tmp_path / "good.pdf", ["Fallback parser text here."], title="Fallback")
    data = good.read_bytes()
    bad = write(tmp_path / "badheader.pdf", b"%XYZ-" + data[5:])  # PDFium insists on the %PDF- header
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(str(bad))
    doc = load_file(bad)
    assert doc.parser == "pypdf"
    assert doc.sections[0].page == 1
    assert "Fallback parser text here." in doc.sections[0].text


def test_pypdf_path_directly(tmp_path):
    path = make_pdf(tmp_path / "direct.pdf", ["One.", None, "Three is here."], title="Direct Title")
    pages, title = extract_pypdf(path)
    assert sorted(pages) == [1, 3]
    assert "Three is here." in pages[3]
    assert title == "Direct Title"
    only, _ = extract_pypdf(path, only={3})
    assert list(only) == [3]


def test_pdf_truncated_is_corrupt(tmp_path):
    data = make_pdf(tmp_path / "full.pdf", ["Some text " * 50] * 3).read_bytes()
    path = write(tmp_path / "truncated.pdf", data[:300])
    with pytest.raises(LoadError, match=r"^corrupt PDF: .*pypdfium2.*pypdf"):
        load_file(path)


def test_pdf_that_is_really_html(tmp_path):
    path = write(tmp_path / "login.pdf", "<!DOCTYPE html><html><body>Please sign in</body></html>")
    with pytest.raises(LoadError, match=r"not a PDF file .*HTML"):
        load_file(path)


def test_pdf_without_text_mentions_ocr(tmp_path):
    path = make_pdf(tmp_path / "scan.pdf", [None, None])
    with pytest.raises(LoadError, match=r'no extractable text.*OCR is off: indexing.ocr = "off"'):
        load_file(path, options=LoadOptions(ocr="off"))  # with OCR on: tests/indexing/test_ocr.py


def test_pdf_with_user_password_is_explained_but_owner_only_loads(tmp_path):
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    for user_password in ("secret", ""):
        pdf = FPDF()
        pdf.set_font("helvetica", size=12)
        pdf.add_page()
        pdf.multi_cell(0, 6, "Protected words inside.")
        pdf.set_encryption(owner_password="owner", user_password=user_password,
                           encryption_method=EncryptionMethod.RC4)
        path = tmp_path / f"enc{len(user_password)}.pdf"
        pdf.output(str(path))
        if user_password:
            with pytest.raises(LoadError, match=r"^PDF is password-protected"):
                load_file(path)
        else:
            assert "Protected words inside." in load_file(path).sections[0].text


def test_large_compressed_pdf_loads_all_pages(tmp_path):
    pages = [f"Page {n} of the filing. Net income for segment {n} was {n * 1000} dollars.\n" * 8
             for n in range(1, 151)]
    path = make_pdf(tmp_path / "filing.pdf", pages)
    started = time.perf_counter()
    doc = load_file(path)
    assert time.perf_counter() - started < 10
    assert [s.page for s in doc.sections] == list(range(1, 151))
    assert "segment 150 was 150000 dollars" in doc.sections[-1].text
    assert "segment 77 was 77000" in doc.sections[76].text


def test_pdfs_load_concurrently_from_threads(tmp_path):
    paths = [make_pdf(tmp_path / f"t{i}.pdf", [f"Thread document {i} page {p}." for p in range(1, 6)])
             for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        docs = list(pool.map(load_file, paths * 3))
    for i, doc in enumerate(docs):
        assert [s.page for s in doc.sections] == [1, 2, 3, 4, 5]
        assert f"Thread document {i % 6} page 5." in doc.sections[4].text


# --------------------------------------------------------------------------- DOCX


def make_docx(path: Path, *, core_title: str = "") -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Employee Handbook", style="Title")
    document.add_paragraph("Welcome to the company.")
    document.add_heading("Leave Policy", level=1)
    document.add_paragraph("Employees get 25 days of leave.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Type", "Days"
    table.cell(1, 0).text, table.cell(1, 1).text = "Annual", "25"
    document.add_paragraph("Unused days expire in March.")
    document.add_heading("Expenses", level=2)
    document.add_paragraph("Submit receipts within 30 days.")
    document.save(str(path))
    return path


def test_docx_sections_headings_table_and_order(tmp_path):
    path = make_docx(tmp_path / "handbook.docx")
    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.parser == "python-docx"
    assert doc.title == "Employee Handbook"
    assert [s.heading for s in doc.sections] == ["Employee Handbook", "Leave Policy", "Expenses"]
    assert all(s.page is None for s in doc.sections)
    leave = doc.sections[1].text
    assert leave.splitlines()[0] == "Leave Policy"
    assert "Type | Days" in leave and "Annual | 25" in leave
    order = [leave.index(s) for s in ("25 days of leave", "Type | Days", "Annual | 25", "expire in March")]
    assert order == sorted(order)
    assert "Submit receipts within 30 days." in doc.sections[2].text


def test_docx_core_property_title_wins(tmp_path):
    doc = load_file(make_docx(tmp_path / "t.docx", core_title="HR Handbook v2"))
    assert doc.title == "HR Handbook v2"


def test_docx_random_bytes_is_corrupt(tmp_path):
    path = write(tmp_path / "broken.docx", random.Random(7).randbytes(4096))
    with pytest.raises(LoadError, match=r"^corrupt DOCX"):
        load_file(path)


def test_docx_zip_without_parts_is_corrupt(tmp_path):
    path = tmp_path / "empty_zip.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    with pytest.raises(LoadError, match=r"^corrupt DOCX: ") as info:
        load_file(path)
    assert str(path) not in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 220


def test_legacy_ole_office_file_is_explained(tmp_path):
    path = write(tmp_path / "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    with pytest.raises(LoadError, match=r"old binary Office format"):
        load_file(path)


# --------------------------------------------------------------------------- PPTX


def test_pptx_slides_titles_tables_and_notes(tmp_path):
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    presentation.core_properties.title = ""
    for n, (title, body, notes) in enumerate([("Strategy 2025", "Grow the EMEA market.", "Mention Q3 results."),
                                              ("Budget", "Capex stays flat.", ""),
                                              ("Roadmap", "Launch in May.", "Ask for questions.")], 1):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
        if n == 2:
            rows = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
            rows.cell(0, 0).text, rows.cell(0, 1).text = "Item", "Cost"
            rows.cell(1, 0).text, rows.cell(1, 1).text = "Servers", "120k"
    path = tmp_path / "deck.pptx"
    presentation.save(str(path))

    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.parser == "python-pptx"
    assert doc.title == "Strategy 2025"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert [s.heading for s in doc.sections] == ["Strategy 2025", "Budget", "Roadmap"]
    assert "Grow the EMEA market." in doc.sections[0].text
    assert "Notes: Mention Q3 results." in doc.sections[0].text
    assert "Notes:" not in doc.sections[1].text
    assert "Item | Cost" in doc.sections[1].text and "Servers | 120k" in doc.sections[1].text
    assert doc.sections[2].text.count("Roadmap") == 1  # the title is not repeated
    assert doc.sections[2].text.endswith("Notes: Ask for questions.")


# --------------------------------------------------------------------------- HTML


def test_html_drops_boilerplate_splits_at_headings(tmp_path):
    html = """<!DOCTYPE html><html><head><title>Travel Policy</title>
    <style>body { color: red; }</style><script>var secret = "tracking";</script></head>
    <body><nav>Home | About</nav><header>Site banner</header>
    <p>Intro paragraph with <b>bold</b>
    text.</p>
    <h1>Booking</h1><p>Book flights through the portal.</p>
    <table><tr><th>Class</th><th>Allowed</th></tr><tr><td>Economy</td><td>Yes</td></tr></table>
    <h2>Hotels</h2><ul><li>Max 150 EUR</li><li>Breakfast included</li></ul>
    <noscript>Enable JS</noscript><footer>Copyright</footer></body></html>"""
    path = write(tmp_path / "travel.html", html)
    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.parser == "beautifulsoup4"
    assert doc.title == "Travel Policy"
    text = texts(doc)
    for junk in ("color: red", "tracking", "Home | About", "Site banner", "Enable JS", "Copyright"):
        assert junk not in text
    assert [s.heading for s in doc.sections] == [None, "Booking", "Hotels"]
    assert doc.sections[0].text == "Intro paragraph with bold text."
    assert "Class | Allowed\nEconomy | Yes" in doc.sections[1].text
    assert doc.sections[2].text.splitlines() == ["Hotels", "Max 150 EUR", "Breakfast included"]


def test_html_meta_charset_respected(tmp_path):
    html = '<html><head><meta charset="windows-1251"><title>Меню</title></head><body><h1>Кофе</h1>' \
           "<p>Эспрессо стоит 20 руб.</p></body></html>"
    doc = load_file(write(tmp_path / "menu.htm", html, encoding="cp1251"))
    assert doc.title == "Меню"
    assert doc.sections[0].heading == "Кофе"
    assert "Эспрессо стоит 20 руб." in doc.sections[0].text
    # Polish in windows-1250 would be guessed as Western cp1252 ("Za¿ó³æ") without the declaration
    polish = '<html><head><meta http-equiv="content-type" content="text/html; charset=windows-1250">' \
             "</head><body><p>Zażółć gęślą jaźń. Łódź to miasto.</p></body></html>"
    doc = load_file(write(tmp_path / "pl.html", polish, encoding="cp1250"))
    assert doc.sections[0].text == "Zażółć gęślą jaźń. Łódź to miasto."


def test_html_cp1252_without_meta_and_utf8_despite_wrong_meta(tmp_path):
    body = "<html><body><p>Espresso costs £2 – “special” at the café.</p></body></html>"
    doc = load_file(write(tmp_path / "a.html", body, encoding="cp1252"))
    assert doc.sections[0].text == "Espresso costs £2 – “special” at the café."
    wrong = body.replace("<html>", '<html><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">')
    doc = load_file(write(tmp_path / "b.html", wrong, encoding="utf-8"))
    assert doc.sections[0].text == "Espresso costs £2 – “special” at the café."


def test_html_title_falls_back_to_first_h1(tmp_path):
    doc = load_file(write(tmp_path / "x.html", "<html><body><h1>Quarterly Update</h1><p>Numbers.</p></body></html>"))
    assert doc.title == "Quarterly Update"


def test_html_pre_br_nested_table_and_hidden(tmp_path):
    html = """<body><div hidden>invisible text</div><p>line one<br>line two</p>
    <pre>code  line 1
code line 2</pre>
    <table><tr><td>Outer <table><tr><td>inner</td><td>cell</td></tr></table></td><td>Right</td></tr></table>
    <!-- a comment --></body>"""
    text = texts(load_file(str(write(tmp_path / "misc.html", html))))
    assert "invisible" not in text and "comment" not in text
    assert "line one\nline two" in text
    assert "code line 1\ncode line 2" in text
    assert "Outer inner cell | Right" in text


# --------------------------------------------------------------------------- Markdown


def test_markdown_front_matter_headings_and_code_fences(tmp_path):
    md = """---
title: From Front Matter
tags: [a, b]
---
Preamble line.

# Setup Guide

Install the tool.

```bash
# this is a shell comment, not a heading
pip install tool
```

## Configure ##

Edit the file.

#### Deep heading stays text
More text.
"""
    path = write(tmp_path / "guide.md", md)
    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.title == "Setup Guide"
    assert "tags:" not in texts(doc) and "From Front Matter" not in texts(doc)
    assert [s.heading for s in doc.sections] == [None, "Setup Guide", "Configure"]
    assert doc.sections[0].text == "Preamble line."
    assert "# this is a shell comment, not a heading" in doc.sections[1].text
    assert "#### Deep heading stays text" in doc.sections[2].text


def test_markdown_title_from_front_matter_when_no_h1(tmp_path):
    doc = load_file(write(tmp_path / "n.markdown", "---\ntitle: Release Notes\n---\n## Fixes\nBug fixed.\n"))
    assert doc.title == "Release Notes"
    assert [s.heading for s in doc.sections] == ["Fixes"]


# --------------------------------------------------------------------------- TXT and decoding


def test_txt_cp1252(tmp_path):
    doc = load_file(write(tmp_path / "price.txt", "The café charges £20 per person.\n", encoding="cp1252"))
    assert doc.sections == [Section(text="The café charges £20 per person.")]
    assert doc.parser == "text"


def test_txt_short_cp1252(tmp_path):
    assert texts(load_file(write(tmp_path / "s.txt", "café £20", encoding="cp1252"))) == "café £20"


def test_txt_utf16_with_bom(tmp_path):
    doc = load_file(write(tmp_path / "u16.txt", "Grüße aus Köln\r\nZeile zwei", encoding="utf-16"))
    assert texts(doc) == "Grüße aus Köln\nZeile zwei"


def test_txt_cyrillic_legacy_encoding(tmp_path):
    doc = load_file(write(tmp_path / "ru.txt", "Привет, как дела? Это тест кодировки.\n" * 3, encoding="cp1251"))
    assert texts(doc).startswith("Привет, как дела?")


def test_binary_named_txt(tmp_path):
    data = random.Random(1).randbytes(4096) + b"\x00\x00"
    with pytest.raises(LoadError, match=r"binary"):
        load_file(write(tmp_path / "blob.txt", data))


def test_random_high_bytes_without_nuls(tmp_path):
    rng = random.Random(2)
    data = bytes(rng.randrange(0x80, 0x100) for _ in range(4096))
    assert b"\x00" not in data
    with pytest.raises(LoadError, match=r"binary|encoding"):
        load_file(write(tmp_path / "high.txt", data))


def test_decode_bytes_variants():
    assert decode_bytes("Price: 20€ – “quoted”".encode("cp1252")) == "Price: 20€ – “quoted”"
    assert decode_bytes("naïve ".encode() + "résumé".encode("cp1252")) == "naïve résumé"
    assert decode_bytes("hello wörld, plain text".encode("utf-16-le")) == "hello wörld, plain text"
    assert decode_bytes(b"\xef\xbb\xbfBOM text") == "BOM text"
    assert decode_bytes("x".encode("utf-32")) == "x"


def test_looks_like_text():
    assert looks_like_text("Ordinary sentence with words and 123 numbers.")
    assert looks_like_text("これは日本語のテキストです。")
    assert not looks_like_text("")
    assert not looks_like_text("   \n\t ")
    assert not looks_like_text("\ufffd" * 20 + "abc")
    assert not looks_like_text("".join(chr(c) for c in range(0xE000, 0xE040)) + "ab")
    assert not looks_like_text("--- ... *** ||| ---")
    assert not looks_like_text("럫" * 500)  # one glyph repeated: a mis-decoded byte run
    assert not looks_like_text("ab\x01\x02\x03\x04\x05\x06\x07\x08cd")


# --------------------------------------------------------------------------- file-level errors


def test_empty_file(tmp_path):
    with pytest.raises(LoadError, match=r"^empty file$"):
        load_file(write(tmp_path / "empty.pdf", b""))


def test_whitespace_only_text(tmp_path):
    with pytest.raises(LoadError, match=r"no extractable text"):
        load_file(write(tmp_path / "blank.txt", "   \n\n\t  \n"))


def test_unsupported_suffix_lists_supported(tmp_path):
    path = write(tmp_path / "setup.exe", b"MZ\x90\x00")
    assert not is_supported(path)
    with pytest.raises(LoadError, match=r"unsupported file type \.exe \(supported: .*\.pdf.*\.xlsx"):
        load_file(path)


def test_is_supported_and_suffixes():
    expected = {".pdf", ".docx", ".pptx", ".html", ".htm", ".md", ".markdown", ".txt", ".text", ".csv",
                ".tsv", ".xlsx", ".xlsm"}
    assert expected <= SUPPORTED_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)
    assert is_supported(Path("REPORT.PDF")) and is_supported(Path("a/b.Docx"))
    assert not is_supported(Path("archive.zip")) and not is_supported(Path("README"))


def test_directory_and_missing_path(tmp_path):
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(LoadError, match=r"directory"):
        load_file(folder)
    with pytest.raises(LoadError, match=r"not found"):
        load_file(tmp_path / "missing.pdf")
    with pytest.raises(LoadError, match=r"invalid path"):
        load_file(str(tmp_path / "bad\x00name.txt"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_permission_denied(tmp_path):
    path = write(tmp_path / "secret.txt", "classified")
    path.chmod(0)
    try:
        with pytest.raises(LoadError, match=r"^permission denied$"):
            load_file(path)
    finally:
        path.chmod(0o600)


def test_huge_file_rejected_before_reading(tmp_path):
    path = tmp_path / "huge.pdf"
    with open(path, "wb") as f:
        f.truncate(200 * 1024**2)  # sparse: instant, no disk use
    started = time.perf_counter()
    with pytest.raises(LoadError, match=r"^file is 200\.0 MB, over the 100 MB limit \(max_file_mb\)$"):
        load_file(path)
    assert time.perf_counter() - started < 1
    with pytest.raises(LoadError, match=r"over the 0\.5 MB limit"):
        load_file(write(tmp_path / "small.txt", "x" * (600 * 1024)), max_bytes=512 * 1024)


@pytest.mark.parametrize("suffix", sorted(SUPPORTED_SUFFIXES))
def test_garbage_only_ever_raises_load_error(tmp_path, suffix):
    rng = random.Random(suffix)
    for n, size in enumerate((3, 700, 5000)):
        path = write(tmp_path / f"junk{n}{suffix}", rng.randbytes(size) + b"\x00")
        with pytest.raises(LoadError) as info:
            load_file(path)
        assert "\n" not in str(info.value) and 0 < len(str(info.value)) <= 220


# --------------------------------------------------------------------------- CSV / TSV / XLSX


def test_csv_semicolon_rendering_and_grouping(tmp_path):
    path = tmp_path / "staff.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(["Name", "Team", "City"])
        for n in range(1, 121):
            writer.writerow([f"Person {n}", "Sales" if n % 2 else "", f"Town; {n}"])
    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.parser == "csv"
    assert [len(s.text.splitlines()) for s in doc.sections] == [50, 50, 20]
    assert {s.heading for s in doc.sections} == {"staff"}
    lines = texts(doc).splitlines()
    assert lines[0] == "Name: Person 1; Team: Sales; City: Town; 1"
    assert lines[1] == "Name: Person 2; City: Town; 2"  # empty cells are left out
    assert lines[-1] == "Name: Person 120; City: Town; 120"


def test_csv_cp1252_single_column(tmp_path):
    doc = load_file(write(tmp_path / "menu.csv", "Dish\r\nCrème brûlée\r\nCafé au lait\r\n", encoding="cp1252"))
    assert texts(doc).splitlines() == ["Dish: Crème brûlée", "Dish: Café au lait"]
    assert doc.sections[0].page is None


def test_tsv_with_extra_columns(tmp_path):
    doc = load_file(write(tmp_path / "data.tsv", "id\tvalue\n1\tten\textra\n\n2\ttwenty\n"))
    assert texts(doc).splitlines() == ["id: 1; value: ten; Column 3: extra", "id: 2; value: twenty"]


def test_xlsx_two_sheets_with_page_numbers(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    first.title = "Revenue"
    first.append(["Region", "Amount", "Date"])
    first.append(["North", 1200.5, datetime.datetime(2024, 3, 1)])
    first.append([None, None, None])
    first.append(["South", 900.0, datetime.datetime(2024, 3, 2, 14, 30)])
    workbook.create_sheet("Empty")
    costs = workbook.create_sheet("Costs")
    costs.append(["Item", "Cost"])
    costs.append(["Rent", 5000])
    path = tmp_path / "finance.xlsx"
    workbook.save(str(path))

    doc = load_file(path)
    assert_well_formed(doc, path)
    assert doc.parser == "openpyxl"
    assert [(s.page, s.heading) for s in doc.sections] == [(1, "Revenue"), (3, "Costs")]
    assert doc.sections[0].text.splitlines() == [
        "Region: North; Amount: 1200.5; Date: 2024-03-01",
        "Region: South; Amount: 900; Date: 2024-03-02 14:30:00",
    ]
    assert doc.sections[1].text == "Item: Rent; Cost: 5000"
