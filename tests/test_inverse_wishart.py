"""Inverse moments of the sample covariance (icl_proofs.moments.inverse_wishart), each checked by
routes independent of its derivation (Bartlett decomposition + invariance):

* route "exact-integration-d1": SymPy integrates against the chi-square density, symbolic N;
* route "exact-integration-d2": SymPy integrates against the 2×2 Wishart density (Σ diagonal,
  symbolic N and Σ, general symbolic A), in the coordinates W12 = r·sqrt(W11·W22);
* route "wishmom-recurrence": the Hillier & Kan (2024) recurrence as stated in the vignette of the
  R package wishmom, solved in SymPy, and its published numeric example;
* route "monte-carlo": prompts drawn and inverted numerically, CLT z-test with stated resolution
  (N = d + 8, so the samples of second moments have finite variance; their fourth moments, which
  the standard-error estimate would need to be accurate, exist only for N > d + 15, so the
  false-alarm rate of these z-tests is approximate: the seeds are fixed, and each Monte-Carlo check
  has a negative control at the same seed).
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest
import sympy as sp

from icl_proofs.claims.base import UserInputError
from icl_proofs.moments import inverse_wishart as iw
from icl_proofs.parallel import using
from icl_proofs.testing import assert_expectation

N = sp.Symbol("N", positive=True)
HALF = sp.Rational(1, 2)


@pytest.fixture(autouse=True)
def _one_process():
    with using(workers=1):  # the numbers do not depend on it; the shared test machine does
        yield


def _cancel_gammas(expr):
    """Ratios Γ(N/2 + a)/Γ(N/2 + b) with a − b an integer, as rational functions of N: each
    Γ(N/2 + c) is rewritten as Γ(N/2 + c₀)·(N/2 + c₀)_(c − c₀), c₀ the smallest shift of its class
    mod 1, after which the base gammas cancel as plain symbols."""
    expr = sp.sympify(expr)
    gammas = [g for g in expr.atoms(sp.gamma) if g.args[0].has(N)]
    shifts = {g: sp.expand(g.args[0] - N / 2) for g in gammas}
    if not all(c.is_Rational for c in shifts.values()):
        raise ValueError(f"unexpected gamma arguments in {expr}")
    base = {}
    for c in shifts.values():
        frac = c - sp.floor(c)
        base[frac] = min(base.get(frac, c), c)
    rewrite = {}
    for g, c in shifts.items():
        c0 = base[c - sp.floor(c)]
        rewrite[g] = sp.gamma(N / 2 + c0) * sp.expand_func(sp.rf(N / 2 + c0, int(c - c0)))
    return sp.factor(sp.cancel(sp.together(expr.xreplace(rewrite))))


def _same(x, y):
    """Exact equality of two rational functions (after the gamma ratios are cancelled)."""
    if isinstance(x, sp.MatrixBase):
        return x.shape == y.shape and all(_same(a, b) for a, b in zip(x, y))
    return sp.cancel(sp.together(_cancel_gammas(x) - _cancel_gammas(y))) == 0


# ------------------------------------------------------------------ route: exact integration, d = 1
@lru_cache(maxsize=None)
def _chi2_inverse_moment(k: int):
    """E[(χ²_N)^(-k)] by integrating the chi-square density (symbolic N)."""
    x = sp.Symbol("x", positive=True)
    density = x ** (N / 2 - 1) * sp.exp(-x / 2) / (2 ** (N / 2) * sp.gamma(N / 2))
    return _cancel_gammas(sp.integrate(x ** (-k) * density, (x, 0, sp.oo), conds="none"))


def _d1_route_failures() -> list[str]:
    """The moments compared with d = 1 exact integration; returns the names that disagree."""
    # d = 1: Σ = (s), Σ̂ = s·χ²_N/N, so Σ̂⁻¹ = N/(s χ²_N); the query x_q ~ N(0, q)
    s, q, a, b, s2 = sp.symbols("s q a b sigma2", positive=True)
    inv1, inv2 = _chi2_inverse_moment(1), _chi2_inverse_moment(2)
    S, A, B, Q = (sp.Matrix([[v]]) for v in (s, a, b, q))
    pairs = {
        "mean_inverse": (iw.mean_inverse(N, S).value, sp.Matrix([[N / s * inv1]])),
        "inverse_square": (iw.inverse_square(N, S).value, sp.Matrix([[N ** 2 / s ** 2 * inv2]])),
        "inverse_sandwich": (iw.inverse_sandwich(A, N, S).value, sp.Matrix([[a * N ** 2 / s ** 2 * inv2]])),
        "trace_product": (iw.trace_product(A, B, N, S).value, a * b * N ** 2 / s ** 2 * inv2),
        "query_quadratic": (iw.query_quadratic(N, S, Q).value, q * N / s * inv1),
        # E[x_q⁴] = 3q²
        "query_quadratic_square": (iw.query_quadratic_square(N, S, Q).value, 3 * q ** 2 * N ** 2 / s ** 2 * inv2),
        # OLS at d = 1: ŵ − w = Σxε/Σx², so E[(ŵ−w)² x_q²] = σ² q E[1/Σx²] = σ² q/s · E[1/χ²_N]
        "ols_icl_error": (iw.ols_icl_error(N, s2, S, Q).value, s2 * q / s * inv1),
    }
    return [name for name, (ours, integrated) in pairs.items() if not _same(ours, integrated)]


def test_d1_exact_integration_all_moments():
    assert _d1_route_failures() == []


def test_d1_existence_conditions_match_integrability():
    # ∫ x^(N/2 − 1 − k) e^(−x/2) dx converges at 0 iff N/2 − k > 0: N > 2 (k = 1), N > 4 (k = 2)
    n = sp.Symbol("n")
    S = sp.Matrix([[1]])
    first = iw.mean_inverse(n, S).condition
    second = iw.inverse_square(n, S).condition
    assert first == sp.StrictGreaterThan(n, 2)
    assert second == sp.StrictGreaterThan(n, 4)


# ------------------------------------------------------------------ route: exact integration, d = 2
s1, s2_ = sp.symbols("s1 s2", positive=True)
_u, _x = sp.symbols("u x", positive=True)
_E0 = (N - 3) / 2     # the 2×2 Wishart density is ∝ det(W)^((N−3)/2) etr(−Σ⁻¹W/2)


@lru_cache(maxsize=None)
def _gamma_integral(c, scale):
    return sp.integrate(_u ** c * sp.exp(-_u / (2 * scale)), (_u, 0, sp.oo), conds="none")


@lru_cache(maxsize=None)
def _radial_integral(j: int, e):
    """∫_{−1}^{1} r^j (1 − r²)^e dr (j even), via r² = x."""
    # SymPy returns a Gauss ₂F₁ at 1; hyperexpand sums it into gamma functions
    return sp.hyperexpand(sp.integrate(_x ** sp.Rational(j - 1, 2) * (1 - _x) ** e, (_x, 0, 1), conds="none"))


def _d2_moment(pu, pv, j, pe):
    """E[W11^pu W22^pv r^j (1 − r²)^pe] for W ~ W_2(N, diag(s1, s2)), W12 = r sqrt(W11 W22)
    (Jacobian sqrt(W11 W22), det W = W11 W22 (1 − r²))."""
    if j % 2:
        return sp.Integer(0)
    num = (_gamma_integral(_E0 + HALF + pu, s1) * _gamma_integral(_E0 + HALF + pv, s2_)
           * _radial_integral(j, _E0 + pe))
    den = _gamma_integral(_E0 + HALF, s1) * _gamma_integral(_E0 + HALF, s2_) * _radial_integral(0, _E0)
    return _cancel_gammas(num / den)


# W⁻¹ entries as monomials (coefficient, pu, pv, j, pe): W⁻¹ = [[W22, −W12], [−W12, W11]]/det
_INV = {
    (0, 0): [(1, -1, 0, 0, -1)],
    (1, 1): [(1, 0, -1, 0, -1)],
    (0, 1): [(-1, -HALF, -HALF, 1, -1)],
}
_INV[(1, 0)] = _INV[(0, 1)]


def _E_inv(i, j):
    return sum(c * _d2_moment(pu, pv, r, pe) for c, pu, pv, r, pe in _INV[(i, j)])


def _E_inv_pair(i, j, k, l):
    out = sp.Integer(0)
    for c1, pu1, pv1, r1, e1 in _INV[(i, j)]:
        for c2, pu2, pv2, r2, e2 in _INV[(k, l)]:
            out += c1 * c2 * _d2_moment(pu1 + pu2, pv1 + pv2, r1 + r2, e1 + e2)
    return out


_D2_A = sp.Matrix(2, 2, sp.symbols("a0:4"))           # general, not symmetric
_D2_B = sp.Matrix(2, 2, sp.symbols("b0:4"))


@lru_cache(maxsize=None)
def _d2_sides():
    """The integration side of each d = 2 comparison (computed once)."""
    A, B = _D2_A, _D2_B
    EW = sp.Matrix(2, 2, lambda i, j: _E_inv(i, j))
    # E[W⁻¹ A W⁻¹]_il = Σ_jk A_jk E[W⁻¹_ij W⁻¹_kl];  Σ̂⁻¹ = N W⁻¹
    sandwich = sp.Matrix(2, 2, lambda i, l: sum(A[j, k] * _E_inv_pair(i, j, k, l)
                                                for j in range(2) for k in range(2)))
    trace_pair = sum(A[j, i] * B[l, k] * _E_inv_pair(i, j, k, l)
                     for i in range(2) for j in range(2) for k in range(2) for l in range(2))
    return {
        "mean_inverse": N * EW,
        "inverse_sandwich": N ** 2 * sandwich,
        "inverse_square": N ** 2 * sandwich.subs(dict(zip(A, sp.eye(2)))),
        "trace_product": N ** 2 * trace_pair,
    }


def _d2_route_failures() -> list[str]:
    Sigma = sp.diag(s1, s2_)
    ours = {
        "mean_inverse": iw.mean_inverse(N, Sigma).value,
        "inverse_sandwich": iw.inverse_sandwich(_D2_A, N, Sigma).value,
        "inverse_square": iw.inverse_square(N, Sigma).value,
        "trace_product": iw.trace_product(_D2_A, _D2_B, N, Sigma).value,
    }
    integrated = _d2_sides()
    return [name for name in ours if not _same(ours[name], integrated[name])]


def test_d2_exact_integration_first_and_second_moments():
    assert _d2_route_failures() == []


def test_d2_existence_condition_matches_integrability():
    # E[(W⁻¹)₁₁²] integrates u^(e0 + 1/2 − 2) near 0 and (1 − r²)^(e0 − 2) near |r| = 1:
    # both integrable (exponent > −1) iff N > 5 = d + 3; first moments: N > 3 = d + 1
    def integrable(*exponents):      # every power x^e integrable at 0: e > −1
        sets = [sp.solve_univariate_inequality(e > -1, N, relational=False) for e in exponents]
        return sp.Intersection(*sets)

    second = integrable(_E0 + HALF - 2, _E0 - 2)   # (W⁻¹)₁₁² = 1/(W11² (1 − r²)²)
    first = integrable(_E0 + HALF - 1, _E0 - 1)    # (W⁻¹)₁₁ = 1/(W11 (1 − r²))
    assert second == sp.Interval.open(5, sp.oo) and first == sp.Interval.open(3, sp.oo)
    assert iw.inverse_square(N, sp.eye(2)).condition == sp.StrictGreaterThan(N, 5)
    assert iw.mean_inverse(N, sp.eye(2)).condition == sp.StrictGreaterThan(N, 3)


# ------------------------------------------------------------------ route: wishmom (Hillier & Kan)
def _hillier_kan_second_moments(n, Sigma):
    """E[W⁻²] and E[tr(W⁻¹) W⁻¹] for W ~ W_m(n, Σ) (real, β = 1) from the recurrence of Hillier &
    Kan (2024) as stated in the wishmom vignette, with ñ = n − m − 1 and E[W⁻¹] = Σ⁻¹/ñ:
      r = 0, λ = (1):  Σ⁻¹ E[tr W⁻¹] = ñ E[W⁻¹ tr W⁻¹] − 2 E[W⁻²]
      r = 1, λ = ():   Σ⁻¹ E[W⁻¹]    = (ñ − 1) E[W⁻²] − E[W⁻¹ tr W⁻¹]
    solved as a linear system in the unknown entries."""
    m = Sigma.rows
    nt = n - m - 1
    Si = Sigma.inv()
    X = sp.Matrix(m, m, lambda i, j: sp.Symbol(f"X{min(i, j)}{max(i, j)}"))
    Y = sp.Matrix(m, m, lambda i, j: sp.Symbol(f"Y{min(i, j)}{max(i, j)}"))
    eqs = list(Si * Si.trace() / nt - (nt * Y - 2 * X)) + list(Si * Si / nt - ((nt - 1) * X - Y))
    sol = sp.solve(eqs, list(X.free_symbols | Y.free_symbols), dict=True)[0]
    return X.subs(sol).applyfunc(sp.factor), Y.subs(sol).applyfunc(sp.factor)


_WM_SIGMA = sp.ImmutableMatrix([[2, 1, 0], [1, 3, 1], [0, 1, 2]])
_WM_L = sp.ImmutableMatrix([[1, 0, 0], [2, 1, 0], [-1, 1, 3]])   # A = L Lᵀ: the route's whitening map
_WM_B = sp.ImmutableMatrix([[1, 2, 0], [0, 1, -1], [3, 0, 2]])


@lru_cache(maxsize=None)
def _wishmom_sides():
    """The recurrence's side of each comparison (computed once)."""
    Sigma, L, B = _WM_SIGMA, _WM_L, _WM_B
    X, Y = _hillier_kan_second_moments(N, Sigma)
    # general A by whitening: V = L⁻¹WL⁻ᵀ ~ W(n, L⁻¹ΣL⁻ᵀ) has V⁻² = Lᵀ W⁻¹AW⁻¹ L,
    # tr(AW⁻¹) = tr(V⁻¹) and tr(BW⁻¹) = tr(L⁻¹BL⁻ᵀ V⁻¹)
    Li = L.inv()
    Xv, Yv = _hillier_kan_second_moments(N, Li * Sigma * Li.T)
    return {
        # the recurrence's boundary condition E[W⁻¹] = Σ⁻¹/ñ, ñ = n − m − 1
        "mean_inverse": N * Sigma.inv() / (N - 3 - 1),
        "inverse_square": N ** 2 * X,
        # tr(B E[tr(W⁻¹) W⁻¹]) = E[tr(W⁻¹) tr(BW⁻¹)]
        "trace_product(I, B)": N ** 2 * (B * Y).trace(),
        "inverse_sandwich": N ** 2 * Li.T * Xv * Li,
        "trace_product(A, B)": N ** 2 * (Li * B * Li.T * Yv).trace(),
    }


