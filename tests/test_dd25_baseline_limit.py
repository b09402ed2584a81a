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
from icl_proofs.claims.dd25 import baseline_limit
from icl_proofs.claims.dd25 import derive
from icl_proofs.moments import proportional as pp


def _zero(expr):
    return sp.simplify(pp.factor_radicands(sp.simplify(expr))) == 0


def test_route_proportional_limit_vs_dd25_floor():
    lim = baseline_limit.optimal_error_limit("relu")
    floor = derive.linear_bound_symbolic("relu").subs({derive.s: 1, derive.Delta: baseline_limit.Delta})
    assert _zero(sp.limit(lim, baseline_limit.alpha, sp.oo) - floor)
    # and it is strictly above the floor at finite α (a finite context costs something)
    assert sp.simplify(lim - floor).subs({baseline_limit.alpha: 1, baseline_limit.Delta: 0}) > 0
    # negative control: the limit with ℓ = αd replaced by ℓ = d/α is a different function of α
    wrong = pp.proportional_limit(baseline_limit.optimal_error("relu"), {baseline_limit.ell: 1 / baseline_limit.alpha}, d=baseline_limit.d).value
    assert not _zero(wrong - lim)


def test_finite_optimum_is_the_minimum_over_the_step():
    # γ* = c1²/β is where the quadratic m2 − 2γc1² + γ²β is smallest, and the minimum is E_lin
    m = baseline_limit.link_moments("relu")
    g = sp.Symbol("g")
    beta = m["c1"] ** 2 / baseline_limit.optimal_step("relu")
    quad = m["m2"] - 2 * g * m["c1"] ** 2 + g ** 2 * beta
    g_star = sp.solve(sp.diff(quad, g), g)[0]
    assert _zero(g_star - baseline_limit.optimal_step("relu"))
    assert _zero(quad.subs(g, g_star) - baseline_limit.optimal_error("relu"))


def test_route_authors_result1_vs_our_limits():
    x, k = sp.symbols("x k", positive=True)
    for probe in ({x: sp.Rational(7, 5), k: sp.Rational(3, 2)}, {x: sp.Rational(1, 10), k: 4}):
        assert abs(float((baseline_limit.M_kappa_authors(x, k) - pp.mp_resolvent(x, 1 / k)).subs(probe))) < 1e-14
    r1 = baseline_limit.lu_result1(branch="tau>1")
    lin = baseline_limit.optimal_error_limit("linear").subs(baseline_limit.Delta, sp.sqrt(baseline_limit.rho))
    assert _zero(sp.limit(r1, baseline_limit.tau, sp.oo) - lin)                                   # τ → ∞
    assert _zero(r1 - baseline_limit.ridgeless_limit("linear").subs(baseline_limit.Delta, sp.sqrt(baseline_limit.rho)))     # τ > 1: OLS · τ/(τ − 1)
    assert _zero(baseline_limit.lu_mapped("relu", branch="tau>1") - baseline_limit.ridgeless_limit("relu"))
    # negative control: the transcription slip x* = ρ/α is caught by the same comparisons
    slipped = r1.subs(baseline_limit.rho, baseline_limit.rho - 1) + 1
    assert not _zero(sp.limit(slipped, baseline_limit.tau, sp.oo) - lin)


def test_result1_branches_meet_sensible_limits():
    # τ → 0: no pretraining, the error is the trivial 1 + ρ; the τ < 1 branch at small τ approaches it
    val = float(baseline_limit.lu_result1(sp.Rational(1, 1000), 1, sp.Rational(1, 4)))
    assert abs(val - 1.25) < 0.01
    with pytest.raises(baseline_limit.UserInputError, match="branch"):
        baseline_limit.lu_result1()
    with pytest.raises(baseline_limit.UserInputError, match="link"):
        baseline_limit.link_moments("cubic")


def _run(check, fn):
    return fn(CheckContext(quick=True, claim_id=baseline_limit.LinearBaselineLimit.id, check_name=check.name))


