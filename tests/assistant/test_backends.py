"""Generation backends on the real embedded model: local streaming, the context limit, and the
OpenAI-compatible backend against a real loopback HTTP server."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import LLMSettings
from assistant.llm.base import GenerationBackend, LLMUnavailable, PromptTooLong, StreamText
from assistant.llm.embedded import prepare_embedded_llm
from assistant.llm.local import LocalLLM
from assistant.llm.openai_backend import OpenAIBackend
from tests.llm_fixtures import OpenAIServer, free_port

pytestmark = pytest.mark.slow

SETTINGS = LLMSettings(max_new_tokens=24)
MESSAGES = [{"role": "user", "content": "Write two sentences about the sea."}]


@pytest.fixture(scope="module")
def llm(shared_models: Path) -> LocalLLM:
    return LocalLLM(prepare_embedded_llm(shared_models), SETTINGS)


@pytest.fixture(scope="module")
def greedy(llm: LocalLLM) -> str:
    return llm.generate(MESSAGES)


@pytest.fixture(scope="module")
def server(llm: LocalLLM) -> Iterator[OpenAIServer]:
    srv = OpenAIServer(llm).start()
    yield srv
    srv.stop()


def with_settings(llm: LocalLLM, **changes: object) -> LocalLLM:
    """The same loaded model under other generation settings (no second load)."""
    other = copy.copy(llm)
    other.settings = llm.settings.model_copy(update=changes)
    return other


def remote(server: OpenAIServer, **changes: object) -> OpenAIBackend:
    settings = SETTINGS.model_copy(update={"api_base": server.url, "model": server.model, "frequency_penalty": 0.0,
                                           "timeout_s": 30.0, "max_retries": 0, **changes})
    return OpenAIBackend(settings)


# -- local ---------------------------------------------------------------------------------------------
def test_local_stream_is_incremental_and_equals_generate(llm: LocalLLM, greedy: str) -> None:
    assert isinstance(llm, GenerationBackend)
    start = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    for piece in llm.stream(MESSAGES):
        arrivals.append((time.monotonic() - start, piece))
    pieces = [p for _, p in arrivals]
    assert len(pieces) >= 5, pieces
    assert "".join(pieces) == greedy
    # Incremental: the first piece came long before the last, not all at once at the end.
    assert arrivals[0][0] < 0.5 * arrivals[-1][0], arrivals
    assert not llm.lock.locked()


def test_closing_a_stream_early_frees_the_model(llm: LocalLLM, greedy: str) -> None:
    stream = llm.stream(MESSAGES)
    first = next(stream)
    assert greedy.startswith(first)
    stream.close()
    assert not llm.lock.locked()
    assert llm.generate(MESSAGES) == greedy


def test_stop_sequences_cut_generate_and_stream_alike(llm: LocalLLM, greedy: str) -> None:
    stop_word = greedy.split()[3]
    stopping = with_settings(llm, stop=[stop_word])
    cut = stopping.generate(MESSAGES)
    assert cut == greedy[: greedy.index(stop_word)].strip()
    assert "".join(stopping.stream(MESSAGES)) == cut


def test_a_failure_on_the_worker_reaches_the_consumer(llm: LocalLLM) -> None:
    class Exploding:
        """The real model, failing at its fourth forward pass (as an out-of-memory error would)."""

        def __init__(self) -> None:
            self.calls = 0

        def __getattr__(self, name: str) -> object:
            return getattr(llm.model, name)

        def __call__(self, **kwargs: object) -> object:
            self.calls += 1
            if self.calls > 3:
                raise RuntimeError("boom on the worker")
            return llm.model(**kwargs)

    broken = copy.copy(llm)
    broken.model = Exploding()
    with pytest.raises(RuntimeError, match="boom on the worker"):
        list(broken.stream(MESSAGES))
    assert not llm.lock.locked()


def test_a_prompt_near_the_context_limit_does_not_overflow(llm: LocalLLM) -> None:
    small = with_settings(llm, context_window=256, max_new_tokens=64)
    filler = "The quarterly report lists revenue, staff, offices and the projects won this year. " * 40
    ids = small.tokenizer.encode(filler, add_special_tokens=False)
    take = 200
    for _ in range(10):  # aim for a prompt that leaves about 30 tokens of the 256
        messages = [{"role": "user", "content": small.tokenizer.decode(ids[:take])}]
        room = small.context_window - int(small.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True)["input_ids"].__len__())
        if 20 <= room <= 40:
            break
        take += room - 30
    assert 20 <= room <= 40
    _, kwargs = small.prepare(messages)
    assert kwargs["max_new_tokens"] == room < 64
    answer = small.generate(messages)
    assert small.count_tokens(answer) <= room + 1  # re-encoding may differ by one token
    with pytest.raises(PromptTooLong, match=r"reads at most 256"):
        small.generate([{"role": "user", "content": filler}])


def test_stream_text_holds_back_what_could_still_be_a_stop() -> None:
    shaper = StreamText(stop=["###"])
    out = [shaper.feed(p) for p in ["  Hello", " world ", "#", "#", " not a stop", " end  "]]
    assert "".join(out) + shaper.finish() == "Hello world ## not a stop end"
    shaper = StreamText(stop=["###"])
    out = [shaper.feed(p) for p in ["Hello ", "##", "# more"]]
    assert shaper.stopped and "".join(out) + shaper.finish() == "Hello"


# -- OpenAI-compatible ---------------------------------------------------------------------------------
def test_openai_backend_generates_and_streams_the_local_greedy_text(server: OpenAIServer, greedy: str) -> None:
    backend = remote(server)
    assert isinstance(backend, GenerationBackend)
    assert backend.generate(MESSAGES) == greedy
    pieces = list(backend.stream(MESSAGES))
    assert len(pieces) >= 5
    assert "".join(pieces) == greedy
    sent = server.requests[-1]
    assert sent["stream"] is True and sent["max_tokens"] == 24 and sent["temperature"] == 0.0
    assert "frequency_penalty" in sent
    assert backend.context_window == server.llm.context_window  # from /v1/models' max_model_len
    assert backend.count_tokens("x" * 40) == 10  # no tokenizer configured: characters / 4


def test_openai_backend_counts_with_a_local_tokenizer(server: OpenAIServer, llm: LocalLLM) -> None:
    backend = remote(server, tokenizer=str(llm.folder), context_window=1024)
    assert backend.count_tokens("The sea is vast.") == llm.count_tokens("The sea is vast.")
    assert backend.context_window == 1024


def test_an_endpoint_that_does_not_answer_in_time_is_unavailable(server: OpenAIServer) -> None:
    backend = remote(server, timeout_s=0.5)
    server.hang_s = 3.0
    try:
        for call in (backend.generate, lambda m: "".join(backend.stream(m))):
            start = time.monotonic()
            with pytest.raises(LLMUnavailable) as caught:
                call(MESSAGES)
            assert time.monotonic() - start < 2.5
            message = str(caught.value)
            assert server.url in message and "did not answer within 0.5 s" in message
            assert "\n" not in message
    finally:
        server.hang_s = 0.0


def test_an_unreachable_endpoint_or_unknown_model_is_unavailable(server: OpenAIServer) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailable, match=r"cannot be reached.*fix llm.api_base"):
        remote(server, api_base=nobody).generate(MESSAGES)
    with pytest.raises(LLMUnavailable, match=r"does not serve the model 'ghost'"):
        remote(server, model="ghost").generate(MESSAGES)
