"""OCR with the tesseract command-line tool: scanned PDF pages and image files.

tesseract runs as a subprocess (no Python binding needed), one process per page, reading a PNG on
stdin and writing TSV, whose per-word confidences let us drop regions that are pictures or noise.
A page OCR cannot read is reported by the caller as a warning, never indexed as noise.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import LoadError, LoadOptions, Section, clean_text, describe, looks_like_text, one_line
from ._pdf import PDFIUM_LOCK

if TYPE_CHECKING:
    from PIL.Image import Image

    # (page number, the page's image or the error that kept it from being read, its dpi when known)
    PageImage = tuple[int, Image | Exception, int | None]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
INSTALL_HINT = "OCR needs tesseract: apt-get install tesseract-ocr"
OCR_OFF_HINT = 'OCR is off (indexing.ocr = "off")'
NOTHING_READ = "OCR found no readable text"

# PDF pages are rendered at 200 dpi. Measured on synthetic scans (DejaVu Sans/Serif 5.5-10 pt, blurred,
# rotated 0.6 degrees, speckled, JPEG q55; sources at 150-400 dpi): word accuracy averaged 0.95 at 200
# and 0.94 at 250 dpi, 300 dpi was no better (worse on 200-dpi sources, which it only upsamples) and
# took 1.3-1.5x as long; 150 dpi lost tiny text (0.30 on 5.5 pt from a 200-dpi scan).
OCR_DPI = 200
# A huge page (a poster, an engineering drawing) is rendered smaller rather than filling memory.
MAX_PAGE_PIXELS = 40_000_000
PAGE_TIMEOUT_S = 180
# A text block whose character-weighted mean word confidence is below this is a picture or noise:
# measured, printed text scored 92-96 (small, degraded) and blobs, photos and speckle 44-53.
MIN_BLOCK_CONFIDENCE = 60.0
# A page whose text layer has fewer letters/digits than this but is mostly one image is a scan with
# a stamp on it (a Bates number, "Page 3 of 9"); it is OCR'd too.
THIN_LAYER_CHARS = 50
IMAGE_SHARE = 0.5

_LANGUAGES_RE = re.compile(r"[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)?(?:\+[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)?)*")
_WORD_RE = re.compile(r"[^\W\d_]{3,}")  # a word of three letters or more


class OcrUnavailable(Exception):
    """OCR cannot run for any page (tesseract or a language missing); ``str()`` says what to install."""


class OcrFailed(Exception):
    """tesseract could not OCR one page (it crashed, timed out); ``str()`` is the reason."""


def find_tesseract() -> str | None:
    """Path of the tesseract executable, or None when it is not installed."""
    return shutil.which("tesseract")


OCR_WORKERS_ENV = "INDEXING_OCR_WORKERS"  # set by parse workers, which share the cores between them


def _workers() -> int:
    # One single-threaded tesseract per core: measured on 2 cores, 2 processes OCR 4 pages in half the
    # time of 1, and tesseract's own OpenMP threads made each page 2-3x *slower* on a busy machine.
    if os.environ.get(OCR_WORKERS_ENV, "").isdigit():
        return max(1, int(os.environ[OCR_WORKERS_ENV]))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _tesseract_env() -> dict[str, str]:
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def check_ocr(options: LoadOptions) -> str:
    """The tesseract path when OCR can run with ``options.ocr_languages``; raises OcrUnavailable."""
    tesseract = find_tesseract()
    if tesseract is None:
        raise OcrUnavailable(INSTALL_HINT)
    languages = options.ocr_languages.strip()
    if not _LANGUAGES_RE.fullmatch(languages):
        raise OcrUnavailable(f"invalid indexing.ocr_languages {languages!r} "
                             "(tesseract codes joined by '+', e.g. 'eng+deu')")
    try:
        listed = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True, timeout=60,
                                env=_tesseract_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OcrUnavailable(f"tesseract does not run ({describe(exc)})") from None
    if listed.returncode != 0:
        raise OcrUnavailable(f"tesseract does not run ({one_line(listed.stderr, limit=120)})")
    # 'List of available languages in "...":' then one code a line (on stderr in some 4.x builds).
    installed = {line.strip() for line in (listed.stdout + "\n" + listed.stderr).splitlines()
                 if line.strip() and not line.startswith("List of")}
    missing = [code for code in languages.split("+") if code not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{code.lower().replace('_', '-')}" for code in missing if "/" not in code)
        hint = f": apt-get install {packages}" if packages else ""
        raise OcrUnavailable(f"OCR language data {'+'.join(missing)!r} is not installed{hint}")
    return tesseract


# --------------------------------------------------------------------------- one image


def prepare(image: Image) -> Image:
    """An 8-bit grayscale copy of ``image``, transparency flattened onto white."""
    from PIL import Image as PILImage

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit / float scans: a plain convert("L") clips everything above 255 to white.
        low, high = image.getextrema()
        if high == low:  # one flat tone: nothing to read
            return PILImage.new("L", image.size, 255)
        factor = 255.0 / (high - low)
        image = image.convert("F").point(lambda v: v * factor - low * factor)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels are often black underneath: without a white backdrop the text vanishes.
        rgba = image.convert("RGBA")
        backdrop = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(backdrop, rgba)
    return image.convert("L")


def _text_from_tsv(tsv: str) -> str:
    """Text of the confident blocks of tesseract's TSV output, in reading order, lines kept."""
    # Columns: level page block par line word left top width height conf text; level 5 = a word.
    blocks: dict[int, list[tuple[int, int, float, str]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) != 12 or cols[0] != "5" or not cols[11].strip():
            continue
        try:
            block, par, line, conf = int(cols[2]), int(cols[3]), int(cols[4]), float(cols[10])
        except ValueError:
            continue
        blocks.setdefault(block, []).append((par, line, conf, cols[11].strip()))
    paragraphs: list[str] = []
    for words in blocks.values():
        chars = sum(len(w) for *_, w in words)
        if sum(conf * len(w) for _, _, conf, w in words) / chars < MIN_BLOCK_CONFIDENCE:
            continue  # a photo, a logo or speckle read as letters
        lines: dict[tuple[int, int], list[str]] = {}
        for par, line, _, word in words:
            lines.setdefault((par, line), []).append(word)
        current_par = None
        for (par, _), line_words in lines.items():
            if par != current_par:
                paragraphs.append("")
                current_par = par
            paragraphs[-1] += (" " if not paragraphs[-1] else "\n") + " ".join(line_words)
    return "\n\n".join(p.strip() for p in paragraphs)


def readable(text: str) -> str:
    """``text`` cleaned when it reads as text (some real words, not glyph soup), else ''."""
    text = clean_text(text, dehyphenate=True)
    if not text or not _WORD_RE.search(text) or not looks_like_text(text):
        return ""
    return text


def ocr_image(image: Image, tesseract: str, languages: str, dpi: int | None = None) -> str:
    """Readable text tesseract finds in ``image`` ('' when none); raises OcrFailed when it cannot run."""
    image = prepare(image)
    low, high = image.getextrema()
    if high - low < 16:  # a blank (or uniformly grey) page: nothing for tesseract to find
        return ""
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=1)  # speed over size: it only crosses a pipe
    cmd = [tesseract, "-", "-", "-l", languages, "--psm", "3"]
    if dpi:  # PNG on stdin carries no resolution, and tesseract's guess from glyph sizes can be off
        cmd += ["--dpi", str(dpi)]
    try:
        done = subprocess.run([*cmd, "tsv"], input=png.getvalue(), capture_output=True, timeout=PAGE_TIMEOUT_S,
                              env=_tesseract_env())
    except subprocess.TimeoutExpired:
        raise OcrFailed(f"OCR timed out after {PAGE_TIMEOUT_S} s") from None
    except OSError as exc:
        raise OcrFailed(f"tesseract does not run ({describe(exc)})") from None
    if done.returncode != 0:
        detail = one_line(done.stderr.decode("utf-8", "replace"), limit=120) or f"exit code {done.returncode}"
        raise OcrFailed(f"tesseract failed ({detail})")
    return readable(_text_from_tsv(done.stdout.decode("utf-8", "replace")))


