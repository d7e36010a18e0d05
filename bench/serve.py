"""Serving benchmark: N concurrent OpenAI-API clients against `assistant serve` on loopback.

    python bench/serve.py                          # builds a demo home in a temporary folder, 60 s per N
    python bench/serve.py --seconds 40             # shorter phases
    python bench/serve.py --home H                 # an existing home (e.g. one from `assistant demo --no-serve`)
    python bench/serve.py --models DIR             # new demo home, reusing a prepared models folder (saves ~1 min)
    python bench/serve.py --clients 1,4,16 --max-new-tokens 64
    python bench/serve.py --url http://127.0.0.1:7860 --key sk-...   # a server that is already running

Without --url it starts `assistant serve` on a free loopback port over the home (building a demo home
with `assistant demo --no-serve` when --home is not given), adds a staff user `bench` and gets it an API
key through the CLI, warms the server up with one request (the models load lazily), then for each N
runs N client threads (the official `openai` client, one per thread) that ask the demo questions
(assistant/demo/questions.jsonl) back to back for --seconds. Requests still in flight when the time is
up may finish (within --grace seconds) and count.

Reported per N (a table on stderr, one JSON document on stdout):
  completed        requests answered with HTTP 200 and a non-empty answer
  errors           requests answered with an error (an HTTP error status, or an empty answer)
  lost             requests sent but never answered: connection dropped, timed out, or still open after
                   --grace (goal: 0 errors and 0 lost at N=16)
  p50/p95 s        latency of completed requests, from send to the full answer (non-streaming)
  tokens/s         completion tokens (the server's `usage`) of completed requests / phase wall time
  vs 1 client      tokens/s at N divided by tokens/s at N=1 (generation is serialised per model, so
                   about 1.0 is the expected ceiling on one model; well below 1 means contention)

--max-new-tokens (default 64) is passed to the server as ASSISTANT_LLM__MAX_NEW_TOKENS, so a short run
still completes many requests on a CPU; the home's config.toml is not changed. Use 0 to keep the home's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "assistant" / "demo" / "questions.jsonl"
ASSISTANT = [sys.executable, "-m", "assistant.cli"]
BENCH_USER = "bench"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cli(*args: str, home: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run the real `assistant` command; its stdout, or exit with its error."""
    res = subprocess.run([*ASSISTANT, *args, "--home", str(home)], capture_output=True, text=True, input=stdin,
                         cwd=ROOT, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise SystemExit(f"`assistant {' '.join(args)}` failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return res.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_key_for_bench_user(home: Path) -> str:
    """A staff account through the CLI (as an operator would make one), then a fresh key for it."""
    users = json.loads(cli("users", "list", "--json", home=home))
    if not any(u["user"] == BENCH_USER for u in users):
        password = f"{BENCH_USER}-{os.getpid()}-password"
        cli("users", "add", BENCH_USER, "--role", "staff", "--password-stdin", "--json", home=home,
            stdin=password + "\n")
    return str(json.loads(cli("users", "key", BENCH_USER, "--json", home=home))["key"])


class Server:
    """`assistant serve` in a subprocess on loopback; its log goes to a file, shown if it dies."""

    def __init__(self, home: Path, port: int, env: dict[str, str], log_file: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_file = log_file
        self._log = open(log_file, "w")  # noqa: SIM115 - open for the server's lifetime
        self.process = subprocess.Popen([*ASSISTANT, "serve", "--home", str(home), "--port", str(port),
                                         "--host", "127.0.0.1"], stdout=self._log, stderr=subprocess.STDOUT,
                                        cwd=ROOT, env={**os.environ, **env})

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"the server did not start within {timeout:.0f} s:\n{self.tail()}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"the server exited ({self.process.returncode}):\n{self.tail()}")

    def tail(self) -> str:
        self._log.flush()
        return self.log_file.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


@dataclass
class Phase:
    """What the clients of one N saw; lists are appended from several threads (list.append is atomic)."""

    clients: int
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_sent(self) -> None:
        with self.lock:
            self.sent += 1


def load_questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def client_loop(url: str, key: str, questions: list[str], start: int, deadline: float, timeout: float,
                phase: Phase) -> None:
    """Ask questions back to back until the deadline; each request ends as completed, error or lost."""
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=timeout)
    n = start
    while time.monotonic() < deadline:
        question = questions[n % len(questions)]
        n += 1
        phase.count_sent()
        began = time.perf_counter()
        try:
            resp = client.chat.completions.create(model="base", messages=[{"role": "user", "content": question}])
        except openai.APIStatusError as err:  # the server answered, with an error
            phase.errors.append(f"HTTP {err.status_code}: {str(err)[:200]}")
            continue
        except (openai.APIConnectionError, openai.APITimeoutError) as err:  # sent, never answered
            phase.lost.append(f"{type(err).__name__}: {str(err)[:200]}")
            continue
        elapsed = time.perf_counter() - began
        text = resp.choices[0].message.content if resp.choices else None
        if not text or not text.strip():
            phase.errors.append("empty answer")
            continue
        phase.latencies.append(elapsed)
        phase.tokens.append(resp.usage.completion_tokens if resp.usage else 0)
    client.close()


def warm_up(url: str, key: str, question: str, timeout: float) -> float:
    """One request before timing anything: the server loads the embedder and the LLM on first use."""
    import openai

    began = time.perf_counter()
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=timeout) as client:
        resp = client.chat.completions.create(model="base", messages=[{"role": "user", "content": question}])
    if not resp.choices or not (resp.choices[0].message.content or "").strip():
        raise RuntimeError("an empty answer")
    return time.perf_counter() - began


def run_phase(url: str, key: str, clients: int, seconds: float, grace: float, questions: list[str]) -> dict:
    phase = Phase(clients)
    began = time.perf_counter()
    deadline = time.monotonic() + seconds
    # Each client starts at a different question, so N clients do not ask the same thing in lockstep.
    threads = [threading.Thread(target=client_loop, daemon=True, name=f"client-{i}",
                                args=(url, key, questions, i * 7, deadline, seconds + grace, phase))
               for i in range(clients)]
    for t in threads:
        t.start()
    hard_stop = time.monotonic() + seconds + grace
    for t in threads:
        t.join(max(0.0, hard_stop - time.monotonic()))
    wall = time.perf_counter() - began
    answered = len(phase.latencies) + len(phase.errors) + len(phase.lost)
    still_open = phase.sent - answered  # threads still blocked in a request past the grace period
    lats = sorted(phase.latencies)
    tokens = sum(phase.tokens)
    return {
        "clients": clients, "seconds": round(wall, 1), "sent": phase.sent, "completed": len(lats),
        "errors": len(phase.errors), "lost": len(phase.lost) + still_open,
        "p50_s": round(statistics.median(lats), 2) if lats else None,
        "p95_s": round(percentile(lats, 95), 2) if lats else None,
        "max_s": round(lats[-1], 2) if lats else None,
        "completion_tokens": tokens, "tokens_per_s": round(tokens / wall, 2) if wall > 0 else 0.0,
        "requests_per_min": round(60 * len(lats) / wall, 2) if wall > 0 else 0.0,
        "error_samples": phase.errors[:3], "lost_samples": phase.lost[:3],
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile: an actual observed latency, never an interpolation."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def build_demo_home(folder: Path, models: Path | None) -> Path:
    home = folder / "home"
    home.mkdir(parents=True)
    if models is not None:
        (home / "models").symlink_to(models.resolve(), target_is_directory=True)
    log(f"building a demo home in {home} ...")
    summary = json.loads(cli("demo", "--no-serve", "--json", home=home))
    log(f"  {summary['sources']} sources indexed")
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="home to serve (default: a new demo home in a temporary folder)")
    parser.add_argument("--models", type=Path, help="prepared models folder for a new demo home")
    parser.add_argument("--url", help="benchmark this running server instead of starting one (needs --key)")
    parser.add_argument("--key", help="API key for --url")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default 60)")
    parser.add_argument("--grace", type=float, default=300.0,
                        help="how long requests in flight at the end may take to finish (default 300)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="server's generation cap (0: the home's)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.url and not args.key:
        parser.error("--url needs --key")
    questions = load_questions()
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        server: Server | None = None
        try:
            if args.url:
                url, key = args.url.rstrip("/"), args.key
            else:
                home = args.home.resolve() if args.home else build_demo_home(Path(tmp), args.models)
                key = api_key_for_bench_user(home)
                env = {"ASSISTANT_LLM__MAX_NEW_TOKENS": str(args.max_new_tokens)} if args.max_new_tokens else {}
                server = Server(home, free_port(), env, Path(tmp) / "serve.log")
                server.wait_ready()
                url = server.url
            log(f"server {url}; warming up (the models load on the first request) ...")
            try:
                log(f"  first request {warm_up(url, key, questions[0], args.grace):.1f} s")
            except Exception as err:
                raise SystemExit(f"the warm-up request failed: {err}\n{server.tail() if server else ''}") from err
            phases = []
            for n in counts:
                log(f"{n} client(s) for {args.seconds:g} s ...")
                phases.append(run_phase(url, key, n, args.seconds, args.grace, questions))
                if server is not None:
                    server.check_alive()
        finally:
            if server is not None:
                server.stop()
            # A demo home made here lives in tmp and goes with it; a given home is left as it was
            # (apart from the bench user and its keys).
            if args.home is None and not args.url:
                shutil.rmtree(Path(tmp) / "home", ignore_errors=True)

    base = next((p["tokens_per_s"] for p in phases if p["clients"] == 1), None) or phases[0]["tokens_per_s"]
    for p in phases:
        p["tokens_per_s_vs_1"] = round(p["tokens_per_s"] / base, 3) if base else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    log(f"\n{'N':>3} {'sent':>5} {'done':>5} {'err':>4} {'lost':>4} {'p50 s':>7} {'p95 s':>7} {'tok/s':>7} "
        f"{'vs 1':>5}")
    for p in phases:
        log(f"{p['clients']:>3} {p['sent']:>5} {p['completed']:>5} {p['errors']:>4} {p['lost']:>4} "
            f"{p['p50_s'] or 0:>7.2f} {p['p95_s'] or 0:>7.2f} {p['tokens_per_s']:>7.1f} "
            f"{p['tokens_per_s_vs_1'] or 0:>5.2f}")
        for sample in p["error_samples"] + p["lost_samples"]:
            log(f"    {sample}")
    worst = phases[-1]
    ok = worst["errors"] == 0 and worst["lost"] == 0
    log(f"goal at N={worst['clients']}: no errors and no lost requests: {'ok' if ok else 'NOT MET'}")
    result: dict[str, Any] = {
        "url": "loopback" if not args.url else args.url, "seconds_per_phase": args.seconds,
        "max_new_tokens": args.max_new_tokens or "home", "cpu_count": os.cpu_count(), "load_average_1m": load,
        "phases": phases, "goal_met": ok, "total_seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
