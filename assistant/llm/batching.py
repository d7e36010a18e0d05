"""Concurrent requests on one local model share forward passes: a scheduler on `generate`.

Requests wait in a bounded queue. One worker thread takes the waiting requests that can share a batch
(the same model and sampling; up to `llm.max_batch`), left-pads them into one batch with an attention
mask and runs transformers' `generate` once for all of them. Each row is an engine of its own: on a
PeftModel the batch passes PEFT's `adapter_names`, one adapter per row (an engine's chain pre-combined
into one adapter, see EngineManager), `"__base__"` for the plain base. A batch streamer decodes each
row's new tokens and hands its text to that request's own queue, shaped by a StreamText of its own (its
stop sequences); a per-row stopping criterion ends a row at its own token limit, stop sequence or
cancellation while the others go on.

Requests that arrive while a batch runs wait for the next one (static batches, not continuous
batching: transformers' continuous-batching manager is built for paged attention on a GPU). A client
that closes its stream stops receiving at once and its row is marked finished at the next token; until
the whole batch ends the row is still carried along in the batch tensors (as padding), so its compute
is freed only when the batch ends. Greedy decoding gives the same text batched as alone. Sampling rows
batch only with rows of the same temperature and top_p; a request with a seed runs alone, so its seed
is exact (the global RNG is the worker's).

Past `llm.max_queue` waiting requests a new one is refused with LLMUnavailable ("busy: N requests
waiting"), a user error of kind "unavailable" (the API answers 503).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.llm.base import GenerationOptions, LLMUnavailable, StreamText, cut_at_stop

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in a mixed batch


class Busy(LLMUnavailable):
    """Too many requests are waiting for the model; try again shortly."""


@dataclass
class Job:
    """One request: its prompt ids (1-D), resolved options (max_new_tokens already cut to the context), the
    model to run on, the PEFT adapter of its row (None: no PEFT model) and where its text goes."""

    ids: Any
    options: GenerationOptions
    model: Any
    kwargs: dict[str, Any]  # the request's generate() arguments (guards, end ids, sampling)
    adapter: str | None = None
    out: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    left: threading.Event = field(default_factory=threading.Event)  # its row no longer computes for it

    @property
    def key(self) -> tuple:
        """Jobs with the same key can share a batch."""
        o, kw = self.options, self.kwargs
        sampling = (o.temperature, o.top_p) if kw.get("do_sample") else None
        guards = tuple((type(g).__name__, *(v for k, v in sorted(vars(g).items()) if k != "start"))
                       for g in kw["logits_processor"])
        seeded = id(self) if sampling and o.seed is not None else None  # alone: its seed is exact
        return (id(self.model), self.adapter is None, sampling, seeded, guards)


class _Row:
    def __init__(self, job: Job, tokenizer: Any, end_ids: set[int]) -> None:
        self.job = job
        self.tokenizer = tokenizer
        self.end_ids = end_ids
        self.tokens: list[int] = []
        self.shown = ""
        self.shaper = StreamText(job.options.stop)
        self.done = False

    def put(self, token: int) -> None:
        if self.done:
            return
        if token in self.end_ids:
            self.done = True
            return
        self.tokens.append(token)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # a character still incomplete: wait for its next byte
            piece = self.shaper.feed(text[len(self.shown):])
            self.shown = text
            if piece and not self.job.cancelled.is_set():
                self.job.out.put(("text", piece))
        if self.shaper.stopped or len(self.tokens) >= (self.job.options.max_new_tokens or 0):
            self.done = True

    def finish(self) -> None:
        rest = self.shaper.finish()
        if rest:
            self.job.out.put(("text", rest))
        whole = cut_at_stop(self.tokenizer.decode(self.tokens, skip_special_tokens=True), self.job.options.stop)
        self.job.out.put(("end", whole))

    @property
    def finished(self) -> bool:
        return self.done or self.job.cancelled.is_set()


class Batcher:
    """The queue and the worker of one LocalLLM."""

    def __init__(self, llm: Any, max_batch: int, max_queue: int) -> None:
        self.llm = llm
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.waiting: list[Job] = []
        self.cond = threading.Condition()
        self.batches = 0  # batches run; with `rows`, how much sharing happened (tests, benchmarks)
        self.rows = 0
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
                job.left.wait()  # the worker saw it: the next token, or the batch's end if it was alone

    def generate(self, job: Job) -> str:
        self.submit(job)
        while True:
            kind, value = job.out.get()
            if kind == "end":
                return value
            if kind == "error":
                raise value

    # -- the worker ---------------------------------------------------------------------------------------
    def _take(self) -> list[Job]:
        with self.cond:
            while not self.waiting:
                self.cond.wait()
            key = self.waiting[0].key
            batch = [j for j in self.waiting if j.key == key][: self.max_batch]
            for job in batch:
                self.waiting.remove(job)
                if job.cancelled.is_set():
                    job.left.set()
        return [j for j in batch if not j.cancelled.is_set()]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                continue
            try:
                with self.llm.lock:  # exclusive with adapter loading and the *_nolock callers
                    rows = self._run_batch(batch)
            except BaseException as err:
                for job in batch:
                    job.out.put(("error", err))
                    job.left.set()
                continue
            for row in rows:  # after the lock: a consumer that got its answer finds the model free
                row.finish()
                row.job.left.set()

    def _run_batch(self, batch: list[Job]) -> list[_Row]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer = self.llm.tokenizer
        first = batch[0]
        rows = [_Row(job, tokenizer, set(self.llm.end_ids)) for job in batch]
        pad = first.kwargs["pad_token_id"]
        length = max(int(job.ids.shape[0]) for job in batch)
        ids = torch.full((len(batch), length), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for i, job in enumerate(batch):  # left padding: every row's generated tokens start at `length`
            ids[i, length - job.ids.shape[0]:] = job.ids
            mask[i, length - job.ids.shape[0]:] = 1
        kwargs = dict(first.kwargs)
        kwargs.pop("stop_strings", None)  # each row's StreamText watches its own stop sequences
        kwargs.pop("tokenizer", None)
        kwargs["max_new_tokens"] = max(job.options.max_new_tokens or 1 for job in batch)
        kwargs["logits_processor"] = _shifted(first.kwargs["logits_processor"], length)
        if first.adapter is not None:
            kwargs["adapter_names"] = [job.adapter or BASE_ROW for job in batch]
            first.model.base_model.enable_adapter_layers()  # mixed batches need the LoRA layers on
        if kwargs.get("do_sample") and first.options.seed is not None:
            torch.manual_seed(first.options.seed)

        class RowsDone(StoppingCriteria):
            def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kw: Any) -> torch.BoolTensor:
                done = [r.finished for r in rows]
                if not all(done):  # a cancelled row among running ones has left (the batch goes on)
                    for r in rows:
                        if r.job.cancelled.is_set():
                            r.job.left.set()
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        streamer = _BatchStreamer(rows)
        self.batches += 1
        self.rows += len(batch)
        device = self.llm.device
        with torch.inference_mode():
            first.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs,
                                 streamer=streamer, stopping_criteria=StoppingCriteriaList([RowsDone()]))
        return rows


def _shifted(processors: Any, length: int) -> Any:
    """The request's loop guards, counting generated tokens from the padded prompt length."""
    import copy

    from transformers import LogitsProcessorList

    shifted = LogitsProcessorList()
    for p in processors:
        p = copy.copy(p)
        if hasattr(p, "start"):
            p.start = length
        shifted.append(p)
    return shifted


class _BatchStreamer:
    """transformers' streamer protocol for a batch: the prompt first (ignored), then one token per row."""

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            row.put(int(token))

    def end(self) -> None:
        pass
