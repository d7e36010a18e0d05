"""The judge for RAGAS's LLM metrics: any of our generation backends wrapped as a RAGAS LLM.

`--judge local` hands in a local engine, `--judge URL` an OpenAI-compatible endpoint (the CLI builds
both; this module only needs `generate(messages, max_new_tokens)`), so one wrapper serves both and
counts what happened to every call: answered, timed out, failed, and whether its text held JSON
(RAGAS's prompts all expect a JSON answer; a small model often gives prose, and the metric's score
then becomes NaN). Timeouts are retried by RAGAS's own retry (RunConfig), then counted as failures.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from eval.ragas_env import import_ragas


class JudgeTimeout(Exception):
    """One judge call ran out of time (retried, then a failure of that row's metric)."""


class JudgeError(Exception):
    """One judge call failed for another reason (the endpoint answered an error, the model crashed)."""


class Backend(Protocol):
    def generate(self, messages: list[dict[str, str]], max_new_tokens: int | None = None) -> str: ...


@dataclass
class JudgeSpec:
    """What the CLI decided the judge is; `backend` None means no judge (`--judge none`)."""

    kind: str  # none | local | url
    backend: Backend | None = None
    model: str | None = None  # the engine or the served model's name
    url: str | None = None
    max_new_tokens: int = 512
    timeout_s: float = 120.0
    retries: int = 1  # extra tries of a call that timed out
    workers: int = 1  # concurrent judge calls (1 for a local model: it generates one request at a time)
    embeddings: Any = None  # a llama-index embedding model, for response relevancy

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "url": self.url, "max_new_tokens": self.max_new_tokens,
                "timeout_s": self.timeout_s, "retries": self.retries}


@dataclass
class JudgeStats:
    calls: int = 0  # every generate attempt, retries included
    answered: int = 0
    json_ok: int = 0  # answers whose text held a parseable JSON object or list
    timeouts: int = 0
    errors: int = 0
    seconds: float = 0.0
    last_error: str | None = None
    # Called before every judge call: a cancelled job's check raises there, so the remaining calls of a
    # long judged metric fail at once instead of running to the end.
    before_call: Callable[[], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "answered": self.answered, "json_parsed": self.json_ok,
            "json_parsed_share": round(self.json_ok / self.answered, 4) if self.answered else None,
            "timeouts": self.timeouts, "errors": self.errors, "seconds": round(self.seconds, 2),
            "last_error": self.last_error,
        }


def holds_json(text: str) -> bool:
    """Would RAGAS's parser find JSON in this answer? (It takes the first {...} or [...] block.)"""
    import_ragas()
    from ragas.prompt.utils import extract_json

    try:
        json.loads(extract_json(text))
    except (ValueError, TypeError):
        return False
    return True


def is_timeout(err: BaseException) -> bool:
    """Timeouts look different per backend (openai.APITimeoutError wrapped in our LLMUnavailable, TimeoutError)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, TimeoutError) or "timeout" in type(seen).__name__.lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def call_judge(backend: Backend, messages: list[dict[str, str]], max_new_tokens: int, stats: JudgeStats) -> str:
    if stats.before_call is not None:
        stats.before_call()
    started = time.perf_counter()
    try:
        text = backend.generate(messages, max_new_tokens)
    except Exception as err:
        with stats._lock:
            stats.calls += 1
            stats.seconds += time.perf_counter() - started
            stats.last_error = " ".join(str(err).split())[:300]
            if is_timeout(err):
                stats.timeouts += 1
                raise JudgeTimeout(stats.last_error) from err
            stats.errors += 1
        raise JudgeError(stats.last_error) from err
    parsed = holds_json(text)
    with stats._lock:
        stats.calls += 1
        stats.answered += 1
        stats.json_ok += parsed
        stats.seconds += time.perf_counter() - started
    return text


def probe(spec: JudgeSpec) -> str | None:
    """None when the judge answers a trivial request; else why it cannot be used (unreachable, unknown model)."""
    if spec.backend is None:
        return "no judge"
    try:
        spec.backend.generate([{"role": "user", "content": "Reply with the word OK."}], 4)
    except Exception as err:
        return " ".join(str(err).split())[:400] or type(err).__name__
    return None


_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def make_ragas_llm(spec: JudgeSpec, stats: JudgeStats, run_config: Any) -> Any:
    """A RAGAS LLM (BaseRagasLLM) that sends RAGAS's prompts to the judge backend."""
    import_ragas()
    from langchain_core.outputs import Generation, LLMResult
    from ragas.llms.base import BaseRagasLLM

    backend = spec.backend
    if backend is None:
        raise ValueError("make_ragas_llm needs a judge backend")

    class BackendRagasLLM(BaseRagasLLM):
        def __init__(self) -> None:
            super().__init__(run_config=run_config)

        def _messages(self, prompt: Any) -> list[dict[str, str]]:
            if hasattr(prompt, "to_messages"):
                return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in prompt.to_messages()]
            return [{"role": "user", "content": str(prompt)}]

        def generate_text(self, prompt: Any, n: int = 1, temperature: float = 0.01, stop: Any = None,
                          callbacks: Any = None) -> Any:
            # n > 1 would repeat the same greedy answer: RAGAS metrics are configured with n = 1.
            texts = [call_judge(backend, self._messages(prompt), spec.max_new_tokens, stats) for _ in range(n)]
            return LLMResult(generations=[[Generation(text=t) for t in texts]])

        async def agenerate_text(self, prompt: Any, n: int = 1, temperature: float | None = 0.01, stop: Any = None,
                                 callbacks: Any = None) -> Any:
            # The backends are blocking; a worker thread keeps RAGAS's event loop responsive.
            return await asyncio.to_thread(self.generate_text, prompt, n, temperature or 0.01, stop, callbacks)

        def is_finished(self, response: Any) -> bool:
            return True  # a truncated answer shows up as a parse failure, which is what gets counted

    return BackendRagasLLM()