# --------------------------------------------------------------------------- many pages


@dataclass
class OcrResult:
    texts: dict[int, str] = field(default_factory=dict)  # page number -> readable text
    problems: dict[int, str] = field(default_factory=dict)  # page number -> why it has no text


def ocr_pages(images: Iterable[PageImage], tesseract: str, languages: str) -> OcrResult:
    """OCR (page number, image or the error producing it, dpi) items, several tesseracts at once.

    ``images`` is consumed lazily and only a few rendered pages wait at a time, so a long scan does
    not sit in memory all at once.
    """
    result = OcrResult()
    workers = _workers()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
        pending: dict[Future[str], int] = {}

        def collect(futures: Iterable[Future[str]]) -> None:
            for future in futures:
                number = pending.pop(future)
                try:
                    text = future.result()
                except OcrFailed as exc:
                    result.problems[number] = str(exc)
                    continue
                except Exception as exc:  # e.g. an image Pillow cannot convert: this page only
                    result.problems[number] = f"OCR failed ({one_line(describe(exc), limit=90)})"
                    continue
                if text:
                    result.texts[number] = text
                else:
                    result.problems[number] = NOTHING_READ

        for number, image, dpi in images:
            if isinstance(image, Exception):
                result.problems[number] = f"page image unreadable ({one_line(describe(image), limit=90)})"
                continue
            pending[pool.submit(ocr_image, image, tesseract, languages, dpi)] = number
            if len(pending) > workers:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                collect(done)
        collect(list(pending))
    result.texts = dict(sorted(result.texts.items()))
    result.problems = dict(sorted(result.problems.items()))
    return result


