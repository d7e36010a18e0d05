"""The running batch of one local model: sequences that decode together, one token each per forward pass.

A sequence joins with a prefill of its own prompt alone (no padding, logits of the last position only) and
its KV cache is then copied into a free slot of the batch's preallocated cache (assistant/llm/kv_slots.py),
where each decode step writes every row's new token in place, at the row's own position. Each decode
step feeds every row its last token, in one forward pass, with a mask hiding each row's unused columns.
A row that is finished (end of turn, its token limit, a stop sequence, its client gone) is taken out of
the cache before the next step, so it costs nothing from then on.

Each row picks its own next token: its loop guards see its own prompt and generated tokens, its
temperature and top_p are its own, and a request with a seed samples from its own generator, so a
seed gives the same text batched as alone. On a PeftModel each row runs on its own adapter: the model's
adapters stacked once (assistant/llm/mixed_lora.py), or PEFT's `adapter_names`, one per row, for adapters
that cannot be stacked.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from assistant.llm.base import GenerationOptions, StreamText, cut_at_stop

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in a mixed batch


@dataclass(eq=False)  # a request is itself: `job in waiting` must not compare prompt tensors
class Job:
    """One request: its prompt ids (1-D), resolved options (max_new_tokens already cut to the context), the
    model to run on, the PEFT adapter of its row (None: no PEFT model) and where its text goes."""

    ids: Any
    options: GenerationOptions
    model: Any
    kwargs: dict[str, Any]  # the request's generate() arguments (loop guards, sampling)
    adapter: str | None = None
    out: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    left: threading.Event = field(default_factory=threading.Event)  # its row no longer computes for it

    @property
    def tokens(self) -> int:
        """The most KV-cache positions it can hold: its prompt and every token it may generate."""
        return int(self.ids.shape[0]) + int(self.options.max_new_tokens or 0)


class Row:
    """One sequence in the batch: its tokens, its text so far and how it picks its next token."""

    def __init__(self, job: Job, tokenizer: Any, end_ids: set[int], device: str) -> None:
        import torch

        self.job = job
        self.tokenizer = tokenizer
        self.end_ids = end_ids
        self.prompt = job.ids.to(device)
        self.tokens: list[int] = []
        self.shown = ""
        self.shaper = StreamText(job.options.stop)
        self.done = False
        kw = job.kwargs
        self.processors = kw["logits_processor"]
        self.sample = bool(kw.get("do_sample"))
        self.generator = None
        if self.sample and job.options.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(int(job.options.seed))

    @property
    def finished(self) -> bool:
        return self.done or self.job.cancelled.is_set()

    def pick(self, scores: Any) -> int:
        """The next token from this row's logits (1 x vocab): its loop guards, then greedy or sampling."""
        import torch

        if self.processors:
            ids = torch.cat([self.prompt, torch.tensor(self.tokens, dtype=torch.long, device=scores.device)])
            for processor in self.processors:
                scores = processor(ids[None], scores)
        if not self.sample:
            return int(scores.argmax(-1))
        o = self.job.options
        scores = scores / float(o.temperature or 1.0)
        if o.top_p is not None and o.top_p < 1.0:  # keep the smallest set whose probability reaches top_p
            ordered, order = torch.sort(scores, descending=True)
            probs = ordered.softmax(-1)
            drop = probs.cumsum(-1) - probs > o.top_p
            scores = scores.scatter(-1, order, ordered.masked_fill(drop, -float("inf")))
        probs = scores.softmax(-1)
        return int(torch.multinomial(probs, 1, generator=self.generator))

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
        """Hand the request its whole answer (unless its client left) and release it."""
        if not self.job.cancelled.is_set():
            rest = self.shaper.finish()
            if rest:
                self.job.out.put(("text", rest))
            whole = cut_at_stop(self.tokenizer.decode(self.tokens, skip_special_tokens=True), self.job.options.stop)
            self.job.out.put(("end", whole))
        self.job.left.set()


