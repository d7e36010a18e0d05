"""A queued training run on several processes, one per GPU (`jobs.train_processes` > 1).

The job's own process (the one holding its Work: a worker's child process or a Ray task) does not train: it
launches the ranks with `accelerate launch` (`jobs.train_accelerate_config`, e.g. the shipped DeepSpeed ZeRO
and FSDP configs; unset: plain multi-GPU DDP), or with `torch.distributed.run` on a machine without GPUs
(gloo on the CPU: accelerate's own CPU launcher needs mpirun), each rank running `python -m
assistant.train_ranks FOLDER`. FOLDER (HOME/engines/NAME/.runs/.ranks-*, removed at the end) carries the
request (encoded as a job's payload is), and back: rank 0's progress, log lines and metrics rows as JSON
lines the job process replays into its Work (so the job's row has one writer, and its loss curve one row a
step), rank 0's result, each failed rank's error, and the ranks' output. Rank 0 alone registers the version
(assistant.training.run_train under `is_main_process`); the other ranks report nothing.

A cancel (or the worker stopping) is a `stop` file in FOLDER: every rank reads it after each step and they
agree through one all-reduce, so all stop at the same step and save a checkpoint together (a rank stopping
alone would leave the others waiting in a collective). Ranks still running `jobs.cancel_grace_seconds` later
are terminated. The launcher dies with the job's process and each rank with its launcher (Linux), so a killed
job never leaves ranks that go on to register a version. Checkpoints stay in HOME/engines/NAME/.runs/vN, so
`jobs retry` resumes on as many processes as it is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.job_payload import decode, encode
from assistant.jobs import signal_on_parent_death
from assistant.training import TrainRequest
from assistant.work import Work

SPEC, EVENTS, RESULT, STOP, OUTPUT = "spec.json", "events.jsonl", "result.json", "stop", "ranks.log"
TAIL_LINES = 20
POLL_S = 0.25

# The launcher's first act: die with the job's process (PR_SET_PDEATHSIG), then become the launcher.
_TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "owner = int(sys.argv[1])\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "    if os.getppid() != owner:\n"
    "        sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


# -- the job's process: launch, relay, wait ------------------------------------------------------------------
def train_on_ranks(settings: Settings, request: TrainRequest, work: Work, processes: int) -> dict[str, Any]:
    """Train `request` on `processes` ranks and return rank 0's result (the `train` command's document)."""
    from finetune.errors import TrainingError
    from finetune.train import TrainingCancelled

    runs = settings.paths.engines / request.engine / ".runs"
    runs.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".ranks-", dir=runs))
    try:
        (folder / SPEC).write_text(json.dumps({"home": str(settings.home), "owner": os.getpid(),
                                               "request": encode(request)}), encoding="utf-8")
        command, env, how = _launch_command(settings, processes, folder)
        work.message(f"Training on {processes} processes ({how})")
        with open(folder / OUTPUT, "wb") as output:
            launcher = subprocess.Popen([sys.executable, "-c", _TRAMPOLINE, str(os.getpid()), *command],
                                        stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            try:
                stopping = _wait(launcher, folder, work, settings.jobs.cancel_grace_seconds)
            finally:
                if launcher.poll() is None:  # this process is failing: its ranks go with it
                    launcher.terminate()
                    try:
                        launcher.wait(10)
                    except subprocess.TimeoutExpired:
                        launcher.kill()
                        launcher.wait()
        result_file = folder / RESULT
        if launcher.returncode == 0 and result_file.is_file():  # registered, even if a cancel came too late
            return json.loads(result_file.read_text(encoding="utf-8"))
        # The first to fail is the cause; the others mostly lost it in a collective.
        failures = sorted((json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("failed-*.json")),
                          key=lambda f: (f["time"], f["rank"]))
        if stopping or any(f.get("cancelled") for f in failures):
            stopped = next((f["error"] for f in failures if f.get("cancelled")), None)
            raise TrainingCancelled(stopped or f"the {processes} training processes were stopped; `assistant jobs "
                                    "retry` resumes from the last checkpoint")
        tail = _tail(folder / OUTPUT, 2 * TAIL_LINES)
        if tail:
            work.log("the training processes' last output:\n" + tail)
        if not failures:  # killed (out of memory?) or failed before it could say: the launcher's summary says
            raise TrainingError(f"the training processes' launcher exited with code {launcher.returncode}"
                                + (f"; their last output:\n{_tail(folder / OUTPUT)}" if tail else ""))
        first = failures[0]
        work.log(f"training process {first['rank']} failed first:\n{first['traceback']}")
        why = f"{first['error']} (training process {first['rank']} of {processes})"
        if not first.get("user"):  # a bug or the hardware's error: where it happened, from the rank's stderr
            why += "; its last output:\n" + first["traceback"]
        raise TrainingError(why)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _launch_command(settings: Settings, processes: int, folder: Path) -> tuple[list[str], dict[str, str], str]:
    """(argv after the interpreter, environment, how it is said in the log)."""
    import torch

    from finetune.errors import TrainingError

    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    port = str(_free_port())
    config = settings.jobs.train_accelerate_config
    rank = ["-m", "assistant.train_ranks", str(folder)]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus:
        if processes > gpus:
            raise TrainingError(f"jobs.train_processes asks for {processes} processes, one per GPU, but this machine "
                                f"shows {gpus} GPU(s) (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')})")
        launch = ["-m", "accelerate.commands.launch", "--num_processes", str(processes), "--num_machines", "1",
                  "--main_process_port", port]
        launch += ["--config_file", str(config)] if config else ["--multi_gpu"]
        how = f"accelerate launch, {config.name if config else 'multi-GPU DDP'}, on {processes} of {gpus} GPUs"
        return [*launch, *rank], env, how
    # No GPU: accelerate's CPU launcher needs mpirun; torch's own launcher runs gloo ranks on the CPU.
    env["ACCELERATE_USE_CPU"] = "true"
    launch = ["-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--nnodes", "1",
              "--master_addr", "127.0.0.1", "--master_port", port]
    how = "torch.distributed.run, DDP over gloo on the CPU" + (
        f"; {config.name} is for GPUs and is not used here" if config else "")
    return [*launch, *rank], env, how


def _wait(launcher: subprocess.Popen, folder: Path, work: Work, grace: float) -> bool:
    """Relay rank 0's reports into `work` until the launcher exits; True when a stop was asked for (cancel)."""
    from assistant.jobs import JobCancelled

    events = _Events(folder / EVENTS)
    asked: float | None = None
    terminated: float | None = None
    while True:
        done = launcher.poll() is not None
        for event in events.read():
            with contextlib.suppress(JobCancelled):  # seen just below: the ranks are asked to stop
                _replay(work, event)
        if done:
            return asked is not None
        if asked is None and work.cancelled:
            (folder / STOP).touch()
            asked = time.monotonic()
            work.log("stopping the training processes at their next step (a checkpoint is saved)")
        if asked is not None and terminated is None and time.monotonic() - asked > 0.8 * grace:
            work.log(f"the training processes did not stop within {0.8 * grace:.0f} s: terminating them")
            launcher.terminate()  # the launcher stops its ranks
            terminated = time.monotonic()
        if terminated is not None and time.monotonic() - terminated > 10:
            launcher.kill()  # each rank dies with it
        time.sleep(POLL_S)


