"""`assistant eval` and the eval/ package: metrics against hand-computed values, the report and its
numbers, judge failures counted (never averaged away), classification, the gate, bad input.

Models are real: the embedded SmolLM2 on the demo home for the end-to-end report, a tiny random Llama
with a random LoRA adapter for the gate (a real engine version, quick to run). The LLM judge that RAGAS
needs JSON from cannot run here at a useful size (a 70B judge on 2 CPU cores), so the judge tests talk
to a real loopback HTTP server that answers like a weak judge: prose instead of JSON, or too slowly.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from assistant.cli import app
from eval.model import Context, Row
from eval.questions import Question
from tests.conftest import free_port, run_cli
from tests.dataset_fixtures import write_jsonl

pytestmark = pytest.mark.slow

DEMO_SUBSET = 4  # 3 answerable questions and 1 unanswerable one (picked below)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def question(**kw: Any) -> Question:
    return Question(line=kw.pop("line", 1), question=kw.pop("question", "What was revenue?"), **kw)


# -- the loopback "judge" -------------------------------------------------------------------------------
class JudgeServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that answers every request with prose (no JSON),
    and sleeps past the client's timeout when the prompt contains `slow_marker`."""

    def __init__(self, reply: str = "I think the answer is mostly right and quite helpful.",
                 slow_marker: str | None = None, sleep_s: float = 3.0) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "judge", "object": "model"}]})

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.requests += 1
                prompt = " ".join(str(m.get("content")) for m in request.get("messages", []))
                if slow_marker and slow_marker in prompt:
                    time.sleep(sleep_s)
                self._send({"id": "x", "object": "chat.completion", "created": 0, "model": request.get("model"),
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": reply}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- HTML parsing for the report check ------------------------------------------------------------------
class ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "td" and "data-metric" in a:
            self.cells.append(a)
        if tag == "img":
            self.images.append(a.get("src", ""))
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])


# -- 1. the end-to-end report on the demo corpus with the real embedded model ---------------------------
@pytest.fixture(scope="module")
def eval_home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("eval") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    (home / "config.toml").write_text("[llm]\nmax_new_tokens = 32\n")
    return home


def demo_subset(path: Path) -> Path:
    from assistant.components import DEMO_QUESTIONS

    rows = [json.loads(line) for line in DEMO_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = [r for r in rows if r["answerable"]][:3] + [r for r in rows if not r["answerable"]][:1]
    assert len(picked) == DEMO_SUBSET
    return write_jsonl(path, picked)


def test_eval_writes_a_report_whose_numbers_match_results_json(eval_home: Path, tmp_path: Path) -> None:
    questions = demo_subset(tmp_path / "q.jsonl")
    res = run_cli("eval", "--questions", str(questions), "--engines", "base", "--modes", "rag,norag", "--json",
                  home=eval_home)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # exactly one JSON document on stdout
    report = Path(doc["report"])
    assert report.parent == eval_home / "reports" and report.is_dir()
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".") and p.name != ".cache"]  # no staging
    results = json.loads((report / "results.json").read_text())
    assert results["results"] == doc["results"]
    assert set(doc["results"]) == {"base"} and set(doc["results"]["base"]) == {"rag", "norag"}

    rag, norag = results["summary"]["base"]["rag"], results["summary"]["base"]["norag"]
    for name in ("rouge_l", "bleu", "chrf", "string_similarity", "exact_match", "answered", "house_style"):
        assert name in doc["results"]["base"]["rag"] and name in doc["results"]["base"]["norag"]
    for name in ("hit_at_k", "mrr", "ref_context_recall", "nonllm_context_recall", "nonllm_context_precision"):
        assert rag[name]["status"] == "ok" and rag[name]["n"] == 3  # the 3 answerable ones have references
        assert norag[name]["status"] == "skipped" and name not in doc["results"]["base"]["norag"]
    # The unanswerable question has no reference: reference metrics skip it (and say so), never score 0.
    assert rag["rouge_l"]["n"] == 3 and rag["rouge_l"]["skip_reasons"] == {"no reference": 1}
    assert rag["declined"]["n"] == 1 and rag["answered"]["n"] == 3
    assert any("rouge_l" in n and "no reference (2 rows)" in n for n in results["notes"])
    assert results["judge"]["status"] == "none"
    # Retrieval on these easy questions finds the annual report.
    assert rag["hit_at_k"]["mean"] == 1.0 and 0 < rag["mrr"]["mean"] <= 1.0
    assert len(results["rows"]) == DEMO_SUBSET * 2
    # Every scored row's per-row numbers average to the summary's mean.
    for mode, cells in (("rag", rag), ("norag", norag)):
        values = [r["scores"]["rouge_l"] for r in results["rows"] if r["mode"] == mode and "rouge_l" in r["scores"]]
        assert cells["rouge_l"]["mean"] == pytest.approx(np.mean(values), abs=1e-4)
        lo, hi = cells["rouge_l"]["ci95"]
        assert lo <= cells["rouge_l"]["mean"] <= hi
    # House style: calibrated on held-out texts, house above generic.
    cal = results["style"]["calibration"]
    assert cal["heldout_house_mean"] > cal["heldout_generic_mean"] and cal["heldout_auc"] > 0.75
    assert results["settings"]["engines"] == {"base": "base"} and len(results["settings"]["questions_sha256"]) == 64

    # The HTML: self-contained, with the same numbers as results.json.
    html = (report / "report.html").read_text(encoding="utf-8")
    parser = ReportParser()
    parser.feed(html)
    plots = sorted(p.name for p in (report / "plots").glob("*.png"))
    assert {"retrieval.png", "metrics_classic.png", "metrics_answerability.png", "metrics_style.png"} <= set(plots)
    assert len(parser.images) == len(plots) and all(s.startswith("data:image/png;base64,") for s in parser.images)
    assert not parser.external and "script" not in parser.tags and "link" not in parser.tags
    shown = {(c["data-engine"], c["data-mode"], c["data-metric"]): c for c in parser.cells}
    for mode in ("rag", "norag"):
        for name, c in results["summary"]["base"][mode].items():
            cell = shown[("base", mode, name)]
            assert cell["data-status"] == c["status"]
            if c["status"] == "ok":
                assert float(cell["data-value"]) == c["mean"] == doc["results"]["base"][mode][name]
    assert "Worst answers" in html and results["rows"][0]["question"][:30] in html