def _wishmom_route_failures() -> list[str]:
    Sigma, A, B = sp.Matrix(_WM_SIGMA), sp.Matrix(_WM_L * _WM_L.T), sp.Matrix(_WM_B)
    ours = {
        "mean_inverse": iw.mean_inverse(N, Sigma).value,
        "inverse_square": iw.inverse_square(N, Sigma).value,
        "trace_product(I, B)": iw.trace_product(sp.eye(3), B, N, Sigma).value,
        "inverse_sandwich": iw.inverse_sandwich(A, N, Sigma).value,
        "trace_product(A, B)": iw.trace_product(A, B, N, Sigma).value,
    }
    published = _wishmom_sides()
    return [name for name in ours if not _same(ours[name], published[name])]


def test_wishmom_recurrence_second_moments():
    assert _wishmom_route_failures() == []


# ------------------------------------------------------------------ negative controls of the routes
def _mutants():
    c = iw.derive_coefficients()
    n_, d_ = sorted(c.alpha.free_symbols, key=str)[::-1]
    return {
        # E[W⁻¹] = Σ⁻¹/(n − d): the classical off-by-one
        "alpha off by one": dataclasses.replace(c, alpha=1 / (n_ - d_)),
        # the two invariant coefficients exchanged
        "a and b swapped": dataclasses.replace(c, a=c.b, b=c.a),
        # the trace/transpose coefficient b doubled
        "b doubled": dataclasses.replace(c, b=2 * c.b),
    }


