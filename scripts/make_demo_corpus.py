#!/usr/bin/env python
"""Generate the demo corpus for the enterprise assistant.

The corpus describes one fictional UK company, Calderbrook Digital Ltd.
The fact sheet that every document follows lives in assistant/demo/README.md.

Usage:
    python scripts/make_demo_corpus.py              # (re)write corpus + questions, then check
    python scripts/make_demo_corpus.py --check      # only run the checks
    python scripts/make_demo_corpus.py --out DIR    # write DIR/corpus and DIR/questions.jsonl instead, then check

The text lives in scripts/demo_corpus/: manifest.yaml names every output file, its writer (by suffix),
its metadata and its data file; itt_questions.yaml and questions.yaml hold the ITT and evaluation
questions. This script only reads that data and writes it out. Output is deterministic: fixed document
metadata, fixed zip timestamps for DOCX/PPTX/XLSX, fixed PDF creation dates.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import json
import re
import shutil
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "demo_corpus"
DEMO = ROOT / "assistant" / "demo"

AUTHOR = "Calderbrook Digital Ltd"
FIXED_TS = dt.datetime(2024, 10, 1, 9, 0, 0, tzinfo=dt.UTC)

# ---------------------------------------------------------------------------
# Mini mark-up used for long documents (PDF / DOCX)
#   # H1, ## H2, ### H3, "- " bullet, "| a | b |" table rows (first = header),
#   "===" page break, blank line = paragraph break.
# ---------------------------------------------------------------------------


def parse_blocks(text: str) -> list[tuple[str, Any]]:
    blocks: list[tuple[str, Any]] = []
    para: list[str] = []
    table: list[list[str]] = []

    def flush_para() -> None:
        if para:
            blocks.append(("p", " ".join(s.strip() for s in para)))
            para.clear()

    def flush_table() -> None:
        if table:
            blocks.append(("table", [r[:] for r in table]))
            table.clear()

    for raw in text.strip("\n").splitlines():
        s = raw.strip()
        if not s.startswith("|"):
            flush_table()
        if s in ("", "===") or s.startswith(("|", "# ", "## ", "### ", "- ")):
            flush_para()  # anything but running text ends the paragraph
        if s.startswith("|"):
            table.append([c.strip() for c in s.strip("|").split("|")])
        elif s == "===":
            blocks.append(("page", None))
        elif s.startswith(("# ", "## ", "### ")):
            level, _, head = s.partition(" ")
            blocks.append((f"h{len(level)}", head))
        elif s.startswith("- "):
            blocks.append(("bullet", s[2:]))
        elif s:
            para.append(s)
    flush_para()
    flush_table()
    return blocks


# ---------------------------------------------------------------------------
# Writers. Every one pins the metadata a library would otherwise stamp with "now",
# so that a rerun reproduces the committed files byte for byte.
# ---------------------------------------------------------------------------


def _check_latin1(text: str, where: str) -> None:
    # The PDF core fonts only cover latin-1; fail loudly rather than write a broken glyph.
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:  # pragma: no cover - authoring error
        raise SystemExit(f"non latin-1 character in {where}: {text[exc.start - 20: exc.end + 20]!r}") from exc


# heading level -> font size, line height, space before, space after (mm)
_PDF_HEADINGS = {"h1": (17, 8, 3, 2), "h2": (13, 7, 2, 1), "h3": (11, 6, 1, 0)}


def write_pdf(path: Path, text: str, *, title: str, footer: str) -> None:
    from fpdf import FPDF

    _check_latin1(text, str(path))

    class Doc(FPDF):
        def footer(self) -> None:
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
        if kind in ("h2", "h3") and pdf.get_y() > pdf.h - 55:  # no heading stranded at the foot of a page
            pdf.add_page()
        if kind in _PDF_HEADINGS:
            size, height, before, after = _PDF_HEADINGS[kind]
            pdf.set_font("Helvetica", "B", size)
            if kind != "h1" or not first:  # a page's first title sits on the top margin
                pdf.ln(before)
            pdf.multi_cell(0, height, val, new_x="LMARGIN", new_y="NEXT")
            if after:
                pdf.ln(after)
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


def _fixed_core(props: Any, title: str) -> None:
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


def write_pptx(path: Path, slides: list[dict[str, Any]], *, title: str) -> None:
    """First slide is a title slide (title, subtitle); the rest are title + bullets; any slide may have notes."""
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


def write_xlsx(path: Path, sheets: list[dict[str, Any]], *, title: str) -> None:
    """Each sheet is {name, rows}; the first row is the header, set in bold."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.properties.title = title
    wb.properties.creator = AUTHOR
    wb.properties.created = FIXED_TS.replace(tzinfo=None)
    wb.properties.modified = FIXED_TS.replace(tzinfo=None)
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(sheet["name"])
        for r in sheet["rows"]:
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


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False),
                    encoding="utf-8", newline="\n")


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


