#!/usr/bin/env python
"""Generate the demo corpus for the enterprise assistant.

The corpus describes one fictional UK company, Calderbrook Digital Ltd.
The fact sheet that every document follows lives in assistant/demo/README.md.

Usage:
    python scripts/make_demo_corpus.py            # (re)write corpus + questions, then check
    python scripts/make_demo_corpus.py --check    # only run the checks

Everything is plain Python data. Output is deterministic: fixed document
metadata, fixed zip timestamps for DOCX/PPTX/XLSX, fixed PDF creation dates.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import html
import io
import json
import re
import shutil
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assistant" / "demo"
CORPUS = DEMO / "corpus"
QUESTIONS = DEMO / "questions.jsonl"

COMPANY = "Calderbrook Digital Ltd"
AUTHOR = "Calderbrook Digital Ltd"
FIXED_TS = dt.datetime(2024, 10, 1, 9, 0, 0, tzinfo=dt.UTC)

# ---------------------------------------------------------------------------
# Mini mark-up used for long documents (PDF / DOCX)
#   # H1, ## H2, ### H3, "- " bullet, "| a | b |" table rows (first = header),
#   "===" page break, blank line = paragraph break.
# ---------------------------------------------------------------------------


def parse_blocks(text: str) -> list[tuple[str, object]]:
    blocks: list[tuple[str, object]] = []
    para: list[str] = []
    table: list[list[str]] = []

    def flush_para():
        if para:
            blocks.append(("p", " ".join(s.strip() for s in para)))
            para.clear()

    def flush_table():
        if table:
            blocks.append(("table", [r[:] for r in table]))
            table.clear()

    for raw in text.strip("\n").splitlines():
        line = raw.rstrip()
        s = line.strip()
        if s.startswith("|"):
            flush_para()
            table.append([c.strip() for c in s.strip("|").split("|")])
            continue
        flush_table()
        if not s:
            flush_para()
        elif s == "===":
            flush_para()
            blocks.append(("page", None))
        elif s.startswith("### "):
            flush_para()
            blocks.append(("h3", s[4:]))
        elif s.startswith("## "):
            flush_para()
            blocks.append(("h2", s[3:]))
        elif s.startswith("# "):
            flush_para()
            blocks.append(("h1", s[2:]))
        elif s.startswith("- "):
            flush_para()
            blocks.append(("bullet", s[2:]))
        else:
            para.append(s)
    flush_para()
    flush_table()
    return blocks


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def _check_latin1(text: str, where: str) -> None:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:  # pragma: no cover - authoring error
        raise SystemExit(f"non latin-1 character in {where}: {text[exc.start - 20: exc.end + 20]!r}") from exc


def write_pdf(path: Path, text: str, *, title: str, footer: str) -> None:
    from fpdf import FPDF

    _check_latin1(text, str(path))

    class Doc(FPDF):
        def footer(self):
            self.set_y(-14)
            self.set_font("Helvetica", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 6, f"{footer}  |  Page {self.page_no()} of {{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = Doc(format="A4")
    pdf.set_creation_date(FIXED_TS)
    pdf.set_title(title)
    pdf.set_author(AUTHOR)
    pdf.set_creator("make_demo_corpus.py")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.alias_nb_pages()
    pdf.add_page()
    first = True
    for kind, val in parse_blocks(text):
        if kind == "page":
            pdf.add_page()
            first = True
            continue
        if kind in ("h2", "h3") and pdf.get_y() > pdf.h - 55:
            pdf.add_page()
        if kind == "h1":
            pdf.set_font("Helvetica", "B", 17)
            if not first:
                pdf.ln(3)
            pdf.multi_cell(0, 8, val, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind == "h2":
            pdf.set_font("Helvetica", "B", 13)
            pdf.ln(2)
            pdf.multi_cell(0, 7, val, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "h3":
            pdf.set_font("Helvetica", "B", 11)
            pdf.ln(1)
            pdf.multi_cell(0, 6, val, new_x="LMARGIN", new_y="NEXT")
        elif kind == "p":
            pdf.set_font("Helvetica", "", 10.5)
            pdf.multi_cell(0, 5.4, val, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.2)
        elif kind == "bullet":
            pdf.set_font("Helvetica", "", 10.5)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 5.4, "- " + val, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
        elif kind == "table":
            rows = val
            ncol = len(rows[0])
            avail = pdf.w - pdf.l_margin - pdf.r_margin
            first_w = avail * (0.34 if ncol > 2 else 0.5)
            other_w = (avail - first_w) / (ncol - 1)
            widths = [first_w] + [other_w] * (ncol - 1)
            pdf.ln(1)
            for i, row in enumerate(rows):
                pdf.set_font("Helvetica", "B" if i == 0 else "", 9.5)
                for w, cell in zip(widths, row, strict=True):
                    pdf.cell(w, 6.4, cell, border=1, align="L" if w == first_w else "R")
                pdf.ln(6.4)
            pdf.ln(3)
        first = False
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


def _fixed_core(props, title: str) -> None:
    props.title = title
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.created = FIXED_TS.replace(tzinfo=None)
    props.modified = FIXED_TS.replace(tzinfo=None)
    props.revision = 1


def write_docx(path: Path, text: str, *, title: str) -> None:
    import docx
    from docx.enum.text import WD_BREAK

    d = docx.Document()
    _fixed_core(d.core_properties, title)
    for kind, val in parse_blocks(text):
        if kind == "page":
            d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        elif kind in ("h1", "h2", "h3"):
            d.add_heading(val, level=int(kind[1]))
        elif kind == "p":
            d.add_paragraph(val)
        elif kind == "bullet":
            d.add_paragraph(val, style="List Bullet")
        elif kind == "table":
            rows = val
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            t.style = "Table Grid"
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    t.cell(i, j).text = cell
                    if i == 0:
                        for r in t.cell(i, j).paragraphs[0].runs:
                            r.bold = True
    path.parent.mkdir(parents=True, exist_ok=True)
    d.save(str(path))
    normalise_zip(path)


def write_pptx(path: Path, slides: list[dict], *, title: str) -> None:
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation()
    _fixed_core(prs.core_properties, title)
    for i, s in enumerate(slides):
        if i == 0:
            slide = prs.slides.add_slide(prs.slide_layouts[0])
            slide.shapes.title.text = s["title"]
            slide.placeholders[1].text = s.get("subtitle", "")
        else:
            slide = prs.slides.add_slide(prs.slide_layouts[1])
            slide.shapes.title.text = s["title"]
            body = slide.placeholders[1].text_frame
            for k, b in enumerate(s["bullets"]):
                p = body.paragraphs[0] if k == 0 else body.add_paragraph()
                p.text = b
                p.font.size = Pt(20)
        if s.get("notes"):
            slide.notes_slide.notes_text_frame.text = s["notes"]
    path.parent.mkdir(parents=True, exist_ok=True)
    prs.save(str(path))
    normalise_zip(path)


def write_xlsx(path: Path, sheets: list[tuple[str, list[list[object]]]], *, title: str) -> None:
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.properties.title = title
    wb.properties.creator = AUTHOR
    wb.properties.created = FIXED_TS.replace(tzinfo=None)
    wb.properties.modified = FIXED_TS.replace(tzinfo=None)
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        for c in ws[1]:
            c.font = Font(bold=True)
        for col in ws.columns:
            width = max(len(str(c.value)) if c.value is not None else 0 for c in col)
            ws.column_dimensions[col[0].column_letter].width = min(60, width + 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(str(path))
    normalise_zip(path)


_CORE_TS = re.compile(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def normalise_zip(path: Path) -> None:
    """Rewrite an OOXML zip with fixed timestamps so output is byte-stable."""
    with zipfile.ZipFile(path) as zin:
        entries = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = _CORE_TS.sub(
                    lambda m: m.group(1) + "2024-10-01T09:00:00Z" + m.group(3), data.decode("utf-8")
                ).encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=(2024, 10, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip("\n") + "\n", encoding="utf-8", newline="\n")


def write_yaml(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False),
                    encoding="utf-8", newline="\n")


def sidecar(rel: str, **meta) -> None:
    """Write FILE.meta.yaml next to corpus/rel. Dates are kept as quoted strings."""
    write_yaml(CORPUS / (rel + ".meta.yaml"), {k: v for k, v in meta.items() if v is not None})


def md_html(title: str, body: str, *, description: str = "") -> str:
    """Wrap a small HTML body in a full page (marketing pages)."""
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<meta name="description" content="{html.escape(description)}">
</head>
<body>
{body.strip()}
</body>
</html>
"""


# ===========================================================================
# ANNUAL REPORTS
# ===========================================================================

AR_2024 = """
# Calderbrook Digital Ltd
## Annual Report 2024
For the year ended 31 March 2024. Published 15 July 2024.

Clear work for public good.

Calderbrook Digital Ltd designs, builds and runs digital services for the UK public sector. We work in three sectors: justice, health and transport. We have five offices, in Leeds, Manchester, London, Cardiff and Glasgow. Our headquarters is at 3 Calder Quay, Leeds LS1 4BR.

## 2024 at a glance
| Measure | FY2023/24 | FY2022/23 |
| Revenue | £46.7m | £38.2m |
| Operating profit | £5.1m | £3.9m |
| Operating margin | 10.9% | 10.2% |
| Profit before tax | £4.9m | £3.7m |
| Cash at 31 March | £9.8m | £7.2m |
| Contracted order book | £61m | £48m |
| Headcount at 31 March | 486 | 412 |
| Bid win rate | 41% | 34% |

Revenue grew by 22.3% to £46.7 million. Operating profit rose by 30.8% to £5.1 million. We ended the year with 486 people, up from 412 a year earlier.

## Contents
- Chair's statement (page 2)
- Chief Executive's review (page 3)
- Financial review (page 4)
- Justice (page 5)
- Health (page 6)
- Transport (page 7)
- Our people and responsibility (page 8)

===
# Chair's statement
Margaret Ellison, Non-executive Chair

This was our strongest year since Priya Raman and Daniel Okafor founded Calderbrook in Leeds in 2011. Revenue passed £45 million for the first time. Profit grew faster than revenue. We did it without debt and without acquisitions.

The board changed during the year. Tom Whitaker joined as Chief Financial Officer on 1 September 2023. Tom succeeds Alan Pierce, who retired after nine years as our CFO. Alan built the finance team from three people to fourteen. We thank him for his care and his candour.

The board now has seven members. They are the Chair, three executive directors (Priya Raman, Daniel Okafor and Tom Whitaker) and three independent non-executive directors. The board met ten times during the year. The audit and risk committee met four times.

Good governance matters more as we grow. In November 2023 we moved our information security management system to the new ISO/IEC 27001:2022 standard. In February 2024 we renewed our Cyber Essentials Plus certification, which we have held since 2018.

Public bodies trust us with sensitive data about prisoners, patients and passengers. That trust is our most valuable asset. The board reviews security and data protection risks at every meeting.

I thank every one of our 486 colleagues. Their work is the reason clients come back to us.

===
# Chief Executive's review
Priya Raman, Chief Executive Officer and co-founder

We said we would grow without losing what makes us useful. We did. Revenue rose 22.3% and every sector grew.

## What we won
In June 2023 the Crown Justice Digital Agency appointed us to Lot 1 (Discovery and Alpha) of its Probation Case Management Modernisation programme. The lot is worth £2.4 million. In November 2023 Aldermoor NHS Foundation Trust awarded us Lot B of its tender, a £2.9 million clinical data warehouse. In March 2024 Northshire County Council appointed us to build its £1.9 million Youth Justice Data Platform, at our second attempt.

## What we lost, and what we learned
We lost Lot 2 (Beta and Live Service) of the probation programme and Lot A (EPR Optimisation) at Aldermoor. Evaluators told us those answers were generic and light on evidence. We listened. We rewrote our Bid Writing Handbook and trained 60 people in our house style. Our bid win rate rose to 41%, from 34% the year before.

## After the year end
In June 2024 Northvale Integrated Care Board appointed us to two lots of its digital programme. Lot 1, Shared Care Record Integration, is worth £3.6 million. Lot 3, Population Health Analytics, is worth £1.5 million. We were not successful on Lot 2, the Patient Portal.

## Our priorities for FY2024/25
- Deepen our health data work across integrated care systems.
- Grow our Glasgow office to 60 people by March 2026.
- Make responsible AI a standard part of every data service we build.

We will keep doing the basics well. Plain words. Proven results. Services that work for the people who use them.

===
# Financial review
Tom Whitaker, Chief Financial Officer

Revenue rose by 22.3% to £46.7 million (FY2022/23: £38.2 million). All three sectors grew. All growth was organic.

## Revenue by sector
| Sector | FY2023/24 | FY2022/23 | Growth | Share |
| Justice | £20.4m | £16.8m | 21.4% | 43.7% |
| Health | £18.6m | £14.9m | 24.8% | 39.8% |
| Transport | £7.7m | £6.5m | 18.5% | 16.5% |
| Total | £46.7m | £38.2m | 22.3% | 100.0% |

Health was our fastest-growing sector. Justice remains our largest sector at 43.7% of revenue.

## Profit and margin
Operating profit was £5.1 million (FY2022/23: £3.9 million). Operating margin improved to 10.9% from 10.2%. Two things drove the improvement. Utilisation of our delivery staff rose to 82% from 79%. We also cut contractors from 14% of delivery days to 9%. Profit before tax was £4.9 million (FY2022/23: £3.7 million).

## Cash and funding
We ended the year with cash of £9.8 million (31 March 2023: £7.2 million). We have no bank borrowings. Our £5 million revolving credit facility with Pennine Commercial Bank was undrawn throughout the year. We renewed it in January 2024 until January 2027.

## Investment
We invested £1.2 million in training, our bid academy and our AI lab during the year. This spend is charged to the income statement.

## Order book and outlook
Our contracted order book stood at £61 million at 31 March 2024 (31 March 2023: £48 million). We expect to deliver £29 million of it in FY2024/25. The board expects revenue growth of between 12% and 15% in FY2024/25.

===
# Justice
Sophie Marsh, Managing Director, Justice

Justice revenue grew by 21.4% to £20.4 million. It is 43.7% of group revenue. At 31 March 2024, 198 of our people worked in the justice team.

## Probation Case Management Modernisation
Our discovery work for the Crown Justice Digital Agency began in July 2023. By 31 March 2024 we had run 126 research sessions with probation practitioners in nine regions. We found that practitioners spend up to a third of their week re-keying information. The alpha phase is due to finish in June 2024.

## Prison Visits Booking Service
We built the Prison Visits Booking Service for the Crown Justice Digital Agency in 2021 and 2022. We still run it under a managed service contract. The service handled 1.2 million visit bookings in FY2023/24, with 99.95% availability.

## Youth justice
Our caseworker app for Kelbridge City Council's Youth Justice Service is now in its second year. In March 2024 Northshire County Council appointed us to build its Youth Justice Data Platform. Work started in April 2024.

## Security clearance
Justice work needs cleared people. At 31 March 2024, 164 of our staff held Security Check (SC) clearance, of whom 112 work in justice.

===
# Health
Dr Aisha Bello, Managing Director, Health

Health revenue grew by 24.8% to £18.6 million. It is now 39.8% of group revenue and our fastest-growing sector. At 31 March 2024, 171 of our people worked in the health team.

## Aldermoor NHS Foundation Trust
Our Discharge Flow Dashboard went live at Aldermoor in February 2023. In its first six months it cut delayed discharge days by 18% and freed 1,240 bed days. The trust then awarded us its clinical data warehouse (Lot B). Work began in January 2024. The first data mart, for emergency care, went live in March 2024.

## Clinical safety and data protection
We employ six accredited Clinical Safety Officers. Every health product we build has a clinical safety case under DCB0129. Our NHS Data Security and Protection Toolkit submission met all standards.

## Integrated care
Integrated care boards want joined-up records and better population data. That is why the Northvale appointment in June 2024 matters to us. It gives us two of the three lots in one of England's larger integrated care systems.

===
# Transport
Owen Hughes, Managing Director, Transport

Transport revenue grew by 18.5% to £7.7 million. It is 16.5% of group revenue. At 31 March 2024, 62 of our people worked in the transport team.

## Passenger Assist for Midland Rail Partnership
Our Passenger Assist app for Midland Rail Partnership launched in February 2023. By 31 March 2024 passengers had booked more than 150,000 assistance journeys through it. Missed assistance, where staff do not meet a booked passenger, fell by 27% in the first six months.

## Looking ahead
Transport is our smallest sector, and we want it to be a focused one. We will concentrate on accessibility and passenger information, where we have proof that we make a difference.

===
# Our people and responsibility
Rachel Doyle, Chief People Officer

We ended the year with 486 people (31 March 2023: 412). They work in justice (198), health (171), transport (62) and central functions (55).

## People measures
| Measure | FY2023/24 | FY2022/23 |
| Headcount at 31 March | 486 | 412 |
| Voluntary staff turnover | 11.8% | 14.2% |
| Apprentices | 24 | 15 |
| SC-cleared staff | 164 | 121 |
| Volunteering hours | 1,850 | 1,320 |

Voluntary staff turnover fell to 11.8% from 14.2%. We took on 24 apprentices, up from 15. Our people gave 1,850 hours of volunteering time, using their two paid volunteering days.

## Certifications
We hold ISO 9001 (since 2014), ISO/IEC 27001 (since 2016, moved to the 2022 version in November 2023), Cyber Essentials Plus (since 2018) and ISO 14001 (since 2021).

## Environment
Our scope 1 and 2 emissions were 212 tonnes of CO2e, down 9% from 233 tonnes in FY2022/23. We aim to reach net zero for scopes 1 and 2 by 2030, and across all scopes by 2040.
"""

