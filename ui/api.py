"""The OpenAI-compatible HTTP API at /v1: a thin router over `Workspace`.

`model` is an engine name. Extra request fields: `use_context` (RAG on/off, default on) and
`where` (a metadata filter). Responses carry `sources` (and `found`) beside `choices`. A Bearer key
from `assistant users key NAME` identifies the user, whose groups apply to retrieval.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from assistant.accounts import User
from assistant.chat import Answer
from assistant.engines import EngineError
from assistant.llm.base import LLMUnavailable
from assistant.services import InputError
from assistant.workspace import PermissionDenied, Workspace


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI's content parts: keep the text ones
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = "base"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    use_context: bool = True
    where: dict[str, Any] | None = None
    # Accepted for compatibility; the engine's generation settings apply.
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None


def _error_for(err: Exception) -> ApiError:
    if isinstance(err, PermissionDenied):
        return ApiError(403, str(err), "permission_error")
    if isinstance(err, EngineError | InputError) and "no engine named" in str(err):
        return ApiError(404, str(err), "invalid_request_error", "model_not_found")
    if isinstance(err, InputError | ValueError):
        return ApiError(400, str(err))
    if isinstance(err, LLMUnavailable):
        return ApiError(503, str(err), "server_error")
    return ApiError(500, f"internal error: {err}", "server_error")


def build_router(workspace: Workspace) -> APIRouter:
    router = APIRouter(prefix="/v1")

    def current_user(request: Request) -> User:
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else None
        user = workspace.key_user(key)
        if user is None:
            raise ApiError(401, "a valid API key is required (Authorization: Bearer KEY; see `assistant users key`)",
                           "invalid_request_error", "invalid_api_key")
        return user

    @router.get("/models")
    def models(user: User = Depends(current_user)) -> dict[str, Any]:
        names = workspace.engine_names(user)
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "assistant"}
                                           for n in names]}

    @router.post("/chat/completions", response_model=None)
    def chat_completions(body: ChatRequest, user: User = Depends(current_user)) -> Any:
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        try:
            workspace.service.check_filter_keys(body.where)
            turn = workspace.ask(user, messages, body.model, body.use_context, body.where)
        except Exception as err:
            return _error_for(err).response()
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            return StreamingResponse(_sse(turn, completion_id, body.model), media_type="text/event-stream")
        try:
            answer = _drain(turn)
        except Exception as err:
            return _error_for(err).response()
        engine = workspace.service.engine(body.model)
        prompt_tokens = sum(engine.count_tokens(m["content"]) for m in messages)
        completion_tokens = engine.count_tokens(answer.answer)
        return {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
            "sources": [s.to_json() for s in answer.sources],
            "found": answer.found,
        }

    return router


def _drain(turn: Iterator[str | Answer]) -> Answer:
    for piece in turn:
        if isinstance(piece, Answer):
            return piece
    raise LLMUnavailable("the engine ended without an answer")


def _sse(turn: Iterator[str | Answer], completion_id: str, model: str) -> Iterator[str]:
    """Server-sent events in OpenAI's chunk format; sources ride on the last chunk."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        doc = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(doc, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for piece in turn:
            if isinstance(piece, Answer):
                yield chunk({}, "stop", sources=[s.to_json() for s in piece.sources], found=piece.found)
            elif piece:
                yield chunk({"content": piece})
    except Exception as err:
        error = _error_for(err)
        yield f"data: {json.dumps({'error': {'message': error.message, 'type': error.kind}})}\n\n"
    yield "data: [DONE]\n\n"
