"""dd25.linear-baseline-limit (icl_proofs/claims/dd25/baseline_limit.py), each result by independent routes:

* route "proportional-limit" vs route "dd25-floor": the limit of the finite-(d, ℓ) optimum at α → ∞ is
  the linear-model floor that dd25's attention claim derives separately (derive.linear_bound_symbolic);
* route "authors-result1" vs routes "proportional-limit" / "inverse-wishart": Lu et al.'s Result 1 (the
  authors' formula) at κ = ∞ against our limit (τ → ∞) and our OLS limit (τ > 1); its M_κ against the
  MP resolvent of icl_proofs.moments.proportional;
* route "dd25-sampler" / "conditional-monte-carlo" / "dd25-simulation": the claim's checks (quick), each
  with its negative control, which must not say holds.
"""
from __future__ import annotations

import pytest
import sympy as sp

from icl_proofs.claims.base import CheckContext, Status
from icl_proofs.claims.dd25 import baseline_limit as B
from icl_proofs.claims.dd25 import derive as D
from icl_proofs.moments import proportional as pp


def _zero(expr):
    return sp.simplify(pp.factor_radicands(sp.simplify(expr))) == 0


def test_route_proportional_limit_vs_dd25_floor():
    lim = B.optimal_error_limit("relu")
    floor = D.linear_bound_symbolic("relu").subs({D.s: 1, D.Delta: B.Delta})
    assert _zero(sp.limit(lim, B.alpha, sp.oo) - floor)
    # and it is strictly above the floor at finite α (a finite context costs something)
    assert sp.simplify(lim - floor).subs({B.alpha: 1, B.Delta: 0}) > 0
    # negative control: the limit with ℓ = αd replaced by ℓ = d/α is a different function of α
    wrong = pp.proportional_limit(B.optimal_error("relu"), {B.ell: 1 / B.alpha}, d=B.d).value
    assert not _zero(wrong - lim)


def test_finite_optimum_is_the_minimum_over_the_step():
    # γ* = c1²/β is where the quadratic m2 − 2γc1² + γ²β is smallest, and the minimum is E_lin
    m = B.link_moments("relu")
    g = sp.Symbol("g")
    beta = m["c1"] ** 2 / B.optimal_step("relu")
    quad = m["m2"] - 2 * g * m["c1"] ** 2 + g ** 2 * beta
    g_star = sp.solve(sp.diff(quad, g), g)[0]
    assert _zero(g_star - B.optimal_step("relu"))
    assert _zero(quad.subs(g, g_star) - B.optimal_error("relu"))


def test_route_authors_result1_vs_our_limits():
    x, k = sp.symbols("x k", positive=True)
    for probe in ({x: sp.Rational(7, 5), k: sp.Rational(3, 2)}, {x: sp.Rational(1, 10), k: 4}):
        assert abs(float((B.M_kappa_authors(x, k) - pp.mp_resolvent(x, 1 / k)).subs(probe))) < 1e-14
    r1 = B.lu_result1(branch="tau>1")
    lin = B.optimal_error_limit("linear").subs(B.Delta, sp.sqrt(B.rho))
    assert _zero(sp.limit(r1, B.tau, sp.oo) - lin)                                   # τ → ∞
    assert _zero(r1 - B.ridgeless_limit("linear").subs(B.Delta, sp.sqrt(B.rho)))     # τ > 1: OLS · τ/(τ − 1)
    assert _zero(B.lu_mapped("relu", branch="tau>1") - B.ridgeless_limit("relu"))
    # negative control: the transcription slip x* = ρ/α is caught by the same comparisons
    slipped = r1.subs(B.rho, B.rho - 1) + 1
    assert not _zero(sp.limit(slipped, B.tau, sp.oo) - lin)


def test_result1_branches_meet_sensible_limits():
    # τ → 0: no pretraining, the error is the trivial 1 + ρ; the τ < 1 branch at small τ approaches it
    val = float(B.lu_result1(sp.Rational(1, 1000), 1, sp.Rational(1, 4)))
    assert abs(val - 1.25) < 0.01
    with pytest.raises(B.UserInputError, match="branch"):
        B.lu_result1()
    with pytest.raises(B.UserInputError, match="link"):
        B.link_moments("cubic")


def _run(check, fn):
    return fn(CheckContext(quick=True, claim_id=B.LinearBaselineLimit.id, check_name=check.name))


@pytest.mark.parametrize("name", ["optimum-finite-d-sampler", "limit-1/d-extrapolation", "lu-result1-symbolic"])
def test_claim_checks_and_their_negative_controls(name):
    check = next(c for c in B.LinearBaselineLimit().checks() if c.name == name)
    assert _run(check, check.run).status == Status.HOLDS
    for control in check.controls:
        assert _run(check, control.run).status != Status.HOLDS, control.description


@pytest.mark.slow        # dd25's simulation pipeline at d = 16..40 (about a minute each on an idle machine)
@pytest.mark.parametrize("name", ["ridgeless-dd25-simulation", "ridge-dd25-simulation"])
def test_simulation_quick_agrees_and_its_control_is_rejected(name):
    # quick: 8 runs per d, possibly too coarse to say holds, but it must not refute; the wrong value
    # (ridgeless: no finite-n penalty; ridge: λ′ ignored) is refuted by the same (cached) data
    check = next(c for c in B.LinearBaselineLimit().checks() if c.name == name)
    assert _run(check, check.run).status != Status.REFUTED
    assert _run(check, check.controls[0].run).status == Status.REFUTED


def test_ridge_limit_tends_to_the_ridgeless_limit_and_decreases_the_variance():
    # route "proportional-limit": λ′ → 0⁺ of the MP ridge formula is the inverse-Wishart OLS limit (τ > 1)
    t = sp.Symbol("t", positive=True)
    ridge = B.ridge_limit("relu").subs(B.tau, 1 + t)
    r0 = sp.limit(ridge, pp.lam_sym, 0, "+")
    assert _zero(r0 - B.ridgeless_limit("relu").subs(B.tau, 1 + t))
    # a small ridge helps at τ = 2 (the derivative in λ′ at 0⁺ is negative) — a property, not a tautology
    at = {B.alpha: 1, B.Delta: sp.Rational(1, 10), B.tau: 2}
    f = sp.lambdify(pp.lam_sym, ridge.subs(t, 1).subs(at))
    assert f(0.05) < float(r0.subs(t, 1).subs(at))
