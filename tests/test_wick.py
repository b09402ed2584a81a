"""The symbolic Wick engine: published Gaussian identities, each re-checked by a second route
(the MGF-coefficient engine at concrete d with exact rationals)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from icl_proofs.moments import elementwise as ew
from icl_proofs.moments import traces
from icl_proofs.moments.traces import Letter, d, trace_symbol
from icl_proofs.moments.wick import (MatrixPoly, expect, expect_matrix, gaussian, grad, matrix,
                                     sample_cov, tr, vector)
from icl_proofs.strategies import spd_matrices

N = sp.Symbol("N", positive=True)
L, A = Letter("Lambda", sym=True), Letter("A")


def T(*word):
    return trace_symbol(tuple(word))


def rat_matrix(rng, n, m=None):
    m = n if m is None else m
    return sp.Matrix(n, m, lambda i, j: sp.Rational(int(rng.integers(-5, 6)), int(rng.integers(1, 4))))


def spd(rng, n):
    B = rat_matrix(rng, n)
    return B * B.T + sp.eye(n) / 2


# ---------------------------------------------------------------------------- symbolic identities

def test_isserlis_quartic_any_A():
    """Isserlis: E[(xᵀAx)²] = tr(AΛ)² + tr(AΛAΛ) + tr(AΛAᵀΛ) (symbolic d)."""
    x = gaussian("x", cov="Lambda")
    got = expect((x.T @ matrix("A") @ x) ** 2)
    assert got == T(A, L) ** 2 + T(A, L, A, L) + T(A, L, A.T, L)


def test_sextic_symmetric_A():
    """E[(xᵀAx)³] = tr(AΛ)³ + 6 tr(AΛ)tr((AΛ)²) + 8 tr((AΛ)³) for symmetric A."""
    x = gaussian("x", cov="Lambda")
    As = Letter("A", sym=True)
    got = expect((x.T @ matrix("A", sym=True) @ x) ** 3)
    assert got == T(As, L) ** 3 + 6 * T(As, L) * T(As, L, As, L) + 8 * T(As, L, As, L, As, L)


def test_fourth_moment_matrix_zfb23_lemma():
    """zfb23 claim 1: E[x xᵀ A x xᵀ] = Λ(A + Aᵀ)Λ + tr(AΛ)Λ."""
    x = gaussian("x", cov="Lambda")
    got = expect_matrix(x @ x.T @ matrix("A") @ x @ x.T)
    want = MatrixPoly({(L, A, L): 1, (L, A.T, L): 1, (L,): T(A, L)})
    assert (got - want).is_zero()


def test_wishart_second_moment():
    """E[Σ̂ A Σ̂] = ΛAΛ + (ΛAᵀΛ + tr(AΛ)Λ)/N (symbolic N, d)."""
    S = sample_cov("S", "Lambda", N)
    got = expect_matrix(S @ matrix("A") @ S)
    want = MatrixPoly({(L, A, L): 1, (L, A.T, L): 1 / N, (L,): T(A, L) / N})
    assert (got - want).is_zero()


def test_trace_of_identity_is_d():
    """tr E[w wᵀ] = tr I = d for w ~ N(0, I)."""
    w = gaussian("w")
    assert expect(w.T @ w) == d


def test_independent_vectors_factorise():
    x, y = gaussian("x", "Lambda"), gaussian("y", "Psi")
    assert expect((x.T @ y) ** 2) == T(L, Letter("Psi", sym=True))


def test_odd_moments_vanish():
    x = gaussian("x", "Lambda")
    assert expect((x.T @ matrix("A") @ x) * (vector("a").T @ x)) == 0


def test_fixed_vectors_give_bilinear_forms():
    x = gaussian("x", "Lambda")
    a = vector("a")
    got = expect((a.T @ x) ** 2)
    assert str(got) == "a'*Lambda*a"


def test_gradient_matrix_calculus():
    """∂ tr(A X B Xᵀ)/∂X = AXB + AᵀXBᵀ."""
    X, Am, Bm = matrix("X"), matrix("A"), matrix("B")
    e = expect(tr(Am @ X @ Bm @ X.T))
    g = grad(e, "X")
    B_, X_ = Letter("B"), Letter("X")
    want = MatrixPoly({(A, X_, B_): 1, (A.T, X_, B_.T): 1})
    assert (g - want).is_zero()


def test_shape_errors():
    x = gaussian("x")
    with pytest.raises(TypeError):
        x @ x
    with pytest.raises(TypeError):
        expect(x @ x.T)


# ---------------------------------------------------------------------------- second route

@pytest.mark.parametrize("dim", [1, 2, 3])
def test_sextic_vs_mgf_engine(dim):
    """Route 2 (MGF coefficients, exact rationals): E[(xᵀAx)³] for a non-symmetric A."""
    rng = np.random.default_rng(dim)
    Lam, Am = spd(rng, dim), rat_matrix(rng, dim)
    x = gaussian("x", "Lambda")
    sym = expect((x.T @ matrix("A") @ x) ** 3)
    xv = ew.GaussianVector("x", Lam)
    exact = ew.expect(((xv.vec.T * Am * xv.vec)[0, 0]) ** 3, [xv])
    assert traces.evaluate_exact(sym, {"Lambda": Lam, "A": Am}) == exact


@pytest.mark.parametrize("n", [1, 2, 3])
def test_wishart_third_order_vs_mgf_engine(n):
    """Route 2: E[tr(B Σ̂ A Σ̂ C Σ̂)] at d = 2 and N = n (set partitions of three Σ̂'s)."""
    rng = np.random.default_rng(10 + n)
    Lam = spd(rng, 2)
    Am, Bm, Cm = rat_matrix(rng, 2), rat_matrix(rng, 2), rat_matrix(rng, 2)
    S = sample_cov("S", "Lambda", N)
    sym = expect(tr(matrix("B") @ S @ matrix("A") @ S @ matrix("C") @ S))
    xs = ew.iid_vectors("s", Lam, n)
    Se = ew.empirical_cov(xs)
    exact = ew.expect((Bm * Se * Am * Se * Cm * Se).trace(), xs)
    assert traces.evaluate_exact(sym, {"Lambda": Lam, "A": Am, "B": Bm, "C": Cm}, {N: n}) == exact


@settings(max_examples=15, deadline=None)
@given(spd_matrices(min_d=1, max_d=4, max_condition=1e6, exact=True), st.integers(1, 40))
def test_wishart_hypothesis_exact(Lam, n):
    """Hypothesis over d ≤ 4, ill-conditioned exact SPD Λ: E[Σ̂²] (engine) equals the
    closed form ((1+1/N)Λ + tr(Λ)/N)Λ entrywise in exact arithmetic."""
    Lam = sp.Matrix(Lam)
    S = sample_cov("S", "Lambda", N)
    got = expect_matrix(S @ S).evaluate({"Lambda": Lam}, {N: n})
    want = ((1 + sp.Rational(1, n)) * Lam + Lam.trace() / n * sp.eye(Lam.shape[0])) * Lam
    assert sp.simplify(got - want) == sp.zeros(*Lam.shape)


def test_monte_carlo_route_quartic():
    """Route 3 (Monte Carlo, 4·10⁵ samples, α = 10⁻³): E[(xᵀAx)²] at d = 3."""
    from icl_proofs.numeric import montecarlo as mc

    Lam = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
    Am = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0], [0.5, 0.0, 1.0]])
    C = np.linalg.cholesky(Lam)

    def sample(rng, k):
        x = rng.standard_normal((k, 3)) @ C.T
        return np.einsum("ki,ij,kj->k", x, Am, x) ** 2

    est = mc.estimate(sample, 400_000, 7)
    x = gaussian("x", "Lambda")
    exact = traces.evaluate_numpy(expect((x.T @ matrix("A") @ x) ** 2), {"Lambda": Lam, "A": Am})
    z, thr, ok = mc.z_check(est, exact, 1e-3)
    assert ok, (z, est, exact)
