"""Inverse-Wishart moments: each derivation timed against its Monte-Carlo route (plain script).

    python benchmarks/bench_inverse_wishart.py [--d 3] [--N 11] [--n 200000] [--repeats 3] [--json FILE]

For every quantity of :mod:`icl_proofs.moments.inverse_wishart` (E[Σ̂⁻¹], E[Σ̂⁻¹AΣ̂⁻¹], E[Σ̂⁻²],
E[tr(AΣ̂⁻¹)tr(BΣ̂⁻¹)], E[x_qᵀΣ̂⁻¹x_q], E[(x_qᵀΣ̂⁻¹x_q)²], the OLS in-context error):

* ``derive symbolic``: the formula with symbolic d, N and Σ, from a *cold* derivation (the Bartlett
  coefficients' cache is cleared before every repeat);
* ``derive at (d, N)``: the same, cold, at a concrete non-diagonal Σ (exact rationals), as a number;
* ``monte carlo``: ``n`` samples (one process) of the same scalar at the same (d, N, Σ), with the
  z-score against the derived value and the resolution reached (smallest relative error detected
  at α = 1e-3 with power 0.9), and the Monte-Carlo time a 1 % resolution would take (∝ 1/res²).

Routes run paired and alternating (derive, MC, derive, MC, ...) in one process; min and median of
``--repeats``.  N = d + 8 by default so the Monte-Carlo samples have finite variance.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import sympy as sp


def _setting(d: int):
    rng = np.random.default_rng(18)
    G = rng.integers(-2, 3, size=(d, d))
    Sigma = sp.Matrix(G @ G.T + d * np.eye(d, dtype=int)) / 2       # exact, SPD, not diagonal
    A = sp.Matrix(rng.integers(-2, 3, size=(d, d)))                 # not symmetric
    B = sp.Matrix(rng.integers(-2, 3, size=(d, d)))
    C = sp.Matrix(rng.integers(-2, 3, size=(d, d)))                 # contraction of matrix moments
    Sq = sp.eye(d) + sp.ones(d, d) / (2 * d)                        # a shifted query covariance
    return Sigma, A, B, C, Sq


def _quantities(iw, d, N, n_mc):
    Sigma, A, B, C, Sq = _setting(d)
    f = lambda M: np.array(M.tolist(), dtype=float)  # noqa: E731
    S_, A_, B_, C_, Sq_ = map(f, (Sigma, A, B, C, Sq))
    Lq = np.linalg.cholesky(Sq_)
    contract = lambda M: np.einsum("ij,kji->k", C_, M)  # noqa: E731
    inv = lambda rng, k: iw.sample_inverse_covariances(rng, k, N, S_)  # noqa: E731

    def quad(rng, k):
        xq = rng.standard_normal((k, d)) @ Lq.T
        return np.einsum("ki,kij,kj->k", xq, inv(rng, k), xq)

    return [
        ("E[Σ̂⁻¹]", lambda: iw.mean_inverse(),
         lambda: (C * iw.mean_inverse(N, Sigma).value).trace(), lambda rng, k: contract(inv(rng, k))),
        ("E[Σ̂⁻¹AΣ̂⁻¹]", lambda: iw.inverse_sandwich(),
         lambda: (C * iw.inverse_sandwich(A, N, Sigma).value).trace(),
         lambda rng, k: (lambda S: contract(S @ A_ @ S))(inv(rng, k))),
        ("E[Σ̂⁻²]", lambda: iw.inverse_square(),
         lambda: (C * iw.inverse_square(N, Sigma).value).trace(),
         lambda rng, k: (lambda S: contract(S @ S))(inv(rng, k))),
        ("E[tr(AΣ̂⁻¹)tr(BΣ̂⁻¹)]", lambda: iw.trace_product(),
         lambda: iw.trace_product(A, B, N, Sigma).value,
         lambda rng, k: (lambda S: np.einsum("ij,kji->k", A_, S) * np.einsum("ij,kji->k", B_, S))(inv(rng, k))),
        ("E[x_qᵀΣ̂⁻¹x_q]", lambda: iw.query_quadratic(Sigma_q=sp.MatrixSymbol("Sq", iw.d_sym, iw.d_sym)),
         lambda: iw.query_quadratic(N, Sigma, Sq).value, quad),
        ("E[(x_qᵀΣ̂⁻¹x_q)²]", lambda: iw.query_quadratic_square(),
         lambda: iw.query_quadratic_square(N, Sigma, Sq).value, lambda rng, k: quad(rng, k) ** 2),
        ("OLS ICL error", lambda: iw.ols_icl_error(),
         lambda: iw.ols_icl_error(N, sp.Rational(1, 2), Sigma, Sq).value,
         lambda rng, k: iw.sample_ols_icl_error(rng, k, N, S_, 0.5, Sq_)),
    ]


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--N", type=int, default=None, help="prompt length (default d + 8)")
    ap.add_argument("--n", type=int, default=200_000, help="Monte-Carlo samples")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from icl_proofs.claims.checks import resolution
    from icl_proofs.moments import inverse_wishart as iw
    from icl_proofs.numeric import montecarlo as mc
    from icl_proofs.parallel import using

    d, N = args.d, args.N or args.d + 8
    print(f"d = {d}, N = {N}, Monte Carlo n = {args.n:,} (one process), {args.repeats} paired repeats")
    print(f"{'quantity':<24} {'derive symbolic':>16} {'derive at (d,N)':>16} {'monte carlo':>12}"
          f" {'MC/derive':>10} {'z':>6} {'resolution':>10} {'MC s for 1 %':>13}")
    rows = []
    with using(workers=1):
        for name, symbolic, concrete, sampler in _quantities(iw, d, N, args.n):
            t_sym, t_num, t_mc = [], [], []
            for rep in range(args.repeats):                     # paired, alternating
                iw.derive_coefficients.cache_clear()
                t_sym.append(_timed(symbolic)[0])
                iw.derive_coefficients.cache_clear()
                dt, exact = _timed(concrete)
                t_num.append(dt)
                dt, est = _timed(lambda: mc.estimate(sampler, args.n, seed=rep))
                t_mc.append(dt)
            exact = float(exact)
            z = (est.mean - exact) / est.se
            res = resolution(est.se, exact, 1e-3)["relative"]
            # the resolution shrinks as 1/sqrt(n): the Monte-Carlo time a 1 % resolution would take
            t_one_percent = statistics.median(t_mc) * (res / 0.01) ** 2
            row = {"quantity": name, "d": d, "N": N, "n": args.n,
                   "derive_symbolic_s": {"min": min(t_sym), "median": statistics.median(t_sym)},
                   "derive_concrete_s": {"min": min(t_num), "median": statistics.median(t_num)},
                   "monte_carlo_s": {"min": min(t_mc), "median": statistics.median(t_mc)},
                   "exact": exact, "mc_mean": est.mean, "mc_se": est.se, "z": z, "resolution": res,
                   "monte_carlo_s_for_1pct_resolution": t_one_percent}
            rows.append(row)
            print(f"{name:<24} {min(t_sym):>9.3f}/{statistics.median(t_sym):<6.3f}"
                  f" {min(t_num):>9.3f}/{statistics.median(t_num):<6.3f}"
                  f" {min(t_mc):>5.2f}/{statistics.median(t_mc):<6.2f}"
                  f" {statistics.median(t_mc) / statistics.median(t_num):>10.0f} {z:>+6.2f} {100 * res:>9.2f}%"
                  f" {t_one_percent:>13.0f}",
                  flush=True)
    print("(times in seconds, min/median; MC/derive = median Monte-Carlo time over median concrete derivation)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
