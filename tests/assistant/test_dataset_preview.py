"""EnginesService.dataset_preview, the Engines tab's preview of the picked training set, on real files: counts,
datagen's skipped reasons and tokens, the first rows; admins only; only files inside HOME/datasets; a file that
would not train is refused with its file and line (a user error, not a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.accounts import User
from assistant.config import load_settings
from assistant.errors import InputError, NotFound, PermissionDenied, as_user_error
from assistant.services import Services, operator
from finetune.errors import DataError
from finetune.store import write_dataset

ADMIN = User("ada", "admin", ())
EVE = User("eve", "evaluator", ())
STAFF = User("sam", "staff", ())


def sft_row(n: int) -> dict:
    return {"messages": [{"role": "user", "content": f"Documents: [1] page {n}.\n\nWho founded Calderbrook ({n})?"},
                         {"role": "assistant", "content": f"Ann Price founded it (row {n})."}]}


@pytest.fixture
def ws(make_home):
    home = make_home()
    (home / "datasets").mkdir()
    services = Services(load_settings(home))
    yield services
    services.close()


def datasets(ws: Services) -> Path:
    return ws.ctx.paths.datasets


def test_a_generated_set_by_name_or_by_its_listed_path(ws: Services) -> None:
    summary = {"rows": 4, "skipped": [{"reason": "no answer in the passage", "count": 2}],
               "tokens": {"total": 400, "min": 90, "max": 110, "mean": 100.0}}
    write_dataset(datasets(ws) / "sft.jsonl", [sft_row(n) for n in range(4)], [sft_row(9)], summary)
    listed = ws.engines.datasets(ADMIN)
    assert listed == [str(datasets(ws) / "sft.jsonl")]  # the validation file is not a dataset of its own
    for name in ("sft.jsonl", listed[0]):
        preview = ws.engines.dataset_preview(ADMIN, name, first=2)
        assert (preview["kind"], preview["rows"], preview["validation_rows"]) == ("sft", 4, 1)
        assert preview["skipped"] == summary["skipped"] and preview["tokens"] == summary["tokens"]
        assert preview["first"] == [{"question": "Who founded Calderbrook (0)?", "answer": "Ann Price founded it "
                                     "(row 0)."}, {"question": "Who founded Calderbrook (1)?",
                                                   "answer": "Ann Price founded it (row 1)."}]
    assert ws.engines.dataset_preview(operator(), "sft.jsonl")["rows"] == 4


def test_only_admins_preview(ws: Services) -> None:
    write_dataset(datasets(ws) / "sft.jsonl", [sft_row(1)], [], {})
    for user in (EVE, STAFF):
        with pytest.raises(PermissionDenied):
            ws.engines.dataset_preview(user, "sft.jsonl")


def test_nothing_outside_the_datasets_folder(ws: Services, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps(sft_row(1)) + "\n")
    (datasets(ws) / "link.jsonl").symlink_to(outside)
    home = datasets(ws).parent
    for name in ("../../outside.jsonl", str(outside), "link.jsonl", "../config.toml", str(home / "app.db"), ".",
                 "questions/../../app.db"):
        with pytest.raises(InputError, match="not a dataset of"):
            ws.engines.dataset_preview(ADMIN, name)
    (datasets(ws) / "sft.summary.json").write_text("{}")
    with pytest.raises(InputError, match=r"sft\.summary\.json: a training set is a \.jsonl file"):
        ws.engines.dataset_preview(ADMIN, "sft.summary.json")
    with pytest.raises(InputError, match="name a dataset"):
        ws.engines.dataset_preview(ADMIN, "  ")
    with pytest.raises(NotFound, match=r"missing\.jsonl: no such dataset"):
        ws.engines.dataset_preview(ADMIN, "missing.jsonl")


def test_a_file_that_would_not_train_names_its_file_and_line(ws: Services) -> None:
    broken = datasets(ws) / "broken.jsonl"
    broken.write_text(json.dumps(sft_row(1)) + "\n{oops\n")
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON") as caught:
        ws.engines.dataset_preview(ADMIN, "broken.jsonl")
    error = as_user_error(caught.value)  # what every front end shows: a user's error, not a bug
    assert error is not None and error.kind == "invalid" and str(broken) in str(error)
    odd = datasets(ws) / "odd.jsonl"
    odd.write_text(json.dumps(sft_row(1)) + "\n" + json.dumps(sft_row(2)) + "\n" + json.dumps({"messages": []}) + "\n")
    with pytest.raises(DataError, match=r"odd\.jsonl:3: .*not a SFT row"):
        ws.engines.dataset_preview(ADMIN, "odd.jsonl")
