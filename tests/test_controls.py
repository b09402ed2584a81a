"""Every check earns its verdict: the contract (in the style of SymPy's ``test_args``) for every
registered claim, plugins included, and its controls run in quick mode.

* every check declares a negative control (a concrete wrong alternative) and does not accept it;
* every check that refutes a paper's statement declares a positive control (the corrected
  statement) and accepts it;
* the checks of every amendment obey the same contract.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icl_proofs import controls
from icl_proofs.claims import registry
from icl_proofs.claims.base import (Amendment, Check, CheckContext, Claim, Control, ControlKind,
                                    Status)
from icl_proofs.claims.checks import holds, refuted
from icl_proofs.runner import planned_checks, run_claim

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = str(ROOT / "verification" / "my_claims_example.py")
CTX = CheckContext(quick=True, seed=0)


def _claim_ids():
    return [c.id for c in registry.all_claims()]


@pytest.mark.slow
@pytest.mark.filterwarnings("error::icl_proofs.claims.base.CheckIdentityWarning")
@pytest.mark.parametrize("claim_id", _claim_ids())
def test_claim_contract_and_controls(claim_id):
    """Negative controls are not accepted, positive controls are, and nothing lacks a control; no
    check, control or amendment states a name or route other than its Check's (an error here)."""
    claim = registry.get(claim_id)
    plan = planned_checks(claim, CTX)
    assert isinstance(plan, list), plan
    baseline = {r["name"]: r["status"] for r in run_claim(claim, CTX, checks=plan)["checks"]}
    problems = controls.contract_problems(claim, plan, baseline)
    for statement, check in controls.controls_of_amendments(claim):
        problems += [f"amendment {statement!r}: {p}" for p in controls.contract_problems(claim, [check])]
    failed = [f"{o.check} [{o.kind}] {o.description}: {o.status} ({o.evidence[:200]})"
              for o in controls.run_controls(claim, CTX, checks=plan) if not o.passed]
    for _, check in controls.controls_of_amendments(claim):
        failed += [f"amendment {o.check} [{o.kind}] {o.description}: {o.status}"
                   for o in controls.run_controls(claim, CTX, checks=[check]) if not o.passed]
    assert not problems and not failed, "\n".join(problems + failed)


# ------------------------------------------------------------------------- the machinery itself

def _toy(check_controls=(), verdict=True):
    def run(ctx):
        return holds("c", "exact-rational", "ok") if verdict else refuted("c", "exact-rational", "no", {"x": 1})

    class Toy(Claim):
        id = "toy.controls"

        def checks(self):
            return [Check("c", "exact-rational", run, controls=tuple(check_controls))]

    return Toy()


def test_contract_flags_a_check_without_negative_control():
    claim = _toy()
    assert controls.contract_problems(claim, claim.checks()) == ["toy.controls:c: no negative control"]


def test_contract_flags_a_refuting_check_without_positive_control():
    wrong = Control.negative("wrong", lambda ctx: refuted("c", "exact-rational", "no", {}))
    claim = _toy([wrong], verdict=False)
    problems = controls.contract_problems(claim, claim.checks(), {"c": "refuted"})
    assert problems == ["toy.controls:c: refutes the paper but has no positive control "
                        "(the corrected statement it must accept)"]


def test_a_negative_control_that_holds_fails():
    """A check that accepts its wrong alternative (it cannot fail) is caught."""
    accepts_anything = Control.negative("wrong", lambda ctx: holds("c", "exact-rational", "ok"))
    claim = _toy([accepts_anything])
    (o,) = controls.run_controls(claim, CTX)
    assert (o.status, o.passed) == ("holds", False)


def test_a_positive_control_that_is_refuted_fails():
    pos = Control.positive("corrected", lambda ctx: refuted("c", "exact-rational", "no", {}))
    claim = _toy([pos])
    (o,) = controls.run_controls(claim, CTX)
    assert (o.kind, o.passed) == ("positive", False)


