"""dd25.attention-features: each test names one identity, asserts one equality, and says which second
route it is checked against.  The mutation tests break one building block of the derivation and
require the check guarding it to fail."""
import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

import icl_proofs.claims.dd25.attention as attention  # registers the claim
from icl_proofs.claims import CheckContext, Status, get
from icl_proofs.claims.dd25 import derive
from icl_proofs.cli import cli
from icl_proofs.numeric import montecarlo as mc

CTX = CheckContext(quick=True, seed=0, dps=30, alpha=1e-3)
CLAIM_ID = "dd25.attention-features"


def _run(check_name, ctx=CTX):
    check = next(c for c in attention.AttentionFeatures().checks() if c.name == check_name)
    return check.run(ctx)


@pytest.fixture
def fresh_caches():
    """Mutation tests patch a building block: clear the derivation caches before and after."""
    derive.clear_caches()
    yield
    derive.clear_caches()


# --------------------------------------------------------------------------- reparameterisation


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("ell", [1, 2, 3, 4])
def test_lsa_prediction_equals_gamma_pairing(d, ell):
    """LSA f(Z)[d+1, ℓ+1] = x_qᵀ Γ b, Γ = v_22 [M_11ᵀ, m_21], κ = 1 (symbolic, all weights free)."""
    assert derive.reparameterisation_difference(d, ell) == 0


def test_lsa_fixes_first_block_scale_kappa_one():
    """κ = 2 leaves −(1/2) v_22 k_11 x_q b1-term: the LSA's 1/ℓ is the same on both blocks."""
    diff = derive.reparameterisation_difference(1, 2, kap=2)
    k11, v22, xq = sp.symbols("k_1_1 v_2_2 xq_1")
    x1, x2, y1, y2 = sp.symbols("x_1_1 x_2_1 y_1 y_2")
    assert sp.expand(diff + k11 * v22 * xq * (x1 * y1 + x2 * y2) / 2) == 0


def test_lsa_reparameterisation_agrees_with_numeric_lsa_model():
    """Second route: the project's NumPy LSA (models.lsa, ρ = ℓ) — checked inside the symbolic check."""
    assert _run("reparameterisation").status is Status.HOLDS


# --------------------------------------------------------------------------- moments, E[bbᵀ], t


@pytest.mark.parametrize("order", [2, 4, 6])
def test_half_line_moment_equals_double_factorial(order):
    """E[g^k 1{g>0}] (SymPy integrate) = (k−1)!!/2 (second route: the double-factorial formula)."""
    a = order // 2
    assert derive.relu_moment(a, order - a) == sp.factorial2(order - 1) / 2


def test_one_sample_moments_relu():
    """E[y²u²] = 3/2 + Δ², E[y³u] = 3/2 + 3Δ²/2, E[y⁴] = 3/2 + 3Δ² + 3Δ⁴ (hand expansion of (φ+ε)^a)."""
    m = derive.one_sample_frame_moments()
    De = derive.Delta
    got = (m["E[yx]"], m["E[y^2]"], m["E[y^2 u^2]"], m["E[y^3 u]"], m["E[y^4]"])
    want = (sp.Rational(1, 2), sp.Rational(1, 2) + De**2, sp.Rational(3, 2) + De**2,
            sp.Rational(3, 2) + 3 * De**2 / 2, sp.Rational(3, 2) + 3 * De**2 + 3 * De**4)
    assert [sp.expand(g - w) for g, w in zip(got, want)] == [0] * 5


def test_t_at_d1_l1_noiseless_is_three():
    """d = ℓ = 1, Δ = 0: t = E[y²u²] + E[y⁴] = 3/2 + 3/2 (by hand)."""
    assert derive.normaliser_t().subs({derive.d: 1, derive.ell: 1, derive.Delta: 0, derive.kappa: 1}) == 3


@pytest.mark.parametrize("d,ell,Delta,kappa", [(20, 20, Fraction(1, 100), Fraction(1)), (7, 3, Fraction(3, 2),
                                                                                           Fraction(-2, 3))])
