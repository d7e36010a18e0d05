"""A fake generation backend, for tests of wiring (services, routes, citations) where the model's words are
not what is tested. It says exactly what the test scripted, so a test can check what the layers around
the model do with an answer. Tests of generation itself use the real embedded model or a tiny real one.
"""

from __future__ import annotations

from collections.abc import Iterator

from assistant.llm.base import GenerationOptions, Message


class ScriptedBackend:
    """Answers every prompt with `reply`, streamed a word at a time; keeps the prompts it was given."""

    def __init__(self, reply: str, name: str = "scripted", context_window: int = 4096) -> None:
        self.reply = reply
        self.name = name
        self._window = context_window
        self.prompts: list[list[Message]] = []
        self.options: list[GenerationOptions | None] = []  # each request's options, as given

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages: list[Message], max_new_tokens: int | None = None,
                 options: GenerationOptions | None = None) -> str:
        self.prompts.append(messages)
        self.options.append(options)
        return self.reply

    def stream(self, messages: list[Message], max_new_tokens: int | None = None,
               options: GenerationOptions | None = None) -> Iterator[str]:
        self.prompts.append(messages)
        self.options.append(options)
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word
