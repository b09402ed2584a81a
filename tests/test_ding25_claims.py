"""Every ding25 check gives the verdict the derivations support (quick mode, fixed seeds): the printed
pieces that are right hold, the findings are refuted with witnesses, and every check that compares a
derivation with the paper **fails** when the printed formula it guards is mutated.  One table."""
import json

import pytest
import sympy as sp
from click.testing import CliRunner

from icl_proofs.claims import CheckContext, Status, all_claims, get
from icl_proofs.claims.ding25 import paper
from icl_proofs.cli import cli

CTX = CheckContext(quick=True, seed=0, dps=30, alpha=1e-3)
H, R = Status.HOLDS, Status.REFUTED

#: (claim, check) -> verdict; the refutations are the findings reported in the README
EXPECTED = {
    ("ding25.lemma-3.1", "pd-exact"): H,
    ("ding25.lemma-3.1", "rank-enumeration"): H,
    ("ding25.lemma-3.1", "pd-hypothesis"): H,
    ("ding25.lemma-3.2", "product-formula-fixed-kernel"): H,
    ("ding25.lemma-3.2", "fixed-kernel-H-enumeration"): H,
    ("ding25.lemma-3.2", "factorisation-under-prior"): R,
    ("ding25.lemma-3.2", "factorisation-monte-carlo"): H,
    ("ding25.thm-3.3", "rhs-symbolic"): H,
    ("ding25.thm-3.3", "H-enumeration"): H,
    ("ding25.thm-3.3", "loss-monte-carlo"): H,
    ("ding25.thm-3.3", "global-minimiser"): R,
    ("ding25.thm-3.3", "one-layer-optimum-routes"): H,
    ("ding25.thm-3.3", "engine-vs-symbolic-system"): H,
    ("ding25.thm-3.4", "rhs-symbolic"): H,
    ("ding25.thm-3.4", "c1-example-c5"): H,
    ("ding25.thm-3.4", "iid-special-case"): H,
    ("ding25.thm-3.4", "H-engine-enumeration"): H,
    ("ding25.thm-3.4", "global-minimiser"): R,
    ("ding25.thm-3.4", "engine-vs-symbolic-system"): H,
    ("ding25.thm-3.5", "separability-bruteforce-vs-bilinear"): H,
    ("ding25.thm-3.5", "reduction-sound-as-printed"): R,
    ("ding25.thm-3.5", "reduction-repaired"): H,
    ("ding25.thm-3.5", "reduction-target-is-c9"): R,
    ("ding25.thm-3.5", "c9-polynomial-time"): R,
    ("ding25.thm-4.1", "theta-recursion-exact"): H,
    ("ding25.thm-4.1", "identity-as-printed"): R,
    ("ding25.thm-4.1", "identity-symbolic"): H,
    ("ding25.thm-4.1", "cubic-term-reading"): H,
    ("ding25.enlarged-min", "engine-vs-enumeration"): H,
    ("ding25.enlarged-min", "exact-vs-gauss-mpmath"): H,
    ("ding25.enlarged-min", "loss-monte-carlo"): H,
    ("ding25.enlarged-min", "nonbinary-monte-carlo"): H,
    ("ding25.enlarged-min", "lsa-gap"): H,
    ("ding25.fig3-accuracy", "ceiling-exact-vs-monte-carlo"): H,
    ("ding25.fig3-accuracy", "printed-0.98-below-ceiling"): R,
}


def _run(claim_id, check_name):
    check = next(ch for ch in get(claim_id).checks() if ch.name == check_name)
    return check.run(CTX)


def test_ids_and_checks_are_the_table():
    ids = {c.id for c in all_claims() if c.id.startswith("ding25.")}
    assert ids == {"ding25.lemma-3.1", "ding25.lemma-3.2", "ding25.thm-3.3", "ding25.thm-3.4",
                   "ding25.thm-3.5", "ding25.thm-4.1", "ding25.enlarged-min", "ding25.fig3-accuracy"}
    assert {(c, ch.name) for c in ids for ch in get(c).checks()} == set(EXPECTED)


@pytest.mark.parametrize("claim_id,check_name", sorted(EXPECTED))
def test_check_verdict(claim_id, check_name):
    res = _run(claim_id, check_name)
    assert res.status is EXPECTED[(claim_id, check_name)], res.evidence
    if res.status is R:
        assert res.witness, "a refutation must carry its witness"


