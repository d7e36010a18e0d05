"""Retrieval: dense (Chroma), keyword (BM25) and hybrid (reciprocal rank fusion).

Metadata filters and the viewer's groups are applied inside both searches. Hybrid retrieval then
fuses the two rankings, adds a ranking by date when the question asks for the latest or most recent
document and one of the documents of a year the question names, and drops near-duplicate chunks so
that the same paragraph in several files does not crowd out the top-k.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from indexing.keyword import WORD, KeywordIndex
from indexing.metadata import GROUP_FLAG_PREFIX, PUBLIC_FLAG, where_clause
from indexing.periods import document_years, spell_out_periods, years_named

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[str, ...] = ("dense", "keyword", "hybrid")
QUERIES_PER_CALL = 50
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.); damps the weight of top ranks

# Keys llama-index and the indexer keep for their own bookkeeping; not shown to users.
_INTERNAL_KEYS = frozenset(
    {"_node_content", "_node_type", "document_id", "doc_id", "ref_doc_id", PUBLIC_FLAG, "context"}
)
RECENCY_AMONG = 10  # candidates (chunks, best first) among which "the latest" document is chosen
# "current" as in "now", not the accounting sense ("total current liabilities", "the current ratio").
_RECENCY = re.compile(
    r"\b(latest|most recent|newest|current(?!\s+(?:assets?|liabilit\w*|ratio|portion|accounts?|debt|"
    r"tax(?:es)?|investments?|maturities)\b)|up[- ]to[- ]date|this year'?s?)\b",
    re.I,
)


@dataclass
class RetrievedChunk:
    id: str
    source: str
    page: int | None
    text: str
    score: float
    metadata: dict[str, Any]
    # Per-ranker evidence (e.g. {"dense": cosine, "keyword": bm25}); used to judge answerability.
    signals: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "page": self.page,
            "text": self.text,
            "score": round(self.score, 4),
            "metadata": self.metadata,
        }


def public_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in meta.items() if k not in _INTERNAL_KEYS and not k.startswith(GROUP_FLAG_PREFIX)
    }


def _chunk(cid: str, text: str, meta: dict[str, Any], score: float, signal: str) -> RetrievedChunk:
    page = meta.get("page")
    return RetrievedChunk(
        id=cid,
        source=str(meta.get("source", "")),
        page=int(page) if isinstance(page, int | float) and not isinstance(page, bool) else None,
        text=text or "",
        score=score,
        metadata=public_metadata(meta),
        signals={signal: score},
    )


class DenseRetriever:
    """Embeds the query with the indexing embedder and asks Chroma for the nearest chunks."""

    def __init__(self, collection: Any, embed_model: Any) -> None:
        self.collection = collection
        self.embed_model = embed_model

    def search_many(self, queries: list[str], top_k: int, where: dict[str, Any] | None) -> list[list[RetrievedChunk]]:
        # Query embeddings (not text embeddings): models with a query instruction need it.
        embeddings = [self.embed_model.get_query_embedding(q) for q in queries]
        out: list[list[RetrievedChunk]] = []
        # Chroma answers one query with all of them in one SQL statement: past a few hundred queries
        # that statement has more variables than SQLite allows.
        for start in range(0, len(embeddings), QUERIES_PER_CALL):
            result = self.collection.query(
                query_embeddings=embeddings[start : start + QUERIES_PER_CALL], n_results=top_k, where=where,
                include=["documents", "metadatas", "distances"],
            )
            out += [
                [_chunk(cid, text, dict(meta or {}), 1.0 - float(dist), "dense")  # cosine distance → similarity
                 for cid, text, meta, dist in zip(ids, docs, metas, dists, strict=True)]
                for ids, docs, metas, dists in zip(
                    result["ids"], result["documents"], result["metadatas"], result["distances"], strict=True
                )
            ]
        return out


def wants_latest(query: str) -> bool:
    """The question asks for the newest document ("the latest annual report", "our current policy")."""
    return bool(_RECENCY.search(query))


def _date_of(chunk: RetrievedChunk) -> dt.date | None:
    value = chunk.metadata.get("date")
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def fuse(rankings: list[list[RetrievedChunk]], k: int = RRF_K) -> list[RetrievedChunk]:
    """Reciprocal rank fusion: each ranking adds 1 / (k + rank) to a chunk's score."""
    fused: dict[str, RetrievedChunk] = {}
    for ranking in rankings:
        for rank, chunk in enumerate(ranking, 1):
            entry = fused.get(chunk.id)
            if entry is None:
                entry = fused[chunk.id] = RetrievedChunk(
                    chunk.id, chunk.source, chunk.page, chunk.text, 0.0, chunk.metadata, {}
                )
            entry.score += 1.0 / (k + rank)
            entry.signals.update(chunk.signals)
    return sorted(fused.values(), key=lambda c: -c.score)


