"""Documents nobody described: context derived from the file name and first pages, and used by retrieval."""

from __future__ import annotations

from pathlib import Path

from assistant.components import Components
from assistant.config import load_settings
from indexing.doc_context import derive_context, fill_missing, plausible_title, readable_stem
from indexing.loaders import Section

BOILERPLATE = (
    "Forward-looking statements in this report involve risks and uncertainties. Actual results may differ "
    "materially from those projected. The company undertakes no obligation to update these statements. "
)


def test_identifiers_placeholders_and_huge_values_are_not_titles() -> None:
    for bad in ("0000320193-23-000006", "Microsoft Word - draft3.docx", "scan_0001.pdf", "x" * 5000, "", None,
                "2023_Q1_v2"):
        assert plausible_title(bad) is None, bad
    assert plausible_title("Annual Report 2023") == "Annual Report 2023"
    assert plausible_title("ADBE 10-K FY22") == "ADBE 10-K FY22"


def test_context_comes_from_the_file_name_and_the_first_pages() -> None:
    first = Section(
        "ACME Widgets Ltd\nQuarterly trading update\nACME Widgets Ltd reports revenue for the quarter ended "
        "March 31, 2023.", page=1,
    )
    later = Section("Revenue rose to 41.2 million. " + BOILERPLATE, page=2)
    context = derive_context("2023 Q1 ACME.pdf", [first, later], metadata_title="0000320193-23-000006")
    assert context.title == "2023 Q1 ACME"  # the accession number is refused; the file name says more
    assert context.parties == ["ACME Widgets Ltd"]
    assert context.period == "Q1 2023"
    assert readable_stem("AMAZON_2017_10K.pdf") == "AMAZON 2017 10K"


def test_a_meaningless_file_name_gives_way_to_the_first_page() -> None:
    page = Section("INVITATION TO TENDER\nProvision of Cleaning Services for the Northern Trust\n"
                   "Issued by: Harbour City Council", page=1)
    context = derive_context("scan0001.pdf", [page], metadata_title="Microsoft Word - draft3.docx")
    assert context.title == "INVITATION TO TENDER"
    assert context.kind == "invitation to tender"
    assert context.parties == ["Harbour City Council"]


def test_people_s_metadata_wins_over_what_is_derived() -> None:
    derived = derive_context("ACME_2022_annual_report.pdf", [Section("ACME plc annual report 2022", page=1)], None)
    given = {"title": "ACME Annual Report", "company": "ACME Holdings", "doc_type": "annual_report"}
    merged = fill_missing(given, derived)
    assert merged["title"] == "ACME Annual Report"
    assert "parties" not in merged and "kind" not in merged  # a sidecar's company and doc_type say it
    assert merged["period"] == "2022"


def _filing(folder: Path, company: str, year: int, revenue: str) -> Path:
    """A filing whose pages after the cover never name the company: shared boilerplate and numbers."""
    pages = [f"{company} Corporation\nAnnual report for the year ended December 31, {year}\n{company} Corporation"]
    pages += [BOILERPLATE * 3, f"Total net revenue for the year was {revenue} million. " + BOILERPLATE]
    path = folder / f"{company.upper()}_{year}_annual_report.md"
    path.write_text("\n\n".join(f"## Page {i}\n\n{p}" for i, p in enumerate(pages, 1)), encoding="utf-8")
    return path


def test_a_chunk_is_found_by_what_its_document_is_about(make_home) -> None:
    home = make_home()
    corpus = home.parent / "filings"
    corpus.mkdir()
    filings = (("Kestrel", 2021, "310.4"), ("Kestrel", 2022, "355.9"), ("Osprey", 2022, "412.7"),
               ("Merlin", 2022, "98.1"))
    paths = {(c, y): _filing(corpus, c, y, r) for c, y, r in filings}
    svc = Components(load_settings(home))
    report = svc.index([corpus])
    assert report.added == 4 and not report.failed

    record = {r.source: r for r in svc.sources()}[str(paths["Osprey", 2022])]
    assert record.metadata["parties"] == "Osprey Corporation"
    assert record.metadata["title"] == "OSPREY 2022 annual report"

    # The year as questions write it: FY22, Q4'2021, fiscal 2022.
    asked = {("Kestrel", 2021): "in Q4'2021", ("Kestrel", 2022): "in FY22", ("Osprey", 2022): "for fiscal 2022",
             ("Merlin", 2022): "in 2022"}
    for (company, year), path in paths.items():
        top = svc.retrieve([f"What was total net revenue of {company} {asked[company, year]}?"], top_k=3)[0]
        assert top[0].source == str(path), (company, year, [c.source for c in top])
        assert "revenue" in top[0].text


def test_periods_are_spelled_alike_in_questions_and_documents() -> None:
    from indexing.periods import document_years, spell_out_periods, years_named

    assert spell_out_periods("Adobe's FY22 margin") == "Adobe's FY 2022 margin"
    assert spell_out_periods("Pfizer Q2'2023 and 2023Q2") == "Pfizer Q2 2023 and Q2 2023"
    assert years_named("What drove growth in FY2023/24?") == {"2023", "2024"}
    assert years_named("ISBN 9781234567897, PubMed 10135926") == set()
    assert document_years({"title": "ADBE 10K FY15", "file_name": "ADOBE_2015_10K.pdf"}) == {"2015"}
    assert document_years({"title": "Annual report", "date": "2024-04-01"}) == {"2024"}
