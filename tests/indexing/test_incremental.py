"""Incremental indexing: unchanged files are skipped, changed ones replaced, removed ones pruned."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from assistant.components import Components
from assistant.config import load_settings
from tests.conftest import run_cli
from tests.corpus_utils import chroma_entries, docstore_rows, write_corpus


def _service(home: Path) -> Components:
    return Components(load_settings(home))


def test_change_delete_add_touch_only_those(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "corpus"
    files = write_corpus(corpus, n_files=5)

    first = _service(home).index([corpus])
    assert (first.added, first.updated, first.unchanged, first.failed) == (5, 0, 0, [])
    before_rows = docstore_rows(home)
    before = chroma_entries(home)
    assert len(before["ids"]) == first.chunks == sum(r.chunks for r in before_rows.values())

    # A no-op rerun does no embedding work: the embedder is never even loaded.
    svc = _service(home)
    noop = svc.index([corpus])
    assert (noop.added, noop.updated, noop.unchanged, noop.chunks) == (0, 0, 5, 0)
    assert svc.indexer._embed_model is None

    changed, deleted = files[1], files[2]
    changed.write_text("# Changed\n\nThe canteen now opens at 7.30 every weekday morning.\n")
    deleted.unlink()
    added = corpus / "new-fact.md"
    added.write_text("# New\n\nThe Glasgow office moved to Buchanan Street in 2023.\n")

    run = _service(home).index([corpus], prune=True)
    assert (run.added, run.updated, run.unchanged, run.removed, run.failed) == (1, 1, 3, 1, [])

    after_rows = docstore_rows(home)
    after = chroma_entries(home)
    sources = {str(p) for p in files if p != deleted} | {str(added)}
    assert set(after_rows) == sources
    by_source = Counter(m["source"] for m in after["metadatas"])
    assert dict(by_source) == {s: after_rows[s].chunks for s in sources}
    assert len(set(after["ids"])) == len(after["ids"])
    # Only the changed and the added file were written.
    assert run.chunks == after_rows[str(changed)].chunks + after_rows[str(added)].chunks
    for untouched in sources - {str(changed), str(added)}:
        assert after_rows[untouched].indexed_at == before_rows[untouched].indexed_at
        assert after_rows[untouched].node_ids == before_rows[untouched].node_ids
    texts = {m["source"]: d for m, d in zip(after["metadatas"], after["documents"], strict=True)}
    assert "canteen" in texts[str(changed)]
    assert str(deleted) not in by_source


def test_touched_but_identical_file_is_unchanged(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "c"
    files = write_corpus(corpus, n_files=2)
    _service(home).index([corpus])
    files[0].write_text(files[0].read_text())  # new mtime, same bytes
    run = _service(home).index([corpus])
    assert (run.unchanged, run.updated) == (2, 0)


def test_metadata_change_reindexes_the_file(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "c"
    files = write_corpus(corpus, n_files=2)
    _service(home).index([corpus])
    files[0].with_name(files[0].name + ".meta.yaml").write_text("sector: health\n")
    run = _service(home).index([corpus])
    assert (run.updated, run.unchanged) == (1, 1)
    metas = [m for m in chroma_entries(home)["metadatas"] if m["source"] == str(files[0])]
    assert metas and all(m["sector"] == "health" for m in metas)


def _vectors(home: Path):
    """The stored embeddings, in chunk-id order."""
    import numpy as np

    from indexing.store import open_client, open_collection

    got = open_collection(open_client(None, home / "chroma"), "documents").get(include=["embeddings"])
    return np.asarray([v for _, v in sorted(zip(got["ids"], got["embeddings"], strict=True), key=lambda p: p[0])])


def test_a_change_of_embedding_precision_re_embeds_every_file_once(tmp_path: Path, make_home) -> None:
    """int8 and fp32 vectors are not the same vectors: an index must not hold some of each."""
    import numpy as np

    home = make_home()
    corpus = tmp_path / "c"
    write_corpus(corpus, n_files=2)
    assert _service(home).index([corpus]).added == 2  # the default: int8
    int8 = _vectors(home)
    (home / "config.toml").write_text('[indexing]\nembed_precision = "fp32"\n')
    run = _service(home).index([corpus])
    assert (run.updated, run.unchanged) == (2, 0)
    fp32 = _vectors(home)
    assert int8.shape == fp32.shape and not np.allclose(int8, fp32, atol=1e-4)
    assert (_service(home).index([corpus]).unchanged, len(chroma_entries(home)["ids"])) == (2, len(fp32))


def test_cli_index_sources_remove_json(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "c"
    files = write_corpus(corpus, n_files=3)
    res = run_cli("index", str(corpus), "--meta", "doc_type=kms_fact", "--json", home=home)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert set(report) == {"added", "updated", "unchanged", "removed", "failed", "warnings", "chunks", "seconds"}
    assert report["added"] == 3

    res = run_cli("sources", "--json", home=home)
    listed = json.loads(res.stdout)
    assert [s["source"] for s in listed] == sorted(str(f) for f in files)
    assert all(set(s) >= {"source", "sha256", "chunks", "indexed_at", "metadata"} for s in listed)
    assert all(s["metadata"]["doc_type"] == "kms_fact" and s["metadata"]["file_name"] for s in listed)

    res = run_cli("remove", str(files[0]), str(tmp_path / "never-indexed.md"), "--json", home=home)
    assert res.returncode == 3
    out = json.loads(res.stdout)
    assert out["removed"] == [str(files[0])]
    assert out["failed"][0]["path"].endswith("never-indexed.md")
    assert str(files[0]) not in {m["source"] for m in chroma_entries(home)["metadatas"]}


def test_embedder_from_a_local_folder_and_a_wrong_one(tmp_path: Path, make_home, shared_models: Path) -> None:
    corpus = tmp_path / "c"
    write_corpus(corpus, n_files=2)
    _service(make_home("prep")).index([corpus])  # makes sure the embedded model folder is prepared
    folder = shared_models / "all-MiniLM-L6-v2"
    home = tmp_path / "custom"
    home.mkdir()
    (home / "config.toml").write_text(f'[indexing]\nembedder = "{folder}"\n')
    assert _service(home).index([corpus]).added == 2
    assert not (home / "models" / "all-MiniLM-L6-v2").exists(), "a configured folder is used in place"

    (home / "config.toml").write_text(f'[indexing]\nembedder = "{tmp_path / "no-such-model"}"\n')
    (corpus / "new.md").write_text("# New\n\nA new fact about the Cardiff office.\n")
    res = run_cli("index", str(corpus), home=home)
    assert res.returncode == 2 and "no-such-model" in res.stderr and "Traceback" not in res.stderr
