"""The report's plots (matplotlib, Agg: no display needed), each saved as a PNG file.

- metrics_FAMILY.png: one bar per engine × mode for each metric of a family, with the 95% interval as
  error bar; an unreliable metric gets no bar but the word "unreliable", a skipped one nothing.
- retrieval.png: the retrieval metrics, and where the first reference source ranked (1..k, or missed).
- confusion_ENGINE_MODE.png: the confusion matrix of a classification run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server or CI has no display

import matplotlib.pyplot as plt

from eval.catalog import AGGREGATE_ONLY, FAMILY_ORDER, METRICS
from eval.metrics_retrieval import first_relevant_rank
from eval.model import Row

DPI = 90


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def family_bars(summary: dict[str, Any], family: str, path: Path) -> Path | None:
    combos = [(e, m) for e, modes in summary.items() for m in modes]
    names = [n for n in METRICS if METRICS[n].family == family and n not in AGGREGATE_ONLY
             and any(summary[e][m].get(n, {}).get("status", "skipped") != "skipped" for e, m in combos)]
    if family == "classification":
        names = [n for n in METRICS if METRICS[n].family == family
                 and any(n in summary[e][m] for e, m in combos)]
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) * max(1, len(combos)) / 2 + 2), 3.6))
    width = 0.8 / max(1, len(combos))
    for j, (engine, mode) in enumerate(combos):
        xs, heights, lows, highs = [], [], [], []
        for i, name in enumerate(names):
            c = summary[engine][mode].get(name)
            x = i + (j - (len(combos) - 1) / 2) * width
            if not c or c["status"] == "skipped":
                continue
            if c["status"] == "unreliable" or c["mean"] is None:
                ax.text(x, 0.02, "unreliable", rotation=90, ha="center", va="bottom", fontsize=7, color="#b00")
                continue
            mean = c["mean"]
            lo, hi = c["ci95"] if c.get("ci95") and c["ci95"][0] is not None else (mean, mean)
            xs.append(x)
            heights.append(mean)
            lows.append(max(0.0, mean - lo))
            highs.append(max(0.0, hi - mean))
        ax.bar(xs, heights, width, yerr=[lows, highs], capsize=3, label=f"{engine} · {mode}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean (95% CI)")
    ax.set_title(f"{family} metrics")
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def retrieval_plot(summary: dict[str, Any], rows: Sequence[Row], path: Path) -> Path | None:
    rag_rows = [r for r in rows if r.rag and r.question.reference_sources and not r.retrieval_error]
    if not rag_rows:
        return None
    first = rag_rows[0].engine  # retrieval does not depend on the engine: one engine's rows suffice
    rag_rows = [r for r in rag_rows if r.engine == first]
    cells = summary[first]["rag"]
    names = [n for n in METRICS if METRICS[n].family == "retrieval" and cells.get(n, {}).get("status") == "ok"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    means = [cells[n]["mean"] for n in names]
    errs = [[max(0.0, cells[n]["mean"] - cells[n]["ci95"][0]) for n in names],
            [max(0.0, cells[n]["ci95"][1] - cells[n]["mean"]) for n in names]]
    left.bar(range(len(names)), means, yerr=errs, capsize=3, color="#4a7ab5")
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    left.set_ylim(0, 1.05)
    left.set_title("retrieval quality (mean, 95% CI)")
    k = max((len(r.retrieved) for r in rag_rows), default=0)
    counts = [0] * (k + 1)
    for r in rag_rows:
        rank = first_relevant_rank([c.source for c in r.retrieved], r.question.reference_sources)
        counts[(rank - 1) if rank else k] += 1
    labels = [str(i) for i in range(1, k + 1)] + ["missed"]
    right.bar(range(len(counts)), counts, color=["#4a7ab5"] * k + ["#b55a4a"])
    right.set_xticks(range(len(counts)))
    right.set_xticklabels(labels)
    right.set_xlabel("rank of the first chunk from a reference source")
    right.set_ylabel("questions")
    right.set_title(f"where the answer's source ranked (top {k})")
    return _save(fig, path)


def confusion_plot(block: dict[str, Any], engine: str, mode: str, path: Path) -> Path:
    labels, columns, matrix = block["labels"], block["columns"], block["confusion"]
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2.5, 0.8 * len(labels) + 2))
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold label")
    ax.set_title(f"confusion matrix: {engine} · {mode}")
    return _save(fig, path)


def make_plots(summary: dict[str, Any], rows: Sequence[Row], classification: dict[str, Any],
               folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    for family in FAMILY_ORDER:
        if family == "retrieval":
            path = retrieval_plot(summary, rows, folder / "retrieval.png")
        else:
            path = family_bars(summary, family, folder / f"metrics_{family}.png")
        if path:
            made.append(path)
    for engine, modes in classification.items():
        for mode, block in modes.items():
            made.append(confusion_plot(block, engine, mode, folder / f"confusion_{_safe(engine)}_{_safe(mode)}.png"))
    return made
