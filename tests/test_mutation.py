"""Mutation testing (icl_proofs.mutation, ``icl-proofs mutate``, issue 6): the operators produce
exactly the hand-derivation mistakes they name, and the checks of the claims catch them.

Routes: each operator's mutant is compared with the mistaken formula built by hand (exact SymPy
equality); the engine is run on real claims (zfb23.gaussian-moments, ding25.thm-3.5) and on two toy
claims whose checks are strong and weak by construction, so a survivor must be — and is — reported.
"""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
import sympy as sp
from click.testing import CliRunner

from icl_proofs.cache import derivation
from icl_proofs.claims import registry
from icl_proofs.claims.base import Check, CheckContext, Claim
from icl_proofs.claims.checks import exact_equal, holds, refuted
from icl_proofs.cli import cli
from icl_proofs.moments import traces
from icl_proofs.moments.wick import MatrixPoly
from icl_proofs.mutation import OPERATORS, mutate, mutate_claim, suite_kills
from icl_proofs.mutation.engine import ClaimMutation, MutantResult

N = sp.Symbol("N", positive=True)
x = sp.Symbol("x", positive=True)
Lam = traces.Letter("Lambda", sym=True)
A = traces.Letter("A")
trAL = traces.trace_symbol((A, Lam))
trL = traces.trace_symbol((Lam,))
trL2 = traces.trace_symbol((Lam, Lam))
trAtLAL = traces.trace_symbol((A, Lam, A, Lam))
trAtLAtL = traces.trace_symbol((A, Lam, A.T, Lam))

# Gaussian fourth moment E[x xᵀ A x xᵀ] = Λ A Λ + Λ Aᵀ Λ + tr(AΛ) Λ, as the Wick engine writes it
FOURTH = MatrixPoly({(Lam, A, Lam): 1, (Lam, A.T, Lam): 1, (Lam,): trAL})

# operator, value, the mistaken formula written by hand
CASES = [
    ("1/N→1/(N+1)", trL / N + x / 2, trL / (N + 1) + x / 2),
    ("1/N→1/(N+1)", 1 + trL2 / N**2, 1 + trL2 / (N + 1) ** 2),
    ("drop-trace", x**2 + trL / N, x**2),
    ("flip-sign", 3 * x**2 + trL / N, 3 * x**2 - trL / N),  # the last term in SymPy's order
    ("flip-sign", x / N, -x / N),
    ("Λ→Λ²", trL / N + trAL, trL2 / N + traces.trace_symbol((A, Lam, Lam))),
    ("transpose", trAtLAL + 1, trAtLAtL + 1),
    ("missing-½", x / 2 + trL, x + trL),
    ("drop-trace", FOURTH, MatrixPoly({(Lam, A, Lam): 1, (Lam, A.T, Lam): 1})),
    ("Λ→Λ²", MatrixPoly({(Lam,): trL}), MatrixPoly({(Lam, Lam): trL2})),
    ("transpose", MatrixPoly({(Lam, A, Lam): 1, (Lam,): 1}), MatrixPoly({(Lam, A.T, Lam): 1, (Lam,): 1})),
    ("missing-½", MatrixPoly({(Lam,): trL / 2}), MatrixPoly({(Lam,): trL})),
    ("transpose", sp.Matrix([[1, 2], [3, 4]]), sp.Matrix([[1, 3], [2, 4]])),
    ("flip-sign", sp.Matrix([[x, 1], [1, 2]]), sp.Matrix([[-x, 1], [1, 2]])),
    ("1/N→1/(N+1)", sp.Matrix([[1 / N, 0], [0, x]]), sp.Matrix([[1 / (N + 1), 0], [0, x]])),
    ("flip-sign", [[Fraction(1, 2), Fraction(1, 3)], [Fraction(1, 3), Fraction(1)]],
     [[Fraction(1, 2), Fraction(1, 3)], [Fraction(1, 3), Fraction(-1)]]),  # the largest entry
    ("missing-½", [[Fraction(1, 2), Fraction(1, 3)], [Fraction(1, 3), Fraction(1)]],
     [[Fraction(1), Fraction(1, 3)], [Fraction(1, 3), Fraction(1)]]),
    ("transpose", [[Fraction(1), Fraction(2)], [Fraction(0), Fraction(1)]],
     [[Fraction(1), Fraction(0)], [Fraction(2), Fraction(1)]]),
]


def _equal(a, b) -> bool:
    if isinstance(a, MatrixPoly):
        return {w: sp.expand(c) for w, c in a.terms.items()} == {w: sp.expand(c) for w, c in b.terms.items()}
    if isinstance(a, sp.MatrixBase):
        return sp.simplify(a - b) == sp.zeros(*a.shape)
    if isinstance(a, list):
        return a == b
    return sp.simplify(a - b) == 0


