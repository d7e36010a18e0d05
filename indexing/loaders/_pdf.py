"""PDF text extraction: pypdfium2 first, pypdf as the fallback."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from ._common import LoadError, Section, clean_text, describe, looks_like_text, one_line, sensible_title

# PDFium is not thread-safe: every call into it, for any document, must hold this lock.
PDFIUM_LOCK = threading.Lock()

NO_TEXT_ERROR = "no extractable text (scanned images? OCR is not supported)"
UNREADABLE_ERROR = ("no readable text extracted (the PDF's fonts have no usable Unicode mapping; "
                    "OCR is not supported)")
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


def extract_pypdfium2(path: Path) -> tuple[dict[int, str], str | None, set[int]]:
    """({1-based page: text} for pages with text, metadata title, pages whose extraction failed)."""
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
                            text = clean_pdf_text(textpage.get_text_range())
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


def load_pdf(path: Path, head: bytes) -> tuple[list[Section], str | None, str]:
    """Sections (one per page with text), title and parser name; raises LoadError."""
    problems: list[str] = []
    saw_text = opened = encrypted = False
    try:
        pages, title, failed = extract_pypdfium2(path)
        opened = True
        if failed:  # pages PDFium could not read: let pypdf try just those
            try:
                extra, _ = extract_pypdf(path, only=failed)
                pages = dict(sorted({**pages, **extra}.items()))
            except Exception:  # keep what PDFium gave
                pass
        if _usable(pages):
            return _sections(pages), title, "pypdfium2"
        saw_text = bool(pages)
        problems.append("pypdfium2: " + ("unreadable text" if pages else "no text"))
    except _Encrypted:
        encrypted = True
        problems.append("pypdfium2: password required")
    except Exception as exc:  # any PDFium failure -> try pypdf
        problems.append(f"pypdfium2: {one_line(describe(exc, path), limit=90).rstrip('.')}")

    try:
        pages, title = extract_pypdf(path)
        opened = True
        if _usable(pages):
            return _sections(pages), title, "pypdf"
        saw_text = saw_text or bool(pages)
    except _Encrypted:
        encrypted = True
    except Exception as exc:
        problems.append(f"pypdf: {one_line(describe(exc, path), limit=90).rstrip('.')}")

    if encrypted:
        raise LoadError(ENCRYPTED_ERROR)
    if opened:
        raise LoadError(UNREADABLE_ERROR if saw_text else NO_TEXT_ERROR)
    raise LoadError(_not_a_pdf(head) or one_line("corrupt PDF: " + "; ".join(problems)))


def _sections(pages: dict[int, str]) -> list[Section]:
    return [Section(text=text, page=number) for number, text in pages.items()]
