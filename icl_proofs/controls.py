"""Run the controls of checks: does each check tell a known wrong alternative from the truth?

A check that says "holds" is worth what it would have said about a mistake.  Every check declares

* **negative controls** (:meth:`Control.negative <icl_proofs.claims.base.Control.negative>`): a
  concrete wrong alternative — a mutated derivation, c₁ halved, a sign flipped — on which the check,
  run with its own logic, must *not* say ``holds``;
* and, if it refutes a paper's statement, **positive controls**: the corrected statement, on which
  it must say ``holds``.

:func:`contract_problems` states the contract (a check without a negative control, a refuting check
without a positive one) and :func:`run_controls` runs the controls.  ``icl-proofs verify --controls``
and ``tests/test_controls.py`` use both, for every registered claim, plugins included.

A mutant control (``Control.negative(..., mutant="derivation[part] operator")``) patches the named
derivation exactly as ``icl-proofs mutate`` does and re-runs the check in this process; a mutant
that never reaches the check fails the control (the declaration is stale).
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import time

from .claims.base import Check, CheckContext, CheckResult, Claim, Control, ControlKind, Status

__all__ = ["ControlOutcome", "run_control", "run_controls", "contract_problems", "ControlError"]


class ControlError(RuntimeError):
    """A control that cannot be run as declared (unknown derivation, mutant that never applies)."""


@dataclasses.dataclass
class ControlOutcome:
    claim: str
    check: str
    kind: str
    description: str
    status: str  # the check's verdict on the alternative
    passed: bool
    evidence: str
    seconds: float = 0.0

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


_LABEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\S*) (\S+)$")


@contextlib.contextmanager
def _mutated(claim: Claim, label: str):
    """Patch the derivation named by a ``mutate`` label for the duration (in this process only)."""
    from . import cache
    from .claims import checks as checks_mod
    from .mutation import engine, operators as ops
    from .parallel import current, using

    m = _LABEL.match(label.strip())
    if not m:
        raise ControlError(f"mutant label {label!r} is not 'derivation[part] operator'")
    short, want_path, operator = m.groups()
    if operator not in ops.OPERATORS:
        raise ControlError(f"mutant label {label!r}: unknown operator {operator!r}")
    try:
        targets = engine.derivations(claim)
    except engine.CannotMutate as e:
        raise ControlError(str(e)) from None
    hits = [t for t in targets.values() if t.name.rsplit(".", 1)[-1] == short]
    if len(hits) > 1:  # the claim's own paper first
        home = type(claim).__module__.rsplit(".", 1)[0]
        hits = [t for t in hits if t.name.startswith(home)] or hits
    if len(hits) != 1:
        raise ControlError(f"mutant label {label!r}: {len(hits)} derivations named {short!r}")
    target = hits[0]
    applied: list[str] = []

    def mutated(res):
        for path in engine.sites(res):
            if engine.path_text(path) == want_path:
                mutant = ops.mutate(engine.get_at(res, path), operator)
                if mutant is not None:
                    applied.append(mutant.where)
                    return engine.replace_at(res, path, mutant.value)
        return res

    make = engine.result_patcher(target.name, mutated)

    holders = engine.cache_holders(targets) + [t.fn for t in targets.values()]
    with cache.writes_disabled(), checks_mod.witness_shrinking(False):
        engine._clear_all(holders)
        try:
            with using(dataclasses.replace(current(), workers=1, scheduler=None, backend="numpy")):
                with engine._patched(targets, make):
                    yield applied
        finally:
            engine._clear_all(holders)


def _run_against(claim: Claim, check: Check, control: Control, ctx: CheckContext) -> CheckResult:
    from .runner import check_context, run_check

    named = check_context(ctx, claim.id, check)
    if control.run is not None:
        return run_check(Check(check.name, check.route, control.run, check.quick), named)
    with _mutated(claim, control.mutant) as applied:
        result = run_check(check, named)
    if not applied:
        raise ControlError(f"mutant {control.mutant!r} never reached check {check.name!r}")
    return result


def run_control(claim: Claim, check: Check, control: Control, ctx: CheckContext) -> ControlOutcome:
    """Run ``check``'s logic against one control's alternative and judge the verdict."""
    t0 = time.perf_counter()
    try:
        r = _run_against(claim, check, control, ctx)
        status, evidence = r.status, r.evidence
    except ControlError as e:
        status, evidence = None, f"control cannot run: {e}"
    passed = status is not None and control.accepts(status)
    if status is not None and status is Status.INCONCLUSIVE and evidence.startswith("check crashed"):
        passed = False  # a crash is no evidence that the check tells the alternative apart
    return ControlOutcome(claim.id, check.name, control.kind.value, control.description,
                          status.value if status is not None else "error", passed, evidence[:400],
                          time.perf_counter() - t0)


def run_controls(claim: Claim, ctx: CheckContext, checks: list[Check] | None = None,
                 on_outcome=None) -> list[ControlOutcome]:
    """Every control of every (planned) check of ``claim``."""
    from .runner import planned_checks

    plan = planned_checks(claim, ctx) if checks is None else checks
    if not isinstance(plan, list):
        raise ControlError(f"{claim.id}: checks() failed: {plan.evidence}")
    out = []
    for check in plan:
        for control in check.controls:
            o = run_control(claim, check, control, ctx)
            out.append(o)
            if on_outcome is not None:
                on_outcome(o)
    return out


def contract_problems(claim: Claim, checks: list[Check], baseline: dict[str, str] | None = None) -> list[str]:
    """What a claim's checks lack: a negative control each, and a positive control for every check
    that refutes (``baseline``: check name -> verdict of a run at the same settings)."""
    problems = []
    for check in checks:
        if not check.negative_controls():
            problems.append(f"{claim.id}:{check.name}: no negative control")
        if baseline and baseline.get(check.name) == Status.REFUTED.value and not check.positive_controls():
            problems.append(f"{claim.id}:{check.name}: refutes the paper but has no positive control "
                            "(the corrected statement it must accept)")
        for c in check.controls:
            if not isinstance(c, Control):
                problems.append(f"{claim.id}:{check.name}: control {c!r} is not a Control")
    return problems


def controls_of_amendments(claim: Claim) -> list[tuple[str, Check]]:
    """(statement, check) for every check of the claim's amendments (they obey the same contract)."""
    return [(am.statement, c) for am in claim.amendments() for c in am.checks]


ControlKind  # re-exported for users writing controls
