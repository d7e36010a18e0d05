"""OCR of scanned PDFs and images with tesseract: real scans made here (text drawn with a TTF font)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.components import Components
from assistant.config import load_settings
from indexing.loaders import LoadError, LoadOptions, _ocr, load_file
from tests.scan_fixtures import PAGE_ONE, PAGE_THREE, blank_page, noise_page, scanned_pdf, text_page

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="tesseract is not installed (apt-get install tesseract-ocr; `make test` installs it)",
)
MISSING = "OCR needs tesseract: apt-get install tesseract-ocr"

def mixed_pdf(path: Path, *, stamp: str | None = None) -> Path:
    """Page 1 has a text layer; page 2 is a scan (with ``stamp`` as a thin text layer over it)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format=(148, 210))  # A5
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Typed page: the Selby warehouse stores spare bicycle wheels for the whole region.")
    pdf.add_page()
    pdf.image(text_page(PAGE_THREE), x=0, y=0, w=pdf.w, h=pdf.h)
    if stamp:
        pdf.set_font("helvetica", size=7)
        pdf.text(pdf.w - 40, pdf.h - 4, stamp)
    pdf.output(str(path))
    return path


@pytest.fixture
def no_tesseract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tesseract made unavailable the way a machine without it is: not on PATH."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert _ocr.find_tesseract() is None