AR_2023 = """
# Calderbrook Digital Ltd
## Annual Report 2023
For the year ended 31 March 2023. Published 12 July 2023.

Clear work for public good.

Calderbrook Digital Ltd designs, builds and runs digital services for the UK public sector, in justice, health and transport.

## 2023 at a glance
| Measure | FY2022/23 | FY2021/22 |
| Revenue | £38.2m | £31.5m |
| Operating profit | £3.9m | £3.0m |
| Operating margin | 10.2% | 9.5% |
| Profit before tax | £3.7m | £2.8m |
| Cash at 31 March | £7.2m | £6.1m |
| Contracted order book | £48m | £39m |
| Headcount at 31 March | 412 | 355 |
| Bid win rate | 34% | 31% |

Revenue grew by 21.3% to £38.2 million. Operating profit rose to £3.9 million. Headcount reached 412 at 31 March 2023.

===
# Chair's statement
Margaret Ellison, Non-executive Chair

Calderbrook had a good year. Revenue and profit both grew by more than a fifth. We opened our fifth office, in Glasgow, in September 2022.

Alan Pierce has told the board that he will retire as Chief Financial Officer in the summer of 2023. Alan has been our CFO since 2014. The board has started the search for his successor.

The board met nine times during the year. We kept our ISO 27001 and ISO 9001 certifications after external audits with no major non-conformities.

# Chief Executive's review
Priya Raman, Chief Executive Officer and co-founder

We grew in all three sectors. Health grew fastest, by 28.4%.

We launched two services that we are proud of. Aldermoor NHS Foundation Trust's Discharge Flow Dashboard went live in February 2023. Midland Rail Partnership's Passenger Assist app also launched in February 2023. Our Prison Visits Booking Service for the Crown Justice Digital Agency moved into its first full year of managed service.

Our bid win rate rose to 34% from 31%. It is not yet good enough. In FY2023/24 we will invest in a bid academy and a single house style for every bid we write.

===
# Financial review
Alan Pierce, Chief Financial Officer

Revenue rose by 21.3% to £38.2 million (FY2021/22: £31.5 million).

## Revenue by sector
| Sector | FY2022/23 | FY2021/22 | Growth |
| Justice | £16.8m | £14.2m | 18.3% |
| Health | £14.9m | £11.6m | 28.4% |
| Transport | £6.5m | £5.7m | 14.0% |
| Total | £38.2m | £31.5m | 21.3% |

Operating profit was £3.9 million (FY2021/22: £3.0 million), a margin of 10.2%. Profit before tax was £3.7 million. Cash at 31 March 2023 was £7.2 million and we had no borrowings. The contracted order book was £48 million.

===
# Our sectors
## Justice
Justice revenue grew by 18.3% to £16.8 million. Our Kelbridge City Council caseworker app went live in December 2022. It saves each youth justice caseworker about six hours of admin a week.

## Health
Health revenue grew by 28.4% to £14.9 million. We now employ five accredited Clinical Safety Officers.

## Transport
Transport revenue grew by 14.0% to £6.5 million. The Passenger Assist app took its first bookings in February 2023.

# Our people and responsibility
We ended the year with 412 people. Voluntary staff turnover was 14.2%. We had 15 apprentices, and 121 of our people held SC clearance. Our people gave 1,320 hours of volunteering time. Scope 1 and 2 emissions were 233 tonnes of CO2e.
"""


def build_annual_reports() -> None:
    write_pdf(CORPUS / "annual_reports/annual-report-2024.pdf", AR_2024,
              title="Calderbrook Digital Ltd Annual Report 2024",
              footer="Calderbrook Digital Ltd - Annual Report 2024")
    sidecar("annual_reports/annual-report-2024.pdf",
            title="Calderbrook Digital Ltd Annual Report 2024 (year ended 31 March 2024)",
            date="2024-07-15", financial_year="FY2023/24")
    write_pdf(CORPUS / "annual_reports/annual-report-2023.pdf", AR_2023,
              title="Calderbrook Digital Ltd Annual Report 2023",
              footer="Calderbrook Digital Ltd - Annual Report 2023")
    sidecar("annual_reports/annual-report-2023.pdf",
            title="Calderbrook Digital Ltd Annual Report 2023 (year ended 31 March 2023)",
            date="2023-07-12", financial_year="FY2022/23")
    write_yaml(CORPUS / "annual_reports/_meta.yaml", {"doc_type": "annual_report"})


# ===========================================================================
# KNOWLEDGE BASE (kms_fact)
# ===========================================================================

KMS_LEAVE = """
# Leave and time off

Owner: Rachel Doyle, Chief People Officer. Version 4, effective 1 April 2024. Applies to all employees in England, Wales and Scotland.

## Annual leave entitlement

Every full-time employee gets 27 days of annual leave a year, plus the 8 UK bank holidays. Scottish colleagues can swap bank holidays for local public holidays with their line manager's agreement.

Your entitlement grows with service. You get one extra day after every two full years of service, up to a maximum of 30 days. Part-time colleagues get a pro-rata entitlement.

## The leave year

Our leave year runs from 1 April to 31 March, the same as our financial year. Book leave in the HR system, Oakline, and get your line manager's approval before you book travel.

## Carrying leave over

You can carry over up to 5 unused days into the next leave year. You must take carried-over days by 30 June. Any carried-over days not taken by 30 June are lost, unless you could not take them because of sickness or parental leave.

## Buying extra leave

You can buy up to 5 extra days of leave each year through salary sacrifice. The buying window opens in March each year.

## Volunteering days

Every employee gets 2 paid volunteering days a year. Use them for a registered charity, a school or a community group. Record them in Oakline as "Volunteering" so we can report our social value.

## Parental leave

Birth and adoptive parents who are the main carer get 20 weeks on full pay, then statutory pay. Partners get 6 weeks on full pay. You qualify from your first day with us.

## Sickness

Tell your line manager before 10am on the first day you are ill. You need a fit note from a doctor after 7 calendar days of sickness.
"""

KMS_EXPENSES = """
# Travel and expenses policy

Owner: Tom Whitaker, Chief Financial Officer. Version 6, effective 1 April 2024.

## The basic rule

Spend the company's money as if it were the client's, because it usually is. Most of our travel is recharged to public-sector clients, so it must be modest and easy to justify.

## How to claim

Claim every expense in Ledgerline, our expenses app. Submit claims within 60 days of spending the money. We do not pay claims older than 60 days. Attach a receipt for every item over £10.

## Rail travel

Travel standard class. First class is allowed only if it is cheaper than standard class at the time of booking, or if a Managing Director approves it in advance for a journey of more than 3 hours. Book through the company travel portal, Railway Desk, whenever you can.

## Hotels

The nightly cap for hotels is £160 in London and £110 everywhere else in the UK, including breakfast. Book through the travel portal. If you need to go over the cap, get approval from your Managing Director before you book.

## Meals

When you stay away overnight on business, you can claim up to £30 a day for meals. We do not reimburse alcohol.

## Mileage

If you use your own car, claim 45p a mile for the first 10,000 business miles in the tax year and 25p a mile after that. Do not claim your normal commute.

## Gifts and hospitality

Record any gift or hospitality worth more than £50 in the gifts register. Never accept gifts from a public body during a live procurement. Client entertainment needs a Managing Director's approval in advance.
"""

KMS_SECURITY = """
# Information security policy: the essentials

Owner: Neil Ashworth, Head of Information Security. Version 9, effective 15 March 2024. This article summarises the full policy. Every employee and contractor must follow it.

## Reporting an incident

Report any suspected security incident within 1 hour of noticing it. Call the security desk on extension 4400 or email security@calderbrook.co.uk. Lost laptops, lost phones, phishing emails you clicked and data sent to the wrong person are all incidents. You will never be blamed for reporting quickly.

## Devices

All company laptops use full-disk encryption and are managed centrally. USB storage devices are blocked on every laptop. Never put client data on a personal device, even if the client's own systems allow it.

## Accounts and passwords

Multi-factor authentication is switched on for every company account. Use the company password manager. Passwords must be at least 14 characters long.

## Handling client data

Most client data we handle is classified OFFICIAL or OFFICIAL-SENSITIVE. Keep OFFICIAL-SENSITIVE data inside the client's own environment or our UK-hosted secure enclave. Never copy it into public AI tools.

## Training and testing

Everyone must complete the annual security awareness course by 30 September each year. We also send simulated phishing emails every quarter. New starters complete the course in their first week.

## Clear desk and screens

Lock your screen whenever you leave your desk. Leave nothing on your desk overnight in any office.
"""

KMS_CERTS = """
# Certifications and accreditations

Owner: Neil Ashworth, Head of Information Security. Last reviewed 1 July 2024.

Bid teams: quote these facts exactly. Certificates are in the Bid Library folder "Certificates".

## ISO 9001 (quality management)

We have held ISO 9001 since 2014. The scope covers the design, build and support of digital services for the public sector at all five offices.

## ISO/IEC 27001 (information security)

We were first certified to ISO 27001 in 2016. In November 2023 we moved to the new ISO/IEC 27001:2022 standard. Our certificate covers all five offices and our UK-hosted secure enclave. Our certification body is Arden Assurance Ltd.

## Cyber Essentials Plus

We have held Cyber Essentials Plus since 2018. We renew it every year. The last renewal was in February 2024.

## ISO 14001 (environmental management)

We have held ISO 14001 since 2021.

## NHS Data Security and Protection Toolkit

Our 2023-24 Data Security and Protection Toolkit submission was assessed as Standards Met. It was published in June 2024. We must submit a new assessment every year.

## Security clearance

At 31 March 2024, 164 of our staff held Security Check (SC) clearance. Ask the security team before promising a client any cleared person by name.

## Clinical safety

We employ six Clinical Safety Officers accredited to work under the NHS standards DCB0129 and DCB0160.
"""

KMS_SERVICES = """
# What we do: our services

Owner: Daniel Okafor, Chief Operating Officer. Last reviewed 1 May 2024.

We sell six services. Each can be bought on its own, but most clients buy them in sequence, from discovery to live running.

## Discovery and user research

We find out what users need before anyone writes code. A typical discovery takes 8 to 12 weeks and ends with a clear recommendation: build, buy, change a process or stop.

## Service design

We design the whole service, not just the screens. That includes letters, phone scripts and the work of staff behind the scenes.

## Software engineering

We build in the open where clients allow it. Our engineers work in small teams of five to nine people. Our default stack is Python, TypeScript and PostgreSQL on UK-region public cloud.

## Data and AI

We build data platforms, dashboards and analytics. We use AI only where we can explain the result to the person it affects. Every AI feature we ship has a named human owner at the client.

## Cloud and platforms

We migrate services to the cloud and run platforms for them. We are certified partners of the two largest public cloud providers.

## Managed services

We run live services around the clock. Our service desk in Leeds works 24 hours a day, 7 days a week. Our standard availability target is 99.9%.

## What we do not do

We do not resell hardware. We do not build our own commercial software products; we build services that our clients own.
"""

OFFICES = [
    ["office", "address", "opened", "headcount_2024_03_31", "office_lead", "main_sectors"],
    ["Leeds (HQ)", "3 Calder Quay, Leeds LS1 4BR", "2011", "190", "Jo Haworth", "justice; health; central functions"],
    ["Manchester", "Floor 4, 88 Portland Row, Manchester M1 4QX", "2015", "112", "Sam Patel", "health; transport"],
    ["London", "2nd Floor, 17 Farringdon Yard, London EC1M 3JT", "2016", "98", "Fiona Grant", "justice; health"],
    ["Cardiff", "Suite 3, 9 Bute Terrace, Cardiff CF10 2FE", "2019", "52", "Rhys Morgan", "health; justice"],
    ["Glasgow", "6 Merchant Lane, Glasgow G1 1JZ", "2022", "34", "Iona MacLeod", "transport; justice"],
]

RATE_CARD = [
    ["Role", "SFIA level", "Day rate 2024-25 (GBP, ex VAT)", "Day rate 2023-24 (GBP, ex VAT)"],
    ["Apprentice developer", 2, 420, 400],
    ["Software engineer", 3, 650, 625],
    ["Senior software engineer", 4, 820, 790],
    ["Lead software engineer", 5, 900, 870],
    ["Technical architect", 6, 950, 920],
    ["Data engineer", 4, 740, 715],
    ["Data scientist", 5, 790, 760],
    ["User researcher", 4, 690, 665],
    ["Service designer", 4, 720, 695],
    ["Content designer", 3, 610, 590],
    ["Delivery manager", 5, 780, 750],
    ["Product manager", 5, 800, 770],
    ["Clinical Safety Officer", 5, 880, 850],
    ["Engagement director", 7, 1150, 1100],
]

FRAMEWORKS = [
    ["Framework", "Buyer", "Lots held", "Our supplier reference", "Start date", "Expiry date"],
    ["Public Digital Outcomes Framework 6 (PDOF6)", "Crown Procurement Office", "Lot 1 Digital outcomes; Lot 2 Digital specialists",
     "CPO-PDOF6-0418", "2023-02-01", "2025-01-31"],
    ["Cloud Services Marketplace 13", "Crown Procurement Office", "Lot 3 Cloud support", "CPO-CSM13-2291", "2022-11-28", "2024-11-27"],
    ["NHS Digital Delivery Partners 2 (NDDP2)", "NHS Shared Procurement North", "Lot 2 Data and analytics; Lot 4 Clinical systems support",
     "NSPN-NDDP2-077", "2022-09-01", "2026-08-31"],
    ["Justice Technology Partners Framework (JTPF)", "Crown Justice Digital Agency", "Lot 1 Service design and build",
     "CJDA-JTPF-031", "2021-06-01", "2025-05-31"],
    ["Northern Councils Digital Framework (NCDF)", "Northern Councils Procurement Partnership", "Lot 1 Digital services; Lot 3 Data",
     "NCPP-NCDF-112", "2023-04-01", "2027-03-31"],
]


def build_kms() -> None:
    kms = [
        ("kms/leave-and-time-off.md", KMS_LEAVE, "Leave and time off policy", "2024-04-01"),
        ("kms/travel-and-expenses-policy.md", KMS_EXPENSES, "Travel and expenses policy", "2024-04-01"),
        ("kms/information-security-essentials.md", KMS_SECURITY, "Information security policy: the essentials", "2024-03-15"),
        ("kms/certifications-and-accreditations.md", KMS_CERTS, "Certifications and accreditations", "2024-07-01"),
        ("kms/our-services.md", KMS_SERVICES, "What we do: our services", "2024-05-01"),
    ]
    for rel, text, title, date in kms:
        write_text(CORPUS / rel, text)
        sidecar(rel, title=title, date=date)
    path = CORPUS / "kms/offices.csv"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(OFFICES)
    write_text(path, buf.getvalue())
    sidecar("kms/offices.csv", title="Office list with addresses, opening years and headcount", date="2024-04-02")
    write_xlsx(CORPUS / "kms/rate-card-and-frameworks-2024-25.xlsx",
               [("Rate card 2024-25", RATE_CARD), ("Frameworks", FRAMEWORKS)],
               title="Rate card 2024-25 and framework list")
    sidecar("kms/rate-card-and-frameworks-2024-25.xlsx",
            title="Standard day rate card 2024-25 and public-sector framework list", date="2024-04-01")
    write_yaml(CORPUS / "kms/_meta.yaml", {"doc_type": "kms_fact"})


# ===========================================================================
# INTERNAL COMMUNICATIONS
# ===========================================================================

COMMS_CFO = """
From: Priya Raman <priya.raman@calderbrook.co.uk>
To: All staff <everyone@calderbrook.co.uk>
Date: Monday 21 August 2023, 08:30
Subject: Welcome Tom Whitaker, our new CFO, and thank you Alan

Hello everyone,

As you know, Alan Pierce retires as our Chief Financial Officer on Thursday 31 August 2023. Alan joined us in 2014, when we had 60 people and one office. He leaves a finance team of fourteen and a business with five offices.

I am delighted to confirm that Tom Whitaker will join us as Chief Financial Officer on Friday 1 September 2023. Tom was Finance Director at Wharfedale Engineering plc for six years. Before that he spent eight years at a large accountancy firm, mostly auditing public-sector bodies.

Tom will be based in our Leeds office. He will spend his first month visiting every office. Please say hello.

Alan's leaving drinks are at 5pm on Thursday 31 August in the Leeds office. Colleagues in other offices can join on the video link.

Thank you, Alan, for nine brilliant years.

Priya

Priya Raman
Chief Executive Officer, Calderbrook Digital Ltd
"""

COMMS_HYBRID = """
# Memo: changes to hybrid working from 1 May 2024

From: Daniel Okafor, Chief Operating Officer
To: All staff
Date: 10 April 2024

## What is changing

From 1 May 2024, we ask everyone to spend at least 2 days a week in one of our offices or at a client site. Until now we have had no minimum.

## Why we are changing it

Our people survey in January 2024 told us two things. New starters feel they learn too slowly when they work from home every day. Teams that meet in person at least twice a week also delivered their sprint goals more often. We want the best of both.

## What stays the same

You choose which days, with your team. Client site days count. If you have an agreed adjustment for health or caring reasons, it still applies. Talk to your line manager and the people team if you are unsure.

## New desk booking

Book a desk in Perch, our new desk booking app, from 22 April 2024. Leeds gets a second floor at 3 Calder Quay from 1 May 2024, adding 80 desks.

## Questions

Ask in the all-staff briefing on 17 April 2024 at 12:30, or email the people team at people@calderbrook.co.uk.

Daniel Okafor
Chief Operating Officer
"""

COMMS_SECURITY = """
From: Neil Ashworth <neil.ashworth@calderbrook.co.uk>
To: All staff <everyone@calderbrook.co.uk>
Date: Monday 2 September 2024, 09:15
Subject: Four weeks left: complete your annual security training by 30 September

Hello all,

A quick reminder. Everyone must complete the annual security awareness course by Monday 30 September 2024. It takes about 45 minutes and it is in the Learning Hub.

Today, 61% of you have completed it. Thank you. If you have not, please book the time now.

What happens if you miss the deadline? Your laptop access will be limited to email and the Learning Hub from 1 October 2024 until you finish the course. We do this because our ISO 27001 certificate and our client contracts require it.

Some good news. In our last quarterly phishing test, in July 2024, 7.9% of people clicked the link. That is down from 12.4% in the same test a year ago. The people who reported the email to the security desk within the hour rose to 64%.

Remember: if you think you have clicked something you should not have, report it within 1 hour. Call extension 4400 or email security@calderbrook.co.uk. You will never be blamed for reporting.

Thanks,
Neil

Neil Ashworth
Head of Information Security
"""

