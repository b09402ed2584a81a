"""L steps of preconditioned GD on the prompt (icl_proofs.moments.iterated_gd), each derived
result checked by a route independent of the Wick-engine derivation:

* route "chi-square-d1": at d = 1 everything commutes and Σ̂ = χ²_N/N, so the loss is a polynomial
  in chi-square moments — symbolic N, η and σ², every L ≤ 3;
* route "elementwise-d2": the exact MGF engine (icl_proofs.moments.elementwise, no shared code) on
  the *literal* GD iteration written with d = 2 coordinates, symbolic η;
* route "monte-carlo": the GD iteration run on sampled prompts, CLT z-test with stated resolution;
* route "zfb23-printed": the one-layer optimum against zfb23's printed d(d+1)/(N+d+1) and Γ;
* route "exact-linear-solve": the optimal one-layer preconditioner at a concrete Λ by solving the
  gradient equations over all entries of Γ (no commuting ansatz);
* route "numeric-minimisation": the exact algebraic optimal step against a float minimiser.

Every route has a negative control: a wrong formula (N + 1 in place of N, or a mutated step) must fail.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from icl_proofs.claims.base import UserInputError
from icl_proofs.moments import elementwise as ew
from icl_proofs.moments import iterated_gd as g
from icl_proofs.moments import traces, wick
from icl_proofs.moments.inverse_wishart import N_sym as N
from icl_proofs.moments.inverse_wishart import d_sym as d
from icl_proofs.parallel import using
from icl_proofs.testing import assert_expectation

eta, s2 = g.eta_sym, g.sigma2_sym
HALF, QUARTER = sp.Rational(1, 2), sp.Rational(1, 4)


@pytest.fixture(autouse=True)
def _one_process():
    with using(workers=1):  # the numbers do not depend on it; the shared test machine does
        yield


def _wrong_N(expr):
    """The classic slip: N + 1 written in place of N."""
    return expr.subs(N, N + 1)


# ------------------------------------------------------------------ the DSL matrix power (wick hunk)
def test_matrix_power_is_the_repeated_product():
    # route: `M ** 3` against the explicit product M @ M @ M, and M ** 0 against the identity
    S = wick.sample_cov("S", None, N)
    M = wick.identity() - eta * S
    w, x = wick.gaussian("w"), wick.gaussian("x_q")
    assert sp.expand(wick.expect((w.T @ M ** 3 @ x) ** 2) - wick.expect((w.T @ M @ M @ M @ x) ** 2)) == 0
    assert wick.expect((w.T @ M ** 0 @ x) ** 2) == d
    # a wrong power is seen: M ** 2 is not M ** 3
    assert sp.expand(wick.expect((w.T @ M ** 2 @ x) ** 2) - wick.expect((w.T @ M ** 3 @ x) ** 2)) != 0


@pytest.mark.parametrize("bad", [lambda M: M ** -1, lambda M: M ** 1.5, lambda M: wick.gaussian("v") ** 2])
def test_matrix_power_refusals_are_one_line(bad):
    M = wick.identity() - eta * wick.sample_cov("S", None, N)
    with pytest.raises(TypeError) as err:
        bad(M)
    assert "\n" not in str(err.value) and "non-negative integer" in str(err.value)


# ------------------------------------------------------------------ route chi-square-d1
@pytest.mark.parametrize("L", [1, 2, 3])
def test_chi_square_route_at_d1(L):
    derived = g.gd_loss(L).subs(d, 1)
    agreement = assert_expectation(derived, g.loss_d1_chi_square(L))
    assert agreement.route == "symbolic"
    # negative control: the chi-square route with N + 1 in place of N must be told apart
    with pytest.raises(AssertionError, match="differs"):
        assert_expectation(derived, _wrong_N(g.loss_d1_chi_square(L)))


def test_per_layer_steps_at_d1():
    # distinct steps per layer (isotropic: the layers commute, so the loss is symmetric in them)
    e1, e2 = g.step_symbols(2)
    derived = g.gd_loss(2, (e1, e2))
    assert sp.expand(derived - derived.subs({e1: e2, e2: e1}, simultaneous=True)) == 0
    assert sp.expand(derived.subs({e1: eta, e2: eta}) - g.gd_loss(2)) == 0


# ------------------------------------------------------------------ route elementwise-d2
def _elementwise_gd_loss(dim: int, n: int, L: int, noise) -> sp.Expr:
    """The loss by the MGF engine: the literal iteration v ← v − η Xᵀ(Xv − y)/n on coordinates."""
    xs = ew.iid_vectors("x", sp.eye(dim), n)
    w, xq = ew.GaussianVector("w", sp.eye(dim)), ew.GaussianVector("q", sp.eye(dim))
    eps = ew.GaussianVector("e", noise * sp.eye(n))
    X = sp.Matrix([[xs[i].symbols[j] for j in range(dim)] for i in range(n)])
    y = X * w.vec + eps.vec
    v = sp.zeros(dim, 1)
    for _ in range(L):
        v = v - eta * X.T * (X * v - y) / n
    err = (xq.T * (v - w.vec))[0, 0]
    return ew.expect(sp.expand(err ** 2), xs + [w, xq, eps])


@pytest.mark.parametrize("n, L", [(2, 1), (3, 1), (2, 2), (3, 2)])
def test_elementwise_route_at_d2(n, L):
    derived = g.gd_loss(L, N=n, sigma2=HALF).subs(d, 2)
    exact = _elementwise_gd_loss(2, n, L, HALF)
    assert assert_expectation(derived, exact).route == "symbolic"
    with pytest.raises(AssertionError, match="differs"):       # negative control: N + 1 for N
        assert_expectation(_wrong_N(g.gd_loss(L, sigma2=HALF)).subs({d: 2, N: n}), exact)


@pytest.mark.slow
def test_elementwise_route_at_d2_three_layers():
    derived = g.gd_loss(3, N=2, sigma2=HALF).subs(d, 2)
    assert assert_expectation(derived, _elementwise_gd_loss(2, 2, 3, HALF)).route == "symbolic"


# ------------------------------------------------------------------ route monte-carlo
@pytest.mark.parametrize("L", [2, 3])
def test_monte_carlo_isotropic(L):
    point = {d: 3, N: 6, eta: HALF, s2: QUARTER}
    sampler = lambda rng, k: g.sample_gd_error(rng, k, 3, 6, [0.5] * L, 0.25)  # noqa: E731
    agreement = assert_expectation(sampler, g.gd_loss(L), exact_at=point, n=200_000, seed=31)
    assert agreement.resolution["relative"] <= 0.05
    # negative control at the same seed: N + 1 in place of N (an 11-17 % error) is rejected
    with pytest.raises(AssertionError, match="expectation differs"):
        assert_expectation(sampler, _wrong_N(g.gd_loss(L)), exact_at=point, n=200_000, seed=31)


LAM = sp.Matrix([[2, HALF], [HALF, 1]])
GAM = sp.Matrix([[HALF, sp.Rational(1, 5)], [0, sp.Rational(3, 4)]])   # not symmetric: a general Γ


def test_monte_carlo_general_covariance_and_preconditioner():
    # per-layer steps, a non-isotropic Λ and a non-symmetric preconditioner Γ
    steps = (HALF, QUARTER)
    derived = g.gd_loss(2, steps, N=5, sigma2=QUARTER, Lambda="Lambda", Gamma="Gamma")
    value = traces.evaluate_exact(derived, {"Lambda": LAM, "Gamma": GAM})
    lam, gam = np.array(LAM, dtype=float), np.array(GAM, dtype=float)
    sampler = lambda rng, k: g.sample_gd_error(rng, k, 2, 5, [0.5, 0.25], 0.25, lam, gam)  # noqa: E731
    agreement = assert_expectation(sampler, value, n=200_000, seed=32)
    assert agreement.resolution["relative"] <= 0.05
    # the order of the layers does not matter even though Γ and Λ do not commute: every
    # M_l = I − η_l ΓΣ̂ is a polynomial in the one matrix ΓΣ̂ (a property the derivation must keep)
    swapped = traces.evaluate_exact(g.gd_loss(2, steps[::-1], N=5, sigma2=QUARTER, Lambda="Lambda",
                                              Gamma="Gamma"), {"Lambda": LAM, "Gamma": GAM})
    assert swapped == value
    # negative control at the same seed: N + 1 in place of N (a 7 % error) is rejected
    wrong = traces.evaluate_exact(_wrong_N(g.gd_loss(2, steps, sigma2=QUARTER, Lambda="Lambda", Gamma="Gamma")),
                                  {"Lambda": LAM, "Gamma": GAM}).subs(N, 5)
    with pytest.raises(AssertionError, match="expectation differs"):
        assert_expectation(sampler, wrong, n=200_000, seed=32)


# ------------------------------------------------------------------ optimal steps and the gap
def test_one_layer_optimum_is_zfb23s():
    # route zfb23-printed: η* = N/(N + d + 1) and min loss d(d + 1)/(N + d + 1) (zfb23 Thm 4.1, Λ = I)
    eta_star, loss_star = g.one_layer_optimum(0)
    assert_expectation(eta_star, N / (N + d + 1))
    assert_expectation(loss_star, d * (d + 1) / (N + d + 1))
    with pytest.raises(AssertionError, match="differs"):
        assert_expectation(loss_star, d * (d + 1) / (N + d + 2))


def test_optimal_preconditioner_is_zfb23s_gamma():
    # route zfb23-printed: Γ* = ((1 + 1/N) Λ + tr(Λ)/N · I)⁻¹, as a function of an eigenvalue λ
    trL = traces.trace_symbol((traces.Letter("Lambda", sym=True),))
    lam = g.lam_sym
    assert_expectation(g.optimal_preconditioner_one_layer(0), 1 / ((1 + 1 / N) * lam + trL / N))
    with pytest.raises(AssertionError, match="differs"):
        assert_expectation(g.optimal_preconditioner_one_layer(0), 1 / ((1 + 1 / N) * lam + trL / (N + 1)))


def test_optimal_preconditioner_by_exact_linear_solve():
    # route exact-linear-solve: all four entries of Γ free at a concrete Λ, σ² and N; the loss is a
    # convex quadratic, its stationary point solved exactly, compared with g(Λ) from the ansatz
    n = 7
    G = sp.Matrix(2, 2, sp.symbols("g0:4"))
    loss = traces.substitute(g.gd_loss(1, 1, N=n, sigma2=QUARTER, Lambda="Lambda", Gamma="Gamma"),
                             {"Lambda": LAM, "Gamma": G})
    sol = sp.solve([sp.diff(loss, v) for v in G], list(G), dict=True)
    assert len(sol) == 1
    gamma_solve = G.subs(sol[0])
    f = g.optimal_preconditioner_one_layer(QUARTER, N=n).subs(
        traces.trace_symbol((traces.Letter("Lambda", sym=True),)), LAM.trace())
    P, D = LAM.diagonalize(normalize=True)
    gamma_ansatz = sp.simplify(P * sp.diag(*[f.subs(g.lam_sym, D[i, i]) for i in range(2)]) * P.T)
    assert sp.simplify(gamma_solve - gamma_ansatz) == sp.zeros(2, 2)
    # negative control: the noise-free Γ* is not the optimum when σ² = 1/4
    f0 = g.optimal_preconditioner_one_layer(0, N=n).subs(
        traces.trace_symbol((traces.Letter("Lambda", sym=True),)), LAM.trace())
    wrong = sp.simplify(P * sp.diag(*[f0.subs(g.lam_sym, D[i, i]) for i in range(2)]) * P.T)
    assert sp.simplify(gamma_solve - wrong) != sp.zeros(2, 2)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_optimal_step_certificate_and_numeric_minimum(L):
    opt = g.optimal_step(L, 3, 10)
    loss = g.gd_loss(L, sigma2=0).subs({d: 3, N: 10})
    # certificate: η* is a root of ∂loss/∂η (exactly: its minimal polynomial divides the derivative)
    deriv = sp.Poly(sp.diff(loss, eta), eta)
    if opt.eta.is_Rational:
        assert deriv.eval(opt.eta) == 0
    else:                       # a CRootOf: the (irreducible) polynomial defining it divides ∂loss/∂η
        defining = sp.Poly(opt.eta.poly.as_expr().subs(opt.eta.poly.gen, eta), eta)
        assert deriv.rem(defining).is_zero
    assert opt.leading > 0 and len(opt.critical_points) >= 1
    # route numeric-minimisation: a dense float grid plus a bounded scalar minimiser agree
    from scipy.optimize import minimize_scalar
    f = sp.lambdify(eta, loss)
    grid = np.linspace(0.0, 2.0, 4001)
    start = grid[np.argmin(f(grid))]
    res = minimize_scalar(f, bounds=(start - 1e-3, start + 1e-3), method="bounded", options={"xatol": 1e-12})
    assert abs(res.x - float(opt.eta)) < 1e-6 and abs(res.fun - float(opt.loss)) < 1e-10
    # negative control: a perturbed step is strictly worse
    assert f(float(opt.eta) + 1e-2) > float(opt.loss)


def test_more_layers_help_and_the_gap():
    losses = [g.optimal_step(L, 3, 10).loss for L in (1, 2, 3)]
    assert sp.N(losses[0] - losses[1], 30) > 0 and sp.N(losses[1] - losses[2], 30) > 0
    gap, opt2, loss1 = g.gap_to_one_layer(2, 3, 10)
    assert loss1 == sp.Rational(3 * 4, 14) == losses[0]           # zfb23: d(d+1)/(N+d+1)
    assert sp.N(gap, 30) < 0 and sp.N(gap - (opt2.loss - loss1), 30) == 0


def test_optimal_step_at_d1_agrees_with_the_chi_square_route():
    # the optimiser fed by the Wick derivation vs a numeric minimiser of the chi-square route
    from scipy.optimize import minimize_scalar
    for L in (2, 3):
        f = sp.lambdify(eta, g.loss_d1_chi_square(L, N=5, sigma2=0))
        res = minimize_scalar(f, bounds=(0.0, 1.5), method="bounded", options={"xatol": 1e-12})
        assert abs(res.x - float(g.optimal_step(L, 1, 5).eta)) < 1e-6


@pytest.mark.parametrize("call, message", [
    (lambda: g.gd_loss(4), "L ≤ 3"),
    (lambda: g.gd_loss(0), "positive integer"),
    (lambda: g.gd_loss(2, (eta,)), "one step per layer"),
    (lambda: g.optimal_step(2, d, 5), "must be a number"),
    (lambda: g.optimal_step(2, 3, 0), "integers d, N"),
])
def test_refusals_are_one_line(call, message):
    with pytest.raises(UserInputError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ one step per layer
def _critical_points_two_layers(loss, e1, e2):
    """Route groebner: every real critical point of the loss in (η₁, η₂), from a lex Gröbner basis."""
    G = sp.groebner([sp.diff(loss, e1), sp.diff(loss, e2)], e1, e2, order="lex")
    last = [p for p in G.exprs if not p.has(e1)]
    assert len(last) == 1
    points = []
    for r2 in sp.real_roots(sp.Poly(last[0], e2)):
        for p in G.exprs:
            if p.has(e1):
                for r1 in sp.real_roots(sp.Poly(sp.nsimplify(sp.N(p.subs(e2, r2), 60), rational=True), e1)):
                    points.append((sp.N(r1, 40), sp.N(r2, 40)))
    return points


def test_per_layer_optimum_by_groebner_enumeration():
    opt = g.optimal_steps_per_layer(2, 3, 10)
    e1, e2 = g.step_symbols(2)
    loss = g.gd_loss(2, (e1, e2), sigma2=0).subs({d: 3, N: 10})
    f = sp.lambdify((e1, e2), loss)
    pts = _critical_points_two_layers(loss, e1, e2)
    best = min(pts, key=lambda p: f(float(p[0]), float(p[1])))
    assert abs(f(float(best[0]), float(best[1])) - float(opt.loss)) < 1e-9
    assert all(abs(float(x) - float(y)) < 1e-9 for x, y in zip(sorted(best, key=float), opt.steps))
    # the per-layer optimum is strictly better than the shared step's (negative control: the
    # shared optimum is a critical point too, but not the minimum)
    shared = g.optimal_step(2, 3, 10)
    assert sp.N(shared.loss - opt.loss, 30) > 0
    assert any(abs(float(p[0]) - float(shared.eta)) < 1e-9 and abs(float(p[1]) - float(shared.eta)) < 1e-9
               for p in pts)


@pytest.mark.parametrize("L", [2, 3])
def test_per_layer_optimum_by_monte_carlo(L):
    opt = g.optimal_steps_per_layer(L, 3, 10, QUARTER)
    steps = [float(s) for s in opt.steps]
    sampler = lambda rng, k: g.sample_gd_error(rng, k, 3, 10, steps, 0.25)  # noqa: E731
    agreement = assert_expectation(sampler, opt.loss, n=200_000, seed=33)
    assert agreement.resolution["relative"] <= 0.05
    assert g.optimal_steps_per_layer(1, 3, 10, QUARTER).loss == g.one_layer_optimum(QUARTER)[1].subs({d: 3, N: 10})
    # negative control: the shared-step optimum's loss is not the per-layer optimum's, and MC sees it
    with pytest.raises(AssertionError, match="expectation differs"):
        assert_expectation(sampler, g.optimal_step(L, 3, 10, QUARTER).loss, n=200_000, seed=33)


# ------------------------------------------------------------------ shared step, general covariance
@pytest.mark.parametrize("L", [1, 2])
def test_optimal_step_with_a_covariance(L):
    opt = g.optimal_step(L, 2, 7, QUARTER, Lambda=LAM)
    # route numeric-minimisation on the exactly evaluated loss
    from scipy.optimize import minimize_scalar
    loss = traces.evaluate_exact(g.gd_loss(L, sigma2=QUARTER, N=7, Lambda="Lambda"), {"Lambda": LAM})
    f = sp.lambdify(eta, loss)
    grid = np.linspace(0.0, 1.5, 3001)
    start = grid[np.argmin(f(grid))]
    res = minimize_scalar(f, bounds=(start - 1e-3, start + 1e-3), method="bounded", options={"xatol": 1e-12})
    assert abs(res.x - float(opt.eta)) < 1e-6
    # route monte-carlo: the literal iteration at η* has the claimed optimal loss
    lam = np.array(LAM, dtype=float)
    sampler = lambda rng, k: g.sample_gd_error(rng, k, 2, 7, [float(opt.eta)] * L, 0.25, lam)  # noqa: E731
    assert assert_expectation(sampler, opt.loss, n=200_000, seed=34).resolution["relative"] <= 0.05
    # negative control: the isotropic optimum at the same sizes is a different number, and MC sees it
    with pytest.raises(AssertionError, match="expectation differs"):
        assert_expectation(sampler, g.optimal_step(L, 2, 7, QUARTER).loss, n=200_000, seed=34)


def test_step_equation_roots_are_the_optimal_steps():
    # L = 1: zfb23's η* = N/(N + d + 1) is the root; L = 2: the certified optimum is a root at (3, 10)
    assert sp.solve(g.step_equation(1, 0), eta) == [N / (N + d + 1)]
    eq2 = sp.Poly(g.step_equation(2, 0).subs({d: 3, N: 10}), eta)
    root = g.optimal_step(2, 3, 10).eta                               # a CRootOf: exact divisibility
    assert eq2.rem(sp.Poly(root.poly.as_expr().subs(root.poly.gen, eta), eta)).is_zero
    assert abs(eq2.eval(sp.Rational(2, 3))) > 1e-3                  # negative control: not any step


def test_covariance_refusals_are_one_line():
    with pytest.raises(UserInputError, match="positive-definite") as err:
        g.optimal_step(1, 2, 7, Lambda=sp.Matrix([[1, 2], [2, 1]]))
    assert "\n" not in str(err.value)
    with pytest.raises(UserInputError, match="rational"):
        g.optimal_step(1, 2, 7, Lambda=sp.Matrix([[sp.sqrt(2), 0], [0, 1]]))


# ------------------------------------------------------------------ per-layer optimum, proportional limit
@pytest.mark.parametrize("L", [1, 2, 3])
def test_per_layer_optimum_limit(L):
    from icl_proofs.moments.proportional import alpha_sym as a, proportional_limit
    loss_per_d, sigma = g.optimal_steps_per_layer_limit(L)
    assert sp.simplify(loss_per_d - 1 / sum(a ** k for k in range(L + 1))) == 0
    if L == 1:   # route zfb23: the limit of the printed d(d+1)/(N+d+1)
        assert proportional_limit(d * (d + 1) / (N + d + 1)).value == loss_per_d
    # route optimise-then-limit: minimise the finite-(d, N) loss over the steps' elementary symmetric
    # polynomials exactly (symbolic d, N = αd), then take d → ∞ — the tool takes the limit first
    from sympy.polys.polyfuncs import symmetrize
    finite = g.gd_loss(L, g.step_symbols(L), sigma2=0).subs(N, a * d)
    q, rem, defs = symmetrize(sp.expand(finite), *g.step_symbols(L), formal=True)
    elem = [v for v, _ in defs]
    sol = sp.solve([sp.diff(q, v) for v in elem], elem, dict=True)[0]
    finite_min = sp.factor(q.subs(sol))
    assert rem == 0 and proportional_limit(finite_min, {}).value == sp.factor(loss_per_d)
    # negative control: the shared-step neighbour 1/(1 + α + … + α^(L−1)) is not the limit
    assert sp.simplify(loss_per_d - 1 / sum(a ** k for k in range(L))) != 0


def test_per_layer_optimum_under_strong_noise():
    # σ² = 10: the unconstrained optimum in σ needs complex steps; for L = 2 the answer is the
    # equal-steps boundary.  Route grid: a dense float grid over (η₁, η₂) finds nothing better.
    opt = g.optimal_steps_per_layer(2, 3, 10, 10)
    assert not opt.interior and opt.steps[0] == opt.steps[1] == g.optimal_step(2, 3, 10, 10).eta
    e1, e2 = g.step_symbols(2)
    f = sp.lambdify((e1, e2), g.gd_loss(2, (e1, e2), sigma2=10).subs({d: 3, N: 10}))
    grid = np.linspace(0.0, 1.5, 601)
    E1, E2 = np.meshgrid(grid, grid)
    assert f(E1, E2).min() >= float(opt.loss) - 1e-12
    # negative control: a point off the boundary is worse (the grid would see a better one)
    assert f(float(opt.steps[0]) + 0.05, float(opt.steps[0]) - 0.05) > float(opt.loss)
    with pytest.raises(UserInputError, match="complex steps") as err:
        g.optimal_steps_per_layer(3, 3, 10, 100)
    assert "\n" not in str(err.value)
