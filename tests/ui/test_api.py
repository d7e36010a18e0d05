"""The OpenAI-compatible API at /v1: through the official `openai` client against `assistant serve` (the real
model), and in process over a scripted engine for what the layers around the model do."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow

KESTREL = "What is Project Kestrel and which company would it acquire?"
INTERNAL = {"where": {"doc_type": "internal_comms"}}


def client(server, user: str = "sam") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys[user], max_retries=0, timeout=300)


def promoted(server) -> list[str]:
    """What the server's home has promoted so far (the browser tests, sharing the server, promote one)."""
    files = sorted((server.home / "engines").glob("*/promoted.json"))
    return [json.loads(f.read_text())["ref"] for f in files]


def test_models_need_a_key_and_list_engines(web_server) -> None:
    assert [m.id for m in client(web_server).models.list()] == ["base", *promoted(web_server)]
    bad = openai.OpenAI(base_url=f"{web_server.url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.get(f"{web_server.url}/v1/models").status_code == 401


def test_chat_completion_with_sources(web_server) -> None:
    resp = client(web_server).chat.completions.create(
        model="base", messages=[{"role": "user", "content": "Who founded Calderbrook Digital, and when?"}]
    )
    extra = resp.model_extra or {}
    assert resp.choices[0].message.content.strip()
    assert resp.choices[0].finish_reason == "stop"
    assert extra["found"] is True and extra["sources"], extra
    assert all({"n", "source", "page", "text", "score", "metadata"} <= set(s) for s in extra["sources"])
    assert resp.usage.completion_tokens > 0


def test_streaming_in_openai_chunks(web_server) -> None:
    stream = client(web_server).chat.completions.create(
        model="base", stream=True,
        messages=[{"role": "user", "content": "How many people work at Calderbrook Digital?"}],
    )
    pieces, last = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert len(pieces) > 3, pieces  # incremental, not one block
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {}).get("sources")


def test_groups_apply_to_api_keys(web_server) -> None:
    """The same question: the admin in `leadership` gets the restricted memo; staff never see it."""
    admin = client(web_server, "ada").chat.completions.create(
        model="base", messages=[{"role": "user", "content": KESTREL}], extra_body=INTERNAL
    )
    admin_sources = [s["source"] for s in admin.model_extra["sources"]]
    assert any("kestrel" in s for s in admin_sources), admin_sources
    staff = client(web_server, "sam").chat.completions.create(
        model="base", messages=[{"role": "user", "content": KESTREL}], extra_body=INTERNAL
    )
    assert not any("confidential" in s["source"] for s in staff.model_extra["sources"])
    assert "Orrin" not in staff.choices[0].message.content
    assert all("Orrin" not in s["text"] for s in staff.model_extra["sources"])


def test_without_context_no_sources(web_server) -> None:
    resp = client(web_server).chat.completions.create(
        model="base", messages=[{"role": "user", "content": "Say hello."}], extra_body={"use_context": False}
    )
    assert resp.model_extra["sources"] == []


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, 404, "no engine named"),
        ({"model": "base", "messages": [{"role": "user", "content": "   "}]}, 400, "empty"),
        ({"model": "base", "messages": [{"role": "user", "content": "x" * 100_000}]}, 400, "over the limit"),
        ({"model": "base", "messages": []}, 400, "messages"),
        ({"model": "base", "messages": [{"role": "user", "content": "hi"}], "where": {"colour": "red"}}, 400,
         "unknown metadata key"),
    ],
)
def test_bad_requests_get_openai_errors(web_server, body: dict, status: int, needle: str) -> None:
    resp = httpx.post(f"{web_server.url}/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {web_server.keys['sam']}"}, timeout=60)
    assert resp.status_code == status, resp.text
    assert needle in resp.json()["error"]["message"]
    assert resp.json()["error"]["code"] == ("model_not_found" if status == 404 else None)


