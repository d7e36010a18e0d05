"""SIGKILL part-way through indexing, rerun: every source exactly once, no orphan chunks."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

from tests.conftest import ASSISTANT, ROOT, run_cli
from tests.corpus_utils import chroma_entries, docstore_rows, write_corpus


def _done_rows(home: Path) -> int:
    db = home / "index" / "docstore.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.2) as con:
            return con.execute("SELECT COUNT(*) FROM sources WHERE state = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_mid_index_then_rerun(tmp_path: Path, make_home) -> None:
    # Small write batches, so the kill lands between committed batches and inside one.
    home = make_home(config="[indexing]\nbatch_chars = 4000\n")
    corpus = tmp_path / "corpus"
    files = write_corpus(corpus, n_files=30, paragraphs=4)

    proc = subprocess.Popen(
        [*ASSISTANT, "index", str(corpus), "--home", str(home), "--json"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while _done_rows(home) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "indexing finished before it could be killed; make the corpus larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _done_rows(home)
    assert 0 < killed_at < len(files)

    res = run_cli("index", str(corpus), "--json", home=home)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["added"] + report["unchanged"] == len(files)
    assert report["unchanged"] >= killed_at - 1  # what was committed stays committed

    rows = docstore_rows(home)
    assert set(rows) == {str(f) for f in files}
    assert all(r.state == "done" and r.chunks > 0 for r in rows.values())
    entries = chroma_entries(home)
    assert len(entries["ids"]) == len(set(entries["ids"])), "duplicate chunk ids"
    per_source = Counter(m["source"] for m in entries["metadatas"])
    assert dict(per_source) == {s: r.chunks for s, r in rows.items()}, "orphan or missing chunks"
    assert sorted(entries["ids"]) == sorted(i for r in rows.values() for i in r.node_ids)
