"""New setting in 20 lines: two layers of preconditioned GD (per-layer steps, label noise)."""
from icl_proofs.moments import iterated_gd as g
from icl_proofs.moments.inverse_wishart import N_sym as N, d_sym as d
from icl_proofs.testing import assert_expectation

# 1. derive: the ICL loss of 2 GD layers with their own steps, noise σ², symbolic d and N (Wick engine)
e1, e2 = g.step_symbols(2)
loss = g.gd_loss(2, (e1, e2))
# 2. optimise: the best shared step at d = 3, N = 10 (an exact algebraic number, with certificate)
opt = g.optimal_step(2, d=3, N=10)
gap, _, one_layer = g.gap_to_one_layer(2, 3, 10)          # one layer: zfb23's d(d+1)/(N+d+1) = 6/7
print(f"η* = {opt.eta_float(8)}, loss = {opt.loss_float(8)}, gap to one layer = {float(gap):.6f}")
# 3. check by two independent routes: chi-square moments at d = 1 (symbolic N) ...
assert_expectation(loss.subs({d: 1, e2: e1}).subs(e1, g.eta_sym), g.loss_d1_chi_square(2))
# ... and Monte Carlo of the literal GD iteration on sampled prompts (CLT z-test, resolution stated)
sampler = lambda rng, k: g.sample_gd_error(rng, k, 3, 6, [0.5, 0.25], sigma2=0.25)  # noqa: E731
print(assert_expectation(sampler, loss, exact_at={d: 3, N: 6, e1: 0.5, e2: 0.25, g.sigma2_sym: 0.25}))
