"""The services the CLI, the web UI and the API all call. Components are built lazily, once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant.chat import Answer, answer_question
from assistant.config import Settings
from indexing.docstore import SourceRecord
from indexing.ingest import Indexer, IndexReport
from indexing.progress import NoProgress, Progress
from indexing.retrieval import MODES, DenseRetriever, RetrievedChunk, Retriever

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_CORPUS = DEMO_DIR / "corpus"
DEMO_QUESTIONS = DEMO_DIR / "questions.jsonl"


class InputError(ValueError):
    """A malformed input file or argument; the message names it (and the line)."""


@dataclass
class Viewer:
    """Who is asking. `groups=None` is an unrestricted operator on the command line."""

    name: str | None = None
    groups: list[str] | None = None


class AssistantService:
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
        dense = DenseRetriever(self.indexer.collection, self.indexer.embed_model)
        return Retriever(dense, self.indexer.keyword, self.settings.retrieval.candidates)

    @cached_property
    def llm(self) -> Any:
        from assistant.llm.embedded import resolve_llm_folder
        from assistant.llm.local import LocalLLM

        folder = resolve_llm_folder(self.settings.llm.model, self.paths.models, self.progress.message)
        self.progress.message(f"Loading {folder.name}")
        return LocalLLM(folder, self.settings.llm)

    # -- indexing ------------------------------------------------------------------------------
    def index(self, paths: list[Path], meta: dict[str, Any] | None = None, prune: bool = False) -> IndexReport:
        return self.indexer.index(paths, meta, prune)

    def sources(self) -> list[SourceRecord]:
        return self.indexer.sources()

    def remove(self, sources: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        return self.indexer.remove(sources)

    # -- retrieval and answers -----------------------------------------------------------------
    def retrieve(
        self, queries: list[str], top_k: int | None = None, where: dict[str, Any] | None = None,
        viewer: Viewer | None = None, mode: str | None = None,
    ) -> list[list[RetrievedChunk]]:
        viewer = viewer or Viewer()
        mode = mode or self.settings.retrieval.mode
        if mode not in MODES:
            raise InputError(f"unknown retrieval mode {mode!r} (choose from {', '.join(MODES)})")
        for q in queries:
            check_question(q, self.settings.retrieval.max_query_chars)
        self.check_filter_keys(where)
        k = top_k or self.settings.retrieval.top_k
        return self.retriever.retrieve_many(queries, k, where, viewer.groups, mode)  # type: ignore[arg-type]

    def metadata_keys(self) -> set[str]:
        """Every metadata key a filter can use: the indexer's own and those found on indexed sources."""
        keys = {"source", "file_name", "file_type", "page", "heading", "title", "chunk", "groups"}
        for record in self.sources():
            keys.update(record.metadata)
        return keys

    def check_filter_keys(self, where: dict[str, Any] | None) -> None:
        unknown = sorted(set(where or {}) - self.metadata_keys())
        if unknown:
            known = ", ".join(sorted(self.metadata_keys()))
            raise InputError(f"unknown metadata key(s) {', '.join(unknown)} in the filter (known: {known})")

    def ask(
        self, questions: list[str], use_rag: bool = True, top_k: int | None = None,
        where: dict[str, Any] | None = None, viewer: Viewer | None = None,
    ) -> list[Answer]:
        contexts: list[list[RetrievedChunk] | None] = (
            list(self.retrieve(questions, top_k, where, viewer)) if use_rag else [None] * len(questions)
        )
        llm = self.llm
        max_new = self.settings.llm.max_new_tokens
        answers = []
        self.progress.start(len(questions), "Answering")
        for question, chunks in zip(questions, contexts, strict=True):
            answers.append(answer_question(question, chunks, llm, "base", max_new))
            self.progress.advance(1)
        self.progress.finish()
        return answers

    # -- demo ----------------------------------------------------------------------------------
    def build_demo(self) -> dict[str, Any]:
        """Index (or refresh) the demo corpus into this home."""
        report = self.index([DEMO_CORPUS], prune=True)
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