@pytest.mark.parametrize("route", ["d1", "d2", "wishmom"])
@pytest.mark.parametrize("mutant", ["alpha off by one", "a and b swapped", "b doubled"])
def test_routes_reject_mutated_coefficients(monkeypatch, route, mutant):
    mutated = _mutants()[mutant]
    monkeypatch.setattr(iw, "derive_coefficients", lambda: mutated)
    failures = {"d1": _d1_route_failures, "d2": _d2_route_failures, "wishmom": _wishmom_route_failures}[route]()
    assert failures, f"route {route} accepted the mutant '{mutant}'"


def test_wishmom_published_example():
    # vignette, iwishmom Example 1: E[tr(W⁻¹)²], W ~ W_2(20, [[25, 49], [49, 109]]) = 0.0006680892
    S = sp.Matrix([[25, 49], [49, 109]])
    ours = iw.trace_product(sp.eye(2), sp.eye(2), 20, S).value / 20 ** 2   # Σ̂ = W/N
    assert abs(float(ours) - 0.0006680892) <= 0.5e-10                      # the 7 printed digits
    wrong = iw.trace_product(sp.eye(2), sp.eye(2), 21, S).value / 21 ** 2  # negative control: n off by one
    assert abs(float(wrong) - 0.0006680892) > 1e-6


