"""Serving benchmark: N concurrent OpenAI-API clients against `assistant serve` on loopback.

    python bench/serve.py                          # builds a demo home in a temporary folder, 60 s per phase
    python bench/serve.py --seconds 40             # shorter phases
    python bench/serve.py --home H                 # an existing home (e.g. one from `assistant demo --no-serve`)
    python bench/serve.py --models DIR             # new demo home, reusing a prepared models folder (saves ~1 min)
    python bench/serve.py --clients 1,4,16 --max-new-tokens 64
    python bench/serve.py --no-mix                 # only the base model (no engines trained)
    python bench/serve.py --url http://127.0.0.1:7860 --key sk-...   # a server that is already running

Without --url it starts `assistant serve` on a free loopback port over the home (building a demo home
with `assistant demo --no-serve` when --home is not given), adds a staff user `bench` and gets it an API
key through the CLI. For the mixed scenario it first builds two engines in the home, when it does not
have both yet: a dozen SFT rows from the demo questions (HOME/datasets/bench-sft.jsonl), then
`assistant train sft --engine company --max-steps 2` and `--engine bids --from company --max-steps 2`
(a chain: bids is trained on top of company), both promoted with `assistant engines promote --force`.
It warms the server up with one streamed request per model (the models and adapters load lazily), then
runs, one phase after another, for --seconds each:

  base    N streamed clients on the base model ("base"), for each N of --clients
  mix     N streamed clients on two engines: each client alternates "company" and "bids" (client i
          starts on the other one from client i-1), so at 16 clients one batch holds rows of both, and
          bids is a chain of two adapters (per-row adapters in one batch); skipped with --no-mix
  plain   1 non-streamed client on "base", to compare streamed with plain generation
  idle, training   --train-clients streamed clients (default 1) on "base", twice, back to back: with no
          job ("idle"), then while a real training job runs in the server's own local worker process
          (`assistant train sft --queue` on the bench SFT rows, engine "bench-load", more steps than
          the phase lasts; the phase starts once it has made a step, and the job is cancelled after it).
          Chat latency while training vs with no job, same run (issue 15); skipped with --no-train
          or --url

Each client is a thread with the official `openai` client that asks the demo questions
(assistant/demo/questions.jsonl) back to back. Streamed requests are `stream=True,
stream_options={"include_usage": True}`. Requests still in flight when the time is up may finish
(within --grace seconds) and count.

Reported per phase (a table on stderr, one JSON document on stdout):
  completed        requests answered with HTTP 200, a non-empty answer and the usage
  errors           requests answered with an error (an HTTP error status, an error event in the stream,
                   an empty answer, or no usage)
  lost             requests sent but never answered: connection dropped, timed out, or still open after
                   --grace
  p50/p95 s        latency of completed requests, from send to the last chunk (or the full answer)
  ttft p50/p95 s   time to first token of completed streamed requests: from send to the first chunk with
                   non-empty content (none for the plain phase)
  tokens/s         completion tokens (the server's `usage`; in a stream, its final usage chunk) of
                   completed requests / phase wall time: the aggregate over all clients
  vs 1 client      tokens/s at N divided by tokens/s at N=1 of the same scenario. Concurrent requests
                   share one batched forward pass (assistant/llm/batching.py), so more clients should
                   get more tokens/s in total; about 1.0 would mean they are served one after another.

The training phases' figures are reported as ratios, training / idle, for p50 and p95 latency, time to
first token and tokens/s ("training_vs_idle" in the JSON); the issue sets no goal for them.

Then the goals (issue 14), each "ok" or "NOT MET" with its figures, at the largest N of --clients
(16 by default):
  base at 16 clients: tokens/s >= 4x one client's, p95 <= 4x one client's p95, 0 errors, 0 lost
  mix at 16 clients: tokens/s >= 3x one client's, and the same p95, errors and lost rules
  streaming: 1 streamed client's tokens/s / 1 plain client's tokens/s >= 0.95, on the same questions
             (the first k each completed), each as its tokens over its requests' summed latency
The exit status is 0 whether or not the goals are met (it is a measurement); 1 when setting up failed
(a command, the server or the warm-up), with that error.

--max-new-tokens (default 64) is passed to the server as ASSISTANT_LLM__MAX_NEW_TOKENS, so a short run
still completes many requests on a CPU; the home's config.toml is not changed. Use 0 to keep the home's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "assistant" / "demo" / "questions.jsonl"
ASSISTANT = [sys.executable, "-m", "assistant.cli"]
BENCH_USER = "bench"
MIX_ENGINES = ("company", "bids")  # bids is trained on top of company: a chain of two adapters
SFT_ROWS = 12
TRAIN_STEPS = "2"
STREAMING_GOAL = 0.95


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cli(*args: str, home: Path, stdin: str | None = None, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0,)) -> str:
    """Run the real `assistant` command; its stdout, or exit with its error (an exit status not in `ok`)."""
    res = subprocess.run([*ASSISTANT, *args, "--home", str(home)], capture_output=True, text=True, input=stdin,
                         cwd=ROOT, env={**os.environ, **(env or {})})
    if res.returncode not in ok:
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


def write_sft_data(path: Path) -> Path:
    """A dozen SFT rows (TRL's conversational format) from the demo questions that have a reference."""
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("reference")][:SFT_ROWS]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": r["question"]},
                                                     {"role": "assistant", "content": r["reference"]}]}) + "\n"
                            for r in rows), encoding="utf-8")
    return path


