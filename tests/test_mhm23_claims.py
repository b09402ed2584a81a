"""mhm23 (Mahankali, Hashimoto & Ma 2023): every check holds on the paper's (reconstructed) statements,
each route sees the concrete wrong alternatives, and the derivations match a route of their own."""
import numpy as np
import pytest
import sympy as sp

from icl_proofs.claims import all_claims, get
from icl_proofs.claims.base import CheckContext, Status
from icl_proofs.claims.mhm23 import claims
from icl_proofs.claims.mhm23 import derive
from icl_proofs.claims.mhm23 import paper
from icl_proofs.moments import iterated_gd as ig
from icl_proofs.moments.inverse_wishart import N_sym, d_sym
from icl_proofs.testing import assert_expectation

CTX = CheckContext(quick=True, seed=0)
IDS = {"mhm23.isotropic-one-step-gd", "mhm23.preconditioned-one-step-gd", "mhm23.gap-to-bayes"}


def _run(claim_id, check_name, ctx=CTX):
    """The check's result as the runner gives it (the runner stamps the Check's route on it)."""
    from icl_proofs.runner import check_context, run_check

    claim = get(claim_id)
    check = next(c for c in claim.checks() if c.name == check_name)
    return run_check(check, check_context(CheckContext(quick=ctx.quick, seed=ctx.seed), claim_id, check))


def test_registered_and_discovered():
    assert IDS <= {c.id for c in all_claims()}


@pytest.mark.parametrize("claim_id,check_name", [(c.id, k.name) for c in all_claims()
                                                  if c.id in IDS for k in c.checks()])
def test_check_holds(claim_id, check_name):
    r = _run(claim_id, check_name)
    assert r.status is Status.HOLDS, r.evidence
    assert r.route == next(k.route for k in get(claim_id).checks() if k.name == check_name)
    if r.route == "monte-carlo":      # a statistical "holds" states a resolution finer than 5 %
        assert r.resolution["relative"] <= claims.EFFECT


# ---------------------------------------------------------------- each route, against wrong answers
def test_symbolic_route_refutes_noise_blind_step():
    r = get("mhm23.isotropic-one-step-gd")._step_symbolic(CTX, N_sym / (N_sym + d_sym + 1))
    assert r.status is Status.REFUTED


def test_full_lsa_route_refutes_noise_blind_step():
    """The feature regression over every LSA parameter beats a wrong step on fresh prompts."""
    ctx = CheckContext(quick=True, seed=1, claim_id="mhm23.isotropic-one-step-gd", check_name="full-lsa-monte-carlo")
    r = get("mhm23.isotropic-one-step-gd")._full_lsa(ctx, N_sym / (N_sym + d_sym + 1))
    assert r.status is Status.REFUTED and r.witness["improvement"] > 0


def test_lsa_features_span_the_gd_step():
    """The stated predictor ηx_qᵀh is in the span of the LSA features (so the relaxation contains it)."""
    phi, _, h_xq = claims._lsa_features(np.random.default_rng(0), 50, 2, 3, 1.0)
    coef, *_ = np.linalg.lstsq(phi, h_xq, rcond=None)
    assert np.allclose(phi @ coef, h_xq, atol=1e-9)


def test_chi_square_route_refutes_off_by_one():
    """The d = 1 route alone (no Wick engine) sees n/(n + d + σ²) at d = 1."""
    wrong = N_sym / (N_sym + d_sym + ig.sigma2_sym)
    assert get("mhm23.isotropic-one-step-gd")._d1(CTX, wrong).status is Status.REFUTED


def test_monte_carlo_route_refutes_noise_blind_step():
    ctx = CheckContext(quick=True, seed=3, claim_id="mhm23.isotropic-one-step-gd", check_name="step-monte-carlo")
    r = get("mhm23.isotropic-one-step-gd")._mc(ctx, N_sym / (N_sym + d_sym + 1))
    assert r.status is Status.REFUTED and r.witness["z"][0] > 0


def test_exact_route_refutes_zfb23_preconditioner():
    """Ψ = I's optimum ((1 + 1/n)Σ + (trΣ + σ²)/n · I)⁻¹ is not the optimum when Ψ = Σ⁻¹."""
    def zfb(Sigma, N=N_sym, sigma2=ig.sigma2_sym):
        d = Sigma.shape[0]
        return ((1 + 1 / N) * Sigma + (Sigma.trace() + sigma2) / N * sp.eye(d)).inv()

    assert get("mhm23.preconditioned-one-step-gd")._exact(CTX, zfb).status is Status.REFUTED


# ---------------------------------------------------------------- derivations by a second route
def test_isotropic_optimum_by_shared_step_optimiser():
    """optimal_step (exact real-root isolation at concrete sizes) agrees with the symbolic argmin."""
    for d, n, s2 in [(2, 3, 2), (3, 7, sp.Rational(1, 2)), (1, 5, 0)]:
        opt = ig.optimal_step(1, d, n, s2)
        at = {d_sym: d, N_sym: n, ig.sigma2_sym: s2}
        assert sp.simplify(opt.eta - derive.isotropic_step_optimum()["eta*"].subs(at)) == 0
        assert sp.simplify(opt.loss - derive.isotropic_step_optimum()["min loss"].subs(at)) == 0


