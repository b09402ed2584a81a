"""Symbolic engine timings (plain script): Gaussian moments with symbolic d, and the zfb23
derivations with symbolic d and N, cold (no disk cache, fresh process) and warm (disk cache).

    python benchmarks/bench_symbolic.py [--json FILE]

Targets (DEVELOPERS.md / issue 2): quartic < 0.05 s, sextic < 0.5 s, octic < 5 s;
Γ + global minimiser + minimum loss < 2 s cold; repeated runs instant.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import os, sys, time, json
os.environ["ICL_PROOFS_CACHE"] = sys.argv[1]
t0 = time.perf_counter()
from icl_proofs.moments.wick import expect, gaussian, matrix
t_import = time.perf_counter() - t0
out = {"import_s": t_import}
if sys.argv[2] == "moments":
    x = gaussian("x", cov="Lambda"); A = matrix("A")
    for k, name in ((2, "quartic"), (3, "sextic"), (4, "octic")):
        t = time.perf_counter(); r = expect((x.T @ A @ x) ** k); out[name + "_s"] = time.perf_counter() - t
        out[name + "_terms"] = len(r.args)
else:
    from icl_proofs.claims.zfb23 import derive as D
    t = time.perf_counter()
    D.gaussian_moments(); out["gamma_s"] = time.perf_counter() - t
    t = time.perf_counter()
    D.global_min(); out["global_min_s"] = time.perf_counter() - t
    out["gamma_plus_min_s"] = out["gamma_s"] + out["global_min_s"]
    t = time.perf_counter()
    D.losses(); D.risk(); D.shifts(); out["all_other_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def child(cache: str, what: str, cache_dir: str) -> dict:
    env = dict(os.environ, ICL_PROOFS_CACHE_DIR=cache_dir)
    res = subprocess.run([sys.executable, "-c", CHILD, cache, what], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import tempfile

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [child("0", "moments", tmp) for _ in range(args.repeat)]
        for key in ("quartic_s", "sextic_s", "octic_s"):
            results[key] = min(r[key] for r in runs)
        cold = [child("0", "zfb23", tmp) for _ in range(args.repeat)]
        for key in ("gamma_s", "global_min_s", "gamma_plus_min_s", "all_other_s"):
            results["cold_" + key] = min(r[key] for r in cold)
        child("1", "zfb23", tmp)  # fill the disk cache
        warm = [child("1", "zfb23", tmp) for _ in range(args.repeat)]
        for key in ("gamma_plus_min_s", "all_other_s"):
            results["warm_" + key] = min(r[key] for r in warm)
    print("Symbolic engine (symbolic d; best of %d fresh processes)" % args.repeat)
    print(f"  E[(x'Ax)^2] quartic  {results['quartic_s']*1e3:8.1f} ms   (target < 50 ms)")
    print(f"  E[(x'Ax)^3] sextic   {results['sextic_s']*1e3:8.1f} ms   (target < 500 ms)")
    print(f"  E[(x'Ax)^4] octic    {results['octic_s']*1e3:8.1f} ms   (target < 5000 ms)")
    print("zfb23 derivations (symbolic d, N)")
    print(f"  Γ + global minimiser + min loss, cold  {results['cold_gamma_plus_min_s']:.3f} s (target < 2 s)")
    print(f"  same, from the disk cache              {results['warm_gamma_plus_min_s']*1e3:.1f} ms")
    print(f"  losses, risks, shifts, cold            {results['cold_all_other_s']:.3f} s")
    print(f"  losses, risks, shifts, disk cache      {results['warm_all_other_s']*1e3:.1f} ms")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
