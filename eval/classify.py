"""Classification questions (rows with `label`): the answer mapped to the label set, then accuracy,
macro precision / recall / F1 and a confusion matrix.

Mapping: the normalised answer equal to a normalised label; else the label mentioned first in the
answer (whole words; at the same position the longer label wins, so "late payment" beats "payment");
else the answer is UNMAPPED, which counts as wrong for every label. Macro averages run over the gold
label set (labels that occur in the file), so an engine cannot gain by inventing labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.model import Row
from eval.stats import bootstrap_ci

UNMAPPED = "(unmapped)"


def normalise_label(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s-]", " ", text.lower()).replace("_", " ").replace("-", " ").split())


def map_answer(answer: str, labels: Sequence[str]) -> str:
    text = normalise_label(answer)
    for label in labels:
        if normalise_label(label) == text:
            return label
    best: tuple[int, int, str] | None = None  # (position, -length, label)
    for label in labels:
        norm = normalise_label(label)
        if not norm:
            continue
        match = re.search(rf"(?<!\w){re.escape(norm)}(?!\w)", text)
        if match:
            key = (match.start(), -len(norm), label)
            best = key if best is None or key < best else best
    return best[2] if best else UNMAPPED


def label_set(rows: Sequence[Row]) -> list[str]:
    return sorted({r.question.label for r in rows if r.question.label is not None})


def score_classification(rows: list[Row], labels: Sequence[str]) -> None:
    """Per-row `accuracy` cell (1 right, 0 wrong) and the mapped prediction kept on the row."""
    for row in rows:
        if row.question.label is None:
            row.skip("accuracy", "no label")
        elif row.error:
            row.fail("accuracy", f"no answer: {row.error}")
        else:
            predicted = map_answer(row.answer, labels)
            row.prediction = predicted
            row.record("accuracy", 1.0 if predicted == row.question.label else 0.0)


def macro_scores(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1 over `labels` (zero where a label has no predictions)."""
    g, p = np.asarray(gold, dtype=object), np.asarray(predicted, dtype=object)
    precision, recall, f1 = [], [], []
    for label in labels:
        tp = float(np.sum((g == label) & (p == label)))
        fp = float(np.sum((g != label) & (p == label)))
        fn = float(np.sum((g == label) & (p != label)))
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        precision.append(pr)
        recall.append(rc)
        f1.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
    return {
        "accuracy": float(np.mean(g == p)) if g.size else float("nan"),
        "precision_macro": float(np.mean(precision)) if labels else float("nan"),
        "recall_macro": float(np.mean(recall)) if labels else float("nan"),
        "f1_macro": float(np.mean(f1)) if labels else float("nan"),
    }


def confusion(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Rows: gold labels; columns: predicted labels, then UNMAPPED."""
    columns = [*labels, UNMAPPED]
    matrix = [[0] * len(columns) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        if g in labels:
            matrix[labels.index(g)][columns.index(p if p in labels else UNMAPPED)] += 1
    return matrix


def summarize_classification(rows: Sequence[Row], labels: Sequence[str]) -> dict[str, Any] | None:
    """The classification block of one engine × mode: scores with bootstrap intervals, confusion matrix."""
    scored = [r for r in rows if "accuracy" in r.scores]
    if not scored or not labels:
        return None
    gold = [r.question.label or "" for r in scored]
    pred = [r.prediction or UNMAPPED for r in scored]
    scores = macro_scores(gold, pred, labels)
    intervals = {}
    for key in scores:
        def stat(idx: np.ndarray, key: str = key) -> float:
            return macro_scores([gold[i] for i in idx], [pred[i] for i in idx], labels)[key]

        ci = bootstrap_ci(len(scored), stat)
        intervals[key] = [round(ci[0], 4), round(ci[1], 4)] if ci else None
    return {
        "labels": list(labels),
        "columns": [*labels, UNMAPPED],
        "n": len(scored),
        "unmapped": pred.count(UNMAPPED),
        "scores": {k: round(v, 4) for k, v in scores.items()},
        "ci95": intervals,
        "confusion": confusion(gold, pred, labels),
    }