def test_min_loss_monte_carlo():
    """The derived minimum loss against the literal GD step on sampled prompts (assert_expectation)."""
    d, n, s2 = 3, 5, 0.5
    eta = float(paper.isotropic_step().subs({d_sym: d, N_sym: n, ig.sigma2_sym: sp.Rational(1, 2)}))
    sampler = lambda rng, k: ig.sample_gd_error(rng, k, d, n, [eta], s2)  # noqa: E731
    assert_expectation(sampler, derive.isotropic_step_optimum()["min loss"],
                       exact_at={d_sym: d, N_sym: n, ig.sigma2_sym: s2}, n=400_000)


def test_preconditioned_solution_is_stated_one():
    """eval's Γ* (the zero of the derived gradient) is ηΣ⁻¹ exactly, and the loss there is the
    isotropic minimum (whitening invariance)."""
    Sigma = sp.Matrix([[2, 1], [1, 3]])
    G = claims.PreconditionedOneStep._solve(Sigma, 7, sp.Rational(1, 3))
    assert sp.simplify(G - paper.preconditioner(Sigma, 7, sp.Rational(1, 3))) == sp.zeros(2, 2)
    q = get("mhm23.preconditioned-one-step-gd").quantities({"Sigma": Sigma, "N": 7, "sigma2": 0})
    assert abs(float(q["min_loss_clean_label"]) - 2 * 3 / 10) < 1e-25


def test_eval_isotropic_quantities():
    q = get("mhm23.isotropic-one-step-gd").quantities({"d": 3, "N": 7, "sigma2": sp.Rational(1, 2)})
    assert abs(float(q["eta_star"]) - 7 / 11.5) < 1e-25
    assert np.isclose(float(q["min_loss_vs_noisy_label"]) - float(q["min_loss_clean_label"]), 0.5)


def test_eval_ols_baseline_only_where_it_exists():
    """OLS error σ²d/(n − d − 1) (inverse Wishart) next to the LSA optimum; absent for n ≤ d + 1."""
    claim = get("mhm23.isotropic-one-step-gd")
    q = claim.quantities({"d": 10, "N": 12, "sigma2": 1})
    assert float(q["ols_error_clean_label"]) == 10.0 and float(q["min_loss_clean_label"]) == 5.0
    assert "ols_error_clean_label" not in claim.quantities({"d": 10, "N": 11, "sigma2": 1})


# ---------------------------------------------------------------- proportional limit vs Bayes
def test_wishart_spectra_moments():
    """The bidiagonal spectrum sampler against exact Wishart moments: E tr Σ̂/d = 1,
    E tr Σ̂²/d = 1 + (d + 1)/n (independent of the dense-matrix sampler)."""
    e = claims._wishart_spectra(np.random.default_rng(5), 30, 45, 4000)
    m1, m2 = e.mean(axis=1), (e ** 2).mean(axis=1)
    se1, se2 = m1.std() / np.sqrt(len(m1)), m2.std() / np.sqrt(len(m2))
    assert abs(m1.mean() - 1) < 4 * se1
    assert abs(m2.mean() - (1 + 31 / 45)) < 4 * se2


def test_lsa_limit_matches_finite_formula_at_large_d():
    """The derived limit against the exact finite-d optimum at d = 10⁶ (N = αd, σ² = s·d)."""
    from icl_proofs.moments.proportional import alpha_sym
    g = derive.proportional_gap()
    a, s, d = sp.Rational(3, 2), sp.Rational(1, 3), 10 ** 6
    finite = derive.isotropic_step_optimum()["min loss"].subs({d_sym: d, N_sym: a * d, ig.sigma2_sym: s * d}) / d
    assert abs(float(finite - g["LSA limit"].subs({alpha_sym: a, derive.s_sym: s}))) < 1e-5


def test_bayes_limit_small_noise_is_the_interpolation_limit():
    """s → 0: the Bayes risk tends to max(0, 1 − α) (noiseless recovery needs n ≥ d)."""
    from icl_proofs.moments.proportional import alpha_sym
    b = derive.proportional_gap()["Bayes limit"]
    assert sp.limit(b.subs(alpha_sym, sp.Rational(1, 2)), derive.s_sym, 0, "+") == sp.Rational(1, 2)
    assert sp.limit(b.subs(alpha_sym, 2), derive.s_sym, 0, "+") == 0


def test_gap_sweep_finds_counterexample_to_noise_blind_limit():
    r = get("mhm23.gap-to-bayes")._sweep(CTX, claims._noise_blind_limit())
    assert r.status is Status.REFUTED and "LSA − Bayes" in r.evidence


def test_gap_monte_carlo_refutes_wrong_bayes_limit(monkeypatch):
    """A Bayes limit off by 3 % is seen by the Monte-Carlo route."""
    true = derive.proportional_gap()
    wrong = dict(true, **{"Bayes limit": true["Bayes limit"] * sp.Rational(103, 100)})
    monkeypatch.setattr(derive, "proportional_gap", lambda: wrong)
    ctx = CheckContext(quick=True, seed=0, claim_id="mhm23.gap-to-bayes", check_name="gap-monte-carlo")
    assert get("mhm23.gap-to-bayes")._mc(ctx).status is Status.REFUTED
