"""The cited page in a real headless Chromium: staff asks a question the demo's annual report (a PDF)
answers, opens the cited page from the Chat tab, and sees the passage highlighted on it; a restricted
document's preview is refused as if it did not exist."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser import Shots, ask, sign_in, wait_until

pytestmark = pytest.mark.slow

REVENUE = "What was our total revenue according to the latest annual report?"


def _highlight_pixels(png: bytes) -> int:
    """Pixels of the highlight's yellow over white paper (indexing.page_preview.HIGHLIGHT_RGBA)."""
    import numpy as np
    from PIL import Image

    r, g, b = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int).transpose(2, 0, 1)
    return int(((r > 235) & (g > 210) & (g < 250) & (b > 110) & (b < 180)).sum())


def _loaded(img) -> bool:
    return bool(img.evaluate("i => i.complete && i.naturalWidth > 0"))


def test_staff_opens_the_cited_pdf_page_with_the_passage_highlighted(browser, web_server, tmp_path: Path) -> None:
    shots = Shots(tmp_path)
    page = sign_in(browser, web_server, "sam", shots)
    ask(page, REVENUE)
    # The answer's [n] markers (at least those of its "Sources:" line) link to the cited pages, in a new tab.
    marker = page.locator("#chatbot a[href^='/document/view?']")
    assert marker.count() >= 1 and marker.first.get_attribute("target") == "_blank"
    citation = page.locator("#sources details", has_text=".pdf").first
    citation.locator("summary").click()
    inline = citation.locator("img.page")
    wait_until(lambda: _loaded(inline), 30)
    shots(page, "citation-with-its-page")
    assert citation.locator("a").first.inner_text().startswith("open annual-report")  # the file link stays first

    with page.context.expect_page() as opened:
        citation.locator("a.show-page").click()
    preview = opened.value
    preview.wait_for_load_state()
    wait_until(lambda: _loaded(preview.locator("#preview img.page")), 30)
    assert "annual-report" in preview.title() and ", page " in preview.title()
    shot = preview.screenshot(path=str(tmp_path / "cited-page.png"), full_page=True)
    assert _highlight_pixels(shot) > 2000, "the passage is not highlighted on the cited page"
    assert preview.get_by_text("open the whole file").count() == 1

    # A user outside a restricted document's groups: its preview does not exist for them.
    memo = next(s for s in json.loads(_sources_json(web_server)) if "kestrel" in s["source"])
    for route in ("/document/view", "/document/page.png"):
        resp = page.request.get(web_server.url + route, params={"source": memo["source"], "page": 1})
        assert resp.status == 404, (route, resp.status)
        with httpx.Client(base_url=web_server.url, timeout=30) as http:  # and no session at all
            assert http.get(route, params={"source": memo["source"]}).status_code == 401


def _sources_json(server) -> str:
    from tests.conftest import run_cli

    res = run_cli("sources", "--json", home=server.home)
    assert res.returncode == 0, res.stderr
    return res.stdout