# -- the API's wiring, in process, over a scripted engine (what the layers do with an answer) -------------
class _ScriptedEngines:
    """The engine manager's calls the chat makes: every engine is the scripted backend, no local batch."""

    def __init__(self, llm, registry) -> None:
        self.llm, self.registry = llm, registry

    def get(self, name: str = "base"):
        return self.llm

    def load(self) -> None:  # no local model's batch
        return None


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory, demo_home):
    """(TestClient, backend, keys) for an app whose every engine answers "... [2]"."""
    import shutil

    from fastapi.testclient import TestClient

    from assistant.components import Components
    from assistant.config import load_settings
    from assistant.engines import EngineRegistry
    from assistant.services import Services, operator
    from tests.fakes import ScriptedBackend
    from ui.server import create_app

    home = tmp_path_factory.mktemp("scripted") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    settings = load_settings(home)
    components = Components(settings)
    llm = ScriptedBackend("Calderbrook Digital was founded in 2009 by its two partners [2].")
    components.__dict__["engines"] = _ScriptedEngines(llm, EngineRegistry(settings.paths.engines))
    services = Services(settings, components=components)
    keys = {}
    for name, role in (("sam", "staff"), ("ada", "admin")):
        services.users.add(operator(), name, role, [], f"{name}-password-1")
        keys[name] = services.users.new_key(operator(), name)
    with TestClient(create_app(settings, services), raise_server_exceptions=False) as http:
        yield http, llm, keys
    services.close()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_sources_keep_the_numbers_the_answer_cites(scripted) -> None:
    """The regression: an answer citing only [2] showed its source as [1]. Through the API the one source
    is numbered 2, and it is the passage the model saw as [2], whole and streamed."""
    http, llm, keys = scripted
    body = {"model": "base", "messages": [{"role": "user", "content": "Who founded Calderbrook Digital, and when?"}]}
    llm.prompts.clear()
    doc = http.post("/v1/chat/completions", json=body, headers=_auth(keys["sam"])).json()
    assert doc["choices"][0]["message"]["content"] == llm.reply
    assert [s["n"] for s in doc["sources"]] == [2], doc["sources"]
    system = llm.prompts[-1][0]["content"]
    block = system.split("\n\n[2] (", 1)[1].split("\n", 1)[1]  # what the model read as source [2]
    assert block.startswith(doc["sources"][0]["text"][:200])

    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True},
                     headers=_auth(keys["sam"])) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert [(s["n"], s["source"]) for s in last["sources"]] == [(2, doc["sources"][0]["source"])]


