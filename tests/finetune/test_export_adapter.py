"""`assistant engines export NAME --adapter DIR`: an engine's whole chain as ONE PEFT LoRA adapter that computes
what the chain computes (float32, within 1e-4), and one clear line for an existing folder or an unknown engine."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from tests.llm_fixtures import make_random_adapter, make_tiny_base


@pytest.fixture(scope="module")
def tiny_base(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def home(make_home, tiny_base: Path) -> Path:
    home = make_home("home", f'[llm]\nmodel = "{tiny_base}"\n')
    engines = home / "engines"
    make_random_adapter(tiny_base, engines / "company" / "v1", seed=1, base=str(tiny_base))
    make_random_adapter(tiny_base, engines / "bids" / "v1", seed=3, r=4, base=str(tiny_base), parent="company@1")
    return home


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _logits(base_folder: Path, adapters: list[Path], ids):  # the chain, as the engines serve it
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        model = PeftModel.from_pretrained(base, str(adapters[0]), adapter_name="a0")
        for i, folder in enumerate(adapters[1:], 1):
            model.load_adapter(str(folder), adapter_name=f"a{i}")
    model.base_model.set_adapter([f"a{i}" for i in range(len(adapters))], inference_mode=True)
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits


def test_the_chain_exported_as_one_adapter_gives_the_chains_logits(home: Path, tiny_base: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = home / "export" / "bids-adapter"
    code, stdout, err = cli("engines", "export", "bids", "--adapter", str(out), "--home", str(home), "--json")
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["engine"] == "bids@1" and doc["chain"] == ["company@1", "bids@1"] and doc["out"] == str(out)
    assert doc["rank"] == 12
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 12  # 8 + 4: ranks concatenated

    ids = AutoTokenizer.from_pretrained(tiny_base)("Where is our Leeds office?", return_tensors="pt").input_ids
    chain = _logits(tiny_base, [home / "engines" / "company" / "v1", home / "engines" / "bids" / "v1"], ids)
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    plain = base(input_ids=ids).logits.detach()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        exported = PeftModel.from_pretrained(base, str(out)).eval()
    with torch.no_grad():
        one = exported(input_ids=ids).logits
    assert torch.allclose(one, chain, atol=1e-4), (one - chain).abs().max()
    assert not torch.allclose(one, plain, atol=1e-3)  # the adapter does change the model

    code, _, err = cli("engines", "export", "bids", "--adapter", str(out), "--home", str(home))
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("engines", "export", "nope", "--adapter", str(home / "x"), "--home", str(home))
    assert code == 2 and "unknown engine 'nope'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("engines", "export", "bids", "--home", str(home))
    assert code == 2 and "exactly one of --merged DIR or --adapter DIR" in err


def test_a_single_adapter_is_exported_as_it_is(home: Path) -> None:
    out = home / "export" / "company"
    code, stdout, err = cli("engines", "export", "company", "--adapter", str(out), "--home", str(home), "--json")
    assert code == 0, err
    assert json.loads(stdout)["chain"] == ["company@1"]
    source = home / "engines" / "company" / "v1" / "adapter_model.safetensors"
    assert (out / "adapter_model.safetensors").read_bytes() == source.read_bytes()
