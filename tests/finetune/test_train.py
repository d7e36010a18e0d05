"""Training: real TRL SFT and DPO steps with LoRA (on a tiny Llama built from a config, and once on the
embedded SmolLM2), the engine chain, kill-and-resume, and the errors that register nothing."""

from __future__ import annotations

import importlib.util
import json
import math
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.components import Components
from assistant.config import load_settings
from assistant.engines import EngineRegistry
from assistant.training import TrainRequest, run_train
from assistant.work import Foreground
from finetune.callbacks import NanGuard
from finetune.models import CHATML_TRAINING_TEMPLATE
from finetune.validate import file_sha256
from tests.conftest import ASSISTANT, ROOT
from tests.dataset_fixtures import dpo_rows, write_jsonl
from tests.llm_fixtures import make_tiny_base

pytestmark = pytest.mark.slow


# -- helpers ------------------------------------------------------------------------------------------------
def sft_rows(n: int) -> list[dict]:
    return [{"messages": [
        {"role": "system", "content": "You are the company's assistant."},
        {"role": "user", "content": f"Where is office {i}?"},
        {"role": "assistant", "content": f"Office {i} is in Leeds, at {i} Calder Quay."},
    ]} for i in range(n)]


def write_set(folder: Path, name: str, rows: list[dict], val: int = 2) -> Path:
    """NAME.jsonl and NAME.val.jsonl (the last `val` rows), as datagen writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    if val:
        write_jsonl(folder / f"{name}.val.jsonl", rows[-val:])
    return write_jsonl(folder / f"{name}.jsonl", rows[:-val] if val else rows)


# -- tests -------------------------------------------------------------------------------------------------

QUESTION = [{"role": "user", "content": "Where is office 3?"}]
FAST = ["--max-length", "64", "--batch-size", "2", "--lr", "1e-2"]


@pytest.fixture(scope="module")
def tiny_base(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def tiny_home(make_home, tiny_base: Path) -> Path:
    return make_home("home", f'[llm]\nmodel = "{tiny_base}"\nmax_new_tokens = 8\n')


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sft_then_dpo_on_top_is_a_recorded_servable_chain(tiny_home: Path, tiny_base: Path) -> None:
    data = write_set(tiny_home / "datasets", "sft", sft_rows(12))
    code, out, err = cli("train", "sft", "--data", str(data), "--engine", "company", "--max-steps", "8",
                         "--eval-steps", "4", *FAST, "--home", str(tiny_home), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {"engine", "version", "metrics", "seconds"} <= set(doc) and (doc["engine"], doc["version"]) == ("company", 1)
    m = doc["metrics"]
    assert m["steps"] == 8 and all(math.isfinite(m[k]) for k in ("first_loss", "train_loss", "best_eval_loss"))
    assert m["train_loss"] < m["first_loss"]  # SFT lowers the training loss
    assert m["best_step"] in (4, 8) and m["tokens_seen"] > 0 and "8/8" in err  # the progress bar on stderr

    folder = tiny_home / "engines" / "company" / "v1"
    record = json.loads((folder / "engine.json").read_text())
    assert record["parent"] is None and record["base"] == str(tiny_base)
    assert record["data_sha256"] == file_sha256(data, data.with_name("sft.val.jsonl"))
    hyper = record["hyperparameters"]
    assert hyper["lora_r"] == 16 and hyper["learning_rate"] == 1e-2 and hyper["loss"] == "assistant_only"
    assert hyper["train_rows"] == 10 and hyper["validation_rows"] == 2 and record["metrics"]["seconds"] > 0
    steps = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "loss" in s] == list(range(1, 9))
    assert [s["step"] for s in steps if "eval_loss" in s] == [4, 8]
    assert not (tiny_home / "engines" / "company" / ".runs").exists() or not any(
        (tiny_home / "engines" / "company" / ".runs").iterdir())

    pairs = write_set(tiny_home / "datasets", "dpo", dpo_rows(10))
    code, out, err = cli("train", "dpo", "--data", str(pairs), "--engine", "bids", "--from", "company",
                         "--max-steps", "6", "--eval-steps", "3", *FAST, "--home", str(tiny_home), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["parent"] == "company@1"
    assert doc["metrics"]["rewards/margins"] > doc["metrics"]["first_rewards/margins"]  # DPO raises the margin
    chain = EngineRegistry(tiny_home / "engines").resolve("bids").chain
    assert [r.ref for r in chain] == ["company@1", "bids@1"]
    assert chain[-1].hyperparameters["loss"] == "dpo_sigmoid"

    # Other TRL loss types, summed: per-token DPO plus NLL on the won answers.
    code, out, err = cli("train", "dpo", "--data", str(pairs), "--engine", "bids", "--from", "company", "--max-steps",
                         "2", "--loss-type", "sigmoid_norm", "--loss-type", "sft", *FAST, "--home", str(tiny_home),
                         "--json")
    assert code == 0, err
    hyper = EngineRegistry(tiny_home / "engines").resolve("bids@2").record.hyperparameters
    assert hyper["loss"] == "dpo_sigmoid_norm+sft" and hyper["loss_type"] == ["sigmoid_norm", "sft"]
    assert math.isfinite(json.loads(out)["metrics"]["train_loss"])

    svc = Components(load_settings(tiny_home))
    answers = {name: svc.engine(name).generate(QUESTION, 8) for name in ("base", "company", "bids")}
    assert len(set(answers.values())) == 3, answers

    # --mode continue trains company's adapter further: a new version with company's parent, not company@1.
    code, out, err = cli("train", "sft", "--data", str(data), "--engine", "company", "--from", "company",
                         "--mode", "continue", "--max-steps", "2", "--report-to", "tensorboard", *FAST, "--home",
                         str(tiny_home), "--json")
    assert code == 0, err
    record = EngineRegistry(tiny_home / "engines").resolve("company@2")
    assert record.record.parent is None and record.record.hyperparameters["continued_from"] == "company@1"
    assert [r.ref for r in record.chain] == ["company@2"]
    # --report-to tensorboard: event files in HOME/tracking/company-v2, kept after the run folder goes, and
    # the version says where they are and how to open them.
    tracking = record.record.hyperparameters["tracking"]
    assert tracking == {"report_to": "tensorboard", "dir": str(tiny_home / "tracking" / "company-v2"),
                        "open": f"tensorboard --logdir {tiny_home / 'tracking' / 'company-v2'}"}
    events = list((tiny_home / "tracking" / "company-v2").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_the_train_options_are_the_recipe_fields() -> None:
    """Each knob is declared once, on TrainRecipe: `train sft|dpo` offer exactly the fields TRAIN_OPTIONS names,
    under their flags, with the field's description as help, and None (the recipe decides) when not given."""
    from typer.main import get_command

    from finetune.recipes import TRAIN_OPTIONS, TrainRecipe, recipe_fields

    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    fixed = {"data", "engine", "from_engine", "resume", "recipe", "val", "queue", "home", "as_json", "help"}
    for kind in ("sft", "dpo"):
        params = {p.name: p for p in train.commands[kind].params}
        assert set(params) - fixed == set(TRAIN_OPTIONS[kind])
        for field in recipe_fields(kind):
            option = params[field.name]
            assert field.flag in option.opts and option.default is None
            assert option.help.startswith(TrainRecipe.model_fields[field.name].description)
    sft = {p.name: p for p in train.commands["sft"].params}
    dpo = {p.name: p for p in train.commands["dpo"].params}
    assert "--lr" in sft["learning_rate"].opts and "--no-packing" in sft["packing"].secondary_opts
    assert dpo["loss_type"].multiple and "beta" not in sft and "packing" not in dpo
    assert "[default: 16; 1<=x<=1024]" in sft["lora_r"].help


