"""Run a flow: each step in order, its templates filled from the user's input and earlier outputs.

Retrieval and engines are passed in (dependency injection), so the services layer decides which
index, which viewer's groups and which engines a run may use, and tests can use real components.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.flows.model import USER_INPUT, Flow, FlowError, LLMStep, RetrieveStep, Step
from assistant.flows.templates import TOP, numbered_block, placeholders, render, single_block
from indexing.retrieval import RetrievedChunk

Retrieve = Callable[[str, int, dict[str, Any] | None], list[RetrievedChunk]]
EngineFor = Callable[[str | None], Any]

# Chat templates wrap each message in a few special tokens that `count_tokens(text)` does not see.
_PER_MESSAGE_OVERHEAD = 8
_SAFETY_MARGIN = 32


@dataclass
class StepTrace:
    name: str
    kind: str
    engine: str | None  # the engine that generated (the step's, else the user's); None for retrieval
    prompt: str  # the rendered messages (llm) or the query (retrieve)
    output: str
    seconds: float
    messages: list[dict[str, str]] = field(default_factory=list)
    prompt_tokens: int | None = None
    where: list[dict[str, Any]] = field(default_factory=list)  # the filters tried, in order (retrieve)
    chunks: list[RetrievedChunk] = field(default_factory=list)  # retrieved (retrieve) or placed in the prompt (llm)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "engine": self.engine, "prompt": self.prompt,
            "output": self.output, "seconds": round(self.seconds, 3), "prompt_tokens": self.prompt_tokens,
            "where": self.where, "sources": [c.to_json() for c in self.chunks],
        }


@dataclass
class FlowResult:
    flow: str
    version: int
    text: str  # the last step's output
    sources: list[RetrievedChunk]  # every chunk placed in a prompt, in order of first use
    trace: list[StepTrace]

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "version": self.version, "text": self.text,
            "sources": [s.to_json() for s in self.sources], "trace": [t.to_json() for t in self.trace],
        }


def run_flow(
    flow: Flow,
    user_text: str,
    *,
    params: dict[str, str] | None,
    retrieve: Retrieve,
    engine: EngineFor,
    max_new_tokens: int | None = None,
) -> FlowResult:
    """`max_new_tokens`, when given, caps every llm step (quick previews and tests)."""
    values = _inputs(flow, user_text, params)
    run = _Run(flow, values, retrieve, engine, max_new_tokens)
    for step in flow.steps:
        run.step(step)
    last = flow.steps[-1].name
    return FlowResult(flow.name, flow.version, run.text[last], run.sources, run.trace)


def _inputs(flow: Flow, user_text: str, params: dict[str, str] | None) -> dict[str, str]:
    if not user_text or not user_text.strip():
        raise FlowError(f"flow {flow.name!r}: the text is empty; type what the flow should work on")
    params = {k: (v or "").strip() for k, v in (params or {}).items()}
    unknown = sorted(set(params) - set(flow.input_names()))
    if unknown:
        declared = ", ".join(flow.input_names()) or "none"
        raise FlowError(f"flow {flow.name!r}: unknown input {unknown[0]!r}; declared inputs: {declared}")
    values = {USER_INPUT: user_text.strip()}
    for inp in flow.inputs:
        if inp.required and not params.get(inp.name):
            hint = f" ({inp.description})" if inp.description else ""
            raise FlowError(f"flow {flow.name!r}: input {inp.name!r} is required{hint}")
        values[inp.name] = params.get(inp.name, "")  # an optional input left out reads as empty
    return values


class _Run:
    """The state of one run: outputs so far, the sources used, the trace."""

    def __init__(self, flow: Flow, values: dict[str, str], retrieve: Retrieve, engine: EngineFor,
                 cap: int | None) -> None:
        self.flow = flow
        self.inputs = dict(values)  # what `where` templates may use: the user's text and inputs only
        self.retrieve_fn = retrieve
        self.engine_fn = engine
        self.cap = cap
        self.text: dict[str, str] = dict(values)  # placeholder name -> text, for llm outputs and inputs
        self.chunks: dict[str, list[RetrievedChunk]] = {}  # retrieve step name -> ranked chunks
        self.engines: dict[str | None, Any] = {}
        self.sources: list[RetrievedChunk] = []
        self.trace: list[StepTrace] = []

    def _at(self, step: Step) -> str:
        return f"flow {self.flow.name!r}, step {step.name!r}"

    def step(self, step: Step) -> None:
        start = time.perf_counter()
        trace = self._retrieve(step) if isinstance(step, RetrieveStep) else self._generate(step)
        trace.seconds = time.perf_counter() - start
        self.trace.append(trace)

    # -- retrieve ------------------------------------------------------------------------------
    def _retrieve(self, step: RetrieveStep) -> StepTrace:
        # Embedders read only the first few hundred tokens, and the services refuse over-long queries.
        query = render(step.query, self.text).strip()[: step.max_query_chars]
        filters: list[dict[str, Any]] = []
        found: list[RetrievedChunk] = []
        for raw in [step.where, *step.fallback]:
            where = self._filter(raw)
            if where in filters:
                continue  # e.g. a fallback equal to `where` once an optional input is left out
            filters.append(where)
            seen = {c.id for c in found}
            # Ask for as many more as may be duplicates of what is already found, so a fallback can fill the list.
            more = self.retrieve_fn(query, step.top_k + len(found), where or None)
            found += [c for c in more if c.id not in seen]
            if len(found) >= step.top_k:
                break
        found = found[: step.top_k]
        if step.required and not found:
            raise FlowError(f"{self._at(step)}: no passages found for {' then '.join(map(str, filters))}; "
                            "index matching documents first")
        self.chunks[step.name] = found
        self.text[step.name] = numbered_block(found)
        self.text[f"{step.name}.{TOP}"] = single_block(found[0]) if found else ""
        output = "\n".join(f"{c.metadata.get('title') or c.source} ({c.score:.3f})" for c in found)
        return StepTrace(step.name, step.kind, None, query, output, 0.0, where=filters, chunks=found)

    def _filter(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Fill `{input}` templates in filter values; a value that renders empty drops its key."""
        out = {}
        for key, value in raw.items():
            if isinstance(value, str):
                value = render(value, self.inputs).strip()
                if not value:
                    continue
            out[key] = value
        return out

    # -- generate ------------------------------------------------------------------------------
    def _engine(self, step: LLMStep) -> Any:
        if step.engine not in self.engines:
            try:
                self.engines[step.engine] = self.engine_fn(step.engine)
            except FlowError:
                raise
            except Exception as err:  # the registry's own error, made one line with the step named
                name = step.engine or "the chosen engine"
                raise FlowError(f"{self._at(step)}: cannot load {name}: {err}") from err
        return self.engines[step.engine]

    def _generate(self, step: LLMStep) -> StepTrace:
        llm = self._engine(step)
        max_new = min(step.max_new_tokens, self.cap) if self.cap else step.max_new_tokens
        messages, used, tokens = self._fit(step, llm, max_new)
        output = llm.generate(messages, max_new_tokens=max_new).strip()
        self.text[step.name] = output
        for chunk in used:
            if all(chunk.id != s.id for s in self.sources):
                self.sources.append(chunk)
        prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
        engine = step.engine or getattr(llm, "name", None)
        return StepTrace(step.name, step.kind, engine, prompt, output, 0.0, messages=messages,
                         prompt_tokens=tokens, chunks=used)

    def _fit(self, step: LLMStep, llm: Any, max_new: int) -> tuple[list[dict[str, str]], list[RetrievedChunk], int]:
        """Render the messages, dropping the lowest-ranked chunks until the prompt fits the window."""
        names = {p for t in step.templates().values() for p in placeholders(t)}
        # How many chunks each numbered block keeps; `{step.top}` is always exactly one.
        keep = {n: len(self.chunks[n]) for n in names if n in self.chunks}
        budget = int(llm.context_window) - max_new - _SAFETY_MARGIN
        while True:
            values = dict(self.text)
            for n, k in keep.items():
                values[n] = numbered_block(self.chunks[n][:k])
            messages = [{"role": role, "content": render(t, values).strip()}
                        for role, t in (("system", step.system), ("user", step.user)) if t]
            tokens = sum(llm.count_tokens(m["content"]) + _PER_MESSAGE_OVERHEAD for m in messages)
            if tokens <= budget:
                break
            # Drop from the block holding the most chunks, so every block keeps its best ones.
            longest = max(keep, key=lambda n: keep[n], default=None)
            if longest is None or keep[longest] <= 1:
                raise FlowError(f"{self._at(step)}: the prompt needs {tokens} tokens, more than the engine's "
                                f"{llm.context_window} less {max_new} for the answer; shorten the text")
            keep[longest] -= 1
        used: list[RetrievedChunk] = []
        for n in sorted(names, key=lambda p: _first_use(step, p)):
            base, _, attr = n.partition(".")
            if base in self.chunks:
                for chunk in self.chunks[base][:1] if attr == TOP else self.chunks[base][: keep[n]]:
                    if all(chunk.id != u.id for u in used):
                        used.append(chunk)
        return messages, used, tokens


def _first_use(step: LLMStep, name: str) -> int:
    """Where a placeholder first appears (system before user), so sources list in prompt order."""
    text = (step.system or "") + "\n" + step.user
    return text.find("{" + name)
