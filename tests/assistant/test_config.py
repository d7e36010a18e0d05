from pathlib import Path

import pytest

from assistant.config import ConfigError, load_settings


def test_defaults_and_paths(tmp_path: Path) -> None:
    s = load_settings(tmp_path)
    assert s.home == tmp_path
    assert s.llm.model == "embedded" and s.indexing.embedder == "embedded"
    assert s.indexing.chroma_url is None
    assert s.paths.chroma == tmp_path / "chroma" and s.paths.index == tmp_path / "index"


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "h"))
    assert load_settings().home == tmp_path / "h"


def test_toml_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("[indexing]\nchunk_size = 300\ncollection = 'docs'\n[retrieval]\ntop_k = 9\n")
    s = load_settings(tmp_path)
    assert (s.indexing.chunk_size, s.indexing.collection, s.retrieval.top_k) == (300, "docs", 9)
    monkeypatch.setenv("ASSISTANT_INDEXING__CHUNK_SIZE", "128")
    s = load_settings(tmp_path)
    assert s.indexing.chunk_size == 128 and s.indexing.collection == "docs"


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[indexing\nchunk_size = ")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[indexing]\nchunk_size = 'big'\n", "indexing.chunk_size"),
        ("[indexing]\nchunk_size = 100\nchunk_overlap = 100\n", "indexing.chunk_overlap"),
        ("[indexing]\nchroma_url = 'localhost:8000'\n", "indexing.chroma_url"),
        ("[retrieval]\ntop_k = 0\n", "retrieval.top_k"),
        ("unknown_key = 1\n", "unknown_key"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, toml: str, field: str) -> None:
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings(tmp_path)
