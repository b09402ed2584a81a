"""New setting in 20 lines: the ridge baseline of a PromptModel (exact at d = 2, Monte Carlo, MP limit)."""
import numpy as np
import sympy as sp

from icl_proofs.models.prompt_model import PromptModel

# 1. finite M at d = 2: exact (quadrature of the Wishart eigenvalue law) against Monte Carlo
m = PromptModel(Lambda=sp.eye(2), task_cov=sp.eye(2) / 2, sigma2=sp.Rational(1, 4), M=7)
lam = m.bayes_lambda()                                      # σ²/(ψM): the ridge that is the posterior mean
exact = float(m.ridge_error_exact(lam, dps=12))
x = m.ridge_sampler(lam)(np.random.default_rng(0), 200_000)
assert abs(x.mean() - exact) < 4 * x.std() / np.sqrt(x.size)
print(f"d = 2, M = 7, Bayes ridge: exact {exact:.5f}, monte-carlo {x.mean():.5f}")
# 2. the proportional limit (M/d = α, Marchenko–Pastur), symbolic in λ and α
lam_s, alpha = sp.symbols("lambda alpha", positive=True)
limit = m.ridge_risk_limit(lam_s, alpha=alpha)             # closed form in λ, α (signal tr Ψ = 1, σ² = 1/4)
print(f"its limit at α = M/d = 7/2: {float(limit.subs({lam_s: lam, alpha: 3.5})):.5f}")
# 3. at d = 400 (M = 800) a few sampled prompts sit within O(1/d) of the limit
big = PromptModel(Lambda=np.eye(400), task_cov=np.eye(400) / 400, sigma2=0.25, M=800)
y = big.ridge_sampler(0.5)(np.random.default_rng(1), 8)
print(f"d = 400: monte-carlo {y.mean():.4f}, limit {float(big.ridge_risk_limit(0.5)):.4f}")