def test_assistant_only_loss_trains_the_answers_and_their_end_of_turn(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    messages = sft_rows(1)[0]["messages"]
    own = tokenizer.apply_chat_template(messages, tokenize=False)
    assert tokenizer.apply_chat_template(messages, tokenize=False, chat_template=CHATML_TRAINING_TEMPLATE) == own
    enc = tokenizer.apply_chat_template(messages, chat_template=CHATML_TRAINING_TEMPLATE, return_dict=True,
                                        return_assistant_tokens_mask=True)
    trained = [t for t, keep in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if keep]
    assert tokenizer.decode(trained) == "Office 0 is in Leeds, at 0 Calder Quay.<|im_end|>"


def test_bad_inputs_fail_in_one_line_and_register_nothing(tiny_home: Path, tmp_path: Path) -> None:
    home = ["--home", str(tiny_home)]
    good = write_set(tmp_path, "good", sft_rows(4), val=0)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(json.dumps(sft_rows(1)[0]) + "\n{not json\n")
    no_field = tmp_path / "nofield.jsonl"
    no_field.write_text(json.dumps({"prompt": "hi"}) + "\n")
    empty_turn = tmp_path / "empty.jsonl"
    row = sft_rows(1)[0]
    row["messages"][2]["content"] = " "
    empty_turn.write_text(json.dumps(row) + "\n")
    empty = tmp_path / "none.jsonl"
    empty.write_text("\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("lora_r: 8\nbogus: 1\n")
    weights = tmp_path / "weights.yaml"
    weights.write_text("loss_type: [sigmoid, sft]\nloss_weights: [1.0]\n")
    cases = [
        (["train", "sft", "--data", str(tmp_path / "missing.jsonl"), "--engine", "x"], "no such data file"),
        (["train", "sft", "--data", str(bad_json), "--engine", "x"], f"{bad_json}:2: not valid JSON"),
        (["train", "sft", "--data", str(no_field), "--engine", "x"], f'{no_field}:1: missing "messages"'),
        (["train", "sft", "--data", str(empty_turn), "--engine", "x"], "message 3 (assistant) is empty"),
        (["train", "dpo", "--data", str(good), "--engine", "x"], f'{good}:1: missing "prompt"'),
        (["train", "sft", "--data", str(empty), "--engine", "x"], "the dataset is empty"),
        (["train", "sft", "--data", str(good), "--engine", "x", "--from", "nope"], "unknown engine 'nope'"),
        (["train", "sft", "--data", str(good), "--engine", "x", "--recipe", str(recipe)], "bogus: unknown field"),
        (["train", "sft", "--data", str(good), "--engine", "x", "--resume"], "nothing to resume"),
        (["train", "dpo", "--data", str(good), "--engine", "x", "--loss-type", "bogus"], "loss_type.0: Input"),
        (["train", "dpo", "--data", str(good), "--engine", "x", "--recipe", str(weights)], "1 weights for 2"),
        (["train", "sft", "--data", str(good), "--engine", "no/such"], "invalid engine name"),
        (["train", "sft", "--data", str(good), "--engine", "x", "--mode", "continue"], "name it with --from"),
        # The options carry no bounds of their own: the recipe's are checked, as for the web form.
        (["train", "sft", "--data", str(good), "--engine", "x", "--lora-r", "0"], "lora_r: Input should be greater"),
        (["train", "sft", "--data", str(good), "--engine", "x", "--mode", "merge"], "mode: Input should be 'stack'"),
        (["train", "sft", "--data", str(good), "--engine", "x", "--report-to", "wandb"], "report_to: Input should be"),
    ]
    missing = next((t for t in ("mlflow", "trackio") if importlib.util.find_spec(t) is None), None)
    if missing:  # a tracker whose package is not installed: refused before any model loads, saying what to install
        cases.append((["train", "sft", "--data", str(good), "--engine", "x", "--report-to", missing],
                      f"needs the {missing} package: pip install {missing}"))
    for args, message in cases:
        code, _out, err = cli(*args, *home)
        assert code == 2, (args, err)
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], (args, err)
        assert "Traceback" not in err
    assert EngineRegistry(tiny_home / "engines").names() == []


def test_a_nan_loss_stops_the_run() -> None:
    from transformers import TrainerControl, TrainerState

    guard, control, state = NanGuard(), TrainerControl(), TrainerState()
    state.global_step = 3
    guard.on_log(None, state, control, logs={"loss": 2.5})
    assert not control.should_training_stop
    guard.on_log(None, state, control, logs={"loss": float("nan")})
    assert control.should_training_stop and guard.bad_step == 3


def test_resume_after_kill_continues_the_step_count(tiny_home: Path) -> None:
    data = write_set(tiny_home / "datasets", "sft", sft_rows(10), val=0)
    args = ["train", "sft", "--data", str(data), "--engine", "resumable", "--max-steps", "12", "--save-steps", "3",
            *FAST, "--home", str(tiny_home), "--json"]
    run_dir = tiny_home / "engines" / "resumable" / ".runs" / "v1"
    proc = subprocess.Popen([*ASSISTANT, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if any((c / "trainer_state.json").is_file() for c in run_dir.glob("checkpoint-*")):
            proc.send_signal(signal.SIGKILL)  # no clean-up: as if the machine died
            break
        time.sleep(0.02)
    assert proc.wait(60) == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    assert EngineRegistry(tiny_home / "engines").names() == []  # nothing registered by the killed run

    # The data changed: that run cannot be resumed on it.
    original = data.read_text()
    data.write_text(original + json.dumps(sft_rows(11)[-1]) + "\n")
    code, _out, err = cli(*args, "--resume")
    assert code == 2 and "the data changed since the run started" in err
    data.write_text(original)

    code, out, err = cli(*args, "--resume")
    assert code == 0, err
    doc = json.loads(out)
    resumed = doc["metrics"]["resumed_from_step"]
    assert 3 <= resumed < 12 and resumed % 3 == 0 and doc["metrics"]["steps"] == 12
    steps = [json.loads(line)["step"] for line in
             (tiny_home / "engines" / "resumable" / "v1" / "metrics.jsonl").read_text().splitlines()]
    logged = [s for s in steps if s <= 12]
    assert sorted(set(logged)) == list(range(1, 13)) and logged == sorted(logged)  # continued, not restarted at 1
    assert EngineRegistry(tiny_home / "engines").resolve("resumable").record.metrics["resumed_from_step"] == resumed


def test_out_of_memory_mid_run_registers_nothing_and_resume_finishes(tiny_home: Path) -> None:
    """A GPU running out of memory cannot happen on this CPU-only machine, so the test raises torch's own
    OutOfMemoryError from inside the real training loop at step 4 (through the per-step stop hook, where a
    CUDA allocation would fail): the run must stop with advice, register nothing, and resume from step 3."""
    import torch

    from finetune.errors import TrainingError

    settings = load_settings(tiny_home)
    data = write_set(tiny_home / "datasets", "oom", sft_rows(8), val=0)
    overrides = {"max_steps": 6, "save_steps": 3, "max_length": 64, "batch_size": 2, "learning_rate": 1e-2}

    class OutOfMemoryAtStep4(Foreground):
        """Training asks whether to stop once a step: the fourth time, the GPU runs out of memory."""

        asked = 0

        @property
        def cancelled(self) -> bool:
            self.asked += 1
            if self.asked == 4:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return False

    with pytest.raises(TrainingError, match=r"out of memory at step 4: lower batch_size \(2\) or max_length "
                                            r"\(64\); --resume continues"):
        run_train(settings, TrainRequest("sft", data, "oom", overrides=overrides), OutOfMemoryAtStep4())
    assert EngineRegistry(tiny_home / "engines").names() == []

    doc = run_train(settings, TrainRequest("sft", data, "oom", overrides=overrides, resume=True))
    assert doc["metrics"]["resumed_from_step"] == 3 and doc["metrics"]["steps"] == 6
    assert EngineRegistry(tiny_home / "engines").resolve("oom").record.version == 1


def test_the_embedded_model_learns_an_adapter_that_changes_its_answers(make_home, tmp_path: Path) -> None:
    home = make_home("embedded", "[llm]\nmax_new_tokens = 12\n")
    data = write_set(tmp_path, "sft", sft_rows(6), val=0)
    doc = run_train(load_settings(home), TrainRequest("sft", data, "offices", overrides={
        "max_steps": 2, "max_length": 96, "batch_size": 2, "learning_rate": 5e-3, "lora_r": 8}))
    assert doc["metrics"]["steps"] == 2 and math.isfinite(doc["metrics"]["train_loss"])
    assert doc["base"] == "embedded"
    svc = Components(load_settings(home))
    base, tuned = svc.engine("base").generate(QUESTION), svc.engine("offices").generate(QUESTION)
    assert base != tuned, base


def test_the_cpu_lm_head_matches_trls_fused_head() -> None:
    """finetune.lean_head scores only the labelled positions (without the mask of a right-padded batch); its
    outputs and gradients are TRL's own."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from finetune.lean_head import add_lean_lm_head

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True))
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "mean_logits", "is_top1", "log_sum_sq_probs"))
    ids = torch.randint(0, 1000, (2, 30))
    labels = ids.clone()
    labels[:, :12] = -100  # the prompt
    labels[1, 25:] = -100  # padding

    attention_mask = torch.ones_like(ids)
    attention_mask[1, 25:] = 0  # right padding, as TRL's preference collator pads: the lean head drops the mask

    def run() -> tuple[object, dict[str, torch.Tensor]]:
        model.zero_grad()
        out = model(input_ids=ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
        out.loss.backward()
        return out, {n: p.grad.clone() for n, p in model.named_parameters()}

    trl_out, trl_grads = run()
    assert add_lean_lm_head(model)
    out, grads = run()
    for field in ("loss", "log_probs", "entropy", "mean_logits", "is_top1", "log_sum_sq_probs", "label_mask"):
        torch.testing.assert_close(getattr(out, field).float(), getattr(trl_out, field).float(), atol=1e-5, rtol=1e-5)
    for name, grad in trl_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=1e-6, rtol=1e-4)
    assert float(out.log_probs.detach()[0, :11].abs().sum()) == 0 and bool(out.label_mask[0, 11:].all())
