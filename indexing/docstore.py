"""The docstore: one row per indexed source (hash, metadata, chunk ids), in SQLite.

SQLite gives atomic, durable per-file updates; a row is marked `pending` before its chunks are
written to the vector store and `done` after, so a run killed in between is detected and repaired
by the next one (see `Indexer.recover`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    source      TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    meta_hash   TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    node_ids    TEXT NOT NULL,
    chunks      INTEGER NOT NULL,
    indexed_at  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    error       TEXT
);
-- The files and folders given to `index`: a reindex walks them again with the same metadata roots.
CREATE TABLE IF NOT EXISTS roots (
    path        TEXT PRIMARY KEY,
    added_at    TEXT NOT NULL,
    meta        TEXT NOT NULL DEFAULT '{}'  -- the --meta values it was indexed with
);
"""


@dataclass
class SourceRecord:
    source: str
    sha256: str
    size: int
    mtime_ns: int
    meta_hash: str
    metadata: dict[str, Any]
    node_ids: list[str] = field(default_factory=list)
    indexed_at: str = ""
    state: str = "done"
    error: str | None = None

    @property
    def chunks(self) -> int:
        return len(self.node_ids)

    def to_public(self) -> dict[str, Any]:
        """The shape of the `sources` command's JSON contract."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "chunks": self.chunks,
            "indexed_at": self.indexed_at,
            "metadata": self.metadata,
            **({"error": self.error} if self.error else {}),
        }


class DocStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        if "meta" not in {r[1] for r in self._db.execute("PRAGMA table_info(roots)")}:  # a home from before
            self._db.execute("ALTER TABLE roots ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'")

    @property
    def connection(self) -> sqlite3.Connection:
        """Shared with the keyword index, so both change in one transaction."""
        return self._db

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @staticmethod
    def _row(row: tuple) -> SourceRecord:
        (source, sha, size, mtime, mhash, meta, ids, _chunks, at, state, error) = row
        return SourceRecord(source, sha, size, mtime, mhash, json.loads(meta), json.loads(ids), at, state, error)

    def get(self, source: str) -> SourceRecord | None:
        row = self._db.execute("SELECT * FROM sources WHERE source = ?", (source,)).fetchone()
        return self._row(row) if row else None

    def all(self, state: str | None = None) -> list[SourceRecord]:
        if state:
            rows = self._db.execute("SELECT * FROM sources WHERE state = ? ORDER BY source", (state,))
        else:
            rows = self._db.execute("SELECT * FROM sources ORDER BY source")
        return [self._row(r) for r in rows]

    def put(self, rec: SourceRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.source, rec.sha256, rec.size, rec.mtime_ns, rec.meta_hash,
                json.dumps(rec.metadata, default=str, sort_keys=True), json.dumps(rec.node_ids),
                rec.chunks, rec.indexed_at, rec.state, rec.error,
            ),
        )

    def set_error(self, source: str, error: str | None) -> None:
        self._db.execute("UPDATE sources SET error = ? WHERE source = ?", (error, source))

    def touch(self, source: str, mtime_ns: int) -> None:
        self._db.execute("UPDATE sources SET mtime_ns = ? WHERE source = ?", (mtime_ns, source))

    def delete(self, source: str) -> None:
        self._db.execute("DELETE FROM sources WHERE source = ?", (source,))

    def metadata_keys(self) -> set[str]:
        """Every metadata key found on an indexed source (one SQL pass, no JSON decoding in Python)."""
        rows = self._db.execute("SELECT DISTINCT j.key FROM sources, json_each(sources.metadata) AS j")
        return {r[0] for r in rows}

    def add_roots(self, paths: list[str], when: str, meta: dict[str, Any] | None = None) -> None:
        """Remember what was indexed and with which --meta values; the latest call wins."""
        doc = json.dumps(meta or {}, default=str, sort_keys=True)
        self._db.executemany("INSERT OR REPLACE INTO roots (path, added_at, meta) VALUES (?, ?, ?)",
                             [(p, when, doc) for p in paths])

    def forget_roots(self, paths: list[str]) -> None:
        self._db.executemany("DELETE FROM roots WHERE path = ?", [(p,) for p in paths])

    def roots(self) -> dict[str, dict[str, Any]]:
        """Each indexed root with its --meta values."""
        return {p: json.loads(m) for p, m in self._db.execute("SELECT path, meta FROM roots ORDER BY path")}

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
