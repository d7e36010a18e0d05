"""What every tab shares: who is signed in, the one error decorator, and how an answer and its sources look."""

from __future__ import annotations

import functools
import html
import inspect
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from assistant.errors import as_user_error
from assistant.services import NOT_FOUND, Services, User
from ui.deps import SESSION_COOKIE

CSS = """
.sources details { margin: .25rem 0; }
.sources summary { cursor: pointer; font-weight: 600; }
.sources blockquote { margin: .3rem 0 .3rem 1rem; color: #444; white-space: pre-wrap; }
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
    """Citations as expandable passages, each naming its file and page, with a link to the file itself."""
    if not sources:
        return ""
    items = []
    for n, s in _numbered(sources):
        name = html.escape(s.get("metadata", {}).get("file_name") or Path(s["source"]).name)
        page = f", page {s['page']}" if s.get("page") else ""
        href = "/document?source=" + urllib.parse.quote(s["source"], safe="")
        if s.get("page"):
            href += f"#page={s['page']}"
        items.append(
            f'<details class="citation"><summary>[{n}] {name}{page}</summary>'
            f"<blockquote>{html.escape(s['text'])}</blockquote>"
            f'<a href="{href}" target="_blank" rel="noopener">open {name}</a></details>'
        )
    return '<div class="sources"><strong>Sources</strong>' + "".join(items) + "</div>"


def answer_text(text: str, sources: list[dict[str, Any]]) -> str:
    """An answer as shown in the chat: the text, an honest note when nothing was found, the cited files."""
    if text.strip() == NOT_FOUND:
        text += " Nothing relevant was found in the documents you can see; try other words or fewer filters."
    if sources:
        names = ", ".join(f"[{n}] {Path(s['source']).name}" + (f" p.{s['page']}" if s.get("page") else "")
                          for n, s in _numbered(sources))
        text += f"\n\nSources: {names}"
    return text
