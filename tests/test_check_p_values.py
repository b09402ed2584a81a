"""Multi-test Monte-Carlo checks record a check-level p-value.

Each check below splits its α over m z-tests (Bonferroni) and records in ``details`` the
check-level ``p_value`` (``bonferroni_p(zs, m)``, or the one-sided analogue), ``alpha`` = the
check's own α and the decisive ``z``.  The invariant: the check refutes at its α iff
``p_value ≤ α``, and :func:`icl_proofs.runner.check_p_value` reads the recorded value back without
a second Bonferroni factor.
"""
import math

import pytest
import sympy as sp

from icl_proofs.claims import registry
from icl_proofs.claims.base import CheckContext, Status
from icl_proofs.claims.checks import bonferroni_p, two_sided_p
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.runner import check_p_value, run_check

CHECKS = [
    ("dd25.attention-features", "kronecker-covariance-monte-carlo"),
    ("dd25.attention-features", "t-monte-carlo"),
    ("dd25.attention-features", "linear-bound-oracle-attains"),
    ("dd25.attention-features", "linear-bound-ridge-never-beats"),
    ("dd25.hermite", "second-moment-monte-carlo"),
    ("dd25.hermite", "projection-monte-carlo"),
    ("zfb23.random-covariance", "estimating-equation-monte-carlo"),
]


def _check(claim_id, name):
    claim = registry.get(claim_id)
    return next(c for c in claim.checks() if c.name == name)


def _assert_invariant(result, alpha):
    d = result.details
    assert "p_value" in d, f"{result.name}: no p_value recorded"
    p = d["p_value"]
    assert isinstance(p, float) and 0.0 <= p <= 1.0
    assert d["alpha"] == alpha  # the check's α, not the split α/m
    assert "z" in d
    assert (result.status is Status.REFUTED) == (p <= alpha), (result.status, p, alpha)
    return p


@pytest.mark.parametrize("claim_id,name", CHECKS, ids=[n for _, n in CHECKS])
def test_quick_check_records_check_level_p_value(claim_id, name):
    ctx = CheckContext(quick=True)
    result = _check(claim_id, name).run(ctx)
    assert result.status in (Status.HOLDS, Status.REFUTED)
    _assert_invariant(result, ctx.alpha)


def test_runner_reads_recorded_p_value_without_second_factor():
    ctx = CheckContext(quick=True)
    result = run_check(_check("dd25.hermite", "projection-monte-carlo"), ctx)
    d = result.to_json()["details"]
    assert d["check_alpha"] == ctx.alpha and d["bonferroni_m"] == 2
    assert d["p_value"] < 1.0  # the factor 2 would show
    assert d["p_value"] == pytest.approx(2 * two_sided_p(d["z"]), rel=1e-12)
    assert check_p_value(result.to_json()) == pytest.approx(d["p_value"], rel=1e-12)


# ------------------------------------------------------------------ forced refutations


def _z_family(zs, exact=1.0, se=0.01, alpha=1e-3):
    from icl_proofs.claims.dd25 import attention

    tests = [(f"t{i}", mc.Estimate(exact + z * se, se, 10_000, se * 100), exact) for i, z in enumerate(zs)]
    return attention._z_family("fake", tests, alpha, {}, "fake family")


def test_z_family_far_off_estimate_refutes_with_small_p():
    zs = [0.3, -25.0, 1.1, 2.0]
    r = _z_family(zs)
    assert r.status is Status.REFUTED
    p = _assert_invariant(r, 1e-3)
    assert p == pytest.approx(bonferroni_p(zs, 4), rel=1e-9) and p < 1e-100
    assert r.details["z"] == pytest.approx(-25.0)
    assert check_p_value(r.to_json()) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("m", [1, 3, 36])
@pytest.mark.parametrize("side", [1 - 1e-6, 1 + 1e-6])
def test_z_family_invariant_at_the_threshold(m, side):
    alpha = 1e-3
    thr = mc.threshold(alpha / m)
    zs = [0.5] * (m - 1) + [-thr * side]
    r = _z_family(zs, alpha=alpha)
    assert (r.status is Status.REFUTED) == (side > 1)
    _assert_invariant(r, alpha)


def test_z_family_passing_records_bonferroni_p():
    zs = [0.2, -1.5, 2.5]
    r = _z_family(zs)
    assert r.status is Status.HOLDS
    assert _assert_invariant(r, 1e-3) == pytest.approx(3 * two_sided_p(2.5), rel=1e-9)


@pytest.mark.parametrize("bound,status", [(10.0, Status.REFUTED), (0.0, Status.HOLDS)])
def test_ridge_one_sided_p_value(monkeypatch, bound, status):
    """One-sided: refuted iff ridge is significantly *below* the bound; p = 2 min Φ(z)."""
    from scipy.stats import norm

    from icl_proofs.claims.dd25 import derive

    monkeypatch.setattr(derive, "linear_error_lower_bound", lambda *a, **k: bound)
    ctx = CheckContext(quick=True)
    r = _check("dd25.attention-features", "linear-bound-ridge-never-beats").run(ctx)
    assert r.status is status
    p = _assert_invariant(r, ctx.alpha)
    assert p == pytest.approx(min(1.0, 2 * norm.cdf(r.details["z"])), rel=1e-9, abs=1e-300)


def test_hermite_first_failure_charges_all_tests(monkeypatch):
    """Returning at the first failing test still charges the Bonferroni factor of all m tests."""
    orig = mc.z_check  # every exact value off by 1 (the samplers stay consistent, so patch the test)
    monkeypatch.setattr(mc, "z_check", lambda est, exact, alpha: orig(est, exact + 1.0, alpha))
    ctx = CheckContext(quick=True)
    r = _check("dd25.hermite", "second-moment-monte-carlo").run(ctx)
    assert r.status is Status.REFUTED
    p = _assert_invariant(r, ctx.alpha)
    m = r.details["bonferroni_m"]
    assert m == 16
    assert p == pytest.approx(bonferroni_p([r.details["z"]], m), rel=1e-9)


def test_estimating_equation_wrong_v_refutes(monkeypatch):
    from icl_proofs.claims.zfb23.dynamics_claims import RandomCovariance

    monkeypatch.setattr(RandomCovariance, "v_star", staticmethod(lambda: sp.Rational(1, 2)))
    ctx = CheckContext(quick=True)
    r = _check("zfb23.random-covariance", "estimating-equation-monte-carlo").run(ctx)
    assert r.status is Status.REFUTED
    p = _assert_invariant(r, ctx.alpha)
    # one z-test of the summed coordinates (equal means by symmetry), so its own two-sided p-value
    assert p == pytest.approx(two_sided_p(r.details["z"]), rel=1e-9)
