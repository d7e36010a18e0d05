"""PDF text extraction: pypdfium2 first, pypdf as the fallback; OCR (``_ocr``) for pages without text."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from ._common import LoadError, LoadOptions, Section, clean_text, describe, looks_like_text, one_line, sensible_title
from ._pdf_tables import page_text_with_tables

# PDFium is not thread-safe: every call into it, for any document, must hold this lock.
PDFIUM_LOCK = threading.Lock()

NO_TEXT_ERROR = 'no extractable text (scanned images? OCR is off: indexing.ocr = "off")'
UNREADABLE_ERROR = ("no readable text extracted (the PDF's fonts have no usable Unicode mapping; "
                    'OCR is off: indexing.ocr = "off")')
BLANK_ERROR = "no extractable text (every page is blank)"
ENCRYPTED_ERROR = "PDF is password-protected (remove the password and add it again)"
# PDFium reports a hyphen at a line end as U+FFFE (older builds: U+0002) and drops the line break.
_LOWER = "a-zß-öø-ÿ"
_PDFIUM_HYPHEN_JOIN_RE = re.compile(f"(?<=[{_LOWER}])[\x02\ufffe](?:\r?\n)?(?=[{_LOWER}])")
_PDFIUM_HYPHEN_RE = re.compile("[\x02\ufffe]")


class _Encrypted(Exception):
    pass


def clean_pdf_text(text: str) -> str:
    """Normalise one page of extracted PDF text."""
    text = _PDFIUM_HYPHEN_RE.sub("-", _PDFIUM_HYPHEN_JOIN_RE.sub("", text))
    return clean_text(text, dehyphenate=True)


def _usable(pages: dict[int, str]) -> bool:
    return bool(pages) and looks_like_text("\n".join(pages.values()))


def extract_pypdfium2(path: Path, tables: bool = True) -> tuple[dict[int, str], str | None, set[int]]:
    """({1-based page: text} for pages with text, metadata title, pages whose extraction failed).

    With ``tables``, a page's tables come out as one line per row with its column headers.
    """
    import pypdfium2 as pdfium

    pages: dict[int, str] = {}
    failed: set[int] = set()
    title = None
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise _Encrypted(str(exc)) from None
            raise
        try:
            try:
                title = sensible_title(pdf.get_metadata_value("Title"))
            except Exception:  # a bad metadata dictionary is not fatal
                title = None
            for index in range(len(pdf)):
                try:
                    page = pdf[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            laid_out = page_text_with_tables(textpage, *page.get_size()) if tables else None
                            text = clean_pdf_text(laid_out if laid_out is not None else textpage.get_text_range())
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except Exception:  # one broken page must not lose the rest
                    failed.add(index + 1)
                    continue
                if text:
                    pages[index + 1] = text
        finally:
            pdf.close()
    return pages, title, failed


def extract_pypdf(path: Path, only: set[int] | None = None) -> tuple[dict[int, str], str | None]:
    """({1-based page: text} for pages with text, metadata title) using pypdf; ``only`` limits pages."""
    from pypdf import PdfReader

    with open(path, "rb") as stream:
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # e.g. a missing AES dependency
                raise _Encrypted(describe(exc)) from None
            if not ok:
                raise _Encrypted("a password is required")
        try:
            title = sensible_title(reader.metadata.title) if reader.metadata else None
        except Exception:
            title = None
        pages: dict[int, str] = {}
        errors: list[Exception] = []
        count = len(reader.pages)
        for number in range(1, count + 1):
            if only is not None and number not in only:
                continue
            try:
                text = clean_pdf_text(reader.pages[number - 1].extract_text() or "")
            except Exception as exc:  # one broken page must not lose the rest
                errors.append(exc)
                continue
            if text:
                pages[number] = text
        if errors and not pages and len(errors) == (len(only) if only is not None else count):
            raise errors[-1]
    return pages, title


def _not_a_pdf(head: bytes) -> str | None:
    if b"%PDF-" in head[:1024]:
        return None
    lowered = head[:1024].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
        return "corrupt PDF: not a PDF file (it is an HTML page)"
    if head.startswith(b"PK\x03\x04"):
        return "corrupt PDF: not a PDF file (it is a zip / Office document)"
    return None


def load_pdf(path: Path, head: bytes, options: LoadOptions) -> tuple[list[Section], str | None, str, list[str]]:
    """Sections (one per page with text), title, parser name and warnings; raises LoadError.

    The text layer is read first; pages without usable text are then OCR'd (``options.ocr``), and
    pages OCR could not read are named in the warnings.
    """
    problems: list[str] = []
    saw_text = opened = encrypted = False
    best: tuple[dict[int, str], str | None, str] | None = None  # the text layer if it is usable overall
    rendered = False  # PDFium opened the file, so its pages can be rendered for OCR
    pdfium_pages: dict[int, str] = {}
    title = None
    try:
        pages, title, failed = extract_pypdfium2(path, options.pdf_tables)
        opened = rendered = True
        if failed:  # pages PDFium could not read: let pypdf try just those
            try:
                extra, _ = extract_pypdf(path, only=failed)
                pages = dict(sorted({**pages, **extra}.items()))
            except Exception:  # keep what PDFium gave
                pass
        pdfium_pages = pages
        if _usable(pages):
            best = pages, title, "pypdfium2"
        else:
            saw_text = bool(pages)
            problems.append("pypdfium2: " + ("unreadable text" if pages else "no text"))
    except _Encrypted:
        encrypted = True
        problems.append("pypdfium2: password required")
    except Exception as exc:  # any PDFium failure -> try pypdf
        problems.append(f"pypdfium2: {one_line(describe(exc, path), limit=90).rstrip('.')}")

    if best is None:
        try:
            pages, pypdf_title = extract_pypdf(path)
            opened = True
            if _usable(pages):
                best = pages, pypdf_title, "pypdf"
            saw_text = saw_text or bool(pages)
            title = title or pypdf_title
        except _Encrypted:
            encrypted = True
        except Exception as exc:
            problems.append(f"pypdf: {one_line(describe(exc, path), limit=90).rstrip('.')}")

    if encrypted and best is None:
        raise LoadError(ENCRYPTED_ERROR)
    if not opened:
        raise LoadError(_not_a_pdf(head) or one_line("corrupt PDF: " + "; ".join(problems)))
    if options.ocr == "off" or not rendered:  # as before OCR: the text layer or nothing
        if best is not None:
            return _sections(best[0]), best[1], best[2], []
        if options.ocr != "off":  # OCR renders pages with PDFium, which cannot read this file
            raise LoadError(one_line("no extractable text, and the pages cannot be rendered for OCR ("
                                     + "; ".join(problems) + ")"))
        raise LoadError(UNREADABLE_ERROR if saw_text else NO_TEXT_ERROR)
    pages, title, parser = best if best is not None else (pdfium_pages, title, "pypdfium2")
    return _with_ocr(path, pages, title, parser, saw_text and best is None, options)


def _with_ocr(path: Path, pages: dict[int, str], title: str | None, parser: str, unreadable: bool,
              options: LoadOptions) -> tuple[list[Section], str | None, str, list[str]]:
    """The text layer's usable pages plus OCR of the pages that need it, with warnings."""
    from . import _ocr  # imported here: _ocr imports this module for PDFIUM_LOCK

    count, scanned, thin = _ocr.pdf_pages_to_ocr(path, pages)
    good = {n: t for n, t in pages.items() if looks_like_text(t) and n not in scanned}
    if not scanned and not thin:
        if good:
            return _sections(good), title, parser, []
        raise LoadError(BLANK_ERROR)  # every page is blank: nothing to read, nothing to OCR
    what = ("PDF text is unreadable (fonts without a Unicode mapping)" if unreadable
            else "scanned PDF (no text layer)")
    try:
        tesseract = _ocr.check_ocr(options)
    except _ocr.OcrUnavailable as exc:
        # Asked for OCR ("on"), or nothing to index without it: the file fails, saying what to install.
        skipped = _ocr.page_list(sorted(set(scanned) | set(thin)))
        if not good:
            raise LoadError(f"{what}; {exc}") from None
        if options.ocr == "on":
            raise LoadError(f"scanned {skipped}; {exc}") from None
        return _sections(good), title, parser, [f"{skipped}: scanned, not OCR'd ({exc})"]

    result = _ocr.ocr_pdf_pages(path, sorted(set(scanned) | set(thin)), tesseract, options.ocr_languages.strip())
    merged = dict(good)
    for number, text in result.texts.items():
        layer = good.get(number, "")
        # A thin layer (a stamp over a scan) gives way to OCR only when OCR read more.
        if sum(ch.isalnum() for ch in text) > sum(ch.isalnum() for ch in layer):
            merged[number] = text
    problems = {n: reason for n, reason in result.problems.items() if n not in good}  # thin pages keep their layer
    ocr_used = any(merged.get(n) == t for n, t in result.texts.items())
    if not merged:
        reasons = sorted(set(problems.values()) - {_ocr.NOTHING_READ})
        detail = (f"OCR read no page ({'; '.join(reasons)})" if reasons else
                  f"{_ocr.NOTHING_READ} on {'its page' if count == 1 else f'any of its {count} pages'}")
        raise LoadError(one_line(f"no extractable text: {what}, and {detail}"))
    name = f"{parser}+tesseract" if ocr_used else parser
    return _sections(dict(sorted(merged.items()))), title, name, _ocr.problem_warnings(problems)


def _sections(pages: dict[int, str]) -> list[Section]:
    return [Section(text=text, page=number) for number, text in pages.items()]