def by_recency(candidates: list[RetrievedChunk], among: int = RECENCY_AMONG) -> list[RetrievedChunk]:
    """The chunks of the newest year's documents among the best matches: one more ranking for 'latest' questions.

    Only candidates of the same document type as the best match take part: in "the latest annual
    report", what must be newest is an annual report, not whatever else was dated last. The newest is
    chosen among the first `among` candidates, so a document that barely matches is not lifted for its
    date alone. Like a named year, the newest year gets a ranking of its own: a ranking of every
    dated candidate, newest first, was too weak to move three near-identical reports, where
    reciprocal-rank fusion turns small rank differences into smaller score differences.
    """
    if not candidates:
        return []
    doc_type = candidates[0].metadata.get("doc_type")
    pool = [c for c in candidates if c.metadata.get("doc_type") == doc_type] if doc_type else candidates
    years = [d.year for c in pool[:among] if (d := _date_of(c)) is not None]
    if not years:
        return []
    newest = max(years)  # by year: of two documents of this year, the better match still wins
    return [c for c in pool if (d := _date_of(c)) is not None and d.year == newest]


def by_period(candidates: list[RetrievedChunk], years: set[str]) -> list[RetrievedChunk]:
    """Candidates from documents of a year the question names (by title, period, date or file name), in order.

    Fused as one more ranking for questions that name a year: a 10-K of 2017 and one of 2022 share
    most of their words, and "FY2022" in the question is what tells them apart.
    """
    return [c for c in candidates if document_years(c.metadata) & years]


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = [w.lower() for w in WORD.findall(text)]
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def drop_near_duplicates(
    chunks: list[RetrievedChunk], limit: int | None = None, threshold: float = 0.8
) -> list[RetrievedChunk]:
    """Keep the best-ranked of chunks whose word 5-shingles overlap (Jaccard) at or above the threshold.

    Stops once `limit` chunks are kept: the comparison is quadratic, and only the head is returned.
    """
    kept: list[tuple[RetrievedChunk, set]] = []
    for chunk in chunks:
        if limit is not None and len(kept) >= limit:
            break
        sh = _shingles(chunk.text)
        if any(len(sh & other) / max(1, len(sh | other)) >= threshold for _, other in kept):
            continue
        kept.append((chunk, sh))
    return [c for c, _ in kept]


class Retriever:
    """The retrieval service: one entry point for the three modes."""

    def __init__(
        self, dense: DenseRetriever, keyword: KeywordIndex, candidates: int = 40, reranker: Any = None
    ) -> None:
        self.dense = dense
        self.keyword = keyword
        self.candidates = candidates
        self.reranker = reranker  # e.g. indexing.rerank.CrossEncoderReranker; None = off
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyword")

    def retrieve(
        self, query: str, top_k: int = 5, where: dict[str, Any] | None = None,
        groups: list[str] | None = None, mode: Mode = "hybrid",
    ) -> list[RetrievedChunk]:
        return self.retrieve_many([query], top_k, where, groups, mode)[0]

    def retrieve_many(
        self,
        queries: list[str],
        top_k: int = 5,
        where: dict[str, Any] | None = None,
        groups: list[str] | None = None,
        mode: Mode = "hybrid",
    ) -> list[list[RetrievedChunk]]:
        """`groups=None` is unrestricted; a list (even empty) admits public chunks and those groups."""
        if not queries:
            return []
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r} (choose from {', '.join(MODES)})")
        clause = where_clause(where, groups)
        pool = max(self.candidates, 4 * top_k)
        # The keyword search runs on a worker thread while this one embeds the query and asks Chroma:
        # SQLite and torch both release the GIL, so hybrid costs about the slower of the two, not the sum.
        keyword_future = (
            self._pool.submit(lambda: [self.keyword.search(q, pool, clause) for q in queries])
            if mode != "dense" else None
        )
        # "FY22", "Q2'2023" and "2023Q2" are embedded as "FY 2022", "Q2 2023": the forms titles and files use
        # (the keyword index spells out its queries itself, as it does its rows).
        dense = (self.dense.search_many([spell_out_periods(q) for q in queries], pool, clause)
                 if mode != "keyword" else [[] for _ in queries])
        keyword = keyword_future.result() if keyword_future is not None else [[] for _ in queries]
        out = []
        for query, dense_hits, hits in zip(queries, dense, keyword, strict=True):
            keyword_hits = [_chunk(h.id, h.text, h.metadata, h.score, "keyword") for h in hits]
            if mode == "dense":
                ranked = dense_hits
            elif mode == "keyword":
                ranked = keyword_hits
            else:
                ranked = fuse([dense_hits, keyword_hits])
                # What the question says of the documents it wants: of a named year, or the newest.
                years = years_named(query)
                preferences = [by_period(ranked[:pool], years)] if years else []
                if wants_latest(query) and not years:  # a year the question names is what it wants
                    preferences.append(by_recency(ranked[:pool]))
                if preferences:
                    ranked = fuse([dense_hits, keyword_hits, *preferences])
            needed = max(top_k, self.reranker.candidates) if self.reranker is not None else top_k
            ranked = drop_near_duplicates(ranked, limit=needed)
            if self.reranker is not None:
                ranked = self.reranker.rerank(query, ranked)
            out.append(ranked[:top_k])
        return out