def test_t_symbolic_equals_variance_form(d, ell, Delta, kappa):
    """Symbolic t (frame blocks) = exact rational t from the variance form with double-factorial moments."""
    t = derive.normaliser_t().subs({derive.d: d, derive.ell: ell, derive.Delta: sp.Rational(Delta.numerator, Delta.denominator),
                               derive.kappa: sp.Rational(kappa.numerator, kappa.denominator)})
    assert attention._frac(t) == attention.t_by_variance_form(d, ell, Delta, kappa)


def test_t_float_function_matches_symbolic():
    """normaliser_t_relu_isotropic = the symbolic t evaluated exactly (second route: SymPy rationals)."""
    exact = derive.normaliser_t().subs({derive.d: 10, derive.ell: 20, derive.Delta: sp.Rational(1, 100), derive.kappa: 1})
    assert derive.normaliser_t_relu_isotropic(10, 20, 0.01) == pytest.approx(float(exact), rel=1e-14)


def test_bb_general_sigma_equals_frame_form_at_identity():
    """E[bbᵀ|ξ] for general Σ_x (conditional Gaussian) = frame form (ξ̂, ξ̂^⊥) at Σ_x = I."""
    xi = np.random.default_rng(3).standard_normal(5)
    assert np.allclose(derive.bb_second_moment(np.eye(5), xi, 6, 0.4, -1.3),
                       derive.bb_second_moment_isotropic(xi, 6, 0.4, -1.3), rtol=1e-13, atol=1e-15)


def test_trace_of_bb_does_not_depend_on_xi():
    """tr E[bbᵀ|ξ] = t/d for every ξ when Σ_x = I (second route: the general-Σ_x formula at random ξ)."""
    rng = np.random.default_rng(4)
    traces = {round(float(np.trace(derive.bb_second_moment(np.eye(4), rng.standard_normal(4), 3, 0.2, 1.5))), 12)
              for _ in range(5)}
    assert traces == {round(derive.normaliser_t_relu_isotropic(4, 3, 0.2, 1.5) / 4, 12)}


# --------------------------------------------------------------------------- linear lower bound


def test_relu_bound_symbolic_is_quarter_s2_plus_noise():
    """min_a E[(y − aᵀx)²] = s²/4 + Δ² for ReLU (SymPy half-line integrals)."""
    assert sp.expand(derive.linear_bound_symbolic("relu") - (derive.s**2 / 4 + derive.Delta**2)) == 0


def test_relu_bound_equals_mpmath_quadrature():
    """Second route: E[φ(sg)²] − E[φ(sg)g]² + Δ² by mpmath quadrature at s = 0.7, Δ = 0.3."""
    with mpmath.workdps(30):
        q = attention.bound_by_quadrature(lambda v: v if v > 0 else mpmath.mpf(0), mpmath.mpf("0.7"), mpmath.mpf("0.3"))
        assert abs(q - (mpmath.mpf("0.49") / 4 + mpmath.mpf("0.09"))) < mpmath.mpf(10) ** -25


def test_tanh_bound_vectorised_equals_mpmath():
    """Composite Gauss–Legendre (NumPy) tanh bound = mpmath quadrature at s = 0.8."""
    with mpmath.workdps(25):
        q = float(attention.bound_by_quadrature(mpmath.tanh, mpmath.mpf("0.8"), mpmath.mpf("0.05")))
    assert float(derive.linear_bound_at_scale(0.64, 0.05, "tanh")) == pytest.approx(q, abs=1e-13)


def test_spiked_input_bound_exact_average_equals_monte_carlo_over_xi():
    """E_ξ s² = (1 + θ/d)/(1 + θ) (isotropic Σ_ξ) vs the forced Monte-Carlo path over ξ (z-test)."""
    d, theta = 5, 3.0
    gam = np.ones(d) / math.sqrt(d)
    Sx = np.eye(d) + theta * np.outer(gam, gam)
    exact = derive.linear_error_lower_bound(Sx, np.eye(d), 0.1)
    assert exact == pytest.approx((1 + theta / d) / (1 + theta) / 4 + 0.01, rel=1e-14)
    est = derive.linear_error_lower_bound(Sx, np.eye(d), 0.1, rng=7, n_mc=100_000, force_mc=True)
    assert mc.z_check(est, exact, 1e-3)[2]


