"""Parallel only when it pays: the default against ``--workers 1``, paired; Dask; memory.

    python benchmarks/bench_parallel.py [--only small,large,verify,overhead,dask,memory] [--repeat 3]
        [--claims zfb23.covariate-shift,zfb23.risk,dd25.hermite] [--large-n 2097152] [--json FILE]

This machine is shared (2 cores, other jobs running), so every comparison is **paired and
alternating**: repetition r runs configuration A then B, r + 1 runs B then A, and each run is a
fresh interpreter (so the default pays its pool start-up every time, as a command-line run does).
Each line prints min / median of the repetitions, the ratio of the medians, and the goal.  Load
averages are printed before and after.  Every configuration must return the bitwise-same estimate
(the script exits 1 otherwise).

Estimator: zfb23 prediction error at P = Gamma^{-1}, conditional (Wishart) sampler, d = 20, N = M
= 40, as in bench_montecarlo.py.

* small:    an estimate to se 0.01 (issue 17: 0.06 s with one worker, 0.78 s by default).
            Goal: default <= 1.05 x workers 1.
* large:    2^21 samples (``--large-n``), cold (first estimate of the process: pool start-up
            included) and warm (second one).  Goal: workers 1 / default >= 1.8.
* verify:   ``icl-proofs verify CLAIMS --quick`` (wall time of the command), with the 1-minute load
            average as each run starts.  Goal: default <= 1.05 x ``--workers 1``; with ``--claims
            all`` (every claim; claims run side by side) also default < 20 s on an idle machine.
* overhead: the router's constants, measured: pool start-up (warm-up in the background until
            every worker answered) and the cost of one task on a warm pool.
* dask:     the pool against a ``distributed.LocalCluster`` (2 processes x 1 thread) with Dask's
            default worker environment and with ``TUNED_MALLOC``, interleaved.
* memory:   peak resident memory (this process + its descendants, sampled every 20 ms with
            psutil) for n = 10^6, 10^7, 10^8, each in a fresh interpreter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

from bench_montecarlo import exact_error  # this folder is on sys.path when run as a script
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.models import samplers
from icl_proofs.parallel import cpu_count, executors, shutdown_all, using

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOAL_SLOWER = 1.05  # default at most 5 % slower than --workers 1
GOAL_SPEEDUP = 1.8  # and at least 1.8x faster on 2^21 samples
GOAL_VERIFY_ALL_S = 20.0  # verify --quick of every claim, default workers, on an idle 2-core machine


def sampler(d: int, M: int):
    Lam = np.diag(np.linspace(0.5, 2.0, d))
    Gam = (1 + 1 / M) * Lam + np.trace(Lam) / M * np.eye(d)
    return samplers.conditional_sampler(np.linalg.inv(Gam), Lam, M)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, HERE, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _point(kind: str, workers: int | None) -> dict:
    """Run ``--point KIND`` in a fresh interpreter; its JSON line."""
    cmd = [sys.executable, os.path.abspath(__file__), "--point", kind]
    if workers is not None:
        cmd += ["--point-workers", str(workers)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def paired(run_a, run_b, repeat: int) -> tuple[list, list]:
    """``repeat`` results of each, alternating A B, B A, A B, ... (paired under the same load)."""
    a, b = [], []
    for r in range(repeat):
        if r % 2 == 0:
            a.append(run_a())
            b.append(run_b())
        else:
            b.append(run_b())
            a.append(run_a())
    return a, b


def _mm(xs) -> str:
    return f"{min(xs):7.3f} / {statistics.median(xs):7.3f} s"


def _pairs(a, b) -> str:
    """The ratio within each pair (same load), as a check on the ratio of medians."""
    return "paired ratios " + ", ".join(f"{x / y:.2f}" for x, y in zip(a, b))


def point_main(kind: str, workers: int | None) -> dict:
    """Inside the fresh interpreter: time the estimate(s) of ``kind``."""
    f = sampler(20, 40)
    ex = {} if workers is None else {"workers": workers}
    out = {"workers": workers}
    with using(**ex):
        if kind == "startup":  # the pool the router warms for ``workers`` (this process is one of them)
            from icl_proofs.parallel.ordered import helper_count

            t0 = time.perf_counter()
            executors.warm_pool(helper_count(workers)).wait_ready(300)
            out.update(seconds=time.perf_counter() - t0)
        elif kind == "small":
            t0 = time.perf_counter()
            e = mc.estimate(f, 10**9, seed=2025, se_target=0.01)
            out.update(seconds=time.perf_counter() - t0, n=e.n, mean=e.mean, se=e.se)
        elif kind.startswith("large"):
            n = int(kind.partition(":")[2])
            for label in ("cold", "warm"):
                t0 = time.perf_counter()
                e = mc.estimate(f, n, seed=2025 if label == "cold" else 2026)
                out[label] = {"seconds": time.perf_counter() - t0, "n": e.n, "mean": e.mean, "se": e.se}
                if workers == 1:
                    break  # nothing to warm
        else:
            raise SystemExit(f"unknown point {kind!r}")
    return out


def _small_here(workers: int | None) -> float:
    f = _SMALL_SAMPLER
    with using(**({} if workers is None else {"workers": workers})):
        t0 = time.perf_counter()
        mc.estimate(f, 10**9, seed=2025, se_target=0.01)
        return time.perf_counter() - t0


_SMALL_SAMPLER = None


def bench_small(args) -> dict:
    global _SMALL_SAMPLER
    reps = max(9, args.repeat)  # 0.15 s runs: cheap, and noisy under load, so more of them
    a, b = paired(lambda: _point("small", None), lambda: _point("small", 1), reps)
    ta, tb = [r["seconds"] for r in a], [r["seconds"] for r in b]
    ratio = statistics.median(ta) / statistics.median(tb)
    same = all((r["mean"], r["se"], r["n"]) == (a[0]["mean"], a[0]["se"], a[0]["n"]) for r in a + b)
    print(f"\n(a) small estimate: d=20, N=M=40 to se 0.01, fresh interpreter each, {reps} paired runs")
    print(f"  default      {_mm(ta)}   n = {a[0]['n']:,} (before: 65,536 at least)")
    print(f"  --workers 1  {_mm(tb)}")
    print(f"  default / workers 1 (medians) = {ratio:.3f}   goal <= {GOAL_SLOWER:.2f}: "
          f"{'met' if ratio <= GOAL_SLOWER else 'NOT met'};  same estimate: {'yes' if same else 'NO'}")
    print(f"  ({_pairs(ta, tb)})")
    # the routing's own cost, without the sampler's or the interpreter's noise: a 4-shard estimate
    # of a trivial sampler, 300 alternating pairs in this process; the difference of the minima
    _SMALL_SAMPLER = lambda rng, k: rng.standard_normal(k)  # noqa: E731
    _small_here(None), _small_here(1)  # warm caches
    ha, hb = paired(lambda: _small_here(None), lambda: _small_here(1), 300)
    here = statistics.median(ha) / statistics.median(hb)
    print(f"  routing's own cost: N(0,1) to se 0.01 (4 shards, 3,840 samples), 300 alternating pairs in this "
          f"process: min {min(ha) * 1e3:.2f} ms default vs {min(hb) * 1e3:.2f} ms --workers 1, "
          f"{(min(ha) - min(hb)) * 1e3:+.2f} ms per estimate")
    return {"default_s": ta, "workers1_s": tb, "ratio": ratio, "n": a[0]["n"], "identical": same,
            "in_process_default_s": ha, "in_process_workers1_s": hb, "in_process_ratio": here}


def bench_large(args) -> dict:
    kind = f"large:{args.large_n}"
    a, b = paired(lambda: _point(kind, None), lambda: _point(kind, 1), args.repeat)
    cold, warm = [r["cold"]["seconds"] for r in a], [r["warm"]["seconds"] for r in a]
    one = [r["cold"]["seconds"] for r in b]
    ref = b[0]["cold"]
    same = all((r["cold"]["mean"], r["cold"]["se"]) == (ref["mean"], ref["se"]) for r in a + b)
    s_cold = statistics.median(one) / statistics.median(cold)
    s_warm = statistics.median(one) / statistics.median(warm)
    exact = exact_error(np.diag(np.linspace(0.5, 2.0, 20)), 40)
    print(f"\n(b) large estimate: n = {args.large_n:,} (shards of 2^14), {args.repeat} paired runs")
    print(f"  --workers 1        {_mm(one)}")
    print(f"  default, cold      {_mm(cold)}   speed-up {s_cold:.2f}x (pool start-up included)")
    print(f"  default, warm      {_mm(warm)}   speed-up {s_warm:.2f}x (second estimate, other seed)")
    print(f"  workers 1 / default: cold {_pairs(one, cold)}; warm {_pairs(one, warm)}")
    print(f"  goal >= {GOAL_SPEEDUP}x: cold {'met' if s_cold >= GOAL_SPEEDUP else 'NOT met'}, "
          f"warm {'met' if s_warm >= GOAL_SPEEDUP else 'NOT met'};  same estimate: {'yes' if same else 'NO'}"
          f";  {ref['mean']:.6f} ± {ref['se']:.1g} (exact {exact:.6f}, z = {(ref['mean'] - exact) / ref['se']:+.2f})")
    return {"n": args.large_n, "workers1_s": one, "default_cold_s": cold, "default_warm_s": warm,
            "speedup_cold": s_cold, "speedup_warm": s_warm, "identical": same}


def _verify_once(claims: list[str], workers: int | None, loads: list | None = None) -> float:
    cmd = [sys.executable, "-m", "icl_proofs.cli", "verify", *claims, "--quick", "-q"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if loads is not None:
        loads.append(os.getloadavg()[0])  # the 1-minute load as the run starts
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if r.returncode not in (0, 1, 3):
        raise SystemExit(f"verify failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return time.perf_counter() - t0


def bench_verify(args) -> dict:
    """Default against ``--workers 1``, paired and alternating; the 1-minute load average at the
    start of every run is printed beside it (claims side by side only pay with a core to spare)."""
    claims = [] if args.claims == "all" else args.claims.split(",")
    la, lb = [], []
    a, b = paired(lambda: _verify_once(claims, None, la), lambda: _verify_once(claims, 1, lb), args.repeat)
    ratio = statistics.median(a) / statistics.median(b)
    print(f"\n(c) icl-proofs verify {' '.join(claims) or '(all claims)'} --quick: wall time of the command, "
          f"{args.repeat} paired runs")
    print(f"  default      {_mm(a)}   runs: " + ", ".join(f"{x:.1f} s (load {l:.1f})" for x, l in zip(a, la)))
    print(f"  --workers 1  {_mm(b)}   runs: " + ", ".join(f"{x:.1f} s (load {l:.1f})" for x, l in zip(b, lb)))
    print(f"  default / workers 1 (medians) = {ratio:.3f}   goal <= {GOAL_SLOWER:.2f}: "
          f"{'met' if ratio <= GOAL_SLOWER else 'NOT met'}   ({_pairs(a, b)})")
    if not claims:
        print(f"  all claims by default: median {statistics.median(a):.1f} s   goal < {GOAL_VERIFY_ALL_S:g} s "
              f"(on an idle machine): {'met' if statistics.median(a) < GOAL_VERIFY_ALL_S else 'NOT met'}")
    return {"claims": claims or "all", "default_s": a, "workers1_s": b, "ratio": ratio,
            "load_default": la, "load_workers1": lb}


def bench_overhead(args) -> dict:
    """The router's constants: pool start-up, and a warm pool's cost per task."""
    starts, per_task = [], []
    noop = lambda rng, k: np.zeros(k)  # noqa: E731 - a task with no work: what is left is overhead
    for _ in range(args.repeat):
        starts.append(_point("startup", 2)["seconds"])  # fresh interpreter: forkserver included
    executors.warm_pool(2).wait_ready(300)
    for _ in range(args.repeat):
        with using(workers=2, placement="pool"):
            mc.estimate(noop, 64, seed=0, batch=1)  # the sampler reaches both workers
            t0 = time.perf_counter()
            mc.estimate(noop, 512, seed=0, batch=1)
            per_task.append((time.perf_counter() - t0) / 512)
    shutdown_all()
    from icl_proofs.parallel import routing

    print(f"\noverhead: workers = 2 (start-up: the pool of 1 beside this process; per task: a pool of 2), {args.repeat} runs")
    print(f"  start-up of the pool beside this process, fresh interpreter (forkserver, every worker answered)   "
          f"{_mm(starts)}   router: warm once >= "
          f"{routing.WARM_AFTER_S:g} s of work remain")
    print(f"  per task on a warm pool (no work)  {min(per_task) * 1e3:.2f} / "
          f"{statistics.median(per_task) * 1e3:.2f} ms   router assumes {routing.TASK_OVERHEAD_S * 1e3:g} ms")
    return {"startup_s": starts, "per_task_s": per_task}


# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 (to return memory eagerly); the
# README used to advise raising it for these samplers; this section measures whether that helps.
TUNED_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 2**27, "MALLOC_MMAP_THRESHOLD_": 2**25}


def _cluster(environ: dict | None):
    """A LocalCluster whose workers start with ``environ`` (None: Dask's defaults).

    Why the environment dance: the nannies of a LocalCluster run in this process and copy their
    pre-spawn environment into *this process's* ``os.environ``, and a variable present there
    overrides the Dask configuration for every later cluster.  The earlier version of this script
    set the configuration only, so its "tuned" cluster got Dask's 65536 like the default one.
    """
    import dask
    from distributed import LocalCluster

    saved = dict(os.environ)
    for k in TUNED_MALLOC:
        os.environ.pop(k, None)
    os.environ.update({k: str(v) for k, v in (environ or {}).items()})
    cfg = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in (environ or {}).items()}
    try:
        with dask.config.set(cfg):
            return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _initial_malloc_env() -> str:
    """The MALLOC_* variables a worker process started with (what glibc read), from /proc."""
    with open(f"/proc/{os.getpid()}/environ", "rb") as fh:
        env = [x.decode() for x in fh.read().split(b"\0") if x.startswith(b"MALLOC_")]
    return " ".join(sorted(env)) or "(none)"


def _worker_env(address: str) -> set:
    """MALLOC_* as the cluster's workers started with (checks the setting took effect)."""
    client = executors.dask_cluster(address).client
    return set(client.run(_initial_malloc_env).values())


def bench_dask(args) -> dict:
    f = sampler(20, 40)
    n, batch = 2**20, 2**14
    tiny_n, tiny_b = 2**14, 2**8  # 64 shards of 256 samples: the per-shard cost shows
    with _cluster(None) as plain, _cluster(TUNED_MALLOC) as tuned:
        configs = {"process pool": {"workers": 2, "placement": "pool"},
                   "dask, default worker env": {"scheduler": plain.scheduler_address},
                   "dask, MALLOC_TRIM_THRESHOLD_ 128M": {"scheduler": tuned.scheduler_address}}
        envs = {k: _worker_env(c["scheduler"]) for k, c in configs.items() if "scheduler" in c}
        rows = {k: {"big": [], "tiny": [], "est": None} for k in configs}
        for k, c in configs.items():  # warm-up: workers up, sampler loaded
            with using(**c):
                mc.estimate(f, 4 * batch, seed=123, batch=batch)
        order = list(configs)
        for r in range(args.repeat):  # interleaved, the order rotating, so load hits all alike
            for k in order[r % 3:] + order[:r % 3]:
                with using(**configs[k]):
                    t0 = time.perf_counter()
                    big = mc.estimate(f, n, seed=2025, batch=batch)
                    t1 = time.perf_counter()
                    tiny = mc.estimate(f, tiny_n, seed=2025, batch=tiny_b)
                    t2 = time.perf_counter()
                rows[k]["big"].append(t1 - t0)
                rows[k]["tiny"].append(t2 - t1)
                rows[k]["est"] = (big.mean, big.se, tiny.mean, tiny.se)
        shutdown_all()
    identical = len({r["est"] for r in rows.values()}) == 1
    pool_med = statistics.median(rows["process pool"]["big"])
    shards = tiny_n // tiny_b
    print(f"\ndask: LocalCluster (2 processes x 1 thread) against the pool (2 workers), interleaved, "
          f"{args.repeat} rounds; n = {n:,} in shards of 2^14, and {shards} shards of {tiny_b}")
    for k, r in rows.items():
        med = statistics.median(r["big"])
        over = "" if k == "process pool" else f"  {100 * (med / pool_med - 1):+5.0f} % vs pool"
        env = f"   workers started with {'; '.join(map(str, envs[k]))}" if k in envs else ""
        print(f"  {k:<34}{_mm(r['big'])}{over}   tiny: {statistics.median(r['tiny']) * 1e3 / shards:.1f} "
              f"ms/shard{env}")
    d, t = (statistics.median(rows[k]["big"]) for k in list(rows)[1:])
    print(f"  tuned / default Dask env (medians) = {t / d:.3f}  "
          f"({'the tuning helps' if t < 0.95 * d else 'the tuning makes no difference beyond noise' if t <= 1.05 * d else 'the tuning hurts'})")
    print("  (LocalCluster's scheduler runs in this process: on 2 cores it competes with the workers)")
    print(f"  same numbers everywhere: {'yes' if identical else 'NO'}")
    return {"n": n, "rows": {k: {"big_s": r["big"], "tiny_s": r["tiny"]} for k, r in rows.items()},
            "worker_env": {k: sorted(map(str, v)) for k, v in envs.items()}, "identical": identical}


def memory_point(n: int) -> dict:
    """Run in a fresh interpreter: peak RSS of this process tree while estimating with n samples."""
    import psutil

    me = psutil.Process()
    peak = {"total": 0, "parent": 0, "largest_worker": 0}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                parent = me.memory_info().rss
                kids = [p.memory_info().rss for p in me.children(recursive=True)]
            except psutil.Error:
                continue
            peak["parent"] = max(peak["parent"], parent)
            peak["largest_worker"] = max([peak["largest_worker"], *kids])
            peak["total"] = max(peak["total"], parent + sum(kids))
            stop.wait(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    t0 = time.perf_counter()
    est = mc.estimate(sampler(2, 4), n, seed=7, batch=2**16)
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    shutdown_all()
    return {"n": n, "wall_s": wall, "mean": est.mean, "se": est.se,
            **{f"peak_{k}_mib": v / 2**20 for k, v in peak.items()}}


def bench_memory(args) -> dict:
    rows = []
    print("\nmemory: zfb23 d=2, M=4, shards of 2^16, default workers; peak RSS of the process tree")
    print(f"{'n':>12}{'wall':>9}{'total':>11}{'parent':>10}{'worker':>10}   estimate")
    for n in (10**6, 10**7, 10**8):
        out = subprocess.run([sys.executable, __file__, "--memory-point", str(n)], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{n:>12,}{r['wall_s']:>8.1f}s{r['peak_total_mib']:>8.0f} MiB{r['peak_parent_mib']:>6.0f} MiB"
              f"{r['peak_largest_worker_mib']:>6.0f} MiB   {r['mean']:.7f} ± {r['se']:.1g}")
    growth = rows[-1]["peak_total_mib"] / rows[0]["peak_total_mib"]
    exact = exact_error(np.diag(np.linspace(0.5, 2.0, 2)), 4)
    print(f"  peak memory at 10^8 / at 10^6: {growth:.3f};  exact value {exact:.7f}, z at 10^8: "
          f"{(rows[-1]['mean'] - exact) / rows[-1]['se']:+.2f}")
    return {"rows": rows, "growth_1e8_over_1e6": growth, "exact": exact}


PARTS = {"small": bench_small, "large": bench_large, "verify": bench_verify, "overhead": bench_overhead,
         "dask": bench_dask, "memory": bench_memory}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="small,large,verify,overhead,dask,memory")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--claims", default="zfb23.covariate-shift,zfb23.risk,dd25.hermite",
                    help="claims for the verify part (comma-separated), or 'all'")
    ap.add_argument("--large-n", type=int, default=2**21)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--memory-point", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--point", help=argparse.SUPPRESS)
    ap.add_argument("--point-workers", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_point:
        print(json.dumps(memory_point(args.memory_point)))
        return 0
    if args.point:
        print(json.dumps(point_main(args.point, args.point_workers)))
        return 0
    if args.repeat < 3:
        print("note: --repeat below 3 gives no min / median worth the name", file=sys.stderr)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"{cpu_count()} cores, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
          f"{_load()} at start")
    results = {}
    for part in args.only.split(","):
        results[part] = PARTS[part](args)
        print(f"  ({_load()})")
    ok = all(r.get("identical", True) for r in results.values())
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"platform": platform.platform(), "cores": cpu_count(), **results}, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
