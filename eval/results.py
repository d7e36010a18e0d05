"""From rows to numbers: one cell per engine × mode × metric, with its spread, its failures and its skips.

A cell's status:
- "ok": a mean over the scored rows (failures excluded from the mean but counted and shown);
- "unreliable": failures exceed the threshold share of the rows the metric applied to, so no number
  is given (a mean over the few rows a weak judge happened to parse would mislead);
- "skipped": the metric applied to no row (the reasons are in `skip_reasons` and in the notes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from eval.catalog import AGGREGATE_ONLY, METRICS, ordered
from eval.model import Row
from eval.stats import summarize

DEFAULT_UNRELIABLE_ABOVE = 0.3
# Skip reasons that follow from the design (a norag row has no retrieval), not from missing data.
BY_DESIGN = {"no retrieval in norag mode", "question is answerable", "question is unanswerable", "no label"}


def metric_names(rows: Sequence[Row]) -> list[str]:
    names: set[str] = set()
    for r in rows:
        names |= set(r.scores) | set(r.failures) | set(r.skipped)
    return ordered(names)


def cell(rows: Sequence[Row], metric: str, threshold: float) -> dict[str, Any]:
    values = [r.scores[metric] for r in rows if metric in r.scores]
    failures = Counter(r.failures[metric] for r in rows if metric in r.failures)
    skips = Counter(r.skipped[metric] for r in rows if metric in r.skipped)
    n_fail = sum(failures.values())
    applied = len(values) + n_fail
    share = n_fail / applied if applied else 0.0
    summary = summarize(values).to_json()
    if applied == 0:
        status = "skipped"
    elif share > threshold:
        status = "unreliable"
        summary.update(mean=None, std=None, ci95=None)
    else:
        status = "ok"
    return {
        **summary,
        "status": status,
        "failures": n_fail,
        "failure_share": round(share, 4),
        "skipped": sum(skips.values()),
        "failure_reasons": dict(failures.most_common()),
        "skip_reasons": dict(skips.most_common()),
    }


def aggregate(
    rows: Sequence[Row], engines: Sequence[str], modes: Sequence[str], threshold: float,
    classification: dict[str, dict[str, dict[str, Any] | None]] | None = None,
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """summary[engine][mode][metric] = cell. Classification macro scores come from `classification`."""
    names = [m for m in metric_names(rows) if m not in AGGREGATE_ONLY]
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for engine in engines:
        out[engine] = {}
        for mode in modes:
            subset = [r for r in rows if r.engine == engine and r.mode == mode]
            cells = {name: cell(subset, name, threshold) for name in names}
            block = (classification or {}).get(engine, {}).get(mode)
            if block:
                failed = cells.get("accuracy", {}).get("failures", 0)
                for name in sorted(AGGREGATE_ONLY):
                    cells[name] = {
                        "mean": block["scores"][name], "std": None, "ci95": block["ci95"][name], "n": block["n"],
                        "status": "ok", "failures": failed,
                        "failure_share": round(failed / (block["n"] + failed), 4) if block["n"] + failed else 0.0,
                        "skipped": 0, "failure_reasons": {}, "skip_reasons": {},
                    }
            out[engine][mode] = {name: cells[name] for name in ordered(list(cells))}
    return out


def compact(summary: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{engine: {mode: {metric: mean}}} (the `--json` shape): null for unreliable, skipped metrics left out."""
    return {
        engine: {
            mode: {name: c["mean"] for name, c in cells.items() if c["status"] != "skipped"}
            for mode, cells in modes.items()
        }
        for engine, modes in summary.items()
    }


def notes(summary: dict[str, dict[str, dict[str, dict[str, Any]]]], threshold: float) -> list[str]:
    """Plain sentences for the report: what was skipped and why, what is unreliable."""
    out: list[str] = []
    skipped: dict[str, Counter[str]] = {}
    for engine, modes in summary.items():
        for mode, cells in modes.items():
            for name, c in cells.items():
                for reason, count in c["skip_reasons"].items():
                    if reason not in BY_DESIGN:
                        skipped.setdefault(name, Counter())[reason] += count
                if c["status"] == "unreliable":
                    out.append(
                        f"{name} ({engine}, {mode}) is unreliable: {c['failures']} of {c['failures'] + c['n']} rows "
                        f"failed ({c['failure_share']:.0%} > {threshold:.0%}; "
                        f"{', '.join(f'{k}: {v}' for k, v in c['failure_reasons'].items())}); no number is given."
                    )
    for name in ordered(list(skipped)):
        reasons = "; ".join(f"{reason} ({count} rows)" for reason, count in skipped[name].most_common())
        family = METRICS[name].family if name in METRICS else "metric"
        out.append(f"{name} ({family}) was skipped where it does not apply: {reasons}.")
    return out
