"""Document cards: one searchable row per document (what it is, and how it begins), beside the chunks.

A chunk from page 30 of a filing rarely says whose filing it is; the document's card does. Cards are
embedded into their own Chroma collection and keyword-indexed in their own table, carrying the same
metadata as the document's chunks, so a filter or the viewer's groups apply to them exactly as to
chunks. Retrieval ranks documents by their cards and fuses that ranking into the chunk ranking.
"""

from __future__ import annotations

import hashlib
from typing import Any

from indexing.doc_context import DocumentContext
from indexing.keyword import KeywordIndex
from indexing.metadata import flatten_for_store

CARDS_SUFFIX = "-documents"  # the cards' Chroma collection is the chunks' collection name plus this


def card_id(source: str) -> str:
    return f"{hashlib.sha1(source.encode()).hexdigest()[:16]}-card"


def card_text(metadata: dict[str, Any], context: DocumentContext) -> str:
    """The header every chunk of the document carries, and the first words of the document."""
    from indexing.chunks import context_header  # imports llama-index: not at start-up

    return f"{context_header(metadata, None)}\n{context.summary}".strip()


def card_metadata(source: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {**flatten_for_store(metadata), "source": source}


class DocumentSearch:
    """Ranks documents by their cards: dense and BM25, fused by reciprocal rank."""

    def __init__(self, collection: Any, keyword: KeywordIndex, embed_model: Any) -> None:
        self.collection = collection
        self.keyword = keyword
        self.embed_model = embed_model

    def rank_many(self, queries: list[str], top_k: int, where: dict[str, Any] | None,
                  embeddings: list[list[float]] | None = None) -> list[list[str]]:
        """For each query, up to top_k sources, best first."""
        from indexing.retrieval import RRF_K

        if not queries or self.collection.count() == 0:
            return [[] for _ in queries]
        vectors = embeddings or [self.embed_model.get_query_embedding(q) for q in queries]
        dense = self.collection.query(query_embeddings=vectors, n_results=top_k, where=where, include=["metadatas"])
        out = []
        for query, metas in zip(queries, dense["metadatas"], strict=True):
            scores: dict[str, float] = {}
            keyword = [h.source for h in self.keyword.search(query, top_k, where)]
            for ranking in ([str(m["source"]) for m in metas], keyword):
                for rank, source in enumerate(ranking, 1):
                    scores[source] = scores.get(source, 0.0) + 1.0 / (RRF_K + rank)
            out.append(sorted(scores, key=lambda s: -scores[s])[:top_k])
        return out