COMMS_KESTREL = """
# CONFIDENTIAL - LEADERSHIP TEAM ONLY
# Project Kestrel: proposed acquisition of Orrin Analytics Ltd

From: Priya Raman, Chief Executive Officer
To: Leadership team (executive directors and managing directors)
Date: 17 June 2024
Classification: Confidential. Do not forward. Do not discuss outside the leadership team.

## The proposal

The board has approved us to negotiate the acquisition of Orrin Analytics Ltd under the code name Project Kestrel. Orrin is a health data company in Bristol with 45 staff. It builds population health models for integrated care boards.

## Why Orrin

Orrin fits our first priority for FY2024/25: deepening our health data work. Orrin's models would strengthen our Population Health Analytics work for Northvale Integrated Care Board. Orrin would also give us a base in the south-west of England.

## Price and terms

The proposed price is £6.5 million. We would pay £5.0 million in cash at completion, from our own cash and our revolving credit facility. A further £1.5 million would be an earn-out paid over two years, if Orrin meets agreed revenue targets.

## Timetable

- Due diligence: July to September 2024, led by Tom Whitaker.
- Target signing: November 2024.
- Target completion: 31 December 2024.

## What we need from you

Do not mention Orrin or Kestrel to anyone outside this group, including your teams. Direct any approach from Orrin staff or the press to me. Dr Aisha Bello will lead the integration plan for the health team.

Priya Raman
"""

COMMS_PAY = """
CONFIDENTIAL - FINANCE AND PEOPLE TEAMS ONLY

From: Tom Whitaker, Chief Financial Officer
To: Finance team; Rachel Doyle, Chief People Officer
Date: 29 July 2024
Subject: 2024 pay review - budget and timetable

Team,

The board approved the 2024 pay review budget on 25 July 2024. Please build it into the FY2024/25 forecast this week.

1. Pay review budget: 4.5% of the salary bill. Our salary bill at 1 July 2024 is £28.4 million, so the budget is £1.28 million a year.

2. Effective date: increases take effect from 1 October 2024 and are paid in the October payroll.

3. Minimum salary: our lowest salary for permanent staff rises to £26,000 from 1 October 2024. Apprentices move to at least £22,000.

4. Bonus pool: the FY2023/24 bonus pool is £1.1 million, paid in the September 2024 payroll.

5. Timetable: managers receive their budgets on 2 September 2024. Recommendations are due by 20 September 2024. Staff hear their outcome by 27 September 2024.

Do not share these numbers outside the finance and people teams until Rachel's all-staff note on 30 September 2024.

Tom
"""


def build_internal_comms() -> None:
    items = [
        ("internal_comms/2023-08-21-email-new-cfo.txt", COMMS_CFO,
         "Email: Welcome Tom Whitaker, new CFO, and farewell to Alan Pierce", "2023-08-21", None),
        ("internal_comms/2024-04-10-memo-hybrid-working.md", COMMS_HYBRID,
         "Memo: changes to hybrid working from 1 May 2024", "2024-04-10", None),
        ("internal_comms/2024-09-02-email-security-training.txt", COMMS_SECURITY,
         "Email: complete your annual security training by 30 September 2024", "2024-09-02", None),
        ("internal_comms/2024-06-17-memo-project-kestrel-confidential.md", COMMS_KESTREL,
         "Confidential memo: Project Kestrel, proposed acquisition of Orrin Analytics Ltd", "2024-06-17", ["leadership"]),
        ("internal_comms/2024-07-29-email-pay-review-2024-confidential.txt", COMMS_PAY,
         "Confidential email: 2024 pay review budget and timetable", "2024-07-29", ["finance"]),
    ]
    for rel, text, title, date, groups in items:
        write_text(CORPUS / rel, text)
        sidecar(rel, title=title, date=date, groups=groups)
    write_yaml(CORPUS / "internal_comms/_meta.yaml", {"doc_type": "internal_comms"})


# ===========================================================================
# TONE OF VOICE GUIDE
# ===========================================================================

TONE_GUIDE = """
# The Calderbrook voice: our tone of voice guide

Owner: Ellie Fraser, Head of Brand and Communications. Version 2.1, 15 January 2024. Use this guide for everything we write: bids, web pages, case studies, posts and letters.

## Who we sound like

We sound like a capable colleague who respects your time. We are plain, warm and specific. We never sound like a brochure.

Our tagline is "Clear work for public good." Use it on covers and sign-offs, not in the middle of an answer.

## Six rules

1. Write in British English. Organise, not organize. Programme, not program (unless it is software).
2. Use the active voice and say "we". Write "We cut booking time", not "Booking time was reduced".
3. Keep sentences short. Aim for 15 words on average. Never go past 25 words.
4. Use numbers as numerals, with a date and a source: "92% of visits were booked online by March 2022".
5. Name the people. Write "probation practitioners" or "ward nurses", never "stakeholders" or "end users".
6. Say what the thing is. Write "a booking service" or "a data platform", never "a solution".

## Promise - Proof - Payoff

Every answer, paragraph group or page follows our signature structure: Promise - Proof - Payoff.

- Promise: one sentence that says what we will do for the reader.
- Proof: evidence that we have done it before. Proof must include a named client, a number and a date.
- Payoff: what changes for the reader and the people they serve.

In bids, label the three parts "Promise:", "Proof:" and "Payoff:" so evaluators can find them quickly. Finish a long answer with a one-line summary that starts "In short:".

## Banned words

These words make us sound like everyone else. Do not use them: leverage, synergy, best-in-class, world-class, cutting-edge, seamless, holistic, robust, end-to-end, paradigm, going forward, utilise, empower, innovative, solution, stakeholder.

If you catch yourself writing one, ask what you actually mean, and write that instead. "A robust solution" usually means "a service that stays up". Say so, and give the availability figure.

## Signature phrases

Use these phrases, sparingly:

- "Clear work for public good." Our tagline.
- "Plain words, proven results." Our promise about how we write and what we deliver.
- "We will show you, not tell you." Use it to introduce a demonstration, a case study or a pilot.

## Before and after

Before: "Leveraging our best-in-class methodologies, we will deliver a holistic, end-to-end solution that empowers stakeholders going forward."

After: "We will build the booking service in 16 weeks. We did the same for the Crown Justice Digital Agency in 2021. Visitors now book in 3 minutes, not 14."

## Formatting

Use sentence case for headings. Use bullet points for lists of three or more. Write dates as 1 April 2024. Write money as £2.4 million in prose and £2.4m in tables.

## Why it matters

Evaluators read hundreds of answers. Clear, specific answers score higher. Our won bids follow this guide closely. Our lost bids, more often than not, did not.
"""


def build_tone() -> None:
    write_text(CORPUS / "tone/tone-of-voice-guide.md", TONE_GUIDE)
    sidecar("tone/tone-of-voice-guide.md", title="The Calderbrook voice: tone of voice guide (v2.1)", date="2024-01-15")
    write_yaml(CORPUS / "tone/_meta.yaml", {"doc_type": "tone_guide"})


# ===========================================================================
# MARKETING
# ===========================================================================

WEB_ABOUT = """
<header>
<h1>About Calderbrook</h1>
<p>Clear work for public good.</p>
</header>
<main>
<h2>Who we are</h2>
<p>We are Calderbrook Digital. We design, build and run digital services for the UK public sector. Priya Raman and Daniel Okafor founded us in Leeds in 2011. Today we are 486 people in five offices: Leeds, Manchester, London, Cardiff and Glasgow.</p>
<h2>What we promise</h2>
<p>We promise services that work for the people who use them. Prisoners' families. Patients. Rail passengers who need a hand. Plain words, proven results.</p>
<h2>The proof</h2>
<ul>
<li>Prison visits: families book a visit in 3 minutes, not 14. We built the Prison Visits Booking Service for the Crown Justice Digital Agency in 2021 and 2022.</li>
<li>Hospital discharge: our dashboard helped Aldermoor NHS Foundation Trust cut delayed discharge days by 18% in six months in 2023.</li>
<li>Rail: disabled passengers have booked more than 150,000 assistance journeys through the Passenger Assist app we built for Midland Rail Partnership.</li>
</ul>
<h2>What you get</h2>
<p>A team that tells you the truth early. Services you own. Results you can count. In the year to 31 March 2024 our revenue grew 22.3% to £46.7 million, because clients came back and told others.</p>
<h2>How we keep your data safe</h2>
<p>We are certified to ISO/IEC 27001:2022 and Cyber Essentials Plus. 164 of our people hold Security Check clearance.</p>
<h2>Work with us</h2>
<p>Talk to us about justice, health or transport. Email hello@calderbrook.co.uk or call our Leeds office on 0113 496 0270.</p>
</main>
<footer><p>Calderbrook Digital Ltd, 3 Calder Quay, Leeds LS1 4BR. Registered in England and Wales.</p></footer>
"""

BLOG_PROBATION = """
<article>
<header>
<h1>What 126 probation practitioners taught us about paperwork</h1>
<p>By Sophie Marsh, Managing Director, Justice. Published 18 April 2024.</p>
</header>
<p>Probation practitioners want to spend time with people on probation. Too often they spend it with forms.</p>
<h2>What we did</h2>
<p>Since July 2023 we have been running discovery and alpha for the Crown Justice Digital Agency's Probation Case Management Modernisation programme. Our researchers have run 126 research sessions with probation practitioners in nine regions. We sat beside them in offices, in courts and in approved premises.</p>
<h2>What we found</h2>
<p>Practitioners told us they type the same facts into as many as five different systems. Some spend up to a third of their week re-keying information. One practitioner in the North East kept a paper notebook of reference numbers because no system showed them all in one place.</p>
<p>Risk information was the hardest to find. It was often buried in free-text notes written months earlier.</p>
<h2>What we are testing now</h2>
<p>In alpha we are testing a single case summary page. It shows a person's risk, their appointments and their conditions in one place. In early tests, practitioners found the information they needed in under a minute. Before, it took them up to eight minutes.</p>
<h2>Why it matters</h2>
<p>Every hour a practitioner saves on paperwork is an hour they can spend supervising people and protecting the public. We will show you, not tell you: the alpha ends in June 2024 and we will share what we learn.</p>
</article>
"""

LINKEDIN_RESULTS = """
<article>
<header>
<h1>LinkedIn post: Our 2024 results</h1>
<p>Posted by Priya Raman, Chief Executive Officer, Calderbrook Digital. 16 July 2024.</p>
</header>
<p>Our Annual Report 2024 is out today. Three numbers I am proud of:</p>
<ul>
<li>£46.7 million revenue, up 22.3%.</li>
<li>41% of our bids won, up from 34%.</li>
<li>1,850 hours of volunteering by our people.</li>
</ul>
<p>The win rate is the one that surprised people. We did not hire an army of bid writers. We wrote plainly. Every answer made a promise, proved it with a named client, a number and a date, and said what would change for the reader. Promise - Proof - Payoff.</p>
<p>Thank you to the 486 people who make Calderbrook what it is, and to the public bodies who trust us with services that matter.</p>
<p>We are hiring in Glasgow, where we want to reach 60 people by March 2026.</p>
<p>#PublicSector #DigitalServices #Justice #Health</p>
</article>
"""


def build_marketing() -> None:
    items = [
        ("marketing/about-calderbrook.html", "About Calderbrook | Calderbrook Digital", WEB_ABOUT,
         "Web page: About Calderbrook", "2024-07-20", None),
        ("marketing/blog-probation-practitioners-paperwork.html",
         "What 126 probation practitioners taught us about paperwork | Calderbrook Digital", BLOG_PROBATION,
         "Blog: What 126 probation practitioners taught us about paperwork", "2024-04-18", "justice"),
        ("marketing/linkedin-post-2024-results.html", "LinkedIn post: Our 2024 results | Calderbrook Digital",
         LINKEDIN_RESULTS, "LinkedIn post: Our 2024 results", "2024-07-16", None),
    ]
    for rel, page_title, body, title, date, sector in items:
        write_text(CORPUS / rel, md_html(page_title, body, description=title))
        sidecar(rel, title=title, date=date, sector=sector)
    write_yaml(CORPUS / "marketing/_meta.yaml", {"doc_type": "marketing"})


# ===========================================================================
# TRAINING
# ===========================================================================

HANDBOOK = """
# Bid Writing Handbook
Version 3.0. Published 1 February 2024. Owner: Callum Reid, Head of Bids.

## 1. Why this handbook exists

Bids pay our salaries. In FY2022/23 we won only 34% of the bids we submitted. Evaluator feedback said the same thing again and again: our answers were generic and light on evidence. This third edition of the handbook sets out one way of writing bids for the whole company.

Everyone who writes or reviews a bid must complete the bid academy course first. By January 2024 we had trained 60 people through the bid academy.

## 2. The bid lifecycle

Every bid follows the same six stages. The bid manager owns the timetable.

| Stage | When | Who | Output |
| Go/no-go | Within 2 working days of the ITT arriving | Head of Bids and the sector Managing Director | Decision recorded in the bid log |
| Kick-off | Day 3 | Bid manager | Question plan and evidence list |
| Pink team review | When 50% of the time has gone | Two reviewers from outside the bid team | Comments on structure and evidence |
| Red team review | When 75% of the time has gone | Sector Managing Director and one mock evaluator | Scores against the ITT criteria |
| Gold team sign-off | 2 working days before the deadline | CEO or COO | Approval to submit |
| Submission | At least 24 hours before the deadline | Bid manager | Portal confirmation receipt |

## 3. Go or no-go

We bid only when we can win and deliver. Use the go/no-go scorecard in the Bid Library. It has ten criteria, each scored 0, 1 or 2.

- Bid only if the scorecard total is at least 14 out of 20.
- Bid only if we have at least two relevant case studies with figures we can quote.
- Bid only if the contract is worth at least £250,000, unless the sector Managing Director agrees a strategic exception.
- Bid only if we can name the delivery lead on the day of kick-off.

## 4. How to write an answer

Start every answer with the question, copied word for word as a heading, including its number. Evaluators mark against the question. Make it easy for them.

Then use Promise - Proof - Payoff, as set out in the Calderbrook tone of voice guide. Label each part in the answer.

- Promise: one sentence on what we will do.
- Proof: a named client, a number and a date. One strong example beats three weak ones.
- Payoff: what changes for the buyer and the public they serve.

Close each long answer with a one-line summary starting "In short:". Keep sentences under 25 words. Never use the banned words in the tone guide, such as leverage, holistic or end-to-end.

## 5. Evidence rules

Only quote figures that appear in an approved case study, the annual report or the Bid Library fact sheets. Ask the client's permission before naming them in a bid for another buyer. Never round up: if the figure is 18%, write 18%, not "about 20%".

## 6. Pricing

Price from the current rate card. Any discount of more than 10% off the rate card needs approval from the Chief Financial Officer. Fixed-price offers need a risk review by the finance team before Red team.

## 7. What our losses taught us

Evaluator feedback on our Lot 2 bid for the Crown Justice Digital Agency in May 2023 said our answers "could have been written by any supplier". The same bid team won Lot 1 of that tender with specific, evidenced answers.

Our first bid for the Northshire County Council Youth Justice Data Platform, in July 2023, lost on evidence and on price clarity. When the council re-ran the tender in early 2024 we rewrote every answer using this handbook, showed a fixed price, and won.

Our Lot A bid for Aldermoor NHS Foundation Trust, in October 2023, was drafted in a hurry by a team that had not done the bid academy. It lost. Our Lot B bid, written to this handbook, won.

## 8. Keeping bid material secure

Bid documents are commercially sensitive. Store them only in the Bid Library. Never email pricing outside the company. Delete local copies when the bid is submitted.
"""

SECURITY_SLIDES = [
    {"title": "Security awareness 2024",
     "subtitle": "Annual course for all staff. Complete by 30 September 2024.\nNeil Ashworth, Head of Information Security",
     "notes": "Welcome. This deck supports the annual security awareness course. Everyone at Calderbrook must complete the course by 30 September 2024. New starters complete it in their first week."},
    {"title": "Why this matters",
     "bullets": ["Clients trust us with data about prisoners, patients and passengers",
                 "Our ISO/IEC 27001:2022 certificate depends on this training",
                 "One careless click can put a whole contract at risk"],
     "notes": "Most of the data we handle is OFFICIAL or OFFICIAL-SENSITIVE. Our client contracts require every member of staff to be trained every year. If you miss the deadline, your laptop access is limited to email and the Learning Hub until you finish."},
    {"title": "Report within 1 hour",
     "bullets": ["Call the security desk on extension 4400",
                 "Or email security@calderbrook.co.uk",
                 "Lost device, wrong recipient, suspicious click: all incidents",
                 "You will never be blamed for reporting"],
     "notes": "Speed matters more than certainty. If in doubt, report it. Some clients require us to tell them about an incident within 24 hours, so the security desk needs to know within 1 hour."},
    {"title": "Spot a phishing email",
     "bullets": ["Unexpected urgency or a request for payment",
                 "A sender address that does not match the name",
                 "Links to log-in pages you did not ask for",
                 "Use the Report Phish button in Outlook"],
     "notes": "We run a simulated phishing test every quarter. In July 2024, 7.9% of people clicked the link, down from 12.4% a year earlier. Our goal is below 5% by July 2025."},
    {"title": "Handling OFFICIAL-SENSITIVE data",
     "bullets": ["Keep it in the client's environment or our UK secure enclave",
                 "Never on personal devices, never on USB sticks",
                 "Never paste it into public AI tools",
                 "Use Beacon, our approved internal assistant, for work content"],
     "notes": "USB storage is blocked on every company laptop. Beacon runs in our UK-hosted secure enclave and does not send data to public AI services. Even in Beacon, do not paste special category data such as health records unless the client has agreed."},
    {"title": "Devices and passwords",
     "bullets": ["Lock your screen every time you leave your desk",
                 "Passwords of at least 14 characters, stored in the password manager",
                 "Multi-factor authentication on every account",
                 "Clear your desk every night"],
     "notes": "All laptops are encrypted and centrally managed. Never share a password or an MFA code, even with the service desk. The service desk will never ask for them."},
    {"title": "Check your understanding",
     "bullets": ["Complete the 10-question quiz in the Learning Hub",
                 "Pass mark: 8 out of 10",
                 "Questions? security@calderbrook.co.uk"],
     "notes": "You can retake the quiz as many times as you need. Your completion is recorded automatically in the Learning Hub."},
]


def build_training() -> None:
    write_docx(CORPUS / "training/bid-writing-handbook.docx", HANDBOOK, title="Bid Writing Handbook v3.0")
    sidecar("training/bid-writing-handbook.docx", title="Bid Writing Handbook (version 3.0)", date="2024-02-01")
    write_pptx(CORPUS / "training/security-awareness-2024.pptx", SECURITY_SLIDES, title="Security awareness 2024")
    sidecar("training/security-awareness-2024.pptx", title="Security awareness 2024: annual staff course slides",
            date="2024-09-01")
    write_yaml(CORPUS / "training/_meta.yaml", {"doc_type": "training"})


