"""icl_proofs.models.prompt_model: one data model read by the Wick engine and by the samplers.

Routes (each with a negative control that must fail):

* **old-derivation** — the derivation from :class:`PromptModel` vs the hand-built derivation the zfb23
  risk and shift claims used before the port (frozen below), exactly at concrete rational matrices;
* **mgf-engine** — the derivation vs the literal predictor ŷ = x_qᵀΓ(1/M)Σ y_i x_i integrated exactly by
  the MGF-coefficient engine (:mod:`icl_proofs.moments.elementwise`: no pairings, no trace algebra);
* **monte-carlo** — the model's own sampler vs its derivation, CLT z-test with stated resolution.
"""
from __future__ import annotations

import dataclasses
import pathlib
import runpy

import numpy as np
import pytest
import sympy as sp

from icl_proofs.claims.zfb23 import derive
from icl_proofs.claims.zfb23 import numeric
from icl_proofs.models.prompt_model import M, PromptModel, s2
from icl_proofs.moments import elementwise as ew
from icl_proofs.moments import traces
from icl_proofs.moments.wick import expect, gaussian, matrix, sample_cov, vector
from icl_proofs.testing import assert_expectation

ROOT = pathlib.Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- the pre-port derivation, frozen
def old_prediction_error_expr(rho=M, cov="Lambda", query_cov=None, w_mean=False, w_cov=None,
                              noise=False, task_vector=None) -> sp.Expr:
    """``icl_proofs.claims.zfb23.derive.prediction_error_expr`` as it was before PromptModel
    (commit 6c57261), kept verbatim as the reference the port must reproduce."""
    xq = gaussian("x_q", cov=query_cov or cov)
    if task_vector is not None:
        w = vector(task_vector)
    else:
        w = gaussian("w0", cov=w_cov)
        if w_mean:
            w = w + vector("mu")
    S = sample_cov("Sigma_hat", cov, rho)
    P = matrix("P", sym=True)
    err = (S @ w).T @ P @ xq - w.T @ xq
    total = expect(err ** 2)
    if noise:
        xi = gaussian("xi", cov=cov)
        total += (s2 / rho) * expect((xi.T @ P @ xq) ** 2) + s2
    return sp.expand(total)


# the five settings of the ported claims: (PromptModel, the old call that built it by hand)
SETTINGS = {
    "risk": (PromptModel(), dict()),
    "fixed-task": (PromptModel(task_vector="a", sigma2=s2), dict(task_vector="a", noise=True)),
    "task-shift": (PromptModel(task_mean="mu", task_cov="Psi", sigma2=s2),
                   dict(w_mean=True, w_cov="Psi", noise=True)),
    "query-shift": (PromptModel(Lambda_query="Lambda_q"), dict(query_cov="Lambda_q")),
    "covariate-shift": (PromptModel(Lambda_test="Lambda_t"), dict(cov="Lambda_t")),
}


def _spd(rng, d, cond=5):
    return numeric.random_spd(rng, d, cond)


def _sym(rng, d):
    A = numeric.random_rational_matrix(rng, d)
    return (A + A.T) / 2


def _env(rng, d):
    """Random exact values for every letter the five settings use."""
    return {"Lambda": _spd(rng, d), "Lambda_t": _spd(rng, d), "Lambda_q": _spd(rng, d, 20),
            "Psi": _spd(rng, d), "mu": numeric.random_rational_matrix(rng, d, 1),
            "a": numeric.random_rational_matrix(rng, d, 1), "P": _sym(rng, d)}


def _concrete(model: PromptModel, env: dict, m: int, noise) -> PromptModel:
    """``model`` with its letters replaced by the matrices of ``env`` (Γ stays outside the model)."""
    fields = {}
    for field, letter in (("Lambda", "Lambda"), ("Lambda_test", "Lambda_t"), ("Lambda_query", "Lambda_q"),
                          ("task_cov", "Psi"), ("task_mean", "mu"), ("task_vector", "a")):
        if getattr(model, field) is not None:
            fields[field] = env[letter]
    if model.sigma2 != 0:
        fields["sigma2"] = noise
    return dataclasses.replace(model, M=m, **fields)