def start_training_load(home: Path, timeout: float) -> int:
    """Queue a long training run for the server's local worker; its job id once it has made a training step."""
    data = write_sft_data(home / "datasets" / "bench-sft.jsonl")
    job = json.loads(cli("train", "sft", "--data", str(data), "--engine", LOAD_ENGINE, "--max-steps", LOAD_STEPS,
                         "--queue", "--json", home=home))["job"]
    deadline = time.monotonic() + timeout
    while (doc := json.loads(cli("jobs", "show", str(job), "--json", home=home)))["done"] < 1:
        if doc["state"] not in ("queued", "running") or time.monotonic() > deadline:
            raise SystemExit(f"the training job {job} did not start training: {doc['state']} {doc.get('error')}")
        time.sleep(2)
    log(f"  training job {job} is at step {doc['done']}")
    return int(job)


def stop_training_load(home: Path, job: int) -> None:
    """Cancel the job and wait for it to end (`jobs wait` exits 3 for a cancelled job)."""
    cli("jobs", "cancel", str(job), "--json", home=home)
    doc = json.loads(cli("jobs", "wait", str(job), "--timeout", "300", "--json", home=home, ok=(0, 3)))
    log(f"  training job {job}: {doc['state']}")


def training_vs_idle(results: list[PhaseResult]) -> dict[str, float | None] | None:
    """The training phase's figures over the idle phase's (latencies: > 1 is slower while training)."""
    idle = next((r for r in results if r.scenario == IDLE.name), None)
    busy = next((r for r in results if r.scenario == TRAINING.name), None)
    if idle is None or busy is None:
        return None

    def ratio(key: str) -> float | None:
        a, b = getattr(busy, key), getattr(idle, key)
        return round(a / b, 3) if a is not None and b else None

    return {key: ratio(key) for key in ("p50_s", "p95_s", "ttft_p50_s", "ttft_p95_s", "tokens_per_s")}


def build_mix_engines(home: Path) -> list[str]:
    """Train and promote (as the CLI operator) whichever of company and bids@company the home lacks."""
    have = {e["name"] for e in json.loads(cli("engines", "list", "--json", home=home))}
    missing = [name for name in MIX_ENGINES if name not in have]
    if not missing:
        log(f"engines {' and '.join(MIX_ENGINES)} already in the home; not training them")
        return []
    data = write_sft_data(home / "datasets" / "bench-sft.jsonl")
    for name in missing:
        parent = MIX_ENGINES[MIX_ENGINES.index(name) - 1] if name != MIX_ENGINES[0] else None
        log(f"training engine {name}{f' on top of {parent}' if parent else ''} ({TRAIN_STEPS} steps) ...")
        began = time.perf_counter()
        cli("train", "sft", "--data", str(data), "--engine", name, *(["--from", parent] if parent else []),
            "--max-steps", TRAIN_STEPS, "--json", home=home)
        cli("engines", "promote", name, "--force", "--json", home=home)
        log(f"  trained and promoted in {time.perf_counter() - began:.0f} s")
    return missing


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


