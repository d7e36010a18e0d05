"""Prompt flows: definitions load and validate, and the shipped flows run over the demo corpus.

The runs use the real index and the embedded LLM; they assert on structure and grounding (which
passages went where, what the prompts hold), never on the small model's wording.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from assistant.components import Components
from assistant.config import load_settings
from assistant.flows import DEFINITIONS, Flow, FlowError, FlowResult, get_flow, load_flows, run_flow
from tests.conftest import run_cli

# Small outputs keep the module fast; the structure under test does not depend on length.
CAP = 32
SHIPPED = {"add_case_study", "rewrite_tone", "answer_tender_question"}


# -- definitions -------------------------------------------------------------------------------
VALID = """\
name: probe
title: Probe
version: 3
description: a minimal flow
inputs:
  - name: client
    required: true
steps:
  - name: found
    kind: retrieve
    query: "{input} {client}"
    where: {doc_type: case_study, client: "{client}"}
    top_k: 2
  - name: draft
    kind: llm
    user: "Use {found.top} and {found} for {input}"
    max_new_tokens: 8
"""


def write_flow(folder: Path, text: str, name: str = "probe.yaml") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_shipped_definitions_load_and_validate() -> None:
    flows = load_flows()
    assert set(flows) >= SHIPPED
    for name, flow in flows.items():
        assert flow.name == name and flow.title and flow.version >= 1 and flow.description
        assert Path(flow.source).parent == DEFINITIONS
        assert json.dumps(flow.summary())  # what the UI draws buttons from is plain JSON
    kinds = {name: [s.kind for s in flows[name].steps] for name in SHIPPED}
    assert kinds == {"add_case_study": ["llm", "retrieve", "llm"], "rewrite_tone": ["retrieve", "llm"],
                     "answer_tender_question": ["retrieve", "llm"]}
    assert flows["add_case_study"].steps[1].where == {"doc_type": "case_study"}
    assert flows["rewrite_tone"].steps[0].where == {"doc_type": "tone_guide"}
    tender = flows["answer_tender_question"]
    assert tender.steps[0].where == {"doc_type": "bid", "outcome": "won", "sector": "{sector}"}
    assert [(i.name, i.required) for i in tender.inputs] == [("sector", False)]


def test_a_valid_custom_folder_loads_keyed_by_name(tmp_path: Path) -> None:
    write_flow(tmp_path, VALID)
    flows = load_flows(tmp_path)
    assert list(flows) == ["probe"] and flows["probe"].version == 3


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("{input} {client}", "{input} {cleint}", ["step 'found'", "query", "{cleint}", "known: input, client"]),
        ("Use {found.top}", "Use {found.best}", ["step 'draft'", "{found.best}", "found.top"]),
        ("{input} {client}", "{input} {draft}", ["step 'found'", "{draft}", "which has not run yet"]),
        ("client: \"{client}\"", "client: \"{found}\"", ["step 'found'", "where.client", "{found}"]),
        ("kind: llm", "kind: summarise", ["step 'draft'", "unknown step kind 'summarise'", "llm, retrieve"]),
        ("top_k: 2", "top-k: 2", ["step 'found'", "top-k", "Extra inputs are not permitted"]),
        ("version: 3", "version: three", ["version"]),
        ("for {input}", "for {input", ["step 'draft'", "user", "literal brace"]),
        ("  - name: draft", "  - name: found", ["step 'found'", "clashes with step 'found'"]),
    ],
)
def test_broken_definitions_fail_naming_file_flow_step_and_placeholder(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    assert old in VALID
    path = write_flow(tmp_path, VALID.replace(old, new))
    with pytest.raises(FlowError) as err:
        load_flows(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    for part in [str(path), "flow 'probe'", *expected]:
        assert part in message, (part, message)


def test_duplicate_flow_names_and_unreadable_files_are_named(tmp_path: Path) -> None:
    write_flow(tmp_path, VALID, "a.yaml")
    write_flow(tmp_path, VALID, "b.yml")
    with pytest.raises(FlowError, match=r"b\.yml: flow 'probe' is already defined in .*a\.yaml"):
        load_flows(tmp_path)
    other = write_flow(tmp_path / "x", "- just\n- a list\n")
    with pytest.raises(FlowError, match=re.escape(f"{other}: a flow definition must be a mapping")):
        load_flows(other.parent)


def _never_retrieve(*_: Any) -> list:
    raise AssertionError("bad input must be refused before any retrieval")


def _never_engine(_: str | None) -> Any:
    raise AssertionError("bad input must be refused before any engine is loaded")


def test_bad_run_input_is_refused_in_one_line(tmp_path: Path) -> None:
    write_flow(tmp_path, VALID)
    probe = load_flows(tmp_path)["probe"]
    flows = load_flows()
    cases: list[tuple[Any, str]] = [
        (lambda: get_flow(flows, "add_case_studies"),
         "unknown flow 'add_case_studies'; known flows: add_case_study, answer_tender_question, rewrite_tone"),
        (lambda: run(flows["rewrite_tone"], "   "), "the text is empty"),
        (lambda: run(probe, "notes"), "input 'client' is required"),
        (lambda: run(probe, "notes", {"client": "  "}), "input 'client' is required"),
        (lambda: run(flows["answer_tender_question"], "Q?", {"sectr": "health"}),
         "unknown input 'sectr'; declared inputs: sector"),
    ]
    for call, message in cases:
        with pytest.raises(FlowError, match=message) as err:
            call()
        assert "\n" not in str(err.value)


def run(flow: Flow, text: str, params: dict[str, str] | None = None) -> FlowResult:
    return run_flow(flow, text, params=params, retrieve=_never_retrieve, engine=_never_engine)


# -- runs over the demo corpus -----------------------------------------------------------------
@pytest.fixture(scope="module")
def svc(demo_home: Path) -> Components:
    service = Components(load_settings(demo_home))
    service.llm.count_tokens("warm up")  # load (first time: convert) the model here, not inside the first test
    return service


@pytest.fixture(scope="module")
def flows() -> dict[str, Flow]:
    return load_flows()


def run_demo(svc: Components, flow: Flow, text: str, params: dict[str, str] | None = None,
             llm: Any = None) -> FlowResult:
    result = run_flow(
        flow, text, params=params,
        retrieve=lambda q, k, w: svc.retrieve([q], k, w)[0],
        engine=lambda _name: llm or svc.llm,
        max_new_tokens=CAP,
    )
    assert [t.name for t in result.trace] == [s.name for s in flow.steps]
    assert [t.kind for t in result.trace] == [s.kind for s in flow.steps]
    assert all(t.seconds >= 0 and t.output.strip() for t in result.trace)
    assert result.text.strip()
    if flow.steps[-1].kind == "llm":
        assert result.text == result.trace[-1].output
    assert_prompts_fit(result, llm or svc.llm)
    return result


def assert_prompts_fit(result: FlowResult, llm: Any) -> None:
    """Measured apart from the runner where possible: the whole chat-templated prompt plus the answer."""
    tokenizer = tokenizer_of(llm)
    for t in result.trace:
        if t.kind == "llm":
            if tokenizer is not None:
                full = tokenizer.apply_chat_template(t.messages, add_generation_prompt=True, tokenize=False)
            else:
                full = "\n".join(m["content"] for m in t.messages)
            assert llm.count_tokens(full) + CAP <= llm.context_window, t.name


def tokenizer_of(llm: Any) -> Any:
    """The Hugging Face tokenizer behind an engine: a LocalLLM has one, an engine backend reaches its base."""
    llm = getattr(llm, "inner", llm)
    if hasattr(llm, "tokenizer"):
        return llm.tokenizer
    manager = getattr(llm, "manager", None)
    return getattr(manager.base_llm(), "tokenizer", None) if manager is not None else None


def step(result: FlowResult, name: str) -> Any:
    return next(t for t in result.trace if t.name == name)


def test_add_case_study_uses_one_worked_example(svc: Components, flows: dict[str, Flow]) -> None:
    notes = "We built an online room booking service for a county council's libraries, live since May 2024."
    result = run_demo(svc, flows["add_case_study"], notes)
    articulate, cases, write = result.trace
    assert notes in articulate.prompt
    assert articulate.output in cases.prompt and notes in cases.prompt  # the query is the articulated request
    assert cases.where == [{"doc_type": "case_study"}]
    assert cases.chunks and all(c.metadata["doc_type"] == "case_study" for c in cases.chunks)
    prompt = write.prompt
    assert prompt.count("Worked example") == 1
    assert sum(c.text in prompt for c in cases.chunks) == 1 and cases.chunks[0].text in prompt
    assert cases.chunks[0].metadata["title"] in prompt  # the example is labelled
    assert "assumptions" in prompt.lower() and notes in prompt
    assert [c.id for c in result.sources] == [cases.chunks[0].id]
    assert json.loads(json.dumps(result.to_json()))["trace"][2]["name"] == "write"  # what the CLI prints


def test_rewrite_tone_is_grounded_on_the_tone_guide(svc: Components, flows: dict[str, Flow]) -> None:
    text = "Leveraging our best-in-class solution, stakeholders will be empowered going forward."
    result = run_demo(svc, flows["rewrite_tone"], text)
    rules, rewrite = result.trace
    assert rules.where == [{"doc_type": "tone_guide"}]
    assert result.sources and all(c.metadata["doc_type"] == "tone_guide" for c in result.sources)
    assert [c.id for c in rewrite.chunks] == [c.id for c in rules.chunks]
    assert "[1] (" in rewrite.prompt and text in rewrite.prompt


def test_tender_answer_uses_won_bids_of_the_sector(svc: Components, flows: dict[str, Flow]) -> None:
    flow = flows["answer_tender_question"]
    result = run_demo(svc, flow, "How will you keep personal data secure?", {"sector": "justice"})
    bids, answer = result.trace
    assert bids.where == [{"doc_type": "bid", "outcome": "won", "sector": "justice"}]  # no fallback needed
    assert len(bids.chunks) == flow.steps[0].top_k
    assert all(c.metadata["outcome"] == "won" and c.metadata["sector"] == "justice" for c in result.sources)
    # Numbered as cited: [n] in the prompt is result.sources[n - 1].
    for n, chunk in enumerate(result.sources, 1):
        assert f"[{n}] ({chunk.metadata['title']}" in answer.prompt and chunk.text in answer.prompt


def retrieval_only(flow: Flow, **update: Any) -> Flow:
    """The flow's retrieve step on its own: its behaviour without paying for a generation."""
    return flow.model_copy(update={"steps": [flow.steps[0].model_copy(update=update)]})


