"""The grounded chat pipeline: refusals, permissions in the prompt, follow-ups, the prompt budget, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.chat import NOT_FOUND, build_messages, is_follow_up, standalone_query
from assistant.components import Components, Viewer
from assistant.config import load_settings
from assistant.errors import InputError
from tests.conftest import run_cli

RESTRICTED_QUESTIONS = ["What is Project Kestrel and who is involved?", "What is the 2024 pay review budget?"]


@pytest.fixture(scope="module")
def svc(demo_home: Path) -> Components:
    return Components(load_settings(demo_home))


def test_off_topic_questions_are_declined_without_generating(svc: Components) -> None:
    answers = svc.ask(["What is the boiling point of mercury?", "Who won the 1998 football world cup?"])
    for a in answers:
        assert a.found is False and a.answer == NOT_FOUND and a.sources == []


def test_restricted_documents_never_reach_the_prompt_of_an_outsider(svc: Components) -> None:
    restricted = {s.source for s in svc.sources() if s.metadata.get("groups")}
    outsider = Viewer("staff", groups=[])
    retrieve = svc._retriever_for(True, 10, None, outsider)
    secret_chunks = [c for src in restricted for c in svc.retrieve([Path(src).stem], top_k=50)[0] if c.source == src]
    assert secret_chunks
    for question in RESTRICTED_QUESTIONS:
        _, messages, used = svc.pipeline.prepare(question, retrieve, svc.llm, [])
        prompt = "\n".join(m["content"] for m in messages or [])
        assert not {c.source for c in used} & restricted
        for chunk in secret_chunks:
            assert chunk.text[:80] not in prompt
    insider = Viewer("boss", groups=["leadership", "finance"])
    _, _, used = svc.pipeline.prepare(RESTRICTED_QUESTIONS[0], svc._retriever_for(True, 10, None, insider), svc.llm, [])
    assert {c.source for c in used} & restricted


def test_ask_as_an_outsider_cites_no_restricted_source(svc: Components) -> None:
    restricted = {s.source for s in svc.sources() if s.metadata.get("groups")}
    for answer in svc.ask(RESTRICTED_QUESTIONS, viewer=Viewer("staff", groups=[])):
        assert not {s.source for s in answer.sources} & restricted


def test_follow_ups_become_standalone_queries() -> None:
    history = [{"role": "user", "content": "What was revenue in the 2024 annual report?"},
               {"role": "assistant", "content": "£46.7m [1]"}]
    assert is_follow_up("and in 2023?") and is_follow_up("Who signed it?")
    assert not is_follow_up("What certifications does the company hold for information security?")
    query = standalone_query("and in 2023?", history)
    assert "revenue" in query and "2023" in query
    assert standalone_query("What is the leave policy for new parents?", history) == (
        "What is the leave policy for new parents?"
    )


def test_prompt_never_exceeds_the_context(svc: Components) -> None:
    llm = svc.llm
    chunks = svc.retrieve(["bid security approach delivery team"], top_k=60)[0]
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "long turn " * 400} for i in range(12)]
    max_new = 256
    messages, used = build_messages("What is our approach to security?", chunks * 20, history, llm, max_new)
    tokenizer = llm.tokenizer if hasattr(llm, "tokenizer") else svc.engines.base_llm().tokenizer
    prompt_tokens = len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
    assert prompt_tokens + max_new <= llm.context_window
    assert 0 < len(used) < len(chunks) * 20  # some sources had to be dropped to fit


def test_bad_input_through_the_cli(demo_home: Path) -> None:
    res = run_cli("ask", "   ", home=demo_home)
    assert res.returncode == 2 and "empty" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("ask", "What is our leave policy?", "--engine", "no-such-engine", home=demo_home)
    assert res.returncode == 2 and "no-such-engine" in res.stderr and "Traceback" not in res.stderr
    with pytest.raises(InputError):
        Components(load_settings(demo_home)).ask(["x" * 100_000])


def test_terminal_chat_streams_and_keeps_the_conversation(demo_home: Path) -> None:
    conversation = "How many days of annual leave do staff get?\nand after five years?\n\n"
    res = run_cli("chat", home=demo_home, input=conversation)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("assistant>") == 2
    assert "leave-and-time-off.md" in res.stdout


def test_ask_batch_json(demo_home: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"question": "Where is the head office?"}) + "\n"
                     + json.dumps({"question": "What is the boiling point of mercury?"}) + "\n")
    res = run_cli("ask", "--questions", str(qfile), "--json", home=demo_home)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["question"] for r in rows] == ["Where is the head office?", "What is the boiling point of mercury?"]
    assert all(set(r) == {"question", "answer", "engine", "found", "sources"} for r in rows)
    assert rows[1]["found"] is False
    qfile.write_text('{"question": "ok"}\nnot json\n')
    res = run_cli("ask", "--questions", str(qfile), home=demo_home)
    assert res.returncode == 2 and ":2:" in res.stderr


def test_the_sources_under_an_answer_keep_the_numbers_it_cites() -> None:
    """The regression: an answer ending "... [3]" showed "Sources: [1] <another file>". The cited source keeps
    its prompt number, in the Answer, its JSON (CLI, API, stored history) and in streamed turns alike."""
    from assistant.chat import ChatPipeline
    from assistant.config import ChatSettings
    from indexing.retrieval import RetrievedChunk
    from tests.fakes import ScriptedBackend

    chunks = [RetrievedChunk(f"c{i}", f"/docs/file-{i}.md", None, f"Passage {i} about the Leeds office.", 1.0 - i / 10,
                             {"file_name": f"file-{i}.md"}, {"dense": 0.9 - i / 10}) for i in range(1, 5)]
    pipeline = ChatPipeline(ChatSettings(), max_new_tokens=32)
    llm = ScriptedBackend("The Leeds office opened in 2019 [3].")
    answer = pipeline.answer("When did the Leeds office open?", lambda _q: chunks, llm, "base")
    assert "[3] (file-3.md" in llm.prompts[0][0]["content"]  # the number the model saw
    assert [(n, c.source) for n, c in answer.cited()] == [(3, "/docs/file-3.md")]
    assert [(s["n"], s["source"]) for s in answer.to_json()["sources"]] == [(3, "/docs/file-3.md")]
    streamed = list(pipeline.stream("When did the Leeds office open?", lambda _q: chunks, llm, "base"))
    assert "".join(p for p in streamed if isinstance(p, str)) == llm.reply
    assert [(s["n"], s["source"]) for s in streamed[-1].sources_json()] == [(3, "/docs/file-3.md")]

    # Citing none: every source in the prompt is shown, each with its own number.
    uncited = pipeline.answer("When?", lambda _q: chunks, ScriptedBackend("In 2019."), "base")
    assert [s["n"] for s in uncited.sources_json()] == [1, 2, 3, 4]
    # Two cited out of order: shown in number order, numbers kept.
    two = pipeline.answer("When?", lambda _q: chunks, ScriptedBackend("In 2019 [4], per the plan [2]."), "base")
    assert [(s["n"], s["source"]) for s in two.sources_json()] == [(2, "/docs/file-2.md"), (4, "/docs/file-4.md")]
