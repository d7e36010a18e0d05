"""Shared fixtures. Everything runs offline: an accidental hub call must fail, not hang."""

from __future__ import annotations

import os

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
               "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ[_k] = _v

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASSISTANT = [sys.executable, "-m", "assistant.cli"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read a developer's own home or ASSISTANT_* settings."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models folder for the whole run, so the embedded models are prepared once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def make_home(tmp_path: Path, shared_models: Path):
    """A fresh home whose models/ points at the shared, prepared models."""

    def make(name: str = "home", config: str = "") -> Path:
        home = tmp_path / name
        home.mkdir()
        (home / "models").symlink_to(shared_models, target_is_directory=True)
        if config:
            (home / "config.toml").write_text(config)
        return home

    return make


def run_cli(*args: str, home: Path | None = None, timeout: float = 600, env: dict | None = None,
            **kwargs) -> subprocess.CompletedProcess:
    """Run the real `assistant` command in a subprocess."""
    cmd = [*ASSISTANT, *args]
    if home is not None:
        cmd += ["--home", str(home)]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT, **kwargs)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Path:
    """The demo corpus indexed once for the whole run, through the real `assistant demo` command."""
    import json

    from assistant.services import DEMO_QUESTIONS

    home = tmp_path_factory.mktemp("demo") / "home"
    home.mkdir()
    (home / "models").symlink_to(shared_models, target_is_directory=True)
    res = run_cli("demo", "--no-serve", "--json", home=home)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["home"] == str(home) and out["questions"] == str(DEMO_QUESTIONS) and out["sources"] >= 25
    return home
