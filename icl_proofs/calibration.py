"""Measured false-alarm rates of the Monte-Carlo checks.

A statistical check of a *true* claim should refute it with probability at most its α (the
false-alarm rate stated in :mod:`icl_proofs.numeric.montecarlo`).  Its verdict is a deterministic
function of the seed, so the rate is over seeds: :func:`calibrate` runs each selected check over
many seeds and counts the refutations ("alarms").

Resolution.  200 seeds cannot resolve α = 1e-3 (0.2 alarms expected), so checks are calibrated at
a *calibration α* (default 0.05: 10 alarms expected per 200 seeds), where a binomial test of
H0: rate ≤ α has power against real over-alarming, and the count at the default α (1e-3; 0
expected) is reported alongside.  Per check:

* ``alarms`` / ``rate``: refutations at the calibration α,
* ``cp_upper``: one-sided Clopper–Pearson upper confidence bound on the rate (95 % by default),
* ``binom_p``: P(X ≥ alarms) for X ~ Binomial(n_seeds, α), the p-value of H0: rate ≤ α;
  ``verdict`` is ``"over-alarms"`` when it is below ``verdict_level`` (0.05), else
  ``"calibrated"``; ``binom_p_holm`` is the same p Holm-adjusted over the checks of the call
  (with ~20 checks one unadjusted flag at 0.05 is expected by chance),
* ``alarms_default``: refutations at the default α (``binom_p_default`` likewise),
* ``ks_p``: for checks that record the p-value of a single z-test, the Kolmogorov–Smirnov p-value
  of those p-values against Uniform(0, 1) (a sharper test of calibration than the alarm count);
  ``None`` where the check-level p is Bonferroni-scaled (conservative, hence not uniform),
* ``inconclusive`` and ``crashes`` (inconclusive results whose evidence starts ``check crashed:``).

Default-α verdicts.  The estimates of a check depend on its seed, not on α, and a two-sided
z-test that holds at α still holds at any smaller α (its threshold only grows).  So with
``rerun_default="auto"`` a check is re-run at the default α only where that argument does not
settle it: when it did not hold at the calibration α, or when its result records no z statistic
(``p_value``, ``z`` or ``max_abs_z`` in ``details``), e.g. one-sided bound checks whose verdict
may flip the other way.  ``rerun_default="always"`` re-runs every seed.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Sequence

from scipy import stats

from .claims import registry
from .claims.base import Check, CheckContext, Claim, Status, UserInputError
from .runner import STATISTICAL_ROUTES, _holm_adjusted, check_context, check_p_value, planned_checks, run_check

__all__ = ["check_id", "monte_carlo_checks", "resolve", "clopper_pearson_upper", "binom_p_over",
           "acceptance_region", "calibrate", "calibrate_one"]

#: keys of ``details`` that mark a result decided by a two-sided z threshold
_Z_KEYS = ("p_value", "z", "max_abs_z")


def check_id(claim: Claim | str, check: Check | str) -> str:
    """``"claim.id:check-name"``, the id :func:`calibrate` takes."""
    cid = claim if isinstance(claim, str) else claim.id
    name = check if isinstance(check, str) else check.name
    return f"{cid}:{name}"


def monte_carlo_checks(patterns: Sequence[str] = (), quick: bool = True) -> list[str]:
    """Ids of the statistical checks (route ``monte-carlo``) of the claims matching ``patterns``
    (ids or prefixes, as ``verify`` takes them) that run under ``quick``."""
    ctx = CheckContext(quick=quick)
    out = []
    for claim in registry.select(list(patterns)):
        plan = planned_checks(claim, ctx)
        if isinstance(plan, list):
            out.extend(check_id(claim, c) for c in plan if c.route in STATISTICAL_ROUTES)
    return out


def resolve(check_ids: Iterable[str]) -> list[tuple[Claim, Check]]:
    """Claim and check of each ``"claim:check"`` id; a bare claim id or prefix selects its
    Monte-Carlo checks."""
    out: list[tuple[Claim, Check]] = []
    for cid in check_ids:
        if ":" in cid:
            claim_id, name = cid.split(":", 1)
            claim = registry.get(claim_id)
            hits = [c for c in claim.checks() if c.name == name]
            if not hits:
                raise UserInputError(f"claim {claim_id} has no check {name!r}")
            out.append((claim, hits[0]))
        else:
            for sub in monte_carlo_checks([cid], quick=False):
                out.extend(resolve([sub]))
    return out


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound on a binomial rate after ``k`` events in ``n`` trials:
    the rate p with P(X ≤ k | n, p) = 1 − confidence (1 if k = n)."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if k == n:
        return 1.0
    return float(stats.beta.ppf(confidence, k + 1, n - k))


def binom_p_over(k: int, n: int, alpha: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, α): the p-value of H0 "rate ≤ α" after ``k`` alarms."""
    if k <= 0:
        return 1.0
    return float(stats.binom.sf(k - 1, n, alpha))


