"""Iterated (preconditioned) GD: each derivation timed against its Monte-Carlo route (plain script).

    python benchmarks/bench_iterated_gd.py [--d 3] [--N 6] [--n 200000] [--repeats 3] [--L 1 2 3] [--json FILE]

For L = 1, 2, 3 layers and three settings of :func:`icl_proofs.moments.iterated_gd.gd_loss`
(``isotropic``: Λ = Γ = I; ``Lambda``: a general covariance; ``Lambda+Gamma``: and a general,
non-symmetric preconditioner), all with label noise σ² and one step per layer:

* ``derive``: the loss with symbolic d, N, steps and σ² (and trace atoms), *cold* (the Wick
  engine's partition and matching caches are cleared before every repeat), then evaluated exactly
  at the concrete (d, N, Λ, Γ, steps, σ²);
* ``monte carlo``: ``n`` samples (one process) of the literal GD iteration on sampled prompts at the
  same point, with the z-score against the derived value, the resolution reached (smallest relative
  error detected at α = 1e-3 with power 0.9) and the Monte-Carlo time a 1 % resolution would take
  (∝ 1/resolution²);
* ``optimal step`` (isotropic only): the exact global minimiser over one shared step with its
  certificate (:func:`optimal_step`), warm (the derivation cached).

Routes run paired and alternating (derive, MC, derive, MC, ...) in one process; min and median of
``--repeats``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import sympy as sp


def _setting(d: int):
    rng = np.random.default_rng(3)
    G = rng.integers(-1, 2, size=(d, d))
    Lam = sp.Matrix(G @ G.T + d * np.eye(d, dtype=int))            # exact, SPD, not diagonal,
    Lam = Lam * d / Lam.trace()                                     # tr Λ = d like the isotropic case
    Gam = sp.Matrix(rng.integers(0, 3, size=(d, d))) / (2 * d) + sp.eye(d) / 2   # not symmetric
    return Lam, Gam


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--N", type=int, default=6)
    ap.add_argument("--n", type=int, default=200_000, help="Monte-Carlo samples")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--L", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from icl_proofs.claims.checks import resolution
    from icl_proofs.moments import iterated_gd as g
    from icl_proofs.moments import traces, wick
    from icl_proofs.moments.inverse_wishart import N_sym, d_sym
    from icl_proofs.numeric import montecarlo as mc
    from icl_proofs.parallel import using

    d, N = args.d, args.N
    Lam, Gam = _setting(d)
    lam_np, gam_np = (np.array(M.tolist(), dtype=float) for M in (Lam, Gam))
    sigma2 = sp.Rational(1, 4)
    print(f"d = {d}, N = {N}, σ² = {sigma2}, Monte Carlo n = {args.n:,} (one process), {args.repeats} paired repeats")
    print(f"{'L':>2} {'setting':<14} {'derive':>14} {'monte carlo':>13} {'MC/derive':>10} {'z':>6}"
          f" {'resolution':>10} {'MC s for 1 %':>13} {'optimal step':>13}")
    rows = []
    with using(workers=1):
        for L in args.L:
            steps = tuple(sp.Rational(1, 2 * (l + 1)) for l in range(L))      # 1/2, 1/4, 1/6: stable for Λ
            symbols = g.step_symbols(L)
            for setting, names, env, mats in (
                    ("isotropic", {}, None, (None, None)),
                    ("Lambda", {"Lambda": "Lambda"}, {"Lambda": Lam}, (lam_np, None)),
                    ("Lambda+Gamma", {"Lambda": "Lambda", "Gamma": "Gamma"}, {"Lambda": Lam, "Gamma": Gam},
                     (lam_np, gam_np))):
                def derive():
                    wick._set_partitions.cache_clear()
                    wick._matchings.cache_clear()
                    expr = g.gd_loss(L, symbols, **names)
                    point = {d_sym: d, N_sym: N, g.sigma2_sym: sigma2, **dict(zip(symbols, steps))}
                    expr = expr.subs(point)
                    return traces.evaluate_exact(expr, env) if env else sp.nsimplify(expr)

                def sampler(rng, k):
                    return g.sample_gd_error(rng, k, d, N, [float(s) for s in steps], float(sigma2), *mats)

                t_der, t_mc = [], []
                for rep in range(args.repeats):                 # paired, alternating
                    dt, exact = _timed(derive)
                    t_der.append(dt)
                    dt, est = _timed(lambda: mc.estimate(sampler, args.n, seed=rep))
                    t_mc.append(dt)
                exact = float(exact)
                z = (est.mean - exact) / est.se
                res = resolution(est.se, exact, 1e-3)["relative"]
                t_one_percent = statistics.median(t_mc) * (res / 0.01) ** 2
                t_opt = None
                if setting == "isotropic":
                    g._isotropic_loss(L, False)                  # warm: time the optimiser itself
                    t_opt, _ = _timed(lambda: g.optimal_step(L, d, N))
                row = {"L": L, "setting": setting, "d": d, "N": N, "n": args.n,
                       "derive_s": {"min": min(t_der), "median": statistics.median(t_der)},
                       "monte_carlo_s": {"min": min(t_mc), "median": statistics.median(t_mc)},
                       "exact": exact, "mc_mean": est.mean, "mc_se": est.se, "z": z, "resolution": res,
                       "monte_carlo_s_for_1pct_resolution": t_one_percent, "optimal_step_s": t_opt}
                rows.append(row)
                print(f"{L:>2} {setting:<14} {min(t_der):>7.3f}/{statistics.median(t_der):<6.3f}"
                      f" {min(t_mc):>6.2f}/{statistics.median(t_mc):<6.2f}"
                      f" {statistics.median(t_mc) / statistics.median(t_der):>10.2f} {z:>+6.2f} {100 * res:>9.2f}%"
                      f" {t_one_percent:>13.0f} {'' if t_opt is None else f'{t_opt:.3f}':>13}", flush=True)
    print("(times in seconds, min/median; MC/derive = median Monte-Carlo time over median derivation)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