# ===========================================================================
# CASE STUDIES
# ===========================================================================

CS_PRISON = """
# Case study: Prison Visits Booking Service
Client: Crown Justice Digital Agency. Sector: justice. Dates: January 2021 to March 2022.

## The challenge

Families booked prison visits by phone. Lines were busy, calls were long and many families gave up. In 2020 the average booking took 14 minutes, and only 35% of visits were booked online through an old web form.

## Promise

We promised the Crown Justice Digital Agency a booking service that any family member could use on a phone, in minutes, without calling anyone.

## What we did

We started discovery in January 2021 with a team of 14 people. We interviewed 84 family members and 40 prison visits staff. We learned that many families share one phone and have little mobile data, so we kept pages light and plain.

We launched a private beta in 12 prisons in June 2021. We rolled the service out to all 118 prisons by December 2021. We worked with visits staff in every prison so the new service fitted their day.

## Proof: the results

- The average time to book a visit fell from 14 minutes to 3 minutes.
- By March 2022, 92% of visits were booked online, up from 35%.
- The agency saves £1.1 million a year in call handling costs.
- Users rate the service 4.6 out of 5.

## Payoff

Families spend less time on hold and more time planning their visit. Prison staff spend less time on the phone and more time running visits safely. Regular family contact helps people in prison to stay connected with home.

We will show you, not tell you: the service is live, and we still run it for the agency today.
"""

CS_ALDERMOOR = """
# Case study: Discharge Flow Dashboard
Client: Aldermoor NHS Foundation Trust. Sector: health. Dates: October 2022 to August 2023.

## The challenge

Patients who were well enough to go home were staying in hospital for days. Ward staff could not see, in one place, which patients were waiting for a care package, transport or medicines. Bed managers phoned each ward three times a day to build a picture.

## Promise

We promised Aldermoor a single live view of every patient who was ready to leave hospital, and of what was holding them up.

## What we did

We started in October 2022. We spent three weeks on the wards with nurses, discharge coordinators and bed managers. Then we built the first version in 14 weeks. The dashboard draws data from the trust's patient administration system and its electronic patient record. It refreshes every 15 minutes.

Our Clinical Safety Officer completed a DCB0129 clinical safety case before go-live. The dashboard went live on all 22 adult inpatient wards in February 2023.

## Proof: the results

We measured results over the first six months, from February to August 2023.

| Measure | Before | After six months |
| Delayed discharge days per month | 1,150 | 943 |
| Bed days freed (six months in total) | - | 1,240 |
| Staff using the dashboard daily | 0 | 310 |
| Phone rounds by bed managers per day | 3 | 0 |

Delayed discharge days fell by 18% in the first six months. The trust freed 1,240 bed days over the same period. 310 staff across 22 wards now use the dashboard every day.

"The dashboard changed our morning huddle. We now spend the time fixing delays, not finding them." Dr Nadia Hussain, Deputy Chief Operating Officer, Aldermoor NHS Foundation Trust.

## Payoff

Patients go home sooner. Beds are free for the next patient from the emergency department. Staff spend their time on care, not phone calls.
"""

CS_KELBRIDGE = """
# Case study: Youth justice caseworker app

Client: Kelbridge City Council Youth Justice Service. Sector: justice. Dates: May 2022 to February 2023.

## The challenge

Kelbridge's 48 youth justice caseworkers visit children and families at home, at school and in court. They wrote notes on paper and typed them up later at the office. Notes were late, and managers could not see risks quickly.

## Promise

We promised the council an app that lets caseworkers record a visit on the spot, even with no mobile signal.

## What we did

We started in May 2022. We shadowed 15 caseworkers on 60 visits. We built a mobile app that works offline and syncs when it finds a signal. It writes straight into the council's youth justice case management system. The app went live in December 2022.

We completed a data protection impact assessment with the council's data protection team before any child's data moved.

## Proof: the results

We measured the results in February 2023, three months after launch.

- Each caseworker saves about 6 hours of admin a week.
- 95% of visit notes are now recorded on the same day, up from 60%.
- Managers see new risk flags within an hour, instead of days later.

## Payoff

Caseworkers spend the time they save with children, not with paperwork. Managers act on risk sooner. Plain words, proven results.
"""

CS_MIDLAND = """
# Case study: Passenger Assist app

Client: Midland Rail Partnership. Sector: transport. Dates: April 2022 to August 2023.

## The challenge

Disabled and older passengers booked assistance by phone, at least a day ahead. Bookings were sometimes lost between stations, and staff did not always meet passengers from trains.

## Promise

We promised Midland Rail Partnership an app that lets any passenger book assistance in under 2 minutes and tells station staff exactly who to meet, and where.

## What we did

We started in April 2022. We tested every design with disabled passengers, including wheelchair users, blind and partially sighted people and people with learning disabilities. The app meets WCAG 2.1 AA. Station staff use a companion app on handheld devices. The app launched in February 2023.

## Proof: the results

We measured the results in the first six months after launch, from February to August 2023.

- Passengers booked 41,000 assistance journeys through the app.
- The median time to make a booking was 1 minute 48 seconds.
- Missed assistance, where staff do not meet a booked passenger, fell by 27%.

## Payoff

Passengers travel with more confidence. Station staff know who is coming and when. Fewer people are left waiting on a train.
"""


def build_case_studies() -> None:
    write_pdf(CORPUS / "case_studies/cs-prison-visits-booking.pdf", CS_PRISON,
              title="Case study: Prison Visits Booking Service", footer="Calderbrook Digital Ltd - Case study")
    sidecar("case_studies/cs-prison-visits-booking.pdf", title="Case study: Prison Visits Booking Service (Crown Justice Digital Agency)",
            date="2022-06-01", sector="justice", client="Crown Justice Digital Agency")
    write_docx(CORPUS / "case_studies/cs-aldermoor-discharge-dashboard.docx", CS_ALDERMOOR,
               title="Case study: Discharge Flow Dashboard")
    sidecar("case_studies/cs-aldermoor-discharge-dashboard.docx",
            title="Case study: Discharge Flow Dashboard (Aldermoor NHS Foundation Trust)",
            date="2023-09-01", sector="health", client="Aldermoor NHS Foundation Trust")
    write_text(CORPUS / "case_studies/cs-kelbridge-youth-justice-app.md", CS_KELBRIDGE)
    sidecar("case_studies/cs-kelbridge-youth-justice-app.md",
            title="Case study: Youth justice caseworker app (Kelbridge City Council)",
            date="2023-03-01", sector="justice", client="Kelbridge City Council")
    write_text(CORPUS / "case_studies/cs-midland-rail-passenger-assist.md", CS_MIDLAND)
    sidecar("case_studies/cs-midland-rail-passenger-assist.md",
            title="Case study: Passenger Assist app (Midland Rail Partnership)",
            date="2023-10-02", sector="transport", client="Midland Rail Partnership")
    write_yaml(CORPUS / "case_studies/_meta.yaml", {"doc_type": "case_study"})


# ===========================================================================
# INVITATIONS TO TENDER
# ===========================================================================

ITT_Q = {
    "ITT-CJDA-2023-014": [
        "Q1. Describe your understanding of the needs of probation practitioners and how you will research them.",
        "Q2. Describe how you will deliver the service in line with the Government Service Standard.",
        "Q3. Describe your approach to data security and to handling sensitive offender data.",
        "Q4. Describe the team you will provide, including roles, security clearance and continuity of staff.",
        "Q5. Describe how you will deliver social value through this contract.",
    ],
    "ITT-NSC-2023-031": [
        "Q1. Describe how you will bring together data from the youth justice case management system, education and children's social care.",
        "Q2. How will you protect the privacy of the children and young people whose data the platform will hold?",
        "Q3. Describe your experience of delivering data platforms for public-sector organisations, with evidence.",
        "Q4. How will you hand over the platform so that the Council's own staff can run it?",
        "Q5. Set out your pricing approach and how you will keep within the contract value.",
    ],
    "ITT-NVICB-2024-007": [
        "Q1. Describe your understanding of the Northvale health and care system and the people it serves.",
        "Q2. Describe your technical approach for this lot, including the interoperability standards you will use.",
        "Q3. How will you assure clinical safety in line with DCB0129 and DCB0160?",
        "Q4. Describe your approach to data protection and information governance.",
        "Q5. How will you measure and report the benefits delivered by this lot?",
    ],
    "ITT-AMT-2023-022": [
        "Q1. Describe your experience of working with NHS trusts on clinical systems, with examples.",
        "Q2. Describe your delivery approach and timeline for this lot.",
        "Q3. How will you work with clinical staff without disrupting patient care?",
        "Q4. Describe the main risks you foresee and how you will manage them.",
    ],
}


def _questions_block(ref: str, limits: list[int], weights: list[int]) -> str:
    lines = []
    for q, lim, w in zip(ITT_Q[ref], limits, weights, strict=True):
        lines.append(f"### {q}")
        lines.append("")
        lines.append(f"Maximum {lim} words. Weighting: {w}% of the quality score.")
        lines.append("")
    return "\n".join(lines)


ITT_CJDA = """
# Invitation to Tender: Probation Case Management Modernisation
ITT reference: ITT-CJDA-2023-014

Issuing body: Crown Justice Digital Agency, Commercial Directorate.

Date of issue: 3 April 2023. Deadline for tenders: 12:00 on 19 May 2023.

Route to market: call-off under the Justice Technology Partners Framework (JTPF), Lot 1 Service design and build.

## 1. Background

The Crown Justice Digital Agency supports around 11,000 probation practitioners in 12 probation regions. Practitioners use several ageing case management systems. They re-enter the same information many times, and risk information is hard to find. The Agency wants to replace these systems with one modern case management service, designed with practitioners.

## 2. Lots and contract values

The contract is divided into two lots. Bidders may bid for one or both lots. A separate response is required for each lot, and each lot is evaluated separately.

| Lot | Scope | Maximum value (ex VAT) | Term |
| Lot 1 | Discovery and Alpha | £2.4m | 12 months |
| Lot 2 | Beta and Live Service | £7.8m | 30 months |

Lot 1 is expected to start in July 2023. Lot 2 will run in parallel at first, building and running the live platform foundations, and will then take the designs from Lot 1 into private and public beta.

## 3. Evaluation

Quality: 70%. Price: 30%. Each quality answer is scored from 0 to 5 by three evaluators. A score of 0 or 1 on any question may lead to exclusion.

## 4. Questions

Bidders must answer all the questions below for each lot. Repeat each question, with its number, as the heading of your answer.

{questions}

## 5. Security requirements

All supplier staff with access to offender data must hold Security Check (SC) clearance before they start. Data must be held in the UK. The supplier must hold ISO 27001 and Cyber Essentials Plus certification.

## 6. Timetable

- Clarification questions close: 5 May 2023.
- Tender deadline: 12:00 on 19 May 2023.
- Presentations (shortlisted bidders): 6 June 2023.
- Award notice: June 2023.

Contact: commercial.probation@cjda.example.gov.uk. All clarifications will be shared with all bidders.
""".replace("{questions}", _questions_block("ITT-CJDA-2023-014", [750, 750, 750, 500, 500], [25, 25, 20, 15, 15]))

ITT_NSC = """
# Invitation to Tender: Youth Justice Data Platform
ITT reference: ITT-NSC-2023-031

Issuing body: Northshire County Council, Children's Services and Procurement.

Date of issue: 19 January 2024 (re-issue). Deadline for tenders: 12:00 on 23 February 2024.

Route to market: call-off under the Northern Councils Digital Framework (NCDF), Lot 3 Data.

## Re-issue notice

The Council first issued this ITT on 2 June 2023, with a deadline of 14 July 2023. The contract awarded in September 2023 ended by mutual agreement in December 2023. The Council is now re-issuing the ITT under the same reference, with the same questions and the same contract value. Bidders who bid in 2023 may bid again and must submit a complete new response.

## 1. Background

Northshire Youth Justice Service works with around 900 children and young people a year. Information about each child is spread across the youth justice case management system, school and education records, and children's social care records. Caseworkers spend hours gathering it. Managers cannot easily see patterns across the county.

The Council wants a secure data platform that brings this information together, gives caseworkers one view of each child, and gives managers reliable reporting.

## 2. Contract value and term

The total contract value is £1.9m excluding VAT over 3 years. This covers building the platform, running it, and handing it over to the Council's own staff before the contract ends.

## 3. Evaluation

Quality: 60%. Price: 40%. Quality answers are scored from 0 to 5.

## 4. Questions

Repeat each question, with its number, as the heading of your answer.

{questions}

## 5. Requirements

The platform must be hosted in the UK. The supplier must complete a data protection impact assessment (DPIA) with the Council before any personal data is processed. Children's data must be handled in line with the UK GDPR and the Age Appropriate Design Code where it applies.

Contact: procurement@northshire.example.gov.uk.
""".replace("{questions}", _questions_block("ITT-NSC-2023-031", [600, 600, 600, 500, 400], [25, 25, 20, 15, 15]))

ITT_NVICB = """
# Invitation to Tender: Northvale Digital Care Programme
ITT reference: ITT-NVICB-2024-007

Issuing body: NHS Northvale Integrated Care Board.

Date of issue: 11 March 2024. Deadline for tenders: 12:00 on 26 April 2024.

## 1. Background

The Northvale integrated care system serves 1.4 million people. It includes two acute hospital trusts, one community and mental health trust, 142 GP practices and three local authorities. Life expectancy in the most deprived parts of Northvale is 9 years lower than in the least deprived.

Clinicians cannot see a complete record when they treat a patient. Residents cannot easily see their own information. Planners lack timely data on the health of the population.

## 2. Lots and contract values

| Lot | Scope | Maximum value (ex VAT) | Term |
| Lot 1 | Shared Care Record Integration | £3.6m | 3 years |
| Lot 2 | Patient Portal | £2.2m | 3 years |
| Lot 3 | Population Health Analytics | £1.5m | 2 years |

Bidders may bid for any or all lots. Each lot needs a separate response and is evaluated separately. Contracts are expected to start in September 2024.

## 3. Evaluation

Quality: 60%. Price: 30%. Social value: 10%. Quality answers are scored from 0 to 5.

## 4. Questions

Answer every question for each lot you bid for. Repeat each question, with its number, as the heading of your answer.

{questions}

## 5. Requirements

Suppliers must have a Data Security and Protection Toolkit assessment of Standards Met or better. Suppliers must name a Clinical Safety Officer. All data must be processed in the UK.

## 6. Timetable

- Clarification questions close: 12 April 2024.
- Tender deadline: 12:00 on 26 April 2024.
- Award notice: June 2024.

Contact: digital.procurement@northvale-icb.example.nhs.uk.
""".replace("{questions}", _questions_block("ITT-NVICB-2024-007", [500, 750, 500, 500, 500], [15, 30, 20, 20, 15]))

ITT_AMT = """
# Invitation to Tender: EPR Optimisation and Clinical Data Warehouse
ITT reference: ITT-AMT-2023-022

Issuing body: Aldermoor NHS Foundation Trust, Digital Services and Procurement.

Date of issue: 25 August 2023. Deadline for tenders: 12:00 on 6 October 2023.

Route to market: call-off under the NHS Digital Delivery Partners 2 framework (NDDP2).

## 1. Background

Aldermoor NHS Foundation Trust runs two hospitals with 780 beds and employs 6,200 staff. The trust's electronic patient record (EPR) went live in 2019. Clinicians find parts of it slow and hard to use. The trust's data is spread across more than 30 systems, so reporting is slow and often manual.

## 2. Lots and contract values

| Lot | Scope | Maximum value (ex VAT) | Term |
| Lot A | EPR Optimisation | £1.4m | 12 months |
| Lot B | Clinical Data Warehouse | £2.9m | 18 months |

Bidders may bid for one or both lots, with a separate response for each. Contracts are expected to start in January 2024.

## 3. Evaluation

Quality: 60%. Price: 30%. Social value: 10%.

## 4. Questions

Repeat each question, with its number, as the heading of your answer.

{questions}

## 5. Requirements

Suppliers must hold ISO 27001 certification and a Data Security and Protection Toolkit assessment of Standards Met. Suppliers must work under the trust's clinical safety arrangements and name a Clinical Safety Officer.

Contact: procurement@aldermoor.example.nhs.uk.
""".replace("{questions}", _questions_block("ITT-AMT-2023-022", [750, 750, 600, 600], [30, 30, 20, 20]))


def build_itts() -> None:
    write_pdf(CORPUS / "itts/itt-cjda-2023-014-probation-case-management.pdf", ITT_CJDA,
              title="ITT-CJDA-2023-014 Probation Case Management Modernisation",
              footer="Crown Justice Digital Agency - ITT-CJDA-2023-014")
    sidecar("itts/itt-cjda-2023-014-probation-case-management.pdf",
            title="ITT-CJDA-2023-014: Probation Case Management Modernisation (Crown Justice Digital Agency)",
            date="2023-04-03", sector="justice", itt="ITT-CJDA-2023-014", issuer="Crown Justice Digital Agency",
            deadline="2023-05-19")
    write_docx(CORPUS / "itts/itt-nsc-2023-031-youth-justice-data-platform.docx", ITT_NSC,
               title="ITT-NSC-2023-031 Youth Justice Data Platform")
    sidecar("itts/itt-nsc-2023-031-youth-justice-data-platform.docx",
            title="ITT-NSC-2023-031: Youth Justice Data Platform (Northshire County Council, re-issue)",
            date="2024-01-19", sector="justice", itt="ITT-NSC-2023-031", issuer="Northshire County Council",
            deadline="2024-02-23")
    write_pdf(CORPUS / "itts/itt-nvicb-2024-007-digital-care-programme.pdf", ITT_NVICB,
              title="ITT-NVICB-2024-007 Northvale Digital Care Programme",
              footer="NHS Northvale Integrated Care Board - ITT-NVICB-2024-007")
    sidecar("itts/itt-nvicb-2024-007-digital-care-programme.pdf",
            title="ITT-NVICB-2024-007: Northvale Digital Care Programme (NHS Northvale Integrated Care Board)",
            date="2024-03-11", sector="health", itt="ITT-NVICB-2024-007", issuer="NHS Northvale Integrated Care Board",
            deadline="2024-04-26")
    write_docx(CORPUS / "itts/itt-amt-2023-022-epr-and-data-warehouse.docx", ITT_AMT,
               title="ITT-AMT-2023-022 EPR Optimisation and Clinical Data Warehouse")
    sidecar("itts/itt-amt-2023-022-epr-and-data-warehouse.docx",
            title="ITT-AMT-2023-022: EPR Optimisation and Clinical Data Warehouse (Aldermoor NHS Foundation Trust)",
            date="2023-08-25", sector="health", itt="ITT-AMT-2023-022", issuer="Aldermoor NHS Foundation Trust",
            deadline="2023-10-06")
    write_yaml(CORPUS / "itts/_meta.yaml", {"doc_type": "itt"})


