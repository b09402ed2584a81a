"""New setting in 20 lines: proportional limits (N = αd, d → ∞) and the MP ridge / Bayes risks."""
import numpy as np

from icl_proofs.moments import inverse_wishart as iw, iterated_gd as g, proportional as P
from icl_proofs.testing import compare_limit

# 1. any derived finite formula -> its exact limit (order in d read off): zfb23's optimum and OLS
print(P.proportional_limit(g.one_layer_optimum(0)[1]))       # 1/(alpha + 1) · d^1
print(P.proportional_limit(iw.ols_icl_error().value))        # sigma2/(alpha - 1) · d^0
# 2. ridge and Bayes risks in the limit (Marchenko-Pastur, closed form), γ = d/N
ridge, bayes = P.ridge_risk_limit(), P.bayes_risk_limit()
at = {P.lam_sym: 0.5, P.gamma_sym: 0.5, P.sigma2_sym: 0.5}
# 3. check by Monte Carlo at d = 50..400: the O(1/d) finite-d bias is fitted, not tolerated
rng, ds, means, ses = np.random.default_rng(0), (50, 100, 200, 400), [], []
for dim, reps in zip(ds, (1024, 128, 32, 16)):
    N, eigs = P.sample_spectra(rng, dim, alpha=2.0, reps=reps)
    risk = P.ridge_risk_monte_carlo(eigs, N, lam=0.5, sigma2=0.5)
    means.append(risk.mean()), ses.append(risk.std(ddof=1) / np.sqrt(reps))
fit = P.extrapolate_in_1_over_d(ds, means, ses)
out = compare_limit(fit, float(ridge.subs(at)), alpha=1e-3)
assert out["agrees"] and out["one_over_d_fits"], out
print(f"limit {float(ridge.subs(at)):.5f}, extrapolated {fit.limit:.5f} ± {fit.limit_se:.1g}, z = {out['z']:+.2f}")
