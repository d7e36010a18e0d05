"""The OpenAI-compatible API at /v1, through the official `openai` client against `assistant serve`."""

from __future__ import annotations

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow

KESTREL = "What is Project Kestrel and which company would it acquire?"
INTERNAL = {"where": {"doc_type": "internal_comms"}}


def client(server, user: str = "sam") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys[user], max_retries=0, timeout=300)


def test_models_need_a_key_and_list_engines(web_server) -> None:
    assert [m.id for m in client(web_server).models.list()] == ["base"]
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
    assert all({"source", "page", "text", "score", "metadata"} <= set(s) for s in extra["sources"])
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