# ===========================================================================
# BID RESPONSES
# ===========================================================================


def bid_text(ref: str, title: str, lot: str, submitted: str, contact: str, summary: str, answers: list[str]) -> str:
    qs = ITT_Q[ref]
    assert len(answers) == len(qs), (ref, title)
    parts = [
        f"# {title}",
        f"Response to {ref}. {lot}",
        "",
        f"Submitted by Calderbrook Digital Ltd, 3 Calder Quay, Leeds LS1 4BR, on {submitted}. Contact: {contact}.",
        "",
        "## Summary",
        summary.strip(),
        "",
    ]
    for q, a in zip(qs, answers, strict=True):
        parts += [f"## {q}", a.strip(), ""]
    return "\n".join(parts)


# --- ITT-CJDA-2023-014 Lot 1 (WON) -----------------------------------------
BID_CJDA_L1 = bid_text(
    "ITT-CJDA-2023-014", "Probation Case Management Modernisation: Lot 1 Discovery and Alpha",
    "Lot 1: Discovery and Alpha.", "18 May 2023",
    "Sophie Marsh, Managing Director, Justice, sophie.marsh@calderbrook.co.uk",
    """
We will find out what probation practitioners really need, and prove it with working prototypes, in 12 months.

We have done this before for the Crown Justice Digital Agency. Our Prison Visits Booking Service cut the time to book a visit from 14 minutes to 3 minutes. It is live in all 118 prisons. We still run it for you today.

You will get a team of seven SC-cleared specialists, led by a delivery manager who has worked in justice for eight years. You will get a clear recommendation for beta, backed by evidence from practitioners in at least 8 of the 12 regions. We will show you, not tell you.
""",
    [
        """
Promise: We will learn how practitioners really work, not how the process map says they work.

We know the problem. Practitioners re-enter the same facts into several systems. Risk information hides in old free-text notes. Youth justice caseworkers at Kelbridge City Council told us the same story in 2022.

Our plan has three steps. First, we will run at least 100 research sessions in at least 8 of the 12 regions in the first 20 weeks. We will sit beside practitioners in probation offices, courts and approved premises. Second, we will map every piece of information a practitioner types, and where it goes. Third, we will test our findings with practitioners and their managers every two weeks.

Proof: In 2022 we shadowed 15 Kelbridge caseworkers on 60 visits. The app we built from that research saves each caseworker about 6 hours of admin a week. We measured that in February 2023.

Payoff: You will have evidence, not opinion, for every design decision in beta.

In short: 100 sessions, 8 regions, 20 weeks, and research you can trust.
""",
        """
Promise: We will design a service that passes its alpha assessment first time.

We work to the Government Service Standard on every public-sector project. Our plan for alpha follows its 14 points. We will test at least three different ideas for the riskiest parts of the service, such as the risk summary. We will test with practitioners who use assistive technology from the first week. We will publish our code in the open where you allow it.

Proof: The Prison Visits Booking Service passed its alpha, beta and live assessments first time between 2021 and 2022. By March 2022, 92% of visits were booked online, up from 35%.

Payoff: You will go into beta with designs that practitioners have already used, and a service assessment already behind you.

In short: we design to the standard from day one, so the assessment holds no surprises.
""",
        """
Promise: We will protect offender data as if it were our own family's.

Proof: We have held ISO 27001 since 2016 and Cyber Essentials Plus since 2018. At 31 March 2023, 121 of our staff held SC clearance. Our Prison Visits Booking Service has handled sensitive data about prisoners and their families since 2021 with no reportable data breach.

How we will do it:
- Research data stays in your environment or our UK-hosted secure enclave.
- We record research with consent only, and delete recordings within 30 days.
- We use synthetic data, not live offender data, in every prototype.
- Every team member completes our security course before starting, and reports any incident within 1 hour.

Payoff: Your information assurance team gets full visibility and no surprises.

In short: no live offender data leaves your control during discovery and alpha.
""",
        """
Promise: You will get a stable team of seven SC-cleared people, who stay for the whole 12 months.

| Role | Name | Days a week |
| Delivery manager | Kate Lindqvist | 5 |
| Product manager | Ade Oyelaran | 5 |
| Lead user researcher | Dr Tomasz Nowak | 5 |
| User researcher | Grace Whitby | 5 |
| Service designer | Marcus Bell | 5 |
| Content designer | Hannah Cole | 5 |
| Technical architect | Joe Fairweather | 3 |

Sophie Marsh, our Managing Director for Justice, is the accountable director. She will attend every monthly board.

Proof: Every person named holds SC clearance today. Kate Lindqvist led the Prison Visits Booking Service team from 2021 to 2022.

Payoff: You will not have to re-brief a new team halfway through. If someone must leave, we will give 4 weeks' overlap with their replacement, at our cost.

In short: named people, cleared today, committed for 12 months.
""",
        """
Promise: This contract will help people leaving prison to find work.

We will deliver four commitments, and report on them every quarter:
- Create 2 apprenticeships in our Leeds office for the length of the contract.
- Give 150 volunteering hours to Second Chapter, a charity that teaches reading to prison leavers.
- Offer 2 paid work placements to people on probation, in partnership with a local employment charity.
- Spend at least 30% of our third-party spend with small businesses in the regions we research.

Proof: Our people gave 1,320 hours of volunteering time in FY2022/23. We had 15 apprentices at 31 March 2023.

Payoff: Your contract helps the people the probation service exists to support.

In short: measurable commitments, reported every quarter.
""",
    ],
)

# --- ITT-CJDA-2023-014 Lot 2 (LOST) ----------------------------------------
BID_CJDA_L2 = bid_text(
    "ITT-CJDA-2023-014", "Probation Case Management Modernisation: Lot 2 Beta and Live Service",
    "Lot 2: Beta and Live Service.", "18 May 2023",
    "Bid Team, bids@calderbrook.co.uk",
    """
Calderbrook Digital is delighted to submit this response for Lot 2 of the Probation Case Management Modernisation programme. As a leading provider of innovative digital solutions to the public sector, we are ideally placed to deliver a best-in-class, end-to-end solution that will transform case management for the Agency going forward.

Our holistic approach leverages proven agile methodologies, cutting-edge cloud technologies and a deep understanding of the justice landscape to deliver seamless outcomes for all stakeholders. We are confident that our robust delivery model will exceed the Agency's expectations.
""",
    [
        """
We understand that probation practitioners face a wide range of challenges in their day-to-day work, including the use of legacy systems, manual processes and a lack of joined-up information. These challenges impact on their ability to deliver high-quality services to stakeholders and to manage risk effectively.

Our experienced user research professionals will utilise a variety of industry-standard research techniques, such as interviews, surveys, workshops and contextual inquiry, to gain a holistic understanding of user needs. We will engage with a representative sample of stakeholders across the regions as appropriate.

Research insights will be captured in a central repository and shared with the Agency on a regular basis to ensure alignment. This will empower the programme to make informed decisions going forward and ensure that the solution meets the needs of all users.
""",
        """
Calderbrook has extensive experience of delivering services in line with the Government Service Standard across a range of public-sector clients. Our delivery methodology is fully aligned to the Standard and leverages agile best practice, including Scrum and Kanban, to ensure iterative and incremental delivery.

We will put in place robust governance, including sprint reviews, show and tells and regular steering group meetings, to ensure that the service is developed in line with the Standard throughout the beta phase. Our teams are experienced in preparing for service assessments and we are confident of a positive outcome.

We will also ensure that accessibility is embedded throughout, in line with relevant guidelines, and that the service is scalable, resilient and future-proofed.
""",
        """
Data security is at the heart of everything we do. Calderbrook holds a range of industry-recognised certifications, including ISO 27001 and Cyber Essentials Plus, and has robust policies and procedures in place to protect client data.

Our solution will be designed with security by design principles, leveraging cloud-native security controls, encryption at rest and in transit, role-based access control and comprehensive audit logging. We will work closely with the Agency's security stakeholders to ensure that all relevant standards and policies are adhered to.

All staff will be appropriately cleared in line with the Agency's requirements. We will utilise secure development practices and regular penetration testing to provide assurance going forward.
""",
        """
We will provide a blended, multidisciplinary team of highly experienced professionals with the right mix of skills to deliver the programme. The team will include delivery management, product management, user research, design, engineering, testing and DevOps capabilities, scaled up and down according to the needs of each phase.

All team members will hold or obtain the appropriate security clearance. Calderbrook has a large pool of cleared resources that can be drawn upon as required.

We recognise the importance of continuity and will put in place robust knowledge management and succession planning processes to mitigate the risk of staff turnover. Key personnel will be confirmed at contract award.
""",
        """
Calderbrook is committed to delivering social value through all of our contracts. We have a range of initiatives in place, including apprenticeships, volunteering and community engagement, which we will leverage to deliver meaningful outcomes for local communities.

We will work with the Agency to identify social value opportunities aligned with its priorities and will report on progress at regular intervals. We are also committed to environmental sustainability and to supporting small businesses within our supply chain where possible.

Through this holistic approach we will ensure that the contract delivers positive outcomes for society going forward.
""",
    ],
)

# --- ITT-NSC-2023-031 Round 1 (LOST) ---------------------------------------
BID_NSC_R1 = bid_text(
    "ITT-NSC-2023-031", "Youth Justice Data Platform",
    "First procurement round (original ITT issued 2 June 2023).", "13 July 2023",
    "Bid Team, bids@calderbrook.co.uk",
    """
Calderbrook Digital welcomes the opportunity to respond to Northshire County Council's requirement for a Youth Justice Data Platform. We are a trusted partner to the public sector, with a strong track record of delivering innovative data solutions that drive better outcomes for citizens.

We will leverage our extensive experience and best-in-class data engineering capability to deliver a robust, scalable and secure platform that provides a single version of the truth for all stakeholders, empowering the Council to make data-driven decisions going forward.
""",
    [
        """
Our approach to data integration is based on modern, cloud-native architecture and industry best practice. We will work with the Council to understand the source systems in scope, including the youth justice case management system, education systems and children's social care systems, and will design an appropriate integration approach for each.

We will utilise a range of integration patterns, including APIs, batch extracts and change data capture, as appropriate. Data will be ingested into a central data lake, transformed and modelled to create a holistic view of each young person, and made available through dashboards and reports.

Data quality will be managed through automated validation rules and a robust data governance framework, ensuring trusted data for all stakeholders.
""",
        """
We recognise the particular sensitivity of data relating to children and young people and the importance of protecting their privacy. Calderbrook takes data protection extremely seriously and has a comprehensive suite of policies and procedures in place.

The platform will be designed in line with privacy by design principles. We will implement appropriate technical and organisational measures, including encryption, access controls, audit logging and data minimisation, to ensure compliance with UK GDPR and the Data Protection Act 2018.

We will support the Council in completing any required impact assessments and will work closely with the Council's information governance stakeholders throughout the contract.
""",
        """
Calderbrook has delivered a wide range of data platforms and analytics solutions for public-sector organisations across justice, health and transport. Our experience includes data warehouses, dashboards, reporting solutions and data integration projects for central government, local authorities and NHS organisations.

For example, we have delivered dashboards for an NHS trust that have helped improve patient flow, and we have worked with local authorities on youth justice digital services. These projects have delivered significant benefits for our clients, including improved efficiency, better decision-making and enhanced user experience.

Further details and references can be provided on request.
""",
        """
We understand the importance of the Council being able to operate the platform independently. We will put in place a comprehensive knowledge transfer programme, including documentation, training sessions and shadowing, to ensure a smooth transition to the Council's team at the appropriate point.

All code and documentation will be stored in a repository accessible to the Council. We will work with the Council to agree an exit plan that meets its requirements and will provide ongoing support as required.

Our handover approach is tried and tested and has been utilised successfully on a number of previous engagements. We will ensure that the Council's team is fully empowered to manage and develop the platform going forward.
""",
        """
Our pricing is set out in the accompanying pricing schedule. We propose a flexible time-and-materials commercial model based on our standard day rates, which provides the Council with maximum flexibility to adapt scope as requirements evolve.

We will work closely with the Council to manage the budget through regular reporting and robust change control. We are confident that we can deliver the required outcomes within the overall contract value, and we are open to discussing alternative commercial models where these offer better value.
""",
    ],
)

# --- ITT-NSC-2023-031 Round 2 (WON) ----------------------------------------
BID_NSC_R2 = bid_text(
    "ITT-NSC-2023-031", "Youth Justice Data Platform",
    "Re-issued procurement (ITT re-issued 19 January 2024).", "22 February 2024",
    "Sophie Marsh, Managing Director, Justice, sophie.marsh@calderbrook.co.uk",
    """
We will give Northshire's caseworkers one view of every child they support, and give your managers reporting they can trust. We will do it for a fixed price of £1.76 million, £140,000 below the contract value.

We have built this kind of service before. Our caseworker app for Kelbridge City Council saves each youth justice caseworker about 6 hours of admin a week. Our Discharge Flow Dashboard for Aldermoor NHS Foundation Trust brings together data from two clinical systems every 15 minutes.

By month 33, your own staff will run the platform. We will show you, not tell you.
""",
    [
        """
Promise: Within 9 months, a caseworker will see a child's youth justice, education and social care information on one page.

How we will do it:
- Connect the youth justice case management system, the education management system and the children's social care record through their existing interfaces. Where no interface exists, we will use secure nightly extracts.
- Match records for each child using name, date of birth, address history and the Unique Pupil Number. A caseworker confirms any uncertain match. We never merge records automatically when the match is uncertain.
- Load the data into a UK-hosted platform, refreshed every hour for youth justice data and every night for education and social care data.
- Build the caseworker view and the manager reports with caseworkers, in two-week cycles.

Proof: Our Kelbridge app, live since December 2022, writes straight into the council's youth justice case management system. 95% of visit notes are now recorded on the same day, up from 60%.

Payoff: Caseworkers stop hunting for information and start acting on it.

In short: three sources, one view, live within 9 months.
""",
        """
Promise: We will collect only what caseworkers need, show it only to those who need it, and prove it with an audit trail.

- We will complete the data protection impact assessment with your data protection officer before any personal data moves.
- Each caseworker sees only the children on their caseload. Managers see pseudonymised data in reports unless they have a recorded reason to see more.
- Every view of a child's record is logged. Your information governance team can audit the log at any time.
- Data is held only in the UK, encrypted at rest and in transit.
- We will apply your retention schedule automatically, so records are deleted on time.

Proof: We completed a data protection impact assessment with Kelbridge City Council before any child's data moved in 2022. We are certified to ISO/IEC 27001:2022 and Cyber Essentials Plus.

Payoff: Children's data is safer on the platform than it is in today's spreadsheets and email.

In short: minimum data, minimum access, full audit.
""",
        """
Promise: You will get a team that has built public-sector data platforms and can show you the results.

Proof:
- Aldermoor NHS Foundation Trust, 2022 to 2023: our Discharge Flow Dashboard combines data from the trust's patient administration system and its electronic patient record. It cut delayed discharge days by 18% in six months and freed 1,240 bed days. 310 staff across 22 wards use it every day.
- Aldermoor NHS Foundation Trust, from January 2024: we are building the trust's £2.9 million clinical data warehouse.
- Kelbridge City Council, 2022: our youth justice caseworker app saves each of 48 caseworkers about 6 hours of admin a week.

Payoff: You are not paying for us to learn. The patterns that work at Aldermoor and Kelbridge will work in Northshire.

In short: data platforms in health and youth justice, with results we can name.
""",
        """
Promise: By month 33, your own team will run the platform, and we will step back.

- From month 1, two Council staff join our team as paid members of the build. They write code and reports alongside us.
- From month 24, we train 6 Council staff to run the platform day to day, using a written runbook for every routine task.
- From month 30 to month 33, your team runs the platform and we shadow them. We step in only if they ask.
- In months 34 to 36, we stay on call for advice, at no extra cost.

You own all code, documents and data from day one. Everything lives in the Council's own code repository.

Proof: We handed over the Kelbridge app to the council's own digital team in 2023.

Payoff: No lock-in, and no cliff edge at the end of the contract.

In short: your platform, your people, your choice of what happens next.
""",
        """
Promise: We will deliver the whole contract for a fixed price of £1,760,000, which is £140,000 below the £1.9 million contract value.

| Phase | Months | Fixed price |
| Build and first release | 1 to 9 | £1,120,000 |
| Live running, improvement and handover | 10 to 36 | £640,000 |
| Total | 1 to 36 | £1,760,000 |

We have priced from our 2023-24 rate card. Our Chief Financial Officer, Tom Whitaker, has approved the fixed price. Changes in scope go through a simple change process, priced from the same rate card. We keep a risk reserve inside the fixed price, so you do not pay for our estimating errors.

Proof: We delivered the Aldermoor Discharge Flow Dashboard within its agreed budget in 2023.

Payoff: You know the full cost on day one, with £140,000 left for your own priorities.

In short: one fixed price, £140,000 under budget, no surprises.
""",
    ],
)

