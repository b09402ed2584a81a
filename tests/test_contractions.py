"""Wick contractions counted up to symmetry (:mod:`icl_proofs.moments.contractions`).

Route 1: the old matching-by-matching enumeration (``expect(..., method="enumerate")``), which shares
only the Σ̂ expansion and the trace canonicalisation with the new route, up to degree 12.
Route 2: the MGF-coefficient engine (:mod:`icl_proofs.moments.elementwise`) at concrete d with exact
rationals, which shares nothing, up to degree 16.
"""

import numpy as np
import pytest
import sympy as sp

from icl_proofs.moments import elementwise as ew
from icl_proofs.moments import traces
from icl_proofs.moments.wick import expect, expect_matrix, gaussian, matrix, sample_cov, tr, vector

N = sp.Symbol("N", positive=True)


def rat_matrix(rng, n):
    return sp.Matrix(n, n, lambda i, j: sp.Rational(int(rng.integers(-3, 4)), int(rng.integers(1, 3))))


def spd(rng, n):
    B = rat_matrix(rng, n)
    return B * B.T + sp.eye(n) / 2


x = gaussian("x", cov="Lambda")
z = gaussian("z")  # identity covariance
A, B, C = matrix("A"), matrix("B"), matrix("C")
Asym = matrix("P", sym=True)
S = sample_cov("S", "Lambda", N)
u, w = vector("u"), vector("w")

