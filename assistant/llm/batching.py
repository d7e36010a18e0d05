"""Concurrent requests on one local model share forward passes: continuous batching.

Requests wait in a bounded queue. One worker thread keeps a running batch (assistant/llm/decoding.py)
and alternates: it admits the oldest waiting request that fits (a prefill of its prompt alone, whose
last logits give its first token at once), then runs one decode step for every row. So a request that
arrives while others decode joins them at the next step instead of waiting for them to end, and a row
that ends (its end of turn, token limit, stop sequence, or its client closing the stream) leaves the
batch at once. One new request per step keeps the others streaming while a long prompt is read.

What fits is bounded by settings: at most `llm.max_batch` rows, and `llm.max_batch_tokens` KV-cache
positions over all rows (each row counts its prompt plus its token limit; a request larger than that
runs alone). Requests for another model than the running batch's (the base when the batch is on the
PeftModel, once an engine is loaded) wait until the batch drains, and nothing newer is admitted before
them. Each row is an engine of its own: on a PeftModel each row names one adapter (an engine's chain
pre-combined into one, see EngineManager; `"__base__"` for the plain base), applied per row in the same
forward pass (assistant/llm/mixed_lora.py). Greedy decoding gives the same text batched as alone (up to float rounding).

Past `llm.max_queue` waiting requests a new one is refused with Busy ("busy: N requests waiting"), a
user error of kind "unavailable" (the API answers 503 with Retry-After).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from assistant.llm.base import LLMUnavailable
from assistant.llm.decoding import BASE_ROW, Job, Row, RunningBatch, mergeable

__all__ = ["BASE_ROW", "Batcher", "Busy", "Job"]


class Busy(LLMUnavailable):
    """Too many requests are waiting for the model; try again shortly."""


class Batcher:
    """The queue and the worker of one LocalLLM."""

    def __init__(self, llm: Any, max_batch: int, max_queue: int, max_batch_tokens: int | None = None) -> None:
        self.llm = llm
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_batch_tokens = max_batch_tokens
        self.waiting: list[Job] = []
        self.cond = threading.Condition()
        self.running = RunningBatch(getattr(llm, "device", "cpu"))
        self.batches = 0  # times the running batch started from empty; with `rows`: how much sharing happened
        self.rows = 0
        self.peak = 0  # the most rows that decoded together
        self._worker: threading.Thread | None = None

    # -- the consumer's side ----------------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self.cond:
            if len(self.waiting) >= self.max_queue:
                raise Busy(f"busy: {len(self.waiting)} requests waiting (llm.max_queue = {self.max_queue}); "
                           "try again", "unavailable")
            self.waiting.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name=f"batcher-{self.llm.name}", daemon=True)
                self._worker.start()
            self.cond.notify_all()
        return job

    def stream(self, job: Job) -> Iterator[str]:
        """Submit `job` and yield its text as it comes; closing the iterator cancels the job."""
        self.submit(job)
        try:
            while True:
                kind, value = job.out.get()
                if kind == "text":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            job.cancelled.set()
            with self.cond:
                waiting = job in self.waiting
                if waiting:
                    self.waiting.remove(job)
            if not waiting:
                job.left.wait()  # the worker saw it: at the next step, its row is out of the batch

    def generate(self, job: Job) -> str:
        self.submit(job)
        while True:
            kind, value = job.out.get()
            if kind == "end":
                return value
            if kind == "error":
                raise value

    # -- the worker ---------------------------------------------------------------------------------------
    def _next(self) -> Job | None:
        """The oldest waiting request if it may join the running batch now (waits while nothing runs)."""
        running = self.running
        with self.cond:
            while not self.waiting and not len(running):
                self.cond.wait()
            while self.waiting and self.waiting[0].cancelled.is_set():
                self.waiting.pop(0).left.set()
            if not self.waiting:
                return None
            if len(running) and not self._fits(self.waiting[0]):
                return None
            return self.waiting.pop(0)

    def _fits(self, job: Job) -> bool:
        """Whether `job` may join the rows decoding now."""
        running = self.running
        if job.model is not running.model or len(running) >= self.max_batch or not mergeable(job.model):
            return False
        return not self.max_batch_tokens or running.tokens + job.tokens <= self.max_batch_tokens

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is not None:
                self._admit(job)
            if len(self.running):
                self._step()

    def _admit(self, job: Job) -> None:
        """Prefill `job` into the running batch; a failure fails it alone."""
        try:
            with self.llm.lock:  # per step: adapter loading and the *_nolock callers wait at most one step
                if not len(self.running):
                    self.batches += 1
                self.rows += 1
                self.running.join(Row(job, self.llm.tokenizer, set(self.llm.end_ids), self.running.device))
                self.peak = max(self.peak, len(self.running))
        except BaseException as err:
            job.out.put(("error", err))
            job.left.set()
        self._release()

    def _step(self) -> None:
        try:
            with self.llm.lock:
                self.running.step()
        except BaseException as err:
            self.running.fail(err)
        self._release()

    def _release(self) -> None:
        for row in self.running.release_finished():
            row.finish()
