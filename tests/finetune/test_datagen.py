"""Training data from the demo index: RAFT-style SFT pairs, DPO pairs from won vs lost bids, and the
checks every set passes (redaction, restricted groups, eval-question leakage, split, summary)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.components import Components
from assistant.config import load_settings
from assistant.training import DatagenRequest, index_chunks, run_datagen
from finetune.datagen_dpo import DPOOptions, build_dpo
from finetune.datagen_sft import SFTOptions
from finetune.errors import DataError
from finetune.redact import EMAIL
from finetune.validate import row_problem
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

PHONE_IN_CORPUS = "0113 496 0270"  # the Leeds office number, in the about page and the bids


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def texts(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False)


@pytest.fixture(scope="module")
def svc(demo_home: Path) -> Components:
    return Components(load_settings(demo_home))


def test_sft_through_the_cli_is_raft_style_and_summarised(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    res = run_cli("datagen", "sft", "--out", str(out), "--json", home=demo_home)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert {"out", "rows", "skipped"} <= set(summary)
    assert summary["out"] == str(out) and summary["validation_out"] == str(tmp_path / "sft.val.jsonl")
    train, val = read_rows(out), read_rows(tmp_path / "sft.val.jsonl")
    assert len(train) == summary["rows"] >= 50 and len(val) == summary["validation_rows"] >= 1
    assert all(row_problem(r, "sft") is None for r in train + val)
    assert [m["role"] for m in train[0]["messages"]] == ["system", "user", "assistant"]
    reasons = {s["reason"]: s["count"] for s in summary["skipped"]}
    assert reasons["lost bid (not a golden answer)"] > 0 and all(n > 0 for n in reasons.values())
    assert summary["tokens"]["max"] <= summary["max_tokens"] and summary["tokens"]["total"] > 0
    assert json.loads((tmp_path / "sft.summary.json").read_text())["rows"] == summary["rows"]

    # Prompts: the tender questions for bid answers, templates from heading and title for the rest.
    users = [r["messages"][1]["content"] for r in train + val]
    assert sum(u.startswith("Tender question: ") for u in users) == summary["question_from"]["tender question"] > 10
    assert any("How will you protect the privacy of the children" in u for u in users)
    # RAFT: the gold passage is among the numbered sources except for the configured fraction (0.2).
    without = 0
    for r in train + val:
        system, answer = r["messages"][0]["content"], r["messages"][2]["content"]
        assert "Sources:" in system or "Passages:" in system
        body = re.sub(r"( \[\d+\])+$|(\[\d+\])+$", "", answer).strip()
        without += body.splitlines()[0][:60] not in system
    total = len(train) + len(val)
    assert abs(summary["without_gold"] / total - 0.2) < 0.03
    # (A passage repeated in another document may show up as a distractor: allow for one or two.)
    assert abs(without - summary["without_gold"]) <= 2
    # Redaction happened before writing: no e-mail address or phone number is left, in any turn.
    blob = texts(train + val)
    assert not EMAIL.search(blob) and PHONE_IN_CORPUS not in blob
    assert summary["redacted"]["email"] > 0 and summary["redacted"]["phone"] > 0
    assert "[EMAIL]" in blob and "[PHONE]" in blob


def test_restricted_sources_stay_out_unless_their_group_is_named(svc: Components, tmp_path: Path) -> None:
    comms = {"doc_type": "internal_comms"}
    public = run_datagen(svc, DatagenRequest("sft", SFTOptions(where=comms), str(tmp_path / "public.jsonl"),
                                             val_fraction=0))
    blob = (tmp_path / "public.jsonl").read_text()
    assert public.rows > 0
    for secret in ("Kestrel", "Orrin", "Bonus pool", "pay review"):
        assert secret not in blob  # neither as an answer nor as a distractor
    assert public.skipped["restricted source (its groups are not named by --groups)"] >= 9

    named = run_datagen(svc, DatagenRequest("sft", SFTOptions(where=comms, groups=["leadership"]),
                                            str(tmp_path / "lead.jsonl"), val_fraction=0, redact=[r"Calderbrook"]))
    blob = (tmp_path / "lead.jsonl").read_text()
    assert "Kestrel" in blob and "Orrin" in blob
    assert "Bonus pool" not in blob and "pay review" not in blob  # the finance group was not named
    assert named.rows > public.rows
    # A configured pattern is redacted as well as e-mail addresses.
    assert "Calderbrook" not in blob and "[REDACTED]" in blob and named.redacted["pattern"] > 0


def test_eval_questions_never_become_training_prompts(svc: Components, tmp_path: Path) -> None:
    question = "How will you protect the privacy of the children and young people whose data the platform will hold?"
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"question": question}) + "\n" + json.dumps({"question": "Who is our CFO?"}) + "\n")
    nsc = {"doc_type": "bid", "itt": "ITT-NSC-2023-031"}
    result = run_datagen(svc, DatagenRequest("sft", SFTOptions(where=nsc, context=False), str(tmp_path / "nsc.jsonl"),
                                             eval_questions=evals, val_fraction=0))
    assert result.skipped["eval question leak (the prompt is an evaluation question)"] == 1
    assert question not in (tmp_path / "nsc.jsonl").read_text()
    assert result.rows == 5  # the won re-tender: its summary and four of its five answers
    clean = run_datagen(svc, DatagenRequest("sft", SFTOptions(where=nsc, context=False), str(tmp_path / "nsc2.jsonl"),
                                            eval_questions=None, val_fraction=0))
    assert clean.rows == 6 and clean.to_json()["eval_questions"].endswith("questions.jsonl")


def test_dpo_pairs_won_against_lost_answers_to_the_same_question(svc: Components, tmp_path: Path) -> None:
    generated = build_dpo(index_chunks(svc), None, DPOOptions(context=False))
    meta = {s.source: s.metadata for s in svc.sources()}
    assert generated.examples and not generated.notes["unpaired"]
    per_question = Counter()
    for ex in generated.examples:
        chosen, rejected = meta[ex.info["chosen_source"]], meta[ex.info["rejected_source"]]
        assert chosen["outcome"] == "won" and rejected["outcome"] == "lost"
        assert chosen["itt"] == rejected["itt"] == ex.info["itt"]
        assert ex.data["chosen"][0]["content"] != ex.data["rejected"][0]["content"]
        per_question[ex.group] += 1
    assert {g.split("|")[0] for g in per_question} == {m["itt"] for m in meta.values() if m.get("doc_type") == "itt"}
    # Northvale: lots 1 and 3 won, lot 2 lost, so each question gives two pairs.
    assert per_question["ITT-NVICB-2024-007|how will you assure clinical safety in line with dcb0129 and dcb0160"] == 2

    result = run_datagen(svc, DatagenRequest("dpo", DPOOptions(context=True, distractors=2),
                                             str(tmp_path / "dpo.jsonl")))
    rows = read_rows(tmp_path / "dpo.jsonl") + read_rows(tmp_path / "dpo.val.jsonl")
    assert len(rows) == result.rows + result.validation_rows == len(generated.examples)
    assert result.validation_rows >= 1 and all(row_problem(r, "dpo") is None for r in rows)
    first = rows[0]
    assert first["prompt"][-1]["content"].startswith(("Tender question: ", "Write the summary of our bid"))
    assert "Passages:" in first["prompt"][0]["content"]
    # The context never shows either of the bids being compared.
    for ex in generated.examples[:5]:
        row = next(r for r in rows if r["chosen"][0]["content"] == ex.data["chosen"][0]["content"]
                   and r["rejected"][0]["content"] == ex.data["rejected"][0]["content"])
        titles = {meta[ex.info["chosen_source"]]["title"], meta[ex.info["rejected_source"]]["title"]}
        assert not any(f"({t}" in row["prompt"][0]["content"] for t in titles)


def test_dpo_without_pairs_says_why_and_writes_nothing(svc: Components, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no DPO pairs to write \(question without a pair: no lost bid answers it"):
        run_datagen(svc, DatagenRequest("dpo", DPOOptions(where={"outcome": "won"}, context=False),
                                        str(tmp_path / "none.jsonl")))
    assert not (tmp_path / "none.jsonl").exists()
    res = CliRunner().invoke(app, ["datagen", "dpo", "--where", "outcome=lost", "--no-context", "--out",
                                   str(tmp_path / "x.jsonl"), "--home", str(svc.paths.home)])
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.exit_code == 2 and len(errors) == 1 and "no won bid answers it" in errors[0]
    assert "Traceback" not in res.stderr and not (tmp_path / "x.jsonl").exists()


def test_an_engine_can_write_the_questions(svc: Components) -> None:
    from finetune.datagen_sft import build_sft
    from finetune.prompts import engine_question

    asked: list[list[dict]] = []

    def engine(messages: list[dict]) -> str:
        asked.append(messages)
        return "Question: What did the challenge look like for the client?\nSome rambling."

    passage = "Patients who were well enough to go home were staying in hospital."
    assert engine_question(engine, passage) == "What did the challenge look like for the client?"
    assert passage in asked[0][1]["content"] and "one question" in asked[0][0]["content"]
    assert engine_question(lambda _m: "I cannot help with that.", passage) is None  # no question: template

    writer = lambda section: engine_question(engine, section.text)  # noqa: E731
    generated = build_sft(index_chunks(svc), None, SFTOptions(where={"doc_type": "case_study"}, context=False),
                          question_writer=writer)
    users = {e.data["messages"][1]["content"] for e in generated.examples}
    assert users == {"What did the challenge look like for the client?"}
    assert generated.notes["question_from"] == {"engine": len(generated.examples)}
