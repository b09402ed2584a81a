"""dd25 simulation timings (plain script): one Fig. 2 point at d = 20, 40, 80 in float64 and float32,
and (``--full``) the full-mode cost of every dd25 simulation claim, old tree against new, next to
the 10-minute goal (issue 17 item 4).

    python benchmarks/bench_dd25.py [--d 20 40 80] [--dtype float64 float32] [--threads 1] [--json FILE]
    python benchmarks/bench_dd25.py --full [--old-tree /work/main] [--repeat 2] [--json FILE]
    python benchmarks/bench_dd25.py --d80-routes [--repeat 2]

``--full``: each tree (``--old-tree`` and this one) runs in a child process that records what
``verify dd25.<claim>`` (full mode, seed 0) would simulate — every call of the claims' simulation
entry points, with stand-in results so the checks' logic goes on — and then times ONE run of each
distinct simulation (CPU seconds, ``time.process_time``, one BLAS thread; a group of configurations
that the new code simulates together is timed together, as verify runs it) and multiplies by its
number of runs.  The children alternate old, new, old, new … (``--repeat``) and the minimum per
simulation is kept.  Per claim: old and new CPU seconds, and the new total against 600 s.  This is
an estimate that leaves out what is not simulation (symbolic checks, the Lemma 4.9 norm sweep;
timed for real, see the output) — on a shared 2-core machine a measured end-to-end full verify
of the old tree (about 29 min idle) cannot finish in a session.

``--d80-routes``: the paper's d = 80 Fig. 2 point, one run, the old route (float64, linear ridge on
the formed features) and the new one (float32 feature maps, Kronecker-factored linear ridge),
alternating, CPU and wall seconds.

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


SIM_CLAIMS = ("thm-4.12", "mlp-vs-linear", "lemma-4.11", "lemma-4.9", "data-mixing", "feature-learning", "trends")
PLAN_FLAG = "--plan-child"
D80_FLAG = "--d80-child"
GOAL_S = 600.0


def _fake_result(sim, cfg, runs):
    """A stand-in result of the right shape (so the checks' logic runs on without simulating)."""
    import numpy as np

    rng = np.random.default_rng(0)
    keys = list(cfg.models) + ["trivial"]
    eq = [k for k in ("equivalent",) if k in cfg.models] + [f"equivalent@p={q}" for q in cfg.extra_p]
    eq += [f"equivalent~{c}" for c in getattr(cfg, "eq_controls", ())]
    keys += [k for k in eq if k not in keys]
    if "mlp" in cfg.models:
        keys += ["mlp-" + k for k in eq]
    per_run = {k: 0.5 + 0.1 * rng.random((runs, len(cfg.sources))) for k in keys}
    return sim.Result(cfg, per_run, [], 0.0)


def _plan_child(tree_label: str, seed: int) -> list:
    """What full-mode verify of each simulation claim simulates: [(claim, kind, [cfg...], runs)]."""
    import dataclasses as dc

    from icl_proofs.claims import registry
    from icl_proofs.claims.base import CheckContext
    from icl_proofs.claims.dd25 import sim
    from icl_proofs.claims.dd25 import simulation

    plan, seen = [], set()
    claim_now = [""]

    def record(kind, cfgs, runs, seed_):
        todo = []
        for c in cfgs:
            key = (claim_now[0], kind, simulation._Holder(c).key, runs, seed_)
            if key not in seen:
                seen.add(key)
                todo.append(c)
        if todo:
            plan.append((claim_now[0], kind, todo, runs))

    def fake_many(cfgs, runs, seed_):
        record("simulate", list(cfgs), runs, seed_)
        return [_fake_result(sim, c, runs) for c in cfgs]

    def fake_stage1(cfg, runs, seed_=0):
        record("stage1", [cfg], runs, seed_)
        keys = ("spike_opnorm_alpha_halved", "rest_opnorm_alpha_halved", "norm_ratio_mean", "norm_ratio_sd",
                "preact_mean", "preact_var", "preact_excess_kurtosis", "spike_opnorm", "rest_opnorm", "grad_opnorm", "t")
        return [{k: 1.0 for k in keys} for _ in range(runs)]

    real = (simulation.simulate, getattr(simulation, "simulate_many", None), sim.stage1_diagnostics)
    simulation.simulate = lambda cfg, runs, seed_: fake_many([cfg], runs, seed_)[0]
    if hasattr(simulation, "simulate_many"):
        simulation.simulate_many = fake_many
    sim.stage1_diagnostics = fake_stage1
    if hasattr(simulation, "_stage1"):
        simulation._stage1.cache_clear()
    claims = {c.id: c for c in registry.all_claims()}
    for cid in SIM_CLAIMS:
        claim = claims["dd25." + cid]
        claim_now[0] = cid
        for ch in claim.checks():
            if ch.route != "monte-carlo":
                continue
            ctx = dc.replace(CheckContext(quick=False, seed=seed), claim_id=claim.id, check_name=ch.name)
            try:
                ch.run(ctx)
            except Exception:  # noqa: BLE001 - stand-in numbers may upset a check after its simulations
                pass
    simulation.simulate, sim.stage1_diagnostics = real[0], real[2]  # the timing that follows runs the real ones
    if real[1] is not None:
        simulation.simulate_many = real[1]
    if hasattr(simulation, "_stage1"):
        simulation._stage1.cache_clear()
    return plan


def _time_plan(plan, only=None) -> list:
    """CPU seconds of one run of each planned simulation (``only``: the indices to time)."""
    import numpy as np

    from icl_proofs.claims.dd25 import sim

    out = []
    for i, (claim, kind, cfgs, runs) in enumerate(plan):
        if only is not None and i not in only:
            out.append(None)
            continue
        t = time.process_time()
        if kind == "stage1":
            sim.stage1_diagnostics(cfgs[0], 1, 0)
        elif hasattr(sim, "simulate_many"):
            sim.simulate_many(cfgs, 1, 0)
        else:
            for c in cfgs:
                sim.simulate(c, 1, 0)
        out.append(time.process_time() - t)
    return out


def _plan_main(argv) -> int:
    plan = _plan_child(argv[1], 0)
    times = _time_plan(plan)
    rows = [{"claim": c, "kind": k, "configs": len(cfgs), "runs": r, "d": cfgs[0].d, "n": cfgs[0].n, "k": cfgs[0].k,
             "dtype": getattr(cfgs[0], "dtype", "float64"), "one_run_cpu_s": t}
            for (c, k, cfgs, r), t in zip(plan, times)]
    print(json.dumps(rows))
    return 0


def _run_child(flag, tree, args, env):
    e = dict(env, PYTHONPATH=tree)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), flag, *args], capture_output=True, text=True, env=e,
                       cwd=tree)
    if p.returncode:
        raise SystemExit(f"child in {tree} failed: {p.stderr.strip().splitlines()[-1] if p.stderr else p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _full(args, env) -> int:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"old": os.path.abspath(args.old_tree), "new": here}
    best: dict = {}
    for rep in range(args.repeat):
        for label in ("old", "new"):
            rows = _run_child(PLAN_FLAG, trees[label], [label], env)
            for i, r in enumerate(rows):
                key = (label, i)
                if key not in best or r["one_run_cpu_s"] < best[key]["one_run_cpu_s"]:
                    best[key] = r
            print(f"  repeat {rep + 1}: {label} tree timed ({len(rows)} simulations)", flush=True)
    per_claim = {c: {"old": 0.0, "new": 0.0} for c in SIM_CLAIMS}
    for (label, _), r in best.items():
        per_claim[r["claim"]][label] += r["one_run_cpu_s"] * r["runs"]
    print(f"dd25 full mode, simulation CPU seconds per claim (one BLAS thread; one run of each simulation timed, "
          f"× its runs; min of {args.repeat}); old tree {trees['old']}, new tree {trees['new']}")
    print(f"{'claim':<18} {'old s':>8} {'new s':>8} {'speed-up':>8}")
    tot = {"old": 0.0, "new": 0.0}
    for c, v in per_claim.items():
        tot["old"] += v["old"]
        tot["new"] += v["new"]
        print(f"{c:<18} {v['old']:>8.1f} {v['new']:>8.1f} {v['old'] / max(v['new'], 1e-9):>7.2f}x")
    print(f"{'total':<18} {tot['old']:>8.1f} {tot['new']:>8.1f} {tot['old'] / max(tot['new'], 1e-9):>7.2f}x   "
          f"goal: full mode under {GOAL_S:.0f} s -> new {'MEETS' if tot['new'] < GOAL_S else 'MISSES'} it "
          f"(simulations only; add the non-simulation checks)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"per_claim": per_claim, "total": tot, "rows": [dict(r, tree=k[0]) for k, r in best.items()]},
                      fh, indent=2)
    return 0


def _d80_child(route: str) -> dict:
    import numpy as np

    from icl_proofs.claims.dd25 import sim

    kw = {"dtype": "float64"} if route == "old" else {"dtype": "float32"}
    cfg = sim.fig2_config(80, "task", 0.5, p=5, **kw)
    if route == "old" and "linear_gram" in {f.name for f in __import__("dataclasses").fields(cfg)}:
        cfg = cfg.with_(linear_gram="features")
    act = sim._activation(cfg)
    sim.run_once(sim.fig2_config(6, "task", 0.5, p=5, dtype=cfg.dtype), np.random.SeedSequence(1), act)
    c, w = time.process_time(), time.perf_counter()
    res = sim.run_once(cfg, np.random.SeedSequence(0), act)
    return {"route": route, "cpu_s": time.process_time() - c, "wall_s": time.perf_counter() - w,
            "errors": {m: float(np.mean([v[0] for v in vals])) for m, vals in res["errors"].items()}}


def _d80(args, env) -> int:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for rep in range(args.repeat):
        for route in ("old", "new"):
            r = _run_child(D80_FLAG, here, [route], env)
            rows.append(r)
            print(f"d = 80 Fig. 2 point, {route} route ({'float64, linear ridge on H' if route == 'old' else 'float32 maps, Kronecker linear ridge'}): "
                  f"{r['cpu_s']:.1f} s CPU, {r['wall_s']:.1f} s wall; errors " +
                  ", ".join(f"{m} {v:.5f}" for m, v in r["errors"].items() if m in ("linear", "mlp", "equivalent")),
                  flush=True)
    best = {rt: min(r["cpu_s"] for r in rows if r["route"] == rt) for rt in ("old", "new")}
    print(f"d = 80: old {best['old']:.1f} s CPU, new {best['new']:.1f} s CPU (min of {args.repeat}): "
          f"{best['old'] / best['new']:.2f}x")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD_FLAG:
        print(json.dumps(_child(int(argv[1]), argv[2])))
        return 0
    if argv and argv[0] == PLAN_FLAG:
        return _plan_main(argv)
    if argv and argv[0] == D80_FLAG:
        print(json.dumps(_d80_child(argv[1])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, nargs="+", default=[20, 40, 80])
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads in the children (0: leave as is)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--full", action="store_true", help="full-mode cost per claim, old tree against this one")
    ap.add_argument("--old-tree", default="/work/main", help="checkout of the old code (for --full)")
    ap.add_argument("--d80-routes", action="store_true", help="the d = 80 point, old route against new")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    env = dict(os.environ)
    if args.threads > 0:
        env.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads))
    if args.full:
        return _full(args, env)
    if args.d80_routes:
        return _d80(args, env)
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
