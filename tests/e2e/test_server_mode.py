"""Server mode against a real `chroma run` server on a free loopback port."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.conftest import run_cli
from tests.corpus_utils import chroma_entries, write_corpus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def test_index_and_retrieve_through_a_chroma_server(tmp_path: Path, make_home, chroma_server: str) -> None:
    home = make_home(config=f'[indexing]\nchroma_url = "{chroma_server}"\n')
    corpus = tmp_path / "c"
    files = write_corpus(corpus, n_files=5)

    res = run_cli("index", str(corpus), "--json", home=home)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["added"] == 5
    assert not (home / "chroma").exists(), "server mode must not create an embedded store"
    entries = chroma_entries(home, chroma_url=chroma_server)
    assert {m["source"] for m in entries["metadatas"]} == {str(f) for f in files}

    res = run_cli("retrieve", "How many days of annual leave do staff get?", "--json", "--top-k", "1", home=home)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["results"][0]["source"].endswith("leave.md")

    res = run_cli("index", str(corpus), "--json", home=home)
    assert json.loads(res.stdout)["unchanged"] == 5


def test_unreachable_server_is_one_clear_line(tmp_path: Path, make_home) -> None:
    home = make_home(config=f'[indexing]\nchroma_url = "http://127.0.0.1:{_free_port()}"\n')
    corpus = tmp_path / "c"
    write_corpus(corpus, n_files=1)
    for args in (["index", str(corpus)], ["retrieve", "anything"]):
        res = run_cli(*args, home=home)
        assert res.returncode == 2
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert "Traceback" not in res.stderr
        assert any("cannot reach the Chroma server" in line for line in lines), res.stderr
