"""dd25 simulation timings (plain script): one Fig. 2 point at d = 20, 40, 80 in float64 and float32.

    python benchmarks/bench_dd25.py [--d 20 40 80] [--dtype float64 float32] [--threads 1] [--json FILE]

The point: task spike in source 1, ρ = ½, ℓ = d, n = k = d²/2, λ = 5e-5, p = 5, η = d², all three
models (linear, MLP, equivalent), one run (``dd25_sim.run_once``), 1000 test contexts per source.
Targets (the issue): d = 40 "in seconds", d = 80 "well under a minute".

Each (d, dtype) runs in a fresh child process so that its peak RSS (``resource.getrusage``,
``ru_maxrss``) is its own; the child reports the RSS before the run (interpreter + numpy/scipy/sympy +
Hermite set-up) and the pipeline's own estimate ``dd25_sim.memory_bytes``.  ``--threads`` sets the
BLAS threads of the children (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``; default 1, as the figures
script uses; ``--threads 0`` leaves the environment alone).

Stage split, without touching the pipeline: after the timed run the child re-times its parts with the
same sizes and public functions —

* ``data``: ``dd25_data.sample_mixture`` for the two training sets plus ``iter_source`` over the test
  contexts of both sources (random numbers, einsum, the outer products h = x ⊗ b);
* ``gemm``: the feature products H Fᵀ (stage 1, stage 2) and ``dd25_mlp.gradient``;
* ``ridge``: the three ridge solves (MLP, equivalent, linear), on the same features;
* ``setup``: the Hermite coefficients (``_activation``; cached per process, so paid once per run
  of ``simulate``).

``other`` = run − data − gemm − ridge (activations, σ̂_p, the test GEMMs, bookkeeping).  The parts
are re-timed, not instrumented, so they need not add up exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

CHILD_FLAG = "--child"


def _child(d: int, dtype: str) -> dict:
    import numpy as np

    from icl_proofs.claims.dd25 import data
    from icl_proofs.claims.dd25 import mlp
    from icl_proofs.claims.dd25 import sim

    cfg = sim.fig2_config(d, "task", 0.5, p=5, dtype=dtype)
    t = time.perf_counter()
    act = sim._activation(cfg)
    setup = time.perf_counter() - t
    # warm BLAS/threads on a tiny problem (first calls pay thread start-up)
    sim.run_once(sim.fig2_config(6, "task", 0.5, p=5, dtype=dtype), np.random.SeedSequence(1), act)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seed = np.random.SeedSequence(0)
    t = time.perf_counter()
    res = sim.run_once(cfg, seed, act)
    run = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    errors = {m: float(np.mean([v[0] for v in vals])) for m, vals in res["errors"].items()}

    # re-time the parts with the same sizes
    dt = np.dtype(dtype).type
    src, rho = cfg.sources, np.array(cfg.rho)
    s_init, s1, s2, s_test, s_noise = seed.spawn(5)
    t = time.perf_counter()
    b1 = data.sample_mixture(src, rho, cfg.n, cfg.ell, s1, cfg.kappa, dt)
    t_data = time.perf_counter() - t
    F, w = mlp.init_mlp(cfg.k, cfg.D, float(np.mean(np.einsum("ij,ij->i", b1.h, b1.h))),
                        np.random.default_rng(s_init), dt)
    t = time.perf_counter()
    Z = b1.h @ F.T
    G = mlp.gradient(F, w, b1.h, b1.y, act.sigma, act.dsigma, Z)
    t_gemm = time.perf_counter() - t
    F += dt(cfg.eta) * G
    del G, Z
    t = time.perf_counter()
    b2 = data.sample_mixture(src, rho, cfg.n, cfg.ell, s2, cfg.kappa, dt, out=b1.h)
    for s, child in zip(src, s_test.spawn(len(src))):
        for _ in data.iter_source(s, cfg.n_test, cfg.ell, child, cfg.kappa, dt):
            pass
    t_data += time.perf_counter() - t
    t = time.perf_counter()
    Z = b2.h @ F.T
    t_gemm += time.perf_counter() - t
    scale = dt(1 / np.sqrt(cfg.k))
    A = act.sigma(Z) * scale
    Aeq = sim._sigma_hat(act, cfg.p, Z, np.random.default_rng(s_noise)) * scale
    lam = cfg.lam * cfg.n
    t = time.perf_counter()
    mlp.ridge(A, b2.y, lam)
    mlp.ridge(Aeq, b2.y, lam)
    mlp.ridge(b2.h, b2.y, lam)
    t_ridge = time.perf_counter() - t
    return {"d": d, "dtype": dtype, "ell": cfg.ell, "n": cfg.n, "k": cfg.k, "D": cfg.D, "n_test": cfg.n_test,
            "run_s": run, "setup_s": setup, "data_s": t_data, "gemm_s": t_gemm, "ridge_s": t_ridge,
            "other_s": run - t_data - t_gemm - t_ridge,
            "memory_estimate_bytes": sim.memory_bytes(cfg), "rss_before_bytes": rss0, "peak_rss_bytes": peak,
            "errors": errors,
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD_FLAG:
        print(json.dumps(_child(int(argv[1]), argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, nargs="+", default=[20, 40, 80])
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads in the children (0: leave as is)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    env = dict(os.environ)
    if args.threads > 0:
        env.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads))
    MiB = 2 ** 20
    print(f"dd25 Fig. 2 point (task spike, ρ=½, ℓ=d, n=k=d²/2, 3 models, 1 run); "
          f"BLAS threads {args.threads or 'default'}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'d':>3} {'dtype':>7} {'n=k':>5} {'D':>5} | {'run s':>7} {'data':>6} {'gemm':>6} {'ridge':>6} "
          f"{'other':>6} | {'setup s':>7} | {'est MiB':>7} {'peak RSS':>8} {'base RSS':>8} {'Δ RSS':>6} | "
          f"{'mlp':>6} {'lin':>6} {'eq':>6} {'triv':>6}")
    rows = []
    for d in args.d:
        for dtype in args.dtype:
            t = time.perf_counter()
            p = subprocess.run([sys.executable, os.path.abspath(__file__), CHILD_FLAG, str(d), dtype],
                               capture_output=True, text=True, env=env)
            if p.returncode:
                print(f"{d:>3} {dtype:>7} failed: {p.stderr.strip().splitlines()[-1] if p.stderr else p.returncode}")
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            r["wall_child_s"] = time.perf_counter() - t
            rows.append(r)
            e = r["errors"]
            print(f"{d:>3} {dtype:>7} {r['n']:>5} {r['D']:>5} | {r['run_s']:>7.2f} {r['data_s']:>6.2f} "
                  f"{r['gemm_s']:>6.2f} {r['ridge_s']:>6.2f} {r['other_s']:>6.2f} | {r['setup_s']:>7.2f} | "
                  f"{r['memory_estimate_bytes'] / MiB:>7.0f} {r['peak_rss_bytes'] / MiB:>8.0f} "
                  f"{r['rss_before_bytes'] / MiB:>8.0f} {(r['peak_rss_bytes'] - r['rss_before_bytes']) / MiB:>6.0f} | "
                  f"{e.get('mlp', float('nan')):>6.3f} {e.get('linear', float('nan')):>6.3f} "
                  f"{e.get('equivalent', float('nan')):>6.3f} {e.get('trivial', float('nan')):>6.3f}", flush=True)
    print("times in seconds; data/gemm/ridge re-timed separately (see the docstring); "
          "Δ RSS = peak − RSS before the run; errors: uniform-mixture test errors of this one run")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "cpus": os.cpu_count(), "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
