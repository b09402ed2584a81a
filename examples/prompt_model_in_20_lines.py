"""New setting in 20 lines: a data model stated once gives its derivation and its Monte-Carlo route."""
import dataclasses

import sympy as sp

from icl_proofs.models.prompt_model import M, PromptModel, s2
from icl_proofs.testing import assert_expectation

# 1. state the setting once: test covariates from Λ′ (covariate shift), tasks w ~ N(μ, Ψ), noise σ²
model = PromptModel(Lambda_test="Lambda_t", task_mean="mu", task_cov="Psi", sigma2=s2, M=M)
# 2. derive E(ŷ − y_q)² for ŷ = x_qᵀΓ(1/M)Σ y_i x_i: a trace polynomial, symbolic d and M (Wick engine)
err = model.error("Gamma")
print(len(err.args), "terms in tr(·) of Λ′, Ψ, μ, Γ and M, σ²")
# 3. the exact value at concrete matrices ...
G = sp.Matrix([[1, 0], [0, sp.Rational(1, 2)]])
concrete = dataclasses.replace(model, Lambda_test=sp.Matrix([[2, 1], [1, 2]]), task_mean=sp.Matrix([1, -1]),
                               task_cov=sp.diag(1, 3), sigma2=sp.Rational(1, 4), M=8)
exact = concrete.exact_error(G, expr=err, Gamma_letter="Gamma")
# 4. ... against the model's own Monte-Carlo sampler (CLT z-test, resolution stated)
print("exact", exact, "|", assert_expectation(concrete.sampler(G), exact, n=200_000))
# 5. the OLS baseline on the same test prompts (inverse-Wishart moments), symbolic d
print("OLS baseline:", PromptModel(sigma2=s2, M=M).ols_error())