def page_list(numbers: Iterable[int]) -> str:
    """'page 3' / 'pages 3, 5-7' for warnings."""
    ordered = sorted(set(numbers))
    runs: list[str] = []
    start = prev = None
    for n in [*ordered, None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ("page " if len(ordered) == 1 else "pages ") + ", ".join(runs)


def problem_warnings(problems: dict[int, str]) -> list[str]:
    """One warning line per distinct reason, naming its pages."""
    by_reason: dict[str, list[int]] = {}
    for number, reason in problems.items():
        by_reason.setdefault(reason, []).append(number)
    return [f"{page_list(numbers)}: {reason}" for reason, numbers in by_reason.items()]


# --------------------------------------------------------------------------- PDF pages


def _has_big_image(page, width: float, height: float) -> bool:
    import pypdfium2.raw as pdfium_c

    area = width * height
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        if area > 0 and (right - left) * (top - bottom) >= IMAGE_SHARE * area:
            return True
    return False


def pdf_pages_to_ocr(path: Path, text_pages: dict[int, str]) -> tuple[int, list[int], list[int]]:
    """(page count, pages with no usable text and something drawn, pages with a thin layer over a scan).

    ``text_pages`` holds the extracted text per page. A page with nothing on it is blank, not a scan.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    scanned: list[int] = []
    thin: list[int] = []
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
        try:
            count = len(pdf)
            for index in range(count):
                number = index + 1
                text = text_pages.get(number, "")
                usable = bool(text) and looks_like_text(text)
                if usable and sum(ch.isalnum() for ch in text) >= THIN_LAYER_CHARS:
                    continue
                try:
                    page = pdf[index]
                except Exception:  # unreadable page: rendering it will say so
                    scanned.append(number)
                    continue
                try:
                    if not usable:
                        if pdfium_c.FPDFPage_CountObjects(page) != 0:
                            scanned.append(number)
                    elif _has_big_image(page, *page.get_size()):
                        thin.append(number)
                except Exception:
                    if not usable:
                        scanned.append(number)
                finally:
                    page.close()
        finally:
            pdf.close()
    return count, scanned, thin


def render_pdf_pages(path: Path, numbers: list[int], dpi: int = OCR_DPI) -> Iterator[PageImage]:
    """(page number, grayscale image or the error, dpi rendered at) per page, one page at a time.

    The lock is held only while PDFium renders a page, so OCR of earlier pages runs meanwhile.
    """
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
    try:
        for number in numbers:
            item: Image | Exception
            rendered_dpi = None
            with PDFIUM_LOCK:
                try:
                    page = pdf[number - 1]
                    try:
                        width, height = page.get_size()
                        scale = dpi / 72
                        if width * height * scale * scale > MAX_PAGE_PIXELS:
                            scale = (MAX_PAGE_PIXELS / (width * height)) ** 0.5
                        bitmap = page.render(scale=scale, grayscale=True)
                        try:
                            item = bitmap.to_pil().copy()  # to_pil shares the bitmap's buffer, freed on close
                            rendered_dpi = round(scale * 72)
                        finally:
                            bitmap.close()
                    finally:
                        page.close()
                except Exception as exc:  # one broken page must not lose the rest
                    item = exc
            yield number, item, rendered_dpi
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def ocr_pdf_pages(path: Path, numbers: list[int], tesseract: str, languages: str) -> OcrResult:
    """OCR the given 1-based pages of a PDF."""
    with contextlib.closing(render_pdf_pages(path, numbers)) as images:
        return ocr_pages(images, tesseract, languages)


# --------------------------------------------------------------------------- image files


def _frames(path: Path) -> Iterator[PageImage]:
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(path) as image:
        # Only TIFF is a multi-page document; other formats' extra frames are thumbnails or animation.
        count = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
        for index in range(count):
            frame: Image | Exception
            dpi = None
            try:
                image.seek(index)
                frame = ImageOps.exif_transpose(image)  # phone photos are stored sideways plus a flag
                x_dpi = image.info.get("dpi", (0, 0))[0]
                dpi = round(float(x_dpi)) if 70 <= float(x_dpi) <= 2400 else None
            except Exception as exc:  # one broken page must not lose the rest
                frame = exc
            yield index + 1, frame, dpi


def load_image(path: Path, head: bytes, options: LoadOptions) -> tuple[list[Section], str | None, str, list[str]]:
    """Sections (one per TIFF page; one for other images), title (None), parser, warnings; raises LoadError."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if options.ocr == "off":
        raise LoadError(f"image (no text layer); {OCR_OFF_HINT}")
    try:
        tesseract = check_ocr(options)
    except OcrUnavailable as exc:
        raise LoadError(f"image (no text layer); {exc}") from None
    try:
        with contextlib.closing(_frames(path)) as frames:
            result = ocr_pages(frames, tesseract, options.ocr_languages.strip())
    except UnidentifiedImageError:
        raise LoadError(f"corrupt image: not a readable {path.suffix.lstrip('.').upper()} file") from None
    except PILImage.DecompressionBombError as exc:
        raise LoadError(f"image is too large to OCR ({describe(exc, path)})") from None
    if not result.texts:
        reasons = sorted(set(result.problems.values())) or [NOTHING_READ]
        raise LoadError(f"no extractable text: {'; '.join(reasons)}")
    multi = len(result.texts) + len(result.problems) > 1
    sections = [Section(text=text, page=number if multi else None) for number, text in result.texts.items()]
    return sections, None, "tesseract", problem_warnings(result.problems)