# -- 2. retrieval and answerability metrics, by hand ----------------------------------------------------
def test_retrieval_metrics_match_hand_computed_values() -> None:
    from eval.metrics_retrieval import (
        first_relevant_rank,
        hit_and_rr,
        reference_context_recall,
        score_answerability,
        score_retrieval,
        source_matches,
    )

    assert source_matches("/data/corpus/bids/bid-a.docx", "bids/bid-a.docx")
    assert source_matches("/data/corpus/bids/bid-a.docx", "bid-a.docx")
    assert not source_matches("/data/corpus/bids/old-bid-a.docx", "bid-a.docx")  # a component, not a suffix
    assert not source_matches("/data/corpus/other/bid-a.docx", "bids/bid-a.docx")
    ranked = ["/c/kms/x.md", "/c/kms/y.md", "/c/annual/ar-2024.pdf", "/c/annual/ar-2024.pdf", "/c/z.md"]
    assert first_relevant_rank(ranked, ["annual/ar-2024.pdf"]) == 3
    assert hit_and_rr(ranked, ["annual/ar-2024.pdf", "kms/y.md"]) == (1.0, 0.5)  # the first match counts
    assert hit_and_rr(ranked, ["nowhere.pdf"]) == (0.0, 0.0)

    chunks = [Context("/c/a.pdf", "Intro.\nRevenue grew by 22.3%   to £46.7 million.\nMore text follows here."),
              Context("/c/b.pdf", "Operating margin improved to 10-9% from 10.2%.")]  # PDF-ish damage
    refs = ["Revenue grew by 22.3% to £46.7 million.", "Operating margin improved to 10.9% from 10.2%.",
            "The board expects growth of 12% to 15%."]
    assert reference_context_recall(refs, chunks) == pytest.approx(2 / 3)

    q1 = question(reference_sources=["annual/ar-2024.pdf"], reference_contexts=refs[:1], answerable=True)
    q2 = question(answerable=False)
    rag1 = Row(q1, "base", "rag", found=True, retrieved=[Context(s, "Revenue grew by 22.3% to £46.7 million.")
                                                         for s in ranked])
    rag2 = Row(q2, "base", "rag", found=False)
    norag = Row(q1, "base", "norag", found=True)
    rows = [rag1, rag2, norag]
    score_retrieval(rows)
    score_answerability(rows)
    assert rag1.scores == {"hit_at_k": 1.0, "mrr": pytest.approx(1 / 3), "ref_context_recall": 1.0, "answered": 1.0}
    assert rag2.skipped["hit_at_k"] == "no reference_sources" and rag2.scores == {"declined": 1.0}
    assert norag.skipped["mrr"] == "no retrieval in norag mode" and norag.scores == {"answered": 1.0}


