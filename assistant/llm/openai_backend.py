"""Generation through an OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, a hosted API).

The same settings drive it as the local model where the API has an equivalent: max_tokens,
temperature (0 = greedy), top_p, stop sequences; frequency_penalty is the loop guard, since like our
local guards it counts generated tokens only. Every failure a user can act on becomes LLMUnavailable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.config import LLMSettings
from assistant.llm.base import (
    GenerationOptions,
    LLMUnavailable,
    Message,
    PromptTooLong,
    StreamText,
    cut_at_stop,
)

DEFAULT_CONTEXT_WINDOW = 4096
_TEMPLATE_TOKENS_PER_MESSAGE = 8  # role markers and separators a chat template adds around each message


class OpenAIBackend:
    def __init__(self, settings: LLMSettings, model: str | None = None, name: str | None = None) -> None:
        if not settings.api_base:
            raise LLMUnavailable("llm.api_base is not set; set it to the endpoint URL, e.g. http://127.0.0.1:8000/v1")
        from openai import OpenAI

        self.settings = settings
        self.url = settings.api_base.rstrip("/")
        self.model = model or settings.model
        self.name = name or self.model
        self.client = OpenAI(
            base_url=self.url, api_key=settings.api_key or "not-needed",
            timeout=settings.timeout_s, max_retries=settings.max_retries,
        )
        self._context_window = settings.context_window
        self._tokenizer: Any = None

    # -- sizes -------------------------------------------------------------------------------------
    @property
    def context_window(self) -> int:
        """llm.context_window, else the `max_model_len` the endpoint lists for the model (vLLM does), else 4096."""
        if self._context_window is None:
            with self._errors():
                listed = {m.id: m for m in self.client.models.list()}
            reported = getattr(listed.get(self.model), "max_model_len", None)
            known = isinstance(reported, int) and reported > 0
            self._context_window = int(reported) if known else DEFAULT_CONTEXT_WINDOW
        return self._context_window

    def count_tokens(self, text: str) -> int:
        if self.settings.tokenizer:
            return len(self._load_tokenizer().encode(text, add_special_tokens=False))
        return (len(text) + 3) // 4  # about four characters a token for English text

    def _load_tokenizer(self) -> Any:
        if self._tokenizer is None:
            folder = Path(self.settings.tokenizer or "").expanduser()
            if not (folder / "tokenizer_config.json").exists() and not (folder / "tokenizer.json").exists():
                raise LLMUnavailable(
                    f"llm.tokenizer {str(folder)!r} is not a local tokenizer folder; point it at the served "
                    "model's folder or unset it to estimate tokens"
                )
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(folder)
        return self._tokenizer

    # -- generation --------------------------------------------------------------------------------
    def _request(self, messages: list[Message], max_new_tokens: int | None,
                 options: GenerationOptions | None = None) -> dict[str, Any]:
        """The request's body: `options` (one request's sampling) over the [llm] settings."""
        s = (options or GenerationOptions(max_new_tokens)).resolved(self.settings)
        prompt = sum(self.count_tokens(m.get("content") or "") + _TEMPLATE_TOKENS_PER_MESSAGE for m in messages)
        room = self.context_window - prompt
        if room < 1:
            raise PromptTooLong(
                f"the prompt has about {prompt} tokens and {self.model} at {self.url} reads at most "
                f"{self.context_window}; shorten the question or retrieve fewer sources (retrieval.top_k)"
            )
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": min(max_new_tokens or s.max_new_tokens or self.settings.max_new_tokens, room),
            "temperature": s.temperature,
            "frequency_penalty": self.settings.frequency_penalty,
        }
        if s.temperature and s.temperature > 0:
            kwargs["top_p"] = s.top_p
        if s.stop:
            kwargs["stop"] = list(s.stop)[:4]  # the API takes at most four
        if s.seed is not None:
            kwargs["seed"] = s.seed
        return kwargs

    def _stop(self, options: GenerationOptions | None) -> tuple[str, ...]:
        return (options or GenerationOptions()).resolved(self.settings).stop

    def generate(self, messages: list[Message], max_new_tokens: int | None = None,
                 options: GenerationOptions | None = None) -> str:
        request = self._request(messages, max_new_tokens, options)
        with self._errors():
            response = self.client.chat.completions.create(**request)
        text = response.choices[0].message.content if response.choices else None
        return cut_at_stop(text or "", self._stop(options))

    def stream(self, messages: list[Message], max_new_tokens: int | None = None,
               options: GenerationOptions | None = None) -> Iterator[str]:
        request = self._request(messages, max_new_tokens, options)
        shaper = StreamText(self._stop(options))
        with self._errors(), self.client.chat.completions.create(**request, stream=True) as chunks:
            # Leaving the `with` closes the connection, which tells the server to stop generating.
            for chunk in chunks:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                text = shaper.feed(delta or "")
                if text:
                    yield text
                if shaper.stopped:
                    return
        rest = shaper.finish()
        if rest:
            yield rest

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import openai

        where = f"the model endpoint at {self.url}"
        try:
            yield
        except openai.APITimeoutError as err:
            tries = f" ({self.settings.max_retries + 1} tries)" if self.settings.max_retries else ""
            raise LLMUnavailable(
                f"{where} did not answer within {self.settings.timeout_s:g} s{tries}; check that it is running "
                "and not overloaded, or raise llm.timeout_s"
            ) from err
        except openai.APIConnectionError as err:
            cause = err.__cause__ or err
            raise LLMUnavailable(f"{where} cannot be reached ({cause}); start it or fix llm.api_base") from err
        except openai.NotFoundError as err:
            raise LLMUnavailable(
                f"{where} does not serve the model {self.model!r}; check llm.model or the engine name "
                f"(GET {self.url}/models lists what it serves)"
            ) from err
        except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
            raise LLMUnavailable(f"{where} refused the API key ({err.status_code}); set llm.api_key") from err
        except openai.APIStatusError as err:
            raise LLMUnavailable(f"{where} answered {err.status_code}: {_short(err)}") from err
        except openai.APIError as err:  # e.g. a malformed answer
            raise LLMUnavailable(f"{where} gave an unusable answer: {_short(err)}") from err


def _short(err: Exception) -> str:
    """The server's own words: OpenAI-style {"error": {"message"}}, FastAPI-style {"detail"}, else the error."""
    body = getattr(err, "body", None)
    detail = None
    if isinstance(body, dict):
        inner = body.get("error")
        detail = inner.get("message") if isinstance(inner, dict) else inner or body.get("detail") or body.get("message")
    text = " ".join(str(detail or getattr(err, "message", None) or err).split())
    return text if len(text) <= 300 else text[:297] + "..."
