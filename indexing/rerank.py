"""An optional reranking stage: a cross-encoder from a local folder re-scores the fused candidates.

Off by default (a cross-encoder costs one forward pass per candidate); when configured it sees the
top `candidates` of the hybrid ranking and its score decides the final order.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from indexing.embedding import ModelUnavailable, pick_device


@lru_cache(maxsize=2)
def _load(folder: str, device: str) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(folder, device=pick_device(device))


class CrossEncoderReranker:
    def __init__(self, folder: str | Path, device: str = "auto", candidates: int = 20) -> None:
        path = Path(folder).expanduser()
        if not (path / "config.json").exists():
            raise ModelUnavailable(
                f"reranker folder {path} has no config.json (retrieval.reranker must be a local cross-encoder "
                "folder; hub ids are not fetched)"
            )
        try:
            self.model = _load(str(path), device)
        except Exception as err:
            raise ModelUnavailable(f"cannot load the reranker from {path}: {str(err).splitlines()[0]}") from err
        self.candidates = candidates

    def rerank(self, query: str, chunks: list[Any]) -> list[Any]:
        head, tail = chunks[: self.candidates], chunks[self.candidates :]
        if not head:
            return chunks
        scores = self.model.predict([(query, c.text) for c in head], show_progress_bar=False)
        for chunk, score in zip(head, scores, strict=True):
            chunk.signals["rerank"] = float(score)
        return sorted(head, key=lambda c: -c.signals["rerank"]) + tail
