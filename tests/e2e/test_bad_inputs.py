"""Bad inputs are listed in `failed` with a reason; everything else is indexed; exit code 3."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from tests.conftest import run_cli
from tests.corpus_utils import chroma_entries, docstore_rows, write_corpus


def _bad_files(folder: Path) -> dict[str, str]:
    """file name → a word its failure reason must contain."""
    folder.mkdir()
    rng = random.Random(7)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" + rng.randbytes(3000))
    (folder / "corrupt.docx").write_bytes(rng.randbytes(5000))
    (folder / "binary.txt").write_bytes(bytes(rng.randrange(256) for _ in range(20000)))
    (folder / "unknown-encoding.md").write_bytes(bytes(rng.randrange(128, 256) for _ in range(20000)))
    (folder / "program.exe").write_bytes(b"MZ" + rng.randbytes(100))
    os.symlink(folder / "missing-target.txt", folder / "dangling.txt")
    with open(folder / "huge.txt", "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: instant, and refused before any read
    (folder / "bad-meta.txt").write_text("A perfectly fine text file about the Leeds office.")
    (folder / "bad-meta.txt.meta.yaml").write_text("doc_type: [unclosed\n")
    return {
        "empty.txt": "empty",
        "corrupt.pdf": "pdf",
        "corrupt.docx": "docx",
        "binary.txt": "binary",
        "unknown-encoding.md": "",
        "program.exe": "unsupported",
        "dangling.txt": "",
        "huge.txt": "200.0 MB",
        "bad-meta.txt": "meta.yaml",
    }


def test_each_bad_file_is_reported_and_the_rest_indexed(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "corpus"
    good = write_corpus(corpus / "good", n_files=3)
    expected = _bad_files(corpus / "bad")
    missing_arg = tmp_path / "no-such-folder"

    res = run_cli("index", str(corpus), str(missing_arg), "--json", home=home)
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    report = json.loads(res.stdout)
    failed = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert set(failed) == set(expected) | {missing_arg.name}
    for name, word in expected.items():
        assert word.lower() in failed[name].lower(), (name, failed[name])
        assert "\n" not in failed[name] and len(failed[name]) < 400
    assert "no such file" in failed[missing_arg.name]
    assert report["added"] == len(good)

    rows = docstore_rows(home)
    assert set(rows) == {str(p) for p in good}
    sources = {m["source"] for m in chroma_entries(home)["metadatas"]}
    assert sources == {str(p) for p in good}

    # Fixing one bad file and rerunning picks it up; the others are still reported.
    (corpus / "bad" / "empty.txt").write_text("Now the file says the Bristol office has 40 staff.")
    res = run_cli("index", str(corpus), "--json", home=home)
    report = json.loads(res.stdout)
    assert res.returncode == 3 and report["added"] == 1 and report["unchanged"] == len(good)
    assert "empty.txt" not in {Path(f["path"]).name for f in report["failed"]}


def test_all_good_exits_zero_and_usage_errors_exit_two(tmp_path: Path, make_home) -> None:
    home = make_home()
    corpus = tmp_path / "c"
    write_corpus(corpus, n_files=1)
    assert run_cli("index", str(corpus), "--json", home=home).returncode == 0
    res = run_cli("index", str(corpus), "--meta", "no-equals-sign", home=home)
    assert res.returncode == 2 and "KEY=VALUE" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("retrieve", home=home)
    assert res.returncode == 2 and "QUERY" in res.stderr
    (home / "config.toml").write_text("[indexing]\nchunk_size = 'big'\n")
    res = run_cli("sources", home=home)
    assert res.returncode == 2 and "indexing.chunk_size" in res.stderr and "Traceback" not in res.stderr
