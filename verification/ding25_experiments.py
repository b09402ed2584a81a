"""Reproduce ding25's experiments (App. A, App. B.1, Fig. 3) at small sizes; print ours beside the paper's.

    python verification/ding25_experiments.py [--quick] [--only appA appB1 fig3] [--json results.json]

Seeds are fixed (the numbers are a deterministic function of the options); progress goes to stderr,
tables to stdout.  The experiment code lives in ``icl_proofs.claims.ding25.experiments``.
"""
import argparse
import json
import sys
import time

from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.ding25 import experiments

FULL = {
    "appA": dict(seeds=(0, 1, 2, 3, 4), steps=3000, n_test=100_000),
    "appB1": dict(d_values=(1, 2, 3, 4, 5, 6), seeds=(0, 1, 2, 3, 4), steps=1000, n_test=5000),
    "fig3": dict(seeds=(0, 1, 2, 3, 4), steps=2000, n_train_values=(200, 2000), n_test=20_000),
}
QUICK = {
    "appA": dict(seeds=(0, 1, 2), steps=1000, n_test=20_000),
    "appB1": dict(d_values=(1, 2, 3, 4, 5, 6), seeds=(0, 1, 2), steps=1000, n_test=2000),
    "fig3": dict(seeds=(0, 1, 2), steps=1000, n_train_values=(200, 1000), n_test=5000),
}


def _pm(stat, fmt=".4f"):
    return f"{stat['mean']:{fmt}} ± {stat['sd']:{fmt}}"


def print_appA(r):
    c = r["config"]
    print(f"\nApp. A — sparse vs dense one-layer LSA (d={c['d']}, n={c['n']}, p={c['p']}, {c['batch']} fresh prompts/step, "
          f"Adam lr {c['lr']}, {c['steps']} steps, {len(c['seeds'])} seeds, test batch {c['n_test']})")
    se = max(x[m]["test_mse_se"] for x in r["runs"] for m in ("structured", "dense"))
    print(f"  sparse (structured L=1) test MSE   {_pm(r['sparse_test_mse'])}   (mean ± sd over seeds; test SE ≤ {se:.4f})")
    print(f"  dense (full P, Q)       test MSE   {_pm(r['dense_test_mse'])}")
    diffs = ", ".join(f"{x['dense_minus_sparse_test_mse']['diff']:+.5f}±{x['dense_minus_sparse_test_mse']['se']:.5f}"
                      for x in r["runs"])
    print(f"  dense − sparse per seed (paired SE): {diffs}")
    ref = r["enlarged_lstsq_test_mse"]
    print(f"  enlarged-space least squares (reference floor): {ref['mse']:.4f} ± {ref['se']:.4f}")
    print(f"  paper: {r['paper']}")


def print_appB1(r):
    c = r["config"]
    print(f"\nApp. B.1 — one-layer LSA (Adam lr {c['lr']}, {c['steps']} it.) vs enlarged-space least squares "
          f"(n+1={c['n'] + 1}, p={c['p']}, {c['n_train']} train prompts, {c['n_test']} held-out, "
          f"{len(c['seeds'])} seeds; mean ± sd)")
    print(f"  {'d':>2} {'#feat':>5} | {'LSA acc train':>15} {'LSA acc test':>15} | {'LS acc train':>15} {'LS acc test':>15} |"
          f" {'LSA mse test':>15} {'LS mse test':>15}")
    for row in r["rows"]:
        print(f"  {row['d']:>2} {row['features']:>5} | {_pm(row['lsa_train_acc'], '.3f'):>15} {_pm(row['lsa_test_acc'], '.3f'):>15} |"
              f" {_pm(row['ls_train_acc'], '.3f'):>15} {_pm(row['ls_test_acc'], '.3f'):>15} |"
              f" {_pm(row['lsa_test_mse'], '.3f'):>15} {_pm(row['ls_test_mse'], '.3f'):>15}")
    print(f"  paper: {r['paper']}")


PAPER_FIG3 = {(3, 1): "0.55", (3, 3): "0.98"}


def print_fig3(r):
    c = r["config"]
    print(f"\nFig. 3 — structured L-layer LSA on |S|-state chains ({c['n']} context chains + query, length {c['d'] + 1}, "
          f"Dirichlet({c['alpha']}) rows; full-batch Adam lr {c['lr']}, {c['steps']} steps, {len(c['seeds'])} seeds)")
    print(f"  {'S':>2} {'n_train':>7} {'L':>2} | {'train acc':>15} {'test acc':>15} | {'chance':>6} {'oracle':>6} "
          f"{'LS(L=1+)':>8} | paper")
    for row in r["rows"]:
        paper = PAPER_FIG3.get((row["S"], row["L"]), "")
        print(f"  {row['S']:>2} {row['n_train']:>7} {row['L']:>2} | {_pm(row['train_acc'], '.3f'):>15} "
              f"{_pm(row['test_acc'], '.3f'):>15} | {row['chance']:6.3f} {row['oracle_acc_test']:6.3f} "
              f"{row['enlarged_ls_test_acc']:8.3f} | {paper}"
              + (f"  [{row['diverged_runs']} diverged]" if row["diverged_runs"] else ""))
    print("  oracle: test accuracy of argmax of the true kernel row (a ceiling for any predictor on fresh prompts; "
          "SE ~ 0.003)")
    print("  LS(L=1+): test accuracy of least squares on the enlarged space (contains every one-layer LSA), "
          "fitted on as many fresh prompts as the test set")
    print(f"  paper: {r['paper']}")


RUNNERS = {"appA": (experiments.appA_sparse_vs_dense, print_appA), "appB1": (experiments.appB1_lsa_vs_enlarged, print_appB1),
           "fig3": (experiments.fig3_layers, print_fig3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer seeds / steps (about a minute or two)")
    ap.add_argument("--only", nargs="+", choices=list(RUNNERS), default=list(RUNNERS))
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL

    def progress(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    t0 = time.time()
    results = {}
    try:
        for name in args.only:
            fn, show = RUNNERS[name]
            progress(f"{name}: start ({'quick' if args.quick else 'full'})")
            results[name] = fn(**cfg[name], progress=progress)
            progress(f"{name}: done in {results[name]['seconds']:.1f} s")
            show(results[name])
            sys.stdout.flush()
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = time.time() - t0
    print(f"\ntotal wall time {total:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"quick": args.quick, "wall_seconds": total, "results": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
