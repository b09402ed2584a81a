"""Every zfb23 check holds on the paper's claims (quick mode, fixed seeds), and every check that
compares a derivation with the paper **fails** when the formula it guards is mutated the way hand
derivations go wrong.  One parametrised table of (claim, check)."""
import pytest
import sympy as sp

from icl_proofs.claims import CheckContext, Status, all_claims, get
from icl_proofs.claims.zfb23 import derive
from icl_proofs.claims.zfb23 import paper
from icl_proofs.moments.spectral import TrF, lam

ZFB23 = [c for c in all_claims() if c.id.startswith("zfb23.")]
CASES = [(c.id, ch.name) for c in ZFB23 for ch in c.checks() if ch.quick]
CTX = CheckContext(quick=True, seed=0, dps=30, alpha=1e-3)


def test_all_ids_present():
    assert {c.id for c in ZFB23} == {
        "zfb23.gaussian-moments", "zfb23.reduced-loss", "zfb23.global-min", "zfb23.gradient-flow",
        "zfb23.risk", "zfb23.task-shift", "zfb23.query-shift", "zfb23.covariate-shift",
        "zfb23.random-covariance"}


@pytest.mark.parametrize("claim_id,check_name", CASES)
def test_check_holds(claim_id, check_name):
    claim = get(claim_id)
    check = next(ch for ch in claim.checks() if ch.name == check_name)
    res = check.run(CTX)
    assert res.status is Status.HOLDS, res.evidence


# ----------------------------------------------------------------------------------- mutations

def _run(claim_id, check_name):
    claim = get(claim_id)
    check = next(ch for ch in claim.checks() if ch.name == check_name)
    return check.run(CTX)


MUTANTS = [
    # (what is mutated, function in `paper` replaced, replacement, claim, check)
    ("Γ: 1/N → 1/(N+1)", "gamma", lambda: (1 + 1 / (derive.N + 1)) * lam + TrF(lam) / derive.N,
     "zfb23.gaussian-moments", "gamma-symbolic"),
    ("Γ: dropped trace term", "gamma", lambda: (1 + 1 / derive.N) * lam,
     "zfb23.gaussian-moments", "gamma-symbolic"),
    ("min loss: missing ½", "min_loss", lambda: TrF(lam - lam ** 2 / paper.gamma()),
     "zfb23.global-min", "min-loss-symbolic"),
    ("min loss: Λ → Λ²", "min_loss", lambda: TrF(lam ** 2 - lam ** 4 / paper.gamma()) / 2,
     "zfb23.global-min", "min-loss-symbolic"),
    ("preconditioner: flipped sign", "preconditioner", lambda: -1 / paper.gamma(),
     "zfb23.global-min", "minimiser-symbolic"),
]


@pytest.mark.parametrize("what,fn,replacement,claim_id,check_name", MUTANTS)
def test_mutant_is_killed(monkeypatch, what, fn, replacement, claim_id, check_name):
    monkeypatch.setattr(paper, fn, replacement)
    res = _run(claim_id, check_name)
    assert res.status is Status.REFUTED, f"mutant survived: {what}"
    assert res.witness, "a refutation must carry its witness"


def test_mutant_isotropic_error(monkeypatch):
    from icl_proofs.moments.traces import d

    monkeypatch.setattr(paper, "isotropic_error", lambda: d * (d + 1) / (derive.N + d))
    assert _run("zfb23.global-min", "isotropic-error-symbolic").status is Status.REFUTED


def test_mutant_theorem42_missing_trace_term(monkeypatch):
    """Theorem 4.2 with the 2·tr(Λ)‖a‖² term dropped must be refuted (symbolic and exact routes)."""
    from icl_proofs.moments.spectral import QF

    def bad(bayes, trSB, vector="a"):
        g2 = 1 / paper.gamma() ** 2
        a = sp.Symbol(vector)
        trL = TrF(lam)
        return bayes + trSB / derive.M + (QF(g2 * lam ** 3, a) + trL ** 2 * QF(g2 * lam, a)) / derive.N ** 2

    monkeypatch.setattr(paper, "thm42_rhs", bad)
    assert _run("zfb23.risk", "theorem-4.2-symbolic").status is Status.REFUTED
    assert _run("zfb23.risk", "theorem-4.2-exact").status is Status.REFUTED


def test_mutant_reduced_loss_transposed(monkeypatch):
    """Reduced loss with Uᵀ in place of U in the linear term ... tr(Λ²U) vs tr(Λ²Uᵀ) is equal;
    a transposed factor inside the quadratic term is not: tr(ΓΛUΛU) must be refuted."""
    from icl_proofs.moments.wick import expect, matrix, scalar, tr

    def bad():
        Lm, U = matrix("Lambda", sym=True), matrix("U")
        trL = tr(Lm)
        gl = (1 + 1 / derive.N) * (Lm @ Lm) + (Lm * trL) / derive.N
        return expect(scalar(derive.u ** 2 / 2) * tr(gl @ U @ Lm @ U) - derive.u * tr(Lm @ Lm @ U.T)
                      + scalar(sp.Rational(1, 2)) * trL)

    monkeypatch.setattr(paper, "reduced_loss", bad)
    assert _run("zfb23.reduced-loss", "loss-symbolic").status is Status.REFUTED


def test_mutant_monte_carlo_detects_wrong_exact_value(monkeypatch):
    """The MC route has power: a closed form off by the 1/N → 1/(N+1) slip is rejected."""
    from icl_proofs.claims.zfb23 import numeric

    orig = numeric.risk_error
    monkeypatch.setattr(numeric, "risk_error", lambda L, n, m: orig(L, n + 1, m))
    assert _run("zfb23.risk", "error-monte-carlo").status is Status.REFUTED


def test_random_covariance_paper_mutant(monkeypatch):
    from icl_proofs.claims.zfb23.dynamics_claims import RandomCovariance

    monkeypatch.setattr(RandomCovariance, "v_paper", staticmethod(lambda: sp.Integer(1) / 3))
    assert _run("zfb23.random-covariance", "minimiser-vs-paper-symbolic").status is Status.REFUTED
