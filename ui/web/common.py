"""What every tab shares: who is signed in, the one error decorator, and how an answer and its sources look."""

from __future__ import annotations

import functools
import html
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from assistant.errors import as_user_error
from assistant.services import NOT_FOUND, Services, User
from ui.deps import SESSION_COOKIE
from ui.document_routes import file_url, image_url, view_url

CSS = """
.sources details { margin: .25rem 0; }
.sources summary { cursor: pointer; font-weight: 600; }
.sources blockquote { margin: .3rem 0 .3rem 1rem; color: #444; white-space: pre-wrap; }
.sources .show-page { margin-left: 1rem; }
.sources img.page { display: block; max-width: min(100%, 30rem); margin: .4rem 0 .4rem 1rem; border: 1px solid #ccc; }
.jobbar { width: 100%; }
"""

F = TypeVar("F", bound=Callable[..., Any])


def signed_in(services: Services, request: gr.Request | None) -> User | None:
    """The session's user, or None (a timer tick after the session ended just shows nothing)."""
    return services.users.session_user(request.cookies.get(SESSION_COOKIE)) if request else None


def current_user(services: Services, request: gr.Request | None) -> User:
    user = signed_in(services, request)
    if user is None:
        raise gr.Error("Your session has expired: reload the page and sign in again.")
    return user


def user_errors(fn: F) -> F:
    """The one place a callback's failure becomes a message. A UserError (or a library error that maps onto
    one) is the user's to fix and is shown as Gradio's error message; anything else is a bug and goes up
    untouched, so Gradio logs its traceback and shows its generic error instead of blaming the input."""
    if inspect.isgeneratorfunction(fn):  # Gradio streams only what it can see is a generator function

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Any:
            with _as_message():
                yield from fn(*args, **kwargs)

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _as_message():
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


@contextmanager
def _as_message() -> Iterator[None]:
    try:
        yield
    except Exception as err:
        user_error = as_user_error(err)
        if user_error is None:
            raise
        raise gr.Error(str(user_error) or user_error.kind) from err


def require_choice(value: Any, what: str) -> None:
    """An empty form field, said in the form's words before any service is asked."""
    if value in (None, "", []):
        raise gr.Error(what)


def split_list(text: str | None) -> list[str]:
    return [g.strip() for g in (text or "").split(",") if g.strip()]


def _numbered(sources: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    # "n" is the number the answer cites the source by; messages stored before it was kept count from 1.
    return [(int(s.get("n") or i), s) for i, s in enumerate(sources, 1)]


def sources_html(sources: list[dict[str, Any]]) -> str:
    """Citations as expandable passages, each naming its file and page, with a link to the file itself and
    one to the cited page with the passage highlighted (a PDF's page image is shown inline too)."""
    if not sources:
        return ""
    items = [_citation(n, s) for n, s in _numbered(sources)]
    return '<div class="sources"><strong>Sources</strong>' + "".join(items) + "</div>"


def _citation(n: int, s: dict[str, Any]) -> str:
    name = html.escape(s.get("metadata", {}).get("file_name") or Path(s["source"]).name)
    page = s.get("page")
    view = html.escape(view_url(s["source"], page, s["text"]))
    shown = f"show page {page}" if page else "show the passage in the document"
    # Lazy: a closed <details> fetches no image until it is opened.
    image = (f'<a href="{view}" target="_blank" rel="noopener"><img class="page" loading="lazy" alt="page {page} '
             f'of {name}" src="{html.escape(image_url(s["source"], page, s["text"]))}"></a>'
             if page and s["source"].lower().endswith(".pdf") else "")
    return (f'<details class="citation"><summary>[{n}] {name}{f", page {page}" if page else ""}</summary>'
            f"<blockquote>{html.escape(s['text'])}</blockquote>"
            f'<a href="{html.escape(file_url(s["source"], page))}" target="_blank" rel="noopener">open {name}</a>'
            f'<a class="show-page" href="{view}" target="_blank" rel="noopener">{shown}</a>{image}</details>')


# "[2]" or "[1, 3]" not already a link's text; what the pipeline's prompt asks the model to cite with.
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\](?![(\]])")


def linked_markers(text: str, sources: list[dict[str, Any]]) -> str:
    """Markdown where each [n] citing a source links to that source's page preview (numbers citing
    nothing stay as they are)."""
    urls = {n: view_url(s["source"], s.get("page"), s["text"]) for n, s in _numbered(sources)}

    def link(match: re.Match[str]) -> str:
        numbers = [int(x) for x in match.group(1).split(",")]
        if not all(n in urls for n in numbers):
            return match.group(0)
        if len(numbers) == 1:
            return f"[[{numbers[0]}]]({urls[numbers[0]]})"
        return "[" + ", ".join(f"[{n}]({urls[n]})" for n in numbers) + "]"

    return _MARKER.sub(link, text)


def answer_text(text: str, sources: list[dict[str, Any]]) -> str:
    """An answer as shown in the chat: the text, an honest note when nothing was found, the cited files;
    each [n] links to its source's page."""
    if text.strip() == NOT_FOUND:
        text += " Nothing relevant was found in the documents you can see; try other words or fewer filters."
    if sources:
        names = ", ".join(f"[{n}] {Path(s['source']).name}" + (f" p.{s['page']}" if s.get("page") else "")
                          for n, s in _numbered(sources))
        text += f"\n\nSources: {names}"
    return linked_markers(text, sources)
