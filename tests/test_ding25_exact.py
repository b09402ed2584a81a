"""Exact ding25 algebra at d up to 8 (issue 17): the integer/python-flint routes against independent ones.

* system: the integer cubature builder against the generic Fraction builder (same cubature, one point
  and one set at a time) and against brute-force enumeration of all trajectories;
* solve: python-flint (Dixon) against SymPy's LU solve and the pure-Python Bareiss route;
* loss: flint against SymPy's exact XᵀHX;
* one-layer profile: the analytic gradient against finite differences of the dense :func:`profile`.
"""
from fractions import Fraction as F

import numpy as np
import pytest
import sympy as sp

from icl_proofs.moments import markov
from icl_proofs.moments.markov_bruteforce import enumerate_system
from icl_proofs.claims.ding25 import lsa_optimum

INITS = {"iid 1/3": markov.iid_init(F(1, 3)), "iid 3/4": markov.iid_init(F(3, 4)),
         "conditional": markov.conditional_init(F(1, 3), F(1, 4), F(2, 5)),
         # Q D^d >= 2^62: the Python-integer (not int64) branch of the scaled recursion
         "iid, huge denominator": markov.iid_init(F(7, 10**18 + 9))}


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("init", sorted(INITS))
def test_integer_builder_equals_generic_builder(d, init):
    fast = markov._enlarged_system_integer(d, INITS[init])
    ref = markov._enlarged_system_generic(d, INITS[init], None, None)
    assert (fast.H_same, fast.H_diff, fast.h, fast.Ey) == (ref.H_same, ref.H_diff, ref.h, ref.Ey)


@pytest.mark.parametrize("d,n", [(1, 3), (2, 2), (3, 1)])
def test_integer_builder_equals_enumeration(d, n):
    """Brute force over every binary trajectory (no cubature, no recursion) at small (d, n)."""
    s = markov.enlarged_system(d, F(1, 3))
    bf = enumerate_system(d, n, p=F(1, 3))
    assert s.H(n) == bf.H and s.h == bf.h and s.Ey == bf.Ey


@pytest.mark.parametrize("d", [1, 2, 3])
def test_flint_solution_equals_sympy(d):
    """X* from python-flint equals SymPy's exact LU solution and the Bareiss route."""
    s = markov.enlarged_system(d, F(1, 3))
    H = s.H(7)
    X = markov.solve(H, s.h)
    Xs = sp.Matrix([[sp.Rational(x.numerator, x.denominator) for x in row] for row in H]).LUsolve(
        sp.Matrix([sp.Rational(x.numerator, x.denominator) for x in s.h]))
    assert [sp.Rational(x.numerator, x.denominator) for x in X] == list(Xs)
    assert X == markov.solve_bareiss(H, s.h)


def test_flint_loss_equals_sympy():
    d, n = 2, 5
    s = markov.enlarged_system(d, F(1, 2))
    H = s.H(n)
    X = markov.solve(H, s.h)
    Hs = sp.Matrix([[sp.Rational(x.numerator, x.denominator) for x in row] for row in H])
    Xs = sp.Matrix([sp.Rational(x.numerator, x.denominator) for x in X])
    hs = sp.Matrix([sp.Rational(x.numerator, x.denominator) for x in s.h])
    want = (Xs.T * Hs * Xs)[0] - 2 * (hs.T * Xs)[0] + sp.Rational(s.Ey.numerator, s.Ey.denominator)
    got = markov.loss_at(s, n, X)
    assert sp.Rational(got.numerator, got.denominator) == want
    # a non-minimiser gives a larger loss (the loss is not just read off at X*)
    Y = [x + F(1, 100) for x in X]
    assert markov.loss_at(s, n, Y) > got


def test_singular_system_is_one_clear_error():
    with pytest.raises(ZeroDivisionError, match="H is singular"):
        markov.solve([[F(1), F(2)], [F(2), F(4)]], [F(1), F(0)])


def test_exact_solution_d7_is_fast(monkeypatch):
    """Issue 17: exact X* at d = 7 took 91 s (Bareiss on Python integers).  The work is counted, not
    timed: the system is built by the integer builder, and solved by one FLINT Dixon solve (two
    conversions to ``fmpq_mat``: H and h), never by the Python Bareiss route or the generic builder.
    X* has about 1,500-digit denominators: a real exact solve, checked by substituting back into one
    row exactly."""
    def slow_route(*a, **k):
        raise AssertionError("the slow exact route was taken")

    conversions = []
    to_flint = markov._to_fmpq_mat
    monkeypatch.setattr(markov, "solve_bareiss", slow_route)
    monkeypatch.setattr(markov, "_enlarged_system_generic", slow_route)
    monkeypatch.setattr(markov, "_to_fmpq_mat", lambda rows, n: conversions.append(n) or to_flint(rows, n))
    s = markov.enlarged_system(7, F(1, 2))
    H = s.H(5)
    X = markov.solve(H, s.h)
    assert conversions == [len(s.h), 1]
    assert max(len(str(x.denominator)) for x in X) > 1000
    assert sum(H[17][j] * X[j] for j in range(len(X))) == s.h[17]


@pytest.mark.parametrize("d", [1, 2, 4])
def test_profile_gradient_equals_finite_differences(d):
    m = (d + 1) * (d + 2) // 2
    rng = np.random.default_rng(d)
    B = rng.standard_normal((d * m, d * m))
    H = B @ B.T / (d * m) + np.eye(d * m)
    h = rng.standard_normal(d * m)
    P = lsa_optimum.QuadraticProfile(H, h, 1.3)
    b = rng.standard_normal(d + 1)
    val, grad, a = P.value_grad(b)
    ref, A = lsa_optimum.profile(H, h, 1.3, b / np.linalg.norm(b))
    assert val == pytest.approx(ref, rel=1e-12)
    assert np.allclose(a.reshape(d, d + 1).T, A, atol=1e-10)
    eps = 1e-6
    fd = [(lsa_optimum.profile(H, h, 1.3, (b + eps * e) / np.linalg.norm(b + eps * e))[0]
           - lsa_optimum.profile(H, h, 1.3, (b - eps * e) / np.linalg.norm(b - eps * e))[0]) / (2 * eps)
          for e in np.eye(d + 1)]
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-7)


def test_eval_enlarged_min_accepts_d7():
    """eval was capped at d ≤ 6 (the exact solve took 91 s at d = 7); now d ≤ 8 is allowed.  The answer
    is checked for shape and for min f~ ≤ min over one-layer LSA (Lemma 3.2's inequality)."""
    import json

    from click.testing import CliRunner

    from icl_proofs.cli import cli

    r = CliRunner().invoke(cli, ["eval", "ding25.enlarged-min", "--param", "d=7", "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.output)["quantities"]
    assert len(q["X_star"]) == 7 * 36
    assert float(q["min_loss_lsa"]) >= float(q["min_loss_enlarged"]) - 1e-12
