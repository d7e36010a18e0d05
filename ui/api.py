"""The OpenAI-compatible HTTP API at /v1: thin routes over the services.

`model` is an engine name. Extra request fields: `use_context` (RAG on/off, default on) and
`where` (a metadata filter). Responses carry `sources` (each with `n`, the number the answer cites it
by) and `found` beside `choices`. A Bearer key from `assistant users key NAME` identifies the user,
whose groups apply to retrieval and whose role to what they may call. Errors are OpenAI's JSON, with
the status of the error's kind (ui.openai_errors). Which OpenAI parameters are honoured, ignored or refused:
ui.openai_requests. `usage` counts the prompt really sent (our system prompt with the sources, the history,
the question) by the engine's tokenizer; `finish_reason` is "length" when the answer used its whole limit.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from assistant.errors import Unavailable
from assistant.services import Answer, ChatRequest, Services, User
from ui.deps import ApiUser, ServicesDep
from ui.openai_errors import ApiError, api_error, route_not_found
from ui.openai_requests import ChatBody, EmbeddingBody, Sampling, TextCompletionBody


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


router = APIRouter(prefix="/v1", route_class=ApiRoute)


@router.get("/models")
def models(user: ApiUser, services: ServicesDep) -> dict[str, Any]:
    """The engines this key may chat with: base and the promoted versions (on a vLLM server, those it has)."""
    names = services.engines.offered(user, services.chat.engine_names(user))
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "assistant"}
                                       for n in names]}


@router.get("/engines")
def engines(user: ApiUser, services: ServicesDep) -> dict[str, Any]:
    """Admins: every registered engine version with its lineage, metrics, gate result and promotion."""
    return {"object": "list", "data": services.engines.list(user)}


@router.get("/models/{model_id:path}")
def model(model_id: str, user: ApiUser, services: ServicesDep) -> dict[str, Any]:
    if model_id not in services.chat.engine_names(user):
        raise ApiError(404, f"no engine named {model_id!r} that you may use", "invalid_request_error",
                       "model_not_found", param="model")
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "assistant"}


@router.post("/chat/completions", response_model=None)
def chat_completions(body: ChatBody, user: ApiUser, services: ServicesDep) -> Any:
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    return _complete(services, user, body, messages, "chat.completion")


@router.post("/completions", response_model=None)
def completions(body: TextCompletionBody, user: ApiUser, services: ServicesDep) -> Any:
    """The legacy text completion (llama-index's OpenAILike calls it): the prompt is one user question."""
    return _complete(services, user, body, [{"role": "user", "content": body.text()}], "text_completion")


@router.post("/embeddings")
def embeddings(body: EmbeddingBody, user: ApiUser, services: ServicesDep) -> dict[str, Any]:
    """Vectors by the configured embedder (the one the index uses), whatever `model` names."""
    texts = body.texts()
    name, vectors = services.chat.embed(user, texts)
    tokens = sum(len(t.split()) for t in texts)  # the embedder's own tokenizer is not exposed; words
    return {"object": "list", "model": name,
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _complete(services: Services, user: User, body: Sampling, messages: list[dict[str, Any]], kind: str) -> Any:
    body.refuse_unsupported()
    model = _model(services, user, body.model)
    request = ChatRequest("", model, body.use_context, where=body.where, options=body.options())
    turn = services.chat.stream_messages(user, messages, request)
    prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
    completion_id = f"{prefix}-{uuid.uuid4().hex[:24]}"
    usage = (lambda answer: _usage(services, user, model, answer)) if body.include_usage() or not body.stream else None
    if body.stream:
        events = _sse(_started(turn), completion_id, body.model, kind, usage)
        return StreamingResponse(_in_threads(events), media_type="text/event-stream")
    answer = _drain(turn)
    choice: dict[str, Any] = {"index": 0, "finish_reason": answer.finish_reason, "logprobs": None}
    if kind == "chat.completion":
        choice["message"] = {"role": "assistant", "content": answer.answer}
    else:
        choice["text"] = answer.answer
    return {"id": completion_id, "object": kind, "created": int(time.time()), "model": body.model,
            "choices": [choice], "usage": usage(answer) if usage else None,
            "sources": answer.sources_json(), "found": answer.found}


def _usage(services: Services, user: User, model: str, answer: Answer) -> dict[str, int]:
    prompt = services.chat.count_tokens(user, model, [m.get("content") or "" for m in answer.prompt])
    completion = services.chat.count_tokens(user, model, [answer.answer])
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _model(services: Services, user: User, model: str) -> str:
    """The engine this user may use by that name; an unknown one is OpenAI's 404 `model_not_found`."""
    try:
        return services.chat.check_engine(user, model)
    except Exception as err:
        raise api_error(err, not_found_code="model_not_found") from err


def _started(turn: Iterator[str | Answer]) -> Iterator[str | Answer]:
    """The stream with its first piece already taken: what fails before any text (busy: 503 with
    Retry-After, an engine that does not load) gets its real status, not an error event after a 200."""
    turn = iter(turn)
    first = next(turn, None)

    def rest() -> Iterator[str | Answer]:
        if first is not None:
            yield first
        yield from turn

    return rest()


async def _in_threads(pieces: Iterator[str]) -> AsyncIterator[str]:
    """A sync stream for StreamingResponse, each piece made on a worker thread. When the client goes away
    the stream is closed at once, on a worker thread (closing it frees the request's row in the model's
    batch, which can wait for the step in progress); Starlette's own wrapper leaves that to the GC."""
    done = object()
    try:
        while (piece := await anyio.to_thread.run_sync(next, pieces, done)) is not done:
            yield piece  # type: ignore[misc]
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)


def _drain(turn: Iterator[str | Answer]) -> Answer:
    for piece in turn:
        if isinstance(piece, Answer):
            return piece
    raise Unavailable("the engine ended without an answer")


def _sse(turn: Iterator[str | Answer], completion_id: str, model: str, kind: str,
         usage: Callable[[Answer], dict[str, int]] | None) -> Iterator[str]:
    """Server-sent events in OpenAI's chunk format; sources ride on the last chunk, then (when asked by
    stream_options.include_usage) a chunk with empty choices and the usage. A failure once the stream has
    started is an error event (the status is already sent)."""
    created = int(time.time())
    chat = kind == "chat.completion"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta} if chat else {"index": 0, "text": delta.get("content", "")}
        doc = {"id": completion_id, "object": f"{kind}.chunk" if chat else kind, "created": created, "model": model,
               "choices": [{**choice, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(doc, ensure_ascii=False)}\n\n"

    if chat:
        yield chunk({"role": "assistant", "content": ""})
    try:
        for piece in turn:
            if isinstance(piece, Answer):
                yield chunk({}, piece.finish_reason, sources=piece.sources_json(), found=piece.found)
                if usage:
                    doc = {"id": completion_id, "object": f"{kind}.chunk" if chat else kind, "created": created,
                           "model": model, "choices": [], "usage": usage(piece)}
                    yield f"data: {json.dumps(doc)}\n\n"
            elif piece:
                yield chunk({"content": piece})
    except Exception as err:
        yield f"data: {json.dumps(api_error(err).body(), ensure_ascii=False)}\n\n"
    finally:
        getattr(turn, "close", lambda: None)()  # a client gone mid-stream: its row leaves the batch now
    yield "data: [DONE]\n\n"


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def unknown_route(path: str, request: Request) -> Response:
    """Any other /v1 path: OpenAI's error shape, not FastAPI's."""
    return route_not_found(request.method, request.url.path).response()
