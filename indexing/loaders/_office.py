"""Office Open XML formats: DOCX (python-docx), PPTX (python-pptx), XLSX/XLSM (openpyxl)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ._common import (
    LoadError,
    Section,
    SectionBuilder,
    clean_text,
    describe,
    one_line_text,
    sensible_title,
    table_sections,
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# python-docx / python-pptx parse every XML part into memory; refuse zip bombs up front.
MAX_UNCOMPRESSED_XML = 1024**3


def check_package(path: Path, head: bytes, kind: str, *, limit_xml: bool = True) -> None:
    """Raise a clear LoadError when an OOXML file is not a sane zip package."""
    if head.startswith(_OLE_MAGIC):
        raise LoadError(f"{kind} is password-protected or in the old binary Office format "
                        f"(.doc/.xls/.ppt); save it as {path.suffix.lower()} without a password")
    if not head.startswith(b"PK"):
        raise LoadError(f"corrupt {kind}: not a zip package (renamed or damaged file?)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise LoadError(f"corrupt {kind}: {describe(exc, path)}") from None
    if limit_xml:
        xml_size = sum(i.file_size for i in infos if i.filename.lower().endswith((".xml", ".rels")))
        if xml_size > MAX_UNCOMPRESSED_XML:
            raise LoadError(f"{kind} expands to {xml_size / 1024**3:.1f} GB of XML, too large to parse")


# --------------------------------------------------------------------------- DOCX

_HEADING_STYLE_RE = re.compile(r"heading\s*(\d)")


def _iter_blocks(element, parent) -> Iterator[object]:
    """Paragraphs and tables under a body/cell element in document order, looking into content controls."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in element.iterchildren():
        tag = child.tag
        if tag == qn("w:p"):
            yield Paragraph(child, parent)
        elif tag == qn("w:tbl"):
            yield Table(child, parent)
        elif tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _iter_blocks(content, parent)
        elif tag == qn("w:customXml"):
            yield from _iter_blocks(child, parent)


def _table_rows(table) -> Iterator[str]:
    """Each row of a DOCX table as 'cell | cell | ...' (nested tables flattened into their cell)."""
    from docx.oxml.ns import qn
    from docx.text.paragraph import Paragraph

    for row in table._tbl.iterchildren(qn("w:tr")):
        cells = []
        for cell in row.iterchildren(qn("w:tc")):
            parts = []
            for block in _iter_blocks(cell, table):
                if isinstance(block, Paragraph):
                    parts.append(block.text)
                else:
                    parts.extend(_table_rows(block))
            text = one_line_text(" ".join(parts))
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)


def _heading_level(paragraph) -> int | None:
    """0 for a Title paragraph, 1-9 for headings (style or outline level), None otherwise."""
    from docx.oxml.ns import qn

    try:
        name = (paragraph.style.name or "").lower() if paragraph.style is not None else ""
    except Exception:  # broken style references are common in generated files
        name = ""
    if name == "title":
        return 0
    match = _HEADING_STYLE_RE.match(name)
    if match:
        return int(match.group(1))
    ppr = paragraph._p.pPr
    outline = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
    if outline is not None:
        try:
            level = int(outline.get(qn("w:val")))
        except (TypeError, ValueError):
            return None
        if 0 <= level < 9:
            return level + 1
    return None


def load_docx(path: Path, head: bytes) -> tuple[list[Section], str | None]:
    check_package(path, head, "DOCX")
    import docx
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
        builder = SectionBuilder()
        first_title = first_heading = None
        for block in _iter_blocks(document.element.body, document):
            if isinstance(block, Paragraph):
                level = _heading_level(block)
                if level is not None and one_line_text(block.text):
                    text = one_line_text(block.text)
                    if level == 0:
                        first_title = first_title or text
                    else:
                        first_heading = first_heading or text
                    builder.heading(text)
                else:
                    builder.line(block.text)
            else:
                for row in _table_rows(block):
                    builder.line(row)
        builder.flush()
        try:
            title = sensible_title(document.core_properties.title)
        except Exception:
            title = None
    except LoadError:
        raise
    except Exception as exc:  # anything python-docx/lxml raises
        raise LoadError(f"corrupt DOCX: {describe(exc, path)}") from None
    return builder.sections, title or sensible_title(first_title) or sensible_title(first_heading)


# --------------------------------------------------------------------------- PPTX


def _shape_texts(shape, skip_id: int | None) -> Iterator[str]:
    from pptx.shapes.group import GroupShape

    try:
        if isinstance(shape, GroupShape):
            for child in shape.shapes:
                yield from _shape_texts(child, skip_id)
            return
        if skip_id is not None and shape.is_placeholder and shape.shape_id == skip_id:
            return
        if shape.has_text_frame:
            yield shape.text_frame.text
        if getattr(shape, "has_table", False):
            for row in shape.table.rows:
                cells = [one_line_text(cell.text) for cell in row.cells]
                if any(cells):
                    yield " | ".join(c for c in cells if c)
        if getattr(shape, "has_chart", False) and shape.chart.has_title:
            yield "Chart: " + shape.chart.chart_title.text_frame.text
    except Exception:  # skip a shape python-pptx cannot read, keep the slide
        return


def load_pptx(path: Path, head: bytes) -> tuple[list[Section], str | None]:
    check_package(path, head, "PPTX")
    from pptx import Presentation

    try:
        presentation = Presentation(str(path))
        sections = []
        first_title = None
        for number, slide in enumerate(presentation.slides, 1):
            title_shape = slide.shapes.title
            title = one_line_text(title_shape.text_frame.text) if title_shape is not None else ""
            first_title = first_title or title
            lines = [title]
            skip_id = title_shape.shape_id if title_shape is not None else None
            for shape in slide.shapes:
                lines.extend(_shape_texts(shape, skip_id))
            if slide.has_notes_slide:
                notes_frame = slide.notes_slide.notes_text_frame
                notes = clean_text(notes_frame.text) if notes_frame is not None else ""
                if notes:
                    lines.append("Notes: " + notes)
            text = clean_text("\n".join(lines))
            if text:
                sections.append(Section(text=text, page=number, heading=title or None))
        try:
            title = sensible_title(presentation.core_properties.title)
        except Exception:
            title = None
    except Exception as exc:  # anything python-pptx/lxml raises
        raise LoadError(f"corrupt PPTX: {describe(exc, path)}") from None
    return sections, title or sensible_title(first_title)


# --------------------------------------------------------------------------- XLSX


def load_xlsx(path: Path, head: bytes) -> tuple[list[Section], str | None]:
    check_package(path, head, "XLSX", limit_xml=False)  # openpyxl read-only mode streams the sheets
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:
        raise LoadError(f"corrupt XLSX: {describe(exc, path)}") from None
    try:
        names = workbook.sheetnames
        sections: list[Section] = []
        for sheet in workbook.worksheets:
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # stored dimensions are often wrong; read what is there
            sections.extend(table_sections(sheet.iter_rows(values_only=True), heading=sheet.title,
                                           page=names.index(sheet.title) + 1))
        try:
            title = sensible_title(workbook.properties.title)
        except Exception:
            title = None
    except Exception as exc:
        raise LoadError(f"corrupt XLSX: {describe(exc, path)}") from None
    finally:
        workbook.close()
    return sections, title
