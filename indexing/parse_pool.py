"""Parse files in worker processes while the embedder runs, in the order they were planned.

Processes rather than threads: the loaders' Python work (text clean-up, DOCX and HTML parsing) holds
the GIL that the embedder's batching needs, and a parser that crashes the process (a native
library dying on a hostile PDF) takes down a worker, not the indexing run: that file fails with its
own reason, the worker is restarted and the files queued behind it are parsed.

The workers are `python -m indexing.parse_worker` processes fed pickled requests on a pipe, not a
multiprocessing pool: spawn-based pools re-run the calling script in every child, which breaks any
user script that indexes without an `if __name__ == "__main__"` guard.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from indexing.loaders import LoadedDocument, LoadError, LoadOptions, load_file
from indexing.loaders._ocr import OCR_WORKERS_ENV

T = TypeVar("T")

CRASH_ERROR = "the parser crashed on this file (a native library died reading it); nothing of it was indexed"


@dataclass(frozen=True)
class ParseFile:
    """Parse one file, given anything with a `.path`; picklable, and importing it in a worker is light."""

    max_bytes: int
    options: LoadOptions

    def __call__(self, item: Any) -> LoadedDocument:
        path: Path = item.path
        return load_file(path, self.max_bytes, self.options)


class _Worker:
    """One worker process; it answers its requests in the order it got them."""

    def __init__(self, ocr_workers: int) -> None:
        self.ocr_workers = ocr_workers
        self.in_flight: deque[Any] = deque()
        self._start()

    def _start(self) -> None:
        # Each worker OCRs with its share of the cores, so that N workers do not start N x cores tesseracts.
        env = {**os.environ, OCR_WORKERS_ENV: str(self.ocr_workers)}
        self.proc = subprocess.Popen([sys.executable, "-m", "indexing.parse_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)

    def send(self, request: Any) -> None:
        self.in_flight.append(request)
        self._write(request)

    def _write(self, request: Any) -> None:
        assert self.proc.stdin is not None
        try:
            pickle.dump(request, self.proc.stdin)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):  # it died; the read of its answer says so
            pass

    def receive(self) -> LoadedDocument | BaseException:
        """The answer to the oldest request; a worker that died is restarted and given the rest again."""
        assert self.proc.stdout is not None
        self.in_flight.popleft()
        try:
            return pickle.load(self.proc.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            self.close()
            self._start()
            for request in self.in_flight:
                self._write(request)
            return LoadError(CRASH_ERROR)

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def parse_in_processes(
    items: list[T], load: Callable[[T], LoadedDocument], workers: int, ahead: int = 2
) -> Iterator[tuple[T, LoadedDocument | BaseException]]:
    """(item, document or the error) for each item, in order; `load` must be picklable (a module-level function).

    Each worker has at most `ahead` files queued, which bounds the memory that parsed text can take.
    """
    share = max(1, (os.cpu_count() or 1) // workers)
    pool = [_Worker(share) for _ in range(workers)]
    order: deque[tuple[T, _Worker]] = deque()
    upcoming = iter(items)

    def fill() -> None:
        while True:
            worker = min(pool, key=lambda w: len(w.in_flight))
            if len(worker.in_flight) >= ahead:
                return
            item = next(upcoming, None)
            if item is None:
                return
            worker.send((load, item))
            order.append((item, worker))

    try:
        fill()
        while order:
            item, worker = order.popleft()
            result = worker.receive()
            fill()
            yield item, result
    finally:
        for worker in pool:
            worker.close()
