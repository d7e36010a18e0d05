"""`assistant engines list|show|remove|export`: the registry on the command line, and a merged export
that loads as a plain transformers model and computes what the served adapter chain computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.config import LLMSettings, load_settings
from assistant.engines import EngineManager
from assistant.errors import NotFound
from assistant.services import Services, User, operator
from tests.conftest import run_cli
from tests.llm_fixtures import make_random_adapter, make_tiny_base

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_base(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def home(make_home, tiny_base: Path) -> Path:
    home = make_home("home", f'[llm]\nmodel = "{tiny_base}"\n')
    engines = home / "engines"
    make_random_adapter(tiny_base, engines / "company" / "v1", seed=1, base=str(tiny_base))
    make_random_adapter(tiny_base, engines / "company" / "v2", seed=2, base=str(tiny_base), version=2)
    make_random_adapter(tiny_base, engines / "bids" / "v1", seed=3, base=str(tiny_base), parent="company@1")
    return home


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_and_show(home: Path, tiny_base: Path) -> None:
    res = run_cli("engines", "list", "--json", home=home)  # the real command: exactly one JSON document
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert [(e["name"], e["version"]) for e in listed] == [("bids", 1), ("company", 2)]
    assert all(set(e) == {"name", "version", "parent", "base", "metrics", "created"} for e in listed)
    assert listed[0]["parent"] == "company@1" and listed[0]["base"] == str(tiny_base)
    code, out, _ = cli("engines", "--home", str(home), "--json")  # no subcommand: list
    assert code == 0 and json.loads(out) == listed
    code, out, _ = cli("engines", "list", "--all", "--home", str(home), "--json")
    assert [(e["name"], e["version"]) for e in json.loads(out)] == [("bids", 1), ("company", 1), ("company", 2)]

    code, out, _ = cli("engines", "show", "bids", "--home", str(home), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["chain"] == ["company@1", "bids@1"] and shown["versions"] == [1]
    assert shown["hyperparameters"]["lora_r"] == 8 and shown["folder"].endswith("engines/bids/v1")
    code, _, err = cli("engines", "show", "nope", "--home", str(home))
    assert code == 2 and "unknown engine 'nope'" in err


def test_remove_refuses_while_another_engine_is_built_on_it(home: Path) -> None:
    code, _, err = cli("engines", "remove", "company@1", "--home", str(home))
    assert code == 2 and "bids@1 is built on company@1; remove those first" in err
    code, out, _ = cli("engines", "remove", "company@2", "--home", str(home), "--json")
    assert code == 0 and json.loads(out) == {"removed": ["company@2"]}
    code, out, _ = cli("engines", "remove", "bids", "--home", str(home), "--json")
    assert code == 0 and json.loads(out) == {"removed": ["bids@1"]}
    code, out, _ = cli("engines", "remove", "company", "--home", str(home), "--json")
    assert code == 0 and json.loads(out) == {"removed": ["company@1"]}
    assert not (home / "engines" / "company").exists()
    code, out, _ = cli("engines", "list", "--home", str(home), "--json")
    assert json.loads(out) == []


def test_a_removed_promoted_version_is_withdrawn_and_a_retrained_one_is_not_promoted(home: Path, tiny_base: Path,
                                                                                    ) -> None:
    """Issue 13: promote company@2, `engines remove company@2`, train again: the new company@2 (never
    evaluated) must not reach staff, and no promotion may be left naming the removed version."""
    promoted_file = home / "engines" / "company" / "promoted.json"
    code, out, err = cli("engines", "promote", "company@2", "--force", "--home", str(home), "--json")
    assert code == 0 and json.loads(out) == {"promoted": "company@2", "forced": True}, err
    svc = Services(load_settings(home))
    assert svc.chat.engine_names(operator()) == ["base", "company@2"] and promoted_file.is_file()

    code, out, err = cli("engines", "remove", "company@2", "--home", str(home), "--json")
    assert code == 0 and json.loads(out) == {"removed": ["company@2"]}, err
    assert not promoted_file.exists()  # withdrawn with the version, not left for the next company@2
    audited = [(e["action"], e["detail"]) for e in svc.ctx.db.audit_entries() if e["actor"].startswith("cli")]
    assert ("remove engine", "company@2") in audited and ("promote engine", "company@2 (forced)") in audited

    # The next run publishes company@2 again, as `train` does: the version after company@1.
    make_random_adapter(tiny_base, home / "engines" / "company" / "v2", seed=4, base=str(tiny_base), version=2)
    code, out, _ = cli("engines", "list", "--home", str(home), "--json")
    assert code == 0 and ("company", 2) in [(e["name"], e["version"]) for e in json.loads(out)]
    fresh = Services(load_settings(home))
    assert fresh.chat.engine_names(operator()) == ["base"]
    assert not [row for row in fresh.engines.list(operator()) if row["promoted"]]
    with pytest.raises(NotFound, match="no engine named 'company@2' that you may use"):
        fresh.chat.check_engine(User("sam", "staff", ()), "company@2")
    svc.close()
    fresh.close()


def test_merged_export_loads_with_transformers_and_matches_the_served_chain(home: Path, tiny_base: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = home / "export" / "bids-merged"
    code, stdout, err = cli("engines", "export", "bids", "--merged", str(out), "--home", str(home), "--json")
    assert code == 0, err
    assert json.loads(stdout) == {"engine": "bids@1", "out": str(out), "chain": ["company@1", "bids@1"],
                                  "base": str(tiny_base)}
    assert not list(out.glob("adapter_*")) and (out / "config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("Where is our Leeds office?", return_tensors="pt").input_ids

    manager = EngineManager(LLMSettings(model=str(tiny_base)), home / "models", home / "engines")
    llm = manager.base_llm()
    with torch.no_grad(), llm.lock:
        manager.activate(manager.registry.resolve("bids").chain)
        served = manager._peft(input_ids=ids).logits
        manager.activate([])
        base = manager._peft(input_ids=ids).logits
        exported = merged(input_ids=ids).logits
    assert torch.allclose(exported, served, atol=1e-4)
    assert not torch.allclose(exported, base, atol=1e-3)

    code, _, err = cli("engines", "export", "bids", "--merged", str(out), "--home", str(home))
    assert code == 2 and "exists and is not empty" in err
