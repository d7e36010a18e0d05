"""ui.access_log.AccessLog in process, over a tiny FastAPI app: request ids, one line per request, streams
logged once at their end."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient

from assistant.config import load_settings
from ui.access_log import ACCESS_LOGGER, MAX_REQUEST_ID, AccessLog, request_id_of

CHUNKS = 3
PAUSE_S = 0.05


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access() -> Iterator[Records]:
    logger = logging.getLogger(ACCESS_LOGGER)
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def tiny_app(access: Records, enabled: bool = True) -> tuple[FastAPI, list[int]]:
    """Routes of each kind; `seen` records how many access lines existed while the stream was producing."""
    app = FastAPI()
    seen: list[int] = []

    @app.get("/hello")
    def hello() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/own-id")
    def own_id() -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"X-Request-ID": "set-by-the-route"})

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/gradio_api/heartbeat/abc")
    def heartbeat() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def pieces():
            for i in range(CHUNKS):
                seen.append(len(access.records))
                await asyncio.sleep(PAUSE_S)
                yield f"piece {i}\n"

        return StreamingResponse(pieces(), media_type="text/plain")

    app.add_middleware(AccessLog, enabled=enabled)
    return app, seen


def test_a_request_id_is_made_and_one_line_is_logged_per_request(access: Records) -> None:
    app, _ = tiny_app(access)
    with TestClient(app) as client:
        first = client.get("/hello?token=s3cret-value")
        second = client.get("/hello")
    assert first.status_code == second.status_code == 200
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]
    assert len(access.records) == 2  # one line per request
    line = access.records[0]
    assert (line.method, line.path, line.status, line.request_id) == ("GET", "/hello", 200, ids[0])
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0 and line.completed is True
    assert line.levelno == logging.INFO
    text = line.getMessage()
    assert text.startswith("GET /hello 200 ") and "ms id=" + ids[0] in text
    assert "s3cret" not in text and "token" not in text  # the query string is never logged


def test_an_incoming_request_id_is_passed_through_sanitised(access: Records) -> None:
    app, _ = tiny_app(access)
    with TestClient(app) as client:
        passed = client.get("/hello", headers={"X-Request-ID": "lb-7f3a.2:x_y"})
        dirty = client.get("/hello", headers={"X-Request-ID": 'bad id"<script>'})
        long = client.get("/hello", headers={"X-Request-ID": "a" * 200})
        replaced = client.get("/own-id", headers={"X-Request-ID": "from-client"})
    assert passed.headers["x-request-id"] == "lb-7f3a.2:x_y"
    assert dirty.headers["x-request-id"] == "badidscript"
    assert long.headers["x-request-id"] == "a" * MAX_REQUEST_ID
    assert replaced.headers.get_list("x-request-id") == ["from-client"]  # one header, the request's id
    assert [r.request_id for r in access.records] == ["lb-7f3a.2:x_y", "badidscript", "a" * 64, "from-client"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id_of("<>\n "))  # nothing usable left: a new one


def test_a_streaming_response_is_logged_once_at_its_end(access: Records) -> None:
    app, seen = tiny_app(access)
    with TestClient(app) as client:
        response = client.get("/stream")
    assert response.text == "".join(f"piece {i}\n" for i in range(CHUNKS))
    assert seen == [0] * CHUNKS  # nothing was logged while the stream was still producing
    (line,) = access.records  # and exactly one line after it ended
    assert (line.path, line.status, line.completed) == ("/stream", 200, True)
    assert line.duration_ms >= CHUNKS * PAUSE_S * 1000 * 0.9  # the whole stream, not its first piece
    assert line.request_id == response.headers["x-request-id"]


def test_a_failing_route_is_logged_with_500_and_gradio_routes_at_debug(access: Records) -> None:
    app, _ = tiny_app(access)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
        assert client.get("/gradio_api/heartbeat/abc").status_code == 200
    boom, heartbeat = access.records
    assert (boom.path, boom.status, boom.levelno) == ("/boom", 500, logging.INFO)
    assert (heartbeat.path, heartbeat.levelno) == ("/gradio_api/heartbeat/abc", logging.DEBUG)


def test_with_the_access_log_off_requests_still_get_an_id_and_nothing_is_logged(access: Records) -> None:
    app, _ = tiny_app(access, enabled=False)
    with TestClient(app) as client:
        response = client.get("/hello", headers={"X-Request-ID": "abc"})
    assert response.headers["x-request-id"] == "abc"
    assert access.records == []


def test_the_web_app_logs_its_requests_with_their_ids(tmp_path: Path, access: Records) -> None:
    """create_app wires the middleware in, outermost: the sign-in redirect is logged and carries its id too."""
    from ui.server import create_app

    home = tmp_path / "home"
    home.mkdir()
    with TestClient(create_app(load_settings(home))) as client:
        health = client.get("/health", headers={"X-Request-ID": "wired-1"})
        redirect = client.get("/", follow_redirects=False)
    assert health.headers["x-request-id"] == "wired-1" and redirect.status_code == 303
    lines = [(r.path, r.status, r.request_id) for r in access.records]
    assert lines == [("/health", 200, "wired-1"), ("/", 303, redirect.headers["x-request-id"])]
