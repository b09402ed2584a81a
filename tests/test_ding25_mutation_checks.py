"""The ding25 checks that guard the exact engine system (``derive.exact_system``) react when a field of
that system is wrong: the cross-checks with brute-force enumeration (pd-exact, factorisation-under-prior)
turn inconclusive, and engine-vs-symbolic-system (thm-3.3, thm-3.4) is refuted naming the entry."""
import dataclasses
from fractions import Fraction

import pytest

from icl_proofs.claims import CheckContext, Status, get
from icl_proofs.claims.ding25 import derive

CTX = CheckContext(quick=True, seed=0, dps=30, alpha=1e-3)


def _double_22(table):
    rows = [list(r) for r in table]
    rows[2][2] = 2 * rows[2][2]
    return rows


MUTANTS = {
    "H_same (2,2) doubled": lambda s: dataclasses.replace(s, H_same=_double_22(s.H_same)),
    "H_diff (2,2) doubled": lambda s: dataclasses.replace(s, H_diff=_double_22(s.H_diff)),
    "h[0] negated": lambda s: dataclasses.replace(s, h=[-s.h[0]] + list(s.h[1:])),
    "E[y] doubled": lambda s: dataclasses.replace(s, Ey=2 * s.Ey),
}


@pytest.fixture
def mutated(monkeypatch, request):
    orig = derive.exact_system
    mut = MUTANTS[request.param]

    def fake(*args, **kw):
        return mut(orig(*args, **kw))

    derive.minimiser.cache_clear()
    monkeypatch.setattr(derive, "exact_system", fake)
    yield request.param
    derive.minimiser.cache_clear()


def _run(claim_id, check_name):
    check = next(ch for ch in get(claim_id).checks() if ch.name == check_name)
    return check.run(CTX)


@pytest.mark.parametrize("mutated", ["H_same (2,2) doubled", "H_diff (2,2) doubled"], indirect=True)
def test_pd_exact_is_inconclusive_when_engine_H_is_wrong(mutated):
    res = _run("ding25.lemma-3.1", "pd-exact")
    assert res.status is Status.INCONCLUSIVE, res.evidence
    assert "enumeration" in res.evidence


@pytest.mark.parametrize("mutated", list(MUTANTS), indirect=True)
def test_factorisation_finding_is_inconclusive_when_engine_is_wrong(mutated):
    res = _run("ding25.lemma-3.2", "factorisation-under-prior")
    assert res.status is Status.INCONCLUSIVE, res.evidence


@pytest.mark.parametrize("claim_id", ["ding25.thm-3.3", "ding25.thm-3.4"])
@pytest.mark.parametrize("mutated", list(MUTANTS), indirect=True)
def test_engine_vs_symbolic_refutes_a_wrong_engine(mutated, claim_id):
    res = _run(claim_id, "engine-vs-symbolic-system")
    assert res.status is Status.REFUTED, res.evidence
    assert res.witness["difference"]


@pytest.mark.parametrize("claim_id", ["ding25.thm-3.3", "ding25.thm-3.4"])
def test_engine_vs_symbolic_holds_and_is_fast(claim_id, monkeypatch):
    """Work counted, not timed (~0.3-0.8 s): one exact engine solve per case, and the symbolic side
    substituted once (13 SymPy ``subs`` calls) then evaluated per case by ``xreplace`` — never a
    ``subs`` or ``simplify`` per case (63 cases)."""
    import sympy as sp

    derive.system_d1_correlated()  # the derivation itself (cached) is not the check's work
    calls = {"subs": 0, "simplify": 0}
    subs, simplify = sp.Basic.subs, sp.simplify
    monkeypatch.setattr(sp.Basic, "subs", lambda self, *a, **k: calls.__setitem__("subs", calls["subs"] + 1)
                        or subs(self, *a, **k))
    monkeypatch.setattr(sp, "simplify", lambda *a, **k: calls.__setitem__("simplify", calls["simplify"] + 1)
                        or simplify(*a, **k))
    derive.minimiser.cache_clear()
    res = _run(claim_id, "engine-vs-symbolic-system")
    assert res.status is Status.HOLDS, res.evidence
    assert res.details["cases"] == 63 == derive.minimiser.cache_info().misses
    assert calls["subs"] <= 20 and calls["simplify"] == 0, calls


def test_first_difference_names_the_entry():
    from icl_proofs.claims.ding25.claims import _first_difference

    one = Fraction(1)
    assert _first_difference([("H", [[one, 0], [0, one]], [[one, 0], [0, one]]), ("E[y]", one, one)]) is None
    assert _first_difference([("H", [[one, 0], [0, one]], [[one, 0], [0, 2 * one]])]) == "H[1][1]: 1 vs 2"
    assert _first_difference([("h", [one, one], [one, -one])]) == "h[1]: 1 vs -1"
