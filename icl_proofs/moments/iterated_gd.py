"""Expected in-context loss of L steps of preconditioned gradient descent on the prompt.

Setting (the multi-layer LSA construction: ding25 Thm 4.1; Ahn, Cheng, Daneshmand & Sra 2023,
arXiv 2306.00297, "transformers implement preconditioned GD"): a prompt of N examples
``y_i = wᵀx_i + ε_i``, ``x_i ~ N(0, Λ)``, ``ε_i ~ N(0, σ²)``, task ``w ~ N(0, Ψ)`` (Ψ = I by
default), query ``x_q ~ N(0, Λ_q)`` (Λ_q = Λ by default), all independent.  Starting from
``w_0 = 0``, layer l does one step of preconditioned GD on the prompt's least-squares loss
``(1/2N) Σ_i (vᵀx_i − y_i)²``::

    w_l = w_{l−1} − η_l Γ (Σ̂ w_{l−1} − (1/N) Σ_i y_i x_i),      Σ̂ = (1/N) Σ_i x_i x_iᵀ,

and the prediction is ``ŷ = x_qᵀ w_L``.  The loss is the error against the clean label,
``E[(x_qᵀ w_L − x_qᵀ w)²]`` (add σ² for the error against ``y_q``).

Derivation (:func:`gd_loss`), with nothing typed in: the error ``e_l = w_l − w`` obeys
``e_l = M_l e_{l−1} + η_l Γ g`` with ``M_l = I − η_l Γ Σ̂`` and ``g = (1/N) Σ_i ε_i x_i``, so
``e_L = A w + B g`` where the matrix expressions A, B are built by running that recursion in the
Wick DSL (:mod:`.wick`).  Given the x's, ``g`` is centred with covariance ``(σ²/N) Σ̂`` and
independent of w, so

    loss = E[(x_qᵀ A w)²] + (σ²/N) E[x_qᵀ B Σ̂ Bᵀ x_q],

both of which :func:`.wick.expect` evaluates for symbolic d, N, steps and σ² (trace atoms in Λ, Ψ,
Γ when those are named).  With Λ = Ψ = I and a scalar preconditioner Γ = γ I the preconditioner
only rescales the steps (η_l γ), so for isotropic data the *scalar* preconditioner is the step.

Optimal steps and preconditioner:

* :func:`optimal_step` — one shared step η (isotropic, or a concrete rational Λ): the loss is a
  polynomial of degree 2L in η with positive leading coefficient; its global minimiser is among
  the real roots of the derivative, which SymPy isolates exactly (:func:`sympy.real_roots`,
  algebraic numbers).  The certificate lists every real critical point with the loss there.
  :func:`step_equation` gives the derivative for symbolic d, N (L = 1: zfb23's η* = N/(N+d+1)).
* :func:`optimal_steps_per_layer` — one step per layer (isotropic): the loss is a strictly convex
  quadratic in the steps' elementary symmetric polynomials, so the optimum is a rational linear
  solve followed by the real roots of one polynomial (exact, unique).
* :func:`optimal_preconditioner_one_layer` — the optimal one-layer Γ for a general Λ, as a function
  of Λ (zfb23's Γ); for isotropic data a scalar preconditioner is just a rescaled step.

The gap to the one-layer optimum (zfb23 Thm 4.1: d(d+1)/(N+d+1) for Λ = I, noise-free) is
``loss_L(η_L*) − loss_1(η_1*)`` (:func:`gap_to_one_layer`).

>>> sp.factor(gd_loss(1, sigma2=0))        # one step, isotropic, noise-free: zfb23's Prop. (c = η)
d*(N*eta**2 - 2*N*eta + N + d*eta**2 + eta**2)/N
>>> one_layer_optimum(0)
(N/(N + d + 1), d*(d + 1)/(N + d + 1))

Independent routes (tests): the literal GD iteration on sampled prompts (:func:`sample_gd_error`,
Monte Carlo), chi-square moments at d = 1 with symbolic N (:func:`loss_d1_chi_square`), and the
exact elementwise MGF engine at d = 2 (:mod:`.elementwise`).
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Sequence

import numpy as np
import sympy as sp

from ..errors import UserInputError
from . import wick
from .inverse_wishart import N_sym, d_sym
from .traces import IDENTITY, letters_in

__all__ = ["gd_loss", "gd_error_terms", "optimal_step", "StepOptimum", "one_layer_optimum",
           "gap_to_one_layer", "loss_d1_chi_square", "sample_gd_error", "eta_sym", "sigma2_sym",
           "step_symbols", "MAX_LAYERS", "optimal_preconditioner_one_layer", "lam_sym",
           "optimal_steps_per_layer", "PerLayerOptimum", "step_equation",
           "optimal_steps_per_layer_limit"]

eta_sym = sp.Symbol("eta", positive=True)
#: an eigenvalue of Λ (the optimal one-layer preconditioner is a function of Λ)
lam_sym = sp.Symbol("lambda", positive=True)
sigma2_sym = sp.Symbol("sigma2", nonnegative=True)

#: the DSL cost grows like the Bell number of the 2L Σ̂ occurrences: L = 3 takes seconds, L = 4 minutes
MAX_LAYERS = 3


def step_symbols(L: int) -> tuple:
    """``(eta_1, ..., eta_L)``: one step per layer."""
    return tuple(sp.Symbol(f"eta_{l}", positive=True) for l in range(1, L + 1))


def _layers(L) -> int:
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 1:
        raise UserInputError(f"the number of layers L must be a positive integer, got {L!r}")
    if L > MAX_LAYERS:
        raise UserInputError(f"L = {L} layers is beyond the supported L ≤ {MAX_LAYERS} (the derivation's cost "
                             f"grows like the Bell number of 2L)")
    return int(L)


def _steps(L: int, eta) -> tuple:
    if eta is None:
        return (eta_sym,) * L
    if isinstance(eta, (list, tuple)):
        if len(eta) != L:
            raise UserInputError(f"give one step per layer: {L} layers but {len(eta)} steps")
        return tuple(sp.sympify(e) for e in eta)
    return (sp.sympify(eta),) * L


def gd_error_terms(L: int, eta=None, *, N=None, Lambda: str | None = None, Gamma: str | None = None):
    """The matrix expressions ``(A, B, Σ̂)`` with ``e_L = A w + B g`` (see the module docstring).

    ``eta``: one step (shared) or a sequence of L steps; symbolic ``eta`` by default.  ``Lambda``,
    ``Gamma``: names of the covariate covariance and of a (general, fixed) preconditioner; None
    means the identity.
    """
    L = _layers(L)
    steps = _steps(L, eta)
    N = N_sym if N is None else sp.sympify(N)
    S = wick.sample_cov("Sigma_hat", Lambda, N)
    I = wick.identity()
    G = I if Gamma is None else wick.matrix(Gamma)
    A = -I                                     # e_0 = w_0 − w = −w
    B = wick.MExpr("matrix", {})               # no noise yet
    for step in steps:
        M = I - step * (G @ S)
        A = M @ A
        B = M @ B + step * G
    return A, B, S


def gd_loss(L: int, eta=None, *, N=None, sigma2=None, Lambda: str | None = None,
            Lambda_q: str | None = None, Psi: str | None = None, Gamma: str | None = None) -> sp.Expr:
    """``E[(x_qᵀ w_L − x_qᵀ w)²]`` after L preconditioned GD steps from ``w_0 = 0`` (module docstring).

    Symbolic d (the dimension) always; N, the steps and σ² symbolic unless given.  ``Lambda``,
    ``Lambda_q``, ``Psi``, ``Gamma``: matrix names (trace atoms in the result), None = identity
    (``Lambda_q`` defaults to ``Lambda``).  ``sigma2 = 0`` drops the noise term.
    """
    A, B, S = gd_error_terms(L, eta, N=N, Lambda=Lambda, Gamma=Gamma)
    N = N_sym if N is None else sp.sympify(N)
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    x_q = wick.gaussian("x_q", Lambda_q if Lambda_q is not None else Lambda)
    w = wick.gaussian("w", Psi)
    signal = wick.expect((x_q.T @ A @ w) ** 2)
    noise = 0 if sigma2 == 0 else sigma2 / N * wick.expect(x_q.T @ B @ S @ B.T @ x_q)
    return sp.expand(signal + noise)


@lru_cache(maxsize=None)
def _isotropic_loss(L: int, with_noise: bool) -> sp.Expr:
    """The isotropic loss with one symbolic step (cached: every optimiser call reuses it)."""
    return gd_loss(L, eta_sym, sigma2=None if with_noise else 0)


@lru_cache(maxsize=None)
def _covariance_loss(L: int, with_noise: bool) -> sp.Expr:
    return gd_loss(L, eta_sym, sigma2=None if with_noise else 0, Lambda="Lambda")


def _covariance_loss_at(L: int, sigma2, N, d, Lambda) -> sp.Expr:
    """The loss at a concrete rational covariance (trace atoms evaluated exactly)."""
    from .traces import substitute

    Lam = sp.Matrix(Lambda)
    if Lam.shape != (d, d) or not Lam.is_symmetric() or not Lam.is_positive_definite:
        raise UserInputError(f"Lambda must be a symmetric positive-definite {d}×{d} matrix")
    if any(not x.is_Rational for x in Lam):
        raise UserInputError("Lambda must have exact rational entries (the optimum is exact)")
    loss = _covariance_loss(L, sigma2 != 0).subs({N_sym: N, sigma2_sym: sigma2})
    return substitute(loss, {"Lambda": Lam})


def step_equation(L: int, sigma2=None) -> sp.Expr:
    """``∂loss/∂η`` of the isotropic L-step loss, factored, for symbolic d, N, σ²: the optimal shared
    step is one of its real roots (a polynomial of degree 2L − 1 in η; L = 1 gives zfb23's step)."""
    L = _layers(L)
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    loss = _isotropic_loss(L, True).subs(sigma2_sym, sigma2)
    return sp.factor(sp.diff(loss, eta_sym))


@dataclasses.dataclass(frozen=True)
class StepOptimum:
    """The global minimiser of the loss over one shared step, with its certificate.

    ``eta`` / ``loss``: exact (a rational, an algebraic ``CRootOf`` or a radical expression).
    ``critical_points``: every real root of ∂loss/∂η with the loss there (exact, and 30-digit
    values), so the choice of the minimum can be re-checked; ``leading``: the coefficient of η^{2L},
    positive, which makes the polynomial coercive, so a global minimiser exists and is critical.
    """

    L: int
    eta: sp.Expr
    loss: sp.Expr
    critical_points: tuple
    leading: sp.Expr

    def eta_float(self, dps: int = 30):
        return sp.N(self.eta, dps)

    def loss_float(self, dps: int = 30):
        return sp.N(self.loss, dps)


def _concrete(value, name: str):
    v = sp.nsimplify(value, rational=True) if isinstance(value, float) else sp.sympify(value)
    if not v.is_number:
        raise UserInputError(f"{name} must be a number here, got {value!r}")
    return v


def optimal_step(L: int, d, N, sigma2=0, Lambda=None) -> StepOptimum:
    """Exact global minimiser over the shared step η of the L-step loss at concrete d, N, σ²
    (isotropic, or a concrete rational covariance ``Lambda``, a SymPy matrix of size d).

    The loss is a polynomial in η (degree 2L); :func:`sympy.real_roots` isolates every real root of
    its derivative exactly, and the minimum over those (compared at 50 digits, each separated from
    the next) is the global minimum.  The minimiser is unique unless two critical values tie, which
    is refused rather than guessed.
    """
    L = _layers(L)
    d, N, sigma2 = _concrete(d, "d"), _concrete(N, "N"), _concrete(sigma2, "sigma2")
    if not (d.is_integer and d >= 1 and N.is_integer and N >= 1 and sigma2 >= 0):
        raise UserInputError(f"need integers d, N ≥ 1 and σ² ≥ 0, got d = {d}, N = {N}, σ² = {sigma2}")
    if Lambda is None:
        loss = _isotropic_loss(L, sigma2 != 0).subs({d_sym: d, N_sym: N, sigma2_sym: sigma2})
    else:
        loss = _covariance_loss_at(L, sigma2, N, d, Lambda)
    poly = sp.Poly(sp.expand(loss), eta_sym)
    leading = poly.LC()
    if poly.degree() != 2 * L or not leading > 0:   # pragma: no cover - a derivation bug
        raise AssertionError(f"loss is not coercive in η: degree {poly.degree()}, leading {leading}")
    roots = sp.real_roots(poly.diff(eta_sym))
    crit = []
    for r in roots:
        value = poly.as_expr().subs(eta_sym, r)
        crit.append((r, value, sp.N(value, 50)))
    crit.sort(key=lambda t: t[2])
    if len(crit) > 1 and abs(crit[0][2] - crit[1][2]) < sp.Float(10) ** -40:
        raise UserInputError(f"two critical points tie at 40 digits ({crit[0][0]}, {crit[1][0]}): "
                             f"the minimiser is not unique")
    best_eta, best_loss, _ = crit[0]
    # (for a rational η* the loss is already an exact rational; nsimplify would *approximate* it)
    return StepOptimum(L, best_eta, best_loss,
                       tuple((r, v, sp.N(v, 30)) for r, v, _ in crit), leading)


@lru_cache(maxsize=None)
def _per_layer_loss(L: int, with_noise: bool) -> sp.Expr:
    return gd_loss(L, step_symbols(L), sigma2=None if with_noise else 0)


@dataclasses.dataclass(frozen=True)
class PerLayerOptimum:
    """The global minimiser over one step per layer (isotropic data), exact.

    ``steps``: η_1 ≤ … ≤ η_L (the layers commute, so their order is free); ``loss``: the minimum;
    ``elementary``: the optimal elementary symmetric polynomials (σ_1, …, σ_L) of the steps, rational;
    ``hessian``: the constant Hessian of the loss in σ, positive definite (the certificate);
    ``interior``: False when the unconstrained optimum needs complex steps and the answer is the
    boundary one (L = 2: equal steps, see :func:`optimal_steps_per_layer`).
    """

    L: int
    steps: tuple
    loss: sp.Expr
    elementary: tuple
    hessian: sp.Matrix
    interior: bool = True


def optimal_steps_per_layer(L: int, d, N, sigma2=0) -> PerLayerOptimum:
    """Exact global minimiser of the isotropic L-layer loss over one step per layer.

    Why it is exact: for isotropic data every M_l = I − η_l Σ̂ commutes, so
    ``A = −Π_l (I − η_l Σ̂) = −p(Σ̂)`` and ``B Σ̂ = I − p(Σ̂)`` with ``p(s) = 1 − σ_1 s + σ_2 s² − …``,
    σ_k the elementary symmetric polynomials of the steps.  The loss is therefore a quadratic in
    (σ_1, …, σ_L) (:func:`sympy.polys.polyfuncs.symmetrize` rewrites it so, with zero remainder);
    its Hessian is checked positive definite (exactly), so the unique stationary point, a rational
    solution of a linear system, is the global minimum over all σ.  The steps are the roots of
    ``t^L − σ_1 t^{L−1} + σ_2 t^{L−2} − …``; if they are all real they are feasible steps and this is
    the global optimum over per-layer steps.  Otherwise (strong noise) the unconstrained optimum
    needs complex steps: for L = 2 the constrained optimum is then the equal-steps one (a convexity
    argument, in the code); for L = 3 it is refused (one line) rather than guessed.
    """
    from sympy.polys.polyfuncs import symmetrize

    L = _layers(L)
    d, N, sigma2 = _concrete(d, "d"), _concrete(N, "N"), _concrete(sigma2, "sigma2")
    if not (d.is_integer and d >= 1 and N.is_integer and N >= 1 and sigma2 >= 0):
        raise UserInputError(f"need integers d, N ≥ 1 and σ² ≥ 0, got d = {d}, N = {N}, σ² = {sigma2}")
    steps = step_symbols(L)
    loss = sp.expand(_per_layer_loss(L, sigma2 != 0).subs({d_sym: d, N_sym: N, sigma2_sym: sigma2}))
    in_sigma, remainder, defs = symmetrize(loss, *steps, formal=True)
    elem = [sym for sym, _ in defs]
    if remainder != 0 or sp.Poly(in_sigma, *elem).total_degree() > 2:   # pragma: no cover - derivation bug
        raise AssertionError("the loss is not a quadratic in the elementary symmetric polynomials")
    hessian = sp.hessian(in_sigma, elem)
    if not hessian.is_positive_definite:                                  # pragma: no cover
        raise AssertionError(f"the loss is not strictly convex in σ: Hessian {hessian}")
    (solution,) = sp.solve([sp.diff(in_sigma, v) for v in elem], elem, dict=True).__iter__()
    sigma_star = tuple(solution[v] for v in elem)            # exact rationals (a linear solve)
    t = sp.Symbol("t")
    char = sp.Poly(sum((-1) ** k * (sigma_star[k - 1] if k else 1) * t ** (L - k) for k in range(L + 1)), t)
    roots = sp.real_roots(char)
    if len(roots) == L:
        return PerLayerOptimum(L, tuple(sorted(roots, key=lambda r: sp.N(r, 30))),
                               sp.expand(in_sigma.subs(solution)), sigma_star, hessian, interior=True)
    if L == 2:
        # σ* is infeasible (complex steps).  The feasible set {σ₁² ≥ 4σ₂} is closed and the loss is
        # strictly convex in σ, so its minimum over the set lies on the boundary σ₁² = 4σ₂, which
        # is exactly the set of equal steps: the optimum is the shared step's
        shared = optimal_step(2, d, N, sigma2)
        return PerLayerOptimum(2, (shared.eta, shared.eta), shared.loss, (2 * shared.eta, shared.eta ** 2),
                               hessian, interior=False)
    raise UserInputError(f"the unconstrained optimum needs complex steps at L = {L}, d = {d}, N = {N}, "
                         f"σ² = {sigma2} (σ* = {sigma_star}); the boundary case is solved for L = 2 only")


def optimal_steps_per_layer_limit(L: int):
    """The proportional limit (N = αd, d → ∞, noise-free, isotropic) of the per-layer optimum.

    Returns ``(loss_per_d, sigma)``: the limit of ``min loss / d`` as a rational function of α and
    the optimal elementary symmetric polynomials of the steps.  Derived as in
    :func:`optimal_steps_per_layer`, after :func:`.proportional.proportional_limit` of the loss (the
    limit is still a quadratic in σ).  For L ≤ 3 it comes out as ``1/(1 + α + … + α^L)``.
    """
    from sympy.polys.polyfuncs import symmetrize

    from .proportional import proportional_limit

    L = _layers(L)
    steps = step_symbols(L)
    lim = proportional_limit(_per_layer_loss(L, False))
    in_sigma, remainder, defs = symmetrize(sp.expand(lim.value), *steps, formal=True)
    elem = [sym for sym, _ in defs]
    if remainder != 0 or lim.order != 1:                       # pragma: no cover - derivation bug
        raise AssertionError("the limit is not a quadratic in the elementary symmetric polynomials")
    (solution,) = sp.solve([sp.diff(in_sigma, v) for v in elem], elem, dict=True).__iter__()
    return sp.factor(in_sigma.subs(solution)), tuple(sp.factor(solution[v]) for v in elem)


def one_layer_optimum(sigma2=None):
    """``(η₁*, loss₁*)`` for symbolic d, N: the one-step loss is quadratic in η, minimised in closed form.

    Noise-free this is zfb23's optimum, ``η* = N/(N + d + 1)`` and ``d(d + 1)/(N + d + 1)``.
    """
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    loss = _isotropic_loss(1, True).subs(sigma2_sym, sigma2)
    (eta_star,) = sp.solve(sp.diff(loss, eta_sym), eta_sym)
    return sp.factor(eta_star), sp.factor(loss.subs(eta_sym, eta_star))


def gap_to_one_layer(L: int, d, N, sigma2=0):
    """``loss_L(η_L*) − loss_1(η_1*)`` at concrete sizes (exact), with both optima."""
    opt_L = optimal_step(L, d, N, sigma2)
    _, loss1 = one_layer_optimum(sigma2)
    loss1 = sp.factor(loss1.subs({d_sym: d, N_sym: N, sigma2_sym: sigma2}))
    return opt_L.loss - loss1, opt_L, loss1


def optimal_preconditioner_one_layer(sigma2=None, N=None):
    """The loss-minimising preconditioner of one GD step (η = 1) for a general covariance Λ.

    Returns ``g(λ)`` with ``Γ* = g(Λ)`` (apply g to Λ's eigenvalues; ``tr(Lambda)`` stays a scalar).
    Derivation: the one-step loss is a convex quadratic in Γ (the expectation of a square, linear in
    Γ), so Γ* is any zero of the matrix gradient :func:`.wick.grad`.  Every word of that gradient is
    made of Λ and Γ, so for Γ = g(Λ) it is the matrix function ``Σ_w c_w λ^{a_w} g^{b_w}`` of Λ;
    it vanishes iff that scalar function does, which is linear in g and solved here.  (Noise-free
    this is zfb23's ``((1 + 1/N) Λ + tr(Λ)/N · I)⁻¹``.)
    """
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    loss = gd_loss(1, 1, N=N, sigma2=sigma2, Lambda="Lambda", Gamma="Gamma")
    gradient = wick.grad(loss, "Gamma")
    g = sp.Symbol("g")
    scalar = sp.Integer(0)
    for word, coef in gradient.terms.items():
        if letters_in(sp.sympify(coef)) - {"Lambda", IDENTITY.name}:   # pragma: no cover
            raise AssertionError(f"coefficient {coef} involves Γ: not a matrix function of Λ")
        value = coef
        for letter in word:
            value *= {"Lambda": lam_sym, "Gamma": g}[letter.name]
        scalar += value
    (solution,) = sp.solve(sp.expand(scalar), g)
    return sp.factor(solution)


# --------------------------------------------------------------------------- independent routes

def loss_d1_chi_square(L: int, eta=None, N=None, sigma2=None) -> sp.Expr:
    """The isotropic loss at d = 1, by chi-square moments (not the Wick engine).

    At d = 1, ``s = Σ̂ = χ²_N / N`` and everything commutes: ``e_L = −(1 − ηs)^L w + η Σ_{j<L}
    (1 − ηs)^j g`` with ``E[g² | s] = σ² s / N``, so the loss is ``E[(1 − ηs)^{2L}] + (σ²/N)
    E[s (η Σ_j (1 − ηs)^j)²]``, a polynomial in s whose moments are ``E[s^k] = (2/N)^k (N/2)^(k)``.
    """
    L = _layers(L)
    eta = eta_sym if eta is None else sp.sympify(eta)
    N = N_sym if N is None else sp.sympify(N)
    sigma2 = sigma2_sym if sigma2 is None else sp.sympify(sigma2)
    s = sp.Symbol("s")
    B = eta * sum((1 - eta * s) ** j for j in range(L))
    integrand = sp.Poly(sp.expand((1 - eta * s) ** (2 * L) + sigma2 / N * s * B ** 2), s)
    total = sum(c * (2 / N) ** k * sp.expand_func(sp.rf(N / 2, k))
                for (k,), c in integrand.terms())
    return sp.expand(total)


def sample_gd_error(rng: np.random.Generator, k: int, d: int, N: int, steps: Sequence[float],
                    sigma2: float = 0.0, Lambda=None, Gamma=None) -> np.ndarray:
    """``k`` draws of ``(x_qᵀ w_L − x_qᵀ w)²``, running the GD iteration on sampled prompts.

    Independent of the derivation: no matrix power, no closed form, just the update
    ``w ← w − η Γ Xᵀ(Xw − y)/N`` applied ``len(steps)`` times (Ψ = I, Λ_q = Λ).
    """
    Lc = np.eye(d) if Lambda is None else np.linalg.cholesky(np.asarray(Lambda, dtype=float))
    G = np.eye(d) if Gamma is None else np.asarray(Gamma, dtype=float)
    X = rng.standard_normal((k, N, d)) @ Lc.T
    w = rng.standard_normal((k, d))
    y = np.einsum("kni,ki->kn", X, w) + np.sqrt(sigma2) * rng.standard_normal((k, N))
    v = np.zeros((k, d))
    for step in steps:
        residual = np.einsum("kni,ki->kn", X, v) - y
        grad = np.einsum("kni,kn->ki", X, residual) / N
        v = v - step * grad @ G.T
    xq = rng.standard_normal((k, d)) @ Lc.T
    return np.einsum("ki,ki->k", xq, v - w) ** 2
