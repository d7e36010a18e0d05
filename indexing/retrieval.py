"""Dense retrieval from Chroma with metadata filters and the viewer's groups applied in the search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from indexing.metadata import GROUP_FLAG_PREFIX, PUBLIC_FLAG, where_clause

# Keys llama-index and the indexer keep for their own bookkeeping; not shown to users.
_INTERNAL_KEYS = frozenset({"_node_content", "_node_type", "document_id", "doc_id", "ref_doc_id", PUBLIC_FLAG})


@dataclass
class RetrievedChunk:
    id: str
    source: str
    page: int | None
    text: str
    score: float
    metadata: dict[str, Any]

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


class DenseRetriever:
    """Embeds the query with the indexing embedder and asks Chroma for the nearest chunks."""

    def __init__(self, collection: Any, embed_model: Any) -> None:
        self.collection = collection
        self.embed_model = embed_model

    def retrieve(
        self,
        query: str,
        top_k: int = 5,
        where: dict[str, Any] | None = None,
        groups: list[str] | None = None,
    ) -> list[RetrievedChunk]:
        """`groups=None` is unrestricted; a list (even empty) admits public chunks and those groups."""
        return self.retrieve_many([query], top_k, where, groups)[0]

    def retrieve_many(
        self,
        queries: list[str],
        top_k: int = 5,
        where: dict[str, Any] | None = None,
        groups: list[str] | None = None,
    ) -> list[list[RetrievedChunk]]:
        if not queries:
            return []
        # Query embeddings (not text embeddings): models with a query instruction need it.
        embeddings = [self.embed_model.get_query_embedding(q) for q in queries]
        clause = where_clause(where, groups)
        result = self.collection.query(
            query_embeddings=embeddings,
            n_results=top_k,
            where=clause,
            include=["documents", "metadatas", "distances"],
        )
        out: list[list[RetrievedChunk]] = []
        for ids, docs, metas, dists in zip(
            result["ids"], result["documents"], result["metadatas"], result["distances"], strict=True
        ):
            chunks = []
            for cid, text, meta, dist in zip(ids, docs, metas, dists, strict=True):
                meta = dict(meta or {})
                page = meta.get("page")
                chunks.append(
                    RetrievedChunk(
                        id=cid,
                        source=str(meta.get("source", "")),
                        page=int(page) if isinstance(page, int | float) else None,
                        text=text or "",
                        score=1.0 - float(dist),  # cosine distance → cosine similarity
                        metadata=public_metadata(meta),
                    )
                )
            out.append(chunks)
        return out