# ------------------------------------------------------------------ route: Monte Carlo
D, NN = 3, 11                                       # N = d + 8: finite variance of second moments
SIGMA = sp.Matrix([[2, HALF, 0], [HALF, 1, sp.Rational(3, 10)], [0, sp.Rational(3, 10), sp.Rational(3, 2)]])
AM = sp.Matrix([[1, 2, 0], [0, 1, -1], [1, 0, 2]])  # not symmetric
BM = sp.Matrix([[2, 0, 1], [1, 1, 0], [0, -1, 1]])
CM = sp.Matrix([[1, 0, 1], [2, 1, 0], [0, 1, 3]])  # contraction: compare tr(C · E[...])
_np = lambda M: np.array(M.tolist(), dtype=float)  # noqa: E731


def _mc(f):
    """A sampler of f(Σ̂⁻¹ batch) (scalars) from freshly drawn prompts."""
    def sampler(rng, k):
        return f(iw.sample_inverse_covariances(rng, k, NN, _np(SIGMA)))
    return sampler


MC_CASES = [
    ("E[Σ̂⁻¹]", _mc(lambda S: np.einsum("ij,kji->k", _np(CM), S)),
     lambda: (CM * iw.mean_inverse(NN, SIGMA).value).trace()),
    ("E[Σ̂⁻¹AΣ̂⁻¹]", _mc(lambda S: np.einsum("ij,kji->k", _np(CM), S @ _np(AM) @ S)),
     lambda: (CM * iw.inverse_sandwich(AM, NN, SIGMA).value).trace()),
    ("E[Σ̂⁻²]", _mc(lambda S: np.einsum("ij,kji->k", _np(CM), S @ S)),
     lambda: (CM * iw.inverse_square(NN, SIGMA).value).trace()),
    ("E[tr(AΣ̂⁻¹)tr(BΣ̂⁻¹)]",
     _mc(lambda S: np.einsum("ij,kji->k", _np(AM), S) * np.einsum("ij,kji->k", _np(BM), S)),
     lambda: iw.trace_product(AM, BM, NN, SIGMA).value),
]


