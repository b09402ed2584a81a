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
* **holds by rate** (only where a check states a rate β_min, ``rate=``): where the gap is still above
  the bound at the largest d but the measurement shows it *going to 0*: the exponent β of
  |g| ∝ d^β, fitted over the whole sweep (weighted least squares on log |g| against log d, SEs by
  the delta method), has its one-sided (1 − α) upper bound below −β_min, *and* the exponent between
  the two largest d alone has its upper bound below 0 (the gap still shrinks at the largest sizes:
  a gap levelling off to a nonzero floor fails here first), with every control told apart as above;
  the resolution is then the smallest |β| detected with power 0.9.  It is evidence for the limit
  at a stated rate, not a proof: a decay that stops beyond the measured d is not excluded;
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


@dataclasses.dataclass(frozen=True)
class Decay:
    """Fitted exponent β of |g| ∝ d^β over a sweep and between its two largest d, with one-sided
    upper bounds (Student t at the smallest df of the rows)."""

    beta: float
    se: float
    last_beta: float
    last_se: float
    q: float

    @property
    def upper(self) -> float:
        return self.beta + self.q * self.se

    @property
    def last_upper(self) -> float:
        return self.last_beta + self.q * self.last_se

    def resolution(self) -> float:
        """Smallest |β| the one-sided test detects with power 0.9."""
        return float((self.q + student_t.ppf(POWER, self.df)) * self.se)

    df: int = 1

    def to_json(self, rate: float) -> dict:
        return {"beta": self.beta, "se": self.se, "upper": self.upper, "last_pair_beta": self.last_beta,
                "last_pair_se": self.last_se, "last_pair_upper": self.last_upper, "rate": rate,
                "resolution": self.resolution()}


def decay(rows: list[RelGap], alpha: float) -> Decay | None:
    """The exponent of |g| in d (None when some |g| is not positive: no logarithm)."""
    if len(rows) < 2 or any(r.value == 0 for r in rows):
        return None
    df = min(r.df for r in rows)
    q = float(student_t.isf(alpha, df))
    x = [math.log(r.d) for r in rows]
    fit = trends.loglog_slope([r.d for r in rows], [abs(r.value) for r in rows], [r.se for r in rows])
    a, b = rows[-2], rows[-1]
    last = (math.log(abs(b.value)) - math.log(abs(a.value))) / (x[-1] - x[-2])
    last_se = math.hypot(a.se / abs(a.value), b.se / abs(b.value)) / (x[-1] - x[-2])
    return Decay(fit.value, fit.se, last, last_se, q, df)


def verdict(name: str, route: str, what: str, rows: list[RelGap], controls: dict[str, list[RelGap]],
            bound: float, alpha: float, setting: str, rate: float | None = None, **details):
    """The rule of the module docstring; ``rows`` by increasing d, ``controls``: name -> rows of a
    wrong model at the same d (only the largest d is used); ``rate``: the decay exponent β_min of
    the "holds by rate" rule (None: the bound rule only)."""
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
    dec = decay(rows, alpha) if rate is not None and len(rows) >= 3 else None
    if dec is not None:
        ev += (f"; decay |g| ∝ d^β: β = {dec.beta:+.3f} ± {dec.se:.3f} over d = {rows[0].d}..{last.d} "
               f"(upper bound {dec.upper:+.3f}), between d = {rows[-2].d} and {last.d}: {dec.last_beta:+.3f} ± "
               f"{dec.last_se:.3f} (upper bound {dec.last_upper:+.3f}); stated rate β_min = {rate:g}; exponent "
               f"resolution {dec.resolution():.3g}")
        out_details["decay"] = dec.to_json(rate)
    if last.upper(alpha) < bound and all(apart.values()) and res["relative"] <= bound:
        out = holds(name, route, "supports (measured): " + ev, finite_d_evidence="supports", **out_details)
    elif (dec is not None and dec.upper < -rate and dec.last_upper < 0 and all(apart.values())
          and dec.resolution() <= rate):
        out = holds(name, route, f"supports (measured, by rate): the gap is above the bound {bound:g} at d = {last.d} "
                    f"but shrinks like d^β with β < −{rate:g} at confidence 1 − α, and still shrinks between the two "
                    "largest d: " + ev, finite_d_evidence="supports", **out_details)
        out.resolution = {"relative": dec.resolution(), "absolute": dec.resolution(), "power": POWER,
                          "alpha": float(alpha), "bound": rate, "d": last.d, "runs": last.runs,
                          "quantity": "decay exponent β of the relative gap in d"}
        return out
    else:
        why = ("resolution coarser than the bound" if res["relative"] > bound else
               "gap not shown below the bound" if last.upper(alpha) >= bound else
               "cannot tell the wrong models " + ", ".join(c for c, ok in apart.items() if not ok) + " apart")
        out = inconclusive(name, route, f"inconclusive ({why}): " + ev, finite_d_evidence="neutral", **out_details)
    out.resolution = res
    return out