# --- ITT-NVICB-2024-007 Lot 1 (WON) ----------------------------------------
BID_NVICB_L1 = bid_text(
    "ITT-NVICB-2024-007", "Northvale Digital Care Programme: Lot 1 Shared Care Record Integration",
    "Lot 1: Shared Care Record Integration.", "25 April 2024",
    "Dr Aisha Bello, Managing Director, Health, aisha.bello@calderbrook.co.uk",
    """
We will connect the records of Northvale's 1.4 million residents, so that a clinician sees the whole picture in one place. Within 12 months, every GP practice, both acute trusts, the community and mental health trust and all three councils will share records through one service.

We have joined up clinical data before. At Aldermoor NHS Foundation Trust our Discharge Flow Dashboard cut delayed discharge days by 18% in six months. We are now building Aldermoor's clinical data warehouse. We will show you, not tell you.
""",
    [
        """
Promise: We will design for Northvale as it is, not for an imaginary average system.

Northvale serves 1.4 million people through two acute trusts, one community and mental health trust, 142 GP practices and three local authorities. Life expectancy in the most deprived areas is 9 years lower than in the least deprived. People in those areas use emergency care more and see their GP less. Their records are also the most scattered.

Clinicians told the ICB that they cannot see a complete record. A GP cannot see what happened in A&E last night. A social worker cannot see a hospital discharge plan. We will start with these moments.

Proof: At Aldermoor NHS Foundation Trust we spent three weeks on the wards before building anything. The result is used by 310 staff every day.

Payoff: The record will help the clinicians and the residents who need it most, first.

In short: we start with Northvale's real pressure points.
""",
        """
Promise: We will connect every care setting in Northvale through open national standards, in 12 months.

Our approach:
- Use HL7 FHIR R4 and the UK Core profiles for every new interface.
- Verify every patient's NHS number against the Personal Demographics Service before records are linked.
- Use GP Connect to bring in records from all 142 GP practices.
- Connect both acute trusts and the community and mental health trust through their EPRs' FHIR interfaces. Where a system has no FHIR interface, we will build a small adapter that we hand over to you.
- Code clinical terms in SNOMED CT and medicines in dm+d, so records mean the same thing everywhere.
- Bring in social care records from the three councils' case management systems, starting with hospital discharge plans.

Timeline: GP practices and both acute trusts connected by month 6. The community and mental health trust and all three councils connected by month 12.

Proof: Our Aldermoor dashboard combines data from the patient administration system and the EPR, refreshed every 15 minutes.

Payoff: Clinicians see one record. You own every interface, with no proprietary lock-in.

In short: open standards, every setting, 12 months.
""",
        """
Promise: No change reaches a clinician until our Clinical Safety Officer has signed it off.

- Dr Ravi Menon, our Lead Clinical Safety Officer, will own the DCB0129 clinical safety case. He is one of our six accredited Clinical Safety Officers.
- We will open a hazard log in week 1 and review it at every sprint.
- Every release will have a clinical safety case report, issued before go-live.
- We will run hazard workshops with your Clinical Safety Officer to support your DCB0160 work in each organisation that deploys the record.

Proof: We completed a DCB0129 clinical safety case for the Aldermoor Discharge Flow Dashboard before it went live on 22 wards in February 2023.

Payoff: Your organisations can deploy each release with confidence and with the evidence they need.

In short: safety signed off before every release, not after it.
""",
        """
Promise: The right clinician will see the right record, and every view will be logged.

- We will complete a data protection impact assessment with the ICB before any live data moves.
- Access follows a legitimate care relationship. A clinician sees a record only when the patient is in their care.
- Every view is logged and can be audited by each organisation's information governance team.
- All data is processed in the UK, encrypted at rest and in transit.
- Residents can opt out in line with the national data opt-out, and we honour it automatically.

Proof: We are certified to ISO/IEC 27001:2022 and Cyber Essentials Plus. Our Data Security and Protection Toolkit assessment is Standards Met. At 31 March 2024, 164 of our staff held SC clearance.

Payoff: Residents can trust that their record is used only for their care.

In short: access by care relationship, full audit, UK only.
""",
        """
Promise: You will see the benefits in numbers every month, measured against a baseline we agree in the first 8 weeks.

We will measure five things:
- Time a clinician takes to find key information, such as medicines and allergies.
- Repeat tests ordered because results from another setting were not visible.
- Records viewed each month, by setting.
- Clinician satisfaction, surveyed every quarter.
- Delayed discharges where missing information is the cause.

We will report every month to the ICB's digital programme board. We will publish the results for clinicians every quarter.

Proof: At Aldermoor we measured results over six months after go-live: 18% fewer delayed discharge days and 1,240 bed days freed.

Payoff: You will be able to show your board and NHS England what the investment delivered.

In short: agreed baseline, monthly numbers, no vague claims.
""",
    ],
)

# --- ITT-NVICB-2024-007 Lot 2 (LOST, PDF) ----------------------------------
BID_NVICB_L2 = bid_text(
    "ITT-NVICB-2024-007", "Northvale Digital Care Programme: Lot 2 Patient Portal",
    "Lot 2: Patient Portal.", "25 April 2024",
    "Bid Team, bids@calderbrook.co.uk",
    """
Calderbrook Digital is pleased to present our proposal for the Northvale Patient Portal. We are a leading digital transformation partner to the NHS, with a proven track record of delivering innovative, citizen-centric solutions.

Our vision is to deliver a seamless, omnichannel patient experience that empowers residents to take control of their health and care. By leveraging best-in-class technologies and our holistic understanding of the health and care landscape, we will deliver a world-class portal that delivers real value to all stakeholders going forward.
""",
    [
        """
We understand that the Northvale health and care system is a complex landscape with multiple organisations, diverse populations and significant health inequalities. Residents interact with a wide range of services and often experience fragmented, inconsistent digital journeys.

We recognise the importance of addressing digital exclusion and ensuring that the portal is accessible to all residents, including those with low digital skills. Our approach will be informed by a deep understanding of the needs of stakeholders across the system, which we will develop further during the early stages of the contract.

We are aware of the national direction of travel for digital health and care and of the ICB's strategic priorities. Our solution will be aligned with these priorities and will support the system's wider transformation agenda, including the shift from analogue to digital and from treatment to prevention.
""",
        """
Our technical solution will be based on a modern, cloud-native, microservices architecture that is scalable, secure and resilient. The portal will integrate seamlessly with existing systems across the ICS using industry-standard interoperability standards, including FHIR, and will leverage national services such as NHS login.

We will utilise a low-code platform where appropriate to accelerate delivery and reduce cost. The solution will be responsive and mobile-first, and will provide residents with access to appointments, test results, correspondence and care plans through a single, intuitive interface. Our agile delivery approach will ensure continuous improvement going forward.
""",
        """
Calderbrook has robust clinical safety processes in place and employs qualified Clinical Safety Officers. We will comply fully with DCB0129 and will support the ICB with its DCB0160 obligations.

A hazard log and clinical safety case will be maintained throughout the project, and all relevant risks will be identified, assessed and mitigated in line with best practice. We will work closely with the ICB's clinical safety stakeholders to ensure that the portal is safe for use.
""",
        """
Calderbrook takes data protection and information governance extremely seriously. We hold a number of relevant certifications and will ensure that the portal complies with UK GDPR, the Data Protection Act 2018 and all relevant NHS information governance standards.

The solution will include robust security controls, including strong authentication, encryption, role-based access and audit logging. We will support the ICB in completing the necessary data protection impact assessments and data sharing agreements.
""",
        """
We will work with the ICB to develop a comprehensive benefits realisation framework, aligned with its strategic objectives. Key performance indicators will be agreed at the start of the contract and may include portal uptake, user satisfaction, channel shift and efficiency savings.

Progress will be reported to stakeholders on a regular basis through dashboards and governance meetings. We are confident that the portal will deliver significant benefits for residents and for the system as a whole.

Benefits will be tracked throughout the lifetime of the contract and beyond, ensuring that the ICB is able to demonstrate a strong return on investment to its stakeholders going forward.
""",
    ],
)

# --- ITT-NVICB-2024-007 Lot 3 (WON) ----------------------------------------
BID_NVICB_L3 = bid_text(
    "ITT-NVICB-2024-007", "Northvale Digital Care Programme: Lot 3 Population Health Analytics",
    "Lot 3: Population Health Analytics.", "25 April 2024",
    "Dr Aisha Bello, Managing Director, Health, aisha.bello@calderbrook.co.uk",
    """
We will help Northvale find the residents who are most likely to need urgent care, before they need it. Within 6 months, every primary care network in Northvale will have a monthly list of residents to contact, and a clear reason for each name.

We build health data services that clinicians trust. At Aldermoor NHS Foundation Trust our first clinical data mart, for emergency care, went live in March 2024. We will show you, not tell you.
""",
    [
        """
Promise: We will focus the analytics on the 9-year gap in life expectancy.

Northvale's 1.4 million residents do not share the same health. Life expectancy in the most deprived areas is 9 years lower than in the least deprived. Long-term conditions start earlier there, and emergency admissions are higher. The planners and the 142 GP practices need to know who is at risk, and why.

Proof: At Aldermoor, our work started on the wards and in the bed management office. We built the Discharge Flow Dashboard around the questions staff asked every morning.

Payoff: Your analytics will answer the questions your clinicians and planners actually ask about inequality.

In short: we start from the gap, not from the data.
""",
        """
Promise: In 6 months you will have a linked, pseudonymised population dataset and the first risk lists in use.

- Link primary care, acute, community, mental health and social care data at person level, using the NHS number. The NHS number is replaced by a pseudonymous key before data reaches the analytics platform.
- Use the shared care record's FHIR R4 feeds where they exist, so data is collected once.
- Code conditions in SNOMED CT, so that GP and hospital data can be compared.
- Segment the population by need and build risk models for emergency admission. We use models that we can explain. Each risk list shows the main factors behind every score.
- Give each primary care network a monthly list of residents at highest risk, for its clinicians to review.

Every model has a named human owner at the ICB, who approves it before use.

Proof: We are building Aldermoor NHS Foundation Trust's clinical data warehouse. It brings together data from more than 30 systems.

Payoff: Clinicians get lists they understand and can act on.

In short: linked data, explainable models, monthly lists, 6 months.
""",
        """
Promise: Risk lists influence care, so we will treat them as clinical tools and make them safe.

- Our Lead Clinical Safety Officer, Dr Ravi Menon, will own a DCB0129 clinical safety case for the risk models and lists.
- The main hazards are a high-risk resident missing from a list, and a list that is out of date. We will design controls for both, including data freshness checks on every list.
- Clinicians always make the final decision. Lists support judgement; they never replace it.
- We will support the ICB and each primary care network with their DCB0160 work.

Proof: We completed a DCB0129 clinical safety case for the Aldermoor Discharge Flow Dashboard before it went live in February 2023.

Payoff: Clinicians can use the lists safely from the first month.

In short: clinical tools, clinical safety, clinical judgement.
""",
        """
Promise: Analysts will work only with pseudonymised data, and re-identification will happen only for direct care.

- We will complete a data protection impact assessment with the ICB before live data moves.
- Analysts never see names or NHS numbers. Only a resident's own GP practice can re-identify a resident on a risk list, for direct care.
- The national data opt-out is applied automatically to planning uses.
- Data is processed only in the UK. Every query is logged.

Proof: We are certified to ISO/IEC 27001:2022 and Cyber Essentials Plus, and our Data Security and Protection Toolkit assessment is Standards Met.

Payoff: Residents' privacy is protected while planners get the evidence they need.

In short: pseudonymised by default, identifiable only for care.
""",
        """
Promise: We will show whether the analytics change outcomes, not just whether dashboards are used.

We will agree a baseline with the ICB in the first 8 weeks. Then we will track:
- Emergency admissions among residents contacted from risk lists, compared with similar residents not yet contacted.
- The share of each monthly list reviewed by a clinician.
- The gap in emergency admission rates between the most and least deprived areas.

We will report every quarter to the ICB's population health board, with a plain-English summary for the public.

Proof: At Aldermoor we measured results for six months after go-live and reported 18% fewer delayed discharge days.

Payoff: You will know what works, and what to stop.

In short: outcomes, not activity.
""",
    ],
)

# --- ITT-AMT-2023-022 Lot A (LOST) -----------------------------------------
BID_AMT_LA = bid_text(
    "ITT-AMT-2023-022", "EPR Optimisation and Clinical Data Warehouse: Lot A EPR Optimisation",
    "Lot A: EPR Optimisation.", "5 October 2023",
    "Bid Team, bids@calderbrook.co.uk",
    """
Calderbrook Digital is pleased to submit our response for Lot A, EPR Optimisation. We are a leading provider of digital services to the NHS and have a deep understanding of the challenges facing acute trusts in today's challenging environment.

Our holistic, clinically-led approach will leverage our extensive experience and best-in-class methodologies to optimise the Trust's EPR, delivering a seamless experience for clinicians and improved outcomes for patients going forward.
""",
    [
        """
Calderbrook has significant experience of working with NHS trusts on a wide range of clinical systems projects. Our health team includes clinicians, clinical safety officers, business analysts, designers and engineers, and we have supported numerous NHS organisations to get more value from their digital investments.

We have worked with the Trust previously and have a good understanding of its systems and ways of working. Our experience spans EPR configuration, clinical dashboards, data integration and user-centred design, and we have consistently delivered positive outcomes for our NHS clients, including improved efficiency and user satisfaction.

Our team brings together a wealth of knowledge from across the health and care sector. We are familiar with a range of leading EPR platforms and have established relationships with key suppliers in the market, which we will leverage to the benefit of the Trust. We pride ourselves on being a flexible, collaborative partner that goes above and beyond to support our clients on their digital transformation journey.
""",
        """
Our delivery approach is based on agile principles and industry best practice. We will begin with a discovery phase to understand the current state of the EPR and identify optimisation opportunities, followed by a series of delivery sprints to implement prioritised improvements.

The high-level timeline will be as follows: discovery, followed by design, build and test of improvements, followed by deployment and benefits realisation. A detailed plan will be agreed with the Trust at mobilisation. We will put in place robust governance arrangements, including a project board, to ensure that delivery remains on track and that stakeholders are kept informed throughout.

Optimisation opportunities are likely to include streamlining clinical workflows, reducing unnecessary clicks, improving order sets and templates, enhancing reporting and improving the overall user experience. Improvements will be prioritised in collaboration with the Trust based on value, effort and risk. Quality assurance will be embedded throughout the lifecycle, with comprehensive testing of every change prior to deployment to the live environment.
""",
        """
We understand the pressures on clinical staff and the importance of minimising disruption to patient care. We will work flexibly around clinical commitments and will utilise a range of engagement methods, including workshops, surveys and drop-in sessions, to capture the views of clinical stakeholders.

Clinical champions will be identified across the Trust to act as a conduit between the project team and frontline staff. Training and communications will be tailored to the needs of different staff groups, ensuring a smooth transition to the optimised system.

Where changes require downtime, these will be scheduled at times that minimise impact on clinical services, in agreement with the Trust. Business continuity arrangements will be put in place as appropriate to ensure patient safety is maintained at all times.
""",
        """
We have identified a number of potential risks, including lack of clinical engagement, dependencies on the EPR supplier, data quality issues and resource constraints. We will manage these risks through a robust risk management framework, including a risk register that will be reviewed regularly by the project board.

Mitigations will be put in place for each risk as appropriate, and risks will be escalated in line with agreed governance. Our experienced delivery managers have a proven track record of managing complex risks on NHS programmes.

We will also work proactively with the Trust to identify new and emerging risks throughout the lifecycle of the project, ensuring that a robust and holistic view of risk is maintained at all times.
""",
    ],
)

# --- ITT-AMT-2023-022 Lot B (WON) ------------------------------------------
BID_AMT_LB = bid_text(
    "ITT-AMT-2023-022", "EPR Optimisation and Clinical Data Warehouse: Lot B Clinical Data Warehouse",
    "Lot B: Clinical Data Warehouse.", "5 October 2023",
    "Dr Aisha Bello, Managing Director, Health, aisha.bello@calderbrook.co.uk",
    """
We will bring Aldermoor's clinical data from more than 30 systems into one trusted warehouse in 18 months. Your first data mart, for emergency care, will be live in March 2024, three months after we start.

You already know our work. Our Discharge Flow Dashboard went live on your 22 adult inpatient wards in February 2023. In its first six months it cut delayed discharge days by 18% and freed 1,240 bed days. We will show you, not tell you.
""",
    [
        """
Promise: We will build on what already works at Aldermoor, with a team that knows your wards and your systems.

Proof:
- Aldermoor NHS Foundation Trust, October 2022 to August 2023: our Discharge Flow Dashboard combines data from your patient administration system and your EPR, refreshed every 15 minutes. It cut delayed discharge days by 18% in its first six months and freed 1,240 bed days. 310 staff use it every day.
- We employ five accredited Clinical Safety Officers, who work under DCB0129 on every health product we build.
- We have held ISO 27001 since 2016 and will move to the 2022 version of the standard in November 2023.

Payoff: You get a supplier that is already trusted by your clinicians and your information governance team.

In short: proven at Aldermoor, on Aldermoor's own data.
""",
        """
Promise: We will deliver one new data mart roughly every quarter, each one useful on the day it goes live.

| Month | Date | What goes live |
| 3 | March 2024 | Warehouse platform and emergency care data mart |
| 6 | June 2024 | Inpatient flow data mart |
| 9 | September 2024 | Outpatients data mart |
| 12 | December 2024 | Maternity data mart |
| 15 | March 2025 | Cancer pathway data mart |
| 18 | June 2025 | Handover complete; 40 manual reports retired |

We work in two-week sprints. Each data mart is designed with the clinicians and analysts who will use it. We retire the manual report it replaces once the trust agrees the new data is right.

Proof: We built the first version of the Discharge Flow Dashboard in 14 weeks.

Payoff: You see value every quarter, not only at the end of 18 months.

In short: five data marts, 40 manual reports retired, 18 months.
""",
        """
Promise: We will take no more than 2 hours a fortnight from any clinician, and we will never get in the way of patient care.

- We will set up a clinical reference group of 8 clinicians, chosen with your Chief Clinical Information Officer.
- We will meet clinicians on the wards at times they choose, usually after the morning huddle.
- We will not put anything live during the winter pressure period without the trust's agreement.
- Our Clinical Safety Officer will work with yours on every data mart that informs care.

Proof: In 2022 we spent three weeks on your wards with nurses, discharge coordinators and bed managers. The wards kept running normally, and the dashboard that resulted is used by 310 staff every day.

Payoff: Clinicians shape the warehouse without losing time with patients.

In short: short, planned time with clinicians, on their terms.
""",
        """
Promise: We will name the risks now and show you how we will handle them.

| Risk | How we will manage it |
| Poor data quality in source systems | Data quality checks in every pipeline, with a monthly report to system owners |
| Slow access to data from the EPR supplier | Agree access in month 1; use nightly extracts while interfaces are built |
| Clinicians too busy to take part | Fixed 2-hour fortnightly slots agreed with the Chief Clinical Information Officer |
| Winter pressures delay go-lives | Plan no go-lives in December and January unless the trust agrees |
| Key staff leaving | Named deputies for every lead role; 4 weeks' overlap at our cost |

We will review the risk log with you every fortnight. Any red risk goes to the project board within 2 working days.

Proof: We delivered the Discharge Flow Dashboard on time, through the winter of 2022 to 2023.

Payoff: No surprises for your board.

In short: named risks, clear owners, fortnightly review.
""",
    ],
)