@pytest.mark.parametrize("name, sampler, claimed", MC_CASES)
def test_monte_carlo_moments(name, sampler, claimed):
    agreement = assert_expectation(sampler, claimed(), n=200_000, seed=18)
    assert agreement.route == "monte-carlo" and agreement.resolution["relative"] <= 0.05, name


@pytest.mark.parametrize("index, mutant", [(0, "alpha off by one"), (1, "b doubled"), (2, "b doubled"),
                                           (3, "b doubled")])
def test_monte_carlo_rejects_mutated_coefficients(monkeypatch, index, mutant):
    # negative control of the Monte-Carlo route: the mutant moves the value by 12-42 % here (the
    # "a and b swapped" mutant moves E[tr tr] by only 1.7 %, below this route's resolution, so the
    # exact routes above are the ones that catch it)
    name, sampler, claimed = MC_CASES[index]
    mutated = _mutants()[mutant]
    monkeypatch.setattr(iw, "derive_coefficients", lambda: mutated)
    with pytest.raises(AssertionError, match="expectation differs"):
        assert_expectation(sampler, claimed(), n=200_000, seed=18)


def test_monte_carlo_query_quadratic_forms():
    Sq = sp.Matrix([[1, 0, 0], [0, 2, 1], [0, 1, 2]])     # a shifted query covariance
    Lq = np.linalg.cholesky(_np(Sq))

    def quad(rng, k):
        S = iw.sample_inverse_covariances(rng, k, NN, _np(SIGMA))
        xq = rng.standard_normal((k, D)) @ Lq.T
        return np.einsum("ki,kij,kj->k", xq, S, xq)

    assert_expectation(quad, iw.query_quadratic(NN, SIGMA, Sq).value, n=200_000, seed=1)
    assert_expectation(lambda rng, k: quad(rng, k) ** 2, iw.query_quadratic_square(NN, SIGMA, Sq).value,
                       n=400_000, seed=2)


