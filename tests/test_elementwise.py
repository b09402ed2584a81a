"""Tests of the exact elementwise route (MGF coefficient extraction) against closed forms."""
from __future__ import annotations

import doctest
import random

import pytest
import sympy as sp

from icl_proofs.moments import elementwise
from icl_proofs.moments.elementwise import (
    GaussianVector,
    empirical_cov,
    expect,
    expect_matrix,
    inner,
    iid_vectors,
    quad,
    vector_symbols,
)

R = sp.Rational


def _rational_spd(d: int, rng: random.Random) -> sp.Matrix:
    """Exactly SPD: L D Lᵀ with rational unit-lower L and positive rational D."""
    L = sp.eye(d)
    for i in range(d):
        for j in range(i):
            L[i, j] = R(rng.randint(-3, 3), rng.randint(1, 4))
    D = sp.diag(*[R(rng.randint(1, 9), rng.randint(1, 5)) for _ in range(d)])
    return L * D * L.T


def _rational_matrix(d: int, rng: random.Random, symmetric: bool) -> sp.Matrix:
    A = sp.Matrix(d, d, lambda i, j: R(rng.randint(-5, 5), rng.randint(1, 4)))
    return (A + A.T) / 2 if symmetric else A


def test_doctests():
    res = doctest.testmod(elementwise)
    assert res.failed == 0 and res.attempted >= 4


def test_isserlis_scalar_fourth_and_sixth_moment():
    """MGF coefficient extraction vs closed form: E[z⁴] = 3σ⁴, E[z⁶] = 15σ⁶."""
    s2 = R(7, 3)
    z = GaussianVector("z", [[s2]])
    assert z.moment((4,)) == 3 * s2 ** 2
    assert z.moment((6,)) == 15 * s2 ** 3
    assert z.moment((3,)) == 0
    (t,) = z.symbols
    assert expect(t ** 4, [z]) == 3 * s2 ** 2
    # other free symbols are constants
    a = sp.Symbol("a")
    assert sp.expand(expect((a * t + 1) ** 2, [z]) - (a ** 2 * s2 + 1)) == 0


@pytest.mark.parametrize("d", [1, 2, 3])
def test_quartic_quadratic_form(d):
    """MGF coefficient extraction vs closed form: E[(xᵀAx)²] = 2 tr(AΛAΛ) + tr(AΛ)², A symmetric."""
    rng = random.Random(100 + d)
    Lam, A = _rational_spd(d, rng), _rational_matrix(d, rng, symmetric=True)
    x = GaussianVector("x", Lam)
    lhs = expect(quad(x, A, x) ** 2, [x])
    assert lhs == 2 * (A * Lam * A * Lam).trace() + (A * Lam).trace() ** 2


@pytest.mark.parametrize("d", [1, 2, 3])
def test_fourth_moment_matrix_nonsymmetric(d):
    """MGF coefficient extraction vs closed form: E[x xᵀ A x xᵀ] = Λ(A+Aᵀ)Λ + tr(AΛ)Λ, A not symmetric."""
    rng = random.Random(200 + d)
    Lam, A = _rational_spd(d, rng), _rational_matrix(d, rng, symmetric=False)
    x = GaussianVector("x", Lam)
    X = x.vec
    lhs = expect_matrix(X * X.T * A * X * X.T, [x])
    assert lhs == sp.ImmutableMatrix(Lam * (A + A.T) * Lam + (A * Lam).trace() * Lam)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_sextic_quadratic_form(d):
    """MGF coefficient extraction vs closed form:
    E[(xᵀAx)³] = tr(AΛ)³ + 6 tr(AΛ) tr((AΛ)²) + 8 tr((AΛ)³), A symmetric."""
    rng = random.Random(300 + d)
    Lam, A = _rational_spd(d, rng), _rational_matrix(d, rng, symmetric=True)
    x = GaussianVector("x", Lam)
    M = A * Lam
    rhs = M.trace() ** 3 + 6 * M.trace() * (M * M).trace() + 8 * (M * M * M).trace()
    assert expect(quad(x, A, x) ** 3, [x]) == rhs


def test_independent_vectors():
    """MGF coefficient extraction vs closed form: E[(xᵀAy)²] = tr(AΛ_y Aᵀ Λ_x) for independent x, y."""
    rng = random.Random(7)
    Lx, Ly = _rational_spd(2, rng), _rational_spd(3, rng)
    A = sp.Matrix(2, 3, lambda i, j: R(rng.randint(-4, 4), rng.randint(1, 3)))
    x, y = GaussianVector("x", Lx), GaussianVector("y", Ly)
    assert expect(quad(x, A, y) ** 2, [x, y]) == (A * Ly * A.T * Lx).trace()
    # E[x_0² y_0²] factorises
    assert expect(x.symbols[0] ** 2 * y.symbols[0] ** 2, [x, y]) == Lx[0, 0] * Ly[0, 0]


def test_empirical_covariance_second_moment():
    """MGF coefficient extraction vs closed form (Wishart): E[S A S] = ΛAΛ + (ΛAᵀΛ + tr(AΛ)Λ)/N."""
    rng = random.Random(11)
    Lam, A = _rational_spd(2, rng), _rational_matrix(2, rng, symmetric=False)
    xs = iid_vectors("x", Lam, 2)
    S = empirical_cov(xs)
    N = len(xs)
    rhs = Lam * A * Lam + (Lam * A.T * Lam + (A * Lam).trace() * Lam) / N
    assert expect_matrix(S * A * S, xs) == sp.ImmutableMatrix(rhs)


