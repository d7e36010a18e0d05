"""Chroma: the embedded persistent client by default, a Chroma server when a URL is configured.

Chroma never computes embeddings here (its default embedding function downloads a model); every
vector comes from our embedder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# chromadb itself is imported where a client opens: it is a second of every command's start-up otherwise
# (`assistant jobs show`, `--help`), and most commands never open the store.


class StoreUnavailable(RuntimeError):
    """The vector store cannot be opened or reached; the message says which and why."""


def _client_settings() -> Any:
    from chromadb.config import Settings as ChromaClientSettings

    return ChromaClientSettings(anonymized_telemetry=False, allow_reset=False)


def open_client(chroma_url: str | None, persist_dir: Path) -> Any:
    import chromadb

    if chroma_url:
        url = urlparse(chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=_client_settings(),
            )
            client.heartbeat()
        except Exception as err:  # chromadb raises ValueError, httpx errors, ...
            raise StoreUnavailable(
                f"cannot reach the Chroma server at {chroma_url} ({_one_line(err)}); "
                "start it with `chroma run --path DIR --port PORT` or fix indexing.chroma_url"
            ) from err
        return client
    try:
        persist_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(persist_dir), settings=_client_settings())
    except Exception as err:
        raise StoreUnavailable(f"cannot open the embedded Chroma store in {persist_dir}: {_one_line(err)}") from err


def open_collection(client: Any, name: str) -> Any:
    try:
        return client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
    except Exception as err:
        raise StoreUnavailable(f"cannot open the Chroma collection {name!r}: {_one_line(err)}") from err


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def delete_sources(collection: Any, sources: list[str]) -> None:
    """Delete every chunk of these sources, including any written by an interrupted run."""
    for i in range(0, len(sources), 100):
        batch = sources[i : i + 100]
        where = {"source": batch[0]} if len(batch) == 1 else {"source": {"$in": batch}}
        collection.delete(where=where)
