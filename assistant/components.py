"""The parts every feature service shares, built lazily, once: indexer, retriever, engines, chat pipeline.

No roles and no audit here: `assistant.services` decides who may call what and records it. The methods
take the viewer (whose groups filter retrieval) and, for long work, the progress to report to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant.chat import Answer, ChatPipeline
from assistant.config import Settings
from assistant.errors import InputError
from assistant.llm.base import GenerationBackend, GenerationOptions, Message
from indexing.docstore import SourceRecord
from indexing.ingest import Indexer, IndexReport
from indexing.progress import NoProgress, Progress
from indexing.retrieval import MODES, DenseRetriever, RetrievedChunk, Retriever

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_CORPUS = DEMO_DIR / "corpus"
DEMO_QUESTIONS = DEMO_DIR / "questions.jsonl"


@dataclass
class Viewer:
    """Who is asking. `groups=None` is an unrestricted operator on the command line."""

    name: str | None = None
    groups: list[str] | None = None


class Components:
    def __init__(self, settings: Settings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.paths = settings.paths
        self.progress: Progress = progress or NoProgress()

    # -- components ----------------------------------------------------------------------------
    @cached_property
    def indexer(self) -> Indexer:
        p = self.paths
        return Indexer(self.settings.indexing, p.index, p.chroma, p.models, self.progress)

    @cached_property
    def retriever(self) -> Retriever:
        r = self.settings.retrieval
        reranker = None
        if r.reranker:
            from indexing.rerank import CrossEncoderReranker

            reranker = CrossEncoderReranker(r.reranker, self.settings.indexing.device, r.rerank_candidates)
        dense = DenseRetriever(self.indexer.collection, self.indexer.embed_model)
        return Retriever(dense, self.indexer.keyword, r.candidates, reranker)

    @cached_property
    def engines(self) -> Any:
        from assistant.engines import build_engine_manager

        return build_engine_manager(self.settings, self.progress.message)

    @property
    def llm(self) -> GenerationBackend:
        """The base engine."""
        return self.engines.get("base")

    def engine(self, name: str | None = None) -> GenerationBackend:
        return self.engines.get(name or "base")

    @cached_property
    def pipeline(self) -> ChatPipeline:
        from assistant.answerability import build_check

        chat = self.settings.chat
        return ChatPipeline(chat, self.settings.llm.max_new_tokens, answerability=build_check(chat, self.indexer))

    # -- indexing ------------------------------------------------------------------------------
    def index(self, paths: list[Path], meta: dict[str, Any] | None = None, prune: bool = False,
              progress: Progress | None = None) -> IndexReport:
        return self.indexer.index(paths, meta, prune, progress)

    def sources(self) -> list[SourceRecord]:
        return self.indexer.sources()

    def remove(self, sources: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        return self.indexer.remove(sources)

    # -- retrieval and answers -----------------------------------------------------------------
    def retrieve(
        self, queries: list[str], top_k: int | None = None, where: dict[str, Any] | None = None,
        viewer: Viewer | None = None, mode: str | None = None,
    ) -> list[list[RetrievedChunk]]:
        self.check_filter_keys(where)
        return self._search(queries, top_k, where, viewer, mode)

    def _search(
        self, queries: list[str], top_k: int | None, where: dict[str, Any] | None, viewer: Viewer | None,
        mode: str | None = None,
    ) -> list[list[RetrievedChunk]]:
        """`retrieve` once the filter keys are known to be good (that check reads the docstore)."""
        viewer = viewer or Viewer()
        mode = mode or self.settings.retrieval.mode
        if mode not in MODES:
            raise InputError(f"unknown retrieval mode {mode!r} (choose from {', '.join(MODES)})")
        for q in queries:
            check_question(q, self.settings.retrieval.max_query_chars)
        k = top_k or self.settings.retrieval.top_k
        return self.retriever.retrieve_many(queries, k, where, viewer.groups, mode)  # type: ignore[arg-type]

    def metadata_keys(self) -> set[str]:
        """Every metadata key a filter can use: the indexer's own and those found on indexed sources."""
        keys = {"source", "file_name", "file_type", "page", "heading", "title", "chunk", "groups"}
        return keys | self.indexer.docstore.metadata_keys()

    def check_filter_keys(self, where: dict[str, Any] | None) -> None:
        if not where:
            return
        unknown = sorted(set(where) - self.metadata_keys())
        if unknown:
            known = ", ".join(sorted(self.metadata_keys()))
            raise InputError(f"unknown metadata key(s) {', '.join(unknown)} in the filter (known: {known})")

    def _retriever_for(
        self, use_rag: bool, top_k: int | None, where: dict[str, Any] | None, viewer: Viewer | None
    ) -> Any:
        if not use_rag:
            return None
        self.check_filter_keys(where)  # once per conversation or batch, not per question
        return lambda query: self._search([query], top_k, where, viewer)[0]

    def ask(
        self, questions: list[str], engine: str = "base", use_rag: bool = True, top_k: int | None = None,
        where: dict[str, Any] | None = None, viewer: Viewer | None = None, progress: Progress | None = None,
        options: GenerationOptions | None = None, instruction: str | None = None,
    ) -> list[Answer]:
        for q in questions:
            check_question(q, self.settings.retrieval.max_query_chars)
        llm = self.engine(engine)
        retrieve = self._retriever_for(use_rag, top_k, where, viewer)
        answers = []
        progress = progress or NoProgress()
        progress.start(len(questions), "Answering")
        for question in questions:
            answers.append(self.pipeline.answer(question, retrieve, llm, engine, None, options, instruction))
            progress.advance(1)
        progress.finish()
        return answers

    def chat(
        self, question: str, history: list[Message], engine: str = "base", use_rag: bool = True,
        top_k: int | None = None, where: dict[str, Any] | None = None, viewer: Viewer | None = None,
        options: GenerationOptions | None = None, instruction: str | None = None,
    ) -> Iterator[str | Answer]:
        """One conversation turn, streamed: text pieces, then the finished Answer. `options`: the request's
        sampling; `instruction`: the client's system message, added beside ours."""
        check_question(question, self.settings.retrieval.max_query_chars)
        llm = self.engine(engine)
        retrieve = self._retriever_for(use_rag, top_k, where, viewer)
        keep = self.settings.chat.history_turns
        return self.pipeline.stream(question, retrieve, llm, engine, history[-keep:] if keep else [], options,
                                    instruction)

    # -- prompt flows --------------------------------------------------------------------------
    @cached_property
    def flows(self) -> dict[str, Any]:
        from assistant.flows import load_flows

        return load_flows()

    def run_flow(
        self, name: str, text: str, params: dict[str, str] | None = None, engine: str = "base",
        viewer: Viewer | None = None,
    ) -> Any:
        """Run a named prompt flow; steps without their own engine use `engine`."""
        from assistant.flows import get_flow, run_flow

        flow = get_flow(self.flows, name)
        return run_flow(
            flow, text, params=params,
            retrieve=lambda query, k, where: self.retrieve([query], k, where, viewer)[0],
            engine=lambda step_engine: self.engine(step_engine or engine),
        )

    # -- demo ----------------------------------------------------------------------------------
    def build_demo(self, progress: Progress | None = None) -> dict[str, Any]:
        """Index (or refresh) the demo corpus into this home."""
        report = self.index([DEMO_CORPUS], prune=True, progress=progress)
        return {
            "home": str(self.paths.home),
            "sources": len(self.sources()),
            "questions": str(DEMO_QUESTIONS),
            "index": report.to_json(),
        }


def check_question(text: str, max_chars: int) -> None:
    if not text or not text.strip():
        raise InputError("the question is empty")
    if len(text) > max_chars:
        raise InputError(
            f"the question is {len(text):,} characters, over the limit of {max_chars:,} (retrieval.max_query_chars)"
        )


def read_jsonl_field(path: Path, key: str) -> list[str]:
    """Read one string field from each line of a JSONL file; errors name the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read: {err}") from err
    values = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{n}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict) or not isinstance(row.get(key), str) or not row[key].strip():
            raise InputError(f'{path}:{n}: expected an object with a non-empty "{key}" string')
        values.append(row[key])
    if not values:
        raise InputError(f"{path}: no lines with a {key!r}")
    return values
