"""Testing helpers for researchers: check a derived expectation in one pytest line.

:func:`assert_expectation` compares a left side with a claimed closed form by the strongest route
available and either returns an :class:`Agreement` saying how agreement was established, or raises
``AssertionError`` carrying an exact witness::

    import numpy as np
    import sympy as sp
    from icl_proofs.testing import assert_expectation
    from icl_proofs.moments import inverse_wishart as iw

    N, d, s2 = iw.N_sym, iw.d_sym, sp.Symbol("sigma2", nonnegative=True)

    def test_ols_error_symbolic():            # exact: the difference simplifies to 0
        assert_expectation(iw.ols_icl_error(N=N, sigma2=s2).value, s2 * d / (N - d - 1))

    def test_ols_error_monte_carlo():        # Monte Carlo at concrete sizes, CLT z-test
        Sigma = np.array([[2.0, 1.0], [1.0, 3.0]])
        sampler = lambda rng, k: iw.sample_ols_icl_error(rng, k, 12, Sigma, 0.5)
        assert_expectation(sampler, s2 * d / (N - d - 1), exact_at={N: 12, d: 2, s2: 0.5},
                           n=200_000)

Routes, in order:

* **symbolic** — both sides SymPy (scalars or matrices): passes when ``simplify(lhs − claimed)`` is
  exactly 0.  Otherwise both sides are evaluated *exactly* (rationals) at the ``exact_at`` points (or
  at a few automatic integer points when none are given): a point where they differ fails with that
  point and both values; agreement at explicitly given points, without a proof, passes as route
  ``"exact-at-points"`` (say so in your test); no proof and no differing point fails as undecided.
* **monte-carlo** — the left side is a sampler ``f(rng, k) -> k iid samples`` (or ``sampler=`` is
  given with a symbolic left side, which is then also checked exactly): the Monte-Carlo mean is
  z-tested against the claimed value at ``exact_at`` (one point) at false-alarm rate ``alpha``
  (two-sided CLT; the samples need a finite variance — for inverse moments of order k that is
  ``N > d + 4k − 1``; the standard error itself is estimated reliably only with a finite fourth
  moment, ``N > d + 8k − 1``, so nearer the boundary the false-alarm rate can exceed α).  The
  returned agreement states the *resolution*: the smallest relative error
  the test detects with power 0.9.  A passing test whose resolution is coarser than ``effect``
  (default 5 %) fails as inconclusive — a test that could not have seen the error is no test.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import sympy as sp

__all__ = ["Agreement", "assert_expectation", "compare_limit"]

#: values tried for the free symbols when no ``exact_at`` is given (large primes avoid the poles
#: of finite-N formulas such as 1/(N − d − 3))
_AUTO_VALUES = (23, 5, 41, 7, 61, 11, 83, 13, 101, 17)


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How :func:`assert_expectation` established agreement."""

    route: str                      #: "symbolic", "exact-at-points" or "monte-carlo"
    evidence: str
    resolution: dict | None = None  #: Monte Carlo: see :func:`icl_proofs.claims.checks.resolution`
    points: tuple = ()

    def __str__(self) -> str:
        return f"{self.route}: {self.evidence}"


def assert_expectation(expr_or_callable, claimed, *, sampler: Callable | None = None, n: int = 200_000,
                       seed: int = 0, alpha: float = 1e-3, exact_at=None, effect: float = 0.05,
                       batch: int = 2 ** 14):
    """Assert that ``expr_or_callable`` (a derived expectation, or a sampler of the random variable)
    has expectation ``claimed``.  Returns an :class:`Agreement` (a list of two when both a symbolic
    and a Monte-Carlo route ran); raises ``AssertionError`` with the witness otherwise.

    ``exact_at``: a dict of symbol values (or a list of them) at which to compare exactly, and (the
    first one) at which the Monte-Carlo route evaluates ``claimed``.  ``n``, ``seed``, ``batch``:
    Monte-Carlo sample size and stream (:func:`icl_proofs.numeric.montecarlo.estimate`).
    """
    points = _points(exact_at)
    if callable(expr_or_callable) and not isinstance(expr_or_callable, (sp.Basic, sp.MatrixBase)):
        if sampler is not None:
            raise TypeError("give the sampler either as the first argument or as sampler=, not both")
        return _monte_carlo(expr_or_callable, claimed, points, n, seed, alpha, effect, batch)
    exact = _exact(sp.sympify(expr_or_callable), sp.sympify(claimed), points, explicit=exact_at is not None)
    if sampler is None:
        return exact
    return [exact, _monte_carlo(sampler, claimed, points, n, seed, alpha, effect, batch)]


