"""Run the checks of selected claims and aggregate their verdicts.

A check that raises is reported as an ``inconclusive`` result whose evidence starts with
``check crashed:`` (the traceback is kept in ``details``), so one broken check never stops a run
but is always visible.
"""
from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Callable, Iterable

from .claims.base import (Check, CheckContext, CheckResult, Claim, Status, aggregate, route as route_info,
                          stamp_identity)

__all__ = ["run_check", "run_claim", "run_claims", "planned_checks", "STATISTICAL_ROUTES", "is_statistical",
           "statistical_checks", "bonferroni_alpha", "check_p_value", "family_wise", "family_lines",
           "FamilyWise", "PValueCheck", "OwnAlphaCheck"]

OnResult = Callable[[dict], None]
OnCheck = Callable[[Claim, CheckResult], None]
OnStart = Callable[[Claim, Check, int, int], None]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def _crashed(name: str, route: str, e: BaseException, seconds: float) -> CheckResult:
    msg = _first_line(e)
    return CheckResult(
        name=name,
        route=route,
        status=Status.INCONCLUSIVE,
        evidence=f"check crashed: {type(e).__name__}: {msg}" if msg else f"check crashed: {type(e).__name__}",
        details={"traceback": traceback.format_exc(limit=20)},
        seconds=seconds,
    )


def planned_checks(claim: Claim, ctx: CheckContext) -> list[Check] | CheckResult:
    """The checks of ``claim`` that run under ``ctx`` (or a crash result if ``checks()`` raises)."""
    t0 = time.perf_counter()
    try:
        checks = list(claim.checks())
    except Exception as e:  # noqa: BLE001
        return _crashed("checks()", "setup", e, time.perf_counter() - t0)
    table = getattr(claim, "controls", None) or {}
    checks = [dataclasses.replace(c, controls=tuple(c.controls) + tuple(table[c.name])) if c.name in table else c
              for c in checks]
    return [c for c in checks if c.quick or not ctx.quick]


def check_context(ctx: CheckContext, claim_id: str, check: Check) -> CheckContext:
    """``ctx`` named for one check of one claim: the check's random stream derives from the names."""
    return dataclasses.replace(ctx, claim_id=claim_id, check_name=check.name)


def run_check(check: Check, ctx: CheckContext) -> CheckResult:
    """Run one check, timed; exceptions become an inconclusive ``check crashed`` result."""
    from .parallel import progress

    if not ctx.check_name:
        ctx = dataclasses.replace(ctx, check_name=check.name)
    t0 = time.perf_counter()
    try:
        with progress.reporting(ctx.progress):  # Monte-Carlo runs inside the check report here
            result = check.run(ctx)
    except Exception as e:  # noqa: BLE001 - reported, never fatal
        return _stamp_alpha(_crashed(check.name, check.route, e, time.perf_counter() - t0), ctx)
    elapsed = time.perf_counter() - t0
    if not isinstance(result, CheckResult):
        return CheckResult(
            name=check.name,
            route=check.route,
            status=Status.INCONCLUSIVE,
            evidence=f"check crashed: returned {type(result).__name__}, not CheckResult",
            seconds=elapsed,
        )
    if not isinstance(result.status, Status):
        try:
            result.status = Status(result.status)
        except ValueError:
            result.status = Status.INCONCLUSIVE
            result.evidence = f"check crashed: invalid status {result.status!r}; {result.evidence}"
    stamp_identity(result, check)  # the Check names the result: its run need not
    result.seconds = elapsed
    _stamp_alpha(result, ctx)
    return result


