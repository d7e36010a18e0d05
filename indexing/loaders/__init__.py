"""Turn supported files into clean text sections for indexing.

Public API::

    load_file(path, max_bytes=100 MB, options=LoadOptions()) -> LoadedDocument   # raises LoadError only
    is_supported(path) -> bool
    SUPPORTED_SUFFIXES                                     # frozenset of lower-case suffixes
    LoadError, Section, LoadedDocument, LoadOptions
    looks_like_text(text) -> bool, decode_bytes(data) -> str   # helpers, also used by the loaders

Parsers: PDF pypdfium2 (fallback pypdf; pages without text OCR'd by tesseract), PNG/JPEG/TIFF tesseract
(``indexing.ocr``), DOCX python-docx, PPTX python-pptx, XLSX/XLSM openpyxl,
HTML beautifulsoup4 ("html.parser"), Markdown/TXT/CSV/TSV the standard library plus
charset-normalizer for legacy encodings. ``load_file`` is safe to call from worker threads (PDFium
calls are serialised by a lock because PDFium is not thread-safe).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from ._common import LoadedDocument, LoadError, LoadOptions, Section, describe, looks_like_text
from ._ocr import IMAGE_SUFFIXES, load_image
from ._office import load_docx, load_pptx, load_xlsx
from ._pdf import NO_TEXT_ERROR, load_pdf
from ._text import decode_bytes, load_csv, load_html, load_markdown, load_txt

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "LoadOptions",
    "LoadedDocument",
    "Section",
    "decode_bytes",
    "is_supported",
    "load_file",
    "looks_like_text",
]

DEFAULT_MAX_BYTES = 100 * 1024**2
_HEAD_BYTES = 1024

# Binary formats get the path and the first bytes; text formats get all the bytes. Loaders that OCR
# also get the LoadOptions and return their own parser name and warnings.
_BinaryLoader = Callable[[Path, bytes], tuple[list[Section], str | None]]
_OcrLoader = Callable[[Path, bytes, LoadOptions], tuple[list[Section], str | None, str, list[str]]]
_TextLoader = Callable[[bytes, Path], tuple[list[Section], str | None]]

_BINARY: dict[str, tuple[str, str, _BinaryLoader]] = {
    ".docx": ("DOCX", "python-docx", load_docx),
    ".pptx": ("PPTX", "python-pptx", load_pptx),
    ".xlsx": ("XLSX", "openpyxl", load_xlsx),
    ".xlsm": ("XLSX", "openpyxl", load_xlsx),
}
# Binary formats read (or partly read) by OCR.
_OCR_BINARY: dict[str, tuple[str, _OcrLoader]] = {
    ".pdf": ("PDF", load_pdf),
    **dict.fromkeys(IMAGE_SUFFIXES, ("image", load_image)),
}
_TEXT: dict[str, tuple[str, str, _TextLoader]] = {
    ".html": ("HTML", "beautifulsoup4", load_html),
    ".htm": ("HTML", "beautifulsoup4", load_html),
    ".xhtml": ("HTML", "beautifulsoup4", load_html),
    ".md": ("Markdown", "markdown", load_markdown),
    ".markdown": ("Markdown", "markdown", load_markdown),
    ".txt": ("text", "text", load_txt),
    ".text": ("text", "text", load_txt),
    ".rst": ("text", "text", load_txt),
    ".csv": ("CSV", "csv", load_csv),
    ".tsv": ("TSV", "csv", load_csv),
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({*_OCR_BINARY, *_BINARY, *_TEXT})


def is_supported(path: Path | str) -> bool:
    """True when the file's suffix (case-insensitive) is one load_file can read."""
    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return (exc.strerror or describe(exc)).lower()


def _size_error(size: int, max_bytes: int) -> LoadError:
    return LoadError(f"file is {size / 1024**2:.1f} MB, over the {max_bytes / 1024**2:g} MB limit "
                     "(max_file_mb)")


def load_file(
    path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES, options: LoadOptions | None = None
) -> LoadedDocument:
    """Extract clean text sections from a supported file.

    The size is checked with os.stat before anything is read. Raises LoadError (only) with a one-line,
    user-actionable reason; the caller adds the path.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise LoadError(_os_reason(exc)) from None
    except ValueError as exc:  # e.g. an embedded NUL in the name
        raise LoadError(f"invalid path: {describe(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise LoadError("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise LoadError("not a regular file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(no extension)'} "
                        f"(supported: {' '.join(sorted(SUPPORTED_SUFFIXES))})")
    if info.st_size > max_bytes:
        raise _size_error(info.st_size, max_bytes)
    if info.st_size == 0:
        raise LoadError("empty file")

    is_text = suffix in _TEXT
    warnings: list[str] = []
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1) if is_text else stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise LoadError(_os_reason(exc)) from None
    if not data:
        raise LoadError("empty file")
    if len(data) > max_bytes:  # grew since the stat
        raise _size_error(len(data), max_bytes)

    kind = (_OCR_BINARY.get(suffix) or _TEXT.get(suffix) or _BINARY[suffix])[0]
    try:
        if suffix in _OCR_BINARY:
            sections, title, parser, warnings = _OCR_BINARY[suffix][1](path, data, options or LoadOptions())
        elif is_text:
            _, parser, text_loader = _TEXT[suffix]
            sections, title = text_loader(data, path)
        else:
            _, parser, binary_loader = _BINARY[suffix]
            sections, title = binary_loader(path, data)
    except LoadError:
        raise
    except MemoryError:
        raise LoadError(f"out of memory while reading the {kind} file") from None
    except RecursionError:
        raise LoadError(f"{kind} structure is nested too deeply to parse") from None
    except PermissionError:
        raise LoadError("permission denied") from None
    except Exception as exc:  # a library failure becomes a one-line reason
        raise LoadError(f"cannot read {kind}: {describe(exc, path)}") from None

    sections = [s for s in sections if s.text and s.text.strip()]
    if not sections:
        raise LoadError(NO_TEXT_ERROR if suffix == ".pdf" else "no extractable text (the file has no text)")
    if not looks_like_text("\n".join(s.text for s in sections)):
        raise LoadError("no readable text extracted (the content looks like binary or garbled data)")
    return LoadedDocument(path=path, sections=sections, title=title, parser=parser, warnings=warnings)
