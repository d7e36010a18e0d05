"""Engines: the registry of LoRA adapter versions, and one base model serving them all."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from assistant.config import LLMSettings, Settings
from assistant.engines import (
    EngineError,
    EngineManager,
    EngineRecord,
    EngineRegistry,
    build_engine_manager,
    publish_engine,
    write_engine_record,
)
from assistant.llm.base import GenerationBackend, LLMUnavailable
from assistant.llm.embedded import prepare_embedded_llm
from assistant.llm.openai_backend import OpenAIBackend
from tests.llm_fixtures import make_random_adapter

pytestmark = pytest.mark.slow

SETTINGS = LLMSettings(max_new_tokens=16)
MESSAGES = [{"role": "user", "content": "What does our company do?"}]


@pytest.fixture(scope="module")
def engines_dir(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = prepare_embedded_llm(shared_models)
    engines = tmp_path_factory.mktemp("engines")
    make_random_adapter(base, engines / "company" / "v1", seed=1)
    make_random_adapter(base, engines / "bids" / "v1", seed=2, parent="company@1")
    return engines


@pytest.fixture(scope="module")
def manager(shared_models: Path, engines_dir: Path) -> EngineManager:
    return EngineManager(SETTINGS, shared_models, engines_dir)


def copy_engine(src: Path, engines: Path, name: str, version: int = 1, **changes: object) -> Path:
    """A copy of a real adapter registered under another name (and other record fields)."""
    target = engines / name / f"v{version}"
    shutil.copytree(src, target)
    record = EngineRecord.read(target)
    for key, value in {"name": name, "version": version, **changes}.items():
        setattr(record, key, value)
    write_engine_record(target, record)
    return target


# -- serving --------------------------------------------------------------------------------------------
def test_engines_differ_switch_back_and_forth_on_one_base_model(manager: EngineManager) -> None:
    assert manager.names() == ["base", "bids", "company"]
    first: dict[str, str] = {}
    for name in ("base", "company", "bids"):  # base first: before any adapter is loaded
        backend = manager.get(name)
        assert isinstance(backend, GenerationBackend)
        first[name] = backend.generate(MESSAGES)
    assert len(set(first.values())) == 3, first
    for name in ("bids", "base", "company", "base", "bids", "company"):
        assert manager.get(name).generate(MESSAGES) == first[name], name
    assert "".join(manager.get("bids").stream(MESSAGES)) == first["bids"]
    assert manager.get("company@1").name == "company@1"
    assert manager.base_loads == 1


def test_concurrent_requests_on_different_engines_do_not_mix(manager: EngineManager) -> None:
    expected = {name: manager.get(name).generate(MESSAGES) for name in ("base", "bids")}
    got: dict[str, list[str]] = {"base": [], "bids": []}

    def ask(name: str) -> None:
        for _ in range(2):
            got[name].append(manager.get(name).generate(MESSAGES))

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("base", "bids")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {name: [text, text] for name, text in expected.items()}
    assert manager.base_loads == 1


def test_remote_engines_are_the_endpoints_named_models(engines_dir: Path) -> None:
    settings = SETTINGS.model_copy(update={"api_base": "http://127.0.0.1:9/v1", "model": "served-base"})
    remote = EngineManager(settings, engines_dir.parent / "unused-models", engines_dir)
    company, base = remote.get("company"), remote.get("base")
    assert isinstance(company, OpenAIBackend) and company.model == "company" and company.name == "company"
    assert isinstance(base, OpenAIBackend) and base.model == "served-base"
    assert remote.base_loads == 0


def test_build_engine_manager_uses_the_homes_folders(tmp_path: Path) -> None:
    manager = build_engine_manager(Settings(home=tmp_path))
    assert manager.registry.dir == tmp_path / "engines" and manager.models_dir == tmp_path / "models"
    assert manager.names() == ["base"]
    assert manager.base_loads == 0  # nothing loads until a backend generates


# -- the registry --------------------------------------------------------------------------------------
def test_resolve_gives_the_adapter_chain_root_first(engines_dir: Path) -> None:
    registry = EngineRegistry(engines_dir)
    resolved = registry.resolve("bids")
    assert resolved.record.ref == "bids@1"
    assert resolved.adapters == [engines_dir / "company" / "v1", engines_dir / "bids" / "v1"]
    assert registry.resolve("company@1").adapters == [engines_dir / "company" / "v1"]
    assert [r.ref for r in registry.list()] == ["bids@1", "company@1"]
    data = json.loads((engines_dir / "bids" / "v1" / "engine.json").read_text())
    assert set(data) == {"name", "version", "parent", "base", "data_sha256", "hyperparameters", "metrics", "created"}
    assert data["parent"] == "company@1" and data["base"] == "embedded"


def test_latest_version_and_publishing(engines_dir: Path, tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    copy_engine(engines_dir / "company" / "v1", engines, "company")
    registry = EngineRegistry(engines)
    assert registry.next_version("company") == 2
    staged = engines / "company" / ".staging"
    shutil.copytree(engines_dir / "company" / "v1", staged)
    publish_engine(engines, staged, EngineRecord(name="company", version=2, parent="company@1",
                                                 metrics={"loss": 1.5}))
    assert not staged.exists()
    assert registry.resolve("company").record.ref == "company@2"
    assert [r.ref for r in registry.resolve("company").chain] == ["company@1", "company@2"]
    assert [r.ref for r in registry.list(all_versions=True)] == ["company@1", "company@2"]
    with pytest.raises(EngineError, match="has no version 7; its versions: 1, 2"):
        registry.resolve("company@7")
    with pytest.raises(EngineError, match="already exists"):
        publish_engine(engines, staged, EngineRecord(name="company", version=2))


def test_an_unknown_engine_lists_the_known_ones(engines_dir: Path, manager: EngineManager) -> None:
    with pytest.raises(EngineError, match=r"unknown engine 'tenders'; known engines: base, bids, company") as caught:
        manager.get("tenders")
    assert isinstance(caught.value, LLMUnavailable)  # the CLI reports it in one line


def test_a_missing_adapter_is_named(engines_dir: Path, tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    folder = copy_engine(engines_dir / "company" / "v1", engines, "company")
    copy_engine(engines_dir / "bids" / "v1", engines, "bids")
    (folder / "adapter_model.safetensors").unlink()
    registry = EngineRegistry(engines)
    with pytest.raises(EngineError, match=r"engine company@1: the adapter folder .* lacks adapter_model.safetensors"):
        registry.resolve("company")
    with pytest.raises(EngineError, match=r"engine bids@1 is built on company@1, which cannot be used"):
        registry.resolve("bids")
    shutil.rmtree(engines / "company")
    with pytest.raises(EngineError, match=r"built on company@1.*unknown engine 'company'"):
        registry.resolve("bids")
    (engines / "bids" / "v1" / "engine.json").write_text("{not json")
    with pytest.raises(EngineError, match=r"engine.json is unreadable"):
        registry.resolve("bids")


def test_a_parent_cycle_is_reported(engines_dir: Path, tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    copy_engine(engines_dir / "company" / "v1", engines, "alpha", parent="beta@1")
    copy_engine(engines_dir / "company" / "v1", engines, "beta", parent="alpha@1")
    with pytest.raises(EngineError, match=r"cycle \(alpha@1 -> beta@1 -> alpha@1\)"):
        EngineRegistry(engines).resolve("alpha")


def test_a_chain_across_base_models_is_refused(engines_dir: Path, tmp_path: Path, shared_models: Path) -> None:
    engines = tmp_path / "engines"
    copy_engine(engines_dir / "company" / "v1", engines, "company", base="/models/other-llm")
    copy_engine(engines_dir / "bids" / "v1", engines, "bids")
    with pytest.raises(EngineError, match=r"bids@1 is on base 'embedded' but its parent company@1 on '/models/other"):
        EngineRegistry(engines).resolve("bids")
    with pytest.raises(EngineError, match=r"trained on base '/models/other-llm' but llm.model is 'embedded'"):
        EngineManager(SETTINGS, shared_models, engines).get("company")
