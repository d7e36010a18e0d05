"""The ONNX Runtime embedder: today's vectors from the real MiniLM, exported once, a broken cache mended or refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexing import onnx_embedding
from indexing.embedding import (
    EmbedBackendWarning,
    ModelUnavailable,
    load_embed_model,
    resolve_embedder_folder,
    token_counter,
)
from indexing.onnx_embedding import OnnxEmbedding, export_dir

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo_corpus"


def _texts() -> list[str]:
    """Real text of varied lengths: single lines, paragraphs, and passages far past the 256-token window."""
    words = " ".join(p.read_text() for p in sorted((DEMO / "annual_reports").glob("*.md"))).split()
    memo = (DEMO / "kms" / "travel-and-expenses-policy.md").read_text()
    sizes = (1, 3, 12, 40, 90, 150, 200, 400, 700, 1200)
    return ([" ".join(words[i * 100:i * 100 + n]) for i, n in enumerate(sizes)]
            + [p for p in memo.split("\n\n") if p.strip()][:10])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder of this module's own, so that the export's counting and breaking touch nothing shared."""
    return tmp_path_factory.mktemp("onnx-models")


@pytest.fixture(scope="module")
def folder(cache: Path) -> Path:
    return resolve_embedder_folder("embedded", cache)


@pytest.fixture(scope="module")
def models(folder: Path, cache: Path) -> tuple[object, object]:
    load_embed_model.cache_clear()
    torch_model = load_embed_model(folder, 16, "cpu", cache, "torch")
    onnx_model = load_embed_model(folder, 16, "cpu", cache, "onnx")
    return torch_model, onnx_model


def test_backend_torch_is_todays_class_and_onnx_gives_the_same_vectors(models) -> None:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    torch_model, onnx_model = models
    assert type(torch_model) is HuggingFaceEmbedding
    assert isinstance(onnx_model, OnnxEmbedding)
    texts = _texts()
    tokenizer = token_counter(onnx_model)  # the embedder's own tokenizer, as with torch
    lengths = [len(tokenizer(t)) for t in texts]
    assert min(lengths) <= 3 and max(lengths) > 1000  # truncation at 256 is exercised
    assert lengths == [len(token_counter(torch_model)(t)) for t in texts]
    expected = np.asarray(torch_model.get_text_embedding_batch(texts))
    got = np.asarray(onnx_model.get_text_embedding_batch(texts))  # batches of 16, sorted by length
    assert got.shape == expected.shape == (len(texts), 384)
    assert np.abs(got - expected).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    for query in ("What was the revenue in 2024?", "travel expenses"):
        assert np.abs(np.asarray(onnx_model.get_query_embedding(query))
                      - np.asarray(torch_model.get_query_embedding(query))).max() < 1e-4
    assert np.abs(np.asarray(onnx_model.get_text_embedding(texts[5])) - expected[5]).max() < 1e-4


def test_the_cached_export_is_reused(models, folder: Path, cache: Path, monkeypatch) -> None:
    target = export_dir(folder, cache) / "model.onnx"
    stamp = target.stat().st_mtime_ns
    exports = []
    monkeypatch.setattr(onnx_embedding, "export", lambda *a: exports.append(a) or pytest.fail("exported again"))
    load_embed_model.cache_clear()
    again = load_embed_model(folder, 16, "cpu", cache, "auto")
    assert isinstance(again, OnnxEmbedding) and exports == []
    assert target.stat().st_mtime_ns == stamp


def test_a_corrupt_export_is_made_again(models, folder: Path, cache: Path) -> None:
    target = export_dir(folder, cache) / "model.onnx"
    target.write_bytes(b"not an onnx model")
    load_embed_model.cache_clear()
    repaired = load_embed_model(folder, 16, "cpu", cache, "onnx")
    assert isinstance(repaired, OnnxEmbedding)
    assert target.stat().st_size > 1000
    assert np.abs(np.asarray(repaired.get_text_embedding("revenue"))
                  - np.asarray(models[0].get_text_embedding("revenue"))).max() < 1e-4