# ------------------------------------------------------------------------------------- exact
def _points(exact_at) -> list[dict]:
    if exact_at is None:
        return []
    pts = [exact_at] if isinstance(exact_at, dict) else list(exact_at)
    out = []
    for p in pts:
        if not isinstance(p, dict):
            raise TypeError(f"exact_at must be a dict of symbol values or a list of them, got {p!r}")
        # floats are read as the exact rationals they denote (0.1 is 1/10), so witnesses are exact
        out.append({(sp.Symbol(k) if isinstance(k, str) else k):
                    (sp.nsimplify(v, rational=True) if isinstance(v, float) else sp.sympify(v))
                    for k, v in p.items()})
    return out


def _is_zero(diff) -> bool:
    if isinstance(diff, sp.MatrixBase):
        return all(sp.simplify(x) == 0 for x in diff)
    return sp.simplify(diff) == 0


def _exact_value(expr, point: dict):
    """``expr`` at ``point`` (exact values, see :func:`_points`)."""
    out = expr.subs(point).doit()   # unevaluated sums and integrals become numbers at a point
    return out.applyfunc(sp.simplify) if isinstance(out, sp.MatrixBase) else sp.simplify(out)


def _finite(value) -> bool:
    vals = list(value) if isinstance(value, sp.MatrixBase) else [value]
    return all(v.is_number and v.is_finite for v in vals)


def _auto_points(symbols, k: int = 3) -> list[dict]:
    syms = sorted(symbols, key=str)
    return [{s: _AUTO_VALUES[(2 * i + j) % len(_AUTO_VALUES)] for i, s in enumerate(syms)} for j in range(k)]


def _exact(lhs, rhs, points, explicit: bool) -> Agreement:
    if isinstance(lhs, sp.MatrixBase) != isinstance(rhs, sp.MatrixBase) or (
            isinstance(lhs, sp.MatrixBase) and lhs.shape != rhs.shape):
        raise AssertionError(f"shapes differ: derived {_shape(lhs)} vs claimed {_shape(rhs)}")
    diff = lhs - rhs
    if _is_zero(diff):
        return Agreement("symbolic", "the difference simplifies to 0")
    free = diff.free_symbols
    if any(isinstance(s, sp.MatrixSymbol) for s in _atoms_matrix(diff)):
        raise AssertionError(f"derived and claimed differ symbolically (matrix symbols, no point to "
                             f"evaluate): difference {sp.sstr(sp.simplify(diff))[:300]}")
    tried = points or _auto_points(free)
    checked = []
    for point in tried:
        left, right = _exact_value(lhs, point), _exact_value(rhs, point)
        if not (_finite(left) and _finite(right)):
            continue                      # a pole of either side: no witness here
        checked.append(point)
        if not _is_zero(left - right):
            raise AssertionError(
                f"expectation differs at {_fmt_point(point)}: derived = {sp.sstr(left)}, claimed = "
                f"{sp.sstr(right)} (difference {sp.sstr(sp.simplify(left - right))}); symbolic "
                f"difference {sp.sstr(sp.simplify(diff))[:200]}")
    if explicit and checked:
        return Agreement("exact-at-points", f"no symbolic proof; equal exactly at {len(checked)} point(s): "
                         + "; ".join(_fmt_point(p) for p in checked), points=tuple(checked))
    raise AssertionError(f"undecided: the difference {sp.sstr(sp.simplify(diff))[:200]} does not simplify "
                         f"to 0 and the sides agree at every point tried ({len(checked)}); pass exact_at=")