@pytest.mark.parametrize("name", ["optimum-finite-d-sampler", "limit-1/d-extrapolation", "lu-result1-symbolic"])
def test_claim_checks_and_their_negative_controls(name):
    check = next(c for c in baseline_limit.LinearBaselineLimit().checks() if c.name == name)
    assert _run(check, check.run).status == Status.HOLDS
    for control in check.controls:
        assert _run(check, control.run).status != Status.HOLDS, control.description


@pytest.mark.slow        # dd25's simulation pipeline at d = 16..40 (about a minute each on an idle machine)
@pytest.mark.parametrize("name", ["ridgeless-dd25-simulation", "ridge-dd25-simulation"])
def test_simulation_quick_agrees_and_its_control_is_rejected(name):
    # quick: 8 runs per d, possibly too coarse to say holds, but it must not refute; the wrong value
    # (ridgeless: no finite-n penalty; ridge: λ′ ignored) is refuted by the same (cached) data
    check = next(c for c in baseline_limit.LinearBaselineLimit().checks() if c.name == name)
    assert _run(check, check.run).status != Status.REFUTED
    assert _run(check, check.controls[0].run).status == Status.REFUTED


def test_ridge_limit_tends_to_the_ridgeless_limit_and_decreases_the_variance():
    # route "proportional-limit": λ′ → 0⁺ of the MP ridge formula is the inverse-Wishart OLS limit (τ > 1)
    t = sp.Symbol("t", positive=True)
    ridge = baseline_limit.ridge_limit("relu").subs(baseline_limit.tau, 1 + t)
    r0 = sp.limit(ridge, pp.lam_sym, 0, "+")
    assert _zero(r0 - baseline_limit.ridgeless_limit("relu").subs(baseline_limit.tau, 1 + t))
    # a small ridge helps at τ = 2 (the derivative in λ′ at 0⁺ is negative) — a property, not a tautology
    at = {baseline_limit.alpha: 1, baseline_limit.Delta: sp.Rational(1, 10), baseline_limit.tau: 2}
    f = sp.lambdify(pp.lam_sym, ridge.subs(t, 1).subs(at))
    assert f(0.05) < float(r0.subs(t, 1).subs(at))


# ------------------------------------------------------------------ the quick routes against the old ones
# The claim's quick mode reads its formulas from the derivation cache and replaces SymPy's ``limit`` by
# cheaper exact routes; each new route is checked here against the old one (route named per test).

def test_route_leading_coefficient_vs_sympy_limit_at_tau_infinity():
    r1 = baseline_limit.lu_result1(branch="tau>1")
    slipped = r1.subs(baseline_limit.rho, baseline_limit.rho - 1) + 1
    for expr in (r1, slipped):
        assert _zero(baseline_limit.limit_at_infinity(expr, baseline_limit.tau) - sp.limit(expr, baseline_limit.tau, sp.oo))
    assert baseline_limit.limit_at_infinity(1 / baseline_limit.tau, baseline_limit.tau) == 0
    with pytest.raises(baseline_limit.UserInputError, match="infinite"):
        baseline_limit.limit_at_infinity(baseline_limit.tau ** 2 / (baseline_limit.tau + 1), baseline_limit.tau)


@pytest.mark.parametrize("branch", ["tau<1", "tau>1"])
def test_route_placeholder_series_vs_sympy_limit_of_the_full_ridge_formula(branch):
    # old route of lu-result1-symbolic: SymPy's limit of the whole ridge_limit (seconds); new: the
    # leading term of the MP ridge risk with placeholder noise/signal, E_lin(∞) and m2 − E_lin(∞) put in
    old = sp.limit(baseline_limit.ridge_limit("linear").subs(baseline_limit.tau, baseline_limit.BRANCH_TAU[branch]), pp.lam_sym, 0, "+")
    assert _zero(baseline_limit.ridge_limit_at_zero("linear", branch) - old)
    # and the series route against SymPy's limit on the small expression itself
    small = pp.ridge_risk_limit(pp.lam_sym, 1 / baseline_limit.BRANCH_TAU[branch], baseline_limit._NOISE, baseline_limit._SIGNAL)
    assert _zero(baseline_limit.limit_at_zero_plus(small, pp.lam_sym) - sp.limit(small, pp.lam_sym, 0, "+"))


