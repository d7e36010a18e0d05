"""Incremental ingestion: files → sections → chunks → embeddings → Chroma, tracked in the docstore.

A run plans first (stat, hash, metadata) and loads no model when nothing changed. Changed files
are parsed on a background thread while the main thread embeds the previous batch, through a
llama-index `IngestionPipeline` (splitter → stable chunk ids → embedder → Chroma).

Crash safety: before a batch touches Chroma its sources are marked `pending` in the docstore; a
later run deletes whatever chunks a pending source has in Chroma and indexes it afresh, so a
killed run never leaves duplicates or orphans.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexing.config import IndexingSettings
from indexing.doc_context import derive_context, fill_missing
from indexing.docstore import DocStore, SourceRecord
from indexing.keyword import KeywordIndex
from indexing.loaders import SUPPORTED_SUFFIXES, LoadedDocument, LoadError, is_supported
from indexing.metadata import (
    MetadataError,
    is_metadata_file,
    metadata_hash,
    resolve_metadata,
)
from indexing.parse_pool import ParseFile, parse_in_processes
from indexing.prefetch import Prefetcher, text_size
from indexing.progress import NoProgress, Progress
from indexing.store import delete_sources, open_client, open_collection

# Bumped when the way chunks are made changes, so that every file is re-embedded once.
PIPELINE_VERSION = 3


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    # Files indexed with a part left out (e.g. a page OCR could not read): {"path", "warning"}.
    warnings: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    def fail(self, path: str | Path, error: str) -> None:
        self.failed.append({"path": str(path), "error": error})

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "warnings": self.warnings,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Planned:
    path: Path
    source: str
    sha256: str
    size: int
    mtime_ns: int
    metadata: dict[str, Any]
    meta_hash: str
    is_update: bool


def parse_workers(setting: int, files: int) -> int:
    """Worker processes for parsing: the setting, or with -1 one per spare core (1 to 4) for 8 files or more."""
    if setting >= 0:
        return setting
    if files < 8:
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class IndexBusy(RuntimeError):
    """Another process is writing to this index."""


def source_id(path: Path) -> str:
    """A source is the absolute path of the file as given (symlinks are not resolved)."""
    return os.path.abspath(path)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _under(source: str, root: str) -> bool:
    return source.startswith(root.rstrip(os.sep) + os.sep)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Indexer:
    """Owns one home's docstore and Chroma collection; the embedder is loaded only when needed."""

    def __init__(
        self,
        settings: IndexingSettings,
        index_dir: Path,
        chroma_dir: Path,
        models_dir: Path,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.index_dir = index_dir
        self.chroma_dir = chroma_dir
        self.models_dir = models_dir
        self.progress: Progress = progress or NoProgress()
        self.docstore = DocStore(index_dir / "docstore.sqlite")
        self.keyword = KeywordIndex(self.docstore.connection)
        self._collection: Any = None
        self._embed_model: Any = None

    # -- components ----------------------------------------------------------------------------
    @property
    def collection(self) -> Any:
        if self._collection is None:
            client = open_client(self.settings.chroma_url, self.chroma_dir)
            self._collection = open_collection(client, self.settings.collection)
        return self._collection

    @property
    def embed_model(self) -> Any:
        if self._embed_model is None:
            from indexing.embedding import load_embed_model, resolve_embedder_folder

            folder = resolve_embedder_folder(self.settings.embedder, self.models_dir, self.progress.message)
            self._embed_model = load_embed_model(
                folder, self.settings.embed_batch_size, self.settings.device, self.models_dir,
                self.settings.embed_backend, self.settings.embed_precision,
            )
        return self._embed_model

    def _fingerprint(self) -> dict[str, Any]:
        s = self.settings
        fingerprint = {"v": PIPELINE_VERSION, "embedder": s.embedder, "size": s.chunk_size,
                       "overlap": s.chunk_overlap, "headers": s.contextual_headers}
        if s.embed_backend != "torch" and s.embed_precision != "fp32":  # other vectors: re-embed once
            fingerprint["precision"] = s.embed_precision
        return fingerprint

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise IndexBusy(
                    f"another process is indexing into {self.index_dir.parent}; wait for it to finish"
                ) from err
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- public operations ---------------------------------------------------------------------
    def sources(self) -> list[SourceRecord]:
        return self.docstore.all()

    def recover(self) -> int:
        """Undo what an interrupted run left half-written: chunks of `pending` sources."""
        pending = [r.source for r in self.docstore.all(state="pending")]
        if pending:
            self._drop(pending)
            self.progress.message(f"Recovered {len(pending)} source(s) from an interrupted run")
        return len(pending)

    def remove(self, targets: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        """Remove sources (or every source under a folder). Returns (removed, failed)."""
        known = {r.source for r in self.docstore.all()}
        removed: list[str] = []
        failed: list[dict[str, str]] = []
        with self.write_lock():
            for target in targets:
                src = source_id(Path(target))
                prefix = src.rstrip(os.sep) + os.sep
                matches = [src] if src in known else sorted(s for s in known if s.startswith(prefix))
                if not matches:
                    failed.append({"path": target, "error": "not an indexed source (see `assistant sources`)"})
                    continue
                self._drop(matches)
                known.difference_update(matches)
                removed += matches
                # A removed folder (or file) is no longer one that `reindex` walks.
                self.docstore.forget_roots([r for r in self.docstore.roots() if r == src or _under(r, src)])
        return removed, failed

    @contextmanager
    def _reporting_to(self, progress: Progress | None) -> Iterator[None]:
        """Report this one run to `progress` (a run holds the write lock, so runs never share it)."""
        default = self.progress
        self.progress = progress or default
        try:
            yield
        finally:
            self.progress = default

    def index(
        self, paths: list[Path], base_meta: dict[str, Any] | None = None, prune: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        with self.write_lock(), self._reporting_to(progress):
            self.recover()
            files, seen_roots = self._scan(paths, report)
            self.docstore.add_roots([source_id(p) for p in paths if Path(p).exists()], _now(), base_meta)
            plan = self._plan(files, base_meta or {}, report)
            if plan:
                self._ingest(plan, report)
            if prune:
                report.removed = self._prune(seen_roots, {source_id(p) for p, _ in files})
        report.seconds = time.perf_counter() - started
        return report

    def reindex(self, sources: list[str] | None = None, progress: Progress | None = None) -> IndexReport:
        """Walk the indexed files and folders again (None), or re-embed the given sources even if unchanged.

        Files are found under the roots they were first indexed from, so folder-level `_meta.yaml`
        (and with it `groups`) still applies: re-indexing a file on its own would lose it.
        """
        started = time.perf_counter()
        report = IndexReport()
        with self.write_lock(), self._reporting_to(progress):
            self.recover()
            roots = self.docstore.roots()
            plan: list[_Planned] = []
            if sources is None:
                gone = [r for r in roots if not os.path.exists(r)]
                if gone:  # a root that vanished takes its sources with it, as --prune would
                    lost = [s.source for s in self.docstore.all()
                            if any(s.source == r or _under(s.source, r) for r in gone)]
                    self._drop(lost)
                    self.docstore.forget_roots(gone)
                    report.removed += len(lost)
                present: set[str] = set()
                walked: list[Path] = []
                # The most specific root first: a file indexed on its own and again inside its folder
                # is planned once, with the metadata of its own, later `index` call.
                for root in sorted(roots, key=len, reverse=True):
                    if root in gone:
                        continue
                    files, seen_roots = self._scan([Path(root)], report)
                    files = [(p, r) for p, r in files if source_id(p) not in present]
                    present.update(source_id(p) for p, _ in files)
                    walked += seen_roots
                    plan += self._plan(files, roots[root], report)
                report.removed += self._prune(walked, present)
            else:
                known = {r.source for r in self.docstore.all()}
                for src in sources:
                    if src not in known:
                        report.fail(Path(src), "not an indexed source (see `assistant sources`)")
                        continue
                    root = max((r for r in roots if _under(src, r) or r == src), key=len, default=src)
                    start = Path(root) if root != src else Path(src).parent
                    plan += self._plan([(Path(src), start)], roots.get(root, {}), report, force={src})
            if plan:
                self._ingest(plan, report)
        report.seconds = time.perf_counter() - started
        return report

    # -- steps ---------------------------------------------------------------------------------
    def _scan(self, paths: list[Path], report: IndexReport) -> tuple[list[tuple[Path, Path]], list[Path]]:
        """Expand paths into (file, root) pairs; the root bounds the `_meta.yaml` search."""
        files: list[tuple[Path, Path]] = []
        roots: list[Path] = []
        for given in paths:
            path = Path(os.path.abspath(given))
            if path.is_file():
                if not is_metadata_file(path):
                    files.append((path, path.parent))
                continue
            if not path.exists():
                report.fail(path, "no such file or directory")
                continue
            if not path.is_dir():
                report.fail(path, "not a regular file or folder")
                continue
            roots.append(path)

            def on_error(err: OSError, root: Path = path) -> None:
                report.fail(err.filename or root, f"cannot read folder: {err.strerror or err}")

            for folder, dirs, names in os.walk(path, onerror=on_error):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    file = Path(folder) / name
                    if name.startswith(".") or is_metadata_file(file):
                        continue
                    files.append((file, path))
        # The same file given twice (directly and through its folder) is indexed once.
        unique = {source_id(f): (f, r) for f, r in files}
        return list(unique.values()), roots

    def _plan(
        self, files: list[tuple[Path, Path]], base_meta: dict[str, Any], report: IndexReport,
        force: set[str] | frozenset[str] = frozenset(),
    ) -> list[_Planned]:
        plan: list[_Planned] = []
        fingerprint = self._fingerprint()
        limit = int(self.settings.max_file_mb * 1024 * 1024)
        for path, root in files:
            source = source_id(path)
            try:
                st = path.stat()
                if not is_supported(path):
                    raise LoadError(
                        f"unsupported file type {path.suffix or '(no extension)'} "
                        f"(supported: {' '.join(sorted(SUPPORTED_SUFFIXES))})"
                    )
                if st.st_size > limit:
                    raise LoadError(
                        f"file is {st.st_size / 1024**2:.1f} MB, over the {self.settings.max_file_mb:g} MB "
                        "limit (indexing.max_file_mb)"
                    )
                meta = resolve_metadata(path, root, base_meta)
                mhash = metadata_hash({"meta": meta, "pipeline": fingerprint})
                rec = self.docstore.get(source)
                if rec and rec.state == "done" and rec.meta_hash == mhash and source not in force:
                    if rec.size == st.st_size and rec.mtime_ns == st.st_mtime_ns:
                        report.unchanged += 1
                        continue
                    sha = file_sha256(path)
                    if sha == rec.sha256:
                        self.docstore.touch(source, st.st_mtime_ns)
                        report.unchanged += 1
                        continue
                else:
                    sha = file_sha256(path)
            except (LoadError, MetadataError) as err:
                report.fail(path, str(err))
                continue
            except OSError as err:
                report.fail(path, f"cannot read file: {err.strerror or err}")
                continue
            is_update = rec is not None and rec.state == "done"
            plan.append(_Planned(path, source, sha, st.st_size, st.st_mtime_ns, meta, mhash, is_update))
        return plan

    def _prune(self, roots: list[Path], present: set[str]) -> int:
        gone = []
        for rec in self.docstore.all():
            if rec.source in present:
                continue
            if any(rec.source.startswith(str(root).rstrip(os.sep) + os.sep) for root in roots):
                gone.append(rec.source)
        if gone:
            self._drop(gone)
        return len(gone)

    def _drop(self, sources: list[str]) -> None:
        """Forget sources everywhere: vector store first, then keyword rows and docstore rows together."""
        delete_sources(self.collection, sources)
        with self.docstore.transaction():
            self.keyword.delete_sources(sources)
            for source in sources:
                self.docstore.delete(source)

    def _ingest(self, plan: list[_Planned], report: IndexReport) -> None:
        pipeline = self._pipeline()
        self.progress.start(len(plan), "Indexing")
        limit = int(self.settings.max_file_mb * 1024 * 1024)
        parse = ParseFile(limit, self.settings.load_options())
        batch: list[tuple[_Planned, LoadedDocument]] = []
        batch_chars = 0
        workers = parse_workers(self.settings.parse_workers, len(plan))
        # While one batch is embedded the next is parsed: in worker processes, or (for a few files,
        # where starting processes costs more than it saves) on a thread up to two batches ahead.
        parsed = (parse_in_processes(plan, parse, workers) if workers
                  else Prefetcher(plan, parse, 2 * self.settings.batch_chars))
        for item, doc in parsed:
            if isinstance(doc, BaseException):
                error = str(doc) if isinstance(doc, LoadError) else f"unexpected {type(doc).__name__}: {doc}"
                self._record_failure(item, error, report)
                self.progress.advance(1, item.path.name)
                continue
            batch.append((item, doc))
            batch_chars += text_size(doc)
            if batch_chars >= self.settings.batch_chars:
                self._write_batch_or_fail(pipeline, batch, report)
                batch, batch_chars = [], 0
        if batch:
            self._write_batch_or_fail(pipeline, batch, report)
        self.progress.finish()

    def _record_failure(self, item: _Planned, error: str, report: IndexReport) -> None:
        report.fail(item.path, error)
        # A previously indexed version stays searchable; the sources table shows the error.
        if item.is_update:
            self.docstore.set_error(item.source, error)

    def _pipeline(self) -> Any:
        from llama_index.core.ingestion import IngestionPipeline
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.vector_stores.chroma import ChromaVectorStore

        from indexing.chunks import AssignChunkIds, SortForEmbedding
        from indexing.embedding import token_counter

        tokenizer = token_counter(self.embed_model)
        splitter = SentenceSplitter(
            chunk_size=self.settings.chunk_size, chunk_overlap=self.settings.chunk_overlap, tokenizer=tokenizer
        )
        return IngestionPipeline(
            transformations=[splitter, AssignChunkIds(), SortForEmbedding(count_tokens=tokenizer), self.embed_model],
            vector_store=ChromaVectorStore(chroma_collection=self.collection),
            disable_cache=True,
        )

    def _write_batch_or_fail(
        self, pipeline: Any, batch: list[tuple[_Planned, LoadedDocument]], report: IndexReport
    ) -> None:
        """A batch that cannot be embedded or stored fails its files; the run goes on with the next."""
        try:
            self._write_batch(pipeline, batch, report)
        except Exception as err:
            reason = f"could not embed or store: {type(err).__name__}: {str(err).strip().splitlines()[0][:200]}"
            for item, _ in batch:
                report.fail(item.path, reason)
            self.progress.advance(len(batch), batch[-1][0].path.name)
            # Drop what the batch half-wrote now; if the store is down, the next run recovers it.
            with contextlib.suppress(Exception):
                self.recover()

    def _write_batch(self, pipeline: Any, batch: list[tuple[_Planned, LoadedDocument]], report: IndexReport) -> None:
        from indexing.chunks import embedded_text, to_documents

        sources = [item.source for item, _ in batch]
        with self.docstore.transaction():
            for item, _ in batch:
                self.docstore.put(
                    SourceRecord(item.source, item.sha256, item.size, item.mtime_ns, item.meta_hash,
                                 item.metadata, [], _now(), "pending")
                )
        delete_sources(self.collection, sources)
        contextual = self.settings.contextual_headers
        # What the document is (title, parties, kind, period), derived where nobody said.
        metadata = {}
        for item, doc in batch:
            derived = derive_context(item.path.name, doc.sections, doc.title)
            metadata[item.source] = {**fill_missing(item.metadata, derived), "file_name": item.path.name}
        documents = [d for item, doc in batch
                     for d in to_documents(item.source, metadata[item.source], doc, contextual)]
        nodes = pipeline.run(documents=documents)
        ids: dict[str, list[str]] = {s: [] for s in sources}
        for node in sorted(nodes, key=lambda n: n.metadata["chunk"]):
            ids[node.metadata["source"]].append(node.node_id)
        with self.docstore.transaction():
            self.keyword.delete_sources(sources)
            self.keyword.add(
                (n.node_id, n.metadata["source"], embedded_text(n), n.get_content(), keyword_metadata(n.metadata))
                for n in nodes
            )
            for item, _ in batch:
                meta = metadata[item.source]
                self.docstore.put(
                    SourceRecord(item.source, item.sha256, item.size, item.mtime_ns, item.meta_hash,
                                 meta, ids[item.source], _now(), "done")
                )
        for item, doc in batch:
            report.warnings += [{"path": str(item.path), "warning": w} for w in doc.warnings]
            if item.is_update:
                report.updated += 1
            else:
                report.added += 1
        report.chunks += len(nodes)
        self.progress.advance(len(batch), batch[-1][0].path.name)


def keyword_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    from indexing.chunks import CONTEXT_KEY

    return {k: v for k, v in meta.items() if k != CONTEXT_KEY}