# ----------------------------------------------------------------- route: old-derivation
@pytest.mark.parametrize("name", list(SETTINGS))
def test_route_old_derivation_same_expression_and_same_values(name):
    """Route old-derivation: the PromptModel derivation is the very expression the claims derived by
    hand (so the ported claims' numbers cannot move), and equal exactly at concrete d = 1, 2, 3."""
    model, old_kwargs = SETTINGS[name]
    new, old = model.error("P"), old_prediction_error_expr(**old_kwargs)
    assert sp.expand(new - old) == 0
    rng = np.random.default_rng(18)
    for d in (1, 2, 3):
        env, m, noise = _env(rng, d), int(rng.integers(1, 9)), sp.Rational(2, 7)
        concrete = _concrete(model, env, m, noise)
        old_value = traces.evaluate_exact(old.subs({M: m}), env, {s2: noise})
        assert concrete.exact_error(env["P"]) == old_value


def test_route_old_derivation_negative_control_wrong_noise_or_length_is_caught():
    """Negative control: the same exact comparison rejects σ² doubled and M + 1."""
    model, old_kwargs = SETTINGS["task-shift"]
    old = old_prediction_error_expr(**old_kwargs)
    rng = np.random.default_rng(5)
    env, m, noise = _env(rng, 2), 4, sp.Rational(1, 3)
    old_value = traces.evaluate_exact(old.subs({M: m}), env, {s2: noise})
    assert _concrete(model, env, m, 2 * noise).exact_error(env["P"]) != old_value
    assert _concrete(model, env, m + 1, noise).exact_error(env["P"]) != old_value


def test_ported_claims_derive_from_their_models():
    """The zfb23 derivations now come from the stated models (and from nothing hand-built)."""
    assert sp.expand(derive.shifts()["task"] - old_prediction_error_expr(**SETTINGS["task-shift"][1])) == 0
    assert derive.risk()["error"] == derive.RISK_MODEL.error("P")
    assert derive.risk()["direct_fixed_task"] == derive.FIXED_TASK_MODEL.error("P")
    for kind, model in derive.SHIFT_MODELS.items():
        assert derive.shifts()[kind] == model.error("P")


# ----------------------------------------------------------------- route: mgf-engine
def _literal_error(model: PromptModel, P: sp.Matrix) -> sp.Expr:
    """E(ŷ − y_q)² of the literal predictor on one test prompt, by the MGF-coefficient engine."""
    d, m = model.dimension(), int(model.M)
    test = sp.Matrix(model.Lambda_test if model.Lambda_test is not None else model.Lambda)
    query = sp.Matrix(model.Lambda_query) if model.Lambda_query is not None else test
    xs, xq = ew.iid_vectors("x", test, m), ew.GaussianVector("q", query)
    vectors = [*xs, xq]
    if model.task_vector is not None:
        w = sp.Matrix(model.task_vector)
    else:
        cov = sp.eye(d) if model.task_cov is None else sp.Matrix(model.task_cov)
        task = ew.GaussianVector("w", cov, model.task_mean)
        vectors.append(task)
        w = task.vec
    noise = sp.sympify(model.sigma2)
    eps = ew.iid_vectors("e", sp.Matrix([[noise]]), m + 1) if noise != 0 else []
    vectors += eps
    e = [v.vec[0] for v in eps] or [0] * (m + 1)
    ys = [(w.T * x.vec)[0, 0] + e[i] for i, x in enumerate(xs)]
    h = sum((y * x.vec for y, x in zip(ys, xs)), sp.zeros(d, 1)) / m
    err = (xq.vec.T * P * h)[0, 0] - (w.T * xq.vec)[0, 0] - e[m]
    return ew.expect(sp.expand(err ** 2), vectors)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_route_mgf_engine_literal_predictor(name):
    """Route mgf-engine: the derived error equals the literal predictor's, integrated exactly
    coordinate by coordinate, at d = 2, M = 2 (d = 1, M = 3 too for the noisy task shift)."""
    model, _ = SETTINGS[name]
    rng = np.random.default_rng(7)
    cases = [(2, 2)] + ([(1, 3)] if name == "task-shift" else [])
    for d, m in cases:
        env = _env(rng, d)
        concrete = _concrete(model, env, m, sp.Rational(1, 2))
        assert concrete.exact_error(env["P"]) == _literal_error(concrete, env["P"])