def _replay(work: Work, event: dict[str, Any]) -> None:
    kind, value = event["t"], event.get("v")
    if kind == "message":
        work.message(value)
    elif kind == "log":
        work.log(value)
    elif kind == "start":
        work.start(*value)
    elif kind == "advance":
        work.advance(*value)
    elif kind == "finish":
        work.finish()
    elif kind == "record":
        work.record(value)


class _Events:
    """The complete lines appended to rank 0's events file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "\n".join(line.rstrip() for line in deque(fh, maxlen=lines) if line.strip())
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a rank -------------------------------------------------------------------------------------------------
class _RankWork:
    """A rank's Work: rank 0 appends its reports to the events file, the others say nothing. `cancelled`
    is asked by every rank after each step (finetune's StopFlag) and is the same on all of them."""

    def __init__(self, events: Path | None, stop: Path) -> None:
        self.events, self.stop = events, stop

    def _emit(self, kind: str, value: Any = None) -> None:
        if self.events is not None:
            with open(self.events, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"t": kind, "v": value}, default=str) + "\n")

    def message(self, text: str) -> None:
        self._emit("message", text)

    def log(self, line: str) -> None:
        self._emit("log", line)

    def start(self, total: int, label: str) -> None:
        self._emit("start", [total, label])

    def advance(self, n: int = 1, label: str | None = None) -> None:
        self._emit("advance", [n, label])

    def finish(self) -> None:
        self._emit("finish")

    def record(self, row: dict[str, Any]) -> None:
        self._emit("record", row)

    @property
    def cancelled(self) -> bool:
        return _agreed(self.stop.exists())


