"""PDFs as they come from outside: a 1 000-page filing, a title that is noise, a scan on a machine without OCR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.components import Components
from assistant.config import load_settings
from indexing.loaders import load_file
from tests.conftest import run_cli
from tests.corpus_utils import write_corpus
from tests.scan_fixtures import PAGE_ONE, scanned_pdf, text_page


def _pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title is not None:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def test_a_1000_page_filing_loads_every_page_with_its_number(tmp_path: Path) -> None:
    pages = [f"Item {n}. Page {n} of the filing discusses segment {n % 7} revenue." for n in range(1, 1001)]
    doc = load_file(_pdf(tmp_path / "filing.pdf", pages))
    assert [s.page for s in doc.sections] == list(range(1, 1001))
    assert "Page 737 of the filing" in doc.sections[736].text


@pytest.mark.parametrize("title", ["0000320193-23-000006", "Q" * 5000, "Microsoft Word - draft3.docx"])
def test_a_noise_title_gives_way_to_the_file_name(tmp_path: Path, make_home, title: str) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    text = "ACME Widgets Ltd quarterly update. ACME Widgets Ltd revenue rose to 41 million."
    _pdf(folder / "2023 Q1 ACME.pdf", [text], title=title)
    svc = Components(load_settings(make_home()))
    report = svc.index([folder])
    assert report.added == 1 and not report.failed
    meta = svc.sources()[0].metadata
    assert meta["title"] == "2023 Q1 ACME" and meta["period"] == "Q1 2023"
    assert meta["parties"] == "ACME Widgets Ltd"
    assert svc.retrieve(["ACME revenue in Q1 2023"], top_k=1)[0][0].metadata["title"] == "2023 Q1 ACME"


def test_a_scan_without_tesseract_is_one_clear_line_and_the_rest_is_indexed(tmp_path: Path, make_home) -> None:
    folder = tmp_path / "docs"
    write_corpus(folder, n_files=2)
    scanned_pdf(folder / "signed-contract.pdf", [text_page(PAGE_ONE)])
    home = make_home()
    bare = tmp_path / "bin"  # PATH without tesseract: only the interpreter the CLI runs with
    bare.mkdir()
    res = run_cli("index", str(folder), "--json", home=home, env={"PATH": str(bare)})
    assert res.returncode == 3, res.stderr
    out = json.loads(res.stdout)
    assert out["added"] == 2
    [failure] = out["failed"]
    assert failure["path"].endswith("signed-contract.pdf")
    assert "tesseract" in failure["error"] and "apt-get install tesseract-ocr" in failure["error"]
    assert "\n" not in failure["error"]
