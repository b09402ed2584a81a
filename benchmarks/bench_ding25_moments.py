"""ding25 moment-engine timings (plain script): exact H and X* for d = 1..6.

    python benchmarks/bench_ding25_moments.py [--dmax 6] [--json FILE]

For each d: building the exact system (H_same, H_diff, h, E[y]: H(n) = H_diff + (H_same - H_diff)/n
holds for every n, i.e. n stays symbolic), solving H(n) X = h exactly at n = 100 (fraction-free
elimination), the same in float64 (Gauss-Legendre cubature), and the brute-force enumeration route at
the largest n it can afford, for comparison.  Growth exponents are log-log slopes over d.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from fractions import Fraction

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dmax", type=int, default=6)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from icl_proofs.claims.ding25.markov_lsa import m_of
    from icl_proofs.moments import markov
    from icl_proofs.moments.markov_bruteforce import enumerate_system

    rows = []
    print(f"{'d':>2} {'dm':>4} {'build exact':>12} {'solve exact':>12} {'float total':>12} {'digits of X*':>13}"
          f" {'enum (n=1)':>11}")
    for d in range(1, args.dmax + 1):
        t = time.perf_counter()
        s = markov.enlarged_system(d, Fraction(1, 2))
        tb = time.perf_counter() - t
        t = time.perf_counter()
        X = markov.solve(s.H(args.n), s.h)
        ts = time.perf_counter() - t
        t = time.perf_counter()
        g = markov.enlarged_system(d, 0.5, rule=markov.gauss_rule((3 * d + 1) // 2 + 1))
        Xf = np.linalg.solve(np.array(g.H(args.n)), np.array(g.h))
        tf = time.perf_counter() - t
        err = max(abs(float(x) - y) for x, y in zip(X, Xf)) / max(abs(float(x)) for x in X)
        digits = max(len(str(x.denominator)) for x in X)
        te = None
        if 2 ** (2 * (d + 1)) <= 1 << 16:
            t = time.perf_counter()
            enumerate_system(d, 1, p=Fraction(1, 2))
            te = time.perf_counter() - t
        rows.append({"d": d, "dm": d * m_of(d), "build_exact_s": tb, "solve_exact_s": ts, "float_s": tf,
                     "float_rel_err": err, "denominator_digits": digits, "enumeration_n1_s": te})
        print(f"{d:>2} {d * m_of(d):>4} {tb:>12.3f} {ts:>12.3f} {tf:>12.4f} {digits:>13}"
              f" {'' if te is None else f'{te:.3f}':>11}", flush=True)
    ds = np.log([r["d"] for r in rows if r["d"] >= 3])
    for key in ("build_exact_s", "solve_exact_s"):
        ys = np.log([r[key] for r in rows if r["d"] >= 3])
        if len(ds) >= 2:
            print(f"growth of {key} for d >= 3: ~ d^{np.polyfit(ds, ys, 1)[0]:.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
