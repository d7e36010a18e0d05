"""Generation with transformers on this machine: the embedded SmolLM2 or any local Hugging Face folder.

One LocalLLM is one model in memory. `generate` and `stream` go through its Batcher
(assistant/llm/batching.py): concurrent requests share forward passes in one running batch,
each row with its own adapter (`adapter`: a PEFT adapter name on `peft`, the PeftModel an EngineManager
wraps this model in), token limit and stop sequences. Each step of the batch holds `lock`, so loading
adapters and the `*_nolock` callers (one request alone) never run in the middle of one.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.config import LLMSettings
from assistant.llm.base import GenerationOptions, Message, PromptTooLong, StreamText, cut_at_stop
from assistant.llm.batching import BASE_ROW, Batcher, Job

# Chat templates end a turn with one of these; a model's eos is not always its end of turn.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


class SlowBfloat16Warning(UserWarning):
    """bfloat16 was asked for on a CPU without native bfloat16 instructions: it runs, emulated and slower."""


def model_dtype(setting: str, device: str) -> Any:
    """The torch dtype of the local model for `llm.dtype` on `device`."""
    import torch

    if setting == "float32":
        return torch.float32
    if setting == "auto":
        return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    if device == "cpu" and not _cpu_has_bf16():
        warnings.warn("llm.dtype = 'bfloat16' on a CPU without AVX512-BF16 or AMX: it is emulated and slower than "
                      "float32; set llm.dtype = 'auto'", SlowBfloat16Warning, stacklevel=3)
    return torch.bfloat16


def _cpu_has_bf16() -> bool:
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


class LocalLLM:
    def __init__(self, folder: Path, settings: LLMSettings) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from indexing.embedding import pick_device

        self.settings = settings
        self.device = pick_device(settings.device)
        dtype = model_dtype(settings.dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(self.device).eval()
        self.name = folder.name
        self.folder = folder
        self.lock = threading.Lock()
        self.end_ids = self._end_of_turn_ids()
        self.peft: Any = None  # the PeftModel around self.model, once an engine loaded an adapter
        self.batcher = Batcher(self, settings.max_batch, settings.max_queue, settings.max_batch_tokens)

    def _end_of_turn_ids(self) -> list[int]:
        ids: set[int] = set()
        configured = self.model.generation_config.eos_token_id
        ids.update(configured if isinstance(configured, list) else [configured] if configured is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in _END_OF_TURN if t in vocab)
        return sorted(ids)

    @property
    def context_window(self) -> int:
        own = int(getattr(self.model.config, "max_position_embeddings", 2048))
        return min(own, self.settings.context_window or own)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _generation_kwargs(self, o: GenerationOptions, prompt_length: int) -> dict[str, Any]:
        from transformers import LogitsProcessorList

        from assistant.llm.guards import GeneratedNoRepeatNGram, GeneratedRepetitionPenalty

        s = self.settings
        guards = LogitsProcessorList()
        if s.repetition_penalty > 1.0:
            guards.append(GeneratedRepetitionPenalty(s.repetition_penalty, prompt_length))
        if s.no_repeat_ngram_size > 0:
            guards.append(GeneratedNoRepeatNGram(s.no_repeat_ngram_size, prompt_length))
        kwargs: dict[str, Any] = {
            "max_new_tokens": o.max_new_tokens,
            "logits_processor": guards,
            "eos_token_id": self.end_ids,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if o.stop:
            kwargs.update(stop_strings=list(o.stop), tokenizer=self.tokenizer)
        if o.temperature and o.temperature > 0:
            kwargs.update(do_sample=True, temperature=o.temperature, top_p=o.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def options(self, max_new_tokens: int | None, options: GenerationOptions | None) -> GenerationOptions:
        """This request's sampling, the settings filling what it leaves open."""
        given = options or GenerationOptions()
        if given.max_new_tokens is None and max_new_tokens:
            given = GenerationOptions(max_new_tokens, given.temperature, given.top_p, given.stop, given.seed)
        return given.resolved(self.settings)

    def prepare(self, messages: list[Message], o: GenerationOptions | None = None) -> tuple[Any, dict[str, Any]]:
        """The prompt tensors and generate() arguments, max_new_tokens cut to what the context has room for.
        `o` is resolved already (see `options`); None = the settings alone."""
        o = o or self.options(None, None)
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        prompt_length = int(inputs["input_ids"].shape[1])
        room = self.context_window - prompt_length
        if room < 1:
            raise PromptTooLong(
                f"the prompt has {prompt_length} tokens and {self.name} reads at most {self.context_window}; "
                "shorten the question or retrieve fewer sources (retrieval.top_k)"
            )
        cut = GenerationOptions(min(o.max_new_tokens or room, room), o.temperature, o.top_p, o.stop, o.seed)
        return inputs, self._generation_kwargs(cut, prompt_length)

    # -- public: batched with the other requests on this model ----------------------------------------
    def job(self, messages: list[Message], max_new_tokens: int | None = None,
            options: GenerationOptions | None = None, adapter: str | None = None) -> Job:
        """One request for the batcher; raises PromptTooLong before it waits for anything."""
        o = self.options(max_new_tokens, options)
        inputs, kwargs = self.prepare(messages, o)
        cut = GenerationOptions(kwargs["max_new_tokens"], o.temperature, o.top_p, o.stop, o.seed)
        model = self.model if self.peft is None else self.peft
        row = None if self.peft is None else (adapter or BASE_ROW)
        return Job(inputs["input_ids"][0].cpu(), cut, model, kwargs, row)

    def generate(self, messages: list[Message], max_new_tokens: int | None = None,
                 options: GenerationOptions | None = None, adapter: str | None = None) -> str:
        return self.batcher.generate(self.job(messages, max_new_tokens, options, adapter))

    def stream(self, messages: list[Message], max_new_tokens: int | None = None,
               options: GenerationOptions | None = None, adapter: str | None = None) -> Iterator[str]:
        job = self.job(messages, max_new_tokens, options, adapter)  # errors here, on the first next()
        yield from self.batcher.stream(job)

    # -- for callers that already hold self.lock (engines: switch adapters, then generate) ----------
    def generate_nolock(self, messages: list[Message], max_new_tokens: int | None = None,
                        options: GenerationOptions | None = None) -> str:
        import torch

        o = self.options(max_new_tokens, options)
        inputs, kwargs = self.prepare(messages, o)
        if o.seed is not None:  # the caller holds self.lock, so the global RNG is ours
            torch.manual_seed(o.seed)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **kwargs)
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return cut_at_stop(self.tokenizer.decode(new_tokens, skip_special_tokens=True), o.stop)

    def stream_nolock(self, messages: list[Message], max_new_tokens: int | None = None,
                      options: GenerationOptions | None = None) -> Iterator[str]:
        """Generate on a worker thread and yield its text as it comes; the worker's errors re-raise here.

        Closing the iterator early stops the worker at its next token and waits for it, so the model is
        free (and its adapters safe to switch) once this returns."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        o = self.options(max_new_tokens, options)
        inputs, kwargs = self.prepare(messages, o)  # errors here, before any thread
        if o.seed is not None:  # the caller holds self.lock, so the global RNG is ours
            torch.manual_seed(o.seed)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        failure: list[BaseException] = []

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kw: Any) -> torch.BoolTensor:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

        def work() -> None:
            try:
                with torch.inference_mode():  # thread-local: enter it on the worker
                    self.model.generate(
                        **inputs, **kwargs, streamer=streamer, stopping_criteria=StoppingCriteriaList([Cancelled()])
                    )
            except BaseException as err:
                failure.append(err)
                streamer.end()  # wake the consumer

        worker = threading.Thread(target=work, name=f"generate-{self.name}", daemon=True)
        worker.start()
        shaper = StreamText(o.stop)
        try:
            for piece in streamer:
                if failure:
                    break
                text = shaper.feed(piece)
                if text:
                    yield text
                if shaper.stopped:
                    return
            worker.join()
            if failure:
                raise failure[0]
            rest = shaper.finish()
            if rest:
                yield rest
        finally:
            cancel.set()
            worker.join()