def test_classic_metrics_and_aggregation_by_hand() -> None:
    from eval.metrics_classic import score_classic
    from eval.results import aggregate

    q = question(reference="the cat sat on the mat")
    exact = Row(q, "e", "norag", answer="the cat sat on the mat", found=True)
    half = Row(q, "e", "norag", answer="the cat sat", found=True)  # LCS 3: P 3/3, R 3/6 -> F 2/3
    broken = Row(q, "e", "norag", error="engine crashed")
    no_ref = Row(question(), "e", "norag", answer="whatever", found=True)
    rows = [exact, half, broken, no_ref]
    assert score_classic(rows) == 10  # 5 answer metrics x 2 answered rows with a reference
    assert exact.scores["exact_match"] == 1.0 and exact.scores["rouge_l"] == pytest.approx(1.0)
    assert half.scores["exact_match"] == 0.0 and half.scores["rouge_l"] == pytest.approx(2 / 3)
    assert half.scores["string_similarity"] == pytest.approx(1 - 11 / 22)  # Levenshtein: 11 deletions of 22 chars
    assert broken.failures["rouge_l"].startswith("no answer") and no_ref.skipped["rouge_l"] == "no reference"

    summary = aggregate(rows, ["e"], ["norag"], threshold=0.3)["e"]["norag"]
    # 1 failure of 3 applicable rows = 33% > 30%: no number, "unreliable".
    assert summary["rouge_l"]["status"] == "unreliable" and summary["rouge_l"]["mean"] is None
    assert summary["rouge_l"]["failures"] == 1 and summary["rouge_l"]["n"] == 2 and summary["rouge_l"]["skipped"] == 1
    relaxed = aggregate(rows, ["e"], ["norag"], threshold=0.5)["e"]["norag"]["rouge_l"]
    assert relaxed["status"] == "ok" and relaxed["mean"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)
    assert relaxed["failure_reasons"] == {"no answer: engine crashed": 1}


# -- 3. the judge: failures are counted per metric, never averaged away --------------------------------
def judged_rows() -> list[Row]:
    facts = "Revenue grew by 22.3% to £46.7 million."
    rows = []
    for i, text in enumerate(["What was revenue?", "What was revenue growth?", "slow: what was revenue?"]):
        q = question(line=i + 1, question=text, reference="Revenue was £46.7 million.", reference_contexts=[facts],
                     answerable=True)
        rows.append(Row(q, "base", "rag", answer="Revenue was £46.7 million [1].", found=True,
                        contexts=[Context("/c/ar.pdf", facts)]))
    rows.append(Row(rows[0].question, "base", "norag", answer="Revenue was about £40 million.", found=True))
    return rows


def test_judge_that_returns_prose_or_times_out_is_counted_as_failures(tmp_path: Path) -> None:
    """A real loopback server answers like a weak judge: prose where RAGAS needs JSON, and one question's
    prompts hang past the timeout. Every failure is counted with its reason; the metrics are 'unreliable'."""
    from assistant.config import LLMSettings
    from assistant.llm.openai_backend import OpenAIBackend
    from eval.judge import JudgeSpec
    from eval.report import write_report
    from eval.runner import EvalRequest, Hooks, run_evaluation

    server = JudgeServer(slow_marker="slow:", sleep_s=2.5)
    try:
        backend = OpenAIBackend(LLMSettings(model="judge", api_base=server.url, max_retries=0, timeout_s=1,
                                            context_window=100_000), model="judge")
        spec = JudgeSpec("url", backend, model="judge", url=server.url, timeout_s=1, retries=1, workers=2)
        rows = judged_rows()
        canned = {(r.question.question, r.rag): r for r in rows}

        def answer(text: str, engine: str, rag: bool) -> Any:
            row = canned.get((text, rag), rows[-1])  # norag: the same unsupported answer for every question
            return SimpleNamespace(answer=row.answer, found=row.found, sources=row.contexts if rag else [])

        qs = [r.question for r in rows if r.rag]
        request = EvalRequest(qs, ["base"], ["rag", "norag"], spec,
                              judge_metrics=["faithfulness", "context_recall", "factual_correctness"])
        run = run_evaluation(request, Hooks(answer=answer))
    finally:
        server.close()
    rag = run.summary["base"]["rag"]
    for name in ("faithfulness", "context_recall", "factual_correctness"):
        cell = rag[name]
        assert cell["status"] == "unreliable" and cell["mean"] is None and cell["n"] == 0
        assert cell["failures"] == 3 and cell["failure_share"] == 1.0
        assert set(cell["failure_reasons"]) <= {"judge output not parsed", "judge timed out"}
        assert cell["failure_reasons"].get("judge output not parsed", 0) >= 2
    assert rag["faithfulness"]["failure_reasons"].get("judge timed out") == 1  # the slow question, after a retry
    norag = run.summary["base"]["norag"]
    assert norag["faithfulness"]["status"] == "skipped"  # no sources without retrieval: not a failure
    assert norag["factual_correctness"]["failures"] == 3
    assert run.results()["base"]["rag"]["faithfulness"] is None
    calls = run.judge["calls"]
    assert calls["answered"] > 0 and calls["json_parsed"] == 0 and calls["timeouts"] >= 2
    assert any("faithfulness (base, rag) is unreliable" in n for n in run.notes)
    # The non-LLM metrics still ran.
    assert rag["rouge_l"]["status"] == "ok" and rag["hit_at_k"]["status"] == "skipped"
    report = write_report(run, tmp_path / "reports")
    html = (report / "report.html").read_text()
    assert 'data-metric="faithfulness" data-status="unreliable"' in html
    assert json.loads((report / "results.json").read_text())["summary"]["base"]["rag"]["faithfulness"]["failures"] == 3


