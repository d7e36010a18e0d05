"""Engines on vLLM (llm.serving = "vllm"): promotion registers an engine's chain as ONE LoRA adapter with the
server's runtime LoRA API, chat reaches it by its served name, demote/remove unload it, a refused rank records
nothing, a restarted server is re-registered, and the evaluation gate is recorded for remote engines.

vLLM needs a GPU (its wheels are CUDA builds) and cannot run on these machines: the server here is
tests/fake_vllm.py, a real subprocess on a loopback port implementing only vLLM's documented endpoints
(/v1/models, /v1/load_lora_adapter, /v1/unload_lora_adapter, /v1/chat/completions), generating for real with
transformers + PEFT on a tiny Llama. The adapters are random (make_random_adapter), not trained.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from assistant.accounts import User
from assistant.config import ConfigError, load_settings
from assistant.engines import EngineError
from assistant.evaluation import EvalOptions, _version_folder
from assistant.llm.base import LLMUnavailable
from assistant.llm.openai_backend import OpenAIBackend
from assistant.services import Services, operator
from assistant.vllm_serving import served_name
from tests.fake_vllm import FakeVLLMProcess
from tests.llm_fixtures import free_port, make_random_adapter, make_tiny_base

pytestmark = pytest.mark.slow

ADMIN = User("ada", "admin", ())
STAFF = User("sam", "staff", ())
SERVED_BASE = "tiny-base"
MESSAGES = [{"role": "user", "content": "What does our company do?"}]
MAX_RANK = 8  # the fake's --max-lora-rank: company (4) + bids (4) fit, wide (16) does not


@pytest.fixture(scope="module")
def tiny(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="module")
def fake(tiny: Path, tmp_path_factory: pytest.TempPathFactory):
    server = FakeVLLMProcess(tiny, SERVED_BASE, free_port(), MAX_RANK, tmp_path_factory.mktemp("vllm") / "log.txt")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ws(make_home, tiny: Path, fake: FakeVLLMProcess):
    """A home on the fake server with engines company@1 (r 4), bids@1 on company@1 (r 4) and wide@1 (r 16)."""
    config = (f'[llm]\nmodel = "{SERVED_BASE}"\napi_base = "{fake.url}"\nserving = "vllm"\nmax_new_tokens = 8\n'
              "max_retries = 0\ntimeout_s = 60\n")
    home = make_home(config=config)
    engines = home / "engines"
    make_random_adapter(tiny, engines / "company" / "v1", seed=1, r=4, base=str(tiny))
    make_random_adapter(tiny, engines / "bids" / "v1", seed=2, r=4, parent="company@1", base=str(tiny))
    make_random_adapter(tiny, engines / "wide" / "v1", seed=3, r=16, base=str(tiny))
    services = Services(load_settings(home))
    yield services
    for ref in ("company@1", "bids@1", "wide@1"):  # the server outlives the home: leave it as found
        services.ctx.components.engines.withdraw([ref])
    services.close()


def chat_on_server(fake: FakeVLLMProcess, model: str) -> str:
    body = {"model": model, "messages": MESSAGES, "max_tokens": 8, "temperature": 0.0}
    response = httpx.post(f"{fake.url}/chat/completions", json=body, timeout=60)
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def api_model_ids(ws: Services, user: User) -> list[str]:
    """GET /v1/models of our API, as that user, over these services."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.api import router
    from ui.deps import get_api_user

    app = FastAPI()
    app.include_router(router)
    app.state.services = ws
    app.dependency_overrides[get_api_user] = lambda: user
    with TestClient(app) as client:
        response = client.get("/v1/models")
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["data"]]


def test_promote_serves_the_chain_as_one_adapter_and_demote_remove_unload(ws: Services,
                                                                           fake: FakeVLLMProcess) -> None:
    assert served_name("bids@1") == "bids-v1" and served_name("my-v1@12") == "my-v1-v12"
    assert ws.engines.promote(ADMIN, "bids@1", force=True) == "bids@1"
    assert "bids-v1" in fake.served_names() and "company-v1" not in fake.served_names()
    exported = ws.settings.home / "served-adapters" / "bids-v1"
    assert json.loads((exported / "adapter_config.json").read_text())["r"] == 8  # 4 + 4: the chain, one adapter

    backend = ws.ctx.components.engines.get("bids")
    assert isinstance(backend, OpenAIBackend) and (backend.model, backend.name) == ("bids-v1", "bids@1")
    text = backend.generate(MESSAGES)
    assert text and text == chat_on_server(fake, "bids-v1").strip()
    assert text != chat_on_server(fake, SERVED_BASE).strip()  # the adapter is applied
    assert "".join(backend.stream(MESSAGES)) == text
    assert api_model_ids(ws, STAFF) == ["base", "bids@1"]
    listed = {m["id"]: m for m in httpx.get(f"{fake.url}/models").json()["data"]}
    assert listed["bids-v1"]["parent"] == SERVED_BASE and listed["bids-v1"]["root"] == str(exported)

    assert ws.engines.demote(ADMIN, "bids") == "bids@1"
    assert "bids-v1" not in fake.served_names()
    assert api_model_ids(ws, STAFF) == ["base"]
    ws.engines.promote(ADMIN, "bids@1", force=True)
    assert "bids-v1" in fake.served_names()
    assert ws.engines.remove(ADMIN, "bids@1") == ["bids@1"]
    assert "bids-v1" not in fake.served_names() and not exported.exists()