BIDS = [
    # rel path, text, title, date, sector, outcome, itt, lot, fmt
    ("bids/bid-itt-cjda-2023-014-lot1-discovery-alpha.docx", BID_CJDA_L1,
     "Bid: Probation Case Management Modernisation, Lot 1 Discovery and Alpha", "2023-05-18", "justice", "won",
     "ITT-CJDA-2023-014", "Lot 1"),
    ("bids/bid-itt-cjda-2023-014-lot2-beta-live.docx", BID_CJDA_L2,
     "Bid: Probation Case Management Modernisation, Lot 2 Beta and Live Service", "2023-05-18", "justice", "lost",
     "ITT-CJDA-2023-014", "Lot 2"),
    ("bids/bid-itt-nsc-2023-031-round1.docx", BID_NSC_R1,
     "Bid: Youth Justice Data Platform (first round, July 2023)", "2023-07-13", "justice", "lost",
     "ITT-NSC-2023-031", "Round 1"),
    ("bids/bid-itt-nsc-2023-031-round2.docx", BID_NSC_R2,
     "Bid: Youth Justice Data Platform (re-tender, February 2024)", "2024-02-22", "justice", "won",
     "ITT-NSC-2023-031", "Round 2"),
    ("bids/bid-itt-nvicb-2024-007-lot1-shared-care-record.docx", BID_NVICB_L1,
     "Bid: Northvale Digital Care Programme, Lot 1 Shared Care Record Integration", "2024-04-25", "health", "won",
     "ITT-NVICB-2024-007", "Lot 1"),
    ("bids/bid-itt-nvicb-2024-007-lot2-patient-portal.pdf", BID_NVICB_L2,
     "Bid: Northvale Digital Care Programme, Lot 2 Patient Portal", "2024-04-25", "health", "lost",
     "ITT-NVICB-2024-007", "Lot 2"),
    ("bids/bid-itt-nvicb-2024-007-lot3-population-health.docx", BID_NVICB_L3,
     "Bid: Northvale Digital Care Programme, Lot 3 Population Health Analytics", "2024-04-25", "health", "won",
     "ITT-NVICB-2024-007", "Lot 3"),
    ("bids/bid-itt-amt-2023-022-lotA-epr-optimisation.docx", BID_AMT_LA,
     "Bid: Aldermoor EPR Optimisation, Lot A", "2023-10-05", "health", "lost", "ITT-AMT-2023-022", "Lot A"),
    ("bids/bid-itt-amt-2023-022-lotB-clinical-data-warehouse.docx", BID_AMT_LB,
     "Bid: Aldermoor Clinical Data Warehouse, Lot B", "2023-10-05", "health", "won", "ITT-AMT-2023-022", "Lot B"),
]


def build_bids() -> None:
    for rel, text, title, date, sector, outcome, itt, lot in BIDS:
        if rel.endswith(".pdf"):
            write_pdf(CORPUS / rel, text, title=title, footer=f"Calderbrook Digital Ltd - response to {itt} {lot}")
        else:
            write_docx(CORPUS / rel, text, title=title)
        sidecar(rel, title=title, date=date, sector=sector, outcome=outcome, itt=itt, lot=lot)
    write_yaml(CORPUS / "bids/_meta.yaml", {"doc_type": "bid"})


# ===========================================================================
# TEXT EXTRACTION AND CHECKS
# ===========================================================================


def extract_text(path: Path) -> str:
    """Plain text of a corpus file, roughly as an indexer would see it."""
    suf = path.suffix.lower()
    if suf == ".pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
        try:
            return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        finally:
            pdf.close()
    if suf == ".docx":
        import docx

        d = docx.Document(str(path))
        parts = [p.text for p in d.paragraphs]
        for t in d.tables:
            for row in t.rows:
                parts.append(" | ".join(c.text for c in row.cells))
        return "\n".join(parts)
    if suf == ".pptx":
        from pptx import Presentation

        prs = Presentation(str(path))
        parts = []
        for slide in prs.slides:
            for shape in slide.shapes:
                if shape.has_text_frame:
                    parts.append(shape.text_frame.text)
            if slide.has_notes_slide:
                parts.append(slide.notes_slide.notes_text_frame.text)
        return "\n".join(parts)
    if suf == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(str(path), read_only=True)
        parts = []
        for ws in wb.worksheets:
            parts.append(ws.title)
            for row in ws.iter_rows(values_only=True):
                parts.append(" | ".join("" if v is None else str(v) for v in row))
        return "\n".join(parts)
    if suf in (".html", ".htm"):
        raw = path.read_text(encoding="utf-8")
        raw = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", raw)
        return html.unescape(re.sub(r"<[^>]+>", " ", raw))
    return path.read_text(encoding="utf-8")


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*")
                  if p.is_file() and not p.name.endswith(".meta.yaml") and p.name != "_meta.yaml")


def effective_meta(path: Path) -> dict:
    meta: dict = {}
    chain = []
    d = path.parent
    while True:
        chain.append(d)
        if d == CORPUS:
            break
        d = d.parent
    for d in reversed(chain):
        m = d / "_meta.yaml"
        if m.exists():
            meta.update(yaml.safe_load(m.read_text(encoding="utf-8")) or {})
    side = path.with_name(path.name + ".meta.yaml")
    if side.exists():
        meta.update(yaml.safe_load(side.read_text(encoding="utf-8")) or {})
    return meta


def check_metadata() -> list[str]:
    errors = []
    for p in corpus_files():
        rel = p.relative_to(CORPUS).as_posix()
        m = effective_meta(p)
        for key in ("doc_type", "title", "date"):
            if key not in m:
                errors.append(f"{rel}: missing {key}")
        if not isinstance(m.get("date"), str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.get("date", "")):
            errors.append(f"{rel}: date must be a quoted ISO string, got {m.get('date')!r}")
        if m.get("doc_type") in ("bid", "itt", "case_study") and "sector" not in m:
            errors.append(f"{rel}: missing sector")
        if m.get("doc_type") == "bid":
            if m.get("outcome") not in ("won", "lost"):
                errors.append(f"{rel}: bad outcome")
            if m.get("itt") not in ITT_Q:
                errors.append(f"{rel}: bad itt")
        if "groups" in m and not isinstance(m["groups"], list):
            errors.append(f"{rel}: groups must be a list")
    return errors


def check_bids() -> list[str]:
    """Every bid repeats every ITT question verbatim; every ITT has won and lost bids."""
    errors = []
    outcomes: dict[str, set] = {k: set() for k in ITT_Q}
    for rel, _text, *_rest in BIDS:
        p = CORPUS / rel
        m = effective_meta(p)
        outcomes[m["itt"]].add(m["outcome"])
        txt = norm(extract_text(p))
        for q in ITT_Q[m["itt"]]:
            if norm(q) not in txt:
                errors.append(f"{rel}: question missing: {q}")
    for itt_path in (CORPUS / "itts").glob("*.*"):
        if itt_path.name.endswith(".yaml"):
            continue
        m = effective_meta(itt_path)
        txt = norm(extract_text(itt_path))
        for q in ITT_Q[m["itt"]]:
            if norm(q) not in txt:
                errors.append(f"{itt_path.name}: question missing: {q}")
    for itt, outs in outcomes.items():
        if outs != {"won", "lost"}:
            errors.append(f"{itt}: outcomes {outs}")
    return errors


def check_questions() -> list[str]:
    """Verify every reference_context appears verbatim (whitespace-normalised) in its sources."""
    errors = []
    cache: dict[str, str] = {}
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        q = json.loads(line)
        if set(q) != {"question", "reference", "reference_contexts", "reference_sources", "answerable"}:
            errors.append(f"line {n}: bad keys")
        if not q["answerable"]:
            if q["reference"] or q["reference_contexts"] or q["reference_sources"]:
                errors.append(f"line {n}: unanswerable question has references")
            continue
        if not q["reference"] or not q["reference_contexts"] or not q["reference_sources"]:
            errors.append(f"line {n}: answerable question lacks references")
        for src in q["reference_sources"]:
            if src not in cache:
                p = CORPUS / src
                if not p.exists():
                    errors.append(f"line {n}: missing source {src}")
                    cache[src] = ""
                    continue
                cache[src] = norm(extract_text(p))
        for ctx in q["reference_contexts"]:
            if not any(norm(ctx) in cache.get(s, "") for s in q["reference_sources"]):
                errors.append(f"line {n}: context not found in {q['reference_sources']}: {ctx[:80]!r}")
    return errors


# ===========================================================================
# EVALUATION QUESTIONS
# ===========================================================================
AR24 = "annual_reports/annual-report-2024.pdf"
AR23 = "annual_reports/annual-report-2023.pdf"


def qa(question: str, reference: str, contexts: list[str], sources: list[str]) -> dict:
    return {"question": question, "reference": reference, "reference_contexts": contexts,
            "reference_sources": sources, "answerable": True}


def unanswerable(question: str) -> dict:
    return {"question": question, "reference": "", "reference_contexts": [], "reference_sources": [],
            "answerable": False}