def test_cancelling_an_eval_job_stops_the_judge_within_a_call(tmp_path: Path) -> None:
    """A Reports-tab evaluation is a job; cancelling it while a slow judge works stops the judged metrics
    at the next judge call (not after every row of every metric), and nothing is reported as done."""
    from assistant.accounts import User
    from assistant.appdb import AppDB
    from assistant.config import LLMSettings
    from assistant.jobs import JobManager
    from assistant.llm.openai_backend import OpenAIBackend
    from eval.judge import JudgeSpec
    from eval.runner import EvalRequest, Hooks, run_evaluation

    server = JudgeServer(slow_marker="", sleep_s=0.3)  # every call takes 0.3 s
    jobs = JobManager(AppDB(f"sqlite:///{tmp_path / 'app.db'}"))
    evaluator = User("eve", "evaluator", ())
    try:
        backend = OpenAIBackend(LLMSettings(model="judge", api_base=server.url, max_retries=0, timeout_s=5,
                                            context_window=100_000), model="judge")
        spec = JudgeSpec("url", backend, model="judge", url=server.url, timeout_s=5, retries=0, workers=1)
        rows = judged_rows()[:2] * 10  # 20 rows x 3 metrics: well over 60 judge calls if nothing stops them
        qs = [dataclasses.replace(r.question, line=i + 1) for i, r in enumerate(rows)]

        def answer(text: str, engine: str, rag: bool) -> Any:
            return SimpleNamespace(answer=rows[0].answer, found=True, sources=rows[0].contexts)

        request = EvalRequest(qs, ["base"], ["rag"], spec,
                              judge_metrics=["faithfulness", "context_recall", "factual_correctness"])
        job = jobs.submit("eval", "eve", "Evaluate base",
                          lambda ctx: {"rows": len(run_evaluation(request, Hooks(answer=answer), ctx).rows)})
        deadline = time.monotonic() + 120
        while server.requests < 3:  # the probe, then the judging under way
            assert time.monotonic() < deadline and jobs.get(job.id).state in ("queued", "running")
            time.sleep(0.05)
        # Counted just before cancelling: on a loaded machine this thread may wake late, after several calls.
        calls_at_cancel = server.requests
        jobs.cancel(job.id, evaluator)
        while jobs.get(job.id).state in ("queued", "running"):
            assert time.monotonic() < deadline, "the cancelled evaluation kept running"
            time.sleep(0.05)
        calls_at_stop = server.requests
        time.sleep(1.0)
    finally:
        jobs.shutdown(wait=True, timeout=30)
        server.close()
    assert jobs.get(job.id).state == "cancelled"
    # At most the call in flight (plus one begun while cancel() ran) after the cancel, none after the stop,
    # and far from the 60+ calls of a run that ignored it.
    assert calls_at_stop - calls_at_cancel <= 2 and server.requests == calls_at_stop
    assert calls_at_stop < 40


