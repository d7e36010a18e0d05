"""Parse files on a background thread, ahead of the embedder, within a memory budget.

One thread: PDF libraries are not thread-safe, and on a small machine one parser stays ahead of
the embedder. The budget is in characters of parsed text, so a run of huge files cannot fill memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from indexing.loaders import LoadedDocument

T = TypeVar("T")
_DONE = object()


def text_size(doc: LoadedDocument) -> int:
    return sum(len(s.text) for s in doc.sections)


class Prefetcher(Generic[T]):
    def __init__(self, items: list[T], load: Callable[[T], LoadedDocument], max_chars: int) -> None:
        self._items = items
        self._load = load
        self._max_chars = max_chars
        self._buffered = 0
        self._cond = threading.Condition()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loader", daemon=True)

    def _run(self) -> None:
        for item in self._items:
            if self._stop.is_set():
                break
            try:
                result: LoadedDocument | BaseException = self._load(item)
                size = text_size(result)  # type: ignore[arg-type]
            except BaseException as err:  # handed to the consumer, which decides
                result, size = err, 0
            with self._cond:
                # Always admit one document, however large, so progress never stalls.
                while self._buffered > 0 and self._buffered + size > self._max_chars and not self._stop.is_set():
                    self._cond.wait()
                self._buffered += size
            self._queue.put((item, result, size))
        self._queue.put(_DONE)

    def __iter__(self) -> Iterator[tuple[T, LoadedDocument | BaseException]]:
        self._thread.start()
        try:
            while (entry := self._queue.get()) is not _DONE:
                item, result, size = entry
                with self._cond:
                    self._buffered -= size
                    self._cond.notify()
                yield item, result
        finally:
            self._stop.set()
            with self._cond:
                self._cond.notify()
            self._thread.join(timeout=60)