def test_a_rank_the_server_refuses_records_nothing(ws: Services, fake: FakeVLLMProcess) -> None:
    promoted = ws.settings.paths.engines / "wide" / "promoted.json"
    with pytest.raises(EngineError) as caught:
        ws.engines.promote(ADMIN, "wide@1", force=True)
    message = str(caught.value)
    assert "\n" not in message and caught.value.kind == "invalid"
    assert "LoRA rank 16 is greater than max_lora_rank 8" in message and "--max-lora-rank" in message
    assert not promoted.exists() and "wide-v1" not in fake.served_names()
    assert ws.chat.engine_names(STAFF) == ["base"]


def test_a_restarted_server_is_registered_again(ws: Services, fake: FakeVLLMProcess) -> None:
    ws.engines.promote(ADMIN, "company@1", force=True)
    backend = ws.ctx.components.engines.get("company")
    before = backend.generate(MESSAGES)
    fake.restart()  # forgets every adapter, as vLLM does
    assert "company-v1" not in fake.served_names()
    assert backend.generate(MESSAGES) == before  # a 404, registered again once, retried
    assert "company-v1" in fake.served_names()
    fake.restart()
    assert "".join(ws.ctx.components.engines.get("company").stream(MESSAGES)) == before


def test_the_gate_is_recorded_for_a_remote_engine(ws: Services, fake: FakeVLLMProcess, tmp_path: Path) -> None:
    settings = ws.settings
    assert _version_folder(settings, "company@1") == settings.paths.engines / "company" / "v1"
    assert _version_folder(settings, "base") is None and _version_folder(settings, "nope@1") is None
    assert _version_folder(settings, SERVED_BASE) is None
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "Where is the head office?", "reference": "Leeds."}) + "\n")
    options = EvalOptions(questions, engines=["base"], modes=["norag"], gate="company@1", against="base",
                          min_delta=-1.0, style=False, out=tmp_path / "reports")
    run, _report = ws.reports.evaluate(operator(), options)
    assert run.gate["passed"] and run.gate["candidate_version"] == "company@1"
    assert (settings.paths.engines / "company" / "v1" / "gate.json").is_file()
    assert ws.engines.promote(ADMIN, "company@1") == "company@1"  # no force needed
    assert "company-v1" in fake.served_names()


def test_vllm_serving_needs_an_api_base(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[llm]\nserving = "vllm"\n')
    with pytest.raises(ConfigError, match=r"llm: .*serving = \"vllm\" needs api_base"):
        load_settings(tmp_path)


def test_a_silent_server_blocks_promotion_but_not_removal(make_home, tiny: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nobody listens there
    home = make_home("silent", config=f'[llm]\nmodel = "{SERVED_BASE}"\napi_base = "{url}"\nserving = "vllm"\n'
                                      "max_retries = 0\n")
    make_random_adapter(tiny, home / "engines" / "company" / "v1", seed=1, r=4, base=str(tiny))
    services = Services(load_settings(home))
    try:
        with pytest.raises(EngineError, match="unknown engine 'nope'") as unknown:
            services.ctx.components.engines.get("nope")
        assert unknown.value.kind == "not_found"
        with pytest.raises(LLMUnavailable, match=f"the vLLM server at {url} cannot be reached") as silent:
            services.engines.promote(ADMIN, "company@1", force=True)
        assert silent.value.kind == "unavailable"
        assert not (home / "engines" / "company" / "promoted.json").exists()
        with caplog.at_level(logging.WARNING, logger="assistant.vllm_serving"):
            assert services.engines.remove(ADMIN, "company") == ["company@1"]
        assert "company-v1 was not unloaded from the vLLM server" in caplog.text
    finally:
        services.close()


def test_the_server_reads_the_export_where_lora_dir_on_server_says(make_home, tiny: Path,
                                                                    fake: FakeVLLMProcess) -> None:
    home = make_home("mounted")
    (home / "mount").symlink_to(home / "exports", target_is_directory=True)  # the server's view of the folder
    (home / "config.toml").write_text(
        f'[llm]\nmodel = "{SERVED_BASE}"\napi_base = "{fake.url}"\nserving = "vllm"\n'
        f'lora_dir = "{home / "exports"}"\nlora_dir_on_server = "{home / "mount"}/"\n')
    make_random_adapter(tiny, home / "engines" / "company" / "v1", seed=1, r=4, base=str(tiny))
    services = Services(load_settings(home))
    try:
        assert services.settings.llm.lora_folder(home) == home / "exports"
        services.engines.promote(ADMIN, "company@1", force=True)
        assert (home / "exports" / "company-v1" / "adapter_config.json").is_file()
        listed = {m["id"]: m for m in httpx.get(f"{fake.url}/models").json()["data"]}
        assert listed["company-v1"]["root"] == str(home / "mount" / "company-v1")
    finally:
        services.ctx.components.engines.withdraw(["company@1"])
        services.close()
