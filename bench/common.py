"""What the benchmarks that drive the `assistant` command share: a log line on stderr, a command run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_assistant(home: Path, *args: str, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """One `assistant ... --home HOME --json` in a subprocess (its progress on our stderr); its JSON document."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assistant.cli", *args, "--home", str(home), "--json"],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode not in ok:
        raise SystemExit(f"assistant {' '.join(args)} failed (exit {out.returncode})")
    log(f"  assistant {' '.join(args)}: {time.perf_counter() - started:.0f} s")
    return json.loads(out.stdout)
