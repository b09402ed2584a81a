"""``verify --controls``: the control contract, then every check's controls, one row each."""
from __future__ import annotations

import json
import sys

from ..claims.base import CheckContext
from .output import clip


def run_controls(claims, cctx: CheckContext, *, as_json: bool, quiet: bool) -> None:
    """Exit 0 when every control passes and no claim breaks the contract, else 1."""
    from .. import controls
    from ..runner import planned_checks, run_claim

    out = sys.stderr if as_json else sys.stdout
    rows, problems = [], []

    def show(o):
        if not quiet or not o.passed:
            mark = "ok  " if o.passed else "FAIL"
            print(f"{mark} {o.claim}:{o.check} [{o.kind}] {o.description} -> {o.status}", file=out)
            if not o.passed:
                print(f"     {clip(o.evidence, 300)}", file=out)

    for claim in claims:
        plan = planned_checks(claim, cctx)
        if not isinstance(plan, list):
            problems.append(f"{claim.id}: checks() failed: {plan.evidence}")
            continue
        # which checks refute at these settings: each of them needs a positive control
        baseline = {r["name"]: r["status"] for r in run_claim(claim, cctx, checks=plan)["checks"]}
        problems += controls.contract_problems(claim, plan, baseline)
        rows += controls.run_controls(claim, cctx, checks=plan, on_outcome=show)
    for p in problems:
        print(f"FAIL {p}", file=out)
    failed = [o for o in rows if not o.passed]
    print(f"{len(rows)} controls: {len(rows) - len(failed)} pass, {len(failed)} fail; "
          f"{len(problems)} contract problem(s)", file=out)
    if as_json:
        json.dump({"controls": [o.to_json() for o in rows], "contract_problems": problems}, sys.stdout,
                  indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    sys.exit(1 if failed or problems else 0)