def test_errors_are_mapped_by_kind_not_by_message(scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown model: 404 `model_not_found` (as OpenAI's client sees it); an admin-only route with a staff key:
    403 `permission_error`; a bug: 500 with a generic message, never the exception's own text."""
    http, _llm, keys = scripted
    client = openai.OpenAI(base_url="http://testserver/v1", api_key=keys["sam"], http_client=http, max_retries=0)
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model="nope", stream=stream, messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 404 and err.value.code == "model_not_found"

    staff = http.get("/v1/engines", headers=_auth(keys["sam"]))
    assert staff.status_code == 403 and staff.json()["error"]["type"] == "permission_error"
    assert http.get("/v1/engines", headers=_auth(keys["ada"])).status_code == 200
    assert http.get("/v1/engines").status_code == 401

    services = http.app.state.services

    def broken(_user):
        raise KeyError("a programming error")

    monkeypatch.setattr(services.chat, "engine_names", broken)
    bug = http.get("/v1/models", headers=_auth(keys["sam"]))
    assert bug.status_code == 500 and bug.json()["error"]["type"] == "server_error"
    assert "programming error" not in bug.text


# -- a faithful OpenAI surface (issue 14): what reaches the engine, and what is refused -------------------
FOUNDED = [{"role": "user", "content": "Who founded Calderbrook Digital, and when?"}]


def _post(http, key: str, path: str = "/v1/chat/completions", **body):
    return http.post(path, json={"model": "base", "messages": FOUNDED, **body}, headers=_auth(key))


def test_client_system_message_is_added_beside_our_rules(scripted) -> None:
    from assistant.chat import CLIENT_HEADING, SYSTEM_PROMPT

    http, llm, keys = scripted
    messages = [{"role": "system", "content": "Reply only with PINEAPPLE"}, *FOUNDED]
    assert _post(http, keys["sam"], messages=messages).status_code == 200
    system = llm.prompts[-1][0]["content"]
    assert system.startswith(SYSTEM_PROMPT)  # the grounding rules stay, first
    assert "Sources:" in system and system.endswith(f"{CLIENT_HEADING}\nReply only with PINEAPPLE")
    assert [m["role"] for m in llm.prompts[-1]] == ["system", "user"]  # never a second system turn


def test_sampling_options_reach_the_engine_capped_by_the_settings(scripted) -> None:
    http, llm, keys = scripted
    cap = http.app.state.services.settings.llm.max_new_tokens
    doc = _post(http, keys["sam"], max_tokens=5, temperature=0.3, top_p=0.9, stop="STOP", seed=7).json()
    o = llm.options[-1]
    assert (o.max_new_tokens, o.temperature, o.top_p, o.stop, o.seed) == (5, 0.3, 0.9, ("STOP",), 7)
    assert doc["choices"][0]["finish_reason"] == "length"  # the scripted answer is longer than 5 tokens
    _post(http, keys["sam"], max_completion_tokens=10**6, stop=["a", "b"])
    assert llm.options[-1].max_new_tokens == cap and llm.options[-1].stop == ("a", "b")
    plain = _post(http, keys["sam"]).json()
    assert plain["choices"][0]["finish_reason"] == "stop"
    for bad in (0, -3):
        resp = _post(http, keys["sam"], max_tokens=bad)
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "max_tokens", resp.text


def test_usage_counts_the_prompt_really_sent(scripted) -> None:
    http, llm, keys = scripted
    doc = _post(http, keys["sam"]).json()
    sent = sum(len(m["content"].split()) for m in llm.prompts[-1])  # the scripted tokenizer counts words
    assert doc["usage"]["prompt_tokens"] == sent > len(FOUNDED[0]["content"].split()) * 5  # sources included
    assert doc["usage"]["completion_tokens"] == len(llm.reply.split())

    body = {"model": "base", "messages": FOUNDED, "stream": True, "stream_options": {"include_usage": True}}
    with http.stream("POST", "/v1/chat/completions", json=body, headers=_auth(keys["sam"])) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    assert events[-1]["choices"] == [] and events[-1]["usage"] == doc["usage"]
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and "usage" not in events[-2]
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream_options": None},
                     headers=_auth(keys["sam"])) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    assert all(e["choices"] for e in events)  # no usage chunk unless asked


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": 2}, "n"), ({"n": 1000}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"tool_choice": "auto"}, "tool_choice"), ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}, "response_format"),
    ({"frobnicate": 1}, "frobnicate"), ({"temperature": 5}, "temperature"),
])
def test_unsupported_parameters_are_refused_by_name(scripted, extra: dict, param: str) -> None:
    http, _llm, keys = scripted
    for stream in (False, True):
        resp = _post(http, keys["sam"], stream=stream, **extra)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["param"] == param and resp.json()["error"]["type"] == "invalid_request_error"


def test_routine_client_fields_are_accepted(scripted) -> None:
    http, _llm, keys = scripted
    resp = _post(http, keys["sam"], n=1, user="u1", presence_penalty=0, frequency_penalty=0.1,
                 response_format={"type": "text"}, tool_choice="none", parallel_tool_calls=True)
    assert resp.status_code == 200, resp.text


