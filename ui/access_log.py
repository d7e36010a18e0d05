"""The access log: one line per HTTP request on the logger `assistant.access`, and a request id on each.

The id is the request's `X-Request-ID` header, sanitised (letters, digits and `. _ : -`, at most 64
characters), or a new one when it has none left; the response carries it back as `X-Request-ID`, and routes
find it in `request.state.request_id`. A line has the method, the path (never the query string, where
secrets such as `?source=` paths or tokens may be), the status, the duration in ms, the request id, the
client address and whether the body was sent to its end (`completed`: false when the client left a stream).

A streaming response is logged once, when it ends. Gradio's own routes (its assets, config, queue and
heartbeat, under `GRADIO_PREFIXES`/`GRADIO_PATHS`) are logged at DEBUG unless they fail (status >= 400), so
that at INFO the log shows the sign-in pages, the API and the files a page opens.

A plain ASGI middleware, like `ui.server.SignInFirst`: `@app.middleware("http")` would hide a client's
disconnect from the streaming responses behind it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

ACCESS_LOGGER = "assistant.access"
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID = 64
_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")

GRADIO_PREFIXES = ("/gradio_api/", "/assets/", "/static/", "/svelte/", "/custom_component/", "/file=")
GRADIO_PATHS = frozenset({"/config", "/config/", "/theme.css", "/favicon.ico", "/manifest.json",
                          "/robots.txt", "/info", "/heartbeat"})


def request_id_of(value: str | None) -> str:
    """The client's id made safe for logs and headers, else a new random one (32 hex digits)."""
    cleaned = _UNSAFE.sub("", value or "")[:MAX_REQUEST_ID]
    return cleaned or uuid.uuid4().hex


def is_gradio_route(path: str) -> bool:
    return path in GRADIO_PATHS or path.startswith(GRADIO_PREFIXES)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class AccessLog:
    """Adds the request id to every HTTP response; with `enabled`, logs one line per request at its end."""

    def __init__(self, app: Any, enabled: bool = True, logger: str = ACCESS_LOGGER) -> None:
        self.app, self.enabled, self.log = app, enabled, logging.getLogger(logger)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(_header(scope, _HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        sent = {"status": 0, "completed": False}

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, request_id.encode("latin-1"))]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                sent["completed"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not sent["status"]:
                sent["status"] = 500  # what the server answers for a route that raised before responding
            raise
        finally:
            if self.enabled:
                self._line(scope, request_id, sent["status"], sent["completed"], started)

    def _line(self, scope: dict[str, Any], request_id: str, status: int, completed: bool, started: float) -> None:
        path = scope.get("path") or "/"
        level = logging.DEBUG if is_gradio_route(path) and 0 < status < 400 else logging.INFO
        if not self.log.isEnabledFor(level):
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        client = scope.get("client")
        fields = {"method": scope.get("method", ""), "path": path, "status": status, "duration_ms": duration_ms,
                  "request_id": request_id, "client": client[0] if client else None, "completed": completed}
        self.log.log(level, "%s %s %s %.1fms id=%s%s", fields["method"], path, status or "-", duration_ms,
                     request_id, "" if completed else " (not completed)", extra=fields)