@dataclass(frozen=True)
class Scenario:
    """What a phase's clients ask for: the model names they take turns with, streamed or not."""

    name: str
    models: tuple[str, ...]
    stream: bool
    during_training: bool = False  # a training job runs in the server's worker throughout the phase


BASE = Scenario("base", ("base",), stream=True)
MIX = Scenario("mix", MIX_ENGINES, stream=True)
PLAIN = Scenario("plain", ("base",), stream=False)
IDLE = Scenario("idle", ("base",), stream=True)
TRAINING = Scenario("training", ("base",), stream=True, during_training=True)
LOAD_ENGINE = "bench-load"
LOAD_STEPS = "100000"  # far more than a phase lasts: the job is cancelled once the phase is over


@dataclass
class Reply:
    """One answered request: its text, completion tokens from the usage (None: no usage), timings."""

    text: str
    tokens: int | None
    latency: float
    ttft: float | None  # streamed requests only


@dataclass
class Phase:
    """What the clients of one phase saw; lists are appended from several threads (list.append is atomic)."""

    clients: int
    sent: int = 0
    replies: list[Reply] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_sent(self) -> None:
        with self.lock:
            self.sent += 1


@dataclass
class PhaseResult:
    """One phase's figures, as they go into the JSON (`phases`) and the table."""

    scenario: str
    models: list[str]
    stream: bool
    clients: int
    seconds: float
    sent: int
    completed: int
    errors: int
    lost: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    completion_tokens: int
    tokens_per_s: float
    requests_per_min: float
    error_samples: list[str]
    lost_samples: list[str]
    tokens_per_s_vs_1: float | None = None
    # (completion tokens, latency) of each completed request, in the order they finished: with one
    # client, the order it asked them in
    requests: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Goal:
    name: str
    met: bool
    detail: str


def load_questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def openai_client(url: str, key: str, timeout: float) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=timeout)


def ask(client: Any, model: str, question: str, stream: bool) -> Reply:
    """One chat completion, streamed (with the usage chunk) or not; timed from send."""
    messages = [{"role": "user", "content": question}]
    began = time.perf_counter()
    if not stream:
        resp = client.chat.completions.create(model=model, messages=messages)
        text = (resp.choices[0].message.content if resp.choices else None) or ""
        tokens = resp.usage.completion_tokens if resp.usage else None
        return Reply(text, tokens, time.perf_counter() - began, None)
    parts: list[str] = []
    ttft = tokens = None
    with client.chat.completions.create(model=model, messages=messages, stream=True,
                                        stream_options={"include_usage": True}) as chunks:
        for chunk in chunks:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta.content:
                    ttft = ttft if ttft is not None else time.perf_counter() - began
                    parts.append(choice.delta.content)
    return Reply("".join(parts), tokens, time.perf_counter() - began, ttft)


def client_loop(url: str, key: str, questions: list[str], scenario: Scenario, start: int, deadline: float,
                timeout: float, phase: Phase) -> None:
    """Ask questions back to back until the deadline; each request ends as completed, error or lost."""
    import httpx
    import openai

    client = openai_client(url, key, timeout)
    n = start
    while time.monotonic() < deadline:
        question, model = questions[n % len(questions)], scenario.models[n % len(scenario.models)]
        n += 1
        phase.count_sent()
        try:
            reply = ask(client, model, question, scenario.stream)
        # Sent, never (fully) answered; httpx's own errors are a stream cut off after it began.
        except (openai.APIConnectionError, openai.APITimeoutError, httpx.TransportError) as err:
            phase.lost.append(f"{type(err).__name__}: {str(err)[:200]}")
            continue
        except openai.APIStatusError as err:  # the server answered, with an error status
            phase.errors.append(f"HTTP {err.status_code}: {str(err)[:200]}")
            continue
        except openai.APIError as err:  # an error event in a stream that had started
            phase.errors.append(f"in the stream: {str(err)[:200]}")
            continue
        if not reply.text.strip():
            phase.errors.append(f"empty answer ({model})")
        elif reply.tokens is None:
            phase.errors.append(f"no usage in the answer ({model})")
        else:
            phase.replies.append(reply)
    client.close()