def acceptance_region(n: int, rate: float, level: float = 1e-3) -> tuple[int, int]:
    """Two-sided acceptance region [lo, hi] of a Binomial(n, rate) count at false-alarm ``level``:
    P(X < lo) ≤ level/2 and P(X > hi) ≤ level/2 (the tightest such integers)."""
    lo = int(stats.binom.ppf(level / 2, n, rate))
    if lo > 0 and stats.binom.cdf(lo - 1, n, rate) > level / 2:  # pragma: no cover - ppf guarantees it
        lo -= 1
    hi = int(stats.binom.isf(level / 2, n, rate))
    return lo, hi


def _crashed(result) -> bool:
    return result.status is Status.INCONCLUSIVE and result.evidence.startswith("check crashed")


def _settled_by_monotonicity(result, alpha: float, default_alpha: float) -> bool:
    """A z-test that does not refute at α does not refute at any smaller α (same seed, same
    estimates: the threshold only grows).  That covers "holds" and an inconclusive verdict whose
    test passed (a resolution too coarse for the claim), never a crash."""
    return (default_alpha <= alpha and result.status is not Status.REFUTED and not _crashed(result)
            and any(k in (result.details or {}) for k in _Z_KEYS))


def calibrate_one(claim: Claim, check: Check, seeds: Sequence[int], alpha: float = 0.05, quick: bool = True,
                  default_alpha: float | None = 1e-3, rerun_default: str = "auto", confidence: float = 0.95,
                  verdict_level: float = 0.05, dps: int = 30,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Run one check over ``seeds`` at the calibration ``alpha`` (and, unless ``default_alpha`` is
    None, decide its verdict at ``default_alpha``); return its row (see the module docstring)."""
    if rerun_default not in ("auto", "always"):
        raise ValueError(f"rerun_default must be 'auto' or 'always', got {rerun_default!r}")
    seeds = list(seeds)
    n = len(seeds)
    if n < 1:
        raise ValueError("calibrate needs at least one seed")
    counts = {"holds": 0, "refuted": 0, "inconclusive": 0, "crashes": 0}
    alarms_default = 0
    reruns = 0
    alarm_seeds, alarm_seeds_default, crash_examples = [], [], []
    p_values: list[float] = []
    rescaled = False
    t0 = last = time.perf_counter()
    for i, s in enumerate(seeds):
        # the check's own stream, as under verify: (seed, claim id, check name)
        r = run_check(check, check_context(CheckContext(quick=quick, seed=s, dps=dps, alpha=alpha), claim.id, check))
        if _crashed(r):
            counts["crashes"] += 1
            if len(crash_examples) < 3:
                crash_examples.append({"seed": s, "evidence": r.evidence})
        else:
            counts[r.status.value] += 1
        if r.status is Status.REFUTED:
            alarm_seeds.append(s)
        rj = r.to_json()
        p = check_p_value(rj)
        if p is not None:
            p_values.append(p)
            d = rj["details"]
            rescaled = rescaled or p != min(1.0, max(0.0, float(d["p_value"])))
        if default_alpha is not None:
            if rerun_default == "auto" and _settled_by_monotonicity(r, alpha, default_alpha):
                refuted_default = False
            else:
                reruns += 1
                rd = run_check(check, check_context(CheckContext(quick=quick, seed=s, dps=dps, alpha=default_alpha),
                                                    claim.id, check))
                refuted_default = rd.status is Status.REFUTED
            if refuted_default:
                alarms_default += 1
                alarm_seeds_default.append(s)
        now = time.perf_counter()
        if progress and (now - last >= 2.0 or i == n - 1):
            last = now
            progress(f"{check_id(claim, check)}: seed {i + 1}/{n}, {counts['refuted']} alarm(s) at α = {alpha:g}"
                     f" ({now - t0:.0f} s)")
    seconds = time.perf_counter() - t0
    k = counts["refuted"]
    binom_p = binom_p_over(k, n, alpha)
    row = {
        "id": check_id(claim, check),
        "claim": claim.id,
        "check": check.name,
        "quick": quick,
        "n_seeds": n,
        "seeds": (f"{seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[0] + n)) else seeds),
        "alpha": alpha,
        "alarms": k,
        "expected_alarms": n * alpha,
        "rate": k / n,
        "cp_upper": clopper_pearson_upper(k, n, confidence),
        "confidence": confidence,
        "binom_p": binom_p,
        "verdict": "over-alarms" if binom_p < verdict_level else "calibrated",
        "holds": counts["holds"],
        "inconclusive": counts["inconclusive"],
        "crashes": counts["crashes"],
        "alarm_seeds": alarm_seeds,
        "seconds": round(seconds, 2),
        "seconds_per_seed": round(seconds / n, 4),
    }
    if default_alpha is not None:
        row.update({
            "default_alpha": default_alpha,
            "alarms_default": alarms_default,
            "expected_alarms_default": n * default_alpha,
            "cp_upper_default": clopper_pearson_upper(alarms_default, n, confidence),
            "binom_p_default": binom_p_over(alarms_default, n, default_alpha),
            "alarm_seeds_default": alarm_seeds_default,
            "reruns_default": reruns,
        })
    if crash_examples:
        row["crash_examples"] = crash_examples
    row["ks_p"] = None
    if len(p_values) == n:
        row["p_values"] = [float(f"{p:.6g}") for p in p_values]
        row["p_values_bonferroni_scaled"] = rescaled
        if n >= 5 and not rescaled:  # a Bonferroni-scaled p is conservative, not uniform
            row["ks_p"] = float(stats.kstest(p_values, "uniform").pvalue)
    return row


def calibrate(check_ids: Iterable[str], seeds: Iterable[int] = range(200), alpha: float = 0.05,
              quick: bool = True, progress: Callable[[str], None] | None = None,
              default_alpha: float | None = 1e-3, rerun_default: str = "auto", confidence: float = 0.95,
              verdict_level: float = 0.05, on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """False-alarm calibration of the checks ``check_ids`` (``"claim:check"``, or a claim id /
    prefix for all its Monte-Carlo checks) over ``seeds``.

    Every check is assumed to test a true statement (select only checks that hold): each
    refutation counts as a false alarm.  Returns one row per check (module docstring), with
    ``binom_p_holm`` adjusted over all rows; ``on_row(row)`` is called as each check finishes.
    Runs on the current :mod:`icl_proofs.parallel` settings (numbers do not depend on them).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if default_alpha is not None and not 0 < default_alpha < 1:
        raise ValueError(f"default_alpha must lie in (0, 1), got {default_alpha}")
    seeds = list(seeds)
    rows = []
    for claim, check in resolve(check_ids):
        row = calibrate_one(claim, check, seeds, alpha=alpha, quick=quick, default_alpha=default_alpha,
                            rerun_default=rerun_default, confidence=confidence, verdict_level=verdict_level,
                            progress=progress)
        rows.append(row)
        if on_row:
            on_row(row)
    for row, adj in zip(rows, _holm_adjusted([r["binom_p"] for r in rows])):
        row["binom_p_holm"] = adj
    return rows