# -- 4. classification ------------------------------------------------------------------------------------
def test_classification_metrics_match_hand_computed_and_sklearn(tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    from eval.classify import UNMAPPED, macro_scores, map_answer
    from eval.report import write_report
    from eval.runner import EvalRequest, Hooks, run_evaluation

    labels = ["billing", "late payment", "technical"]
    assert map_answer("Billing.", labels) == "billing"
    assert map_answer("This ticket is about a late payment, not billing", labels) == "late payment"
    assert map_answer("It looks TECHNICAL to me", labels) == "technical"
    assert map_answer("No idea", labels) == UNMAPPED

    cases = [  # (gold, answer) -> predicted
        ("billing", "billing"), ("billing", "Technical issue"), ("technical", "technical"),
        ("technical", "technical"), ("late payment", "I cannot tell"), ("late payment", "late payment"),
    ]
    gold = [g for g, _ in cases]
    pred = [map_answer(a, labels) for _, a in cases]
    assert pred == ["billing", "technical", "technical", "technical", UNMAPPED, "late payment"]
    scores = macro_scores(gold, pred, labels)
    # By hand: billing P 1/1 R 1/2; late payment P 1/1 R 1/2; technical P 2/3 R 2/2.
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision_macro"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert scores["recall_macro"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert scores["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 0.8) / 3)
    p, r, f, _ = precision_recall_fscore_support(gold, pred, labels=labels, average="macro", zero_division=0)
    assert (scores["precision_macro"], scores["recall_macro"], scores["f1_macro"]) == pytest.approx((p, r, f))
    assert scores["accuracy"] == pytest.approx(accuracy_score(gold, pred))

    # Through the runner and the report, with stand-in answers.
    qs = [question(line=i + 1, question=f"Classify ticket {i}", label=g) for i, (g, _) in enumerate(cases)]
    answers = {q.question: a for q, (_, a) in zip(qs, cases, strict=True)}
    hooks = Hooks(answer=lambda t, e, rag: SimpleNamespace(answer=answers[t], found=True, sources=[]))
    run = run_evaluation(EvalRequest(qs, ["base"], ["norag"]), hooks)
    block = run.classification["base"]["norag"]
    assert block["columns"] == [*labels, UNMAPPED]
    assert block["confusion"] == [[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 2, 0]]
    expected = confusion_matrix(gold, pred, labels=[*labels, UNMAPPED])[: len(labels)].tolist()
    assert block["confusion"] == expected
    cells = run.summary["base"]["norag"]
    assert cells["accuracy"]["mean"] == pytest.approx(4 / 6, abs=1e-4)
    assert cells["f1_macro"]["mean"] == pytest.approx(round(scores["f1_macro"], 4))
    report = write_report(run, tmp_path / "reports")
    assert (report / "plots" / "confusion_base_norag.png").stat().st_size > 1000
    assert "gold \\ predicted" in (report / "report.html").read_text()


# -- 5. the gate, on a real (tiny) engine version --------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_home(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.llm_fixtures import make_random_adapter, make_tiny_base

    base = make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")
    home = tmp_path_factory.mktemp("tinyhome") / "home"
    home.mkdir()
    (home / "models").symlink_to(shared_models, target_is_directory=True)
    (home / "config.toml").write_text(f'[llm]\nmodel = "{base}"\nmax_new_tokens = 8\n')
    make_random_adapter(base, home / "engines" / "cand" / "v1", seed=3, base=str(base))
    return home


