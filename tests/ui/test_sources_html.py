"""How an answer and its citations look in the Chat tab (ui/web/common.py): the file link the other tests
rely on, the cited page's preview links, and [n] markers in the answer linking to their source's page."""

from __future__ import annotations

import re
import urllib.parse

from ui.web.common import answer_text, linked_markers, sources_html

SOURCES = [
    {"n": 1, "source": "/corpus/annual report 2024.pdf", "page": 4, "text": "Revenue rose by 22.3% <to> £46.7m.",
     "metadata": {"file_name": "annual report 2024.pdf"}},
    {"n": 3, "source": "/corpus/handbook.docx", "page": None, "text": "Employees get 25 days of leave.",
     "metadata": {}},
]


def _query(href: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href.replace("&amp;", "&")).query))


def test_each_citation_links_the_file_and_its_page_preview() -> None:
    page = sources_html(SOURCES)
    hrefs = re.findall(r'href="([^"]+)"', page)
    links = re.findall(r"<a [^>]*>([^<]*)</a>", page)
    assert links[0] == "open annual report 2024.pdf" and hrefs[0].startswith("/document?source=")
    assert hrefs[0].endswith("#page=4") and _query(hrefs[0]) == {"source": "/corpus/annual report 2024.pdf"}
    assert "show page 4" in links and "show the passage in the document" in links
    view = next(h for h in hrefs if h.startswith("/document/view?"))
    assert _query(view) == {"source": "/corpus/annual report 2024.pdf", "page": "4",
                            "passage": "Revenue rose by 22.3% <to> £46.7m."}
    # A PDF's page image inline (lazily: only when the citation is opened); a DOCX has none.
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 1 and images[0].startswith("/document/page.png?") and 'loading="lazy"' in page
    assert "&lt;to&gt;" in page and "<to>" not in page
    assert "[3] handbook.docx</summary>" in page


def test_markers_in_the_answer_link_to_their_source_page() -> None:
    text = answer_text("Revenue rose to £46.7m [1], and leave is 25 days [1, 3]. See [2].", SOURCES)
    one = re.search(r"\[\[1\]\]\((/document/view\?[^)]+)\)", text)
    assert one and _query(one.group(1))["page"] == "4"
    assert re.search(r"\[\[1\]\(/document/view\?[^)]+\), \[3\]\(/document/view\?[^)]+\)\]", text)
    assert "See [2]." in text  # cites nothing: left alone
    assert "\n\nSources: [[1]](/document/view?" in text and "annual report 2024.pdf p.4" in text
    assert linked_markers("no markers here", SOURCES) == "no markers here"
    assert answer_text("An answer.", []) == "An answer."
