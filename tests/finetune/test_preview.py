"""The dataset preview the Engines tab shows before training: kind, counts, datagen's skipped reasons and
tokens, the first rows shortened; a file that would not train is refused with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.errors import DataError
from finetune.preview import dataset_preview
from finetune.store import write_dataset
from tests.dataset_fixtures import dpo_rows, write_jsonl


def sft_row(n: int, answer: str = "Calderbrook was founded in 2009.") -> dict:
    prompt = f"Documents:\n[1] Calderbrook history, page {n}.\n\nQuestion: who founded Calderbrook ({n})?"
    return {"messages": [{"role": "system", "content": "Answer from the documents."},
                         {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def test_a_generated_set_shows_counts_reasons_tokens_and_first_rows(tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    summary = {"rows": 6, "skipped": [{"reason": "no answer in the passage", "count": 3}],
               "tokens": {"mean": 212, "max": 400}}
    write_dataset(out, [sft_row(n, "x " * 200 if n == 0 else "Calderbrook was founded in 2009.") for n in range(6)],
                  [sft_row(9)], summary)
    preview = dataset_preview(out, first=2)
    assert (preview["kind"], preview["rows"], preview["validation_rows"]) == ("sft", 6, 1)
    assert preview["skipped"] == summary["skipped"] and preview["tokens"] == summary["tokens"]
    assert len(preview["first"]) == 2
    assert preview["first"][1] == {"question": "Question: who founded Calderbrook (1)?",
                                   "answer": "Calderbrook was founded in 2009."}
    assert len(preview["first"][0]["answer"]) == 160 and preview["first"][0]["answer"].endswith("…")


def test_a_hand_made_dpo_set_and_a_broken_one(tmp_path: Path) -> None:
    pairs = write_jsonl(tmp_path / "pairs.jsonl", dpo_rows(3))
    preview = dataset_preview(pairs)
    assert (preview["kind"], preview["rows"], preview["skipped"], preview["tokens"]) == ("dpo", 3, [], None)
    assert set(preview["first"][0]) == {"question", "chosen", "rejected"}
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(sft_row(1)) + "\n{oops\n")
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON"):
        dataset_preview(broken)
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"text": "hello"}])
    with pytest.raises(DataError, match='neither "messages"'):
        dataset_preview(odd)