def test_tender_retrieval_prefers_won_bids_then_tops_up(svc: Components, flows: dict[str, Flow]) -> None:
    flow = flows["answer_tender_question"]
    question = "Describe your approach to user research."
    anywhere = run_demo(svc, retrieval_only(flow), question).trace[0]  # no sector: its filter key is dropped
    assert anywhere.where == [{"doc_type": "bid", "outcome": "won"}]
    assert len(anywhere.chunks) == 5 and all(c.metadata["outcome"] == "won" for c in anywhere.chunks)

    # Fewer won bids of the sector than top_k: they come first, then other bids top the list up.
    won = svc.retrieve([question], 200, {"doc_type": "bid", "outcome": "won", "sector": "justice"})[0]
    k = len(won) + 3
    mixed = run_demo(svc, retrieval_only(flow, top_k=k), question, {"sector": "justice"}).trace[0]
    assert mixed.where == [{"doc_type": "bid", "outcome": "won", "sector": "justice"}, {"doc_type": "bid"}]
    assert len(mixed.chunks) == k and len({c.id for c in mixed.chunks}) == k
    assert {c.id for c in mixed.chunks[: len(won)]} == {c.id for c in won}
    assert all(c.metadata["doc_type"] == "bid" for c in mixed.chunks)


def test_tender_falls_back_to_all_bids_when_none_are_won(svc: Components, flows: dict[str, Flow]) -> None:
    # The demo has transport case studies but no transport bids, so no won bid matches.
    flow = retrieval_only(flows["answer_tender_question"])
    assert not svc.retrieve(["x"], 5, {"doc_type": "bid", "outcome": "won", "sector": "transport"})[0]
    bids = run_demo(svc, flow, "How will you keep personal data secure?", {"sector": "transport"}).trace[0]
    assert bids.where == [{"doc_type": "bid", "outcome": "won", "sector": "transport"}, {"doc_type": "bid"}]
    assert len(bids.chunks) == 5 and all(c.metadata["doc_type"] == "bid" for c in bids.chunks)


