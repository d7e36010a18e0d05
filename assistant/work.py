"""The one context long work reports to, taken per call: progress, log lines, metrics rows, cancel.

A job in the background gets `assistant.jobs.JobContext` (stored in the database, cancellable from
any process); the CLI's foreground run gets `Foreground` on its progress bar. Indexing, data
generation, training and evaluation take it the same way, so none of them knows which it is.
"""

from __future__ import annotations

from typing import Any, Protocol

from indexing.progress import NoProgress, Progress


class Work(Progress, Protocol):
    def log(self, line: str) -> None: ...
    def record(self, row: dict[str, Any]) -> None: ...
    @property
    def cancelled(self) -> bool: ...


class Foreground:
    """Work run in this process until it ends: reports to `progress`, keeps its metrics rows, never cancelled
    (Ctrl-C stops a foreground run)."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress: Progress = progress or NoProgress()
        self.rows: list[dict[str, Any]] = []

    def message(self, text: str) -> None:
        self.progress.message(text)

    def start(self, total: int, label: str) -> None:
        self.progress.start(total, label)

    def advance(self, n: int = 1, label: str | None = None) -> None:
        self.progress.advance(n, label)

    def finish(self) -> None:
        self.progress.finish()

    def log(self, line: str) -> None:
        self.progress.message(line)

    def record(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    @property
    def cancelled(self) -> bool:
        return False
