"""The answerability check: near misses are declined before generation, answerable questions are not.

Real retrieval, keyword index and embedder over the demo corpus. The engine is replaced by a backend
that fails when used: a question declined by the gate must never reach generation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.answerability import (
    RerankScoreCheck,
    TermCoverageCheck,
    build_check,
    content_words,
    specific_terms,
)
from assistant.chat import NOT_FOUND, Answer, ChatPipeline
from assistant.components import DEMO_QUESTIONS, Components, Viewer
from assistant.config import ChatSettings, load_settings
from indexing.retrieval import RetrievedChunk


class NoGeneration:
    """A backend that fails the test if the pipeline tries to generate or even to build a prompt."""

    context_window = 2048

    def generate(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the gate should have declined before generation")

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        raise AssertionError("the gate should have declined before generation")

    def count_tokens(self, text: str) -> int:
        raise AssertionError("the gate should have declined before building a prompt")


@pytest.fixture(scope="module")
def svc(demo_home: Path) -> Components:
    return Components(load_settings(demo_home))


@pytest.fixture(scope="module")
def pipeline(svc: Components) -> ChatPipeline:
    chat = svc.settings.chat
    assert chat.answerability, "the check is on by default"
    return ChatPipeline(chat, svc.settings.llm.max_new_tokens, answerability=build_check(chat, svc.indexer))


def _chunk(text: str, **signals: float) -> RetrievedChunk:
    return RetrievedChunk("id", "doc.md", None, text, 0.0, {}, dict(signals))


def _covered(question: str, passage: str) -> bool:
    """Whether the check, without embedder or corpus statistics, finds the question's specific terms."""
    terms = TermCoverageCheck().evidence(question, [_chunk(passage)])
    return all(t.covered for t in terms if t.kind != "word")


def test_periods_years_and_acronyms_match_their_usual_spellings() -> None:
    assert _covered("What was revenue in FY2020/21?", "Revenue for 2020-21 was £3m.")
    assert _covered("What was revenue in FY2020/21?", "In the year ended 31 March 2021 revenue was £3m.")
    assert not _covered("What was revenue in FY2020/21?", "Revenue in FY2021/22 was £3m, in 2019 £2m.")
    assert _covered("What happened in 2024?", "Results for FY2023/24 are in.")
    assert not _covered("What happened in 2017?", "Results for FY2023/24 are in.")
    assert _covered("Which lots of the ICB programme did we win?", "The Integrated Care Board appointed us.")
    assert _covered("Who chairs the Integrated Care Board?", "The ICB chair is Dr Smith.")
    assert not _covered("Who leads the Bristol office?", "Our offices are in Leeds and Glasgow.")


def test_question_forms_are_not_content() -> None:
    specifics, rest = specific_terms("How long does a typical discovery take at Calderbrook in 2024?")
    assert [(s.text, s.kind) for s in specifics] == [("2024", "period"), ("Calderbrook", "name")]
    assert content_words(rest) == ["typical", "discovery", "take"]
    specifics, _ = specific_terms("What Is Our Leave Policy?")
    assert specifics == [], "in Title Case capitals say nothing about names"


def test_near_misses_are_declined_before_generation(svc: Components, pipeline: ChatPipeline) -> None:
    retrieve = svc._retriever_for(True, None, None, None)
    near_misses = [
        "What was revenue in FY2017/18?",  # a period the reports never cover
        "When did we open the Fennimore office?",  # a name the corpus never mentions
        "How much paid leave do employees get for jury service?",  # an attribute the policy never gives
    ]
    for question in near_misses:
        answer = pipeline.answer(question, retrieve, NoGeneration(), "base")  # type: ignore[arg-type]
        assert (answer.found, answer.answer, answer.sources) == (False, NOT_FOUND, []), question
    # The same questions pass the relevance gate alone: the check is what declines them.
    relevance_only = ChatPipeline(svc.settings.chat, 64)
    for question in near_misses:
        assert relevance_only.evidence_suffices(question, retrieve(question)), question


def test_streamed_decline_shows_no_sources(svc: Components, pipeline: ChatPipeline) -> None:
    retrieve = svc._retriever_for(True, None, None, None)
    out = list(pipeline.stream("What was Calderbrook's revenue in FY2017/18?", retrieve, NoGeneration(),  # type: ignore[arg-type]
                               "base"))
    assert out[0] == NOT_FOUND
    assert isinstance(out[-1], Answer) and out[-1].found is False and out[-1].sources == []


def test_answerable_demo_questions_pass_and_unanswerable_ones_are_caught(
    svc: Components, pipeline: ChatPipeline
) -> None:
    rows = [json.loads(line) for line in DEMO_QUESTIONS.read_text().splitlines() if line.strip()]
    retrieve = svc._retriever_for(True, None, None, None)
    passed = {r["question"]: pipeline.evidence_suffices(r["question"], retrieve(r["question"])) for r in rows}
    answerable = [r["question"] for r in rows if r["answerable"]]
    unanswerable = [r["question"] for r in rows if not r["answerable"]]
    answered = sum(passed[q] for q in answerable) / len(answerable)
    declined = sum(not passed[q] for q in unanswerable) / len(unanswerable)
    assert answered >= 0.95, [q for q in answerable if not passed[q]]
    # Without the check the relevance gate declines none of them (bench/answerability.py).
    assert declined >= 0.25, [q for q in unanswerable if passed[q]]


def test_paraphrases_with_synonyms_are_not_declined(svc: Components, pipeline: ChatPipeline) -> None:
    retrieve = svc._retriever_for(True, None, None, None)
    for question in ["What's the address of the London workplace?",  # office
                     "Which application do we use to book a desk?",  # app
                     "Am I permitted to travel first class on the train?"]:  # allowed
        assert pipeline.evidence_suffices(question, retrieve(question)), question


def test_the_check_sees_only_what_the_viewer_may_see(svc: Components, pipeline: ChatPipeline) -> None:
    question = "How much are we planning to pay for Orrin Analytics?"  # only in a leadership memo
    outsider = svc._retriever_for(True, None, None, Viewer("staff", groups=[]))
    insider = svc._retriever_for(True, None, None, Viewer("boss", groups=["leadership"]))
    answer = pipeline.answer(question, outsider, NoGeneration(), "base")  # type: ignore[arg-type]
    assert (answer.found, answer.sources) == (False, [])
    assert pipeline.evidence_suffices(question, insider(question))


def test_the_check_is_configurable(make_home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_home(config="[chat]\nanswerability = false\n")
    settings = load_settings(home)
    assert settings.chat.answerability is False
    assert build_check(settings.chat, Components(settings).indexer) is None
    monkeypatch.setenv("ASSISTANT_CHAT__MAX_UNSUPPORTED", "0.2")
    monkeypatch.setenv("ASSISTANT_CHAT__SOFT_MATCH", "0.7")
    chat = load_settings(make_home("other")).chat
    check = build_check(chat, None)
    assert isinstance(check, TermCoverageCheck) and (check.max_unsupported, check.soft_match) == (0.2, 0.7)


def test_a_reranker_score_can_decide() -> None:
    check = build_check(ChatSettings(answerability=False, min_rerank=0.5))
    assert isinstance(check, RerankScoreCheck)
    assert not check.judge("q", [_chunk("a", rerank=0.2), _chunk("b", rerank=0.4)]).answerable
    assert check.judge("q", [_chunk("a", rerank=0.2), _chunk("b", rerank=0.7)]).answerable
    assert check.judge("q", [_chunk("a")]).answerable, "no reranker ran: no evidence either way"
