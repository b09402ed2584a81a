"""Run the checks of selected claims and aggregate their verdicts.

A check that raises is reported as an ``inconclusive`` result whose evidence starts with
``check crashed:`` (the traceback is kept in ``details``), so one broken check never stops a run
but is always visible.
"""
from __future__ import annotations

import time
import traceback
from typing import Callable, Iterable

from .claims.base import Check, CheckContext, CheckResult, Claim, Status, aggregate

__all__ = ["run_check", "run_claim", "run_claims", "planned_checks"]

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
    return [c for c in checks if c.quick or not ctx.quick]


def run_check(check: Check, ctx: CheckContext) -> CheckResult:
    """Run one check, timed; exceptions become an inconclusive ``check crashed`` result."""
    from .parallel import progress

    t0 = time.perf_counter()
    try:
        with progress.reporting(ctx.progress):  # Monte-Carlo runs inside the check report here
            result = check.run(ctx)
    except Exception as e:  # noqa: BLE001 - reported, never fatal
        return _crashed(check.name, check.route, e, time.perf_counter() - t0)
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
    result.seconds = elapsed
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
            r = run_check(check, ctx)
            results.append(r)
            if on_check:
                on_check(claim, r)
    status, witness = aggregate(results)
    return {
        "claim": claim.id,
        "status": status.value,
        "checks": [r.to_json() for r in results],
        "witness": witness,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def run_claims(
    claims: Iterable[Claim],
    ctx: CheckContext,
    on_result: OnResult | None = None,
    on_check: OnCheck | None = None,
    on_start: OnStart | None = None,
) -> list[dict]:
    """Run every check of every claim (under ``--quick``, only checks with ``quick=True``).

    ``on_start(claim, check, i, n)`` is called before the i-th of n checks, ``on_check(claim,
    result)`` after each check and ``on_result(result_dict)`` after each claim.  A claim with no
    (selected) checks is ``inconclusive``.
    """
    claims = list(claims)
    plans = [planned_checks(c, ctx) for c in claims]
    total = sum(len(p) if isinstance(p, list) else 0 for p in plans)
    counter = [0]
    out: list[dict] = []
    for claim, plan in zip(claims, plans):
        res = run_claim(claim, ctx, on_check=on_check, on_start=on_start, checks=plan, counter=counter, total=total)
        out.append(res)
        if on_result:
            on_result(res)
    return out
