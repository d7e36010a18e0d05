"""The clients people point at /v1, against one real `assistant serve` on loopback (the embedded SmolLM2):
the official `openai` client, LangChain's ChatOpenAI and llama-index's OpenAILike (with its defaults),
each plain and streamed. What a client asks for that the API does not support (structured output, tools)
is refused with a 400 naming the parameter, never answered with prose. Answers are kept short
(max_tokens <= 16) so the file runs in about a minute on a 2-core CPU."""

from __future__ import annotations

import openai
import pytest
from pydantic import BaseModel

pytestmark = pytest.mark.slow

QUESTION = "Who founded Calderbrook Digital, and when?"


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.keys["sam"], max_retries=0, timeout=300)


def test_openai_plain_and_streamed_with_usage(web_server) -> None:
    c = client(web_server)
    resp = c.chat.completions.create(model="base", max_tokens=8, messages=[{"role": "user", "content": QUESTION}])
    assert resp.choices[0].message.content.strip()
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage.completion_tokens <= 8
    assert resp.usage.prompt_tokens > 100  # our prompt with the sources, not the client's 10 words
    stream = c.chat.completions.create(model="base", max_tokens=8, stream=True,
                                       stream_options={"include_usage": True},
                                       messages=[{"role": "user", "content": QUESTION}])
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text.strip() and chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 100


def test_openai_system_message_stop_and_length_cap_change_the_answer(web_server) -> None:
    """The issue's complaint: a system message, a stop sequence and a length cap changed nothing. The
    embedded 135M model cannot follow "Reply only with PINEAPPLE" wherever the instruction is put (tried:
    under our heading, appended, first, alone, in the user turn), so here the system message must change
    the (greedy) answer; tests/ui/test_api.py checks the prompt really sent, beside the grounding rules."""
    c = client(web_server)
    question = [{"role": "user", "content": "What colour is the sky?"}]
    off = {"use_context": False}
    plain = c.chat.completions.create(model="base", max_tokens=16, messages=question, extra_body=off)
    told = c.chat.completions.create(
        model="base", max_tokens=16, extra_body=off,
        messages=[{"role": "system", "content": "Reply only with the word PINEAPPLE."}, *question])
    assert told.choices[0].message.content != plain.choices[0].message.content
    assert told.usage.prompt_tokens > plain.usage.prompt_tokens
    stopped = c.chat.completions.create(model="base", max_tokens=16, messages=question, extra_body=off,
                                        stop=["blue"]).choices[0].message.content
    assert "blue" in plain.choices[0].message.content and "blue" not in stopped, stopped
    short = c.chat.completions.create(model="base", max_tokens=2, messages=question, extra_body=off)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens <= 2


def test_openai_parse_with_a_schema_is_refused_clearly(web_server) -> None:
    class Founder(BaseModel):
        name: str
        year: int

    with pytest.raises(openai.BadRequestError) as err:
        client(web_server).chat.completions.parse(model="base", max_tokens=16, response_format=Founder,
                                                  messages=[{"role": "user", "content": QUESTION}])
    assert err.value.param == "response_format" and "not supported" in err.value.message


def test_openai_n_and_tools_are_refused(web_server) -> None:
    c = client(web_server)
    with pytest.raises(openai.BadRequestError) as err:
        c.chat.completions.create(model="base", n=3, messages=[{"role": "user", "content": QUESTION}])
    assert err.value.param == "n"


def test_langchain_chat_openai(web_server) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{web_server.url}/v1", api_key=web_server.keys["sam"], model="base",
                     max_tokens=8, max_retries=0, timeout=300)
    reply = llm.invoke(QUESTION)
    assert reply.content.strip() and reply.usage_metadata["input_tokens"] > 100
    pieces = [chunk.content for chunk in llm.stream(QUESTION)]
    assert "".join(pieces).strip() and len(pieces) > 1

    def lookup(company: str) -> str:
        """Look a company up."""
        return company

    with pytest.raises(openai.BadRequestError) as err:  # a clear refusal, never prose passed off as an answer
        llm.bind_tools([lookup]).invoke(QUESTION)
    assert err.value.param == "tools"


def test_llama_index_openai_like_with_its_defaults(web_server) -> None:
    """OpenAILike's default (is_chat_model=False) calls /v1/completions; chat goes to /v1/chat/completions."""
    from llama_index.core.llms import ChatMessage
    from llama_index.llms import openai_like

    llm = openai_like.OpenAILike(model="base", api_base=f"{web_server.url}/v1", api_key=web_server.keys["sam"],
                                 max_tokens=8, timeout=300, max_retries=0)
    assert llm.complete(QUESTION).text.strip()
    assert "".join(r.delta or "" for r in llm.stream_complete(QUESTION)).strip()
    assert llm.chat([ChatMessage(role="user", content=QUESTION)]).message.content.strip()


def test_litellm_completion_plain_and_streamed(web_server, monkeypatch) -> None:
    """litellm routes "openai/<model>" to any OpenAI-compatible api_base. Its model price map is read from
    the package, not fetched from GitHub (LITELLM_LOCAL_MODEL_COST_MAP)."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_TELEMETRY", "False")
    import litellm

    args = {"model": "openai/base", "api_base": f"{web_server.url}/v1", "api_key": web_server.keys["sam"],
            "max_tokens": 8, "timeout": 300, "num_retries": 0,
            "messages": [{"role": "user", "content": QUESTION}]}
    resp = litellm.completion(**args)
    assert resp.choices[0].message.content.strip() and resp.usage.prompt_tokens > 100
    assert resp.choices[0].finish_reason in ("stop", "length")
    pieces = [chunk.choices[0].delta.content or "" for chunk in litellm.completion(**args, stream=True)
              if chunk.choices]
    assert "".join(pieces).strip() and len([p for p in pieces if p]) > 1
    with pytest.raises(litellm.BadRequestError) as err:  # refused with the parameter named, not ignored
        litellm.completion(**{**args, "n": 2})
    assert "n" in str(err.value)