QUESTION_SET = [
    # --- annual reports -------------------------------------------------------
    qa("What was our total revenue according to the latest annual report?",
       "The Annual Report 2024 (year ended 31 March 2024) reports revenue of £46.7 million, up 22.3% from £38.2 million.",
       ["Revenue grew by 22.3% to £46.7 million."], [AR24]),
    qa("What operating margin did we make in FY2023/24, and what drove the improvement?",
       "Operating margin was 10.9%, up from 10.2%, because delivery staff utilisation rose to 82% from 79% and contractors fell from 14% to 9% of delivery days.",
       ["Operating margin improved to 10.9% from 10.2%.",
        "Utilisation of our delivery staff rose to 82% from 79%. We also cut contractors from 14% of delivery days to 9%."],
       [AR24]),
    qa("How much revenue did the health business bring in last financial year?",
       "Health revenue was £18.6 million in FY2023/24, up 24.8%, making it the fastest-growing sector (39.8% of group revenue).",
       ["Health revenue grew by 24.8% to £18.6 million."], [AR24]),
    qa("Who replaced Alan Pierce as CFO, and when did they start?",
       "Tom Whitaker became Chief Financial Officer on 1 September 2023, succeeding Alan Pierce, who retired after nine years as CFO.",
       ["Tom Whitaker joined as Chief Financial Officer on 1 September 2023. Tom succeeds Alan Pierce, who retired after nine years as our CFO."],
       [AR24, "internal_comms/2023-08-21-email-new-cfo.txt"]),
    qa("How big was our contracted order book at the end of March 2024?",
       "The contracted order book was £61 million at 31 March 2024, up from £48 million a year earlier; £29 million is expected to be delivered in FY2024/25.",
       ["Our contracted order book stood at £61 million at 31 March 2024 (31 March 2023: £48 million)."], [AR24]),
    qa("What revenue growth is the board expecting for FY2024/25?",
       "The board expects revenue growth of between 12% and 15% in FY2024/25.",
       ["The board expects revenue growth of between 12% and 15% in FY2024/25."], [AR24]),
    qa("Does the company have any bank debt?",
       "No. Calderbrook has no bank borrowings; its £5 million revolving credit facility with Pennine Commercial Bank was undrawn and has been renewed until January 2027.",
       ["We have no bank borrowings. Our £5 million revolving credit facility with Pennine Commercial Bank was undrawn throughout the year."],
       [AR24]),
    qa("What are our net zero targets?",
       "Net zero for scope 1 and 2 emissions by 2030 and across all scopes by 2040. Scope 1 and 2 emissions were 212 tonnes CO2e in FY2023/24.",
       ["We aim to reach net zero for scopes 1 and 2 by 2030, and across all scopes by 2040."], [AR24]),
    qa("How many people were in the justice team at the end of FY2023/24?",
       "198 people worked in the justice team at 31 March 2024.",
       ["At 31 March 2024, 198 of our people worked in the justice team."], [AR24]),
    qa("What are the company's priorities for FY2024/25?",
       "Deepen health data work across integrated care systems, grow the Glasgow office to 60 people by March 2026, and make responsible AI a standard part of every data service.",
       ["Deepen our health data work across integrated care systems.", "Grow our Glasgow office to 60 people by March 2026."],
       [AR24]),
    qa("How many bookings did the prison visits service handle last year?",
       "The Prison Visits Booking Service handled 1.2 million visit bookings in FY2023/24, with 99.95% availability.",
       ["The service handled 1.2 million visit bookings in FY2023/24, with 99.95% availability."], [AR24]),
    qa("What was our staff turnover in the most recent year?",
       "Voluntary staff turnover fell to 11.8% in FY2023/24, from 14.2% in FY2022/23.",
       ["Voluntary staff turnover fell to 11.8% from 14.2%."], [AR24]),
    qa("Which lots of the Northvale ICB programme did we win?",
       "Lot 1 (Shared Care Record Integration, £3.6 million) and Lot 3 (Population Health Analytics, £1.5 million), announced in June 2024; we lost Lot 2, the Patient Portal.",
       ["Lot 1, Shared Care Record Integration, is worth £3.6 million. Lot 3, Population Health Analytics, is worth £1.5 million. We were not successful on Lot 2, the Patient Portal."],
       [AR24]),
    qa("How much was the Aldermoor clinical data warehouse contract worth and when did we win it?",
       "Aldermoor NHS Foundation Trust awarded Calderbrook Lot B, a £2.9 million clinical data warehouse, in November 2023.",
       ["In November 2023 Aldermoor NHS Foundation Trust awarded us Lot B of its tender, a £2.9 million clinical data warehouse."],
       [AR24]),
    qa("What was revenue in FY2021/22?",
       "Revenue in FY2021/22 was £31.5 million; it rose 21.3% to £38.2 million in FY2022/23.",
       ["Revenue rose by 21.3% to £38.2 million (FY2021/22: £31.5 million)."], [AR23]),
    qa("When did we open the Glasgow office?",
       "The Glasgow office, the fifth office, opened in September 2022.",
       ["We opened our fifth office, in Glasgow, in September 2022."], [AR23, "kms/offices.csv"]),
    qa("By how much did justice revenue grow in FY2022/23?",
       "Justice revenue grew by 18.3% to £16.8 million in FY2022/23.",
       ["Justice revenue grew by 18.3% to £16.8 million."], [AR23]),
    # --- knowledge base -------------------------------------------------------
    qa("How many days of annual leave will I get once I've been here four full years?",
       "29 days plus the 8 bank holidays: the base is 27 days, plus one extra day for every two full years of service, up to a maximum of 30.",
       ["Every full-time employee gets 27 days of annual leave a year, plus the 8 UK bank holidays.",
        "You get one extra day after every two full years of service, up to a maximum of 30 days."],
       ["kms/leave-and-time-off.md"]),
    qa("Can I roll unused holiday over into the next leave year?",
       "Yes, up to 5 unused days, which must be taken by 30 June or they are lost (unless sickness or parental leave prevented it).",
       ["You can carry over up to 5 unused days into the next leave year. You must take carried-over days by 30 June."],
       ["kms/leave-and-time-off.md"]),
    qa("How much paid leave does a partner get when their baby is born?",
       "Partners get 6 weeks on full pay, from their first day of employment.",
       ["Partners get 6 weeks on full pay."], ["kms/leave-and-time-off.md"]),
    qa("What is the most I can spend on a hotel for a night in London?",
       "£160 a night in London including breakfast (£110 elsewhere in the UK); going over needs Managing Director approval in advance.",
       ["The nightly cap for hotels is £160 in London and £110 everywhere else in the UK, including breakfast."],
       ["kms/travel-and-expenses-policy.md"]),
    qa("Am I allowed to go first class on the train for a long client trip?",
       "Only if first class is cheaper than standard at booking, or a Managing Director approves it in advance for a journey of more than 3 hours.",
       ["First class is allowed only if it is cheaper than standard class at the time of booking, or if a Managing Director approves it in advance for a journey of more than 3 hours."],
       ["kms/travel-and-expenses-policy.md"]),
    qa("What mileage rate can I claim for using my own car?",
       "45p a mile for the first 10,000 business miles in the tax year, then 25p a mile; the normal commute cannot be claimed.",
       ["claim 45p a mile for the first 10,000 business miles in the tax year and 25p a mile after that."],
       ["kms/travel-and-expenses-policy.md"]),
    qa("How long do I have to put in an expense claim?",
       "Claims must be submitted in Ledgerline within 60 days of spending the money; older claims are not paid.",
       ["Submit claims within 60 days of spending the money. We do not pay claims older than 60 days."],
       ["kms/travel-and-expenses-policy.md"]),
    qa("I've lost my work laptop. How fast do I need to report it, and to whom?",
       "Within 1 hour, to the security desk on extension 4400 or security@calderbrook.co.uk.",
       ["Report any suspected security incident within 1 hour of noticing it. Call the security desk on extension 4400 or email security@calderbrook.co.uk."],
       ["kms/information-security-essentials.md"]),
    qa("How long do passwords have to be?",
       "At least 14 characters, stored in the company password manager.",
       ["Passwords must be at least 14 characters long."], ["kms/information-security-essentials.md"]),
    qa("When did we transition to ISO 27001:2022, and who certifies us?",
       "Calderbrook moved to ISO/IEC 27001:2022 in November 2023 (first certified to ISO 27001 in 2016); the certification body is Arden Assurance Ltd.",
       ["In November 2023 we moved to the new ISO/IEC 27001:2022 standard.", "Our certification body is Arden Assurance Ltd."],
       ["kms/certifications-and-accreditations.md"]),
    qa("What result did we get in our most recent NHS Data Security and Protection Toolkit assessment?",
       "The 2023-24 DSPT submission was assessed as Standards Met, published in June 2024.",
       ["Our 2023-24 Data Security and Protection Toolkit submission was assessed as Standards Met. It was published in June 2024."],
       ["kms/certifications-and-accreditations.md"]),
    qa("What availability do we normally promise for services we run, and when is our service desk staffed?",
       "The standard availability target is 99.9%, and the Leeds service desk works 24 hours a day, 7 days a week.",
       ["Our service desk in Leeds works 24 hours a day, 7 days a week. Our standard availability target is 99.9%."],
       ["kms/our-services.md"]),
    qa("Do we sell our own software products or hardware?",
       "No. Calderbrook does not resell hardware or build its own commercial software products; it builds services that clients own.",
       ["We do not resell hardware. We do not build our own commercial software products; we build services that our clients own."],
       ["kms/our-services.md"]),
    qa("How many people work in the Cardiff office and who is the office lead?",
       "52 people at 31 March 2024; the Cardiff office lead is Rhys Morgan.",
       ['Cardiff,"Suite 3, 9 Bute Terrace, Cardiff CF10 2FE",2019,52,Rhys Morgan'], ["kms/offices.csv"]),
    qa("What's the address of the London office?",
       "2nd Floor, 17 Farringdon Yard, London EC1M 3JT (opened 2016).",
       ['London,"2nd Floor, 17 Farringdon Yard, London EC1M 3JT",2016'], ["kms/offices.csv"]),
    qa("What do we charge per day for a senior software engineer this year?",
       "£820 a day excluding VAT on the 2024-25 rate card (up from £790 in 2023-24).",
       ["Senior software engineer | 4 | 820 | 790"], ["kms/rate-card-and-frameworks-2024-25.xlsx"]),
    qa("When does our place on the Justice Technology Partners Framework expire?",
       "On 31 May 2025; Calderbrook holds Lot 1 Service design and build (supplier reference CJDA-JTPF-031), which started on 1 June 2021.",
       ["Justice Technology Partners Framework (JTPF) | Crown Justice Digital Agency | Lot 1 Service design and build | CJDA-JTPF-031 | 2021-06-01 | 2025-05-31"],
       ["kms/rate-card-and-frameworks-2024-25.xlsx"]),
    # --- internal comms ---------------------------------------------------------
    qa("How many days a week are we expected to be in the office now, and since when?",
       "From 1 May 2024, at least 2 days a week in a Calderbrook office or at a client site.",
       ["From 1 May 2024, we ask everyone to spend at least 2 days a week in one of our offices or at a client site."],
       ["internal_comms/2024-04-10-memo-hybrid-working.md"]),
    qa("Which app do we use to book a desk, and when did it become available?",
       "Perch, the desk booking app, available from 22 April 2024.",
       ["Book a desk in Perch, our new desk booking app, from 22 April 2024."],
       ["internal_comms/2024-04-10-memo-hybrid-working.md"]),
    qa("What was the click rate in the most recent phishing simulation?",
       "7.9% of staff clicked the link in the July 2024 phishing test, down from 12.4% a year earlier.",
       ["In our last quarterly phishing test, in July 2024, 7.9% of people clicked the link. That is down from 12.4% in the same test a year ago."],
       ["internal_comms/2024-09-02-email-security-training.txt", "training/security-awareness-2024.pptx"]),
    qa("What happens if I don't finish the 2024 security training on time?",
       "The deadline is 30 September 2024; after that, laptop access is limited to email and the Learning Hub from 1 October 2024 until the course is finished.",
       ["Your laptop access will be limited to email and the Learning Hub from 1 October 2024 until you finish the course."],
       ["internal_comms/2024-09-02-email-security-training.txt"]),
    qa("Where did our CFO work before he joined us?",
       "Tom Whitaker was Finance Director at Wharfedale Engineering plc for six years, and before that spent eight years at a large accountancy firm.",
       ["Tom was Finance Director at Wharfedale Engineering plc for six years."],
       ["internal_comms/2023-08-21-email-new-cfo.txt"]),
    qa("What is Project Kestrel?",
       "Project Kestrel is the confidential proposed acquisition of Orrin Analytics Ltd, a 45-person health data company in Bristol that builds population health models for integrated care boards.",
       ["The board has approved us to negotiate the acquisition of Orrin Analytics Ltd under the code name Project Kestrel. Orrin is a health data company in Bristol with 45 staff."],
       ["internal_comms/2024-06-17-memo-project-kestrel-confidential.md"]),
    qa("How much are we planning to pay for Orrin Analytics, and when should the deal complete?",
       "£6.5 million: £5.0 million in cash at completion plus a £1.5 million earn-out over two years; target completion is 31 December 2024.",
       ["The proposed price is £6.5 million. We would pay £5.0 million in cash at completion",
        "Target completion: 31 December 2024."],
       ["internal_comms/2024-06-17-memo-project-kestrel-confidential.md"]),
    qa("What is the budget for this year's pay review, and when do pay rises take effect?",
       "4.5% of the £28.4 million salary bill, i.e. £1.28 million a year, with increases effective from 1 October 2024.",
       ["Pay review budget: 4.5% of the salary bill. Our salary bill at 1 July 2024 is £28.4 million, so the budget is £1.28 million a year.",
        "Effective date: increases take effect from 1 October 2024 and are paid in the October payroll."],
       ["internal_comms/2024-07-29-email-pay-review-2024-confidential.txt"]),
    # --- marketing ---------------------------------------------------------------
    qa("What did our probation research find about how much time practitioners lose to re-keying data?",
       "Some probation practitioners spend up to a third of their week re-keying information, typing the same facts into as many as five systems (from 126 research sessions in nine regions).",
       ["Some spend up to a third of their week re-keying information."],
       ["marketing/blog-probation-practitioners-paperwork.html"]),
    qa("How quickly could practitioners find information using the new case summary page in alpha?",
       "In early alpha tests they found what they needed in under a minute, compared with up to eight minutes before.",
       ["In early tests, practitioners found the information they needed in under a minute. Before, it took them up to eight minutes."],
       ["marketing/blog-probation-practitioners-paperwork.html"]),
    qa("What phone number is on our website for new enquiries?",
       "The Leeds office on 0113 496 0270, or email hello@calderbrook.co.uk.",
       ["Email hello@calderbrook.co.uk or call our Leeds office on 0113 496 0270."], ["marketing/about-calderbrook.html"]),
    qa("Which figures did Priya highlight in her LinkedIn post on the 2024 results?",
       "£46.7 million revenue (up 22.3%), a 41% bid win rate (up from 34%) and 1,850 hours of volunteering.",
       ["£46.7 million revenue, up 22.3%.", "41% of our bids won, up from 34%."],
       ["marketing/linkedin-post-2024-results.html"]),
    # --- training --------------------------------------------------------------
    qa("What go/no-go score do we need before we can bid?",
       "At least 14 out of 20 on the go/no-go scorecard, plus at least two relevant case studies with figures, a contract value of at least £250,000 and a named delivery lead.",
       ["Bid only if the scorecard total is at least 14 out of 20."], ["training/bid-writing-handbook.docx"]),
    qa("Who needs to sign off a bid discount bigger than 10% off the rate card?",
       "The Chief Financial Officer.",
       ["Any discount of more than 10% off the rate card needs approval from the Chief Financial Officer."],
       ["training/bid-writing-handbook.docx"]),
    qa("What feedback did evaluators give on our losing Lot 2 probation bid?",
       "Evaluators said the May 2023 Lot 2 answers could have been written by any supplier, while the same team won Lot 1 with specific, evidenced answers.",
       ["Evaluator feedback on our Lot 2 bid for the Crown Justice Digital Agency in May 2023 said our answers \"could have been written by any supplier\"."],
       ["training/bid-writing-handbook.docx"]),
    qa("What's the pass mark on the security awareness quiz?",
       "8 out of 10 on the 10-question quiz in the Learning Hub; it can be retaken.",
       ["Pass mark: 8 out of 10"], ["training/security-awareness-2024.pptx"]),
    qa("Which AI tool am I allowed to use for work content?",
       "Beacon, Calderbrook's approved internal assistant, which runs in the UK-hosted secure enclave; client data must never go into public AI tools.",
       ["Use Beacon, our approved internal assistant, for work content",
        "Beacon runs in our UK-hosted secure enclave and does not send data to public AI services."],
       ["training/security-awareness-2024.pptx"]),
    # --- tone guide -------------------------------------------------------------
    qa("Which words are we not allowed to use in bids and marketing?",
       "The banned words are leverage, synergy, best-in-class, world-class, cutting-edge, seamless, holistic, robust, end-to-end, paradigm, going forward, utilise, empower, innovative, solution and stakeholder.",
       ["Do not use them: leverage, synergy, best-in-class, world-class, cutting-edge, seamless, holistic, robust, end-to-end, paradigm, going forward, utilise, empower, innovative, solution, stakeholder."],
       ["tone/tone-of-voice-guide.md"]),
    qa("In Promise - Proof - Payoff, what must the proof contain?",
       "Proof must include a named client, a number and a date.",
       ["Proof must include a named client, a number and a date."], ["tone/tone-of-voice-guide.md"]),
    qa("How long should sentences be in our house style?",
       "Aim for 15 words on average and never go past 25 words.",
       ["Aim for 15 words on average. Never go past 25 words."], ["tone/tone-of-voice-guide.md"]),
    # --- case studies -----------------------------------------------------------
    qa("How much money does the prison visits booking service save the justice agency?",
       "The Crown Justice Digital Agency saves £1.1 million a year in call handling costs; booking time fell from 14 minutes to 3.",
       ["The agency saves £1.1 million a year in call handling costs."], ["case_studies/cs-prison-visits-booking.pdf"]),
    qa("What share of prison visits were booked online after the new service launched?",
       "92% by March 2022, up from 35%.",
       ["By March 2022, 92% of visits were booked online, up from 35%."], ["case_studies/cs-prison-visits-booking.pdf"]),
    qa("What results did the Aldermoor discharge dashboard deliver?",
       "In the first six months (February to August 2023) delayed discharge days fell by 18% and the trust freed 1,240 bed days; 310 staff on 22 wards use it daily.",
       ["Delayed discharge days fell by 18% in the first six months. The trust freed 1,240 bed days over the same period."],
       ["case_studies/cs-aldermoor-discharge-dashboard.docx"]),
    qa("How much admin time does the Kelbridge youth justice app save caseworkers?",
       "About 6 hours of admin per caseworker per week, measured in February 2023; 95% of visit notes are now recorded the same day, up from 60%.",
       ["Each caseworker saves about 6 hours of admin a week."], ["case_studies/cs-kelbridge-youth-justice-app.md"]),
    qa("How many assistance bookings did the Midland Rail app take in its first six months?",
       "41,000 assistance journeys between February and August 2023, with a median booking time of 1 minute 48 seconds.",
       ["Passengers booked 41,000 assistance journeys through the app."], ["case_studies/cs-midland-rail-passenger-assist.md"]),
    # --- ITTs ---------------------------------------------------------------------
    qa("When was the Northvale ICB tender due, and how was it weighted?",
       "ITT-NVICB-2024-007 closed at 12:00 on 26 April 2024, weighted 60% quality, 30% price and 10% social value.",
       ["Deadline for tenders: 12:00 on 26 April 2024.", "Quality: 60%. Price: 30%. Social value: 10%."],
       ["itts/itt-nvicb-2024-007-digital-care-programme.pdf"]),
    qa("Why was the Northshire youth justice data platform tender run twice?",
       "The contract awarded in September 2023 ended by mutual agreement in December 2023, so Northshire County Council re-issued ITT-NSC-2023-031 on 19 January 2024 with the same questions and value, closing 23 February 2024.",
       ["The contract awarded in September 2023 ended by mutual agreement in December 2023. The Council is now re-issuing the ITT under the same reference, with the same questions and the same contract value."],
       ["itts/itt-nsc-2023-031-youth-justice-data-platform.docx"]),
    qa("What security clearance did the probation case management tender require?",
       "All supplier staff with access to offender data must hold SC clearance before starting; data must stay in the UK and suppliers need ISO 27001 and Cyber Essentials Plus.",
       ["All supplier staff with access to offender data must hold Security Check (SC) clearance before they start."],
       ["itts/itt-cjda-2023-014-probation-case-management.pdf"]),
    qa("How many beds and staff does Aldermoor NHS Foundation Trust have, according to its tender?",
       "Two hospitals with 780 beds and 6,200 staff.",
       ["Aldermoor NHS Foundation Trust runs two hospitals with 780 beds and employs 6,200 staff."],
       ["itts/itt-amt-2023-022-epr-and-data-warehouse.docx"]),
    # --- bids ---------------------------------------------------------------------
    qa("What price did we offer Northshire County Council in the youth justice re-tender?",
       "A fixed price of £1,760,000 (build £1,120,000 plus live running and handover £640,000), £140,000 below the £1.9 million contract value.",
       ["We will deliver the whole contract for a fixed price of £1,760,000, which is £140,000 below the £1.9 million contract value."],
       ["bids/bid-itt-nsc-2023-031-round2.docx"]),
    qa("What commercial model did we propose in our first, unsuccessful Northshire bid?",
       "A flexible time-and-materials model based on standard day rates, with no fixed price.",
       ["We propose a flexible time-and-materials commercial model based on our standard day rates"],
       ["bids/bid-itt-nsc-2023-031-round1.docx"]),
    qa("Who did we name as lead Clinical Safety Officer in the Northvale bids?",
       "Dr Ravi Menon, Lead Clinical Safety Officer and one of the company's six accredited Clinical Safety Officers.",
       ["Dr Ravi Menon, our Lead Clinical Safety Officer, will own the DCB0129 clinical safety case."],
       ["bids/bid-itt-nvicb-2024-007-lot1-shared-care-record.docx", "bids/bid-itt-nvicb-2024-007-lot3-population-health.docx"]),
    qa("How much user research did we commit to in the winning probation discovery bid?",
       "At least 100 research sessions in at least 8 of the 12 probation regions in the first 20 weeks.",
       ["we will run at least 100 research sessions in at least 8 of the 12 regions in the first 20 weeks."],
       ["bids/bid-itt-cjda-2023-014-lot1-discovery-alpha.docx"]),
    qa("What social value commitments did we make in the probation Lot 1 bid?",
       "2 apprenticeships in Leeds, 150 volunteering hours for the charity Second Chapter, 2 paid work placements for people on probation, and at least 30% of third-party spend with small businesses.",
       ["Create 2 apprenticeships in our Leeds office for the length of the contract.",
        "Give 150 volunteering hours to Second Chapter, a charity that teaches reading to prison leavers."],
       ["bids/bid-itt-cjda-2023-014-lot1-discovery-alpha.docx"]),
    qa("Which interoperability standards did we propose for the Northvale shared care record?",
       "HL7 FHIR R4 with UK Core profiles, NHS number verification against the Personal Demographics Service, GP Connect, SNOMED CT and dm+d.",
       ["Use HL7 FHIR R4 and the UK Core profiles for every new interface.",
        "Use GP Connect to bring in records from all 142 GP practices."],
       ["bids/bid-itt-nvicb-2024-007-lot1-shared-care-record.docx"]),
    qa("In the Aldermoor data warehouse bid, when was the first data mart due and what would it cover?",
       "The emergency care data mart, due in March 2024, three months after the January 2024 start.",
       ["Your first data mart, for emergency care, will be live in March 2024, three months after we start."],
       ["bids/bid-itt-amt-2023-022-lotB-clinical-data-warehouse.docx"]),
    qa("How did our losing Northvale patient portal bid describe its technical approach?",
       "It proposed a modern, cloud-native microservices architecture integrating via FHIR and NHS login, possibly on a low-code platform, without specific evidence or figures.",
       ["Our technical solution will be based on a modern, cloud-native, microservices architecture that is scalable, secure and resilient."],
       ["bids/bid-itt-nvicb-2024-007-lot2-patient-portal.pdf"]),
    qa("Which risks did we list in our Aldermoor EPR optimisation (Lot A) bid?",
       "The Lot A bid listed lack of clinical engagement, dependencies on the EPR supplier, data quality issues and resource constraints, managed through a risk register.",
       ["We have identified a number of potential risks, including lack of clinical engagement, dependencies on the EPR supplier, data quality issues and resource constraints."],
       ["bids/bid-itt-amt-2023-022-lotA-epr-optimisation.docx"]),
    qa("Did our probation Lot 2 bid name the team members we would provide?",
       "No. The Lot 2 bid offered a blended multidisciplinary team and said key personnel would be confirmed at contract award.",
       ["Key personnel will be confirmed at contract award."],
       ["bids/bid-itt-cjda-2023-014-lot2-beta-live.docx"]),
    # --- unanswerable -----------------------------------------------------------
    unanswerable("What is Priya Raman's annual salary?"),
    unanswerable("What was Calderbrook's revenue in FY2020/21?"),
    unanswerable("What actual revenue did Calderbrook report for the year ended 31 March 2025?"),
    unanswerable("How much does the company pay into employees' pensions?"),
    unanswerable("Who is Calderbrook's own Data Protection Officer?"),
    unanswerable("What is Calderbrook's gender pay gap?"),
    unanswerable("Which supplier won Lot 2 of the probation case management tender?"),
    unanswerable("What score did the evaluators give our Northvale Lot 1 bid?"),
    unanswerable("How much did the Crown Justice Digital Agency pay for the Prison Visits Booking Service build?"),
    unanswerable("What were our scope 3 emissions in FY2023/24?"),
    unanswerable("Does Calderbrook offer paid sabbaticals after five years' service?"),
]


def write_questions() -> None:
    with QUESTIONS.open("w", encoding="utf-8", newline="\n") as fh:
        for q in QUESTION_SET:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")


# ===========================================================================
# MAIN
# ===========================================================================


def build_all() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    CORPUS.mkdir(parents=True)
    build_annual_reports()
    build_kms()
    build_internal_comms()
    build_tone()
    build_marketing()
    build_training()
    build_case_studies()
    build_itts()
    build_bids()
    write_questions()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the existing corpus and questions")
    args = ap.parse_args()
    if not args.check:
        build_all()
    errors = check_metadata() + check_bids() + check_questions()
    files = corpus_files()
    size = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    n_ans = sum(1 for q in QUESTION_SET if q["answerable"])
    print(f"{len(files)} documents, {size / 1024:.0f} KiB; "
          f"{len(QUESTION_SET)} questions ({n_ans} answerable, {len(QUESTION_SET) - n_ans} unanswerable)")
    if errors:
        print("CHECK FAILED:")
        for e in errors:
            print("  -", e)
        return 1
    print("All checks passed: metadata complete, bid questions verbatim, every reference context found in its source.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
