"""A small progress protocol, so long work can report to a terminal, a web job or nothing."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def message(self, text: str) -> None: ...
    def start(self, total: int, label: str) -> None: ...
    def advance(self, n: int = 1, label: str | None = None) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    def message(self, text: str) -> None:
        pass

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, n: int = 1, label: str | None = None) -> None:
        pass

    def finish(self) -> None:
        pass
