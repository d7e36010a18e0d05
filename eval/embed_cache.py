"""A small on-disk cache of text embeddings, for the house-style model's training texts.

Those texts (the tone guide, marketing, case studies, bids) rarely change between evaluations, and
embedding them on CPU costs more than the rest of the scoring; answers are not cached (they change
every run). Keyed by the embedder and the text, so a changed chunk or embedder is simply a miss.
The file is rewritten beside, then renamed; it holds only the vectors of the last run's texts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


class CachedEmbed:
    def __init__(self, embed: Callable[[list[str]], np.ndarray], path: Path, embedder: str) -> None:
        self.embed = embed
        self.path = path
        self.embedder = embedder
        self.hits = 0
        self.misses = 0

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.embedder}\0{text}".encode()).hexdigest()

    def _load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            return {}  # no cache yet, or an unreadable one: recompute

    def __call__(self, texts: list[str]) -> np.ndarray:
        cached = self._load()
        keys = [self._key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in cached]
        self.hits, self.misses = len(texts) - len(missing), len(missing)
        if missing:
            fresh = np.asarray(self.embed([texts[i] for i in missing]), dtype=np.float32)
            for i, vector in zip(missing, fresh, strict=True):
                cached[keys[i]] = vector
            self._save({k: cached[k] for k in keys})
        return np.stack([np.asarray(cached[k], dtype=float) for k in keys]) if keys else np.zeros((0, 0))

    def _save(self, entries: dict[str, np.ndarray]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                np.savez(fh, keys=np.array(list(entries)), vectors=np.stack(list(entries.values())))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs time
