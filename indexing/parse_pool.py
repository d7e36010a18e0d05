"""Parse files in worker processes while the embedder runs, in the order they were planned.

Processes rather than threads: the loaders' Python work (text clean-up, DOCX and HTML parsing) holds
the GIL that the embedder's batching needs, and a parser that crashes the process (a native
library dying on a hostile PDF) takes down a worker, not the indexing run. Such a file fails with
its own reason; the files that were in flight beside it are parsed again.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from indexing.loaders import LoadedDocument, LoadError
from indexing.loaders._ocr import OCR_WORKERS_ENV

T = TypeVar("T")

CRASH_ERROR = "the parser crashed on this file (a native library died reading it); nothing of it was indexed"


def _share_cores(ocr_workers: int) -> None:
    os.environ[OCR_WORKERS_ENV] = str(ocr_workers)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process whose torch threads are running can deadlock the child.
    # Each worker OCRs with its share of the cores, so that N workers do not start N x cores tesseracts.
    share = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_share_cores, initargs=(share,))


def _alone(load: Callable[[T], LoadedDocument], item: T) -> LoadedDocument | BaseException:
    """Parse one file in a pool of its own, to tell whether it is the one that crashes the parser."""
    pool = _new_pool(1)
    try:
        return pool.submit(load, item).result()
    except BrokenProcessPool:
        return LoadError(CRASH_ERROR)
    except BaseException as err:  # handed to the consumer, which decides
        return err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def parse_in_processes(
    items: list[T], load: Callable[[T], LoadedDocument], workers: int, ahead: int | None = None
) -> Iterator[tuple[T, LoadedDocument | BaseException]]:
    """(item, document or the error) for each item, in order; `load` must be picklable (a module-level function).

    At most `ahead` files (default twice the workers) are parsed ahead of the consumer, which bounds
    the memory that parsed text can take.
    """
    limit = ahead or 2 * workers
    pool = _new_pool(workers)
    pending: deque[tuple[T, Future]] = deque()
    upcoming = iter(items)

    def fill() -> None:
        while len(pending) < limit:
            item = next(upcoming, None)
            if item is None:
                return
            pending.append((item, pool.submit(load, item)))

    try:
        fill()
        while pending:
            item, future = pending.popleft()
            try:
                result: LoadedDocument | BaseException = future.result()
            except BrokenProcessPool:
                # Some file in flight killed a worker. Find out which, alone, and start over with the rest.
                waiting = [i for i, _ in pending]
                pending.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                result = _alone(load, item)
                pool = _new_pool(workers)
                upcoming = iter([*waiting, *upcoming])
            except BaseException as err:  # handed to the consumer, which decides
                result = err
            fill()
            yield item, result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
