"""The ridge baseline of PromptModel (icl_proofs.moments.resolvent), each answer by two independent routes:

* route "quadrature" vs route "monte-carlo": the exact error at d = 1, 2 (mpmath integral against the
  chi-square / two-eigenvalue Wishart density) against sampled prompts, CLT z-test with resolution;
* route "inverse-wishart": at λ = 0 the quadrature must give the OLS error derived from Bartlett
  chi-square moments (:func:`icl_proofs.moments.inverse_wishart.ols_icl_error`);
* route "posterior-variance": at d = 1 the Bayes risk E[σ²/(XᵀX + σ²/ψ)]·q + σ² (the posterior
  variance, a different integral) against the quadrature ridge error at λ* = σ²/(ψM); and λ* against
  a numerical minimiser of the quadrature error over λ;
* route "limit" vs route "monte-carlo": the Marchenko–Pastur deterministic equivalent against sampled
  spectra at d = 50–400, with the O(1/d) bias fitted (a + b/d), not tolerated.

Each has a negative control that must fail (a slipped formula or a wrong λ*).
"""
from __future__ import annotations

from functools import lru_cache

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize_scalar

from icl_proofs.errors import UserInputError
from icl_proofs.models.prompt_model import PromptModel
from icl_proofs.moments import proportional
from icl_proofs.testing import compare_limit

ALPHA_TEST = 1e-3
Z_CRIT = 3.29    # two-sided, α = 1e-3


def _model(d, c=1, q=None, psi=sp.Rational(1, 2), sigma2=sp.Rational(1, 4), M=6, mu=None):
    Lam = sp.eye(d) * c
    return PromptModel(Lambda=Lam, Lambda_query=None if q is None else sp.eye(d) * q,
                       task_cov=sp.eye(d) * psi, task_mean=mu, sigma2=sigma2, M=M)


def _z_test(sampler, exact, n, seed):
    x = sampler(np.random.default_rng(seed), n)
    se = x.std(ddof=1) / np.sqrt(n)
    z = (x.mean() - float(exact)) / se
    return z, Z_CRIT * se / abs(float(exact))      # z and the relative resolution at α (≈ power 0.5)


