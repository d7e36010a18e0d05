"""House-style (tone of voice) score: how close an answer writes to the company's own golden texts.

A logistic regression on sentence embeddings separates house texts (tone-of-voice guide, marketing,
case studies, won bids: given by the caller, normally chunks from the index chosen by metadata) from
generic text (lost bids, which in practice are the off-voice ones, plus a built-in generic corpus on
the same topics). It is fitted on a stratified split and judged on the held-out rest, and that
held-out calibration goes into the report: house texts should score high, generic ones low. If the
held-out separation is poor, the score says little and the report shows it.

The score of an answer is the classifier's probability of "house". It measures voice through the
embedding, which also carries topic: compare engines on the same questions (as a report does), not
absolute values across different question sets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.model import Row

MIN_WORDS = 20  # shorter chunks (headings, table rows) carry too little voice to learn from
# Longer passages are cut to their first 80 words: closer in length to the answers being scored, and
# half the embedding time on CPU.
MAX_WORDS = 80
MIN_PER_CLASS = 8
HOLDOUT = 0.3
SEED = 7

Embed = Callable[[list[str]], np.ndarray]


@dataclass
class StyleModel:
    classifier: Any
    calibration: dict[str, Any]

    def score(self, vectors: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(_normalise(vectors))[:, 1]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def usable(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for text in texts:
        words = text.split()
        t = " ".join(words[:MAX_WORDS])
        if len(words) >= MIN_WORDS and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def fit_style(house: Sequence[str], generic: Sequence[str], embed: Embed) -> StyleModel | str:
    """The fitted model, or a sentence saying why it could not be fitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    house_t, generic_t = usable(house), usable(generic)
    if len(house_t) < MIN_PER_CLASS or len(generic_t) < MIN_PER_CLASS:
        return (f"too few texts to learn the house style ({len(house_t)} house, {len(generic_t)} generic passages "
                f"of {MIN_WORDS}+ words; need {MIN_PER_CLASS} each): index the tone-of-voice guide, marketing, "
                "case studies and won bids with their doc_type / outcome metadata")
    texts = house_t + generic_t
    labels = np.array([1] * len(house_t) + [0] * len(generic_t))
    vectors = _normalise(embed(texts))
    x_train, x_test, y_train, y_test = train_test_split(
        vectors, labels, test_size=HOLDOUT, random_state=SEED, stratify=labels
    )
    classifier = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    classifier.fit(x_train, y_train)
    p = classifier.predict_proba(x_test)[:, 1]
    house_p, generic_p = p[y_test == 1], p[y_test == 0]
    calibration = {
        "method": "logistic regression on normalised sentence embeddings, house vs generic",
        "train": {"house": int((y_train == 1).sum()), "generic": int((y_train == 0).sum())},
        "heldout": {"house": int(house_p.size), "generic": int(generic_p.size)},
        "heldout_house_mean": round(float(house_p.mean()), 4),
        "heldout_generic_mean": round(float(generic_p.mean()), 4),
        "heldout_accuracy": round(float(((p >= 0.5) == (y_test == 1)).mean()), 4),
        "heldout_auc": round(float(roc_auc_score(y_test, p)), 4),
    }
    return StyleModel(classifier, calibration)


def score_style(rows: list[Row], model: StyleModel | None, embed: Embed | None, why_not: str = "") -> None:
    """house_style for every answered row; declines and failed answers are skipped / failed."""
    todo: list[Row] = []
    for row in rows:
        if model is None or embed is None:
            row.skip("house_style", why_not or "no house-style model")
        elif row.error:
            row.fail("house_style", f"no answer: {row.error}")
        elif not row.found or not row.answer.strip():
            row.skip("house_style", "answer declined")
        else:
            todo.append(row)
    if not todo or model is None or embed is None:
        return
    scores = model.score(embed([r.answer for r in todo]))
    for row, value in zip(todo, scores, strict=True):
        row.record("house_style", float(value))
