"""False-alarm calibration and family-wise control (issue: "False alarms")."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
from scipy import stats

from icl_proofs.calibration import (acceptance_region, binom_p_over, calibrate, clopper_pearson_upper,
                                    monte_carlo_checks)
from icl_proofs.claims.base import Check, CheckContext, Claim, Status
from icl_proofs.claims.checks import bonferroni_p, holds, mc_check, two_sided_p
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.parallel import using
from icl_proofs.runner import (OwnAlphaCheck, bonferroni_alpha, check_p_value, family_wise, run_claims,
                               statistical_checks)


# ------------------------------------------------------------------ p-values
def test_two_sided_p_matches_threshold():
    assert two_sided_p(0) == 1.0
    assert two_sided_p(math.inf) == 0.0
    assert two_sided_p(-1.959963984540054) == pytest.approx(0.05, rel=1e-9)
    for a in (0.05, 1e-3, 1e-6):
        assert two_sided_p(mc.threshold(a)) == pytest.approx(a, rel=1e-9)
    assert bonferroni_p([0.0, 3.0, -1.0]) == pytest.approx(3 * two_sided_p(3.0))
    assert bonferroni_p([3.0], m=4) == pytest.approx(4 * two_sided_p(3.0))
    assert bonferroni_p([0.1, 0.2]) == 1.0


def _sq_normal(rng, k):
    """Chi-square(1) samples: mean 1, variance 2, skewed (like the squared errors of the checks)."""
    return rng.standard_normal(k) ** 2


def test_mc_check_records_p_value_consistent_with_verdict():
    with using(workers=1):
        for seed in range(30):
            est = mc.estimate(_sq_normal, 2000, seed, batch=2000)
            r = mc_check("t", est, 1.02, 0.2, {}, "E[g²]")
            p = r.details["p_value"]
            assert p == pytest.approx(two_sided_p(r.details["z"]))
            assert (r.status is Status.REFUTED) == (p <= 0.2)


# ------------------------------------------------------------------ family-wise control
def _chk(name, p=None, route="monte-carlo", status="holds", alpha=None, check_alpha=1e-3):
    details = {"check_alpha": check_alpha} if route == "monte-carlo" else {}
    if p is not None:
        details.update(p_value=p, alpha=alpha if alpha is not None else check_alpha)
    return {"name": name, "route": route, "status": status, "evidence": "", "details": details,
            "witness": None, "seconds": 0.0}


def _results():
    return [
        {"claim": "x.a", "status": "refuted", "checks": [
            _chk("sym", route="symbolic", status="refuted"),       # deterministic: not counted
            _chk("mc1", p=0.001, status="refuted"),
            _chk("mc2", p=0.3),
        ]},
        {"claim": "x.b", "status": "holds", "checks": [
            # one of two tests at α/2, returned alone: its check-level p is 2 · 0.0055 = 0.011
            _chk("split", p=0.0055, alpha=0.0005, check_alpha=0.001),
            _chk("mc3", p=0.012),
            _chk("trend", check_alpha=0.01),                        # no p-value: own α 0.01
            _chk("hyp", route="hypothesis"),                        # deterministic: not counted
        ]},
    ]


def test_family_wise_holm_by_hand():
    s = family_wise(_results(), 0.05, "holm")
    # budget: 0.05 - 0.01 (the check without p) = 0.04 for m = 4 p-values 0.001, 0.011, 0.012, 0.3
    assert s.m == 4 and s.m_own_alpha == 1
    assert s.alpha_own == pytest.approx(0.01) and s.alpha_tests == pytest.approx(0.04)
    assert [t.check for t in s.tests] == ["mc1", "split", "mc3", "mc2"]
    assert [t.p_value for t in s.tests] == pytest.approx([0.001, 0.011, 0.012, 0.3])
    # Holm thresholds 0.04/4, 0.04/3, 0.04/2, 0.04/1: 0.001 ≤ 0.01, 0.011 ≤ 0.0133, 0.012 ≤ 0.02, 0.3 > 0.04
    assert s.thresholds == pytest.approx([0.01, 0.04 / 3, 0.02, 0.04])
    assert [t.rejected for t in s.tests] == [True, True, True, False]
    assert s.rejected == ("x.a:mc1", "x.b:split", "x.b:mc3")
    # adjusted p: 4·0.001, max(., 3·0.011), max(., 2·0.012), max(., 0.3)
    assert [t.p_adjusted for t in s.tests] == pytest.approx([0.004, 0.033, 0.033, 0.3])
    assert s.refuted_not_significant == ()
    assert s.fwer_bound == 0.05 and not s.budget_exceeded
    assert "≤ 0.05" in s.statement and "5 statistical checks" in s.statement
    assert s.own_alpha == (OwnAlphaCheck(claim="x.b", check="trend", status="holds", alpha=0.01),)


def test_family_wise_bonferroni_by_hand():
    s = family_wise({"results": _results()}, 0.05, "bonferroni")  # a verify --json document works too
    # one threshold 0.04 / 4 = 0.01: only 0.001 passes
    assert s.thresholds == pytest.approx([0.01])
    assert s.rejected == ("x.a:mc1",)
    assert [t.p_adjusted for t in s.tests] == pytest.approx([0.004, 0.044, 0.048, 1.0])


def test_holm_is_step_down_and_budget_can_be_exceeded():
    res = [{"claim": "y.c", "checks": [_chk("p1", p=0.03, status="refuted"), _chk("p2", p=0.035)]}]
    s = family_wise(res, 0.04, "holm")
    # thresholds 0.02, 0.04: the first fails, so Holm stops although 0.035 ≤ 0.04
    assert s.rejected == () and s.refuted_not_significant == ("y.c:p1",)
    res.append({"claim": "y.d", "checks": [_chk("t", check_alpha=0.03), _chk("u", check_alpha=0.03)]})
    s = family_wise(res, 0.05, "holm")
    assert s.budget_exceeded and s.alpha_tests == 0 and s.rejected == ()
    assert s.fwer_bound == pytest.approx(0.06) and "exceeded" in s.statement
    with pytest.raises(ValueError):
        family_wise(res, 0.05, "sidak")


#: ``family_wise(...)`` of the case in the next test as the dict-returning implementation wrote it
#: (``json.dumps``, before it returned a dataclass): ``verify --json``'s ``meta.family_wise`` must not change
_FAMILY_WISE_JSON_BEFORE = (
    '{"method": "holm", "alpha_family": 0.04, "m": 2, "m_own_alpha": 1, "alpha_own": 0.004, '
    '"alpha_tests": 0.036000000000000004, "thresholds": [0.018000000000000002, 0.036000000000000004], '
    '"tests": [{"claim": "y.c", "check": "p1", "status": "refuted", "p_value": 0.03, "p_adjusted": 0.06, '
    '"threshold": 0.018000000000000002, "rejected": false}, {"claim": "y.c", "check": "p2", "status": "holds", '
    '"p_value": 0.035, "p_adjusted": 0.06, "threshold": 0.036000000000000004, "rejected": false}], '
    '"rejected": [], "refuted_not_significant": ["y.c:p1"], "own_alpha": [{"claim": "y.c", "check": "t", '
    '"status": "holds", "alpha": 0.004}], "fwer_bound": 0.04, "budget_exceeded": false, "statement": '
    '"P(any false refutation among the 3 statistical checks of true claims) \\u2264 0.04 (Holm step-down at '
    '0.036 over m = 2 p-values, plus 1 check(s) without a p-value at their own \\u03b1 (\\u03a3 = 0.004), '
    'union bound)"}')


def test_family_wise_json_is_the_dict_it_replaced():
    """Route: the recorded output of the previous implementation, byte for byte (keys and order)."""
    res = [{"claim": "y.c", "checks": [_chk("p1", p=0.03, status="refuted"), _chk("p2", p=0.035),
                                       _chk("t", check_alpha=0.004)]}]
    s = family_wise(res, 0.04, "holm")
    assert json.dumps(s.to_json()) == _FAMILY_WISE_JSON_BEFORE
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.m = 3


def test_bonferroni_alpha_and_planned_count():
    assert bonferroni_alpha(0.05, 20) == pytest.approx(0.0025)
    assert bonferroni_alpha(0.05, 0) == 0.05
    with pytest.raises(ValueError):
        bonferroni_alpha(1.5, 3)
    from icl_proofs.claims import registry

    claims = registry.select(["zfb23.risk", "zfb23.global-min"])
    pairs = statistical_checks(claims, CheckContext(quick=True))
    assert [c.name for _, c in pairs] == ["error-monte-carlo", "fixed-task-noise-monte-carlo",
                                         "nonlinear-task-monte-carlo", "prediction-error-monte-carlo"]


# ------------------------------------------------------------------ a cheap synthetic claim
class _Synthetic(Claim):
    """E[g²] = 1 for g ~ N(0, 1), tested by Monte Carlo (``value`` may be deliberately wrong)."""

    id = "calib.synthetic"
    value = 1.0

    def checks(self):
        return [Check("square-monte-carlo", "monte-carlo", self._mc),
                Check("exact", "exact-rational", lambda ctx: holds("exact", "exact-rational", "1 = 1"))]

    def _mc(self, ctx):
        est = mc.estimate(_sq_normal, 4000, [ctx.seed, 7], batch=4000)
        return mc_check("square-monte-carlo", est, self.value, ctx.alpha, {}, "E[g²]")


def test_run_check_stamps_alpha_and_family_wise_reads_a_run(register_claim):
    register_claim(_Synthetic)
    from icl_proofs.claims import registry

    with using(workers=1):
        res = run_claims(registry.select(["calib"]), CheckContext(seed=3, alpha=0.01))
    mc_res, exact_res = res[0]["checks"]
    assert mc_res["details"]["check_alpha"] == 0.01 and "check_alpha" not in exact_res["details"]
    assert check_p_value(mc_res) == pytest.approx(mc_res["details"]["p_value"])
    s = family_wise(res, 0.05)
    assert s.m == 1 and s.m_own_alpha == 0


def test_calibrate_default_alpha_by_monotonicity_matches_reruns(register_claim):
    register_claim(_Synthetic)
    with using(workers=1):
        auto = calibrate(["calib.synthetic"], seeds=range(40), alpha=0.3, default_alpha=0.05)
        always = calibrate(["calib.synthetic:square-monte-carlo"], seeds=range(40), alpha=0.3,
                           default_alpha=0.05, rerun_default="always")
    a, b = auto[0], always[0]
    assert a["id"] == "calib.synthetic:square-monte-carlo"
    assert a["alarms"] == b["alarms"] and a["alarm_seeds_default"] == b["alarm_seeds_default"]
    assert b["reruns_default"] == 40 and a["reruns_default"] == a["alarms"]  # only the refuted seeds re-run
    assert a["alarms_default"] <= a["alarms"]
    assert a["cp_upper"] == pytest.approx(stats.beta.ppf(0.95, a["alarms"] + 1, 40 - a["alarms"]))
    assert a["ks_p"] is not None and len(a["p_values"]) == 40 and not a["p_values_bonferroni_scaled"]


def test_binomial_helpers():
    assert clopper_pearson_upper(0, 200) == pytest.approx(1 - 0.05 ** (1 / 200))
    assert clopper_pearson_upper(5, 5) == 1.0
    assert binom_p_over(0, 200, 0.05) == 1.0
    assert binom_p_over(2, 10, 0.1) == pytest.approx(1 - 0.9 ** 10 - 10 * 0.1 * 0.9 ** 9)
    lo, hi = acceptance_region(200, 0.05, 1e-3)
    assert (lo, hi) == (2, 21)
    assert stats.binom.cdf(lo - 1, 200, 0.05) <= 5e-4 < stats.binom.cdf(lo, 200, 0.05)
    assert stats.binom.sf(hi, 200, 0.05) <= 5e-4 < stats.binom.sf(hi - 1, 200, 0.05)


# ------------------------------------------------------------------ real checks over 200 seeds
@pytest.mark.slow
def test_cheap_zfb23_checks_are_calibrated_over_200_seeds():
    """Two single-z-test zfb23 checks over seeds 0..199 at α = 0.05.  A calibrated check has
    alarms ~ Binomial(200, 0.05) (mean 10); the two-sided acceptance region at false-alarm 1e-3 is
    [2, 21].  Deterministic (fixed seeds): this asserts what the measurement showed."""
    ids = ["zfb23.task-shift:task-shift-monte-carlo", "zfb23.covariate-shift:covariate-shift-monte-carlo"]
    assert set(ids) <= set(monte_carlo_checks(["zfb23"]))
    lo, hi = acceptance_region(200, 0.05, 1e-3)
    with using(workers=1):
        rows = calibrate(ids, seeds=range(200), alpha=0.05, default_alpha=None)
    for r in rows:
        assert r["n_seeds"] == 200 and r["crashes"] == 0 and r["inconclusive"] == 0
        assert lo <= r["alarms"] <= hi, r
        assert r["verdict"] == "calibrated"


def test_power_wrong_value_refuted_in_95_percent_of_seeds():
    """E[g²] = 1 claimed as 1.06: with n = 20 000 (se ≈ 0.01) z ≈ −6, refuted at α = 1e-3 with
    probability ≈ 0.997; required: ≥ 95 % of 200 seeds.  The true value over the same seeds stays
    inside the Binomial(200, 0.05) acceptance region at α = 0.05."""
    wrong = true_alarms = 0
    with using(workers=1):
        for seed in range(200):
            est = mc.estimate(_sq_normal, 20_000, seed, batch=20_000)
            wrong += mc_check("w", est, 1.06, 1e-3, {}, "E[g²]").status is Status.REFUTED
            true_alarms += mc_check("t", est, 1.0, 0.05, {}, "E[g²]").status is Status.REFUTED
    assert wrong >= 190
    lo, hi = acceptance_region(200, 0.05, 1e-3)
    assert lo <= true_alarms <= hi


def test_verify_family_alpha_runs_each_check_at_alpha_over_m(tmp_path):
    """``verify --family-alpha A``: each of the m statistical checks runs at A/m (Bonferroni) and the
    results file records the Holm summary; ``--alpha`` with it is a one-line error."""
    import json

    from click.testing import CliRunner

    from icl_proofs.cli import cli

    out = tmp_path / "r.json"
    r = CliRunner().invoke(cli, ["verify", "zfb23.risk", "zfb23.task-shift", "--quick", "-q",
                                 "--family-alpha", "0.05", "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    fw = doc["meta"]["family_wise"]
    m = fw["m"] + fw["m_own_alpha"]
    assert m == 4 and doc["meta"]["alpha"] == 0.05 / 4
    mc = [c for res in doc["results"] for c in res["checks"] if c["route"] == "monte-carlo"]
    assert len(mc) == 4 and all(c["details"]["alpha"] == 0.05 / 4 for c in mc)
    assert "family-wise (holm, α_family = 0.05)" in r.stdout
    bad = CliRunner().invoke(cli, ["verify", "zfb23.risk", "--quick", "--family-alpha", "0.05", "--alpha", "0.01"])
    assert bad.exit_code == 2 and "exclude each other" in bad.stderr


def test_verify_family_alpha_without_a_results_file():
    """``--family-alpha`` without ``--json`` prints the family-wise summary (it used to crash on the
    missing results writer)."""
    from click.testing import CliRunner

    from icl_proofs.cli import cli

    r = CliRunner().invoke(cli, ["verify", "zfb23.task-shift", "--quick", "--family-alpha", "0.05"])
    assert r.exit_code == 0, r.output
    assert "family-wise (holm, α_family = 0.05)" in r.stdout and "Traceback" not in r.output
    # the summary is over this run's results: task-shift's one Monte-Carlo check, with its p-value
    assert "among the 1 statistical checks of true claims" in r.stdout and "over m = 1 p-values" in r.stdout
