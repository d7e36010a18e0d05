"""The keyword index: BM25 through SQLite FTS5, in the docstore's own database.

Sharing the docstore's database means a source's chunks enter the keyword index in the same
transaction that marks the source `done`, so the two can never disagree after a crash. Metadata
filters and the viewer's groups are applied inside the SQL query, so top-k is filled with rows the
viewer may see rather than trimmed after the fact.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from indexing.periods import spell_out_periods

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid     INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    source    TEXT NOT NULL,
    body      TEXT NOT NULL,   -- contextual header + chunk text: what is matched
    text      TEXT NOT NULL,   -- chunk text alone: what is shown
    metadata  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    body, content='chunks', content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
"""

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that carry no topic; left in, they make every chunk match an OR query.
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
    ours out over own same she should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why will with would you your
    yours tell give show please much many""".split()
)


PREFILTER = 400  # best matches the filter is tried on before ranking every match


@dataclass
class KeywordHit:
    id: str
    source: str
    text: str
    metadata: dict[str, Any]
    score: float  # BM25, higher is better


def match_expression(query: str) -> str | None:
    """An FTS5 OR-query of the query's content words, each quoted so no word is read as syntax."""
    words = [w.lower() for w in WORD.findall(query)]
    terms = list(dict.fromkeys(w for w in words if w not in STOPWORDS)) or list(dict.fromkeys(words))
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:64])


def where_to_sql(clause: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """Translate the Chroma `where` dialect we generate ($and, $or, $in, equality) into SQL on JSON metadata."""
    if not clause:
        return "1", []
    if len(clause) != 1:
        return where_to_sql({"$and": [{k: v} for k, v in clause.items()]})
    (key, value), = clause.items()
    if key in ("$and", "$or"):
        parts = [where_to_sql(c) for c in value]
        joiner = " AND " if key == "$and" else " OR "
        return "(" + joiner.join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]
    path = "$." + json.dumps(key)
    if isinstance(value, dict):
        (op, operand), = value.items()
        if op == "$in":
            marks = ",".join("?" for _ in operand)
            return f"json_extract(c.metadata, ?) IN ({marks})", [path, *operand]
        if op == "$eq":
            value = operand
        else:
            raise ValueError(f"unsupported filter operator {op}")
    return "json_extract(c.metadata, ?) = ?", [path, value]


class KeywordIndex:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def add(self, rows: Iterable[tuple[str, str, str, str, dict[str, Any]]]) -> None:
        """Rows of (id, source, body, text, metadata); call inside the docstore's transaction."""
        self.db.executemany(
            "INSERT OR REPLACE INTO chunks (id, source, body, text, metadata) VALUES (?,?,?,?,?)",
            ((i, s, spell_out_periods(b), t, json.dumps(m, ensure_ascii=False)) for i, s, b, t, m in rows),
        )

    def delete_sources(self, sources: list[str]) -> None:
        self.db.executemany("DELETE FROM chunks WHERE source = ?", ((s,) for s in sources))

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def search(self, query: str, top_k: int, where: dict[str, Any] | None = None) -> list[KeywordHit]:
        """The top_k rows by BM25 among those that pass `where`.

        Exact and fast: the filter is first applied to the best `PREFILTER` matches of the whole index
        (FTS5 ranks without touching the chunks table); only if fewer than top_k of those pass does
        the query rank every match with the filter applied. Either way the result is the first top_k
        passing rows of the global BM25 order.
        """
        expression = match_expression(spell_out_periods(query))
        if expression is None:
            return []
        condition, params = where_to_sql(where)
        rows = self.db.execute(
            f"""SELECT c.id, c.source, c.text, c.metadata, t.rank FROM (
                    SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ?
                    ORDER BY rank LIMIT ?
                ) AS t JOIN chunks c ON c.rowid = t.rowid
                WHERE {condition} ORDER BY t.rank LIMIT ?""",
            [expression, max(PREFILTER, 10 * top_k), *params, top_k],
        ).fetchall()
        if len(rows) < top_k:
            rows = self.db.execute(
                f"""SELECT c.id, c.source, c.text, c.metadata, bm25(chunks_fts) AS rank
                    FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid
                    WHERE chunks_fts MATCH ? AND {condition}
                    ORDER BY rank LIMIT ?""",
                [expression, *params, top_k],
            ).fetchall()
        return [KeywordHit(i, s, t, json.loads(m), -float(r)) for i, s, t, m, r in rows]
