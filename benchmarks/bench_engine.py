"""Symbolic Wick engine, degree 6..16: contractions counted up to symmetry (new) against the
matching-by-matching enumeration (old), paired in one run.

    python benchmarks/bench_engine.py [--repeat 3] [--old-limit 100] [--json FILE]

Every measurement is one fresh child process timing only the ``expect`` call (cold caches for both
routes, import excluded); the routes alternate old/new within each repeat.  The old route is run
only while it finishes under ``--old-limit`` seconds (a timeout stops the rest of its column).

Goals (issue 17): E[(xᵀAx)^8] with general Σ < 2 s; degree-12 moments with two Σ̂ factors in
seconds; E[(xᵀAx)^3] not slower than before by more than 20 %.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import sys, time, json
import sympy as sp
from icl_proofs.moments.wick import expect, gaussian, matrix, sample_cov
case, method = sys.argv[1], sys.argv[2]
x = gaussian("x", cov="Lambda"); A = matrix("A"); B = matrix("B")
S = sample_cov("S", "Lambda", sp.Symbol("N", positive=True))
if case.startswith("xAx^"):
    e = (x.T @ A @ x) ** int(case[4:])
elif case == "deg12-two-Shat":
    e = (x.T @ A @ x) ** 3 * (x.T @ S @ B @ S @ x)
elif case == "deg12-Shat-forms":
    e = (x.T @ S @ A @ x) ** 2 * (x.T @ B @ x) ** 2
t = time.perf_counter()
r = expect(e, method=method)
print(json.dumps({"s": time.perf_counter() - t, "terms": len(sp.Add.make_args(r))}))
"""

CASES = [("xAx^3", 6), ("xAx^4", 8), ("xAx^5", 10), ("xAx^6", 12), ("deg12-two-Shat", 12),
         ("deg12-Shat-forms", 12), ("xAx^7", 14), ("xAx^8", 16)]
GOALS = {"xAx^8": "goal < 2 s", "deg12-two-Shat": "goal: seconds", "deg12-Shat-forms": "goal: seconds",
         "xAx^3": "goal: new ≤ 1.2 × old"}


def run_child(case: str, method: str, timeout: float):
    try:
        root = str(Path(__file__).resolve().parents[1])  # this tree's code, whatever the caller's cwd
        res = subprocess.run([sys.executable, "-c", CHILD, case, method], capture_output=True, text=True,
                             timeout=timeout, check=True, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    except subprocess.TimeoutExpired:
        return None
    return json.loads(res.stdout)


def fmt(ts):
    if not ts:
        return "—"
    return f"{min(ts):.4g} / {statistics.median(ts):.4g}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-limit", type=float, default=100.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    print(f"{'case':18} {'deg':>3}  {'old min / median s':>22}  {'new min / median s':>22}  {'terms':>6}  goal")
    old_alive = True
    for case, deg in CASES:
        old, new, terms = [], [], None
        for _ in range(args.repeat):
            if old_alive:
                r = run_child(case, "enumerate", args.old_limit)
                if r is None:
                    old_alive = False  # every later case is larger
                else:
                    old.append(r["s"])
            r = run_child(case, "orbits", 600)
            new.append(r["s"])
            terms = r["terms"]
        old_txt = fmt(old) if old else f"> {args.old_limit:g} (not run)" if not old_alive else "—"
        print(f"{case:18} {deg:>3}  {old_txt:>22}  {fmt(new):>22}  {terms:>6}  {GOALS.get(case, '')}",
              flush=True)
        rows.append({"case": case, "degree": deg, "old_s": old, "new_s": new, "terms": terms})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