# ------------------------------------------------------------------ quadrature vs monte-carlo
CASES = [
    dict(d=1, lam=0.3),
    dict(d=1, lam=0.3, c=2, q=sp.Rational(1, 3), mu=sp.Matrix([1])),   # scaled covariates, query shift, mean
    dict(d=2, lam=0.5, M=7),
    dict(d=2, lam=0.2, c=sp.Rational(1, 2), M=5),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_route_quadrature_vs_route_monte_carlo(case):
    case = dict(case)
    lam = case.pop("lam")
    d = case["d"]
    if "mu" in case and case["mu"] is not None:
        case["mu"] = sp.ones(d, 1) * case["mu"][0]
    model = _model(**case)
    exact = model.ridge_error_exact(lam, dps=12)
    z, resolution = _z_test(model.ridge_sampler(lam), exact, 400_000, seed=11)
    assert abs(z) < Z_CRIT, (z, exact)
    assert resolution < 0.003, resolution
    # negative control: the noise term with d/M dropped (a slip of the formula) is rejected
    t_wrong = exact + float(model.sigma2) * 0.05
    z_wrong, _ = _z_test(model.ridge_sampler(lam), t_wrong, 400_000, seed=11)
    assert abs(z_wrong) > Z_CRIT, z_wrong


# ------------------------------------------------------------------ quadrature vs inverse-wishart
@pytest.mark.parametrize("d,M", [(1, 5), (2, 6)])
def test_route_quadrature_at_zero_ridge_is_the_inverse_wishart_ols_error(d, M):
    model = _model(d, M=M)
    ols = model.ols_error().value                       # σ²d/(M − d − 1) + σ², by Bartlett moments
    quad = model.ridge_error_exact(0, dps=12)
    assert abs(quad - float(ols)) < 1e-9
    # negative control: one example fewer (M − 1) gives a different OLS error, which the quadrature rejects
    fewer = _model(d, M=M - 1).ols_error().value
    assert abs(quad - float(fewer)) > 1e-3


# ------------------------------------------------------------------ bayes: posterior variance and the minimiser
def _posterior_variance_risk(M, c, q, psi, sigma2):
    """q E[σ²/(c·χ²_M + σ²/ψ)] + σ²: the Bayes risk as the mean posterior variance of w (d = 1)."""
    n = mpmath.mpf(M)
    dens = lambda u: u ** (n / 2 - 1) * mpmath.exp(-u / 2) / (2 ** (n / 2) * mpmath.gamma(n / 2))  # noqa: E731
    return q * mpmath.quad(lambda u: dens(u) * sigma2 / (c * u + sigma2 / psi), [0, n, mpmath.inf]) + sigma2


def test_route_posterior_variance_bayes_ridge_at_finite_M():
    c, q, psi, s2, M = 2, sp.Rational(1, 3), sp.Rational(1, 2), sp.Rational(1, 4), 6
    model = _model(1, c=c, q=q, psi=psi, sigma2=s2, M=M)
    lam_star = model.bayes_lambda()
    assert lam_star == pytest.approx(float(s2) / (float(psi) * M))
    bayes = _posterior_variance_risk(M, c, float(q), float(psi), float(s2))
    assert abs(model.ridge_error_exact(lam_star, dps=20) - bayes) < 1e-12
    # and λ* is where the ridge error is smallest (a numerical minimiser, no formula for λ*)
    res = minimize_scalar(lambda l: float(model.ridge_error_exact(l, dps=15)), bounds=(1e-3, 1), method="bounded",
                          options={"xatol": 1e-7})
    assert res.x == pytest.approx(lam_star, rel=1e-4)
    # negative control: the unnormalised convention λ = σ²/ψ (for XᵀX instead of XᵀX/M) is not optimal
    assert abs(model.ridge_error_exact(float(s2 / psi), dps=20) - bayes) > 1e-3


def test_bayes_lambda_refuses_a_law_it_does_not_cover():
    with pytest.raises(UserInputError, match="isotropic Gaussian task law") as err:
        _model(1, mu=sp.Matrix([1])).bayes_lambda()
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ limit vs monte-carlo (d = 50..400)
DS, REPS = (50, 100, 200, 400), (1024, 256, 64, 16)
ALPHA_MC, LAM, C, Q, SIGMA2 = 2, 0.5, 2.0, 0.5, 0.5


def _big_model(d, alpha=ALPHA_MC):
    # tr Ψ = 1 at every d: the signal is held fixed as d grows (w ~ N(0, I/d))
    return PromptModel(Lambda=np.eye(d) * C, Lambda_query=np.eye(d) * Q, task_cov=np.eye(d) / d,
                       sigma2=SIGMA2, M=alpha * d)


@lru_cache(maxsize=None)
def _fit(lam):
    means, ses = [], []
    for dim, reps in zip(DS, REPS):
        x = _big_model(dim).ridge_sampler(lam)(np.random.default_rng([7, dim]), reps)
        means.append(x.mean())
        ses.append(x.std(ddof=1) / np.sqrt(reps))
    return proportional.extrapolate_in_1_over_d(DS, means, ses), tuple(means), tuple(ses)


@pytest.mark.parametrize("which", ["ridge", "bayes"])
def test_route_limit_vs_route_monte_carlo_with_1_over_d_fit(which):
    model = _big_model(DS[-1])
    # λ* = σ²/(ψM) = σ²/α with ψ = 1/d, M = αd: the same at every d, so one λ serves the whole fit
    lam = LAM if which == "ridge" else model.bayes_lambda()
    if which == "bayes":
        assert _big_model(DS[0]).bayes_lambda() == pytest.approx(lam)
        # the ridge limit at λ* is the Bayes limit of proportional.py (σ²γ r(λ*), after the c-rescaling)
        bayes = Q * proportional.bayes_risk_limit(sp.Rational(1, ALPHA_MC), sp.Float(SIGMA2) / C, 1) + SIGMA2
        assert float(model.ridge_risk_limit(lam)) == pytest.approx(float(bayes), rel=1e-12)
    limit = float(model.ridge_risk_limit(lam))
    fit, means, ses = _fit(lam)
    out = compare_limit(fit, limit, ALPHA_TEST)
    assert out["agrees"], (out, fit)
    assert out["one_over_d_fits"], fit
    assert out["resolution"]["relative"] <= 0.005, out
    # negative control: the covariate scale c forgotten in the noise term (σ² instead of σ²/c)
    st = model._ridge_setting()
    slipped = float(st["q"] * proportional.ridge_risk_limit(sp.Float(lam) / C, sp.Rational(1, ALPHA_MC), SIGMA2, 1) + SIGMA2)
    assert not compare_limit(fit, slipped, ALPHA_TEST)["agrees"]


def test_limit_is_symbolic_in_alpha_and_lambda():
    lam, alpha = proportional.lam_sym, proportional.alpha_sym
    expr = _model(1).ridge_risk_limit(lam, alpha=alpha)
    assert expr.free_symbols == {lam, alpha}
    # λ → 0⁺ above the interpolation threshold is the OLS limit σ²/(α − 1) + σ² (isotropic, c = q = 1)
    t = sp.Symbol("t", positive=True)
    ridgeless = sp.simplify(proportional.factor_radicands(sp.limit(expr.subs(alpha, 1 + t), lam, 0, "+")))
    assert sp.simplify(ridgeless - (sp.Rational(1, 4) / t + sp.Rational(1, 4))) == 0


@pytest.mark.parametrize("kwargs,message", [
    (dict(Lambda="Lambda"), "letter"),
    (dict(Lambda=sp.diag(1, 2)), "isotropic"),
])
def test_bad_input_is_one_line(kwargs, message):
    with pytest.raises(UserInputError, match=message) as err:
        PromptModel(M=5, **kwargs).ridge_risk_limit(1)
    assert "\n" not in str(err.value)


def test_exact_route_refuses_d3_in_one_line():
    with pytest.raises(UserInputError, match="d = 1 or 2") as err:
        _model(3).ridge_error_exact(0.5)
    assert "\n" not in str(err.value)


def test_readme_example_runs_and_is_the_one_in_the_readme(capsys):
    import pathlib
    import runpy

    root = pathlib.Path(__file__).resolve().parent.parent
    path = root / "examples" / "ridge_baseline_in_20_lines.py"
    text = path.read_text()
    assert sum(1 for line in text.splitlines() if line.strip()) <= 21
    assert text.strip() in (root / "README.md").read_text()
    runpy.run_path(str(path), run_name="__main__")
    assert "monte-carlo" in capsys.readouterr().out
