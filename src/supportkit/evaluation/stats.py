"""Confidence intervals: bootstrap of a mean, and paired bootstrap of a difference of means.

Both use ``scipy.stats.bootstrap`` (percentile intervals, seeded). Degenerate samples (fewer than
two values, or all equal) get a zero-width interval instead of an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def format(self, digits: int | None = None) -> str:
        """``mean [low, high]``. By default two significant digits of the interval's width (at
        least one of the mean's; three of the mean's when the interval is a point), so no
        interval prints as one value: ``0.412 [0.389, 0.436]``, ``0.000123 [0.000110, 0.000140]``."""
        if digits is None:
            width = self.high - self.low
            digits = max(decimals(width, 2), decimals(self.mean, 1)) if width > 0 else decimals(self.mean)
            digits = min(digits, 8)
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decimals(value: float, significant: int = 3) -> int:
    """Decimals that show ``significant`` digits of ``value`` (3 for 0 and non-finite values)."""
    if value == 0 or not math.isfinite(value):
        return 3
    return max(0, significant - 1 - math.floor(math.log10(abs(value))))


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval:
    """The mean of ``values`` with a percentile bootstrap interval."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(data.mean())
    if data.size < 2 or np.all(data == data[0]):
        return Interval(mean, mean, mean, int(data.size))
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), int(data.size))


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval:
    """Mean of ``a - b`` over the same examples, with a paired bootstrap interval: the
    difference is real at this confidence when the interval excludes 0."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    return bootstrap_mean(
        np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
