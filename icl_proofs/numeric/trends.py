"""Measured trends with honest uncertainty: slopes across a sweep of independent estimates, and
two-sample comparisons, each a CLT test at a stated false-alarm rate.

>>> from icl_proofs.numeric.trends import slope
>>> s = slope([1, 2, 3], [1.0, 2.0, 3.0], [0.1, 0.1, 0.1])
>>> round(s.value, 6), round(s.se, 4)
(1.0, 0.0707)
>>> s.sign(1e-3), round(threshold(1e-3, df=9), 2)
(1, 4.78)
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t


@dataclasses.dataclass(frozen=True)
class Slope:
    """Weighted least-squares slope of y on x with its standard error (from the given SEs of y)."""

    value: float
    se: float
    #: degrees of freedom of the SEs (None: known or large-sample, normal quantiles)
    df: int | None = None

    def z(self) -> float:
        return self.value / self.se if self.se > 0 else math.copysign(math.inf, self.value)

    def sign(self, alpha: float) -> int:
        """−1 / +1 if the slope is significantly negative / positive at two-sided level α, else 0."""
        z = self.z()
        thr = threshold(alpha, 2, self.df)
        return -1 if z < -thr else (1 if z > thr else 0)

    def to_json(self) -> dict:
        return {"slope": self.value, "se": self.se, "z": self.z()}


def slope(x: Sequence[float], y: Sequence[float], se: Sequence[float], df: int | None = None) -> Slope:
    """Slope of the weighted (1/se²) least-squares line through (x, y); independent estimates.
    ``df``: degrees of freedom of the SEs (runs − 1 when each SE comes from a few runs), so the
    test uses Student-t quantiles — conservative, since the slope pools several such SEs."""
    x, y, se = (np.asarray(v, dtype=float) for v in (x, y, se))
    if x.size < 2:
        raise ValueError("a slope needs at least two points")
    w = 1.0 / np.maximum(se, 1e-300) ** 2
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    b = np.sum(w * (x - xm) * y) / sxx
    return Slope(float(b), float(math.sqrt(1.0 / sxx)), df)


def loglog_slope(x: Sequence[float], mean: Sequence[float], se: Sequence[float], df: int | None = None) -> Slope:
    """Slope of log(mean) against log(x), SEs by the delta method (se / mean); means must be > 0."""
    mean = np.asarray(mean, dtype=float)
    if np.any(mean <= 0):
        raise ValueError("log-log slope needs positive means")
    return slope(np.log(np.asarray(x, dtype=float)), np.log(mean), np.asarray(se, dtype=float) / mean, df)


def difference(a_mean: float, a_se: float, b_mean: float, b_se: float) -> tuple[float, float, float]:
    """(a − b, its SE, z) for independent estimates."""
    diff = a_mean - b_mean
    se = math.hypot(a_se, b_se)
    return diff, se, (diff / se if se > 0 else math.copysign(math.inf, diff))


def threshold(alpha: float, sides: int = 2, df: int | None = None) -> float:
    """Critical value at level α: normal, or Student t with ``df`` degrees of freedom."""
    if df is None:
        return float(norm.ppf(1 - alpha / sides))
    return float(student_t.ppf(1 - alpha / sides, df))