class SmallWindow:
    """The embedded model behind a smaller context window, to force the prompt budget to bite."""

    def __init__(self, inner: Any, window: int) -> None:
        self.inner, self.context_window = inner, window

    def generate(self, messages: list[dict[str, str]], max_new_tokens: int | None = None) -> str:
        return self.inner.generate(messages, max_new_tokens=max_new_tokens)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def test_steps_route_to_their_engine_and_inputs_fill_filters(svc: Components, tmp_path: Path) -> None:
    write_flow(tmp_path, VALID.replace("    kind: llm\n", "    kind: llm\n    engine: drafting\n"))
    probe = load_flows(tmp_path)["probe"]
    asked: list[str | None] = []

    def engine(name: str | None) -> Any:
        asked.append(name)
        return svc.llm

    client = "Kelbridge City Council"  # a case study's `client` metadata in the demo corpus
    result = run_flow(probe, "a caseworker app", params={"client": client},
                      retrieve=lambda q, k, w: svc.retrieve([q], k, w)[0], engine=engine, max_new_tokens=8)
    found, draft = result.trace
    assert asked == ["drafting"] and draft.engine == "drafting" and found.engine is None
    assert found.where == [{"doc_type": "case_study", "client": client}] and found.prompt.endswith(client)
    assert found.chunks and all(c.metadata["client"] == client for c in found.chunks)