def warm_up(url: str, key: str, question: str, models: list[str], timeout: float) -> None:
    """One streamed request per model before timing anything: models and adapters load on first use."""
    with openai_client(url, key, timeout) as client:
        offered = {m.id for m in client.models.list()}  # base, and promoted engines as NAME@N
        missing = [m for m in models if m not in offered and not any(o.startswith(f"{m}@") for o in offered)]
        if missing:
            raise RuntimeError(f"the server does not offer {', '.join(missing)} (it offers {sorted(offered)}); "
                               "promote them, or use --no-mix")
        for model in models:
            reply = ask(client, model, question, stream=True)
            if not reply.text.strip() or reply.tokens is None:
                raise RuntimeError(f"{model}: an empty answer or no usage")
            log(f"  {model}: first request {reply.latency:.1f} s")


def run_phase(url: str, key: str, scenario: Scenario, clients: int, seconds: float, grace: float,
              questions: list[str]) -> PhaseResult:
    phase = Phase(clients)
    began = time.perf_counter()
    deadline = time.monotonic() + seconds
    # Each client starts at a different question, so N clients do not ask the same thing in lockstep.
    threads = [threading.Thread(target=client_loop, daemon=True, name=f"client-{i}",
                                args=(url, key, questions, scenario, i * 7, deadline, seconds + grace, phase))
               for i in range(clients)]
    for t in threads:
        t.start()
    hard_stop = time.monotonic() + seconds + grace
    for t in threads:
        t.join(max(0.0, hard_stop - time.monotonic()))
    return summarise(scenario, phase, time.perf_counter() - began)


def summarise(scenario: Scenario, phase: Phase, wall: float) -> PhaseResult:
    replies = list(phase.replies)
    answered = len(replies) + len(phase.errors) + len(phase.lost)
    still_open = phase.sent - answered  # threads still blocked in a request past the grace period
    lats = sorted(r.latency for r in replies)
    ttfts = sorted(r.ttft for r in replies if r.ttft is not None)
    tokens = sum(r.tokens or 0 for r in replies)

    def pct(values: list[float], p: float) -> float | None:
        return round(percentile(values, p), 2) if values else None

    return PhaseResult(
        scenario=scenario.name, models=list(scenario.models), stream=scenario.stream, clients=phase.clients,
        seconds=round(wall, 1), sent=phase.sent, completed=len(replies), errors=len(phase.errors),
        lost=len(phase.lost) + still_open,
        p50_s=round(statistics.median(lats), 2) if lats else None, p95_s=pct(lats, 95),
        max_s=round(lats[-1], 2) if lats else None,
        ttft_p50_s=round(statistics.median(ttfts), 2) if ttfts else None, ttft_p95_s=pct(ttfts, 95),
        completion_tokens=tokens, tokens_per_s=round(tokens / wall, 2) if wall > 0 else 0.0,
        requests_per_min=round(60 * len(replies) / wall, 2) if wall > 0 else 0.0,
        error_samples=phase.errors[:3], lost_samples=phase.lost[:3],
        requests=[(r.tokens or 0, round(r.latency, 3)) for r in replies],
    )


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile: an actual observed value, never an interpolation."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def one_client(results: list[PhaseResult], scenario: str) -> PhaseResult | None:
    return next((r for r in results if r.scenario == scenario and r.clients == 1), None)


def set_ratios_vs_1(results: list[PhaseResult]) -> None:
    """tokens/s vs the same scenario's 1-client phase (its first phase when --clients has no 1)."""
    for r in results:
        ref = one_client(results, r.scenario) or next(p for p in results if p.scenario == r.scenario)
        r.tokens_per_s_vs_1 = round(r.tokens_per_s / ref.tokens_per_s, 3) if ref.tokens_per_s else None


