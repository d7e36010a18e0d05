"""The bodies /v1 accepts, and the one rule for OpenAI parameters we do not support.

Honoured: `max_tokens` / `max_completion_tokens` (>= 1; above `llm.max_new_tokens` it is capped to it),
`temperature`, `top_p`, `stop` (a string or a list), `seed`, `stream`, `stream_options.include_usage`.
Refused with a 400 naming the parameter (`param`), because half-supporting them would mislead a client:
`n` > 1, `tools` / `functions` / a `tool_choice` other than "none", `response_format` other than text,
`logprobs` / `top_logprobs`, `echo`, `best_of` > 1, `suffix`, `audio` and non-text `modalities`.
Accepted and ignored, as OpenAI clients send them routinely and they do not change what a grounded answer
says: `user`, `presence_penalty`, `frequency_penalty` (the local model has its own loop guard), `logit_bias`,
`metadata`, `store`, `service_tier`, `parallel_tool_calls`, `reasoning_effort`, `prediction`.
Any other field is a 400 naming it, so a typo or a feature we lack is never silently ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.services import GenerationOptions
from ui.openai_errors import ApiError

IGNORED = frozenset({"user", "presence_penalty", "frequency_penalty", "logit_bias", "metadata", "store",
                     "service_tier", "parallel_tool_calls", "reasoning_effort", "prediction"})


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id, ...
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI's content parts: keep the text ones
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class Sampling(BaseModel):
    """What both completion endpoints share: the model, our extra fields and the sampling options."""

    model_config = ConfigDict(extra="allow")
    model: str = "base"
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    use_context: bool = True
    where: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = None
    logprobs: bool | int | None = None
    top_logprobs: int | None = None

    def options(self) -> GenerationOptions:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return GenerationOptions(self.max_completion_tokens or self.max_tokens, self.temperature, self.top_p,
                                 tuple(s for s in stop if s), self.seed)

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))

    def refuse_unsupported(self) -> None:
        """A 400 naming the first parameter we would otherwise have to ignore (the module's rule)."""
        extra = {k: v for k, v in (self.model_extra or {}).items() if k not in IGNORED and v is not None}
        if self.n is not None and self.n != 1:
            _refuse("n", "n > 1 is not supported: each request gets one answer; send n requests")
        if self.logprobs or self.top_logprobs:
            _refuse("logprobs" if self.logprobs else "top_logprobs", "logprobs are not supported")
        if extra.get("tools") or extra.get("functions"):
            name = "tools" if extra.get("tools") else "functions"
            _refuse(name, f"{name} (function calling) is not supported: the assistant answers from documents")
        for name, value in extra.items():
            if name in ("tools", "functions"):
                continue
            if name in ("tool_choice", "function_call") and value in ("none", []):
                continue
            if name == "response_format" and isinstance(value, dict) and value.get("type") == "text":
                continue
            if name == "modalities" and value == ["text"]:
                continue
            if name == "best_of" and value == 1:
                continue
            what = {"response_format": "structured output (response_format other than text) is not supported",
                    "tool_choice": "tool_choice needs tools, which are not supported"}.get(name)
            _refuse(name, what or f"unknown or unsupported parameter {name!r}")


def _refuse(param: str, message: str) -> None:
    raise ApiError(400, message, "invalid_request_error", "unsupported_parameter", param=param)


class ChatBody(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)


class TextCompletionBody(Sampling):
    prompt: str | list[str]

    def text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                _refuse("prompt", "one prompt per request (a list of several would need n answers)")
            return self.prompt[0]
        return self.prompt


class EmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = "embedder"
    input: str | list[str]
    encoding_format: str | None = None
    user: str | None = None

    def texts(self) -> list[str]:
        if self.encoding_format not in (None, "float"):
            _refuse("encoding_format", "only encoding_format 'float' is supported")
        extra = sorted(set(self.model_extra or {}) - {"dimensions"})
        if extra or (self.model_extra or {}).get("dimensions"):
            _refuse((extra or ["dimensions"])[0], f"unsupported parameter {(extra or ['dimensions'])[0]!r}")
        return [self.input] if isinstance(self.input, str) else list(self.input)