def test_a_crashing_control_fails():
    def boom(ctx):
        raise RuntimeError("boom")

    claim = _toy([Control.negative("wrong", boom)])
    (o,) = controls.run_controls(claim, CTX)
    assert not o.passed and o.evidence.startswith("check crashed")


def test_control_needs_exactly_one_route():
    with pytest.raises(TypeError):
        Control(ControlKind.NEGATIVE, "both", run=lambda ctx: None, mutant="f flip-sign")
    with pytest.raises(TypeError):
        Control(ControlKind.NEGATIVE, "neither")


def test_mutant_control_reaches_the_check():
    """A mutant control patches the derivation (as ``mutate`` does): the Γ of zfb23 with 1/N→1/(N+1)
    is told apart by the symbolic Γ check, and a mutant of a formula the check never reads fails."""
    claim = registry.get("zfb23.gaussian-moments")
    check = next(c for c in claim.checks() if c.name == "gamma-symbolic")
    good = controls.run_control(claim, check, Control.negative("Γ", mutant="gaussian_moments['gamma'] 1/N→1/(N+1)"), CTX)
    assert (good.status, good.passed) == ("refuted", True)
    stale = controls.run_control(claim, check, Control.negative("L", mutant="global_min['L(V)'] flip-sign"), CTX)
    assert stale.status == "error" and not stale.passed and "never reached" in stale.evidence


def test_stream_seeds_are_named_not_numbered():
    """Each check's stream derives from (run seed, claim id, check name): distinct across checks,
    claims and seeds, reproducible for the same names."""
    seeds = {CheckContext(seed=s, claim_id=c, check_name=k).stream_seed()
             for s in (0, 1) for c in ("a.x", "a.y") for k in ("p", "q")}
    assert len(seeds) == 8
    assert CheckContext(seed=3, claim_id="a.x", check_name="p").stream_seed() == \
        CheckContext(seed=3, claim_id="a.x", check_name="p").stream_seed()


def test_runner_names_each_checks_stream():
    seen = []

    def run(ctx):
        seen.append((ctx.claim_id, ctx.check_name, ctx.stream_seed()))
        return holds(ctx.check_name, "exact-rational", "ok")

    class Two(Claim):
        id = "toy.streams"

        def checks(self):
            return [Check("a", "exact-rational", run), Check("b", "exact-rational", run)]

    run_claim(Two(), CTX)
    assert [s[:2] for s in seen] == [("toy.streams", "a"), ("toy.streams", "b")]
    assert seen[0][2] != seen[1][2]


def test_amendments_run_when_refuted_as_printed():
    """A refuted claim carries its amended statements, each with its own verdict and checks."""
    class Printed(Claim):
        id = "toy.amended"

        def checks(self):
            return [Check("as-printed", "exact-rational", lambda ctx: refuted("as-printed", "exact-rational", "x", {"w": 1}))]

        def amendments(self):
            return [Amendment("with the sign flipped", [Check("flipped", "exact-rational",
                                                              lambda ctx: holds("flipped", "exact-rational", "ok"))])]

    res = run_claim(Printed(), CTX)
    assert res["status"] == "refuted"
    assert [(a["statement"], a["status"]) for a in res["amendments"]] == [("with the sign flipped", "holds")]


def test_mc_check_reports_resolution_and_is_inconclusive_when_too_coarse():
    """Resolution (z_{1-α/2} + z_{0.9})·SE relative to the exact value; coarser than the effect the
    claim is about means inconclusive, not holds."""
    from icl_proofs.claims.checks import mc_check
    from icl_proofs.numeric.montecarlo import Estimate

    fine = mc_check("m", Estimate(mean=1.0, se=0.001, n=10**6, sd=1.0), 1.0, 1e-3, {}, "x")
    assert fine.status is Status.HOLDS and abs(fine.resolution["relative"] - 0.004572) < 1e-5
    coarse = mc_check("m", Estimate(mean=1.0, se=0.05, n=100, sd=0.5), 1.0, 1e-3, {}, "x", effect=0.05)
    assert coarse.status is Status.INCONCLUSIVE and "too coarse" in coarse.evidence
    assert json.loads(json.dumps(coarse.to_json()))["resolution"]["relative"] > 0.05


