"""Scanned pages made here: text drawn with a TrueType font onto images, image-only PDFs of them. For the
OCR tests (tests/indexing/test_ocr.py) and the real-world PDF tests (tests/e2e/test_real_world_pdfs.py)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

DPI = 200  # the "scanner" resolution of the images made here

PAGE_ONE = ["The Harrogate depot keeps forty electric vans.", "Charging runs overnight on the cheap tariff."]
PAGE_THREE = ["The Whitby office closed in 2019.", "Its staff moved to the York office on Micklegate."]


def _font_path() -> Path:
    spec = importlib.util.find_spec("matplotlib")
    candidates = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    if spec and spec.submodule_search_locations:
        candidates.insert(0, Path(spec.submodule_search_locations[0]) / "mpl-data/fonts/ttf/DejaVuSans.ttf")
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip("no TrueType font to draw the scans with (matplotlib's DejaVuSans.ttf or fonts-dejavu)")


def text_page(lines: list[str], *, size: tuple[float, float] = (8.27, 5.8), mode: str = "L") -> Image.Image:
    """A scanned page: 12 pt text on white (in RGBA mode: on a transparent background)."""
    width, height = int(size[0] * DPI), int(size[1] * DPI)
    if mode == "RGBA":
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))  # transparent *black*: must be flattened
        ink: int | tuple[int, ...] = (0, 0, 0, 255)
    else:
        image = Image.new("L", (width, height), 255)
        ink = 0
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(_font_path()), int(12 * DPI / 72))
    for i, line in enumerate(lines):
        draw.text((DPI // 2, DPI // 2 + i * int(20 * DPI / 72)), line, font=font, fill=ink)
    return image


def blank_page() -> Image.Image:
    return Image.new("L", (int(8.27 * DPI), int(5.8 * DPI)), 255)


def noise_page() -> Image.Image:
    """Rows of random ink arcs: tesseract reads them as '9°Q 7 eer 9 »- oO 4nd', which must not be indexed."""
    rng = random.Random(0)
    image = blank_page()
    draw = ImageDraw.Draw(image)
    for row in range(30):
        for col in range(60):
            if rng.random() < 0.6:
                x, y = 60 + col * 25, 60 + row * 35
                box = (x, y, x + rng.randrange(8, 20), y + rng.randrange(10, 24))
                draw.arc(box, rng.randrange(360), rng.randrange(360), fill=0, width=3)
    return image


def scanned_pdf(path: Path, pages: list[Image.Image]) -> Path:
    """An image-only PDF, one image per page, as a scanner writes it."""
    first, *rest = [p.copy() for p in pages]  # Pillow keeps save options on appended images: use copies
    first.save(path, "PDF", resolution=DPI, save_all=True, append_images=rest)
    return path