def one_line_error(excinfo: pytest.ExceptionInfo[LoadError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and len(message) < 200, message
    return message


# --------------------------------------------------------------------------- with tesseract


@needs_tesseract
def test_scanned_pdf_text_pages_found_on_their_pages_blank_and_noise_reported(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", [text_page(PAGE_ONE), blank_page(), text_page(PAGE_THREE),
                                               noise_page()])
    doc = load_file(path)
    assert [s.page for s in doc.sections] == [1, 3]
    one, three = (s.text for s in doc.sections)
    for word in ("Harrogate", "electric", "overnight", "tariff"):
        assert word in one
    for word in ("Whitby", "2019", "York", "Micklegate"):
        assert word in three
    assert "\n" in one  # lines kept
    assert doc.parser == "pypdfium2+tesseract"
    assert doc.warnings == ["pages 2, 4: OCR found no readable text"]


@needs_tesseract
def test_scanned_pdf_with_nothing_readable_fails_in_one_line(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "blank-scan.pdf", [blank_page(), noise_page()])
    with pytest.raises(LoadError) as excinfo:
        load_file(path)
    assert one_line_error(excinfo) == ("no extractable text: scanned PDF (no text layer), and OCR found no "
                                       "readable text on any of its 2 pages")


@needs_tesseract
def test_png_and_multipage_tiff_load(tmp_path: Path) -> None:
    png = tmp_path / "note.png"
    text_page(PAGE_ONE, mode="RGBA").save(png)  # text on a transparent background
    doc = load_file(png)
    assert len(doc.sections) == 1 and doc.sections[0].page is None
    assert "Harrogate" in doc.sections[0].text and doc.parser == "tesseract" and doc.warnings == []

    jpg = tmp_path / "photo.JPG"
    text_page(PAGE_THREE).save(jpg, quality=85)
    assert "Whitby" in load_file(jpg).sections[0].text

    tiff = tmp_path / "fax.tiff"
    text_page(PAGE_ONE).save(tiff, save_all=True, append_images=[blank_page(), text_page(PAGE_THREE)])
    doc = load_file(tiff)
    assert [s.page for s in doc.sections] == [1, 3]
    assert "Harrogate" in doc.sections[0].text and "Whitby" in doc.sections[1].text
    assert doc.warnings == ["page 2: OCR found no readable text"]

    blank = tmp_path / "blank.png"
    blank_page().save(blank)
    with pytest.raises(LoadError, match=r"^no extractable text: OCR found no readable text$"):
        load_file(blank)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(LoadError, match=r"^corrupt image"):
        load_file(broken)


@needs_tesseract
def test_mixed_pdf_keeps_the_text_layer_and_ocrs_the_scan(tmp_path: Path) -> None:
    doc = load_file(mixed_pdf(tmp_path / "mixed.pdf"))
    assert [s.page for s in doc.sections] == [1, 2]
    assert doc.sections[0].text.startswith("Typed page: the Selby warehouse")  # the layer, not OCR
    assert "Whitby" in doc.sections[1].text
    assert doc.parser == "pypdfium2+tesseract" and doc.warnings == []


@needs_tesseract
def test_scan_with_only_a_stamp_as_text_layer_is_ocrd(tmp_path: Path) -> None:
    doc = load_file(mixed_pdf(tmp_path / "stamped.pdf", stamp="REF-000123"))
    page_two = next(s.text for s in doc.sections if s.page == 2)
    assert "Whitby" in page_two and "Micklegate" in page_two


@needs_tesseract
def test_missing_language_data_names_the_package(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", [text_page(PAGE_ONE)])
    with pytest.raises(LoadError) as excinfo:
        load_file(path, options=LoadOptions(ocr_languages="eng+zzz"))
    assert one_line_error(excinfo) == ("scanned PDF (no text layer); OCR language data 'zzz' is not installed: "
                                       "apt-get install tesseract-ocr-zzz")


@needs_tesseract
def test_scanned_pdf_words_become_searchable(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scan = scanned_pdf(corpus / "scanned-memo.pdf", [text_page(PAGE_ONE), blank_page(), text_page(PAGE_THREE)])
    (corpus / "other.md").write_text("# Canteen\n\nThe canteen in Leeds opens at half past seven.\n")

    svc = Components(load_settings(home))
    report = svc.index([corpus])
    assert (report.added, report.failed) == (2, [])
    assert report.warnings == [{"path": str(scan), "warning": "page 2: OCR found no readable text"}]
    hits = svc.retrieve(["Which office closed in 2019, Whitby?"], top_k=3)[0]
    assert hits and hits[0].source == str(scan) and hits[0].page == 3
    assert "Whitby" in hits[0].text


# --------------------------------------------------------------------------- without tesseract / OCR off


def test_without_tesseract_a_scan_fails_naming_what_to_install(tmp_path: Path, no_tesseract: None) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", [text_page(PAGE_ONE), text_page(PAGE_THREE)])
    with pytest.raises(LoadError) as excinfo:
        load_file(path)
    assert one_line_error(excinfo) == f"scanned PDF (no text layer); {MISSING}"

    png = tmp_path / "note.png"
    text_page(PAGE_ONE).save(png)
    with pytest.raises(LoadError) as excinfo:
        load_file(png)
    assert one_line_error(excinfo) == f"image (no text layer); {MISSING}"


def test_without_tesseract_a_mixed_pdf_keeps_its_text_page_and_warns(tmp_path: Path, no_tesseract: None) -> None:
    path = mixed_pdf(tmp_path / "mixed.pdf")
    doc = load_file(path)
    assert [s.page for s in doc.sections] == [1] and "Selby" in doc.sections[0].text
    assert doc.parser == "pypdfium2"
    assert doc.warnings == [f"page 2: scanned, not OCR'd ({MISSING})"]
    # Asked for explicitly, OCR that cannot run fails the file instead.
    with pytest.raises(LoadError) as excinfo:
        load_file(path, options=LoadOptions(ocr="on"))
    assert one_line_error(excinfo) == f"scanned page 2; {MISSING}"


def test_ocr_off_reads_text_layers_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ocr(*args: object, **kwargs: object) -> None:
        raise AssertionError("OCR ran although indexing.ocr is off")

    monkeypatch.setattr(_ocr, "ocr_pages", no_ocr)
    monkeypatch.setattr(_ocr, "check_ocr", no_ocr)
    off = LoadOptions(ocr="off")
    with pytest.raises(LoadError, match=r'^no extractable text \(scanned images\? OCR is off: indexing.ocr = "off"\)$'):
        load_file(scanned_pdf(tmp_path / "scan.pdf", [text_page(PAGE_ONE)]), options=off)
    doc = load_file(mixed_pdf(tmp_path / "mixed.pdf"), options=off)
    assert [s.page for s in doc.sections] == [1] and doc.parser == "pypdfium2" and doc.warnings == []
    png = tmp_path / "note.png"
    text_page(PAGE_ONE).save(png)
    with pytest.raises(LoadError, match=r'^image \(no text layer\); OCR is off \(indexing.ocr = "off"\)$'):
        load_file(png, options=off)


def test_text_pdf_and_blank_pages_need_no_ocr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typed PDF with an empty page neither runs tesseract nor warns, installed or not."""
    from fpdf import FPDF

    monkeypatch.setattr(_ocr, "check_ocr", lambda options: pytest.fail("OCR was not needed"))
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in ("First typed page about the Selby warehouse.", None, "Third typed page about wheels."):
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
    pdf.output(str(tmp_path / "typed.pdf"))
    doc = load_file(tmp_path / "typed.pdf")
    assert [s.page for s in doc.sections] == [1, 3] and doc.parser == "pypdfium2" and doc.warnings == []


# --------------------------------------------------------------------------- helpers


def test_tsv_blocks_with_low_confidence_are_dropped() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"

    def word(block: int, par: int, line: int, conf: float, text: str) -> str:
        return f"5\t1\t{block}\t{par}\t{line}\t1\t0\t0\t10\t10\t{conf}\t{text}"

    tsv = "\n".join([header, "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
                     word(1, 1, 1, 95, "Budget"), word(1, 1, 1, 91, "approved."), word(1, 1, 2, 88, "Next"),
                     word(1, 2, 1, 93, "Signed"), word(2, 1, 1, 40, "e@"), word(2, 1, 1, 55, "ee°")])
    assert _ocr._text_from_tsv(tsv) == "Budget approved.\nNext\n\nSigned"
    assert _ocr.readable("e e @ ° e. ee") == ""
    assert _ocr.readable("42") == ""
    assert _ocr.readable("Budget approved") == "Budget approved"


def test_page_lists() -> None:
    assert _ocr.page_list([7]) == "page 7"
    assert _ocr.page_list([5, 3, 6, 7, 9]) == "pages 3, 5-7, 9"
    assert _ocr.problem_warnings({2: "OCR found no readable text", 4: "OCR timed out after 180 s",
                                  5: "OCR found no readable text"}) == [
        "pages 2, 5: OCR found no readable text", "page 4: OCR timed out after 180 s"]


@needs_tesseract
def test_concurrent_loads_share_pdfium_safely(tmp_path: Path) -> None:
    """The indexer may load files from several threads; rendering holds PDFium's lock, OCR does not."""
    from concurrent.futures import ThreadPoolExecutor

    scan = scanned_pdf(tmp_path / "scan.pdf", [text_page(PAGE_ONE), text_page(PAGE_THREE)])
    mixed = mixed_pdf(tmp_path / "mixed.pdf")
    with ThreadPoolExecutor(4) as pool:
        docs = list(pool.map(load_file, [scan, mixed, scan, mixed]))
    assert [[s.page for s in doc.sections] for doc in docs] == [[1, 2]] * 4
    assert all("Whitby" in doc.sections[1].text for doc in docs)
