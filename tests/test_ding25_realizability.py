"""ding25 Problem C.9 / Theorem 3.5: realisability of X = phi(b, A) is decided exactly in polynomial time."""
from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import example, given, settings, strategies as st

from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.ding25.markov_lsa import blocks_to_sym, m_of, phi
from icl_proofs.claims.ding25.realizability import phi_fast, projection_distance, realize_exact, realize_float, sym_blocks, x_from_sym


def _q(rnd: random.Random, lo: int = -6, hi: int = 6):
    return sympy.Rational(rnd.randint(lo, hi), rnd.randint(1, 4))


def _random_phi(d: int, rnd: random.Random):
    b = np.array([_q(rnd) for _ in range(d + 1)], dtype=object)
    A = np.array([[_q(rnd) for _ in range(d)] for _ in range(d + 1)], dtype=object)
    return list(phi(b, A))


def _exact_phi_equals(b, A, X) -> bool:
    """Independent exact check with the model's own phi on SymPy object arrays."""
    got = phi(np.array(b, dtype=object), np.array(A, dtype=object))
    return all(sympy.expand(g - x) == 0 or sympy.simplify(g - x) == 0 for g, x in zip(got, X))


def _rank_fractions(M) -> int:
    """Rank over Q by plain Gaussian elimination on Fractions (independent of SymPy's rank)."""
    R = [[Fraction(int(sympy.fraction(v)[0]), int(sympy.fraction(v)[1])) for v in row] for row in M]
    rank, rows, cols = 0, len(R), len(R[0])
    for c in range(cols):
        piv = next((r for r in range(rank, rows) if R[r][c] != 0), None)
        if piv is None:
            continue
        R[rank], R[piv] = R[piv], R[rank]
        for r in range(rows):
            if r != rank and R[r][c] != 0:
                f = R[r][c] / R[rank][c]
                R[r] = [x - f * y for x, y in zip(R[r], R[rank])]
        rank += 1
    return rank


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_exact_round_trip(d):
    """Problem C.9, route: exact round trip -- X = phi(b, A) with rational (b, A) is realised again,
    and the returned preimage maps back to X exactly (checked with the model's phi, not the solver's)."""
    rnd = random.Random(100 + d)
    for _ in range(3):
        X = _random_phi(d, rnd)
        r = realize_exact(X, d)
        assert r.realizable, r.certificate
        assert _exact_phi_equals(r.b, r.A, X)


def test_exact_irrational_normal():
    """Problem C.9, route: exact -- a realisable rational X whose only normals are irrational
    (b proportional to (1, +-sqrt 2, 0)); the preimage lives in Q(sqrt 2), checked exactly."""
    d = 2
    S1 = np.diag([1, -2, 0]).astype(object)
    X = list(x_from_sym_obj([S1, 3 * S1]))
    r = realize_exact(X, d)
    assert r.realizable
    assert any(isinstance(v, sympy.Basic) and v.has(sympy.sqrt(2)) for v in r.b)
    assert _exact_phi_equals(r.b, r.A, X)


def x_from_sym_obj(Ss):
    out = []
    for S in Ss:
        n = S.shape[0]
        for a in range(n):
            for c in range(a, n):
                out.append(S[a, a] if a == c else 2 * S[a, c])
    return out


@pytest.mark.parametrize("d", [2, 3, 4])
def test_generic_not_realizable(d):
    """Problem C.9, route: certificate re-checked independently -- generic rational X at d >= 2 is
    refused with a rank >= 3 block; that rank is recomputed over Q by Fraction elimination, and (d <= 3)
    a numeric projection (Remark C.15 psi) stays bounded away from 0."""
    rnd = random.Random(7 * d)
    X = [_q(rnd, -9, 9) for _ in range(d * m_of(d))]
    r = realize_exact(X, d)
    assert not r.realizable and r.certificate["reason"] == "rank"
    j = r.certificate["block"]
    S = blocks_to_sym(np.array(X, dtype=object), d)[j]
    assert _rank_fractions(S.tolist()) == r.certificate["rank"] >= 3
    if d <= 3:
        assert projection_distance(np.array(X, float), d, starts=4).value > 1e-2


def test_definite_and_no_common_hyperplane_certificates():
    """Problem C.9, route: hand-made certificates + numeric projection -- (i) rank-2 semidefinite block,
    (ii) every block realisable alone but no common normal (rank-1 pivot, and rank-2 pivot with both
    candidate normals failing); psi(X) > 0 in every case."""
    e = np.eye(3, dtype=int).astype(object)
    sym = lambda u, v: (np.outer(u, v) + np.outer(v, u)) / sympy.Integer(2)  # noqa: E731
    cases = {
        "definite": [np.diag([1, 1, 0]).astype(object), np.zeros((3, 3), dtype=object)],
        "no common isotropic hyperplane": [sym(e[0], e[1]), np.outer(e[2], e[2])],
    }
    cases2 = [sym(e[0], e[1]), sym(e[2], e[0] + e[1])]  # pivot rank 2: normals e1, e2 both fail on S_2
    for reason, Ss in list(cases.items()) + [("no common isotropic hyperplane", cases2)]:
        X = x_from_sym_obj(Ss)
        r = realize_exact(X, 2)
        assert not r.realizable and r.certificate["reason"] == reason, r.certificate
        if reason != "definite":
            assert all(f["residual_PSP_frobenius"] > 0 for f in r.certificate["residuals"])
        assert realize_float(np.array(X, float), 2).realizable is False
        assert projection_distance(np.array(X, float), 2, starts=4).value > 1e-2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fractions(min_value=-5, max_value=5, max_denominator=6), min_size=3, max_size=3))
