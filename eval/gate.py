"""The promotion gate: is the candidate engine at least as good as the baseline on one metric?

It passes when, in every mode of the run, candidate − baseline >= min_delta on the metric's mean
(min_delta 0: not worse; -0.02: may be up to 0.02 worse; 0.05: must be 0.05 better). A mean that is
missing or unreliable on either side fails the gate: a gate that cannot see must not let through.
The result goes into results.json and, for a registered engine version, into that version's folder
as gate.json, which `engines promote` checks.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.catalog import METRICS
from eval.questions import EvalInputError

DEFAULT_METRIC = "rouge_l"
GATE_FILE = "gate.json"
EXIT_GATE_FAILED = 1


def check_gate_metric(metric: str, modes: list[str], judge: bool) -> None:
    """Refuse, before anything runs, a metric the run cannot produce."""
    info = METRICS.get(metric)
    if info is None:
        raise EvalInputError(f"--metric {metric!r} is not a metric; choose from {', '.join(METRICS)}")
    if info.family == "retrieval" and "rag" not in modes:
        raise EvalInputError(f"--metric {metric} needs the rag mode (--modes rag)")
    if info.family == "judge" and not judge:
        raise EvalInputError(f"--metric {metric} is LLM-judged; give a judge (--judge local or --judge URL)")


def evaluate_gate(summary: dict[str, Any], candidate: str, baseline: str, metric: str, min_delta: float,
                  modes: list[str]) -> dict[str, Any]:
    checks = []
    for mode in modes:
        cand = summary.get(candidate, {}).get(mode, {}).get(metric)
        base = summary.get(baseline, {}).get(mode, {}).get(metric)
        if cand is not None and base is not None and cand["status"] == "skipped" and base["status"] == "skipped":
            continue  # the metric does not apply in this mode (e.g. hit_at_k in norag)
        check: dict[str, Any] = {"mode": mode, "candidate": None, "baseline": None, "delta": None}
        problems = []
        for side, c in (("candidate", cand), ("baseline", base)):
            if c is None or c["status"] != "ok" or c["mean"] is None:
                problems.append(f"{side} {metric} is {'missing' if c is None else c['status']}")
            else:
                check[side] = c["mean"]
        if problems:
            check.update(passed=False, reason="; ".join(problems))
        else:
            check["delta"] = round(check["candidate"] - check["baseline"], 4)
            check["passed"] = check["delta"] >= min_delta - 1e-12
            check["reason"] = (f"{metric} {check['candidate']:.4f} vs {check['baseline']:.4f}: delta "
                               f"{check['delta']:+.4f} {'>=' if check['passed'] else '<'} {min_delta:+.4f}")
        checks.append(check)
    passed = bool(checks) and all(c["passed"] for c in checks)
    return {
        "candidate": candidate, "baseline": baseline, "metric": metric, "min_delta": min_delta,
        "passed": passed, "checks": checks,
        "reason": "; ".join(f"{c['mode']}: {c['reason']}" for c in checks) or f"{metric} applies in no mode run",
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_gate_file(version_folder: Path, gate: dict[str, Any]) -> Path:
    """HOME/engines/NAME/vN/gate.json, written beside then renamed (a killed run leaves the old one)."""
    target = version_folder / GATE_FILE
    tmp = target.with_name(f".{GATE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(gate, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def read_gate_file(version_folder: Path) -> dict[str, Any] | None:
    """The last gate result of an engine version, or None (for `engines promote`)."""
    try:
        data = json.loads((version_folder / GATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
