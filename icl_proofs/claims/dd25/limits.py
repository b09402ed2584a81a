"""The verdict rule of dd25's limit statements (Lemma 4.9, Lemma 4.11, Theorem 4.12) at finite d.

A limit statement "gap → 0" is measured as a *relative* gap g_d (a dimensionless size of the
discrepancy: |E_MLP − E_eq| / E_MLP, ‖Δ‖ / ‖u vᵀ‖, sd(‖h‖²/t)) at a few d, each from independent
runs (Student-t intervals, one-sided level α each side).  Against a stated bound b:

* **holds** (supports, as measured): at the largest d the upper confidence bound of |g| is below b,
  *and* every negative control (the same statistic for a deliberately wrong model, at the same sizes
  and on the same runs) has its lower confidence bound above b — the measurement tells the truth from
  the wrong alternatives — *and* the resolution (the smallest |g| the test detects above 0 with power
  0.9) is at most b;
* **refuted** (the gap converges to a nonzero level): the lower confidence bound of |g| is above b
  at the two largest d, the gap does not decrease significantly between them, and (with three d or
  more) its slope in log d over the whole sweep is not significantly negative;
* otherwise **inconclusive** (with the reason: too coarse, a control not told apart, or a gap above
  the bound that is still shrinking).

The old rule counted "0 inside the interval at the largest d" as support, so an SE as large as the
gap itself gave "holds"; here a wide interval can never give "holds" (its upper end is above b).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.stats import t as student_t

from ...numeric import trends
from ..checks import holds, inconclusive, refuted

#: power at which the resolution is stated
POWER = 0.9


@dataclasses.dataclass(frozen=True)
class RelGap:
    """A relative gap at one d: its estimate, standard error and the number of runs behind it."""

    d: int
    value: float
    se: float
    runs: int

    @property
    def df(self) -> int:
        return max(self.runs - 1, 1)

    def upper(self, alpha: float) -> float:
        """One-sided (1 − α) upper confidence bound of |g|."""
        return abs(self.value) + student_t.isf(alpha, self.df) * self.se

    def lower(self, alpha: float) -> float:
        """One-sided (1 − α) lower confidence bound of |g|."""
        return abs(self.value) - student_t.isf(alpha, self.df) * self.se

    def text(self, alpha: float) -> str:
        return (f"d={self.d}: {self.value:+.4f} ± {self.se:.4f} "
                f"(|g| in [{max(self.lower(alpha), 0):.4f}, {self.upper(alpha):.4f}])")

    def to_json(self, alpha: float) -> dict:
        return {"d": self.d, "value": self.value, "se": self.se, "runs": self.runs,
                "lower": self.lower(alpha), "upper": self.upper(alpha)}


def ratio_gap(d: int, gap_runs, scale_runs) -> RelGap:
    """mean(gap) / mean(scale) over paired runs, SE by the delta method (the per-run residuals
    gap_r − R scale_r carry the pairing, so common noise of the two cancels)."""
    g, s = np.asarray(gap_runs, float), np.asarray(scale_runs, float)
    R = float(g.mean() / s.mean())
    resid = g - R * s
    se = float(resid.std(ddof=1) / math.sqrt(g.size) / abs(s.mean())) if g.size > 1 else math.inf
    return RelGap(int(d), R, se, int(g.size))


def mean_gap(d: int, values) -> RelGap:
    """The mean of per-run values that are relative already (e.g. ‖Δ‖ / ‖u vᵀ‖)."""
    v = np.asarray(values, float)
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.inf
    return RelGap(int(d), float(v.mean()), se, int(v.size))


def resolution(row: RelGap, alpha: float, bound: float) -> dict:
    """Smallest |g| the one-sided level-α test at ``row``'s size detects with power 0.9."""
    q = student_t.isf(alpha, row.df) + student_t.ppf(POWER, row.df)
    r = float(q * row.se)
    return {"relative": r, "absolute": r, "power": POWER, "alpha": float(alpha), "bound": bound, "d": row.d,
            "runs": row.runs}


def verdict(name: str, route: str, what: str, rows: list[RelGap], controls: dict[str, list[RelGap]],
            bound: float, alpha: float, setting: str, **details):
    """The rule of the module docstring; ``rows`` by increasing d, ``controls``: name -> rows of a
    wrong model at the same d (only the largest d is used)."""
    last = rows[-1]
    res = resolution(last, alpha, bound)
    apart = {c: r[-1].lower(alpha) > bound for c, r in controls.items()}
    ev = (f"{what} (relative; bound {bound:g}; one-sided α = {alpha:g} per bound) at "
          + "; ".join(r.text(alpha) for r in rows))
    if controls:
        ev += "; negative controls at d=" + str(last.d) + ": " + "; ".join(
            f"{c} {r[-1].value:+.4f} ± {r[-1].se:.4f} ({'told apart' if apart[c] else 'NOT told apart'})"
            for c, r in controls.items())
    ev += (f"; resolution {res['relative']:.3g} (smallest |gap| detected with power {POWER:g} at d={last.d}); "
           + setting)
    out_details = dict(details, bound=bound, rows=[r.to_json(alpha) for r in rows],
                       controls={c: r[-1].to_json(alpha) for c, r in controls.items()}, resolution=res)
    if len(rows) >= 2:
        prev = rows[-2]
        q = student_t.isf(alpha, min(r.df for r in rows))
        decrease = (abs(prev.value) - abs(last.value)) / max(math.hypot(prev.se, last.se), 1e-300)
        # the trend over every d: a gap still shrinking across the sweep is not "converging to a
        # nonzero level", even when the last two d are too close to show the decrease by themselves
        trend = (trends.slope([math.log(r.d) for r in rows], [abs(r.value) for r in rows], [r.se for r in rows]).z()
                 if len(rows) >= 3 else decrease * 0)
        shrinking = decrease > q or trend < -q
        if prev.lower(alpha) > bound and last.lower(alpha) > bound and not shrinking:
            out = refuted(name, route, "refuted (measured): the gap stays above the bound at the two largest d "
                          f"without a significant decrease (two largest d: z = {decrease:+.2f}; slope in log d over "
                          f"all d: z = {trend:+.2f}; threshold {q:.2f}): " + ev,
                          {"rows": [r.to_json(alpha) for r in rows[-2:]], "bound": bound, "setting": setting},
                          **out_details)
            out.resolution = res
            return out
    if last.upper(alpha) < bound and all(apart.values()) and res["relative"] <= bound:
        out = holds(name, route, "supports (measured): " + ev, finite_d_evidence="supports", **out_details)
    else:
        why = ("resolution coarser than the bound" if res["relative"] > bound else
               "gap not shown below the bound" if last.upper(alpha) >= bound else
               "cannot tell the wrong models " + ", ".join(c for c, ok in apart.items() if not ok) + " apart")
        out = inconclusive(name, route, f"inconclusive ({why}): " + ev, finite_d_evidence="neutral", **out_details)
    out.resolution = res
    return out