@example([Fraction(1), Fraction(2), Fraction(1)])      # boundary: X_2^2 = 4 X_1 X_3 (rank 1)
@example([Fraction(0), Fraction(0), Fraction(0)])
@example([Fraction(0), Fraction(0), Fraction(1)])
@example([Fraction(1), Fraction(0), Fraction(1)])      # S = I
def test_d1_criterion(X):
    """Problem C.9 at d = 1, route: Hypothesis over rationals -- realisable iff X_2^2 >= 4 X_1 X_3
    (det S <= 0 for the 2x2 block); positive answers re-verified by the exact phi."""
    r = realize_exact(X, 1)
    assert r.realizable == (X[1] ** 2 >= 4 * X[0] * X[2])
    if r.realizable:
        assert _exact_phi_equals(r.b, r.A, [sympy.Rational(x.numerator, x.denominator) for x in X])


def test_float_and_exact_agree():
    """Problem C.9, route: float solver vs exact solver on realisable and generic rational X (d = 1..4)."""
    rnd = random.Random(3)
    for d in (1, 2, 3, 4):
        for X in (_random_phi(d, rnd), [_q(rnd, -9, 9) for _ in range(d * m_of(d))]):
            ex = realize_exact(X, d)
            fl = realize_float(np.array([float(x) for x in X]), d)
            assert ex.realizable == fl.realizable, (d, ex.certificate, fl.certificate)
            if fl.realizable:
                assert fl.residual <= 1e-9 * max(1.0, float(np.linalg.norm(np.array(X, float))))


def test_float_large_d():
    """Problem C.9, route: float solver at d = 64 -- random phi(b, A) is recovered to rounding level,
    random X is refused by rank; phi_fast / sym_blocks agree with the model's conventions."""
    rng = np.random.default_rng(0)
    for d in (1, 3, 5):
        b, A = rng.standard_normal(d + 1), rng.standard_normal((d + 1, d))
        X = phi(b, A)
        assert np.allclose(phi_fast(b, A), X, atol=1e-14)
        assert np.allclose(sym_blocks(X, d), np.array(blocks_to_sym(X, d)), atol=1e-14)
        assert np.allclose(x_from_sym(sym_blocks(X, d)), X, atol=1e-14)
    d = 64
    b, A = rng.standard_normal(d + 1), rng.standard_normal((d + 1, d))
    X = phi_fast(b, A)
    r = realize_float(X, d)
    assert r.realizable and r.residual < 1e-10 * np.linalg.norm(X)
    assert np.allclose(phi_fast(r.b, r.A), X, atol=1e-9)
    g = realize_float(rng.standard_normal(X.size), d)
    assert not g.realizable and g.certificate["reason"] == "rank"


def test_projection_zero_on_realizable():
    """Remark C.15 psi, route: numeric multistart -- the projection distance of a realisable X is ~0."""
    rng = np.random.default_rng(1)
    d = 3
    X = phi_fast(rng.standard_normal(d + 1), rng.standard_normal((d + 1, d)))
    assert projection_distance(X, d, starts=2).value < 1e-14 * max(1.0, float(X @ X))


def test_zero_and_bad_input():
    """Problem C.9 input handling: X = 0 is realisable; bad input gives one-line UserInputErrors."""
    assert realize_exact([0] * 12, 2).realizable and realize_float(np.zeros(12), 2).realizable
    bad = [
        lambda: realize_exact([1, 2], 1),                       # wrong length
        lambda: realize_exact([1, float("nan"), 0], 1),         # non-finite
        lambda: realize_exact([1, sympy.sqrt(2), 0], 1),        # not rational
        lambda: realize_exact([0] * (13 * m_of(13)), 13),       # d above the exact limit
        lambda: realize_exact([1, 0, 0], 0),
        lambda: realize_exact([1, 0, 0], 1.5),
        lambda: realize_float([1.0, np.inf, 0.0], 1),
        lambda: realize_float(np.zeros(5), 1),
        lambda: realize_float(np.ones(3), 1, tol=2.0),
        lambda: realize_float(["a", "b", "c"], 1),
    ]
    for f in bad:
        with pytest.raises(UserInputError) as ei:
            f()
        assert "\n" not in str(ei.value)