def test_gate_exit_codes_and_gate_file(tiny_home: Path, tmp_path: Path) -> None:
    from eval.gate import evaluate_gate, read_gate_file

    qs = write_jsonl(tmp_path / "q.jsonl", [{"question": "Where is the head office?", "reference": "Leeds."},
                                            {"question": "Who is the CFO?", "reference": "Tom Whitaker."}])
    common = ["eval", "--questions", qs, "--gate", "cand", "--against", "base", "--modes", "norag", "--no-style",
              "--home", tiny_home, "--json"]
    code, out, err = cli(*common, "--min-delta", "-1")  # any delta >= -1: passes
    assert code == 0, err
    doc = json.loads(out)
    gate = doc["gate"]
    assert gate["passed"] and gate["candidate_version"] == "cand@1" and gate["metric"] == "rouge_l"
    saved = read_gate_file(tiny_home / "engines" / "cand" / "v1")
    assert saved is not None and saved["passed"] and saved["report"] == Path(doc["report"]).name
    results = json.loads((Path(doc["report"]) / "results.json").read_text())
    assert results["gate"]["passed"] and set(results["results"]) == {"base", "cand"}

    code, out, err = cli(*common, "--min-delta", "1")  # must be 1.0 better: impossible
    assert code == 1 and "gate FAILED" in err
    assert json.loads(out)["gate"]["passed"] is False
    assert read_gate_file(tiny_home / "engines" / "cand" / "v1")["passed"] is False  # type: ignore[index]

    # The comparison itself, on summaries: worse beyond the tolerance fails, an unreliable side fails.
    def cells(mean: float | None, status: str = "ok") -> dict[str, Any]:
        return {"rouge_l": {"mean": mean, "status": status}}

    summary = {"new": {"rag": cells(0.50)}, "old": {"rag": cells(0.52)}}
    assert evaluate_gate(summary, "new", "old", "rouge_l", -0.03, ["rag"])["passed"]
    assert not evaluate_gate(summary, "new", "old", "rouge_l", -0.01, ["rag"])["passed"]
    shaky = {"new": {"rag": cells(None, "unreliable")}, "old": {"rag": cells(0.5)}}
    result = evaluate_gate(shaky, "new", "old", "rouge_l", -1.0, ["rag"])
    assert not result["passed"] and "candidate rouge_l is unreliable" in result["reason"]


# -- 6. bad input ----------------------------------------------------------------------------------------
def test_bad_input_is_refused_before_any_work(tiny_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n\n{"question": "broken",\n', encoding="utf-8")
    code, _, err = cli("eval", "--questions", bad, "--home", tiny_home)
    assert code == 2 and f"{bad}:3: not valid JSON" in " ".join(err.split())
    no_question = write_jsonl(tmp_path / "nq.jsonl", [{"question": "fine"}, {"reference": "no question"}])
    code, _, err = cli("eval", "--questions", no_question, "--home", tiny_home)
    assert code == 2 and f"{no_question}:2:" in " ".join(err.split())

    good = write_jsonl(tmp_path / "q.jsonl", [{"question": "Where is the head office?"}])
    reports = tiny_home / "reports"
    before = sorted(reports.iterdir()) if reports.exists() else []
    code, _, err = cli("eval", "--questions", good, "--engines", "base,nope", "--home", tiny_home)
    assert code == 2 and "unknown engine 'nope'" in err
    code, _, err = cli("eval", "--questions", good, "--gate", "cand", "--against", "base", "--metric", "bogus",
                       "--home", tiny_home)
    assert code == 2 and "--metric 'bogus' is not a metric" in err
    code, _, err = cli("eval", "--questions", good, "--judge", "http://127.0.0.1:1/v1", "--home", tiny_home)
    assert code == 2 and "--judge-model" in err
    assert (sorted(reports.iterdir()) if reports.exists() else []) == before  # nothing written


def test_unreachable_judge_still_finishes_with_the_non_llm_metrics(
    tiny_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qs = write_jsonl(tmp_path / "q.jsonl", [{"question": "Where is the head office?", "reference": "Leeds."}])
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    code, out, err = cli("eval", "--questions", qs, "--modes", "norag", "--no-style", "--judge", dead,
                         "--judge-model", "judge", "--home", tiny_home, "--json")
    assert code == 3, err  # partly done
    doc = json.loads(out)
    assert doc["results"]["base"]["norag"]["rouge_l"] is not None
    results = json.loads((Path(doc["report"]) / "results.json").read_text())
    assert results["judge"]["status"] == "unreachable" and "cannot be reached" in results["judge"]["error"]
    assert results["notes"][0].startswith("The judge could not be used")
    assert results["summary"]["base"]["norag"]["factual_correctness"]["skip_reasons"] == {"judge unreachable": 1}

    # The same judge from the settings (what the Reports tab uses), with no --judge option.
    monkeypatch.setenv("ASSISTANT_EVAL__JUDGE", dead)
    monkeypatch.setenv("ASSISTANT_EVAL__JUDGE_MODEL", "judge")
    code, out, err = cli("eval", "--questions", qs, "--modes", "norag", "--no-style", "--home", tiny_home, "--json")
    assert code == 3, err
    results = json.loads((Path(json.loads(out)["report"]) / "results.json").read_text())
    assert results["judge"]["status"] == "unreachable" and results["settings"]["judge"]["url"] == dead
    # An explicit --judge none wins over the settings.
    code, out, err = cli("eval", "--questions", qs, "--modes", "norag", "--no-style", "--judge", "none",
                         "--home", tiny_home, "--json")
    assert code == 0, err
