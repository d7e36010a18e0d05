"""What every generation backend offers, and the one error type a user can act on.

A backend turns OpenAI-style chat messages into text, whole (`generate`) or piece by piece
(`stream`). The local transformers model, an OpenAI-compatible endpoint and an engine (the base
model with a LoRA adapter chain active) all implement it, so chat, the API and evaluation do not
care which one they hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from assistant.errors import Unavailable

Message = dict[str, str]


class LLMUnavailable(Unavailable):
    """The configured language model cannot be used; the one-line message names it and what to do.

    Covers a missing model folder, an unreachable or silent endpoint, an unknown engine, a prompt
    that cannot fit: everything the CLI reports as a user error rather than a traceback.
    """


class PromptTooLong(LLMUnavailable):
    """The prompt alone fills the model's context window. A subclass of LLMUnavailable so that
    every front end already reports it in one line."""


@dataclass(frozen=True)
class GenerationOptions:
    """One request's sampling, over the settings' defaults: None (or no stop) = the `[llm]` setting.

    An API client's `temperature`, `top_p`, `stop`, `seed` and `max_tokens` arrive here, so two requests
    on one model can sample differently."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None

    def resolved(self, settings: Any) -> GenerationOptions:
        """Every field filled from `settings` (an LLMSettings) where this request left it open; the stop
        sequences are the settings' and the request's together."""
        return GenerationOptions(
            max_new_tokens=self.max_new_tokens or settings.max_new_tokens,
            temperature=settings.temperature if self.temperature is None else self.temperature,
            top_p=settings.top_p if self.top_p is None else self.top_p,
            stop=tuple(dict.fromkeys([*settings.stop, *self.stop])),
            seed=self.seed,
        )


@runtime_checkable
class GenerationBackend(Protocol):
    name: str

    @property
    def context_window(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[Message], max_new_tokens: int | None = None,
                 options: GenerationOptions | None = None) -> str: ...

    def stream(self, messages: list[Message], max_new_tokens: int | None = None,
               options: GenerationOptions | None = None) -> Iterator[str]:
        """Yield text pieces as they are produced; their concatenation equals `generate`'s answer.

        Exhaust or close() the iterator: a local backend holds its model until then."""
        ...


class StreamText:
    """Shapes streamed pieces so that their concatenation equals the whole answer `generate` returns.

    `generate` strips surrounding whitespace and cuts at the first stop sequence; a stream cannot
    see the future, so it holds back the trailing whitespace and any tail that could still grow
    into a stop sequence, and releases them once the next piece shows they were ordinary text.
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self.stop = [s for s in stop if s]
        self.pending = ""
        self.started = False
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Text that is now safe to show (may be empty). Sets `stopped` once a stop sequence appears."""
        if self.stopped:
            return ""
        text = self.pending + piece
        if not self.started:
            text = text.lstrip()
            if not text:
                return ""
            self.started = True
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self.pending = ""
            return text[:cut].rstrip()
        keep = len(text) - len(text.rstrip())
        for s in self.stop:  # the longest tail that is the start of a stop sequence
            for n in range(min(len(s) - 1, len(text)), keep, -1):
                if s.startswith(text[-n:]):
                    keep = n
                    break
        keep = len(text) - len(text[: len(text) - keep].rstrip())  # and the whitespace before that tail
        self.pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def finish(self) -> str:
        """Whatever was held back and turned out to be a real, non-trailing part of the answer."""
        rest = "" if self.stopped else self.pending.rstrip()
        self.pending = ""
        return rest


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to the first stop sequence, surrounding whitespace stripped (what `generate` returns)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut] if cut >= 0 else text).strip()
