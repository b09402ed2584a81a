"""Timings for ding25 Problem C.9 (realisability of X = phi(b, A)) and for the separability brute force.

    python benchmarks/bench_ding25_realizability.py [--json FILE] [--max-d 128] [--max-k 10]

Why: Theorem 3.5 claims Problem C.9 is NP-hard in d.  ``realize_float`` decides it with O(d^3) flops
(linear in the input size d m ~ d^3/2), ``realize_exact`` decides it over Q with polynomially many
exact operations, while the exact brute force for Bennett & Mangasarian's bilinear separability (the
problem the paper reduces from) needs 2^{k'} LPs.  The script prints the three tables and the
log-log slope of the ``realize_float`` time against d (fitted on d >= 16, where overhead is small).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time

import numpy as np
import sympy

from icl_proofs.claims.ding25.markov_lsa import m_of, phi
from icl_proofs.claims.ding25.bilinear import random_instance, separable_bruteforce
from icl_proofs.claims.ding25.realizability import phi_fast, realize_exact, realize_float


def _time(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench_float(ds, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for d in ds:
        b, A = rng.standard_normal(d + 1), rng.standard_normal((d + 1, d))
        Xr = phi_fast(b, A)
        Xg = rng.standard_normal(Xr.size)
        rep = 7 if d <= 32 else 3
        rr, rg = realize_float(Xr, d), realize_float(Xg, d)
        assert rr.realizable and (d == 1 or not rg.realizable)  # d = 1: both outcomes have positive measure
        rows.append({"d": d, "dm": d * m_of(d), "t_realizable_s": _time(lambda: realize_float(Xr, d), rep),
                     "t_generic_s": _time(lambda: realize_float(Xg, d), rep),
                     "rel_residual": rr.residual / float(np.linalg.norm(Xr)),
                     "generic_reason": rg.certificate["reason"]})
    return rows


def bench_exact(ds, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    q = lambda: sympy.Rational(rnd.randint(-9, 9), rnd.randint(1, 5))  # noqa: E731
    rows = []
    for d in ds:
        b = np.array([q() for _ in range(d + 1)], dtype=object)
        A = np.array([[q() for _ in range(d)] for _ in range(d + 1)], dtype=object)
        Xr = list(phi(b, A))
        Xg = [q() for _ in Xr]
        t = time.perf_counter()
        rr = realize_exact(Xr, d)
        tr = time.perf_counter() - t
        t = time.perf_counter()
        rg = realize_exact(Xg, d)
        tg = time.perf_counter() - t
        assert rr.realizable and (d == 1 or not rg.realizable)  # d = 1: both outcomes have positive measure
        rows.append({"d": d, "t_realizable_s": tr, "t_generic_s": tg, "generic_reason": rg.certificate["reason"]})
    return rows


def bench_lp(ks, seed: int = 0) -> list[dict]:
    separable_bruteforce([[0, 0]], [[1, 1]])  # warm up SciPy/HiGHS outside the timings
    rows = []
    for k in ks:
        Ap, B = random_instance(3, k, 2, seed=seed + k, radius=4)
        t = time.perf_counter()
        r = separable_bruteforce(Ap, B, early_exit=False)
        rows.append({"k": k, "lps": r.lps_solved, "t_s": time.perf_counter() - t, "separable": r.separable})
    return rows


def slope(xs, ys) -> float:
    lx, ly = np.log(xs), np.log(ys)
    return float(np.polyfit(lx, ly, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json")
    ap.add_argument("--max-d", type=int, default=128)
    ap.add_argument("--max-exact-d", type=int, default=8)
    ap.add_argument("--max-k", type=int, default=10)
    args = ap.parse_args()
    ds = [d for d in (1, 2, 4, 8, 16, 32, 64, 128, 256) if d <= args.max_d]
    fl = bench_float(ds)
    ex = bench_exact(range(1, args.max_exact_d + 1))
    lp = bench_lp(range(2, args.max_k + 1))
    big = [r for r in fl if r["d"] >= 16] or fl
    fit = {"float_slope_realizable_d>=16": slope([r["d"] for r in big], [r["t_realizable_s"] for r in big]),
           "float_slope_generic_d>=16": slope([r["d"] for r in big], [r["t_generic_s"] for r in big]),
           "float_slope_realizable_vs_input_size_d>=16":
               slope([r["dm"] for r in big], [r["t_realizable_s"] for r in big]),
           "lp_growth_per_k": math.exp(float(np.polyfit([r["k"] for r in lp if r["k"] >= 4],
                                                                 np.log([r["t_s"] for r in lp if r["k"] >= 4]),
                                                                 1)[0]))}
    print("realize_float (median seconds)")
    print(f"{'d':>5} {'dm':>9} {'realizable':>12} {'generic':>12} {'rel.resid':>10}  generic reason")
    for r in fl:
        print(f"{r['d']:>5} {r['dm']:>9} {r['t_realizable_s']:>12.2e} {r['t_generic_s']:>12.2e} "
              f"{r['rel_residual']:>10.1e}  {r['generic_reason']}")
    print(f"log-log slope in d (d >= 16): realizable {fit['float_slope_realizable_d>=16']:.2f}, "
          f"generic {fit['float_slope_generic_d>=16']:.2f}; "
          f"vs input size dm: {fit['float_slope_realizable_vs_input_size_d>=16']:.2f}")
    print("\nrealize_exact (seconds, one run)")
    print(f"{'d':>5} {'realizable':>12} {'generic':>12}  generic reason")
    for r in ex:
        print(f"{r['d']:>5} {r['t_realizable_s']:>12.3f} {r['t_generic_s']:>12.3f}  {r['generic_reason']}")
    print("\nseparable_bruteforce, all 2^k' subsets (m' = 3, n' = 2)")
    print(f"{'k':>5} {'LPs':>6} {'seconds':>10} separable")
    for r in lp:
        print(f"{r['k']:>5} {r['lps']:>6} {r['t_s']:>10.3f} {r['separable']}")
    print(f"time growth factor per extra B point (fit on k >= 4): {fit['lp_growth_per_k']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"realize_float": fl, "realize_exact": ex, "lp_bruteforce": lp, "fit": fit}, fh, indent=1)


if __name__ == "__main__":
    main()