#: expressions of degree up to 12 (counting each Σ̂ as two sample vectors)
CASES = {
    "quadratic form, degree 12": lambda: (x.T @ A @ x) ** 6,
    "symmetric A, degree 12": lambda: (x.T @ Asym @ x) ** 6,
    "two forms, degree 12": lambda: (x.T @ A @ x) ** 3 * (x.T @ B @ x) ** 3,
    "two Σ̂ factors, degree 12": lambda: (x.T @ A @ x) ** 3 * (x.T @ S @ B @ S @ x),
    "Σ̂ in the forms, degree 12": lambda: (x.T @ S @ A @ x) ** 2 * (x.T @ B @ x) ** 2,
    "fixed vectors (paths)": lambda: (u.T @ A @ x) ** 2 * (x.T @ B @ w) ** 2 * (x.T @ C @ x),
    "fixed vectors, two Gaussians": lambda: (u.T @ A @ x) * (x.T @ B @ z) * (z.T @ C @ w) * (x.T @ x),
    "traces through vectors": lambda: tr(A @ x @ x.T @ B @ x @ x.T) * tr(C @ x @ x.T) ** 2,
    "mixed covariances": lambda: (x.T @ A @ z) ** 4 * (z.T @ B @ z),
    "Wishart cubic": lambda: tr(B @ S @ A @ S @ C @ S) * (x.T @ A @ x),
    "a sum raised to a power": lambda: (x.T @ A @ x + x.T @ B @ x - 2 * (u.T @ x) ** 2) ** 3,
    "odd: vanishes": lambda: (x.T @ A @ x) ** 2 * (u.T @ x),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_orbits_equal_enumeration(name):
    """Route 1: the orbit count equals the matching-by-matching enumeration exactly."""
    e = CASES[name]()
    assert sp.expand(expect(e) - expect(e, method="enumerate")) == 0


def test_orbits_equal_enumeration_matrix_valued():
    e = S @ A @ S @ x @ x.T @ B @ x @ x.T
    assert (expect_matrix(e) - expect_matrix(e, method="enumerate")).is_zero()


def test_nonzero_and_known_quartic():
    """E[(zᵀz)²] = d² + 2d for z ~ N(0, I): the identity letters collapse to tr(I) = d."""
    assert sp.expand(expect((z.T @ z) ** 2) - (traces.d**2 + 2 * traces.d)) == 0


def _mgf(expr_fn, Lam, Am, vectors):
    return ew.expect(expr_fn(Lam, Am), vectors)


@pytest.mark.parametrize("k,dim", [(8, 1), (8, 2), (7, 2), (5, 3)])
def test_quadratic_form_power_vs_mgf_engine(k, dim):
    """Route 2 (MGF coefficients, exact rationals): E[(xᵀAx)^k] up to degree 16, non-symmetric A."""
    rng = np.random.default_rng(100 * k + dim)
    Lam, Am = spd(rng, dim), rat_matrix(rng, dim)
    sym = expect((x.T @ A @ x) ** k)
    xv = ew.GaussianVector("x", Lam)
    exact = ew.expect(((xv.vec.T * Am * xv.vec)[0, 0]) ** k, [xv])
    assert traces.evaluate_exact(sym, {"Lambda": Lam, "A": Am}) == exact


def test_two_sample_covariances_vs_mgf_engine():
    """Route 2: E[(xᵀAx)³ · xᵀΣ̂BΣ̂x] (degree 12, two Σ̂) at d = 2, N = 2."""
    rng = np.random.default_rng(7)
    Lam, Am, Bm = spd(rng, 2), rat_matrix(rng, 2), rat_matrix(rng, 2)
    sym = expect((x.T @ A @ x) ** 3 * (x.T @ S @ B @ S @ x))
    xv = ew.GaussianVector("x", Lam)
    xs = ew.iid_vectors("s", Lam, 2)
    Se = ew.empirical_cov(xs)
    q = (xv.vec.T * Am * xv.vec)[0, 0] ** 3 * (xv.vec.T * Se * Bm * Se * xv.vec)[0, 0]
    exact = ew.expect(q, [xv] + list(xs))
    assert traces.evaluate_exact(sym, {"Lambda": Lam, "A": Am, "B": Bm}, {N: 2}) == exact


def test_degree_sixteen_is_fast(monkeypatch):
    """The goal of issue 17: E[(xᵀAx)^8], general Σ, in < 2 s.  The matching enumeration took 72 s
    for this, visiting 2,027,025 matchings; the cycle walk closes 502 cycles (counted, not timed: a
    regression to per-matching work fails here on any machine)."""
    from icl_proofs.moments import contractions

    closed = []
    real = contractions.trace_symbol
    monkeypatch.setattr(contractions, "trace_symbol", lambda word: closed.append(1) or real(word))
    r = expect((x.T @ A @ x) ** 8)
    assert 0 < len(closed) <= 1000
    # (2·8 - 1)!! matchings in all: at A = Λ = I (so every atom is d) the sum of the coefficients
    # is E[(zᵀz)^8] at d = 1, i.e. E[g^16] = 15!! for a standard normal g
    at_one = r.xreplace({s: 1 for s in r.free_symbols})
    assert at_one == 2027025


def _random_expression(rng):
    """A product of 2-5 random scalar factors over x, z (Gaussian), u, w (fixed), A, B, Aᵀ, P, Σ̂,
    redrawn until every Gaussian occurs an even number of times (else the moment is trivially 0)."""
    mats = [A, B, A.T, Asym, S, A @ S, S @ B]
    vecs = [("x", x), ("x", x), ("x", x), ("z", z), ("u", u), ("w", w)]
    while True:
        e, count = None, {"x": 0, "z": 0, "u": 0, "w": 0}
        for _ in range(int(rng.integers(2, 6))):
            M = mats[int(rng.integers(len(mats)))]
            if rng.integers(3) == 2:  # a trace through a Gaussian outer product
                n1, v1 = vecs[int(rng.integers(4))]
                f, used = tr(M @ v1 @ v1.T), (n1, n1)
            else:
                (n1, v1), (n2, v2) = vecs[int(rng.integers(len(vecs)))], vecs[int(rng.integers(len(vecs)))]
                f, used = v1.T @ M @ v2, (n1, n2)
            for n in used:
                count[n] += 1
            e = f if e is None else e * f
        if count["x"] % 2 == 0 and count["z"] % 2 == 0 and count["x"] + count["z"] > 0:
            return e


@pytest.mark.parametrize("seed", range(25))
def test_random_products_equal_enumeration(seed):
    """Route 1 on random words: repeated and distinct factors, paths, traces, Σ̂, two Gaussians."""
    e = _random_expression(np.random.default_rng(seed))
    got = expect(e)
    assert got != 0
    assert sp.expand(got - expect(e, method="enumerate")) == 0


def test_unknown_method_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown contraction method 'pairs'"):
        expect((x.T @ A @ x) ** 2, method="pairs")
