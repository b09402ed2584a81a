"""Sharded Monte Carlo: scaling with workers, Dask overhead, memory in the sample count.

    python benchmarks/bench_parallel.py [--only scaling,dask,memory] [--json FILE] [--repeat 3]

Estimator: zfb23 prediction error at P = Gamma^{-1}, conditional (Wishart) sampler, as in
bench_montecarlo.py; d = 20, N = M = 40 for scaling and Dask, d = 2, M = 4 (cheap samples) for
memory.  Every timing is taken after the workers are up (their start-up is reported apart), and
every configuration must return the bitwise-same estimate as the in-process run: the script exits
1 otherwise.

* scaling: ``workers=1`` (in this process, one BLAS thread) against the process pool with 2, ...
  workers, n = 2^21 samples in shards of 2^14.
* dask: the same estimate on a ``distributed.LocalCluster`` (processes, one thread each) against
  the pool with as many workers, plus the per-shard overhead with tiny shards (2^8 samples); once
  with Dask's default worker environment and once with a larger glibc trim threshold (see
  ``TUNED_MALLOC``).
* memory: peak resident memory (this process + all its descendants, sampled every 20 ms with
  psutil) for n = 10^6, 10^7, 10^8, each in a fresh interpreter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time

import numpy as np

from bench_montecarlo import exact_error  # this folder is on sys.path when run as a script
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.numeric import samplers
from icl_proofs.parallel import cpu_count, shutdown_all, using


def sampler(d: int, M: int):
    Lam = np.diag(np.linspace(0.5, 2.0, d))
    Gam = (1 + 1 / M) * Lam + np.trace(Lam) / M * np.eye(d)
    return samplers.conditional_sampler(np.linalg.inv(Gam), Lam, M)


def timed(f, n, batch, repeat, **execution):
    with using(**execution):
        t0 = time.perf_counter()
        mc.estimate(f, 4 * batch, seed=123, batch=batch)  # start the workers, load the sampler
        startup = time.perf_counter() - t0
        times, cpu, est = [], [], None
        for _ in range(repeat):
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            est = mc.estimate(f, n, seed=2025, batch=batch)
            r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            times.append(t1 - t0)
            cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    best = int(np.argmin(times))
    return {"startup_s": startup, "best_s": times[best], "times_s": times, "this_process_cpu_s": cpu[best],
            "mean": est.mean, "se": est.se, "n": est.n}


def bench_scaling(args) -> dict:
    f = sampler(20, 40)
    n, batch = 2**21, 2**14
    rows = {"1 (in process)": timed(f, n, batch, args.repeat, workers=1)}
    for w in range(2, max(2, cpu_count()) + 1):
        rows[f"{w} (pool)"] = timed(f, n, batch, args.repeat, workers=w)
    base = rows["1 (in process)"]
    exact = exact_error(np.diag(np.linspace(0.5, 2.0, 20)), 40)
    for r in rows.values():
        r["speedup"] = base["best_s"] / r["best_s"]
        r["identical"] = (r["mean"], r["se"], r["n"]) == (base["mean"], base["se"], base["n"])
    print(f"\nscaling: zfb23 d=20, N=M=40, n={n:,} in shards of {batch:,} (cores: {cpu_count()})")
    print(f"{'workers':<16}{'best':>9}{'speed-up':>10}{'start-up':>10}   estimate (identical?)")
    for k, r in rows.items():
        print(f"{k:<16}{r['best_s']:>8.2f}s{r['speedup']:>9.2f}x{r['startup_s']:>9.2f}s   "
              f"{r['mean']:.9f} ± {r['se']:.2g} ({'yes' if r['identical'] else 'NO'})")
    print(f"  exact value {exact:.9f}: z = {(base['mean'] - exact) / base['se']:+.2f}")
    return {"n": n, "batch": batch, "rows": rows, "exact": exact}


# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 (to return memory eagerly); for
# this workload (multi-megabyte temporaries per chunk) that costs page faults on every chunk.
TUNED_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 2**27, "MALLOC_MMAP_THRESHOLD_": 2**25}


def _dask_run(f, w, n, batch, tiny_n, tiny_b, repeat, environ: dict | None) -> dict:
    import dask
    from distributed import LocalCluster

    cfg = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in (environ or {}).items()}
    with dask.config.set(cfg):
        t0 = time.perf_counter()
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            start = time.perf_counter() - t0
            big = timed(f, n, batch, repeat, scheduler=c.scheduler_address)
            tiny = timed(f, tiny_n, tiny_b, repeat, scheduler=c.scheduler_address)
            shutdown_all()
    return {"cluster_start_s": start, "big": big, "tiny": tiny}


def bench_dask(args) -> dict:
    f = sampler(20, 40)
    n, batch = 2**20, 2**14
    tiny_n, tiny_b = 2**14, 2**8  # 64 shards of 256 samples: the per-shard cost shows
    w = max(2, cpu_count())
    pool = {"big": timed(f, n, batch, args.repeat, workers=w),
            "tiny": timed(f, tiny_n, tiny_b, args.repeat, workers=w)}
    default = _dask_run(f, w, n, batch, tiny_n, tiny_b, args.repeat, None)
    tuned = _dask_run(f, w, n, batch, tiny_n, tiny_b, args.repeat, TUNED_MALLOC)
    shards = tiny_n // tiny_b
    out = {"workers": w, "n": n, "batch": batch, "tiny_n": tiny_n, "tiny_batch": tiny_b, "pool": pool,
           "dask_default_env": default, "dask_tuned_malloc": {"environ": TUNED_MALLOC, **tuned}}
    out["identical"] = all((r["big"]["mean"], r["big"]["se"], r["tiny"]["mean"], r["tiny"]["se"]) ==
                           (pool["big"]["mean"], pool["big"]["se"], pool["tiny"]["mean"], pool["tiny"]["se"])
                           for r in (default, tuned))
    print(f"\ndask: LocalCluster, {w} worker processes x 1 thread, against the pool with {w} workers")
    print(f"{'':<34}{f'n={n:,} (shards 2^14)':>24}{f'{shards} shards of {tiny_b}':>22}")
    rows = [("process pool", pool, None), ("dask, default worker env", default, default["cluster_start_s"]),
            ("dask, MALLOC_TRIM_THRESHOLD_ 128M", tuned, tuned["cluster_start_s"])]
    for name, r, start in rows:
        big, tiny = r["big"]["best_s"], r["tiny"]["best_s"]
        over = "" if r is pool else f" ({100 * (big / pool['big']['best_s'] - 1):+.0f}%)"
        print(f"{name:<34}{big:>16.2f} s{over:<7}{tiny * 1e3:>10.0f} ms ({tiny * 1e3 / shards:.1f} ms/shard)"
              + f"   this process: {r['big']['this_process_cpu_s']:.2f} s CPU"
              + ("" if start is None else f", cluster start {start:.1f} s"))
    print("  (LocalCluster's scheduler runs in this process: on 2 cores it competes with the workers)")
    print(f"  same numbers as the pool: {'yes' if out['identical'] else 'NO'}")
    return out


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="scaling,dask,memory")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--memory-point", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_point:
        print(json.dumps(memory_point(args.memory_point)))
        return 0
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"{cpu_count()} cores, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    results = {}
    for part in args.only.split(","):
        results[part] = {"scaling": bench_scaling, "dask": bench_dask, "memory": bench_memory}[part](args)
    ok = all(r["identical"] for r in results.get("scaling", {"rows": {}})["rows"].values()) and \
        results.get("dask", {}).get("identical", True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"platform": platform.platform(), "cores": cpu_count(), **results}, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
