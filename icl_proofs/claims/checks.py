"""Building blocks for checks: verdict constructors, symbolic equality, Monte-Carlo z-tests and
Hypothesis sweeps, each returning a :class:`~.base.CheckResult`.

A check's name and route are written once, in its :class:`~.base.Check`: the runner stamps them on
the result, so a builder is called without them (``holds("3 cases agree")``).  The older form that
states them first (``holds("my-check", "exact-rational", "3 cases agree")``, ``mc_check("my-check",
est, ...)``) is still accepted; the runner then checks that they agree with the Check.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import time
from typing import Any, Callable

import numpy as np
import sympy as sp

from ..numeric import montecarlo as mc
from .base import CheckResult, Status


def _stated(args: tuple, n: int, builder: str) -> tuple[str | None, str | None, tuple]:
    """``(name, route, rest)`` of a builder's positional arguments: ``n`` of its own, optionally
    preceded by the check's name and route (the older form, kept for checks that still state them)."""
    if len(args) == n:
        return None, None, args
    if len(args) == n + 2:
        return args[0], args[1], args[2:]
    raise TypeError(f"{builder}() takes {n} positional argument(s) (or the check's name and route "
                    f"before them), got {len(args)}")


def _named(result: CheckResult, name: str | None, route: str | None) -> CheckResult:
    result.name, result.route = name, route
    return result


def holds(*args, **details) -> CheckResult:
    """``holds(evidence, **details)``: the check holds."""
    name, route, (evidence,) = _stated(args, 1, "holds")
    return _named(CheckResult(Status.HOLDS, evidence, _jsonable(details)), name, route)


def refuted(*args, **details) -> CheckResult:
    """``refuted(evidence, witness, **details)``: the check refutes the claim; ``witness`` shows how."""
    name, route, (evidence, witness) = _stated(args, 2, "refuted")
    return _named(CheckResult(Status.REFUTED, evidence, _jsonable(details), _jsonable(witness)), name, route)


def inconclusive(*args, **details) -> CheckResult:
    """``inconclusive(evidence, **details)``: the check cannot decide."""
    name, route, (evidence,) = _stated(args, 1, "inconclusive")
    return _named(CheckResult(Status.INCONCLUSIVE, evidence, _jsonable(details)), name, route)


def _leading_name(args: tuple) -> tuple[str | None, tuple]:
    """The check's name if the older form states it first (a string where the builder's own first
    argument, an expression, estimate or strategy, never is), and the remaining arguments."""
    if args and isinstance(args[0], str):
        return args[0], args[1:]
    return None, args


def _jsonable(x: Any):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, int, str)) or x is None:
        return x
    if isinstance(x, float):
        return x if np.isfinite(x) else str(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, np.integer)):
        return _jsonable(x.item())
    if isinstance(x, sp.MatrixBase):
        return [[str(v) for v in row] for row in x.tolist()]
    return str(x)


def _route(name: str | None, route: str | None, default: str) -> str | None:
    """The route a builder states: the one given; in the older form (name stated) its default."""
    return route if route is not None or name is None else default


def symbolic_zero(*args, route: str | None = None, **kwargs) -> CheckResult:
    """``symbolic_zero(difference, what, witness=None)``: holds iff ``difference`` simplifies to
    exactly 0 (``witness()`` builds the witness of a refutation)."""
    name, args = _leading_name(args)
    return _named(_symbolic_zero(*args, **kwargs), name, _route(name, route, "symbolic"))


def _symbolic_zero(difference: sp.Expr, what: str, witness: Callable[[], dict] | None = None) -> CheckResult:
    diff = sp.simplify(difference)
    is_zero = diff.is_zero_matrix if isinstance(diff, sp.MatrixBase) else diff == 0
    if is_zero:
        return holds(f"{what}: difference simplifies to 0")
    return refuted(f"{what}: difference is {sp.sstr(diff)[:300]}",
                   witness() if witness else {"difference": sp.sstr(diff)})


def matrix_zero(*args, route: str | None = None) -> CheckResult:
    """``matrix_zero(difference, what)``: holds iff a :class:`~icl_proofs.moments.wick.MatrixPoly`
    difference is exactly zero."""
    name, (difference, what) = _leading_name(args)
    if difference.is_zero():
        out = holds(f"{what}: difference is exactly 0")
    else:
        out = refuted(f"{what}: difference {difference!r}"[:400], {"difference": repr(difference)})
    return _named(out, name, _route(name, route, "symbolic"))


