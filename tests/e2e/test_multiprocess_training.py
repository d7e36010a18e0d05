"""A queued training run spread over several processes (issue 15, jobs.train_processes): on the CPU two gloo
ranks under torch.distributed.run train a tiny model; rank 0 alone reports to the job (one metrics row a step)
and registers the one version. And the settings that choose it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from assistant.config import ConfigError, load_settings
from tests.conftest import ASSISTANT, ROOT, job_show, queue_job, run_cli
from tests.finetune.test_train import FAST, sft_rows, write_set
from tests.llm_fixtures import make_tiny_base

WAIT = 300.0


@pytest.fixture(scope="module")
def tiny_base(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(shared_models, tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.mark.slow
def test_a_queued_run_on_two_processes_registers_one_version_with_one_loss_row_a_step(make_home,
                                                                                      tiny_base: Path) -> None:
    home = make_home(config=f'[llm]\nmodel = "{tiny_base}"\nmax_new_tokens = 8\n[jobs]\npoll_seconds = 0.2\n')
    env = {"ASSISTANT_JOBS__TRAIN_PROCESSES": "2"}
    data = write_set(home / "datasets", "sft", sft_rows(8), val=0)
    job_id = queue_job(home, "train", "sft", "--data", str(data), "--engine", "spread", "--max-steps", "3", *FAST)
    worker = subprocess.Popen([*ASSISTANT, "worker", "--kinds", "train", "--home", str(home)], cwd=ROOT,
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        res = run_cli("jobs", "wait", str(job_id), "--timeout", str(WAIT), "--json", home=home)
    finally:
        worker.terminate()
        worker.wait(60)
    doc = job_show(home, job_id)
    assert res.returncode == 0, (doc["error"], doc["log"][-30:])
    log = "\n".join(doc["log"])
    assert "Training on 2 processes (torch.distributed.run" in log, log
    assert "training process 0 of 2" in log and "MULTI_CPU over gloo" in log, log  # really two ranks, in one group
    res = run_cli("engines", "list", "--json", home=home)
    assert [(e["name"], e["version"]) for e in json.loads(res.stdout)] == [("spread", 1)]  # rank 0's alone
    record = json.loads((home / "engines" / "spread" / "v1" / "engine.json").read_text())
    assert record["metrics"]["steps"] == 3 and "train_loss" in record["metrics"]
    assert doc["result"]["version"] == 1 and doc["result"]["metrics"]["steps"] == 3
    assert [m["step"] for m in doc["metrics"] if "loss" in m] == [1, 2, 3]  # once a step, not once a rank
    assert doc["metrics"][0]["epoch"] == 0.5  # 8 rows, 2 a batch on each of 2 ranks: the data is shared out
    assert not list((home / "engines" / "spread").glob(".runs/*"))  # the run folder and the ranks' folder


@pytest.mark.slow
def test_a_rank_failure_is_the_jobs_error_and_a_cancel_stops_every_rank_at_one_checkpoint(make_home,
                                                                                        tiny_base: Path) -> None:
    from assistant.services import Services, operator

    home = make_home(config=f'[llm]\nmodel = "{tiny_base}"\nmax_new_tokens = 8\n[jobs]\npoll_seconds = 0.2\n'
                            'train_processes = 2\n')
    services = Services(load_settings(home))
    data = write_set(home / "datasets", "sft", sft_rows(8), val=0)
    broken = queue_job(home, "train", "sft", "--data", str(data), "--engine", "broken", "--resume", *FAST)
    stopped = queue_job(home, "train", "sft", "--data", str(data), "--engine", "stopped", "--max-steps", "5",
                        "--save-steps", "100", *FAST)
    worker = subprocess.Popen([*ASSISTANT, "worker", "--kinds", "train", "--home", str(home)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        failed = _ended(home, broken)
        assert failed["state"] == "failed", failed
        assert failed["error"].startswith("nothing to resume") and "(training process " in failed["error"], failed
        log = "\n".join(failed["log"])
        assert "the training processes' last output" in log and "TrainingError: nothing to resume" in log, log

        deadline = time.monotonic() + WAIT  # cancelled before the ranks are up: they stop at their first step
        while "Training on 2 processes" not in "\n".join(job_show(home, stopped)["log"]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        services.jobs.cancel(operator(), stopped)
        assert _ended(home, stopped)["state"] == "cancelled"
        run_dir = home / "engines" / "stopped" / ".runs" / "v1"
        assert (run_dir / "checkpoint-1" / "trainer_state.json").is_file(), list(run_dir.iterdir())

        again = services.jobs.retry(operator(), stopped).id  # resumes, on two processes again
        resumed = _ended(home, again)
    finally:
        worker.terminate()
        worker.wait(60)
    assert resumed["state"] == "done", (resumed["error"], resumed["log"][-20:])
    assert resumed["result"]["metrics"]["resumed_from_step"] == 1
    assert [m["step"] for m in resumed["metrics"] if "loss" in m] == [2, 3, 4, 5]
    assert [(e["name"], e["version"]) for e in services.engines.list(operator())] == [("stopped", 1)]


def _ended(home: Path, job_id: int) -> dict:
    deadline = time.monotonic() + WAIT
    while (doc := job_show(home, job_id))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, doc["log"][-10:]
        time.sleep(0.2)
    return doc


# -- the settings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[jobs]\ntrain_processes = 0\n", "jobs.train_processes"),
        ("[jobs]\ntrain_accelerate_config = 'no-such.yaml'\n", "jobs.train_accelerate_config"),
        ("[jobs]\nrunner = 'ray'\nray_address = 'auto'\ntrain_processes = 4\nray_train_gpus = 2\n", "train_processes"),
        ("[jobs]\nrunner = 'ray'\nray_address = 'auto'\nray_train_gpus = 2.5\n", "ray_train_gpus"),
    ],
)
def test_bad_training_process_settings_name_the_field(tmp_path: Path, toml: str, field: str) -> None:
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings(tmp_path)


def test_a_shipped_accelerate_config_is_found_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("[jobs]\ntrain_processes = 2\n"
                                          "train_accelerate_config = 'finetune/accelerate/zero2.yaml'\n")
    monkeypatch.chdir(tmp_path)
    jobs = load_settings(tmp_path).jobs
    assert jobs.train_accelerate_config == ROOT / "finetune" / "accelerate" / "zero2.yaml"
    assert jobs.training_processes() == 2


def test_on_ray_the_gpus_reserved_are_the_processes(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[jobs]\nrunner = 'ray'\nray_address = 'auto'\nray_train_gpus = 4\n")
    assert load_settings(tmp_path).jobs.training_processes() == 4
    (tmp_path / "config.toml").write_text("[jobs]\nray_train_gpus = 4\n")  # the process runner reserves nothing
    assert load_settings(tmp_path).jobs.training_processes() == 1


def test_on_ray_a_training_job_reserves_a_gpu_for_each_process() -> None:
    from types import SimpleNamespace

    from assistant.config import JobsSettings
    from assistant.ray_runner import RayCluster

    cluster = RayCluster.__new__(RayCluster)  # no cluster: only its resources rule
    cluster.settings, cluster.address = JobsSettings(runner="ray", ray_address="auto", train_processes=2), "auto"
    cluster.ray = SimpleNamespace(cluster_resources=lambda: {"GPU": 4.0})
    assert cluster.resources("train")["num_gpus"] == 2 and cluster.resources("index")["num_gpus"] == 0
    cluster.ray = SimpleNamespace(cluster_resources=lambda: {})  # a CPU cluster: the ranks train on the CPU
    assert cluster.resources("train")["num_gpus"] == 0