def run_claim(
    claim: Claim,
    ctx: CheckContext,
    on_check: OnCheck | None = None,
    on_start: OnStart | None = None,
    checks: list[Check] | CheckResult | None = None,
    counter: list[int] | None = None,
    total: int = 0,
) -> dict:
    """Run the checks of one claim; return its result dict."""
    t0 = time.perf_counter()
    planned = planned_checks(claim, ctx) if checks is None else checks
    results: list[CheckResult] = []
    if isinstance(planned, CheckResult):
        results.append(planned)
        if on_check:
            on_check(claim, planned)
    else:
        for check in planned:
            if counter is not None:
                counter[0] += 1
            if on_start:
                on_start(claim, check, counter[0] if counter else 0, total)
            r = run_check(check, check_context(ctx, claim.id, check))
            results.append(r)
            if on_check:
                on_check(claim, r)
    status, witness = aggregate(results)
    out = {
        "claim": claim.id,
        "status": status.value,
        "checks": [r.to_json() for r in results],
        "witness": witness,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if status is Status.REFUTED:
        amended = run_amendments(claim, ctx, on_check=on_check)
        if amended:
            out["amendments"] = amended
        out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def run_amendments(claim: Claim, ctx: CheckContext, on_check: OnCheck | None = None) -> list[dict]:
    """Run the checks of every amended statement of a claim refuted as printed.

    Each amendment is ``{"statement", "status", "checks"}``; its checks run on streams of their own
    (named ``amendment-<i>:<check>``), so they never reuse the numbers of the claim's checks.
    """
    try:
        amendments = list(claim.amendments())
    except Exception as e:  # noqa: BLE001
        crashed = _crashed("amendments()", "setup", e, 0.0)
        return [{"statement": "(amendments could not be built)", "status": crashed.status.value,
                 "checks": [crashed.to_json()]}]
    out = []
    for i, am in enumerate(amendments):
        results = []
        for check in am.checks:
            if ctx.quick and not check.quick:
                continue
            named = dataclasses.replace(ctx, claim_id=claim.id, check_name=f"amendment-{i}:{check.name}")
            r = run_check(check, named)
            r.name = f"amendment: {check.name}"
            results.append(r)
            if on_check:
                on_check(claim, r)
        status, _ = aggregate(results)
        out.append({"statement": am.statement, "status": status.value,
                    "checks": [r.to_json() for r in results]})
    return out


def run_claims(
    claims: Iterable[Claim],
    ctx: CheckContext,
    on_result: OnResult | None = None,
    on_check: OnCheck | None = None,
    on_start: OnStart | None = None,
    parallel: bool | None = None,
) -> list[dict]:
    """Run every check of every claim (under ``--quick``, only checks with ``quick=True``).

    ``on_start(claim, check, i, n)`` is called before the i-th of n checks, ``on_check(claim,
    result)`` after each check and ``on_result(result_dict)`` after each claim.  A claim with no
    (selected) checks is ``inconclusive``.

    ``parallel``: whether whole claims may run side by side on a spare core
    (:mod:`icl_proofs.parallel.claim_runs`): ``None`` (default) when the current execution has two
    local workers or more and the selection's expected work pays for a worker, ``False`` never.
    Results and callbacks come in the order of ``claims`` and are the same either way.
    """
    from .parallel import claim_runs

    claims = list(claims)
    plans = [planned_checks(c, ctx) for c in claims]
    total = sum(len(p) if isinstance(p, list) else 0 for p in plans)
    expected = claim_runs.expected_seconds(claims, claim_runs.load_costs(ctx.quick))
    out: list[dict] = []
    try:
        if claim_runs.should_run_side_by_side(claims, expected, parallel=parallel):
            return claim_runs.run_side_by_side(claims, plans, ctx, expected, run_claim=run_claim,
                                               planned_checks=planned_checks, on_result=on_result,
                                               on_check=on_check, on_start=on_start, total=total, out=out)
        counter = [0]
        for claim, plan in zip(claims, plans):
            res = run_claim(claim, ctx, on_check=on_check, on_start=on_start, checks=plan, counter=counter,
                            total=total)
            out.append(res)
            if on_result:
                on_result(res)
        return out
    finally:  # the next run orders its claims by these (an interrupted run keeps what finished)
        claim_runs.save_costs(ctx.quick, {r["claim"]: r["seconds"] for r in out
                                          if isinstance(r.get("seconds"), (int, float))})


# ============================================================================================
# Family-wise false-alarm control across a whole run
#
# A statistical check refutes a *true* claim with probability at most its α (its false-alarm
# rate).  A run over many claims makes many such checks, so the chance that at least one of them
# refutes a true claim (the family-wise error rate, FWER) grows with their number m.  Two ways
# to bound it by α_family:
#
# * **Bonferroni, up front**: run every statistical check at ``bonferroni_alpha(α_family, m)`` =
#   α_family / m (m counted before the run with :func:`statistical_checks`).  By the union bound
#   P(any false refutation) ≤ m · α_family / m = α_family, whatever the dependence between checks.
#   The checks' own verdicts are then family-wise controlled.
# * **Holm, post hoc** (:func:`family_wise` with ``method="holm"``): sort the recorded check-level
#   p-values p_(1) ≤ … ≤ p_(m) and reject while p_(i) ≤ α_family / (m − i + 1).  Holm also
#   controls the FWER at α_family under any dependence, and rejects everything Bonferroni rejects
#   (its first threshold is Bonferroni's, the later ones are larger): it is uniformly more
#   powerful.
#
# Checks whose result carries no p-value (multi-test checks that report only their verdict, the
# dd25 simulation trends, crashed Monte-Carlo checks) cannot enter Holm.  They keep their own α
# (``details["check_alpha"]``, stamped by :func:`run_check`), which is charged to the budget
# first: Holm / Bonferroni run at α_tests = α_family − Σ α_i, so that by the union bound
# FWER ≤ α_tests + Σ α_i = α_family.  Deterministic routes (symbolic, exact, Hypothesis
# counterexamples) have no false alarms and are not counted.

def _is_statistical_route(name) -> bool:
    try:
        return route_info(name).statistical
    except ValueError:
        return False


class _StatisticalRoutes:
    """Membership by the registered route's ``statistical`` property (kept for old callers that
    test ``route in STATISTICAL_ROUTES``)."""

    def __contains__(self, name) -> bool:
        return _is_statistical_route(name)


#: routes whose verdicts are statistical (can refute a true claim by chance): see ``Route.statistical``
STATISTICAL_ROUTES = _StatisticalRoutes()


def _stamp_alpha(result: CheckResult, ctx: CheckContext) -> CheckResult:
    """Record the α the check ran under (``details["check_alpha"]``) on statistical results, so a
    results file alone suffices for :func:`family_wise`."""
    if result.route in STATISTICAL_ROUTES or "p_value" in (result.details or {}):
        result.details = {**(result.details or {}), "check_alpha": ctx.alpha}  # a copy: results may be cached
    return result


def is_statistical(check: dict) -> bool:
    """Whether a check result dict (``CheckResult.to_json()``) is statistical: a Monte-Carlo route
    or a recorded p-value."""
    details = check.get("details") or {}
    return check.get("route") in STATISTICAL_ROUTES or "p_value" in details


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None  # nan -> None


def check_p_value(check: dict) -> float | None:
    """Check-level p-value of a result dict, or ``None`` if it recorded none.

    ``details["p_value"]`` is the p-value of the z-test that decided the check, valid at the level
    ``details["alpha"]`` it ran at.  A check that split its α (``check_alpha``) over several tests
    and returned one of them (``alpha < check_alpha``) gets the Bonferroni factor
    ``check_alpha / alpha``: p = min(1, p_test · check_alpha / alpha), so that, as for every other
    check, it refutes at its α iff p ≤ α.
    """
    details = check.get("details") or {}
    p = _num(details.get("p_value"))
    if p is None:
        return None
    a_test, a_check = _num(details.get("alpha")), _num(details.get("check_alpha"))
    if a_test and a_check and a_test < a_check * (1 - 1e-9):
        p = p * (a_check / a_test)
    return float(min(1.0, max(0.0, p)))


def statistical_checks(claims: Iterable[Claim], ctx: CheckContext) -> list[tuple[Claim, Check]]:
    """The statistical checks a run of ``claims`` under ``ctx`` will make (their count is the m of
    :func:`bonferroni_alpha`)."""
    out = []
    for claim in claims:
        plan = planned_checks(claim, ctx)
        if isinstance(plan, list):
            out.extend((claim, c) for c in plan if c.route in STATISTICAL_ROUTES)
    return out


def bonferroni_alpha(alpha_family: float, m: int) -> float:
    """Per-check α = α_family / m: running each of the m statistical checks at this level bounds
    the probability of any false refutation in the run by α_family (union bound, any dependence).
    ``m = 0`` returns ``alpha_family`` (nothing to split)."""
    alpha_family = float(alpha_family)
    if not 0 < alpha_family < 1:
        raise ValueError(f"alpha_family must lie in (0, 1), got {alpha_family}")
    if int(m) != m or m < 0:
        raise ValueError(f"m must be a non-negative integer, got {m!r}")
    return alpha_family / m if m else alpha_family


def _holm_adjusted(ps: list[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the order given."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return adj


@dataclasses.dataclass(frozen=True)
class PValueCheck:
    """A statistical check with a recorded p-value, as family-wise control saw it."""

    claim: str | None
    check: str | None
    #: the check's own verdict (at its own α)
    status: str | None
    #: check-level p-value (:func:`check_p_value`)
    p_value: float
    #: Holm step-down (or Bonferroni) adjusted p-value
    p_adjusted: float
    #: the threshold its rank was compared with
    threshold: float
    #: rejected at family level (the claim is refuted with family-wise control)
    rejected: bool

    @property
    def key(self) -> str:
        return f"{self.claim}:{self.check}"


@dataclasses.dataclass(frozen=True)
class OwnAlphaCheck:
    """A statistical check without a p-value: it enters the family budget with its own α."""

    claim: str | None
    check: str | None
    status: str | None
    alpha: float


@dataclasses.dataclass(frozen=True)
class FamilyWise:
    """Family-wise false-alarm control over the statistical checks of one run (:func:`family_wise`).

    The bound ``fwer_bound`` on P(any false refutation of a true claim) holds for any dependence
    between checks; :meth:`to_json` is the ``meta.family_wise`` object of ``verify --json``.
    """

    #: ``"holm"`` (step-down) or ``"bonferroni"``
    method: str
    #: the family's false-alarm budget α_family
    alpha_family: float
    #: statistical checks with a p-value (tested here)
    m: int
    #: statistical checks without one (they keep their own α)
    m_own_alpha: int
    #: Σ of the own α of those checks, charged to the budget first
    alpha_own: float
    #: α_family − alpha_own (at least 0): the level Holm / Bonferroni run at
    alpha_tests: float
    #: per-rank thresholds α_tests/(m − i) (Holm), or the single α_tests/m (Bonferroni)
    thresholds: tuple[float, ...]
    #: the checks with a p-value, sorted by p
    tests: tuple[PValueCheck, ...]
    #: ``"claim:check"`` of the checks refuted at family level
    rejected: tuple[str, ...]
    #: ``"claim:check"`` of the checks refuted at their own α but not at family level
    refuted_not_significant: tuple[str, ...]
    #: the checks without a p-value, with the α each is charged
    own_alpha: tuple[OwnAlphaCheck, ...]
    #: bound on P(any false refutation): α_family, or alpha_own when that exceeds it
    fwer_bound: float
    #: whether the checks without a p-value alone spend the whole budget
    budget_exceeded: bool
    #: the guarantee in one line
    statement: str

    def to_json(self) -> dict:
        """The summary as a JSON object (keys in field order; rows of ``tests`` / ``own_alpha`` as
        objects, tuples as lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("tests", "own_alpha"):
                v = [dataclasses.asdict(row) for row in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def _family_rows(results: list[dict], default_alpha: float) -> tuple[list[dict], list[OwnAlphaCheck]]:
    """The statistical checks of ``results``: those with a p-value (unsorted, as dicts) and those
    charged their own α."""
    tests, own = [], []
    for res in results:
        for chk in res.get("checks") or []:
            if not is_statistical(chk):
                continue
            row = {"claim": res.get("claim"), "check": chk.get("name"), "status": chk.get("status")}
            p = check_p_value(chk)
            if p is None:
                a = _num((chk.get("details") or {}).get("check_alpha"))
                own.append(OwnAlphaCheck(**row, alpha=a if a is not None else default_alpha))
            else:
                tests.append({**row, "p_value": p})
    return tests, own


def family_wise(results: list[dict] | dict, alpha_family: float = 0.05, method: str = "holm",
                check_alpha: float | None = None) -> FamilyWise:
    """Family-wise false-alarm control over the statistical checks of a run (see the section
    comment above and :class:`FamilyWise` for the fields).

    ``results``: the list returned by :func:`run_claims` (or a ``verify --json`` document with a
    ``results`` list).  ``method``: ``"holm"`` (step-down) or ``"bonferroni"``.  ``check_alpha``:
    the α assumed for statistical checks that recorded none (default: ``CheckContext().alpha``).
    A check is rejected iff its adjusted p-value is ≤ α_tests.

    >>> mc = lambda p: {"route": "monte-carlo", "details": {"p_value": p, "alpha": 1e-3}}
    >>> s = family_wise([{"claim": "x", "checks": [mc(0.001), mc(0.5)]}], 0.05)
    >>> s.m, s.thresholds, [t.rejected for t in s.tests]
    (2, (0.025, 0.05), [True, False])
    >>> sorted(s.to_json())[:3]
    ['alpha_family', 'alpha_own', 'alpha_tests']
    """
    if method not in ("holm", "bonferroni"):
        raise ValueError(f"method must be 'holm' or 'bonferroni', got {method!r}")
    alpha_family = float(alpha_family)
    if not 0 < alpha_family < 1:
        raise ValueError(f"alpha_family must lie in (0, 1), got {alpha_family}")
    if isinstance(results, dict):
        results = results.get("results") or []
    default_alpha = float(check_alpha) if check_alpha is not None else CheckContext().alpha
    rows, own = _family_rows(results, default_alpha)

    m = len(rows)
    alpha_own = float(sum(o.alpha for o in own))
    alpha_tests = max(0.0, alpha_family - alpha_own)
    exceeded = alpha_own >= alpha_family
    rows.sort(key=lambda t: t["p_value"])
    ps = [t["p_value"] for t in rows]
    if method == "holm":
        adj = _holm_adjusted(ps)
        thresholds = [alpha_tests / (m - i) for i in range(m)]
    else:
        adj = [min(1.0, m * p) for p in ps]
        thresholds = [alpha_tests / m] * m if m else []
    tests = []
    stop = False
    for i, t in enumerate(rows):
        if method == "holm":  # step-down: stop at the first acceptance
            stop = stop or not (ps[i] <= thresholds[i] and alpha_tests > 0)
            rejected = not stop
        else:
            rejected = bool(alpha_tests > 0 and ps[i] <= thresholds[i])
        tests.append(PValueCheck(**t, p_adjusted=adj[i], threshold=thresholds[i], rejected=rejected))

    bound = max(alpha_family, alpha_own)
    how = ("Holm step-down" if method == "holm" else "Bonferroni") + f" at {alpha_tests:.3g} over m = {m} p-values"
    if own:
        how += (f", plus {len(own)} check(s) without a p-value at their own α (Σ = {alpha_own:.3g}), "
                f"union bound")
    if exceeded:
        statement = (f"family budget exceeded: the {len(own)} check(s) without a p-value already spend "
                     f"Σ α = {alpha_own:.3g} ≥ α_family = {alpha_family:g}; P(any false refutation among "
                     f"the {m + len(own)} statistical checks of true claims) ≤ {bound:.3g} only")
    else:
        statement = (f"P(any false refutation among the {m + len(own)} statistical checks of true claims) "
                     f"≤ {alpha_family:g} ({how})")
    return FamilyWise(
        method=method,
        alpha_family=alpha_family,
        m=m,
        m_own_alpha=len(own),
        alpha_own=alpha_own,
        alpha_tests=alpha_tests,
        thresholds=tuple(thresholds if method == "holm" else thresholds[:1]),
        tests=tuple(tests),
        rejected=tuple(t.key for t in tests if t.rejected),
        refuted_not_significant=tuple(t.key for t in tests if t.status == "refuted" and not t.rejected),
        own_alpha=tuple(own),
        fwer_bound=bound,
        budget_exceeded=exceeded,
        statement=statement,
    )


def family_lines(summary: FamilyWise) -> list[str]:
    """A few plain-text lines describing a :func:`family_wise` summary (for the CLI)."""
    lines = [f"family-wise ({summary.method}, α_family = {summary.alpha_family:g}): {summary.statement}"]
    if summary.rejected:
        lines.append(f"  rejected at family level ({len(summary.rejected)}): " + ", ".join(summary.rejected))
    else:
        lines.append("  no statistical check rejected at family level")
    if summary.refuted_not_significant:
        lines.append("  refuted at their own α but not family-wise significant: "
                     + ", ".join(summary.refuted_not_significant))
    if summary.own_alpha:
        lines.append("  without a p-value (own α counted in the budget): "
                     + ", ".join(f"{o.claim}:{o.check} (α = {o.alpha:g})" for o in summary.own_alpha))
    return lines