def test_thm33_witness_is_exact_and_the_gap_is_real():
    """Theorem 3.3 at n = 1: X* has X2² − 4X1X3 = −23/36 < 0 (exact), and the one-layer optimum found by
    exact algebra is strictly above min f~ (route: exact algebra vs the enlarged quadratic)."""
    res = _run("ding25.thm-3.3", "global-minimiser")
    w = res.witness
    assert w["n"] == 1 and w["discriminant"] == "-23/36"
    assert float(w["min_loss_lsa"]) > float(sp.Rational(w["min_loss_enlarged"])) + 1e-3


MUTANTS = [
    ("Thm 3.3 rhs: p²/2 → p²/3", "thm33_rhs", lambda: sp.Matrix([paper.p**2 / 3, paper.p**2 / 3,
                                                                   paper.p**2 / 12 + paper.p / 4]),
     "ding25.thm-3.3", "rhs-symbolic"),
    ("Thm 3.3 rhs: dropped p/4", "thm33_rhs", lambda: sp.Matrix([paper.p**2 / 2, paper.p**2 / 3, paper.p**2 / 12]),
     "ding25.thm-3.3", "rhs-symbolic"),
    ("Thm 3.4 rhs: c1/(3n) → c1/(3(n+1))", "thm34_rhs",
     lambda: sp.Matrix([paper.c1 / (2 * paper.n), paper.c1 / (3 * (paper.n + 1)), paper.p / 4 + paper.c1 / (12 * paper.n)]),
     "ding25.thm-3.4", "rhs-symbolic"),
    ("Example C.5: flipped sign", "example_c5_c1", lambda: paper.n * (paper.p + 2 * paper.p**2 + paper.p**3),
     "ding25.thm-3.4", "c1-example-c5"),
    ("Lemma 3.2: kappa(D) = (P^D)_00", "chain_prob_product",
     lambda S, a, c, pp: _kappa00(S, a, c, pp), "ding25.lemma-3.2", "product-formula-fixed-kernel"),
]


def _kappa00(S, a, c, pp):
    ts = sorted(set(S))
    P = sp.Matrix([[1 - a, a], [c, 1 - c]])
    out = (sp.Matrix([[1 - pp, pp]]) * P ** (ts[0] - 1))[0, 1]
    for t0, t1 in zip(ts, ts[1:]):
        out = out * (P ** (t1 - t0))[0, 0]
    return out


@pytest.mark.parametrize("what,fn,replacement,claim_id,check_name", MUTANTS)
def test_mutant_is_killed(monkeypatch, what, fn, replacement, claim_id, check_name):
    monkeypatch.setattr(paper, fn, replacement)
    res = _run(claim_id, check_name)
    assert res.status is R, f"mutant survived: {what}"
    assert res.witness


# ----------------------------------------------------------------------------------- interface
def test_eval_enlarged_min_json_interface():
    """The issue's command: X_star (g row-major upper triangle), realizable (JSON boolean), both losses."""
    r = CliRunner().invoke(cli, ["eval", "ding25.enlarged-min", "--param", "d=1", "--param", "n=5",
                                 "--param", "p=1/2", "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.output)["quantities"]
    assert set(q) >= {"X_star", "realizable", "min_loss_enlarged", "min_loss_lsa"}
    assert q["realizable"] is False
    X = [sp.Rational(sp.nsimplify(x, rational=True)) for x in q["X_star"]]
    assert [float(x) for x in X] == pytest.approx([1 / 6, 1 / 2, 1 / 2], abs=1e-25)
    assert float(q["min_loss_lsa"]) > float(q["min_loss_enlarged"])


@pytest.mark.parametrize("args,message", [
    (["p=1"], "strictly between 0 and 1"),
    (["p=-1/2"], "strictly between 0 and 1"),
    (["n=0"], "must be >= 1"),
    (["d=0"], "must be >= 1"),
    (["alpha=0", "states=3"], "must be > 0"),
    (['kernel=[["1/2","1/2"],["1/3","1/3"]]'], "not row-stochastic"),
    (['kernel=[["3/2","-1/2"],["1/3","2/3"]]'], "entries must lie in [0, 1]"),
    (["states=3", "d=2", "n=4"], "exceeds the limit"),
    (["p=abc"], "not a number"),
])
def test_bad_input_is_one_line(args, message):
    cmd = ["eval", "ding25.enlarged-min"] + [x for a in args for x in ("--param", a)]
    r = CliRunner().invoke(cli, cmd)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