def test_noncentred_mean():
    """MGF coefficient extraction vs closed form for x ~ N(μ, Λ):
    E[xᵀAx] = tr(AΛ) + μᵀAμ and E[(xᵀa)⁴] = m⁴ + 6m²s + 3s² with m = aᵀμ, s = aᵀΛa."""
    rng = random.Random(13)
    Lam, A = _rational_spd(3, rng), _rational_matrix(3, rng, symmetric=False)
    mu = sp.Matrix([R(1, 2), -2, R(3, 5)])
    a = sp.Matrix([1, R(-1, 3), 2])
    x = GaussianVector("x", Lam, mean=mu)
    assert expect(quad(x, A, x), [x]) == (A * Lam).trace() + (mu.T * A * mu)[0, 0]
    m, s = (a.T * mu)[0, 0], (a.T * Lam * a)[0, 0]
    assert expect(inner(x, a) ** 4, [x]) == m ** 4 + 6 * m ** 2 * s + 3 * s ** 2
    assert x.moment((1, 0, 0)) == mu[0]


def test_semidefinite_covariance():
    """A singular (PSD, not PD) covariance is allowed: x_0 = x_1 almost surely."""
    x = GaussianVector("x", [[1, 1], [1, 1]])
    assert x.moment((2, 2)) == 3
    assert x.moment((1, 3)) == 3


def test_symbols_and_helpers():
    x = GaussianVector("v", sp.eye(2))
    assert x.symbols == tuple(vector_symbols("v", 2))
    assert [str(s) for s in x.symbols] == ["v_0", "v_1"]
    # 1x1 matrices are accepted as scalars; constants pass through
    assert expect(x.T * x.vec, [x]) == 2
    assert expect(R(5, 2), [x]) == R(5, 2)


def test_bad_covariances():
    with pytest.raises(ValueError, match="square"):
        GaussianVector("x", [[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="symmetric"):
        GaussianVector("x", [[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="positive semidefinite"):
        GaussianVector("x", [[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="positive semidefinite"):
        GaussianVector("x", [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="negative pivot"):
        GaussianVector("x", [[0, 0], [0, -1]])
    GaussianVector("x", [[1, 1, 0], [1, 1, 0], [0, 0, 0]])   # PSD, singular: accepted
    with pytest.raises(ValueError, match="exact"):
        GaussianVector("x", [[0.5]])
    with pytest.raises(ValueError, match="rational"):
        GaussianVector("x", [[sp.sqrt(2)]])
    with pytest.raises(ValueError, match="mean"):
        GaussianVector("x", sp.eye(2), mean=[1, 2, 3])


def test_bad_expressions_and_sizes():
    x = GaussianVector("x", sp.eye(2))
    (a, b) = x.symbols
    with pytest.raises(ValueError, match="not a polynomial"):
        expect(sp.exp(a), [x])
    with pytest.raises(ValueError, match="float"):
        expect(0.5 * a ** 2, [x])
    with pytest.raises(ValueError, match="distinct names"):
        expect(a, [x, GaussianVector("x", sp.eye(2))])
    with pytest.raises(TypeError, match="expect_matrix"):
        expect(x.vec * x.T, [x])
    many = iid_vectors("y", sp.eye(3), 14)            # 42 variables
    with pytest.raises(ValueError, match="too large for the exact elementwise route"):
        expect(sum(v.symbols[0] for v in many), many)
    big = iid_vectors("z", sp.eye(4), 10)              # 40 variables, dense degree 8
    with pytest.raises(ValueError, match="too large for the exact elementwise route"):
        expect((sum(s for v in big for s in v.symbols) + 1) ** 8, big)


def test_degree_eight_twelve_variables_is_fast(monkeypatch):
    """A degree-8 ICL-style expectation in 12 variables (4 vectors of dimension 3), with its work
    counted rather than timed: one pass over the 786 monomials of the expansion, at most one moment
    lookup per vector per monomial, and every moment extracted from an MGF power over the support
    inside one vector (at most 3 variables), never over all 12."""
    Lam = sp.Matrix([[2, R(1, 2), 0], [R(1, 2), 1, R(1, 3)], [0, R(1, 3), R(3, 2)]])
    w = GaussianVector("w", sp.eye(3))
    xs = iid_vectors("x", Lam, 2)
    xq = GaussianVector("q", Lam)
    P = sp.Matrix([[1, R(1, 5), 0], [R(1, 5), 2, R(-1, 7)], [0, R(-1, 7), R(1, 2)]])
    h = sum((inner(w, xi) * xi.vec for xi in xs), sp.zeros(3, 1)) / 2
    err = (quad(h, P, xq) - inner(w, xq)) ** 2
    monomials, lookups, supports = [], [], []
    to_ring, moment, power = elementwise._to_ring, GaussianVector._moment, elementwise._CentredMoments._power
    monkeypatch.setattr(elementwise, "_to_ring", lambda e, g: (lambda r: monomials.append(len(r[1])) or r)(to_ring(e, g)))
    monkeypatch.setattr(GaussianVector, "_moment", lambda self, a: lookups.append(1) or moment(self, a))
    monkeypatch.setattr(elementwise._CentredMoments, "_power",
                        lambda self, sup, m: supports.append(len(sup)) or power(self, sup, m))
    val = expect(err, [w, *xs, xq])
    assert monomials == [786] and len(lookups) <= 4 * 786 and max(supports, default=0) <= 3
    assert val.is_Rational and val > 0