# ---------------------------------------------------------------------------
# Data: scripts/demo_corpus/
# ---------------------------------------------------------------------------


def load_data(rel: str) -> Any:
    return yaml.safe_load((DATA / rel).read_text(encoding="utf-8"))


@cache
def itt_questions() -> dict[str, list[dict[str, Any]]]:
    """ITT reference -> its questions, each {text, max_words, weight}."""
    return load_data("itt_questions.yaml")


def questions_block(ref: str) -> str:
    """The question list of an ITT, in mini mark-up; fills "{questions}" in the ITT's text."""
    lines = []
    for q in itt_questions()[ref]:
        limits = f"Maximum {q['max_words']} words. Weighting: {q['weight']}% of the quality score."
        lines += [f"### {q['text']}", "", limits, ""]
    return "\n".join(lines)


_SECTION = re.compile(r"^## (Summary|Q\d+)[ \t]*$", re.M)


def bid_text(ref: str, source: str) -> str:
    """A bid in mini mark-up: the house header, the summary, then each answer under its ITT question verbatim.

    The source is YAML front matter (heading, lot_line, submitted, contact) between "---" lines, then a
    "## Summary" section and one "## Q1", "## Q2".. section per ITT question. Writing the question text
    here, not in the source, is what keeps every bid's headings identical to its ITT's.
    """
    _, front, body = source.split("---\n", 2)
    head = yaml.safe_load(front)
    parts = _SECTION.split(body)
    names, texts = parts[1::2], [t.strip() for t in parts[2::2]]
    qs = itt_questions()[ref]
    if names != ["Summary"] + [f"Q{i}" for i in range(1, len(qs) + 1)] or parts[0].strip():
        raise SystemExit(f"bid for {ref}: sections {names} do not match its {len(qs)} ITT questions")
    out = [
        f"# {head['heading']}",
        f"Response to {ref}. {head['lot_line']}",
        "",
        f"Submitted by Calderbrook Digital Ltd, 3 Calder Quay, Leeds LS1 4BR, on {head['submitted']}. "
        f"Contact: {head['contact']}.",
        "",
        "## Summary",
        texts[0],
        "",
    ]
    for q, answer in zip(qs, texts[1:], strict=True):
        out += [f"## {q['text']}", answer, ""]
    return "\n".join(out)


def write_entry(corpus: Path, folder: str, doc_type: str, entry: dict[str, Any]) -> Path:
    """Write one corpus file and its sidecar from a manifest entry; returns the data file it read."""
    src = DATA / folder / entry["source"]
    out = corpus / folder / entry["file"]
    meta = entry["meta"]
    title = entry.get("title", meta["title"])
    kind = out.suffix.lower()
    text = src.read_text(encoding="utf-8")
    if kind == ".pptx":
        write_pptx(out, yaml.safe_load(text), title=title)
    elif kind == ".xlsx":
        write_xlsx(out, yaml.safe_load(text), title=title)
    else:
        if doc_type == "itt":
            text = text.replace("{questions}", questions_block(meta["itt"]))
        elif doc_type == "bid":
            text = bid_text(meta["itt"], text)
        if kind == ".pdf":
            write_pdf(out, text, title=title, footer=entry["footer"])
        elif kind == ".docx":
            write_docx(out, text, title=title)
        elif kind == ".html":
            write_text(out, md_html(title, text, description=meta["title"]))
        else:
            write_text(out, text)
    write_yaml(out.with_name(out.name + ".meta.yaml"), meta)
    return src