def test_bound_returns_estimate_when_no_exact_average():
    """Spiked Σ_x and spiked Σ_ξ: the average over ξ is Monte Carlo (an Estimate below the Σ_ξ = I value
    would mean nothing; just the type and a sane range)."""
    d = 4
    gam = np.ones(d) / 2
    est = derive.linear_error_lower_bound(np.eye(d) + 2 * np.outer(gam, gam), np.eye(d) + 5 * np.outer(gam, gam), 0.0,
                                     n_mc=20_000)
    assert isinstance(est, mc.Estimate) and 1 / (4 * 3) <= est.mean <= 1 / 4


def test_ridge_dual_equals_primal():
    """Dual ridge Fᵀ(FFᵀ + nλI)⁻¹y = primal (FᵀF + nλI)⁻¹Fᵀy when n < p."""
    rng = np.random.default_rng(5)
    F, y = rng.standard_normal((10, 30)), rng.standard_normal(10)
    assert np.allclose(attention.ridge_fit(F, y, 0.3), np.linalg.solve(F.T @ F + 3.0 * np.eye(30), F.T @ y))


# --------------------------------------------------------------------------- the claim, CLI


def test_all_checks_hold_quick():
    """Every route (symbolic, monte-carlo, mpmath, hypothesis) confirms the derivations in quick mode."""
    results = [c.run(CTX) for c in get(CLAIM_ID).checks()]
    assert {r.name: r.status for r in results} == {r.name: Status.HOLDS for r in results}


def test_quantities_t_and_bound_exact():
    """eval's t and bound are exact rationals: t(d=10, ℓ=20, Δ=1/100) and 1/4 + Δ²."""
    q = get(CLAIM_ID).quantities({"d": sp.Integer(10), "ell": sp.Integer(20), "Delta": sp.Rational(1, 100),
                                  "kappa": sp.Integer(1)})
    assert (q["t"], q["linear ICL error lower bound (ReLU, Sigma_x = I)"]) == (
        attention.t_by_variance_form(10, 20, Fraction(1, 100), Fraction(1)), sp.Rational(2501, 10000))


def test_cli_eval_json():
    r = CliRunner().invoke(cli, ["eval", CLAIM_ID, "--param", "d=10", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert float(doc["quantities"]["t"]) == pytest.approx(derive.normaliser_t_relu_isotropic(10, 20, 0.01), rel=1e-14)


@pytest.mark.parametrize("arg", ["ell=0", "Delta=-1/2", "d=0"])
def test_cli_bad_input_exits_2_one_line(arg):
    r = CliRunner().invoke(cli, ["eval", CLAIM_ID, "--param", arg])
    assert (r.exit_code, len(r.stderr.strip().splitlines()), "Traceback" in r.output) == (2, 1, False)


# --------------------------------------------------------------------------- mutations must be caught


def _mutated_pair(Efg, Ef, Eg, L):
    return Efg / L + (1 - 1 / (L + 1)) * Ef * Eg  # (1 − 1/ℓ) → (1 − 1/(ℓ+1))


@pytest.mark.parametrize("check", ["t-hypothesis-variance-form", "t-monte-carlo"])
def test_mutated_pair_count_is_caught(check, fresh_caches, monkeypatch):
    monkeypatch.setattr(derive, "_iid_mean_product", _mutated_pair)
    assert _run(check).status is Status.REFUTED


@pytest.mark.parametrize("check", ["t-hypothesis-variance-form", "t-mpmath-quadrature"])
def test_dropped_noise_variance_is_caught(check, fresh_caches, monkeypatch):
    real = derive.noise_moment.__wrapped__
    monkeypatch.setattr(derive, "noise_moment", lambda k: sp.Integer(0) if k == 2 else real(k))  # drop the Δ² term
    assert _run(check).status is Status.REFUTED


def test_wrong_bound_is_caught(fresh_caches, monkeypatch):
    monkeypatch.setattr(derive, "linear_bound_symbolic", lambda target="relu": derive.s**2 / 2 + derive.Delta**2)
    assert _run("linear-bound-oracle-attains").status is Status.REFUTED