def scaling_goals(results: list[PhaseResult], scenario: str, min_speedup: float) -> list[Goal]:
    """At the scenario's largest N: tokens/s >= min_speedup x one client's, p95 <= 4x, 0 errors, 0 lost."""
    phases = [r for r in results if r.scenario == scenario]
    if not phases:
        return []
    top, one = max(phases, key=lambda r: r.clients), one_client(results, scenario)
    label = f"{scenario} at {top.clients} clients"
    no_failures = Goal(f"{label}: no errors, none lost", top.errors == 0 and top.lost == 0,
                       f"{top.errors} errors, {top.lost} lost of {top.sent} sent")
    if one is None or one is top:
        return [no_failures]
    goals = []
    speedup = top.tokens_per_s / one.tokens_per_s if one.tokens_per_s else 0.0
    goals.append(Goal(f"{label}: tokens/s >= {min_speedup:g}x one client's", speedup >= min_speedup,
                      f"{top.tokens_per_s:.1f} vs {one.tokens_per_s:.1f} tokens/s = {speedup:.2f}x"))
    if top.p95_s is None or not one.p95_s:
        goals.append(Goal(f"{label}: p95 <= 4x one client's", False, "no completed requests to compare"))
    else:
        slowdown = top.p95_s / one.p95_s
        goals.append(Goal(f"{label}: p95 <= 4x one client's", slowdown <= 4,
                          f"{top.p95_s:.2f} s vs {one.p95_s:.2f} s = {slowdown:.2f}x"))
    return [*goals, no_failures]


def streaming_goal(results: list[PhaseResult]) -> tuple[Goal, float | None]:
    """1 streamed client's generation rate over 1 plain client's, on base, on the same questions; and that
    ratio (None: not measured). Both single clients ask the questions in the same order, so the first k
    requests of each (k: the fewer either completed) are the same k questions; each side's rate is their
    tokens over their summed latency, which leaves out the phase's edges (a request cut by the deadline,
    the wait for the last one)."""
    name = f"streaming: 1 streamed client's tokens/s >= {STREAMING_GOAL}x plain, same questions"
    streamed, plain = one_client(results, BASE.name), one_client(results, PLAIN.name)
    if streamed is None or plain is None or not streamed.requests or not plain.requests:
        return Goal(name, False, "not measured (--clients has no 1, or a 1-client phase completed nothing)"), None
    k = min(len(streamed.requests), len(plain.requests))

    def rate(phase: PhaseResult) -> float:
        done = phase.requests[:k]
        return sum(t for t, _ in done) / max(1e-9, sum(s for _, s in done))

    ratio = round(rate(streamed) / rate(plain), 3) if rate(plain) else 0.0
    return Goal(name, ratio >= STREAMING_GOAL, f"{rate(streamed):.2f} streamed vs {rate(plain):.2f} plain tokens/s "
                f"over the same {k} questions = {ratio:.3f}"), ratio


def print_table(results: list[PhaseResult], goals: list[Goal]) -> None:
    def num(value: float | None, width: int, digits: int = 2) -> str:
        return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

    log(f"\n{'scenario':<8} {'N':>3} {'sent':>5} {'done':>5} {'err':>4} {'lost':>4} {'p50 s':>7} {'p95 s':>7} "
        f"{'ttft50':>7} {'ttft95':>7} {'tok/s':>7} {'vs 1':>5}")
    for r in results:
        log(f"{r.scenario:<8} {r.clients:>3} {r.sent:>5} {r.completed:>5} {r.errors:>4} {r.lost:>4} "
            f"{num(r.p50_s, 7)} {num(r.p95_s, 7)} {num(r.ttft_p50_s, 7)} {num(r.ttft_p95_s, 7)} "
            f"{r.tokens_per_s:>7.1f} {num(r.tokens_per_s_vs_1, 5)}")
        for sample in r.error_samples + r.lost_samples:
            log(f"    {sample}")
    log("\ngoals (issue 14; stated for 16 clients):")
    for g in goals:
        log(f"  {'ok' if g.met else 'NOT MET':<8} {g.name}: {g.detail}")


def build_demo_home(folder: Path, models: Path | None) -> Path:
    home = folder / "home"
    home.mkdir(parents=True)
    if models is not None:
        (home / "models").symlink_to(models.resolve(), target_is_directory=True)
    log(f"building a demo home in {home} ...")
    summary = json.loads(cli("demo", "--no-serve", "--json", home=home))
    log(f"  {summary['sources']} sources indexed")
    return home