def test_route_mgf_engine_negative_control_prompt_length_off_by_one():
    """Negative control: the literal predictor at M + 1 does not match the derivation at M."""
    rng = np.random.default_rng(7)
    env = _env(rng, 2)
    model = _concrete(SETTINGS["covariate-shift"][0], env, 2, 0)
    assert model.exact_error(env["P"]) != _literal_error(dataclasses.replace(model, M=3), env["P"])


# ----------------------------------------------------------------- route: monte-carlo
def _mc_model(name, seed=11):
    """The setting at d = 3, M = 6, σ² = 1, with Γ the zfb23-trained preconditioner for Λ and N = 6
    (a realistic Γ: a random one makes the error ~10⁴, where the noise is invisible)."""
    rng = np.random.default_rng(seed)
    env = _env(rng, 3)
    model = _concrete(SETTINGS[name][0], env, 6, 1)
    return model, numeric.preconditioner(env["Lambda"], 6)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_route_monte_carlo_sampler_matches_derivation(name):
    """Route monte-carlo: the model's conditional (Rao-Blackwellised) sampler against its exact
    derived error, d = 3, M = 6; passes only with a resolution finer than 5 %."""
    model, P = _mc_model(name)
    agreement = assert_expectation(model.sampler(P), model.exact_error(P), n=100_000, seed=3)
    assert agreement.resolution["relative"] < 0.05


@pytest.mark.parametrize("name", ["fixed-task", "task-shift"])
def test_route_monte_carlo_naive_simulation_matches_derivation(name):
    """Route monte-carlo (literal): whole prompts simulated and the LSA forward pass run."""
    model, P = _mc_model(name)
    assert_expectation(model.sampler(P, method="naive"), model.exact_error(P), n=200_000, seed=4)


@pytest.mark.parametrize("wrong", ["sigma2 doubled", "M+1"])
def test_route_monte_carlo_negative_control(wrong):
    """Negative control: the same z-test rejects the derivation of a wrong model."""
    model, P = _mc_model("task-shift")
    bad = (dataclasses.replace(model, sigma2=2 * model.sigma2) if wrong == "sigma2 doubled"
           else dataclasses.replace(model, M=model.M + 1))
    with pytest.raises(AssertionError):
        assert_expectation(model.sampler(P), bad.exact_error(P), n=100_000, seed=3)


# ----------------------------------------------------------------- finite task pool
def test_task_pool_derivation_vs_pool_simulation():
    """A finite pool of k = 3 tasks drawn from N(μ, Ψ): the derivation (through the pool's second
    moment) vs the literal simulation that draws a pool member per prompt; and the control: the
    Gaussian law it was drawn from gives a different error, which the same test rejects."""
    rng = np.random.default_rng(2)
    env = _env(rng, 2)
    gauss = PromptModel(Lambda=env["Lambda"], task_mean=env["mu"], task_cov=env["Psi"], M=4, sigma2=sp.Rational(1, 4))
    pool = gauss.with_task_pool(np.random.default_rng(9), 3)
    assert pool.task_pool.shape == (2, 3)
    P = numeric.preconditioner(env["Lambda"], 4)
    exact = pool.exact_error(P)
    assert exact == _literal_error(dataclasses.replace(pool, task_pool=None, task_cov=pool.pool_second_moment()), P)
    assert_expectation(pool.sampler(P, method="naive"), exact, n=200_000, seed=6)
    assert_expectation(pool.sampler(P), exact, n=100_000, seed=6)
    assert gauss.exact_error(P) != exact
    with pytest.raises(AssertionError):
        assert_expectation(pool.sampler(P), gauss.exact_error(P), n=100_000, seed=6)