class RunningBatch:
    """The rows decoding together on one model, and their shared KV cache."""

    def __init__(self, device: str, stack_adapters: bool = True) -> None:
        self.device = device
        self.rows: list[Row] = []
        self.cache: Any = None  # a SlotCache (assistant/llm/kv_slots.py)
        self.model: Any = None
        self.stack_adapters = stack_adapters  # False: PEFT's adapter_names (bench/batching.py's baseline)
        self._stacked: tuple[Any, tuple, Any] | None = None  # (PeftModel, its adapters, their MixedLoRA or None)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def tokens(self) -> int:
        """KV-cache positions the rows may reach (what `llm.max_batch_tokens` bounds)."""
        return sum(r.job.tokens for r in self.rows)

    def forward(self, model: Any, rows: list[Row], **inputs: Any) -> Any:
        if rows[0].job.adapter is None:  # not a PeftModel
            return model(**inputs, use_cache=True)
        names = [r.job.adapter or BASE_ROW for r in rows]
        stacked = self._stacks(model)
        if stacked is not None and stacked.stacks_of(names):
            with stacked.rows(names):
                return model(**inputs, use_cache=True)
        model.base_model.enable_adapter_layers()  # PEFT's mixed batches need its LoRA layers on
        return model(**inputs, use_cache=True, adapter_names=names)

    def _stacks(self, model: Any) -> Any:
        """The stacked adapters of `model`, built anew when its adapters changed (None: not stackable)."""
        from assistant.llm.mixed_lora import MixedLoRA, adapters_key

        if not self.stack_adapters:
            return None
        key = adapters_key(model)
        if self._stacked is not None:
            peft, built, stacked = self._stacked
            if peft is model and built == key:
                return stacked
            if stacked is not None:
                stacked.close()
        stacked = MixedLoRA.build(model)
        self._stacked = (model, key, stacked)
        return stacked

    def join(self, row: Row) -> None:
        """Prefill `row`'s prompt alone, take its first token, and copy its cache into a slot of the batch's."""
        import torch

        from assistant.llm.kv_slots import SlotCache

        with torch.inference_mode():
            out = self.forward(row.job.model, [row], input_ids=row.prompt[None], logits_to_keep=1)
            row.put(row.pick(out.logits[:, -1, :].float()))
            if not self.rows:
                self.cache, self.model = SlotCache(len(out.past_key_values.layers)), row.job.model
            self.cache.add(out.past_key_values)
        self.rows.append(row)

    def step(self) -> None:
        """One token for every row, in one forward pass."""
        import torch

        last = torch.tensor([[r.tokens[-1]] for r in self.rows], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            positions, mask = self.cache.begin_step()
            out = self.forward(self.model, self.rows, input_ids=last, attention_mask=_as_model_mask(self.model, mask),
                               position_ids=positions, past_key_values=self.cache)
            self.cache.end_step()
        scores = out.logits[:, -1, :].float()
        for i, row in enumerate(self.rows):
            row.put(row.pick(scores[i : i + 1]))

    def release_finished(self) -> list[Row]:
        """Take the finished rows out of the batch (and the cache); they are returned to be finished."""
        gone = [r for r in self.rows if r.finished]
        if not gone:
            return []
        kept = [i for i, r in enumerate(self.rows) if not r.finished]
        if not kept:
            self.rows, self.cache, self.model = [], None, None
            return gone
        order = self.cache.keep(kept)
        self.rows = [self.rows[i] for i in order]
        return gone

    def fail(self, err: BaseException) -> None:
        for row in self.rows:
            row.job.out.put(("error", err))
            row.job.left.set()
        self.rows, self.cache, self.model = [], None, None


def mergeable(model: Any) -> bool:
    """Whether this model's rows can share a SlotCache: plain full-attention layers, and an attention that
    takes a 4-D mask (sdpa or eager). A model with sliding-window or recurrent layers, or another attention
    kernel, decodes one request at a time instead."""
    if _attention(model) not in ("sdpa", "eager"):
        return False
    config = getattr(model, "config", None)
    config = getattr(config, "get_text_config", lambda: config)()
    kinds = getattr(config, "layer_types", None)
    if kinds is not None:
        return set(kinds) == {"full_attention"}
    return not getattr(config, "sliding_window", None)


def _as_model_mask(model: Any, mask: Any) -> Any:
    """A step's boolean mask (rows, 1, 1, width) in the form the model's attention adds: sdpa takes it as
    is, eager attention adds it to the scores (0 where a row attends, the dtype's minimum elsewhere)."""
    import torch

    if _attention(model) == "sdpa":
        return mask
    dtype = next(model.parameters()).dtype
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)


def _attention(model: Any) -> str:
    config = getattr(model, "config", None)
    return str(getattr(config, "_attn_implementation", None) or "eager")
