"""Small corpora made inside tests, and helpers to look into a home's docstore and Chroma."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from indexing.docstore import DocStore
from indexing.store import open_client, open_collection

TOPICS = {
    "leave": "Staff receive 27 days of annual leave plus bank holidays; carry-over is capped at five days.",
    "security": "The company holds ISO 27001 certification and encrypts all laptops with BitLocker.",
    "offices": "Offices are in Leeds, Bristol and Glasgow; the Leeds office opened in 2015.",
    "revenue": "Revenue for the year was 48.2 million pounds, up 12 percent on the previous year.",
    "bids": "The justice framework bid was won in March 2024 with a score of 87 out of 100.",
}
FILLER = [
    "delivery",
    "team",
    "client",
    "service",
    "quality",
    "report",
    "project",
    "plan",
    "review",
    "process",
    "support",
    "data",
    "platform",
    "training",
    "customer",
    "contract",
    "public",
    "sector",
    "digital",
    "change",
    "people",
    "value",
    "outcome",
    "evidence",
]


def paragraph(rng: random.Random, words: int = 120) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words)).capitalize() + "."


def write_corpus(folder: Path, n_files: int = 5, paragraphs: int = 3, seed: int = 0) -> list[Path]:
    """Markdown files each with one distinctive fact and some filler."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    facts = list(TOPICS.items())
    for i in range(n_files):
        topic, fact = facts[i % len(facts)]
        body = "\n\n".join([fact] + [paragraph(rng) for _ in range(paragraphs)])
        path = folder / f"doc{i:03d}-{topic}.md"
        path.write_text(f"# Note {i} on {topic}\n\n{body}\n", encoding="utf-8")
        files.append(path)
    return files


def handbook_corpus(folder: Path) -> Path:
    """Four small handbooks of facts (doc_type kms_fact, golden answers): enough for `datagen sft` to make rows."""
    folder.mkdir()
    topics = {"safety": "site inspections and incident reports", "pricing": "the rate card and discounts",
              "staffing": "the bid team and its roles", "offices": "where the regional offices are"}
    for name, about in topics.items():
        sections = "\n\n".join(f"## {name.title()} part {i}\n\nThis part covers {about}, item {i}: "
                                + " ".join(f"{name}-{i}-{j}" for j in range(12)) for i in range(4))
        (folder / f"{name}.md").write_text(f"# {name.title()} handbook\n\n{sections}\n")
    (folder / "_meta.yaml").write_text("doc_type: kms_fact\n")
    return folder


def chroma_entries(home: Path, chroma_url: str | None = None, collection: str = "documents") -> dict[str, Any]:
    col = open_collection(open_client(chroma_url, home / "chroma"), collection)
    got = col.get(include=["metadatas", "documents"])
    return {"ids": got["ids"], "metadatas": got["metadatas"], "documents": got["documents"]}


def docstore_rows(home: Path) -> dict[str, Any]:
    store = DocStore(home / "index" / "docstore.sqlite")
    try:
        return {r.source: r for r in store.all()}
    finally:
        store.close()