def _show_server_errors(log_file: Path, most: int = 3) -> None:
    """The server's tracebacks (an "internal error" a client saw), before its log goes with the temp folder:
    each with the log line it belongs to, up to the next log line."""
    lines = log_file.read_text(errors="replace").splitlines() if log_file.exists() else []
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    for i in starts[:most]:
        end = next((j for j in range(i + 1, len(lines)) if _LOG_LINE.match(lines[j])), len(lines))
        log("server traceback:\n" + "\n".join(lines[max(0, i - 1) : min(end, i + 60)]))


_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # a record of the plain format starts so


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="home to serve (default: a new demo home in a temporary folder)")
    parser.add_argument("--models", type=Path, help="prepared models folder for a new demo home")
    parser.add_argument("--url", help="benchmark this running server instead of starting one (needs --key)")
    parser.add_argument("--key", help="API key for --url")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    parser.add_argument("--mix", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the clients on two engines, company and bids (default on)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default 60)")
    parser.add_argument("--grace", type=float, default=300.0,
                        help="how long requests in flight at the end may take to finish (default 300)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="server's generation cap (0: the home's)")
    parser.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure chat while a training job runs, against no job (default on)")
    parser.add_argument("--train-clients", type=int, default=1, help="clients in the idle and training phases")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.url and not args.key:
        parser.error("--url needs --key")
    questions = load_questions()
    train = args.train and not args.url
    if args.train and args.url:
        log("--url: no idle/training phases (they queue a training job in the server's home)")
    plan = [(BASE, n) for n in counts] + [(MIX, n) for n in counts if args.mix] + [(PLAIN, 1)]
    plan += [(IDLE, args.train_clients), (TRAINING, args.train_clients)] if train else []
    models = list(dict.fromkeys(m for scenario, _ in plan for m in scenario.models))
    began = time.perf_counter()
    built: list[str] = []

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        server: Server | None = None
        try:
            if args.url:
                url, key = args.url.rstrip("/"), args.key
            else:
                home = args.home.resolve() if args.home else build_demo_home(Path(tmp), args.models)
                built = build_mix_engines(home) if args.mix else []
                key = api_key_for_bench_user(home)
                env = {"ASSISTANT_LLM__MAX_NEW_TOKENS": str(args.max_new_tokens)} if args.max_new_tokens else {}
                server = Server(home, free_port(), env, Path(tmp) / "serve.log")
                server.wait_ready()
                url = server.url
            log(f"server {url}; warming up (the models load on the first request) ...")
            try:
                warm_up(url, key, questions[0], models, args.grace)
            except Exception as err:
                raise SystemExit(f"the warm-up failed: {err}\n{server.tail() if server else ''}") from err
            results = []
            for scenario, n in plan:
                log(f"{scenario.name}: {n} {'streamed' if scenario.stream else 'non-streamed'} client(s) on "
                    f"{'/'.join(scenario.models)} for {args.seconds:g} s ...")
                job = start_training_load(home, args.grace) if scenario.during_training else None
                results.append(run_phase(url, key, scenario, n, args.seconds, args.grace, questions))
                if job is not None:
                    stop_training_load(home, job)
                if server is not None:
                    server.check_alive()
        finally:
            if server is not None:
                server.stop()
                _show_server_errors(server.log_file)
            # A demo home made here lives in tmp and goes with it; a given home is left as it was
            # (apart from the bench user and its keys, and the engines built for the mix).
            if args.home is None and not args.url:
                shutil.rmtree(Path(tmp) / "home", ignore_errors=True)

    set_ratios_vs_1(results)
    streaming, ratio = streaming_goal(results)
    goals = [*scaling_goals(results, BASE.name, 4), *scaling_goals(results, MIX.name, 3), streaming]
    print_table(results, goals)
    versus_idle = training_vs_idle(results)
    if versus_idle is not None:
        log("\nchat while a training job runs, over chat with no job (same run): "
            + ", ".join(f"{k} {v}x" for k, v in versus_idle.items() if v is not None))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result: dict[str, Any] = {
        "url": "loopback" if not args.url else args.url, "seconds_per_phase": args.seconds,
        "max_new_tokens": args.max_new_tokens or "home", "cpu_count": os.cpu_count(), "load_average_1m": load,
        "mix": args.mix, "engines_built": built, "phases": [asdict(r) for r in results],
        "streaming_ratio": ratio, "training_vs_idle": versus_idle, "goals": [asdict(g) for g in goals],
        "goal_met": all(g.met for g in goals),
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