# ----------------------------------------------------------------- baselines and symbolic use
def test_ols_baseline_symbolic_d_and_by_simulation():
    """OLS on the model's test prompt: symbolic d from the inverse-Wishart layer; at d = 2, M = 9 it
    matches the least-squares fit simulated on sampled prompts (negative control: M + 1 is rejected)."""
    from icl_proofs.moments import inverse_wishart as iw

    sym = PromptModel(sigma2=s2).ols_error()
    d = iw.d_sym
    assert sp.simplify(sym.value - (s2 * d / (M - d - 1) + s2)) == 0
    Lam = sp.Matrix([[2, 1], [1, 3]])
    model = PromptModel(Lambda=Lam, M=9, sigma2=sp.Rational(1, 2))
    value = model.ols_error().value
    sampler = lambda rng, k: iw.sample_ols_icl_error(rng, k, 9, numeric.to_np(Lam), 0.5, with_label_noise=True)  # noqa: E731
    assert_expectation(sampler, value, n=200_000, seed=1)
    with pytest.raises(AssertionError):
        assert_expectation(sampler, dataclasses.replace(model, M=10).ols_error().value, n=200_000, seed=1)


def test_symbolic_d_error_keeps_letters():
    """Letters stay symbolic (d symbolic): the covariate-shift error mentions Λ′ and Γ, not Λ."""
    err = PromptModel(Lambda_test="Lambda_t", M=M).error("G")
    assert traces.letters_in(err) == {"Lambda_t", "G"}


@pytest.mark.parametrize("kwargs, message", [
    (dict(M=0), "positive integer"),
    (dict(N=sp.Rational(1, 2)), "positive integer"),
    (dict(sigma2=-1), ">= 0"),
    (dict(task_vector="a", task_cov="Psi"), "one task law"),
    (dict(task_pool="W"), "d×k matrix"),
    (dict(task_pool=3), "d×k matrix"),
])
def test_bad_input_is_one_clear_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PromptModel(**kwargs)


def test_missing_concrete_value_is_named():
    with pytest.raises(ValueError, match=r"no concrete value for \['Lambda'\]"):
        PromptModel(M=3).exact_error(sp.eye(2))
    with pytest.raises(ValueError, match="needs a concrete matrix"):
        PromptModel(M=3).sampler(np.eye(2))


# ----------------------------------------------------------------- the README example
def test_readme_example_runs_and_is_the_one_in_the_readme(capsys):
    path = ROOT / "examples" / "prompt_model_in_20_lines.py"
    text = path.read_text()
    assert sum(1 for line in text.splitlines() if line.strip()) <= 21
    body = text.split('"""', 2)[2].strip()       # the code after the docstring
    assert body in (ROOT / "README.md").read_text()
    runpy.run_path(str(path), run_name="__main__")
    assert "monte-carlo" in capsys.readouterr().out


def test_layering_the_model_layer_does_not_import_claims():
    """The shared model layer sits below icl_proofs.claims: deriving and sampling load no claim code."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, sympy as sp\n"
            "from icl_proofs.models.prompt_model import PromptModel\n"
            "m = PromptModel(Lambda=sp.eye(2), M=3, sigma2=1)\n"
            "m.exact_error(sp.eye(2)); m.sampler(np.eye(2))(np.random.default_rng(0), 4)\n"
            "bad = [k for k in sys.modules if k.startswith('icl_proofs.claims')]\n"
            "assert not bad, bad\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