def test_verify_controls_cli_runs_a_plugin_claims_controls():
    """``verify --controls`` for a claim registered through the public API (the example plugin)."""
    env = dict(os.environ, ICL_PROOFS_PLUGINS=PLUGIN)
    res = subprocess.run([sys.executable, "-m", "icl_proofs.cli", "verify", "demo", "--quick", "--controls",
                          "--workers", "1"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 controls: 1 pass, 0 fail; 0 contract problem(s)" in res.stdout


# ------------------------------------------------------------------ the claim contract (test_args)

def test_every_registered_claim_satisfies_the_contract():
    """Like SymPy's test_args: every registered claim has an id 'paper.name', a source, a statement,
    typed parameters and checks with unique names on registered routes, each with its controls."""
    from icl_proofs.claims.base import PARAM_KINDS, Param, route

    for claim in registry.all_claims():
        assert "." in claim.id and claim.statement and claim.source, claim.id
        assert all(isinstance(p, Param) and p.kind in PARAM_KINDS for p in claim.params), claim.id
        checks = claim.checks()
        names = [c.name for c in checks]
        assert len(names) == len(set(names)), f"{claim.id}: duplicate check names"
        for c in checks:
            assert isinstance(c, Check) and route(c.route).name == c.route, (claim.id, c.name)
        assert set(getattr(claim, "controls", {})) <= set(names), f"{claim.id}: controls for unknown checks"


def test_duplicate_claim_id_raises_naming_both_modules(register_claim):
    class A(Claim):
        id = "toy.dup"

    register_claim(A)

    class B(Claim):
        id = "toy.dup"

    with pytest.raises(ValueError, match=r"duplicate claim id 'toy.dup': .*test_controls.*A and .*B"):
        registry.register(B)


def test_param_kind_and_route_checked_when_built():
    from icl_proofs.claims.base import Param

    with pytest.raises(ValueError, match="unknown kind 'vector'"):
        Param("x", "vector", "a vector")
    with pytest.raises(ValueError, match="unknown route 'vibes'"):
        Check("c", "vibes", lambda ctx: None)


def test_family_wise_keys_on_the_route_property_not_a_string():
    """A plugin's own statistical route enters family-wise control through ``statistical=True``."""
    from icl_proofs.claims.base import register_route
    from icl_proofs.runner import is_statistical

    register_route("toy-bootstrap", statistical=True, doc="a plugin's resampling route")
    assert is_statistical({"route": "toy-bootstrap", "details": {}})
    assert not is_statistical({"route": "symbolic", "details": {}})


# ------------------------------------------------------ the runner names results (written once)

def _one_check_claim(run, name="c", route="exact-rational", controls=()):
    class One(Claim):
        id = "toy.stamp"

        def checks(self):
            return [Check(name, route, run, controls=tuple(controls))]

    return One()


def test_runner_stamps_the_checks_name_and_route_on_its_result():
    """A check writes its name and route once, in its Check: a result built without them (every
    builder of icl_proofs.claims.checks) gets the Check's, in the JSON and in the witness."""
    from icl_proofs.claims.checks import exact_equal, mc_check
    from icl_proofs.numeric.montecarlo import Estimate

    res = run_claim(_one_check_claim(lambda ctx: refuted("no", {"x": 1}), name="as-printed"), CTX)
    assert [(c["name"], c["route"]) for c in res["checks"]] == [("as-printed", "exact-rational")]
    assert res["witness"] == {"x": 1}
    res = run_claim(_one_check_claim(lambda ctx: exact_equal([({}, 1, 2)], "one case"), route="enumeration"), CTX)
    assert (res["checks"][0]["route"], res["status"]) == ("enumeration", "refuted")
    est = Estimate(mean=1.0, se=0.001, n=10**6, sd=1.0)
    res = run_claim(_one_check_claim(lambda ctx: mc_check(est, 1.0, ctx.alpha, {}, "x"), route="monte-carlo"), CTX)
    assert (res["checks"][0]["name"], res["checks"][0]["route"]) == ("c", "monte-carlo")
    assert res["checks"][0]["details"]["check_alpha"] == CTX.alpha  # stamped as statistical by the Check's route


def test_a_result_stating_another_name_or_route_than_its_check_is_an_error_in_tests():
    """The older form that states name and route still works when they agree; a disagreement is a
    CheckIdentityWarning (this suite turns it into an error) and the Check's identity is kept."""
    import warnings

    from icl_proofs.claims.base import CheckIdentityWarning

    agree = run_claim(_one_check_claim(lambda ctx: holds("c", "exact-rational", "ok")), CTX)
    assert (agree["checks"][0]["name"], agree["status"]) == ("c", "holds")
    for stated in (lambda ctx: holds("other-name", "exact-rational", "ok"),
                   lambda ctx: holds("c", "monte-carlo", "ok")):
        with pytest.raises(CheckIdentityWarning, match="check 'c': its result states (name 'other-name'|route "
                                                       "'monte-carlo'), but the Check declares"):
            run_claim(_one_check_claim(stated), CTX)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", CheckIdentityWarning)
            res = run_claim(_one_check_claim(stated), CTX)
        assert len(seen) == 1
        assert (res["checks"][0]["name"], res["checks"][0]["route"]) == ("c", "exact-rational")


def test_controls_and_amendments_are_stamped_and_held_to_their_check():
    """A control runs under its check's name and route, and so does each amendment's check (named
    ``amendment: <check>``); a control whose result names another check is caught."""
    from icl_proofs.claims.base import CheckIdentityWarning

    good = _one_check_claim(lambda ctx: holds("ok"), controls=[Control.negative("wrong", lambda ctx: refuted("no", {}))])
    (o,) = controls.run_controls(good, CTX)
    assert (o.check, o.status, o.passed) == ("c", "refuted", True)
    stray = _one_check_claim(lambda ctx: holds("ok"), controls=[
        Control.negative("wrong", lambda ctx: refuted("another-check", "exact-rational", "no", {}))])
    with pytest.raises(CheckIdentityWarning, match="another-check"):
        controls.run_controls(stray, CTX)

    class Printed(Claim):
        id = "toy.amended-stamp"

        def checks(self):
            return [Check("as-printed", "exact-rational", lambda ctx: refuted("x", {"w": 1}))]

        def amendments(self):
            return [Amendment("flipped", [Check("flipped", "symbolic", lambda ctx: holds("ok"))])]

    (am,) = run_claim(Printed(), CTX)["amendments"]
    assert [(c["name"], c["route"], c["status"]) for c in am["checks"]] == [("amendment: flipped", "symbolic", "holds")]


def test_builders_take_the_older_form_with_name_and_route_too():
    """dd25 and plugins still state name and route first; the builders accept both forms."""
    from icl_proofs.claims.checks import hypothesis_sweep, inconclusive, symbolic_zero, too_coarse
    from hypothesis import strategies as st

    old, new = holds("n", "symbolic", "ev", k=1), holds("ev", k=1)
    assert (old.name, old.route, new.name, new.route) == ("n", "symbolic", None, None)
    assert old.details == new.details == {"k": 1} and old.evidence == new.evidence
    assert (symbolic_zero("n", 0, "w").route, symbolic_zero(0, "w").route) == ("symbolic", None)
    assert symbolic_zero("n", 0, "w", route="mpmath").route == "mpmath"
    sweep = hypothesis_sweep(st.integers(0, 3), lambda x: (True, ""), 5, 0, "ints")
    assert (sweep.status, sweep.name) == (Status.HOLDS, None)
    assert hypothesis_sweep("n", st.integers(0, 3), lambda x: (True, ""), 5, 0, "ints").route == "hypothesis"
    res = {"relative": 0.5, "absolute": 0.5, "power": 0.9, "alpha": 1e-3}
    assert too_coarse("t", res, 0.05).status is too_coarse("n", "monte-carlo", "t", res, 0.05).status
    with pytest.raises(TypeError, match=r"inconclusive\(\) takes 1 positional argument"):
        inconclusive("a", "b")