def _agreed(flag: bool) -> bool:
    """True on every rank when it is true on any (one all-reduce); the flag itself outside distributed runs."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    on_gpu = "nccl" in str(dist.get_backend()) and torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _die_with_launcher() -> None:
    """A rank whose launcher is gone stops at once (Linux: the kernel's signal; elsewhere a poll)."""
    import threading

    launcher = os.getppid()
    if signal_on_parent_death(signal.SIGKILL):
        if os.getppid() != launcher:  # it died before the request took effect
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def rank_main(folder: Path) -> int:
    """One rank: the request rebuilt from FOLDER, trained with assistant.training.run_train."""
    _die_with_launcher()
    rank = int(os.environ.get("RANK", "0"))
    try:
        from assistant.config import load_settings
        from assistant.training import run_train

        spec = json.loads((folder / SPEC).read_text(encoding="utf-8"))
        settings = load_settings(spec["home"])
        request = decode(spec["request"])
        work = _RankWork(folder / EVENTS if rank == 0 else None, folder / STOP)
        state = _distributed()
        if rank == 0:
            kind = getattr(state.distributed_type, "value", state.distributed_type)
            work.log(f"training process 0 of {state.num_processes} on {socket.gethostname()}: {kind} over "
                     f"{state.backend}, device {state.device}")
        result = run_train(settings, request, work)
        if rank == 0:
            tmp = folder / f".{RESULT}.tmp"
            tmp.write_text(json.dumps(result, default=str), encoding="utf-8")
            os.replace(tmp, folder / RESULT)
        return 0
    except BaseException as exc:  # every failure is reported to the job's process (SystemExit too)
        from assistant.errors import as_user_error
        from finetune.train import TrainingCancelled

        cancelled = isinstance(exc, TrainingCancelled)
        lines = traceback.format_exc().rstrip().splitlines()
        if not cancelled:
            traceback.print_exc()  # into the ranks' output, which the job's log ends with
        failure = {"rank": rank, "error": str(exc) or type(exc).__name__, "type": type(exc).__name__,
                   "cancelled": cancelled, "user": as_user_error(exc) is not None, "time": time.time(),
                   "traceback": "\n".join(lines[-TAIL_LINES:])}
        (folder / f"failed-{rank}.json").write_text(json.dumps(failure), encoding="utf-8")
        # A stopped rank ends cleanly: a failed one would have its launcher kill the others mid-checkpoint.
        return 0 if cancelled else 1


def _distributed() -> Any:
    """The process group, set up before training so that finetune's barriers hold on the CPU too."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


if __name__ == "__main__":
    sys.exit(rank_main(Path(sys.argv[1])))