def _atoms_matrix(expr):
    return expr.atoms(sp.MatrixSymbol) if hasattr(expr, "atoms") else set()


def _shape(x):
    return x.shape if isinstance(x, sp.MatrixBase) else "scalar"


def _fmt_point(point: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in sorted(point.items(), key=lambda kv: str(kv[0])))


# ------------------------------------------------------------------------------- Monte Carlo
def _claimed_number(claimed, points) -> float:
    c = sp.sympify(claimed)
    if isinstance(c, sp.MatrixBase):
        raise TypeError("the Monte-Carlo route compares scalars: contract a matrix expectation first "
                        "(e.g. tr(C M) for a fixed C)")
    if c.free_symbols:
        if not points:
            raise TypeError(f"claimed value has free symbols {sorted(map(str, c.free_symbols))}: "
                            f"give exact_at={{...}} with the sizes the sampler uses")
        c = _exact_value(c, points[0])
    if c.free_symbols:
        raise TypeError(f"exact_at leaves free symbols {sorted(map(str, c.free_symbols))} in the claimed value")
    value = float(c)
    if not math.isfinite(value):
        raise AssertionError(f"the claimed value at {_fmt_point(points[0]) if points else ''} is {c}: "
                             f"not a finite expectation (outside the existence condition?)")
    return value


def _monte_carlo(sampler, claimed, points, n, seed, alpha, effect, batch) -> Agreement:
    from .claims.checks import resolution, resolution_text, two_sided_p
    from .numeric import montecarlo as mc

    exact = _claimed_number(claimed, points)
    est = mc.estimate(sampler, n, seed=seed, batch=min(batch, n))
    z, thr, ok = mc.z_check(est, exact, alpha)
    res = resolution(est.se, exact, alpha)
    where = f" at {_fmt_point(points[0])}" if points else ""
    text = (f"Monte Carlo{where}: {est.mean:.6g} ± {est.se:.2g} (n = {est.n}, seed {seed}) vs claimed "
            f"{exact:.6g}; z = {z:+.2f} (|z| ≤ {thr:.2f} at α = {alpha:g}, p = {two_sided_p(z):.2g}); "
            f"{resolution_text(res)}")
    if not ok:
        raise AssertionError(f"expectation differs: {text}")
    if res["relative"] is None or res["relative"] > effect:
        raise AssertionError(f"inconclusive (too coarse): {text} > the {100 * effect:g} % required; "
                             f"increase n")
    return Agreement("monte-carlo", text, resolution=res, points=tuple(points[:1]))


# ------------------------------------------------------------------------- proportional limits
def compare_limit(fit, limit: float, alpha: float = 1e-3) -> dict:
    """Two-sided z-test of a 1/d-extrapolated Monte-Carlo intercept against a claimed limit.

    ``fit``: an :class:`icl_proofs.moments.proportional.Extrapolation` (``mean(d) = a + b/d`` fitted
    across dimensions).  Returns ``z``, ``threshold``, ``agrees``, the ``resolution``
    (:func:`icl_proofs.claims.checks.resolution` of the intercept's standard error) and
    ``one_over_d_fits``: whether the fit's χ² is within its 1 − α quantile (if not, 1/d does not
    describe the finite-d bias and the intercept is not to be trusted).
    """
    from scipy.stats import chi2

    from .claims.checks import resolution
    from .numeric.montecarlo import threshold

    z = (fit.limit - limit) / fit.limit_se
    chi2_ok = fit.dof == 0 or fit.chi2 <= chi2.isf(alpha, fit.dof)
    return {"z": float(z), "threshold": threshold(alpha), "agrees": abs(z) <= threshold(alpha),
            "resolution": resolution(fit.limit_se, limit, alpha), "one_over_d_fits": bool(chi2_ok)}
