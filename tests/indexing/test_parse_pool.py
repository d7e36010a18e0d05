"""Parsing in worker processes: order kept, errors handed back, a crashing parser costs only its own file."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.components import Components
from assistant.config import load_settings
from indexing.loaders import LoadedDocument, LoadError, load_file
from indexing.parse_pool import CRASH_ERROR, parse_in_processes
from tests.corpus_utils import write_corpus


def load_or_die(path: Path) -> LoadedDocument:
    """A loader that kills its process on files named crash*, as a native library dying on a hostile file would."""
    if path.name.startswith("crash"):
        os._exit(139)
    return load_file(path)


def test_files_come_back_in_order_with_their_errors(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "docs", n_files=6)
    empty = tmp_path / "docs" / "empty.txt"
    empty.write_text("")
    items = [*files[:3], empty, *files[3:]]
    out = list(parse_in_processes(items, load_or_die, workers=2))
    assert [item for item, _ in out] == items
    assert isinstance(out[3][1], LoadError) and "empty file" in str(out[3][1])
    assert all(isinstance(doc, LoadedDocument) and doc.path == item for item, doc in out if item != empty)


def test_a_parser_crash_fails_that_file_alone(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "docs", n_files=5)
    crash = tmp_path / "docs" / "crash.md"
    crash.write_text("# boom\n\ntext")
    items = [files[0], crash, *files[1:]]
    out = dict(parse_in_processes(items, load_or_die, workers=2))
    assert isinstance(out[crash], LoadError) and str(out[crash]) == CRASH_ERROR
    assert all(isinstance(out[f], LoadedDocument) for f in files)  # those in flight beside it were parsed again


def test_indexing_through_worker_processes_matches_the_thread(make_home) -> None:
    corpus = write_corpus(make_home("corpus-src").parent / "corpus", n_files=9)[0].parent
    counts = {}
    for workers in (0, 2):
        svc = Components(load_settings(make_home(f"home{workers}", f"[indexing]\nparse_workers = {workers}\n")))
        report = svc.index([corpus])
        assert report.added == 9 and not report.failed
        counts[workers] = sorted((r.source, r.chunks) for r in svc.sources())
    assert counts[0] == counts[2]
