"""Shared fixtures. Everything runs offline: an accidental hub call must fail, not hang."""

from __future__ import annotations

import os

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
               "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ[_k] = _v

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
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
    """One models folder for the whole run, so the embedded models are prepared once. ASSISTANT_TEST_MODELS
    names a folder prepared before (reused across runs; a GPU machine's own, where the packages that carry the
    embedded models cannot travel)."""
    prepared = os.environ.get("ASSISTANT_TEST_MODELS")
    return Path(prepared) if prepared else tmp_path_factory.mktemp("models")


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


_JOB_READERS: dict[Path, object] = {}


def job_show(home: Path, job_id: int) -> dict:
    """The job as `assistant jobs show ID --json` prints it, read from the home's database by this process (another
    process than the one running it). Polling through the CLI instead would start an interpreter each time and
    take a CPU core from the job being watched."""
    from assistant.appdb import AppDB
    from assistant.config import load_settings
    from assistant.jobs import JobManager

    if home not in _JOB_READERS:
        _JOB_READERS[home] = JobManager(AppDB(load_settings(home).database_address()))
    jobs = _JOB_READERS[home]
    return {**jobs.get(job_id).to_json(), "metrics": jobs.metrics(job_id)}  # type: ignore[attr-defined]


def queue_job(home: Path, *args: str, env: dict | None = None) -> int:
    """Run `assistant ARGS --queue --json`: the id of the job it queued for the workers."""
    import json

    res = run_cli(*args, "--queue", "--json", home=home, env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["job"]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Path:
    """The demo corpus indexed once for the whole run, through the real `assistant demo` command."""
    import json

    from assistant.components import DEMO_QUESTIONS

    home = tmp_path_factory.mktemp("demo") / "home"
    home.mkdir()
    (home / "models").symlink_to(shared_models, target_is_directory=True)
    res = run_cli("demo", "--no-serve", "--json", home=home)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["home"] == str(home) and out["questions"] == str(DEMO_QUESTIONS) and out["sources"] >= 25
    return home


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebServer:
    """`assistant serve` in a subprocess on a free loopback port, over a copy of the demo home."""

    def __init__(self, home: Path, port: int, passwords: dict[str, str], keys: dict[str, str]) -> None:
        self.home, self.port, self.passwords, self.keys = home, port, passwords, keys
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, extra: list[str] | None = None) -> None:
        import time
        import urllib.request

        log_file = self.home.parent / f"serve-{self.port}.log"
        log = open(log_file, "w")  # noqa: SIM115 - open for the server's lifetime
        self.process = subprocess.Popen([*ASSISTANT, "serve", "--home", str(self.home), "--port", str(self.port),
                                         *(extra or [])], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {log_file.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("the server did not start within 120 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


WEB_USERS = {  # name: (role, groups)
    "ada": ("admin", "leadership,finance"),
    "sam": ("staff", ""),
    "eve": ("evaluator", ""),
}


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory, demo_home: Path):
    """One server for the web and API tests; short answers keep the embedded model quick."""
    import json

    home = tmp_path_factory.mktemp("web") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    (home / "config.toml").write_text("[llm]\nmax_new_tokens = 48\n")
    passwords, keys = {}, {}
    for name, (role, groups) in WEB_USERS.items():
        passwords[name] = f"{name}-password-1"
        args = ["users", "add", name, "--role", role, "--password-stdin", "--json"]
        if groups:
            args += ["--groups", groups]
        res = run_cli(*args, home=home, input=passwords[name] + "\n")
        assert res.returncode == 0, res.stderr
        res = run_cli("users", "key", name, "--json", home=home)
        assert res.returncode == 0, res.stderr
        keys[name] = json.loads(res.stdout)["key"]
    server = WebServer(home, free_port(), passwords, keys)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real `chroma run` server on a free loopback port (server mode; several processes share it)."""
    import socket
    import time

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    log = open(tmp_path / "chroma.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert proc.poll() is None, (tmp_path / "chroma.log").read_text()
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start in 60 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