@pytest.mark.parametrize("Sq, noise", [(None, False), ("shift", False), (None, True)])
def test_monte_carlo_ols_icl_error(Sq, noise):
    sigma2 = sp.Rational(1, 2)
    Sq = sp.Matrix([[1, 0, 0], [0, 2, 1], [0, 1, 2]]) if Sq == "shift" else None
    derived = iw.ols_icl_error(NN, sigma2, SIGMA, Sq, with_label_noise=noise).value

    def sampler(rng, k):
        return iw.sample_ols_icl_error(rng, k, NN, _np(SIGMA), float(sigma2),
                                       None if Sq is None else _np(Sq), w=[1.0, -2.0, 0.5],
                                       with_label_noise=noise)

    assert_expectation(sampler, derived, n=200_000, seed=3)


def test_ols_icl_error_symbolic_form():
    d, s2 = iw.d_sym, sp.Symbol("sigma2", nonnegative=True)
    assert_expectation(iw.ols_icl_error(N=N, sigma2=s2).value, s2 * d / (N - d - 1))
    assert_expectation(iw.ols_icl_error(N=N, sigma2=s2, with_label_noise=True).value,
                       s2 * (N - 1) / (N - d - 1))


def test_monte_carlo_negative_control_rejects_the_wrong_denominator():
    # the classical slip E[W⁻¹] = Σ⁻¹/(n − d) instead of /(n − d − 1): Monte Carlo must reject it
    sampler = _mc(lambda S: np.einsum("ij,kji->k", _np(CM), S))
    wrong = (CM * SIGMA.inv()).trace() * NN / (NN - D)
    with pytest.raises(AssertionError, match="expectation differs"):
        assert_expectation(sampler, wrong, n=200_000, seed=18)


