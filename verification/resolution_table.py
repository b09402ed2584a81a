"""The resolution of every statistical check in a ``verify --json`` results file, as a Markdown table.

    icl-proofs verify --quick --json results.json
    python verification/resolution_table.py results.json [more.json ...]

With several files (e.g. one per seed) each check's finest and coarsest resolution and its verdicts
are shown.  Resolution: the smallest relative error the check detects at its α with power 0.9.
"""
from __future__ import annotations

import json
import sys


def rows(paths):
    seen: dict = {}
    for path in paths:
        with open(path) as fh:
            doc = json.load(fh)
        for res in doc.get("results", []):
            checks = list(res.get("checks") or [])
            for am in res.get("amendments") or []:
                checks += am.get("checks") or []
            for chk in checks:
                r = chk.get("resolution")
                if not isinstance(r, dict):
                    continue
                key = f"{res['claim']}:{chk['name']}"
                row = seen.setdefault(key, {"rel": [], "abs": [], "verdicts": []})
                if r.get("relative") is not None:
                    row["rel"].append(float(r["relative"]))
                row["abs"].append(float(r["absolute"]))
                row["verdicts"].append(chk["status"])
    return seen


def main(argv=None):
    paths = (argv if argv is not None else sys.argv[1:])
    if not paths:
        sys.exit(__doc__)
    print("| check | resolution (relative, power 0.9) | verdicts |")
    print("|---|---|---|")
    for key, row in sorted(rows(paths).items()):
        if row["rel"]:
            lo, hi = min(row["rel"]), max(row["rel"])
            res = f"{100 * lo:.2g} %" if lo == hi else f"{100 * lo:.2g} – {100 * hi:.2g} %"
        else:
            lo, hi = min(row["abs"]), max(row["abs"])
            res = f"{lo:.2g} (absolute)" if lo == hi else f"{lo:.2g} – {hi:.2g} (absolute)"
        counts = {v: row["verdicts"].count(v) for v in ("holds", "refuted", "inconclusive")}
        verdicts = ", ".join(f"{k} {n}" for k, n in counts.items() if n)
        print(f"| {key} | {res} | {verdicts} |")


if __name__ == "__main__":
    main()