@pytest.mark.parametrize("op,value,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operator_makes_the_named_mistake(op, value, expected):
    """Route: exact comparison with the mistaken formula written by hand."""
    m = mutate(value, op)
    assert m is not None and m.operator == op
    assert _equal(m.value, expected), (m.where, m.value)


@pytest.mark.parametrize("op,value", [
    ("transpose", sp.Matrix([[1, 2], [2, 1]])),  # symmetric: transposing changes nothing
    ("transpose", trL2 + 1),  # only symmetric letters
    ("drop-trace", x**2 + 1),  # no trace term
    ("missing-½", x / 3 + 1),  # no ½ to lose
    ("1/N→1/(N+1)", N * x),  # N never divides
    ("Λ→Λ²", x + 1),  # no covariance
    ("flip-sign", 7),  # an int in a result is a size, not a formula
])
def test_operator_that_does_not_apply_gives_none(op, value):
    assert mutate(value, op) is None


def test_unknown_operator_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown mutation operator"):
        mutate(x, "swap")


# ------------------------------------------------------------------------ toy claims: strong and weak

@derivation
def toy_formula():
    """A derived formula: E[(a + b)²]/N-style expression with a ½ and a 1/N."""
    return {"value": x / 2 + x**2 / N}


class _Toy(Claim):
    id = "test.toy"
    paper = "test"
    source = "test"
    title = "toy"
    statement = "toy"


class StrongToy(_Toy):
    id = "test.toy-strong"

    def checks(self):
        def exact(ctx):  # independent route: the same quantity at x = 3, N = 5 by hand
            got = toy_formula()["value"].subs({x: 3, N: 5})
            return exact_equal("toy-exact", [({"x": 3, "N": 5}, got, sp.Rational(3, 2) + sp.Rational(9, 5))],
                               "toy at (3, 5)")
        return [Check("toy-exact", "exact-rational", exact)]


class WeakToy(_Toy):
    id = "test.toy-weak"

    def checks(self):
        def positive(ctx):  # a check too weak to see most mistakes: only the sign at one point
            v = toy_formula()["value"].subs({x: 3, N: 5})
            return holds("toy-positive", "exact-rational", f"{v} > 0") if v > 0 else refuted(
                "toy-positive", "exact-rational", f"{v} <= 0", {"value": str(v)})
        return [Check("toy-positive", "exact-rational", positive)]


def test_strong_checks_kill_every_mutant_of_the_toy_formula():
    cm = mutate_claim(StrongToy())
    assert cm.baseline == {"toy-exact": "holds"}
    ops_used = {m.operator for m in cm.mutants}
    assert ops_used == {"1/N→1/(N+1)", "flip-sign", "missing-½"}  # the operators that apply
    assert cm.killed == cm.total == 3
    assert all(m.killed_by == "toy-exact" and m.verdict == "holds → refuted" for m in cm.mutants)


def test_weak_check_lets_mutants_survive_and_says_so():
    """The engine must be able to fail: a sign-only check misses 1/N → 1/(N+1) and the missing ½."""
    cm = mutate_claim(WeakToy())
    survived = {m.operator for m in cm.survivors()}
    assert survived == {"1/N→1/(N+1)", "missing-½"}
    for m in cm.survivors():
        assert m.read_by == ["toy-positive"] and "still hold" in m.why
    assert cm.kill_rate == pytest.approx(1 / 3)


def test_mutation_leaves_no_trace():
    """After a run every derivation is the original again and the disk cache is writable again."""
    from icl_proofs import cache
    from icl_proofs.claims import checks as checks_mod
    from icl_proofs.claims.zfb23 import derive

    before = derive.gaussian_moments
    mutate_claim(StrongToy())
    assert derive.gaussian_moments is before and toy_formula()["value"] == x / 2 + x**2 / N
    assert cache.writes_enabled() and checks_mod.shrinking_witnesses()


# ------------------------------------------------------------------------------------ real claims

@pytest.fixture(scope="module")
def gaussian_moments_mutation():
    return mutate_claim(registry.get("zfb23.gaussian-moments"), CheckContext(quick=True))


def test_zfb23_moment_checks_kill_every_mutant(gaussian_moments_mutation):
    """zfb23 Lemma (Gaussian fourth moment, Wishart second moment): every mutant of the derived
    moments — including the dropped tr(AΛ)Λ term — is refuted by the claim's quick checks."""
    cm = gaussian_moments_mutation
    assert cm.total >= 15
    assert cm.kill_rate >= 0.95, [m.to_json() for m in cm.survivors()]
    dropped = [m for m in cm.mutants if m.operator == "drop-trace" and m.path == "[\"E[x x' A x x']\"]"]
    assert len(dropped) == 1 and "tr(A*Lambda)" in dropped[0].where and dropped[0].status == "killed"


def test_ding25_theta_recursion_mutants_are_caught():
    """ding25 Theorem 4.1: the derived θ recursion (exact rationals) is mutated entrywise and the exact forward pass catches it."""
    cm = mutate_claim(registry.get("ding25.thm-4.1"), CheckContext(quick=True))
    assert cm.total >= 1
    assert cm.kill_rate >= 0.95, [m.to_json() for m in cm.survivors()]


def test_suite_kill_counts_each_distinct_mutant_once():
    def res(claim, status):
        return ClaimMutation(claim, {}, [MutantResult("m.f", "[0]", "flip-sign", "w", status)], [])

    s = suite_kills([res("a", "survived"), res("b", "killed"), res("c", "survived")])
    assert (s["killed"], s["total"], s["survivors"]) == (1, 1, [])
    s = suite_kills([res("a", "survived")])
    assert (s["killed"], s["total"], s["survivors"]) == (0, 1, ["f[0] flip-sign"])


# --------------------------------------------------------------------------------------------- CLI

def test_cli_mutate_json_and_exit_status(tmp_path):
    out = tmp_path / "m.json"
    r = CliRunner().invoke(cli, ["mutate", "zfb23.gaussian-moments", "--quick", "--operator", "drop-trace",
                                 "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "zfb23.gaussian-moments:" in r.output and "killed" in r.output
    doc = json.loads(out.read_text())
    assert doc["format"] == "icl-proofs/mutation-results" and doc["meta"]["operators"] == ["drop-trace"]
    (claim,) = doc["claims"]
    assert claim["total"] >= 3 and claim["killed"] == claim["total"]
    assert all(m["operator"] == "drop-trace" and m["killed_by"] for m in claim["mutants"])


def test_cli_mutate_bad_operator_is_one_line():
    r = CliRunner().invoke(cli, ["mutate", "zfb23.gaussian-moments", "--operator", "swap"])
    assert r.exit_code == 2 and "unknown operator 'swap'" in r.output and "Traceback" not in r.output


def test_cli_mutate_operator_alias():
    r = CliRunner().invoke(cli, ["mutate", "zfb23.gaussian-moments", "--quick", "--operator", "missing-half",
                                 "-q"])
    # no ½ in the moment formulas: nothing to mutate is reported, not counted as a pass or a failure
    assert r.exit_code == 0, r.output
    assert "no derived formula read by its checks could be mutated" in r.output


# claims whose quick checks run in seconds; each must kill ≥ 95 % of the mutants of what it reads
FAST = ["zfb23.reduced-loss", "zfb23.task-shift", "zfb23.covariate-shift", "ding25.enlarged-min",
        "ding25.thm-4.1", "dd25.lemma-4.11"]


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", FAST)
def test_quick_checks_reach_the_kill_rate_target(claim_id):
    cm = mutate_claim(registry.get(claim_id), CheckContext(quick=True))
    assert cm.total >= 1 and not cm.wrong_declarations
    assert cm.kill_rate >= 0.95, [m.to_json() for m in cm.survivors()]


def test_declared_equivalent_mutant_is_left_out_of_the_score_not_hidden():
    """dd25 Lemma 4.9: α feeds only Lemma 4.11's spike statistics, so negating it cannot change a
    Lemma 4.9 verdict; the mutant still runs, survives, is listed, and is out of the score."""
    cm = mutate_claim(registry.get("dd25.lemma-4.9"), CheckContext(quick=True))
    (m,) = [m for m in cm.mutants if m.label == "derivative_mean flip-sign"]
    assert m.status == "survived" and m.equivalent and m in cm.equivalents()
    assert cm.equivalent == 1 and cm.raw_kill_rate == cm.killed / cm.total


def test_wrong_equivalence_declaration_is_reported():
    class Overclaiming(StrongToy):
        id = "test.toy-overclaiming"
        equivalent_mutants = {"toy_formula['value'] flip-sign": "(wrong on purpose)",
                              "toy_formula['value'] transpose": "(no such mutant)"}

    cm = mutate_claim(Overclaiming())
    assert cm.equivalent == 0 and cm.killed == cm.total
    assert len(cm.wrong_declarations) == 2
    assert any("killed by toy-exact" in w for w in cm.wrong_declarations)
    assert any("no such mutant" in w for w in cm.wrong_declarations)


def test_mutant_reaches_the_checks_through_cached_helpers():
    """dd25 Hermite closed forms: half_line_moment feeds the checks only through the lru-cached
    _symbolic_coefficient; without clearing that cache per mutant the mutant would never be seen
    (it survived before the engine cleared the caches of the modules defining derivations)."""
    cm = mutate_claim(registry.get("dd25.hermite"), CheckContext(quick=True), operators=("flip-sign",))
    (m,) = [m for m in cm.mutants if m.label == "half_line_moment flip-sign"]
    assert m.status == "killed" and m.killed_by == "closed-form-vs-quadrature"