def test_limit_at_zero_plus_orders():
    x = sp.Symbol("x", positive=True)
    assert baseline_limit.limit_at_zero_plus(x * (1 + x), x) == 0
    assert baseline_limit.limit_at_zero_plus((sp.sqrt(1 + x) - 1) / x, x) == sp.Rational(1, 2)
    with pytest.raises(baseline_limit.UserInputError, match="diverges"):
        baseline_limit.limit_at_zero_plus(1 / x + 1, x)


def test_fast_zero_test_agrees_with_full_simplification():
    a, x, k = baseline_limit.alpha, baseline_limit.x_probe, baseline_limit.k_probe
    rational_zero = a / (a + 1) - 1 + 1 / (a + 1)
    assert baseline_limit._is_zero(rational_zero)
    assert not baseline_limit._is_zero(rational_zero + a ** 2 / (a + 3))          # cancel is canonical: nonzero is nonzero
    radical = baseline_limit.M_kappa_authors(x, k) - pp.mp_resolvent(x, 1 / k)
    assert baseline_limit._is_zero(radical) and _zero(radical)
    assert not baseline_limit._is_zero(radical + 1 / (x + 7))


def test_cached_derivations_round_trip_the_disk_format_and_match_the_direct_routes():
    # every value of derived() must be cacheable, else disk_cached silently returns it uncached and
    # every run pays the derivation again
    from icl_proofs import cache

    doc = cache.entry_document("dd25-baseline-limit", "test", baseline_limit.derived.__wrapped__())
    back = cache.value_of(doc, "dd25-baseline-limit", "test")
    for link in baseline_limit.LINKS:
        direct = baseline_limit.integrate_link_moments(link)
        for key, val in direct.items():
            assert _zero(back[link]["moments"][key] - val) and _zero(baseline_limit.link_moments(link)[key] - val)
        lim = pp.proportional_limit(baseline_limit.optimal_error(link), {baseline_limit.ell: baseline_limit.alpha}, d=baseline_limit.d).value
        assert _zero(back[link]["limit"] - lim) and _zero(baseline_limit.optimal_error_limit(link) - lim)
    assert _zero(back["mp-resolvent at gamma = 1/k"] - pp.mp_resolvent(baseline_limit.x_probe, 1 / baseline_limit.k_probe))


def test_symbolic_check_and_its_control_need_no_sympy_limit(monkeypatch):
    # the old check took SymPy's limit three times (seconds); the quick route must not fall back to it
    baseline_limit.derived()                                   # the cached derivations themselves are computed first

    def no_limit(*args, **kwargs):
        raise AssertionError("sp.limit called")

    monkeypatch.setattr(sp, "limit", no_limit)
    check = next(c for c in baseline_limit.LinearBaselineLimit().checks() if c.name == "lu-result1-symbolic")
    assert _run(check, check.run).status == Status.HOLDS
    assert _run(check, check.controls[0].run).status == Status.REFUTED


def test_route_diagonal_slice_vs_trace_of_the_feature_block():
    import numpy as np

    from icl_proofs.claims.dd25 import data

    dd, L = 5, 7
    src = data.Source(data.Cov.identity(dd), data.Cov.identity(dd), 0.1, "relu")
    batch = data.sample_source_chunk(src, 64, L, np.random.default_rng(0))
    trace = np.trace(batch.h.reshape(64, dd, dd + 1)[:, :, :dd], axis1=1, axis2=2)
    assert np.allclose(batch.h[:, ::dd + 2].sum(axis=1), trace, rtol=1e-12, atol=1e-12)
    assert batch.h[:, ::dd + 2].shape == (64, dd)


def test_quick_sampler_check_states_each_case_resolution_within_the_effect():
    check = next(c for c in baseline_limit.LinearBaselineLimit().checks() if c.name == "optimum-finite-d-sampler")
    out = _run(check, check.run)
    assert out.status == Status.HOLDS and out.resolution["relative"] <= 0.05
    assert out.evidence.count("resolution") == 4      # one per case, and the worst
