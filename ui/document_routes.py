"""The cited documents a page links to: `/document` (the file itself), `/document/view` (the cited page with
the passage highlighted) and `/document/page.png` (a PDF page's image for it). Same groups rule as retrieval:
not signed in is 401, a document outside the user's groups is 404, as if it did not exist."""

from __future__ import annotations

import html
import urllib.parse

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from assistant.errors import NotFound
from ui.deps import ServicesDep, SessionUser

router = APIRouter(include_in_schema=False)

# How much of a chunk's text a link carries: enough to find it on its page, short enough for any URL.
PASSAGE_CHARS = 600

_VIEW_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Assistant</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; color: #222; }}
 header {{ background: #fff; padding: .7rem 1.2rem; box-shadow: 0 1px 4px #0002; display: flex; gap: 1.2rem;
          align-items: baseline; flex-wrap: wrap; position: sticky; top: 0; }}
 h1 {{ font-size: 1.1rem; margin: 0; }}
 nav a {{ margin-right: .9rem; }}
 .note {{ color: #7c2d12; background: #ffedd5; padding: .5rem .8rem; border-radius: 6px; margin: .8rem 1.2rem 0; }}
 main {{ padding: 1rem 1.2rem; }}
 img.page {{ display: block; max-width: 100%; background: #fff; box-shadow: 0 2px 10px #0003; }}
 .doc-text {{ background: #fff; padding: 1.2rem 1.5rem; white-space: pre-wrap; line-height: 1.5;
             box-shadow: 0 2px 10px #0003; max-width: 60rem; }}
 mark {{ background: #ffd50070; }}
</style></head>
<body><header><h1>{title}</h1><nav>{links}</nav></header>{note}
<main id="preview">{body}</main>
<script>document.getElementById("passage")?.scrollIntoView({{block: "center"}});</script>
</body></html>"""


def _query(source: str, page: int | None, passage: str = "") -> str:
    params: dict[str, str | int] = {"source": source}
    if page:
        params["page"] = page
    if passage:
        params["passage"] = passage[:PASSAGE_CHARS]
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def file_url(source: str, page: int | None = None) -> str:
    """The whole file; a browser's PDF viewer opens it at `page`."""
    return f"/document?{_query(source, None)}" + (f"#page={page}" if page else "")


def view_url(source: str, page: int | None = None, passage: str = "") -> str:
    """The cited page with this passage (a chunk's text: its opening is kept) highlighted."""
    return f"/document/view?{_query(source, page, passage)}"


def image_url(source: str, page: int | None = None, passage: str = "") -> str:
    """A PDF page's PNG with this passage highlighted."""
    return f"/document/page.png?{_query(source, page, passage)}"


def _signed_out() -> JSONResponse:
    return JSONResponse({"error": "sign in first"}, status_code=401)


@router.get("/document")
def document(user: SessionUser, services: ServicesDep, source: str) -> Response:
    """A cited file, for a signed-in user allowed to see it (the same groups rule as retrieval)."""
    if user is None:
        return _signed_out()
    path = services.documents.source_file(user, source)
    return FileResponse(path, filename=path.name, content_disposition_type="inline")


@router.get("/document/page.png")
def page_image(user: SessionUser, services: ServicesDep, source: str, page: int = 1, passage: str = "") -> Response:
    """A cited PDF page as a PNG, the passage's lines highlighted."""
    if user is None:
        return _signed_out()
    preview = services.documents.page_preview(user, source, page, passage)
    if preview.png is None:
        raise NotFound(f"{preview.file_name} has no page images: see {view_url(source, page)}")
    # private: the image shows a document only this user was checked for.
    return Response(preview.png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


@router.get("/document/view")
def view(user: SessionUser, services: ServicesDep, source: str, page: int | None = None,
         passage: str = "") -> Response:
    """The cited page: its image (PDF) or the document's text, the passage highlighted, with links to the
    whole file and to the pages before and after."""
    if user is None:
        return _signed_out()
    preview = services.documents.page_preview(user, source, page, passage, render=False)
    name = html.escape(preview.file_name)
    paged = preview.kind == "image" or preview.pages > 1
    title = f"{name}, page {preview.page}" if paged else name
    if preview.kind == "image":
        body = (f'<img class="page" src="{html.escape(image_url(source, preview.page, passage))}" '
                f'alt="{title}{", the passage highlighted" if preview.found else ""}">')
    else:
        body = f'<div class="doc-text">{preview.html}</div>'
    note = f'<p class="note" role="note">{html.escape(preview.note)}</p>' if preview.note else ""
    return HTMLResponse(_VIEW_PAGE.format(title=title, links=_page_links(source, preview.page, preview.pages, paged),
                                          note=note, body=body))


def _page_links(source: str, page: int, pages: int, paged: bool) -> str:
    # The passage stays on its own page: on the others it would only be "not found".
    links = [f'<a href="{html.escape(file_url(source, page if paged else None))}">open the whole file</a>']
    if paged and page > 1:
        links.append(f'<a href="{html.escape(view_url(source, page - 1))}" rel="prev">&larr; page {page - 1}</a>')
    if paged and page < pages:
        links.append(f'<a href="{html.escape(view_url(source, page + 1))}" rel="next">page {page + 1} &rarr;</a>')
    if paged:
        links.append(f"<span>page {page} of {pages}</span>")
    return "".join(links)