def test_title_requests_skip_retrieval(scripted) -> None:
    """Open WebUI's background title prompt: the engine alone, no sources, no grounding prompt."""
    from assistant.chat import NO_RAG_SYSTEM_PROMPT

    http, llm, keys = scripted
    title = ("### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
             "### Chat History:\n<chat_history>\nUSER: Who founded Calderbrook Digital?\n</chat_history>")
    doc = _post(http, keys["sam"], messages=[{"role": "user", "content": title}]).json()
    assert doc["sources"] == [] and llm.prompts[-1][0]["content"] == NO_RAG_SYSTEM_PROMPT
    summary = [*FOUNDED, {"role": "assistant", "content": "Two partners."},
               {"role": "user", "content": "Write a one-line summary of this conversation."}]
    assert _post(http, keys["sam"], messages=summary).json()["sources"] == []
    assert _post(http, keys["sam"]).json()["sources"]  # an ordinary question still retrieves


def test_models_completions_embeddings_health_and_unknown_routes(scripted) -> None:
    http, _llm, keys = scripted
    sam = _auth(keys["sam"])
    assert http.get("/v1/models/base", headers=sam).json()["id"] == "base"
    missing = http.get("/v1/models/nope", headers=sam)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    text = http.post("/v1/completions", json={"model": "base", "prompt": FOUNDED[0]["content"], "max_tokens": 8},
                     headers=sam).json()
    assert text["object"] == "text_completion" and text["choices"][0]["text"] and text["usage"]["prompt_tokens"]
    emb = http.post("/v1/embeddings", json={"model": "any", "input": ["a cat", "a dog"]}, headers=sam).json()
    assert [len(d["embedding"]) for d in emb["data"]] == [384, 384]
    for method, path in (("GET", "/v1/nothing"), ("POST", "/v1/responses")):
        resp = http.request(method, path, headers=sam)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_url", resp.text
    assert http.get("/health").json() == {"status": "ok"}
    ready = http.get("/health/ready")
    assert ready.status_code == 200 and set(ready.json()["checks"].values()) == {"ok"}, ready.text
    assert ready.json()["load"] is None


def test_busy_is_a_503_with_retry_after_plain_and_streamed(scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past llm.max_queue the model refuses (Busy): the client gets 503 and Retry-After before any byte of a
    stream, so OpenAI's clients wait and retry instead of reading an error event after a 200."""
    from assistant.llm.batching import Busy

    http, llm, keys = scripted

    def busy(*_args, **_kwargs):
        raise Busy("busy: 64 requests waiting (llm.max_queue = 64); try again", "unavailable")
        yield  # a generator, as a real stream is

    monkeypatch.setattr(llm, "stream", busy)
    monkeypatch.setattr(llm, "generate", lambda *a, **k: next(busy()))
    for stream in (False, True):
        resp = _post(http, keys["sam"], stream=stream)
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"].isdigit()
        assert "busy: 64 requests waiting" in resp.json()["error"]["message"]


def test_a_client_leaving_mid_stream_closes_its_generation_at_once(scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a real HTTP server (uvicorn on loopback): when the client disconnects mid-stream, the engine's
    stream is closed within a moment, which is what frees a local model's row in its batch at the next step
    (tests/assistant/test_batching.py); the engine would otherwise have gone on for 60 s."""
    import threading
    import time

    import uvicorn

    from tests.conftest import free_port

    http, llm, keys = scripted
    closed = threading.Event()

    def slow(*_args, **_kwargs):
        try:
            for i in range(600):
                yield f" word{i}"
                time.sleep(0.1)
        finally:
            closed.set()

    monkeypatch.setattr(llm, "stream", slow)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(http.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        body = {"model": "base", "messages": FOUNDED, "stream": True}
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                          headers=_auth(keys["sam"]), timeout=30) as resp:
            assert resp.status_code == 200
            content = 0
            for line in resp.iter_lines():
                content += '"content": " word' in line
                if content >= 3:
                    break
        assert not closed.is_set()
        assert closed.wait(3), "the engine's stream was not closed when its client left"
    finally:
        server.should_exit = True
        thread.join(10)
