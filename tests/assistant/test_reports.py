"""The Reports service without a model: questions files checked by the run's own reader (a broken line
named, counts, kept in the home), the versions an evaluator may evaluate with their gate verdicts and
promotion, and promotion with an audited reason (refused blank when forced, refused to evaluators)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.accounts import User
from assistant.config import load_settings
from assistant.engines import EngineError, EngineRecord, write_engine_record
from assistant.errors import InputError, NotFound, PermissionDenied, as_user_error
from assistant.evaluation import EvalOptions, gate_metrics
from assistant.promotion import promoted_refs
from assistant.services import DEMO_QUESTIONS, Services, operator
from eval.questions import EvalInputError

ADMIN = User("ada", "admin", ())
EVE = User("eve", "evaluator", ())
STAFF = User("sam", "staff", ())

ROWS = [
    {"question": "What was our revenue?", "reference": "£46.7 million.", "answerable": True},
    {"question": "Who is the CFO?", "reference": "Tom Whitaker.", "answerable": True},
    {"question": "What is the canteen's Wi-Fi password?", "reference": "", "answerable": False},
    {"question": "Anything else?"},
]


def fake_version(home: Path, name: str, version: int) -> None:
    """A registered version as far as the registry checks (record and adapter files), no weights."""
    folder = home / "engines" / name / f"v{version}"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    write_engine_record(folder, EngineRecord(name=name, version=version))


@pytest.fixture
def ws(make_home):
    home = make_home()
    fake_version(home, "company", 1)
    fake_version(home, "company", 2)
    services = Services(load_settings(home))
    yield services
    services.close()


def write_jsonl(path: Path, rows: list, broken: str | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if broken is not None:
        lines.insert(2, broken)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_questions_file_is_counted_and_previewed(ws: Services, tmp_path: Path) -> None:
    doc = ws.reports.check_questions(EVE, write_jsonl(tmp_path / "q.jsonl", ROWS), preview=2)
    assert (doc["questions"], doc["answerable"], doc["unanswerable"], doc["unmarked"], doc["with_reference"]) \
        == (4, 2, 1, 1, 2)
    assert [q["question"] for q in doc["preview"]] == [ROWS[0]["question"], ROWS[1]["question"]]
    demo = ws.reports.check_questions(EVE, DEMO_QUESTIONS)
    assert demo["answerable"] > 0 and demo["unanswerable"] > 0 and demo["questions"] == \
        demo["answerable"] + demo["unanswerable"] + demo["unmarked"]
    with pytest.raises(PermissionDenied):
        ws.reports.check_questions(STAFF, DEMO_QUESTIONS)


def test_an_uploaded_file_is_kept_in_the_home_and_a_broken_one_named_by_its_line(ws: Services,
                                                                                 tmp_path: Path) -> None:
    upload = write_jsonl(tmp_path / "gradio-tmp-xyz.jsonl", ROWS)
    doc = ws.reports.upload_questions(EVE, upload, "my questions.jsonl")
    kept = Path(doc["path"])
    assert kept.parent == ws.settings.paths.datasets / "questions" and kept.name.startswith("my-questions-")
    assert kept.read_text() == upload.read_text() and doc["questions"] == 4
    assert not list(ws.settings.paths.datasets.glob("*.jsonl"))  # not among the training sets
    assert any(a["action"] == "upload questions" for a in ws.users.audit(operator()))

    broken = write_jsonl(tmp_path / "gradio-tmp-abc.jsonl", ROWS, broken='{"question": "unclosed')
    with pytest.raises(EvalInputError, match=r"^broken\.jsonl:3: not valid JSON") as err:
        ws.reports.upload_questions(EVE, broken, "broken.jsonl")
    assert as_user_error(err.value).kind == "invalid"
    bad_type = write_jsonl(tmp_path / "t.jsonl", [{"question": "Q?", "answerable": "yes"}])
    with pytest.raises(EvalInputError, match=r't\.jsonl:1: "answerable" must be true or false'):
        ws.reports.upload_questions(EVE, bad_type)
    assert len(list((ws.settings.paths.datasets / "questions").iterdir())) == 1  # nothing kept of either


def test_evaluators_may_evaluate_any_version_and_see_every_verdict(ws: Services, tmp_path: Path) -> None:
    assert ws.reports.evaluable(EVE) == ["base", "company@1", "company@2"]
    questions = write_jsonl(tmp_path / "q.jsonl", ROWS)
    # An unknown version is refused when the job is submitted, not when it starts.
    with pytest.raises(EngineError, match="no version 7"):
        ws.reports.submit_evaluate(EVE, EvalOptions(questions, engines=["company@7"], judge="none"))
    with pytest.raises(NotFound):
        ws.reports.submit_evaluate(EVE, EvalOptions(tmp_path / "none.jsonl", engines=["company@1"]))
    job = ws.reports.submit_evaluate(EVE, EvalOptions(questions, engines=["company@2"], gate="company@2",
                                                      against="base", gate_metric="chrf", min_delta=-0.01))
    assert job.title == "Gate company@2 against base"
    with pytest.raises(EvalInputError, match="LLM-judged"):
        ws.reports.submit_evaluate(EVE, EvalOptions(questions, gate="company@2", against="base",
                                                    gate_metric="faithfulness"))

    gate = {"candidate": "company@2", "baseline": "base", "baseline_version": "base", "metric": "chrf",
            "min_delta": -0.01, "passed": False, "reason": "rag: chrf 0.1 vs 0.2", "report": "R1",
            "checks": [{"mode": "rag", "delta": -0.1, "passed": False}], "checked_at": "2026-12-02T10:00:00+00:00"}
    (ws.settings.paths.engines / "company" / "v2" / "gate.json").write_text(json.dumps(gate))
    ws.engines.promote(ADMIN, "company@1", force=True, reason="the pilot needs it today")
    rows = {r["ref"]: r for r in ws.reports.versions(EVE)}
    assert rows["company@1"]["promoted"] and rows["company@1"]["gate"] is None
    assert rows["company@1"]["promotion"] == {"forced": True, "by": "ada", "reason": "the pilot needs it today"}
    assert not rows["company@2"]["promoted"] and rows["company@2"]["promotion"] is None
    assert rows["company@2"]["gate"] == {"passed": False, "metric": "chrf", "min_delta": -0.01, "baseline": "base",
                                         "deltas": {"rag": -0.1}, "reason": "rag: chrf 0.1 vs 0.2", "report": "R1",
                                         "checked_at": "2026-12-02T10:00:00+00:00"}
    with pytest.raises(PermissionDenied):
        ws.reports.versions(STAFF)


def test_gate_metrics_are_those_the_run_can_produce(ws: Services) -> None:
    assert "rouge_l" in gate_metrics(["norag"], judge=False) and "hit_at_k" not in gate_metrics(["norag"], False)
    assert "faithfulness" not in ws.reports.gate_metrics(EVE) and "hit_at_k" in ws.reports.gate_metrics(EVE)
    assert "faithfulness" in gate_metrics(["rag"], judge=True)


def test_a_forced_promotion_needs_a_reason_which_is_recorded_and_audited(ws: Services) -> None:
    with pytest.raises(InputError, match="needs a reason"):
        ws.engines.promote(ADMIN, "company@2", force=True, reason="   ")
    assert promoted_refs(ws.engines.registry) == {}
    with pytest.raises(PermissionDenied, match=r"may evaluate and gate .* but not promote"):
        ws.engines.promote(EVE, "company@2", force=True, reason="I evaluated it")
    with pytest.raises(PermissionDenied):
        ws.engines.promote(STAFF, "company@2", force=True, reason="why not")
    assert ws.engines.promote(ADMIN, "company@2", force=True, reason="  signed off\nby legal ") == "company@2"
    doc = json.loads((ws.settings.paths.engines / "company" / "promoted.json").read_text())
    assert doc["forced"] is True and doc["by"] == "ada" and doc["reason"] == "signed off by legal"
    audited = [(a["actor"], a["action"], a["detail"]) for a in ws.users.audit(operator())]
    assert ("ada", "promote engine", "company@2 (forced): signed off by legal") in audited
    # A caller that asks for no reason (the Engines tab, scripts) still forces as before.
    assert ws.engines.promote(ADMIN, "company@1", force=True) == "company@1"
    assert "reason" not in json.loads((ws.settings.paths.engines / "company" / "promoted.json").read_text())


def test_cli_promote_force_with_reason(ws: Services) -> None:
    from tests.conftest import run_cli

    home = ws.settings.paths.home
    res = run_cli("engines", "promote", "company@1", "--force", "--reason", " ", home=home)
    assert res.returncode == 2 and "needs a reason" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("engines", "promote", "company@1", "--force", "--reason", "demo day", "--json", home=home)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"promoted": "company@1", "forced": True, "reason": "demo day"}
    assert json.loads((home / "engines" / "company" / "promoted.json").read_text())["reason"] == "demo day"
    assert any(a["detail"] == "company@1 (forced): demo day" for a in ws.users.audit(operator()))