def exact_equal(*args, route: str | None = None) -> CheckResult:
    """``exact_equal(cases, what)``: every case ``(params, lhs, rhs)`` must agree exactly (rational
    arithmetic)."""
    name, (cases, what) = _leading_name(args)
    return _named(_exact_equal(cases, what), name, _route(name, route, "exact-rational"))


def _exact_equal(cases: list[tuple[dict, sp.Expr, sp.Expr]], what: str) -> CheckResult:
    for params, lhs, rhs in cases:
        diff = sp.simplify(sp.sympify(lhs) - sp.sympify(rhs))
        if (diff.is_zero_matrix is not True) if isinstance(diff, sp.MatrixBase) else diff != 0:
            return refuted(f"{what}: {sp.sstr(lhs)[:120]} != {sp.sstr(rhs)[:120]}",
                           {"params": params, "lhs": lhs, "rhs": rhs})
    return holds(f"{what}: {len(cases)} exact cases agree", cases=len(cases))


def two_sided_p(z: float) -> float:
    """Two-sided normal p-value ``2 (1 - Phi(|z|))`` of a z statistic (0 for infinite ``|z|``).

    ``|z| <= threshold(alpha)`` iff ``p > alpha`` (up to rounding), so a z-test at level α refutes
    exactly when its p-value is at most α.
    """
    from scipy.stats import norm

    z = float(z)
    if math.isnan(z):
        raise ValueError("z is nan")
    return float(min(1.0, 2.0 * norm.sf(abs(z))))


def bonferroni_p(zs, m: int | None = None) -> float:
    """Bonferroni-adjusted p-value ``min(1, m * p_min)`` of a family of two-sided z-tests.

    For a check that runs ``m`` z-tests each at ``α/m`` and refutes if any fails, this is the
    check-level p-value: the check refutes at α iff it is at most α.  ``m`` defaults to
    ``len(zs)``; pass it when only some of the ``m`` statistics are at hand (e.g. the worst one).
    """
    zs = [float(z) for z in zs]
    if not zs:
        raise ValueError("bonferroni_p needs at least one z")
    m = len(zs) if m is None else int(m)
    if m < len(zs):
        raise ValueError(f"m = {m} is smaller than the number of z statistics ({len(zs)})")
    return float(min(1.0, m * min(two_sided_p(z) for z in zs)))


#: power at which a statistical check states its resolution
RESOLUTION_POWER = 0.9
#: relative error a Monte-Carlo check of a closed form must be able to see (at its α, power 0.9)
#: unless it names another: a closed form off by 5 % is a wrong closed form
DEFAULT_EFFECT = 0.05


def resolution(se: float, reference: float, alpha: float, power: float = RESOLUTION_POWER,
               one_sided: bool = False) -> dict:
    """The smallest error a z-test with standard error ``se`` detects at level ``alpha`` with
    probability ``power``: ``(z_{1-α/2} + z_power) · se`` (``z_{1-α}`` when one-sided), absolute and
    relative to ``|reference|``.

    >>> r = resolution(0.01, 1.0, 1e-3)
    >>> round(r["absolute"], 4), round(r["relative"], 4)
    (0.0457, 0.0457)
    """
    from scipy.stats import norm

    q = norm.isf(alpha if one_sided else alpha / 2) + norm.ppf(power)
    absolute = float(q * se)
    ref = abs(float(reference))
    return {"absolute": absolute, "relative": (absolute / ref) if ref > 0 else None,
            "power": power, "alpha": float(alpha)}


def resolution_text(res: dict) -> str:
    rel = res.get("relative")
    size = f"{100 * rel:.2g} %" if rel is not None else f"{res['absolute']:.2g} (absolute)"
    return f"resolution {size} (power {res['power']:g} at α = {res['alpha']:.2g})"


def too_coarse(*args, **details) -> CheckResult:
    """``too_coarse(result_text, res, effect, **details)``: inconclusive, the test passed but could
    not have seen an error of the size the claim is about (``res``: its :func:`resolution`)."""
    name, route, (result_text, res, effect) = _stated(args, 3, "too_coarse")
    out = inconclusive(f"{result_text}; too coarse to decide: {resolution_text(res)} > "
                       f"the {100 * effect:.2g} % it must resolve", effect=effect, **details)
    out.resolution = res
    return _named(out, name, route)


