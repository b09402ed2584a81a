"""Verify every zfb23 claim and print, per claim: holds / refuted (with its witness) / inconclusive.

    python verification/verify_zfb23.py [--full] [--seed S] [--json results.json]

The same as ``icl-proofs verify zfb23``, written against the Python API.
"""
import argparse
import json
import sys

from icl_proofs.claims import CheckContext, select
from icl_proofs.runner import run_claims


def main(paper: str = "zfb23", doc: str = __doc__) -> int:
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--full", action="store_true", help="run the slow checks too")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    ctx = CheckContext(quick=not args.full, seed=args.seed)

    def report(result):
        line = f"{result['claim']:26s} {result['status'].upper():12s} ({len(result['checks'])} checks)"
        print(line, flush=True)
        if result["status"] == "refuted":
            print("   witness:", json.dumps(result["witness"])[:500])

    results = run_claims(select([paper]), ctx, on_result=report)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results}, fh, indent=1)
    return 1 if any(r["status"] == "refuted" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
