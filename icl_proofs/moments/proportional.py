"""Proportional limits: d, N (and k, M, …) → ∞ at fixed ratios, exactly in SymPy.

Two tools.

1. :func:`proportional_limit` takes any derived finite formula (a rational function of d, N, …,
   possibly with trace atoms tr(Λ^k) of the Wick engine) and returns its leading behaviour
   ``expr ≈ value · d^order`` as d → ∞ with ``N = α d`` (and any other ratio you give).  Trace
   atoms are normalised first, ``tr(W) = d · τ(W)`` with τ the normalised trace (the limiting
   spectral moment), so a formula in tr(Λ), tr(Λ²)… has a limit in τ's.  The order is read off
   exactly (the degree difference of numerator and denominator in d) unless you fix it.

2. The Marchenko–Pastur deterministic equivalent for ridge.  For ``x ~ N(0, I_d)`` and
   ``Σ̂ = (1/N) Σ_i x_i x_iᵀ`` with ``γ = d/N`` fixed, the empirical spectral law of Σ̂ tends to MP(γ);
   its Stieltjes transform at ``−λ`` (λ > 0), ``r(λ) = ∫ dμ(s)/(s + λ)``, is the root of the MP
   self-consistent equation ``r = 1/(1 − γ + λ + γλ r)`` that is positive (:func:`mp_resolvent`:
   the root is *chosen* by that property, not typed in; its series at λ = ∞ is checked against
   the Narayana moments in the tests).
   With a task ``w ~ N(0, (r_w²/d) I)``, noise σ² and ridge ``ŵ = (Σ̂ + λI)⁻¹ Xᵀy/N``::

       E‖ŵ − w‖² = r_w² λ² (1/d) tr(Σ̂ + λ)⁻² + σ² (1/N) tr Σ̂(Σ̂ + λ)⁻²
                 → r_w² λ² (−r′(λ)) + σ² γ (r(λ) + λ r′(λ))         (:func:`ridge_risk_limit`)

   (for isotropic queries this is the in-context error against the clean label).  The posterior
   mean is the ridge at ``λ* = σ²γ/r_w²``, so the Bayes risk is ``ridge_risk_limit`` at λ*
   (:func:`bayes_risk_limit`; it simplifies to ``σ² γ r(λ*)``, checked in the tests).

Independent routes (tests): Narayana moments of MP against the series of r at λ = ∞ and against
the proportional limit of the iterated-GD loss (a Wick-engine formula); the limit of the finite-N OLS
error σ²d/(N − d − 1) (:mod:`.inverse_wishart`) against the ridge limit at λ → 0⁺ (α > 1); and
Monte Carlo at d = 50–400 with a 1/d extrapolation (:func:`ridge_risk_monte_carlo`).

>>> proportional_limit(d_sym * (d_sym + 1) / (N_sym + d_sym + 1)).value     # zfb23's optimum, N = αd
1/(alpha + 1)
>>> sp.simplify(ridge_risk_limit(sp.Integer(1), sp.Integer(1), sigma2=0))   # γ = λ = 1, noise-free
sqrt(5)/5
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import sympy as sp

from ..errors import UserInputError
from . import traces
from .inverse_wishart import N_sym, d_sym

__all__ = ["ProportionalLimit", "proportional_limit", "normalise_traces", "alpha_sym", "gamma_sym",
           "lam_sym", "sigma2_sym", "mp_resolvent", "mp_moment", "ridge_risk_limit", "bayes_risk_limit",
           "ridge_risk_conditional", "ridge_risk_monte_carlo", "sample_spectra",
           "extrapolate_in_1_over_d", "Extrapolation", "factor_radicands"]

#: N/d and d/N
alpha_sym = sp.Symbol("alpha", positive=True)
gamma_sym = sp.Symbol("gamma", positive=True)
lam_sym = sp.Symbol("lambda", positive=True)
#: the label-noise variance (the same symbol as in :mod:`.iterated_gd`)
sigma2_sym = sp.Symbol("sigma2", nonnegative=True)


@dataclasses.dataclass(frozen=True)
class ProportionalLimit:
    """``expr ≈ value · d^order`` as d → ∞ at the given ratios."""

    value: sp.Expr
    order: sp.Expr
    ratios: tuple

    def __str__(self) -> str:
        return f"{sp.sstr(self.value)} · d^{sp.sstr(self.order)}"


def _tau(word) -> sp.Symbol:
    """The normalised trace τ(W) = lim tr(W)/d as a symbol named like the trace atom."""
    text = "*".join(l.text() for l in word) or "I"
    return sp.Symbol(f"tau({text})", real=True)


def normalise_traces(expr: sp.Expr, d=d_sym) -> sp.Expr:
    """Replace each trace atom tr(W) by ``d · τ(W)`` (bilinear forms of fixed vectors stay)."""
    sub = {}
    for atom in traces.trace_atoms(sp.sympify(expr)):
        inf = traces.info(atom)
        if inf.kind == "trace":
            sub[atom] = d * _tau(inf.word)
    return sp.sympify(expr).xreplace(sub)


def _ratio_substitution(ratios: Mapping, d) -> dict:
    sub = {}
    for sym, ratio in ratios.items():
        sym = sp.Symbol(sym) if isinstance(sym, str) else sym
        ratio = sp.sympify(ratio)
        if d in ratio.free_symbols:
            raise UserInputError(f"give the ratio {sym}/d, not an expression in d: got {ratio}")
        sub[sym] = ratio * d
    return sub


def proportional_limit(expr, ratios: Mapping | None = None, *, d=d_sym, order=None) -> ProportionalLimit:
    """The leading term of ``expr`` as ``d → ∞`` with ``sym = ratio · d`` for each ``ratios`` entry.

    ``ratios`` defaults to ``{N: alpha}``.  ``order``: the power of d to divide by; by default the
    exact degree difference of the (rational) expression, so ``value`` is finite and nonzero.
    For non-rational expressions give ``order`` (the limit is then SymPy's ``limit``).
    """
    ratios = {N_sym: alpha_sym} if ratios is None else ratios
    e = normalise_traces(sp.sympify(expr), d).xreplace(_ratio_substitution(ratios, d))
    e = sp.cancel(sp.together(e))
    num, den = sp.fraction(e)
    if order is None:
        if not (num.is_polynomial(d) and den.is_polynomial(d)):
            raise UserInputError("not a rational function of d after substitution: give order= "
                                 "(the power of d to divide by)")
        if num == 0:
            return ProportionalLimit(sp.Integer(0), sp.Integer(0), tuple(ratios.items()))
        pn, pd = sp.Poly(num, d), sp.Poly(den, d)
        order = sp.Integer(pn.degree() - pd.degree())
        value = sp.factor(pn.LC() / pd.LC())
    else:
        order = sp.sympify(order)
        value = sp.factor(sp.limit(e / d ** order, d, sp.oo))
    if value.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        raise UserInputError(f"the limit of expr/d^{order} is not finite: {value}")
    return ProportionalLimit(value, order, tuple(ratios.items()))


def factor_radicands(expr) -> sp.Expr:
    """Factor the base of every square root, so ``sqrt(t² + 2t + 1)`` becomes ``t + 1`` for t > 0
    (SymPy's limits leave perfect squares under the root)."""
    return sp.sympify(expr).replace(
        lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2,
        lambda x: sp.factor(x.base) ** x.exp)


# ------------------------------------------------------------------------------ Marchenko–Pastur

def mp_resolvent(lam=lam_sym, gamma=gamma_sym) -> sp.Expr:
    """``r(λ) = ∫ dμ_MP(γ)(s)/(s + λ)`` for λ > 0, in closed form.

    Derived: r solves ``r (1 − γ + λ + γλ r) = 1`` (the MP self-consistent equation at z = −λ).  Of
    the two roots, the one kept is positive for all λ, γ > 0 (the other is negative: their product is
    −1/(γλ)) — that is the Stieltjes transform of a law on [0, ∞) at a negative argument.
    """
    r = sp.Symbol("r")
    lam_, gam_ = sp.Symbol("lam_", positive=True), sp.Symbol("gam_", positive=True)
    roots = sp.solve(sp.Eq(r * (1 - gam_ + lam_ + gam_ * lam_ * r), 1), r)
    # the positive root: test the sign at one point of the (connected) parameter domain; the roots
    # never cross (discriminant (1 − γ + λ)² + 4γλ > 0), so one point decides
    probe = {lam_: 1, gam_: sp.Rational(1, 2)}
    positive = [x for x in roots if x.subs(probe) > 0]
    if len(positive) != 1:   # pragma: no cover - would mean the algebra above is wrong
        raise AssertionError(f"expected exactly one positive root, got {roots}")
    return positive[0].subs({lam_: lam, gam_: gamma})


def mp_moment(k: int, gamma=gamma_sym) -> sp.Expr:
    """``∫ s^k dμ_MP(γ)``: the Narayana polynomial ``Σ_{j<k} γ^j/(j+1) C(k, j) C(k−1, j)`` (k ≥ 1).

    The combinatorial route (non-crossing partitions), independent of :func:`mp_resolvent`.
    """
    if k == 0:
        return sp.Integer(1)
    return sp.expand(sum(gamma ** j * sp.binomial(k, j) * sp.binomial(k - 1, j) / (j + 1) for j in range(k)))


def ridge_risk_limit(lam=lam_sym, gamma=gamma_sym, sigma2=None, signal=1) -> sp.Expr:
    """The proportional limit of ``E‖ŵ_λ − w‖²`` (module docstring), ``w ~ N(0, (signal/d) I)``."""
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    L = sp.Dummy("L", positive=True)
    r = mp_resolvent(L, gamma)
    dr = sp.diff(r, L)
    risk = sp.sympify(signal) * L ** 2 * (-dr) + sigma2 * gamma * (r + L * dr)
    return risk.subs(L, lam)


def bayes_risk_limit(gamma=gamma_sym, sigma2=None, signal=1) -> sp.Expr:
    """The Bayes (posterior-mean) risk limit: the ridge limit at ``λ* = σ²γ/signal``."""
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    lam_star = sigma2 * gamma / sp.sympify(signal)
    return ridge_risk_limit(lam_star, gamma, sigma2, signal)


# ------------------------------------------------------------------------------ Monte-Carlo route

def ridge_risk_conditional(eigs: np.ndarray, N: int, lam: float, sigma2: float, signal: float = 1.0) -> float:
    """``E[‖ŵ_λ − w‖² | X]`` from the eigenvalues of Σ̂ (w and ε integrated out exactly)."""
    d = eigs.shape[-1]
    return float(signal * lam ** 2 * np.mean(1 / (eigs + lam) ** 2)
                 + sigma2 * d / N * np.mean(eigs / (eigs + lam) ** 2))


def sample_spectra(rng: np.random.Generator, d: int, alpha: float, reps: int) -> tuple[int, np.ndarray]:
    """``(N, eigs)``: ``reps`` spectra (shape ``(reps, d)``) of Σ̂ = XᵀX/N, X with N = round(αd) Gaussian rows."""
    N = int(round(alpha * d))
    eigs = np.empty((reps, d))
    for i in range(reps):
        X = rng.standard_normal((N, d))
        eigs[i] = np.linalg.eigvalsh(X.T @ X / N)
    return N, eigs


def ridge_risk_monte_carlo(spectra: np.ndarray, N: int, lam: float, sigma2: float, signal: float = 1.0) -> np.ndarray:
    """The conditional ridge risk of each sampled spectrum (one number per prompt)."""
    return np.array([ridge_risk_conditional(e, N, lam, sigma2, signal) for e in spectra])


@dataclasses.dataclass(frozen=True)
class Extrapolation:
    """Weighted least-squares fit ``mean(d) = limit + slope/d`` across dimensions."""

    limit: float
    limit_se: float
    slope: float
    slope_se: float
    chi2: float        #: residual χ² of the fit (dof = len(ds) − 2): large means 1/d is not enough
    dof: int
    ds: tuple
    means: tuple
    ses: tuple


def extrapolate_in_1_over_d(ds: Sequence[int], means: Sequence[float], ses: Sequence[float]) -> Extrapolation:
    """Fit ``mean = a + b/d`` (weights 1/se²) and return a with its standard error.

    Why: at finite d the Monte-Carlo mean carries an O(1/d) bias, which is not noise; fitting it
    across d removes it instead of hiding it under a wider tolerance.
    """
    ds, means, ses = (np.asarray(v, dtype=float) for v in (ds, means, ses))
    if len(ds) < 2:
        raise UserInputError("the 1/d extrapolation needs at least two dimensions")
    Xd = np.column_stack([np.ones_like(ds), 1 / ds])
    Wt = 1 / ses ** 2
    cov = np.linalg.inv(Xd.T @ (Xd * Wt[:, None]))
    coef = cov @ (Xd.T @ (Wt * means))
    resid = means - Xd @ coef
    return Extrapolation(float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1]), float(np.sqrt(cov[1, 1])),
                         float(np.sum(Wt * resid ** 2)), len(ds) - 2, tuple(ds.astype(int)),
                         tuple(means), tuple(ses))

