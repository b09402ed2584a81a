"""Naive vs Rao-Blackwellised (conditional) Monte-Carlo prediction error, side by side.

    python benchmarks/bench_montecarlo.py [--json FILE] [--se 0.01] [--pilot-seconds 3]

Setting: zfb23 at the global optimum P = Gamma^{-1}, d = 20, N = M = 40,
Lambda = diag(linspace(0.5, 2, d)), w ~ N(0, I), noiseless labels.  For each simulator a pilot run
measures the time per sample and the per-sample standard deviation; the time to reach a common
standard error ``se`` is then ``time_per_sample * (sd / se)^2``.  Finally the fast (conditional)
estimator is run to ``se`` and compared with the exact value

    E = (1 + 1/M) tr(G^-2 L^3) + (1/M) tr L tr(G^-2 L^2) - 2 tr(G^-1 L^2) + tr L,   G = Gamma, L = Lambda

(valid only for this configuration: w ~ N(0, I), noiseless, P = Gamma^{-1}).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from icl_proofs.models import lsa
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.models import samplers


def exact_error(Lam: np.ndarray, M: int) -> float:
    d = Lam.shape[0]
    trL = np.trace(Lam)
    Gam = (1 + 1 / M) * Lam + trL / M * np.eye(d)
    Gi = np.linalg.inv(Gam)
    Gi2 = Gi @ Gi
    L2 = Lam @ Lam
    return float(
        (1 + 1 / M) * np.trace(Gi2 @ L2 @ Lam)
        + trL / M * np.trace(Gi2 @ L2)
        - 2 * np.trace(Gi @ L2)
        + trL
    )


def pilot(sample_batch, batch: int, seconds: float, seed: int) -> dict:
    """Draw batches from independent streams for about ``seconds``; time per sample and sd."""
    ss = np.random.SeedSequence(seed)
    sample_batch(np.random.default_rng(ss.spawn(1)[0]), min(batch, 64))  # warm-up
    acc = mc.RunningMoments()
    t_sample = 0.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        rng = np.random.default_rng(ss.spawn(1)[0])
        t1 = time.perf_counter()
        x = sample_batch(rng, batch)
        t_sample += time.perf_counter() - t1
        acc.update(x)
    est = acc.estimate()
    return {
        "batch": batch,
        "n": est.n,
        "seconds": t_sample,
        "time_per_sample_s": t_sample / est.n,
        "sd": est.sd,
        "mean": est.mean,
        "se": est.se,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--se", type=float, default=0.01, help="common target standard error")
    ap.add_argument("--pilot-seconds", type=float, default=3.0, help="length of each pilot run")
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("-d", type=int, default=20)
    ap.add_argument("-M", type=int, default=40, help="prompt length N = M")
    args = ap.parse_args(argv)

    d, M, se = args.d, args.M, args.se
    Lam = np.diag(np.linspace(0.5, 2.0, d))
    Gam = (1 + 1 / M) * Lam + np.trace(Lam) / M * np.eye(d)
    P = np.linalg.inv(Gam)
    exact = exact_error(Lam, M)
    params = lsa.LSAParams.reduced(P)

    print(f"zfb23 prediction error at P = Gamma^-1: d = {d}, N = M = {M}, "
          f"Lambda = diag(linspace(0.5, 2, {d})), w ~ N(0, I), noiseless")
    print(f"exact value E = {exact:.10g}   target se = {se:g}   "
          f"(numpy {np.__version__}, python {platform.python_version()}, float64)")

    def naive(rng, k):
        return samplers.naive_prediction_error_samples(rng, params, Lam, M, k)

    fast = samplers.conditional_sampler(P, Lam, M)

    res_naive = pilot(naive, 2048, args.pilot_seconds, args.seed)
    res_fast = pilot(fast, 2**14, args.pilot_seconds, args.seed + 1)
    for r in (res_naive, res_fast):
        r["projected_time_s"] = r["time_per_sample_s"] * (r["sd"] / se) ** 2
        r["projected_n"] = (r["sd"] / se) ** 2
        r["pilot_z_vs_exact"] = (r["mean"] - exact) / r["se"]
    speedup = res_naive["projected_time_s"] / res_fast["projected_time_s"]

    # short scan of the estimate() batch size for the fast path (information only)
    scan = {}
    for b in (2**10, 2**12, 2**14, 2**16):
        t0 = time.perf_counter()
        est = mc.estimate(fast, 4 * b if b >= 2**14 else 2**16, seed=7, batch=b)
        scan[b] = (time.perf_counter() - t0) / est.n

    # to se with the default shard layout: shards grow from 256 samples, so a loose target stops
    # early (before: shards of 2^14 and at least 4 of them, 65,536 samples whatever se)
    final_batch = "growing"
    t0 = time.perf_counter()
    final = mc.estimate(fast, 10**9, seed=args.seed + 2, se_target=se)
    wall = time.perf_counter() - t0
    z, thr, ok = mc.z_check(final, exact, 1e-3)

    print()
    hdr = f"{'simulator':<13}{'time/sample':>14}{'sd/sample':>12}{'n for se':>14}{'time for se':>14}{'pilot mean':>14}"
    print(hdr)
    print("-" * len(hdr))
    for name, r in (("naive", res_naive), ("conditional", res_fast)):
        print(f"{name:<13}{r['time_per_sample_s'] * 1e6:>11.3f} us{r['sd']:>12.4f}"
              f"{r['projected_n']:>14.4g}{r['projected_time_s']:>12.4g} s"
              f"{r['mean']:>10.4f}±{r['se']:.4f}")
    print(f"\nspeed-up (time to the same se = {se:g}): {speedup:,.0f}x   "
          f"[time ratio {res_naive['time_per_sample_s'] / res_fast['time_per_sample_s']:.2f}x, "
          f"variance ratio {(res_naive['sd'] / res_fast['sd']) ** 2:,.0f}x]")
    print("fast path, time/sample by estimate() batch size: "
          + ", ".join(f"{b}: {t * 1e6:.2f} us" for b, t in scan.items()))
    print(f"\nconditional estimator run to se <= {se:g} (estimate(), batch {final_batch}): "
          f"wall {wall:.3f} s, n = {final.n:,} (projected {res_fast['projected_n']:,.0f})")
    print(f"  estimate {final.mean:.6f} ± {final.se:.6f}   exact {exact:.6f}   "
          f"z = {z:+.3f} (|z| <= {thr:.3f} at alpha = 1e-3: {'PASS' if ok else 'FAIL'})")

    if args.json:
        out = {
            "config": {"d": d, "N": M, "M": M, "Lambda": "diag(linspace(0.5, 2, d))",
                       "P": "Gamma^-1", "w": "N(0, I)", "noise_sd": 0.0, "se_target": se,
                       "seed": args.seed},
            "exact": exact,
            "naive": res_naive,
            "conditional": res_fast,
            "speedup": speedup,
            "batch_scan_time_per_sample_s": {str(b): t for b, t in scan.items()},
            "final": {"wall_s": wall, "batch": final_batch, "mean": final.mean, "se": final.se, "n": final.n,
                      "sd": final.sd, "z": z, "threshold": thr, "passed": ok},
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