def build(demo: Path) -> None:
    corpus = demo / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    used = {DATA / "manifest.yaml", DATA / "itt_questions.yaml", DATA / "questions.yaml"}
    for folder, spec in load_data("manifest.yaml").items():
        write_yaml(corpus / folder / "_meta.yaml", {"doc_type": spec["doc_type"]})
        used |= {write_entry(corpus, folder, spec["doc_type"], e) for e in spec["files"]}
    # A data file the manifest does not name would be edited in vain: refuse it.
    unused = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("[!.]*") if p.is_file() and p not in used)
    if unused:
        raise SystemExit(f"data files not named in manifest.yaml: {unused}")
    with (demo / "questions.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for q in load_data("questions.yaml"):
            answerable = q.get("answerable", True)
            row = {"question": q["question"], "reference": q.get("reference", ""),
                   "reference_contexts": q.get("reference_contexts", []),
                   "reference_sources": q.get("reference_sources", []), "answerable": answerable}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------
# Text extraction and checks, run on the written files
# ---------------------------------------------------------------------------


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
        cells = [" | ".join(c.text for c in row.cells) for t in d.tables for row in t.rows]
        return "\n".join([p.text for p in d.paragraphs] + cells)
    if suf == ".pptx":
        from pptx import Presentation

        parts = []
        for slide in Presentation(str(path)).slides:
            parts += [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
            if slide.has_notes_slide:
                parts.append(slide.notes_slide.notes_text_frame.text)
        return "\n".join(parts)
    if suf == ".xlsx":
        import openpyxl

        parts = []
        for ws in openpyxl.load_workbook(str(path), read_only=True).worksheets:
            parts.append(ws.title)
            parts += [" | ".join("" if v is None else str(v) for v in row) for row in ws.iter_rows(values_only=True)]
        return "\n".join(parts)
    if suf in (".html", ".htm"):
        raw = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", path.read_text(encoding="utf-8"))
        return html.unescape(re.sub(r"<[^>]+>", " ", raw))
    return path.read_text(encoding="utf-8")


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*")
                  if p.is_file() and not p.name.endswith(".meta.yaml") and p.name != "_meta.yaml")


def effective_meta(path: Path, corpus: Path) -> dict[str, Any]:
    """Metadata as the indexer merges it: _meta.yaml from the corpus root down, then the file's sidecar."""
    meta: dict[str, Any] = {}
    rel = path.parent.relative_to(corpus)
    for d in reversed([rel, *rel.parents]):
        m = corpus / d / "_meta.yaml"
        if m.exists():
            meta.update(yaml.safe_load(m.read_text(encoding="utf-8")) or {})
    side = path.with_name(path.name + ".meta.yaml")
    if side.exists():
        meta.update(yaml.safe_load(side.read_text(encoding="utf-8")) or {})
    return meta


def check_metadata(corpus: Path) -> list[str]:
    errors = []
    for p in corpus_files(corpus):
        rel = p.relative_to(corpus).as_posix()
        m = effective_meta(p, corpus)
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
            if m.get("itt") not in itt_questions():
                errors.append(f"{rel}: bad itt")
        if "groups" in m and not isinstance(m["groups"], list):
            errors.append(f"{rel}: groups must be a list")
    return errors


def check_bids(corpus: Path) -> list[str]:
    """Every bid and ITT repeats every ITT question verbatim; every ITT has won and lost bids."""
    errors = []
    outcomes: dict[str, set[str]] = {k: set() for k in itt_questions()}
    for p in corpus_files(corpus):
        m = effective_meta(p, corpus)
        if m.get("doc_type") not in ("bid", "itt") or m.get("itt") not in outcomes:
            continue
        if m["doc_type"] == "bid":
            outcomes[m["itt"]].add(m.get("outcome", ""))
        txt = norm(extract_text(p))
        for q in itt_questions()[m["itt"]]:
            if norm(q["text"]) not in txt:
                errors.append(f"{p.relative_to(corpus).as_posix()}: question missing: {q['text']}")
    for itt, outs in outcomes.items():
        if outs != {"won", "lost"}:
            errors.append(f"{itt}: outcomes {outs}")
    return errors


def check_questions(corpus: Path, questions: Path) -> list[str]:
    """Verify every reference_context appears verbatim (whitespace-normalised) in its sources."""
    errors = []
    cache: dict[str, str] = {}
    lines = questions.read_text(encoding="utf-8").splitlines()
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
                p = corpus / src
                if not p.exists():
                    errors.append(f"line {n}: missing source {src}")
                    cache[src] = ""
                    continue
                cache[src] = norm(extract_text(p))
        for ctx in q["reference_contexts"]:
            if not any(norm(ctx) in cache.get(s, "") for s in q["reference_sources"]):
                errors.append(f"line {n}: context not found in {q['reference_sources']}: {ctx[:80]!r}")
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check the existing corpus and questions")
    ap.add_argument("--out", type=Path, default=DEMO, metavar="DIR",
                    help="folder for corpus/ and questions.jsonl (default: assistant/demo)")
    args = ap.parse_args(argv)
    demo: Path = args.out.resolve()
    corpus, questions = demo / "corpus", demo / "questions.jsonl"
    if not args.check:
        build(demo)
    errors = check_metadata(corpus) + check_bids(corpus) + check_questions(corpus, questions)
    files = corpus_files(corpus)
    size = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
    qs = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines()]
    n_ans = sum(1 for q in qs if q["answerable"])
    print(f"{len(files)} documents, {size / 1024:.0f} KiB; "
          f"{len(qs)} questions ({n_ans} answerable, {len(qs) - n_ans} unanswerable)")
    if errors:
        print("CHECK FAILED:")
        for e in errors:
            print("  -", e)
        return 1
    print("All checks passed: metadata complete, bid questions verbatim, every reference context found in its source.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