def test_an_export_that_cannot_be_made_falls_back_or_fails_clearly(models, folder: Path, cache: Path,
                                                                   tmp_path: Path, monkeypatch) -> None:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    broken = export_dir(folder, tmp_path / "models")  # a corrupt export whose record says it is current
    broken.mkdir(parents=True)
    shutil.copy(export_dir(folder, cache) / "export.json", broken)
    (broken / "model.onnx").write_bytes(b"garbage")
    broken = broken.parent

    def refuse(st, folder_, cache_dir):
        raise onnx_embedding.OnnxUnavailable(f"exporting {folder_} to ONNX failed: no space left")

    monkeypatch.setattr(onnx_embedding, "export", refuse)
    load_embed_model.cache_clear()
    with pytest.warns(EmbedBackendWarning, match="torch instead of ONNX.*no space left"):
        fallback = load_embed_model(folder, 16, "cpu", broken, "auto")
    assert type(fallback) is HuggingFaceEmbedding
    with pytest.raises(ModelUnavailable, match=f"{folder}.*no space left.*embed_backend = 'torch'"):
        load_embed_model(folder, 16, "cpu", broken, "onnx")
    with pytest.raises(ModelUnavailable, match="runs on the CPU"):
        load_embed_model(folder, 16, "cuda", broken, "onnx")
    load_embed_model.cache_clear()


def test_a_stale_export_is_not_used(models, folder: Path, cache: Path, monkeypatch) -> None:
    """An export made from other weights (its record differs) is made again, not trusted."""
    target = export_dir(folder, cache)
    assert onnx_embedding._fresh(target, folder)
    record = target / "export.json"
    record.write_text(record.read_text().replace('"files": "', '"files": "x'))
    assert not onnx_embedding._fresh(target, folder)
    made = []

    def count(st, folder_, cache_dir):
        made.append(folder_)
        raise onnx_embedding.OnnxUnavailable("counted")

    monkeypatch.setattr(onnx_embedding, "export", count)
    load_embed_model.cache_clear()
    with pytest.warns(EmbedBackendWarning, match="counted"):
        load_embed_model(folder, 16, "cpu", cache, "auto")
    assert made == [folder]
    load_embed_model.cache_clear()


@pytest.fixture(scope="module")
def int8_model(models, folder: Path, cache: Path) -> OnnxEmbedding:
    load_embed_model.cache_clear()
    model = load_embed_model(folder, 16, "cpu", cache, "onnx", "int8")
    load_embed_model.cache_clear()
    return model


def test_int8_vectors_stay_close_to_torch_and_rank_the_same_passages(models, int8_model, folder: Path,
                                                                     cache: Path) -> None:
    torch_model, _ = models
    assert isinstance(int8_model, OnnxEmbedding)
    assert (export_dir(folder, cache) / onnx_embedding.INT8_NAME).is_file()
    texts = _texts()
    expected = np.asarray(torch_model.get_text_embedding_batch(texts))
    got = np.asarray(int8_model.get_text_embedding_batch(texts))
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (expected * got).sum(axis=1)
    assert cosines.min() >= onnx_embedding.INT8_MIN_COSINE
    assert np.abs(got - expected).max() > 1e-4  # it is really the int8 model, not the fp32 one
    passages = [t for t in texts[10:] if len(t) > 80]  # the policy memo's paragraphs, headings left out
    assert len(passages) >= 4
    for query in ("How much can I claim for meals a day?", "What is the hotel cap in London?",
                  "When must expense claims be submitted?"):
        want = np.asarray(torch_model.get_text_embedding_batch(passages)) @ np.asarray(
            torch_model.get_query_embedding(query))
        have = np.asarray(int8_model.get_text_embedding_batch(passages)) @ np.asarray(
            int8_model.get_query_embedding(query))
        assert int(np.argmax(have)) == int(np.argmax(want)), query


def test_a_corrupt_int8_model_is_made_again_and_a_bad_precision_is_named(int8_model, folder: Path,
                                                                         cache: Path) -> None:
    target = export_dir(folder, cache) / onnx_embedding.INT8_NAME
    target.write_bytes(b"not an onnx model")
    load_embed_model.cache_clear()
    repaired = load_embed_model(folder, 16, "cpu", cache, "onnx", "int8")
    assert target.stat().st_size > 1000
    assert np.allclose(repaired.get_text_embedding("revenue"), int8_model.get_text_embedding("revenue"), atol=1e-5)
    with pytest.raises(onnx_embedding.OnnxUnavailable, match="precision 'int4'"):
        onnx_embedding.load_onnx(int8_model._model, folder, cache, 16, "int4")
    load_embed_model.cache_clear()


def test_an_int8_model_that_moves_the_vectors_too_far_is_refused(int8_model, folder: Path, cache: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(onnx_embedding, "INT8_MIN_COSINE", 1.0001)  # no int8 model can pass: both tries fail
    load_embed_model.cache_clear()
    with pytest.warns(EmbedBackendWarning, match="int8 model .* moved the vectors too far"):
        fallback = load_embed_model(folder, 16, "cpu", cache, "auto", "int8")
    assert not isinstance(fallback, OnnxEmbedding)
    load_embed_model.cache_clear()