def test_prompts_drop_lowest_ranked_chunks_to_fit_the_window(svc: Components, flows: dict[str, Flow]) -> None:
    flow = flows["rewrite_tone"]
    text = "Our innovative platform will utilise synergy across the programme."
    rules = run_demo(svc, retrieval_only(flow), text).trace[0].chunks
    full = flow.steps[1].system + "".join(c.text for c in rules)
    window = svc.llm.count_tokens(full) - 60  # too small for all the rules, big enough for the best ones
    small = SmallWindow(svc.llm, window)
    result = run_demo(svc, flow, text, llm=small)
    used = step(result, "rewrite").chunks
    assert 1 <= len(used) < len(rules)
    assert [c.id for c in used] == [c.id for c in rules[: len(used)]]  # the lowest-ranked went first

    with pytest.raises(FlowError, match=r"step 'rewrite': the prompt needs \d+ tokens.*shorten the text"):
        run_flow(flow, text, params=None, retrieve=lambda q, k, w: svc.retrieve([q], k, w)[0],
                 engine=lambda _name: SmallWindow(svc.llm, 100), max_new_tokens=CAP)


def test_flows_from_the_cli(demo_home: Path) -> None:
    res = run_cli("flow", "--json", home=demo_home)
    assert res.returncode == 0, res.stderr
    assert {f["name"] for f in json.loads(res.stdout)} >= {"add_case_study", "rewrite_tone", "answer_tender_question"}
    res = run_cli("flow", "rewrite_tone", "We leverage synergies to deliver best-in-class solutions.", "--json",
                  home=demo_home, env={"ASSISTANT_LLM__MAX_NEW_TOKENS": "32"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["text"].strip() and all(s["metadata"]["doc_type"] == "tone_guide" for s in out["sources"])
    res = run_cli("flow", "no_such_flow", "text", home=demo_home)
    assert res.returncode == 2 and "known flows" in res.stderr and "Traceback" not in res.stderr