# ------------------------------------------------------------------ symbolic shape and refusals
def test_symbolic_results_and_conditions():
    d = iw.d_sym
    Sigma = sp.MatrixSymbol("Sigma", d, d)
    m = iw.mean_inverse(N=N)
    assert m.value == N / (N - d - 1) * sp.Inverse(Sigma)
    assert m.condition == sp.StrictGreaterThan(N, d + 1)
    for f in (iw.inverse_square, iw.inverse_sandwich, iw.trace_product, iw.query_quadratic_square):
        assert f(N=N).condition == sp.StrictGreaterThan(N, d + 3), f.__name__
    assert iw.query_quadratic(N=N).value == N * d / (N - d - 1)
    c = iw.derive_coefficients()     # the derivation's own symbols n, d
    n_, d_ = sorted(c.a.free_symbols, key=str)[::-1]
    assert sp.simplify(c.a + c.b - 1 / ((n_ - d_) * (n_ - d_ - 3))) == 0


@pytest.mark.parametrize("call, message", [
    (lambda: iw.mean_inverse(N=4, Sigma=sp.eye(3)), "E[Σ̂⁻¹] does not exist: it needs N > d + 1, here N = 4, d = 3"),
    (lambda: iw.inverse_square(N=6, Sigma=sp.eye(3)), "E[Σ̂⁻²] does not exist: it needs N > d + 3, here N = 6, d = 3"),
    (lambda: iw.inverse_sandwich(sp.eye(3), N=6, Sigma=sp.eye(3)), "E[Σ̂⁻¹AΣ̂⁻¹] does not exist"),
    (lambda: iw.query_quadratic(N=4, Sigma=sp.eye(3)), "E[x_qᵀ Σ̂⁻¹ x_q] does not exist: it needs N > d + 1"),
    (lambda: iw.query_quadratic_square(N=6, Sigma=sp.eye(3)), "E[(x_qᵀ Σ̂⁻¹ x_q)²] does not exist"),
    (lambda: iw.trace_product(sp.eye(2), sp.eye(2), N=5, Sigma=sp.eye(2)), "E[tr(AΣ̂⁻¹) tr(BΣ̂⁻¹)] does not exist"),
    (lambda: iw.ols_icl_error(N=3, sigma2=1, Sigma=sp.eye(2)),
     "the OLS in-context error does not exist: it needs N > d + 1"),
    (lambda: iw.ols_icl_error(N=9, sigma2=-1, Sigma=sp.eye(2)), "sigma2 must be >= 0"),
    (lambda: iw.mean_inverse(N=sp.Rational(15, 2), Sigma=sp.eye(2)), "positive integer"),
    (lambda: iw.mean_inverse(N=9, Sigma=sp.Matrix([[1, 2], [0, 1]])), "symmetric"),
    (lambda: iw.mean_inverse(N=9, Sigma=sp.Matrix([[1, 2], [2, 1]])), "positive definite"),
    (lambda: iw.inverse_sandwich(sp.eye(3), N=9, Sigma=sp.eye(2)), "A must be 2×2 like Sigma, got 3×3"),
    (lambda: iw.ols_icl_error(9, 1, sp.eye(2), sp.eye(3)), "Sigma_q must be 2×2"),
    (lambda: iw.mean_inverse(N=9, Sigma="I"), "Sigma must be a square matrix"),
])
def test_refusals_are_one_line(call, message):
    with pytest.raises(UserInputError) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_boundary_cases_exist():
    # the first N where each moment exists is accepted (strict inequality, not off by one)
    assert iw.mean_inverse(N=5, Sigma=sp.eye(3)).value == sp.eye(3) * 5
    assert iw.inverse_square(N=7, Sigma=sp.eye(3)).value.is_symmetric()
