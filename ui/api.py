"""The OpenAI-compatible HTTP API at /v1: thin routes over the services.

`model` is an engine name. Extra request fields: `use_context` (RAG on/off, default on) and
`where` (a metadata filter). Responses carry `sources` (each with `n`, the number the answer cites it
by) and `found` beside `choices`. A Bearer key from `assistant users key NAME` identifies the user,
whose groups apply to retrieval and whose role to what they may call. Errors are OpenAI's JSON, with
the status of the error's kind (ui.openai_errors).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from assistant.errors import Unavailable
from assistant.services import Answer, ChatRequest, Services, User
from ui.deps import ApiUser, ServicesDep
from ui.openai_errors import api_error


class ApiRoute(APIRoute):
    """Every /v1 route answers a failure the one way: api_error's status and OpenAI's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as err:
                return api_error(err).response()

        return route


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI's content parts: keep the text ones
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class CompletionRequest(BaseModel):
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


router = APIRouter(prefix="/v1", route_class=ApiRoute)


@router.get("/models")
def models(user: ApiUser, services: ServicesDep) -> dict[str, Any]:
    """The engines this key may chat with: base and the promoted versions."""
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "assistant"}
                                       for n in services.chat.engine_names(user)]}


@router.get("/engines")
def engines(user: ApiUser, services: ServicesDep) -> dict[str, Any]:
    """Admins: every registered engine version with its lineage, metrics, gate result and promotion."""
    return {"object": "list", "data": services.engines.list(user)}


@router.post("/chat/completions", response_model=None)
def chat_completions(body: CompletionRequest, user: ApiUser, services: ServicesDep) -> Any:
    model = _model(services, user, body.model)
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    turn = services.chat.stream_messages(user, messages, ChatRequest("", model, body.use_context, where=body.where))
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if body.stream:
        return StreamingResponse(_sse(turn, completion_id, body.model), media_type="text/event-stream")
    answer = _drain(turn)
    prompt_tokens = services.chat.count_tokens(user, model, [m["content"] for m in messages])
    completion_tokens = services.chat.count_tokens(user, model, [answer.answer])
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "sources": answer.sources_json(),
        "found": answer.found,
    }


def _model(services: Services, user: User, model: str) -> str:
    """The engine this user may use by that name; an unknown one is OpenAI's 404 `model_not_found`."""
    try:
        return services.chat.check_engine(user, model)
    except Exception as err:
        raise api_error(err, not_found_code="model_not_found") from err


def _drain(turn: Iterator[str | Answer]) -> Answer:
    for piece in turn:
        if isinstance(piece, Answer):
            return piece
    raise Unavailable("the engine ended without an answer")


def _sse(turn: Iterator[str | Answer], completion_id: str, model: str) -> Iterator[str]:
    """Server-sent events in OpenAI's chunk format; sources ride on the last chunk. A failure once the
    stream has started is an error event (the status is already sent)."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        doc = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(doc, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for piece in turn:
            if isinstance(piece, Answer):
                yield chunk({}, "stop", sources=piece.sources_json(), found=piece.found)
            elif piece:
                yield chunk({"content": piece})
    except Exception as err:
        yield f"data: {json.dumps(api_error(err).body(), ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
