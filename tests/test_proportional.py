"""Proportional limits (icl_proofs.moments.proportional), each checked by an independent route:

* route "narayana": the MP moments by non-crossing-partition counting (Narayana polynomials)
  against (a) the series of the closed-form Stieltjes transform at λ = ∞ and (b) the proportional
  limit of the iterated-GD loss, a Wick-engine formula at finite d, N;
* route "inverse-wishart": the limit of the finite-N OLS error σ²d/(N − d − 1) against the MP ridge
  risk at λ → 0⁺ (α > 1);
* route "bayes": the posterior-mean identity (ridge at λ* = σ²γ) against the limit's own minimiser;
* route "monte-carlo": sampled spectra at d = 100, 200, 400 (N = αd), the conditional ridge risk
  (w and ε integrated out exactly given X), and a weighted fit mean(d) = a + b/d: the O(1/d)
  finite-d bias is *fitted*, and the intercept a is z-tested against the limit with its resolution.

Negative controls: a wrong formula (a slip in the formula, or N + 1 for N where the limit can see
it) must fail; the same Monte-Carlo data compared at d = 100 *without* the 1/d fit must fail too
(the bias is real, which is why it is extrapolated rather than absorbed in a wider tolerance).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import sympy as sp

from icl_proofs.claims.base import UserInputError
from icl_proofs.moments import inverse_wishart as iw
from icl_proofs.moments import iterated_gd as g
from icl_proofs.moments import proportional
from icl_proofs.testing import compare_limit

N, d = iw.N_sym, iw.d_sym
alpha, gamma, lam = proportional.alpha_sym, proportional.gamma_sym, proportional.lam_sym
s2 = proportional.sigma2_sym
ALPHA_TEST = 1e-3


# ------------------------------------------------------------------ the limit operator
def test_limits_of_simple_rational_functions():
    assert proportional.proportional_limit(iw.ols_icl_error().value).value == sp.Symbol("sigma2", nonnegative=True) / (alpha - 1)
    lim = proportional.proportional_limit(d * (d + 1) / (N + d + 1))
    assert (lim.value, lim.order) == (1 / (alpha + 1), 1)
    k = sp.Symbol("k", positive=True)
    kappa = sp.Symbol("kappa", positive=True)
    lim = proportional.proportional_limit(k * N / (d * (k + N + d)), {N: alpha, k: kappa})
    assert sp.simplify(lim.value - kappa * alpha / (kappa + alpha + 1)) == 0 and lim.order == 0


def test_trace_normalisation():
    # E(ŷ − y)² of one GD step with covariance Λ: the traces become d·τ, and the limit/d is in τ's
    loss = g.gd_loss(1, sigma2=0, Lambda="Lambda")
    lim = proportional.proportional_limit(loss)
    assert lim.order == 1
    taus = {str(s): s for s in lim.value.free_symbols if str(s).startswith("tau")}
    # route: at Λ = I every τ is 1 and the limit is the isotropic one
    iso = proportional.proportional_limit(g.gd_loss(1, sigma2=0)).value
    assert sp.simplify(lim.value.subs({t: 1 for t in taus.values()}) - iso) == 0
    assert "tau(Lambda)" in taus and any(name.count("Lambda") == 3 for name in taus)


def test_refusals_are_one_line():
    with pytest.raises(UserInputError, match="order=") as err:
        proportional.proportional_limit(sp.sqrt(d + N))
    assert "\n" not in str(err.value)
    with pytest.raises(UserInputError, match="ratio"):
        proportional.proportional_limit(N / d, {N: alpha * d})
    with pytest.raises(UserInputError, match="not finite"):
        proportional.proportional_limit(sp.exp(d) / d, order=0)


# ------------------------------------------------------------------ route narayana
def test_mp_resolvent_series_gives_the_narayana_moments():
    u = sp.Symbol("u", positive=True)
    K = 6
    series = sp.series(proportional.mp_resolvent(1 / u, gamma), u, 0, K + 2).removeO()
    for k in range(K + 1):        # r(λ) = Σ_k (−1)^k m_k λ^{−k−1}
        assert sp.expand(series.coeff(u, k + 1) - (-1) ** k * proportional.mp_moment(k)) == 0, k
    # negative control: the other root of the self-consistent equation is not a Stieltjes transform
    r = sp.Symbol("r")
    roots = sp.solve(r * (1 - gamma + lam + gamma * lam * r) - 1, r)
    other = [x for x in roots if sp.simplify(x - proportional.mp_resolvent()) != 0][0]
    assert other.subs({lam: 1, gamma: sp.Rational(1, 2)}) < 0


@pytest.mark.parametrize("L", [1, 2, 3])
def test_iterated_gd_limit_is_the_mp_integral(L):
    # the finite-(d, N) Wick formula, divided by d, tends to ∫ (1 − ηs)^{2L} dMP(1/α)(s)
    eta = g.eta_sym
    lim = proportional.proportional_limit(g.gd_loss(L, sigma2=0))
    mp = sum(sp.binomial(2 * L, k) * (-eta) ** k * proportional.mp_moment(k, 1 / alpha) for k in range(2 * L + 1))
    assert lim.order == 1 and sp.simplify(lim.value - mp) == 0
    # the noise part is O(1): σ²γ ∫ s (η Σ_j (1 − ηs)^j)² dMP
    noise = proportional.proportional_limit(g.gd_loss(L) - g.gd_loss(L, sigma2=0))
    s = sp.Symbol("s")
    integrand = sp.Poly(sp.expand(s * (eta * sum((1 - eta * s) ** j for j in range(L))) ** 2), s)
    mp_noise = g.sigma2_sym / alpha * sum(c * proportional.mp_moment(k, 1 / alpha) for (k,), c in integrand.terms())
    assert noise.order == 0 and sp.simplify(noise.value - mp_noise) == 0
    # negative control: MP with the ratio inverted (γ = α instead of 1/α) is not the limit
    wrong = sum(sp.binomial(2 * L, k) * (-eta) ** k * proportional.mp_moment(k, alpha) for k in range(2 * L + 1))
    assert sp.simplify(lim.value - wrong) != 0


# ------------------------------------------------------------------ route inverse-wishart
def _ridgeless(expr):
    return sp.simplify(proportional.factor_radicands(sp.limit(expr, lam, 0, "+")))


def test_ols_limit_equals_the_ridge_limit_at_zero_regularisation():
    t = sp.Symbol("t", positive=True)            # α = 1 + t > 1, γ = 1/α
    ols = proportional.proportional_limit(iw.ols_icl_error(sigma2=s2).value).value.subs(alpha, 1 + t)
    ridge0 = _ridgeless(proportional.ridge_risk_limit(lam, 1 / (1 + t), s2))
    assert sp.simplify(ols - ridge0) == 0
    # negative control: a finite formula with a different limit (N replaced by N − d in the
    # denominator) must differ; note N + 1 for N could NOT be seen here — the limit forgets it
    wrong = proportional.proportional_limit(s2 * d / (N - 2 * d - 1)).value.subs(alpha, 1 + t)
    assert sp.simplify(wrong - ridge0) != 0
    assert proportional.proportional_limit(s2 * d / (N - d)).value == proportional.proportional_limit(iw.ols_icl_error(sigma2=s2).value).value


def test_ridgeless_limit_above_the_interpolation_threshold():
    # γ = 1 + t > 1 (fewer examples than dimensions): the min-norm risk 1 − 1/γ + σ²/(γ − 1)
    t = sp.Symbol("t", positive=True)
    assert sp.simplify(_ridgeless(proportional.ridge_risk_limit(lam, 1 + t, s2)) - (1 - 1 / (1 + t) + s2 / t)) == 0


# ------------------------------------------------------------------ route bayes
def test_bayes_risk_is_the_minimum_of_the_ridge_limit():
    sig = proportional.sigma2_sym
    R = proportional.ridge_risk_limit(lam, gamma, sig)
    lam_star = sig * gamma
    assert sp.simplify(sp.diff(R, lam).subs(lam, lam_star)) == 0        # stationary at λ* = σ²γ
    assert sp.simplify(proportional.bayes_risk_limit(gamma, sig) - sig * gamma * proportional.mp_resolvent(lam_star, gamma)) == 0
    f = sp.lambdify(lam, R.subs({gamma: sp.Rational(1, 2), sig: sp.Rational(1, 2)}))
    grid = np.linspace(0.01, 3, 300)
    assert np.all(f(grid) >= f(0.25) - 1e-12)                           # and it is the minimum
    # negative control: λ = σ² (forgetting γ) is not stationary
    assert sp.simplify(sp.diff(R, lam).subs(lam, sig).subs({gamma: sp.Rational(1, 2), sig: 1})) != 0


# ------------------------------------------------------------------ route monte-carlo
DS, REPS = (50, 100, 200, 400), (1024, 128, 32, 16)
MC_ALPHA, MC_LAM, MC_SIGMA2 = 2.0, 0.5, 0.5


@lru_cache(maxsize=None)
def _spectra():
    rng = np.random.default_rng(2024)
    return [proportional.sample_spectra(rng, dim, MC_ALPHA, reps) for dim, reps in zip(DS, REPS)]


def _fit(lam_value):
    means, ses = [], []
    for N_, eigs in _spectra():
        x = proportional.ridge_risk_monte_carlo(eigs, N_, lam_value, MC_SIGMA2)
        means.append(x.mean())
        ses.append(x.std(ddof=1) / np.sqrt(len(x)))
    return proportional.extrapolate_in_1_over_d(DS, means, ses), means, ses


def _limit_value(expr, lam_value):
    return float(expr.subs({lam: lam_value, gamma: 1 / sp.Float(MC_ALPHA), s2: MC_SIGMA2}))


@pytest.mark.parametrize("lam_value", [MC_LAM, MC_SIGMA2 / MC_ALPHA])   # a ridge and the Bayes λ*
def test_monte_carlo_ridge_limit_with_1_over_d_extrapolation(lam_value):
    limit = _limit_value(proportional.ridge_risk_limit(lam, gamma, s2), lam_value)
    fit, means, ses = _fit(lam_value)
    out = compare_limit(fit, limit, ALPHA_TEST)
    assert out["agrees"], (out, fit)
    assert out["one_over_d_fits"], fit                     # a + b/d describes the three dimensions
    assert out["resolution"]["relative"] <= 0.005, out     # the test would see a 0.5 % error
    # negative control 1: the same data at d = 50 without the 1/d fit rejects the true limit —
    # the finite-d bias is real and is removed by the fit, not by a wider tolerance
    z_naive = (means[0] - limit) / ses[0]
    assert abs(z_naive) > out["threshold"], z_naive
    # negative control 2: a slip in the formula (the noise term without its λr′ part) is rejected
    L_ = sp.Dummy("L", positive=True)
    r = proportional.mp_resolvent(L_, gamma)
    slipped = (L_ ** 2 * (-sp.diff(r, L_)) + s2 * gamma * r).subs(L_, lam)
    wrong = compare_limit(fit, _limit_value(slipped, lam_value), ALPHA_TEST)
    assert not wrong["agrees"], wrong
