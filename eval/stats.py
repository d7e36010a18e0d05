"""Summaries of per-row scores: mean, spread and a confidence interval.

A handful of evaluation questions gives noisy means; the report shows the spread beside every number
so that a 0.02 difference between two engines is not read as a win. The interval is a percentile
bootstrap (seeded, so a report is reproducible) because most metrics are bounded in [0, 1] and skewed,
where mean ± 1.96·s/√n would run past the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 1000
SEED = 1234


@dataclass
class Summary:
    mean: float | None
    std: float | None
    ci95: tuple[float, float] | None
    n: int

    def to_json(self, digits: int = 4) -> dict[str, object]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, digits)

        return {
            "mean": r(self.mean), "std": r(self.std),
            "ci95": [r(self.ci95[0]), r(self.ci95[1])] if self.ci95 else None, "n": self.n,
        }


def summarize(values: Sequence[float]) -> Summary:
    """Mean, sample standard deviation and a 95% bootstrap interval of the mean. NaNs must be removed first:
    a NaN is a failure and is counted as such by the caller, never averaged."""
    xs = np.asarray([float(v) for v in values], dtype=float)
    if xs.size and not np.all(np.isfinite(xs)):
        raise ValueError("summarize() got a NaN or infinite score; count it as a failure instead")
    n = int(xs.size)
    if n == 0:
        return Summary(None, None, None, 0)
    mean = float(xs.mean())
    std = float(xs.std(ddof=1)) if n > 1 else 0.0
    if n == 1 or std == 0.0:
        return Summary(mean, std, (mean, mean), n)
    rng = np.random.default_rng(SEED)
    means = xs[rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Summary(mean, std, (float(lo), float(hi)), n)


def bootstrap_ci(n: int, statistic: Callable[[np.ndarray], float]) -> tuple[float, float] | None:
    """A 95% interval for a statistic of whole rows (e.g. macro F1), resampling row indices."""
    if n < 2:
        return None
    rng = np.random.default_rng(SEED)
    stats = [statistic(rng.integers(0, n, size=n)) for _ in range(BOOTSTRAP_SAMPLES // 2)]
    finite = [s for s in stats if math.isfinite(s)]
    if not finite:
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)
