"""Trainer callbacks: the per-step metrics log, a progress display, a NaN guard and a stop flag."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from transformers import TrainerCallback


class TrainProgress(Protocol):
    """What a progress display needs (the CLI draws a rich bar; the web app may push to a job)."""

    def start(self, total_steps: int, first_step: int) -> None: ...

    def update(self, step: int, metrics: dict[str, float]) -> None: ...

    def finish(self) -> None: ...


def _clean(logs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in logs.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value if math.isfinite(value) else str(value)
    return out


class MetricsLog(TrainerCallback):
    """One JSON line per log event in metrics.jsonl: {"step","epoch","time",...Trainer's logs}.

    Machine-readable for the web app's live plot; a resumed run appends after the lines of the steps
    it kept (lines past the checkpoint it resumes from are dropped, since those steps run again).
    """

    def __init__(self, path: Path, on_log: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.path = path
        self.listener = on_log

    def truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        kept = [ln for ln in self.path.read_text(encoding="utf-8").splitlines()
                if ln.strip() and json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        entry = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "time": round(time.time(), 3),
                 **_clean(logs)}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        if self.listener is not None:
            self.listener(entry)


class ProgressCallback(TrainerCallback):
    def __init__(self, progress: TrainProgress) -> None:
        self.progress = progress
        self.latest: dict[str, float] = {}
        self.started = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.progress.start(state.max_steps, state.global_step)
            self.started = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and state.is_world_process_zero:
            for key in ("loss", "eval_loss", "rewards/margins"):
                if key in logs and isinstance(logs[key], int | float):
                    self.latest[key] = float(logs[key])
            self.progress.update(state.global_step, dict(self.latest))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.progress.update(state.global_step, dict(self.latest))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.started:
            self.progress.finish()


class NanGuard(TrainerCallback):
    """Stops at the first NaN or infinite loss; the run then fails and registers nothing."""

    def __init__(self) -> None:
        self.bad_step: int | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for key in ("loss", "eval_loss"):
            value = (logs or {}).get(key)
            if isinstance(value, float) and not math.isfinite(value):
                self.bad_step = state.global_step
                control.should_training_stop = True


class StopFlag(TrainerCallback):
    """Lets a caller (a cancel button) stop the run between steps: `should_stop()` is asked after each."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop
        self.stopped = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.should_stop():
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True  # a cancelled run can still be resumed from here
