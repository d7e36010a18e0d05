"""The optional cross-encoder stage, with a tiny cross-encoder built here from a real BERT config.

No cross-encoder ships offline, so the model's weights are random: the test checks the stage's
plumbing (it re-orders the fused candidates by the cross-encoder's own scores), not its quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.components import Components
from assistant.config import load_settings
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(demo_home / "models" / "all-MiniLM-L6-v2")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _service(home: Path, **retrieval) -> Components:
    settings = load_settings(home)
    settings.retrieval.candidates = 80
    for key, value in retrieval.items():
        setattr(settings.retrieval, key, value)
    return Components(settings)


def test_reranker_orders_the_candidates_by_its_scores(demo_home: Path, tiny_cross_encoder: Path) -> None:
    from sentence_transformers import CrossEncoder

    question = "What is our approach to data security in bids?"
    window = 20
    fused = _service(demo_home).retrieve([question], top_k=window)[0]
    scores = CrossEncoder(str(tiny_cross_encoder)).predict([(question, c.text) for c in fused])
    expected = [c.id for _, c in sorted(zip(scores, fused, strict=True), key=lambda p: -p[0])][:5]

    reranked = _service(demo_home, reranker=str(tiny_cross_encoder), rerank_candidates=window).retrieve(
        [question], top_k=5)[0]
    assert [c.id for c in reranked] == expected
    assert all("rerank" in c.signals for c in reranked)
    assert expected != [c.id for c in fused[:5]], "random weights should reorder something; pick another seed"


def test_missing_reranker_folder_is_a_clear_error(demo_home: Path, tmp_path: Path) -> None:
    res = run_cli("retrieve", "security", home=demo_home,
                  env={"ASSISTANT_RETRIEVAL__RERANKER": str(tmp_path / "nowhere")})
    assert res.returncode == 2 and "reranker folder" in res.stderr and "Traceback" not in res.stderr