def mc_check(*args, **kwargs) -> CheckResult:
    """``mc_check(est, exact, alpha, params, what, effect=DEFAULT_EFFECT)``: two-sided CLT z-test of
    a Monte-Carlo estimate ``est`` against a closed form ``exact`` at false-alarm rate ``alpha``.

    ``details`` carry ``z``, ``threshold``, ``alpha`` and the two-sided normal ``p_value`` of the
    test (the check refutes iff ``p_value <= alpha``); :func:`icl_proofs.runner.family_wise` reads
    them for family-wise control across a whole run.  The result states its resolution (the
    smallest relative error it detects with power 0.9); a passing test whose resolution is coarser
    than ``effect`` (relative) is inconclusive, not "holds".
    """
    name, args = _leading_name(args)
    return _named(_mc_check(*args, **kwargs), name, _route(name, None, "monte-carlo"))


def _mc_check(est: mc.Estimate, exact: float, alpha: float, params: dict,
              what: str, effect: float = DEFAULT_EFFECT) -> CheckResult:
    z, thr, ok = mc.z_check(est, exact, alpha)
    res = resolution(est.se, exact, alpha)
    from ..numeric.formatting import estimate

    ev = (f"{what}: MC {estimate(est.mean, est.se)} (n={est.n}) vs exact {exact:.6g}; "
          f"z = {z:+.2f}, |z| ≤ {thr:.2f} at α = {alpha:g}; {resolution_text(res)}")
    details = {"z": z, "threshold": thr, "alpha": alpha, "p_value": two_sided_p(z),
               "estimate": est.to_json(), "exact": exact}
    if ok:
        if res["relative"] is None or res["relative"] > effect:
            out = too_coarse(ev, res, effect, **details)
        else:
            out = holds(ev, **details)
    else:
        out = refuted(ev, {"params": params, "estimate": est.mean, "se": est.se, "exact": exact, "z": z},
                      **details)
    out.resolution = res
    return out


#: whether :func:`hypothesis_sweep` shrinks a counterexample to the smallest witness.  Turned off
#: (see :func:`witness_shrinking`) by mutation testing and controls, which need a verdict, not the
#: smallest witness (shrinking is slow).  A context variable, so the setting of one block cannot leak
#: into other threads or past an exception.
_SHRINK: contextvars.ContextVar[bool] = contextvars.ContextVar("icl_proofs_shrink_witnesses", default=True)


def shrinking_witnesses() -> bool:
    """Whether a Hypothesis counterexample found now is shrunk."""
    return _SHRINK.get()


@contextlib.contextmanager
def witness_shrinking(enabled: bool):
    """Shrink Hypothesis counterexamples within the block iff ``enabled`` (this thread / context
    only); the previous setting is restored on exit, exceptions included.

    >>> with witness_shrinking(False):
    ...     shrinking_witnesses()
    False
    >>> shrinking_witnesses()
    True
    """
    token = _SHRINK.set(bool(enabled))
    try:
        yield
    finally:
        _SHRINK.reset(token)


def hypothesis_sweep(*args, **kwargs) -> CheckResult:
    """``hypothesis_sweep(strategy, predicate, max_examples, seed, what)``: run ``predicate`` on
    Hypothesis examples of ``strategy``; a failing example (shrunk) is the witness.

    ``predicate(example) -> (ok, message)``.
    """
    name, args = _leading_name(args)
    return _named(_hypothesis_sweep(*args, **kwargs), name, _route(name, None, "hypothesis"))


def _hypothesis_sweep(strategy, predicate: Callable[[Any], tuple[bool, str]],
                      max_examples: int, seed: int, what: str) -> CheckResult:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    failures: list = []
    phases = list(Phase) if shrinking_witnesses() else [Phase.explicit, Phase.reuse, Phase.generate]

    @hseed(seed)
    @settings(max_examples=max_examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=False, phases=phases)
    @given(strategy)
    def run(example):
        ok, msg = predicate(example)
        if not ok:
            failures.append((example, msg))
            raise AssertionError(msg)

    t0 = time.perf_counter()
    try:
        run()
    except AssertionError:
        example, msg = failures[-1]
        return refuted(f"{what}: counterexample: {msg}", {"example": _jsonable(example), "message": msg})
    return holds(f"{what}: {max_examples} generated cases pass ({time.perf_counter() - t0:.1f}s)",
                 examples=max_examples)
