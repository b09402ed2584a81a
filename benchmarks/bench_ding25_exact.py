"""ding25 exact algebra, d = 1..8: the old route (generic Fraction cubature + Bareiss on Python
integers) against the new one (integer cubature with fmpz products + python-flint Dixon solve),
paired in one run, plus the whole `eval ding25.enlarged-min` per d (new code, and the previous code
from ``--old-tree`` where it allowed d, i.e. d <= 6).

    python benchmarks/bench_ding25_exact.py [--repeat 3] [--old-limit 100] [--max-d 8] [--json FILE]

"exact X*" = build the system at p = 1/2 and solve H(n = 5) X = h exactly.  Each measurement is a
fresh child process (cold caches, import excluded), old and new alternating within each repeat.  The old
route is run only while it finishes under ``--old-limit`` seconds.  ``eval`` is the CLI command
timed end to end in a child (import included), as a user sees it.

Goals (issue 17): exact X* at d = 6 in ≤ 3× the d = 1 time; eval allowed up to d = 8, under a minute.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import sys, time, json
from fractions import Fraction as F
from icl_proofs.moments import markov as M
d, route = int(sys.argv[1]), sys.argv[2]
t = time.perf_counter()
if route == "old":
    s = M._enlarged_system_generic(d, M.iid_init(F(1, 2)), None, None)
    X = M.solve_bareiss(s.H(5), s.h)
else:
    s = M.enlarged_system(d, F(1, 2))
    X = M.solve(s.H(5), s.h)
el = time.perf_counter() - t
print(json.dumps({"s": el, "digits": max(len(str(x.denominator)) for x in X)}))
"""


def run_child(d: int, route: str, timeout: float):
    try:
        root = str(Path(__file__).resolve().parents[1])
        res = subprocess.run([sys.executable, "-c", CHILD, str(d), route], capture_output=True, text=True,
                             timeout=timeout, check=True, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    except subprocess.TimeoutExpired:
        return None
    return json.loads(res.stdout)


def run_eval(d: int, tree: str | None = None, timeout: float = 600):
    """Seconds for the CLI eval at d (``tree``: run that checkout's code instead of this one)."""
    env = dict(os.environ)
    # ``python -m`` puts the working directory first on sys.path: run in the tree whose code is meant
    tree = tree or str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = tree
    t = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "icl_proofs.cli", "eval", "ding25.enlarged-min", "--param",
                        f"d={d}", "--json"], capture_output=True, text=True, check=True, timeout=timeout, env=env,
                       cwd=tree)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - t


def fmt(ts):
    return f"{min(ts):.3g} / {statistics.median(ts):.3g}" if ts else "—"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-limit", type=float, default=100.0)
    ap.add_argument("--max-d", type=int, default=8)
    ap.add_argument("--old-tree", help="a checkout of the previous code: its eval is timed too (d <= 6)")
    ap.add_argument("--json")
    args = ap.parse_args()
    print(f"{'d':>2}  {'old X* min / med s':>20}  {'new X* min / med s':>20}  {'old eval min / med s':>22}"
          f"  {'new eval min / med s':>22}  {'X* digits':>9}")
    rows, old_alive, old_eval_alive, new_d1, new_x1 = [], True, bool(args.old_tree), None, None
    for d in range(1, args.max_d + 1):
        old, new, ev, old_ev, digits = [], [], [], [], None
        for _ in range(args.repeat):
            if old_eval_alive and d <= 6:
                r = run_eval(d, args.old_tree, args.old_limit)
                if r is None:
                    old_eval_alive = False
                else:
                    old_ev.append(r)
            if old_alive:
                r = run_child(d, "old", args.old_limit)
                if r is None:
                    old_alive = False
                else:
                    old.append(r["s"])
            r = run_child(d, "new", 600)
            new.append(r["s"])
            digits = r["digits"]
            ev.append(run_eval(d))
        old_txt = fmt(old) if old else f"> {args.old_limit:g} (not run)"
        if d == 1:
            new_d1 = ev
        goal = ""
        if d == 1:
            new_x1 = new
        if d == 6:
            goal = (f"eval d=6 / d=1 = {statistics.median(ev) / statistics.median(new_d1):.2f} (goal ≤ 3); "
                    f"X* alone: {statistics.median(new) / statistics.median(new_x1):.1f}")
        if d == 8:
            goal = f"goal: eval < 60 s ({'met' if max(ev) < 60 else 'NOT met'})"
        if old_ev:
            old_ev_txt = fmt(old_ev)
        elif not args.old_tree:
            old_ev_txt = "—"
        else:
            old_ev_txt = "not allowed" if d > 6 else f"> {args.old_limit:g} (not run)"
        print(f"{d:>2}  {old_txt:>20}  {fmt(new):>20}  {old_ev_txt:>22}  {fmt(ev):>22}  {digits:>9}  {goal}",
              flush=True)
        rows.append({"d": d, "old_s": old, "new_s": new, "old_eval_s": old_ev, "eval_s": ev, "digits": digits})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
