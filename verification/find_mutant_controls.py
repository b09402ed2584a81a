"""For each check of the named claims, find a mutant of a derivation it reads that it does not
accept: a candidate negative control (``Claim.controls``).  Prints JSON {claim: {check: label}}.

    python verification/find_mutant_controls.py zfb23.global-min dd25.hermite

Checks for which no such mutant exists (they read no derived formula, or no mutant moves them) are
listed under ``"none"``: they need an explicit control (``Control.negative(description, run)``).
"""
from __future__ import annotations

import argparse
import json
import sys

from icl_proofs.claims import registry
from icl_proofs.claims.base import CheckContext, Control
from icl_proofs.controls import run_control
from icl_proofs.mutation import engine
from icl_proofs.runner import planned_checks


def find(claim, ctx):
    plan = planned_checks(claim, ctx)
    targets = engine.derivations(claim)
    disc = engine.discover(claim, plan, ctx, targets)
    found, none = {}, []
    for check in plan:
        label = None
        for name, path, m in engine.plan_mutants(disc):
            if check.name not in disc.reads.get(name, {}).get(path, ()):
                continue
            lab = f"{name.rsplit('.', 1)[-1]}{engine.path_text(path)} {m.operator}"
            o = run_control(claim, check, Control.negative("mutant", mutant=lab), ctx)
            if o.passed:
                label = lab
                break
        if label:
            found[check.name] = label
        else:
            none.append(check.name)
    return {"found": found, "none": none}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("patterns", nargs="*")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    ctx = CheckContext(quick=True, seed=a.seed)
    out = {}
    for claim in registry.select(a.patterns or None):
        out[claim.id] = find(claim, ctx)
        print(claim.id, json.dumps(out[claim.id]), file=sys.stderr)
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
