"""Inverse moments of the sample covariance at finite N, with symbolic d and N.

Setting: ``Σ̂ = (1/N) Σ_{i≤N} x_i x_iᵀ`` with ``x_i ~ N(0, Σ)`` iid, so ``W = N Σ̂ ~ W_d(N, Σ)``
(Wishart with ``n = N`` degrees of freedom).  This module gives, each with its existence condition,

* :func:`mean_inverse`          ``E[Σ̂⁻¹]``                      (``N > d + 1``)
* :func:`inverse_sandwich`      ``E[Σ̂⁻¹ A Σ̂⁻¹]``               (``N > d + 3``)
* :func:`inverse_square`        ``E[Σ̂⁻²]``                      (``N > d + 3``)
* :func:`trace_product`         ``E[tr(AΣ̂⁻¹) tr(BΣ̂⁻¹)]``       (``N > d + 3``)
* :func:`query_quadratic`       ``E[x_qᵀ Σ̂⁻¹ x_q]``, ``x_q ~ N(0, Σ_q)`` independent (``N > d + 1``)
* :func:`query_quadratic_square` ``E[(x_qᵀ Σ̂⁻¹ x_q)²]``         (``N > d + 3``)
* :func:`ols_icl_error`         ``E[(x_qᵀ ŵ_OLS − x_qᵀ w)²]`` for ``y = wᵀx + ε``, ``ε ~ N(0, σ²)``
  (``N > d + 1``)

How the coefficients are obtained (:func:`derive_coefficients`), rather than typed in:

1. *Whitening.*  With ``Σ = L Lᵀ``, ``W = L W₀ Lᵀ`` and ``W₀ ~ W_d(n, I)``, so every moment of
   ``W⁻¹ = L⁻ᵀ W₀⁻¹ L⁻¹`` follows from those of ``W₀⁻¹``.
2. *Invariance.*  ``W₀`` and ``Q W₀ Qᵀ`` have the same law for orthogonal ``Q``, so
   ``E[W₀⁻¹] = α I`` and ``E[(W₀⁻¹)_{ij} (W₀⁻¹)_{kl}] = a δ_ij δ_kl + b (δ_ik δ_jl + δ_il δ_jk)``
   (the orthogonally invariant 4-tensors, symmetrised in i↔j): three unknowns α, a, b.
3. *Bartlett.*  ``W₀ = T Tᵀ`` with ``T`` lower triangular, ``T_jj² ~ χ²_{n−j+1}``, ``T_ij ~ N(0, 1)``
   (i > j), all independent.  The last 2×2 block of ``W₀⁻¹ = T⁻ᵀT⁻¹`` depends only on the last
   2×2 block ``[[s, 0], [z, t]]`` of ``T`` (``s² ~ χ²_{n−d+2}``, ``t² ~ χ²_{n−d+1}``, ``z ~ N(0,1)``),
   so α = E[1/t²], a + 2b = E[1/t⁴], b = E[z²/(s²t⁴)] are products of chi-square moments
   ``E[(χ²_m)^{k/2}] = 2^{k/2} Γ(m/2 + k/2)/Γ(m/2)`` (finite iff ``m + k > 0``), which SymPy
   simplifies to rational functions of n and d.  The fourth entry E[M₁₁M₂₂] = a is computed too,
   so the invariance ansatz is over-determined and checked inside the derivation.
4. *Existence.*  The condition is collected from the same monomials (each negative chi power needs
   ``m + k > 0``); it is necessary too, because ``E[1/t²]`` (first order) and ``E[1/t⁴]`` (second
   order) are diagonal entries of the moment itself.

The results agree with the classical closed forms (Haff 1979, *J. Multivariate Anal.* 9;
von Rosen 1988, *Scand. J. Stat.* 15; Letac & Massam 2004, *Scand. J. Stat.* 31), e.g. for
``W ~ W_d(n, Σ)``: ``E[W⁻¹] = Σ⁻¹/(n−d−1)`` and, for symmetric A,
``E[W⁻¹AW⁻¹] = [(n−d−1) Σ⁻¹AΣ⁻¹ + tr(AΣ⁻¹) Σ⁻¹] / ((n−d)(n−d−1)(n−d−3))``;
those papers are the sources, the code does not copy their answers.  The tests confirm the results
by exact integration (d = 1 with symbolic N; d = 2, Σ diagonal, symbolic N), by the Hillier & Kan
(2024) recurrence as implemented in the R package ``wishmom`` (and its published numeric example),
and by Monte Carlo.

Symbolic use: leave ``Sigma`` out (a ``d × d`` matrix symbol Σ with symbolic d) or pass
``sympy.MatrixSymbol`` objects; concrete use: pass SymPy/NumPy matrices and an integer N.

>>> import sympy as sp
>>> N = sp.Symbol("N")
>>> m = mean_inverse(N=N)
>>> m.value, m.condition
((N/(N - d - 1))*Sigma**(-1), N > d + 1)
>>> ols_icl_error(N=N, sigma2=sp.Symbol("sigma2")).value
d*sigma2/(N - d - 1)
>>> mean_inverse(N=3, Sigma=sp.eye(2))
Traceback (most recent call last):
...
icl_proofs.errors.UserInputError: E[Σ̂⁻¹] does not exist: it needs N > d + 1, here N = 3, d = 2
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from ..errors import UserInputError

__all__ = [
    "Moment", "Coefficients", "derive_coefficients",
    "mean_inverse", "inverse_sandwich", "inverse_square", "trace_product",
    "query_quadratic", "query_quadratic_square", "ols_icl_error",
    "sample_inverse_covariances", "sample_ols_icl_error",
    "d_sym", "N_sym",
]

#: the dimension and the prompt length when left symbolic
d_sym = sp.Symbol("d", positive=True, integer=True)
N_sym = sp.Symbol("N", positive=True, integer=True)

SOURCES = ("Haff 1979 (J. Multivariate Anal. 9, 531-544); von Rosen 1988 (Scand. J. Stat. 15, "
           "97-109); Letac & Massam 2004 (Scand. J. Stat. 31, 295-318); Hillier & Kan 2024 (wishmom)")


@dataclasses.dataclass(frozen=True)
class Moment:
    """A derived expectation with the condition under which it exists (finite)."""

    what: str
    value: Any
    condition: Any
    source: str = SOURCES

    def __str__(self) -> str:
        return f"{self.what} = {sp.sstr(self.value)}   (exists iff {sp.sstr(self.condition)})"


@dataclasses.dataclass(frozen=True)
class Coefficients:
    """Invariant coefficients of ``W₀⁻¹`` for ``W₀ ~ W_d(n, I)`` (see the module docstring).

    ``alpha``: E[W₀⁻¹] = α I.  ``a``, ``b``: E[(W₀⁻¹)_ij (W₀⁻¹)_kl] = a δ_ij δ_kl + b(δ_ik δ_jl +
    δ_il δ_jk).  ``first_condition`` / ``second_condition``: where the first / second moments exist.
    """

    alpha: sp.Expr
    a: sp.Expr
    b: sp.Expr
    first_condition: sp.Basic
    second_condition: sp.Basic


# ------------------------------------------------------------------------------ the derivation
_n, _d = sp.symbols("n d", positive=True)  # private: the derivation's own n and d
#: the excess degrees of freedom n − d, in which the coefficients factor
_m = sp.Symbol("m", real=True)


def _chi_power_mean(dof, power):
    """E[c^power] for c² ~ χ²_dof, i.e. E[(χ²_dof)^{power/2}], with its finiteness condition."""
    k = sp.Rational(power, 2)
    if k.is_integer:
        # Γ(m/2 + k)/Γ(m/2) is the rising factorial (m/2)^(k): a rational function of m
        value = 2 ** k * sp.expand_func(sp.rf(dof / 2, k))
    else:  # pragma: no cover - the 2×2 Bartlett block only produces even powers
        value = sp.gammasimp(2 ** k * sp.gamma(dof / 2 + k) / sp.gamma(dof / 2))
    return value, sp.StrictGreaterThan(dof + power, 0)


def _normal_power_mean(power: int):
    """E[z^power] for z ~ N(0, 1): (power−1)!! for even powers, 0 for odd ones."""
    if power % 2:
        return sp.Integer(0)
    return sp.factorial2(power - 1) if power > 0 else sp.Integer(1)


def _expect_bartlett(expr, s, t, z, s_dof, t_dof):
    """E[expr] for a Laurent polynomial in the independent s, t (chi) and z (normal) variables.

    Returns (value, condition): the condition collects ``m + k > 0`` over every chi factor with a
    negative power ``k`` of a term whose normal part has nonzero mean.
    """
    value, conditions = sp.Integer(0), []
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, powers = sp.Integer(1), term.as_powers_dict()
        factor = sp.Integer(1)
        for base, exponent in powers.items():
            if base == z:
                factor *= _normal_power_mean(int(exponent))
            elif base not in (s, t):
                coeff *= base ** exponent
        if factor == 0:
            continue
        for var, dof in ((s, s_dof), (t, t_dof)):
            mean, cond = _chi_power_mean(dof, int(powers.get(var, 0)))
            factor *= mean
            if powers.get(var, 0) < 0:
                conditions.append(cond)
        value += coeff * factor
    return sp.factor(value), sp.And(*conditions)


@lru_cache(maxsize=None)
def derive_coefficients() -> Coefficients:
    """Derive α, a, b of :class:`Coefficients` in terms of the private symbols n, d (Bartlett route).

    Raises ``AssertionError`` if the invariance ansatz were inconsistent (E[M₁₁M₂₂] ≠ a): the
    derivation checks itself.
    """
    s, t = sp.symbols("s t", positive=True)
    z = sp.Symbol("z", real=True)
    T = sp.Matrix([[s, 0], [z, t]])          # last 2×2 block of the Bartlett factor
    Tinv = T.inv()
    M = sp.simplify(Tinv.T * Tinv)           # last 2×2 block of W₀⁻¹ = T⁻ᵀ T⁻¹
    s_dof, t_dof = _m + 2, _m + 1            # T_{d−1,d−1}² ~ χ²_{n−d+2}, T_dd² ~ χ²_{n−d+1}

    def E(e):
        return _expect_bartlett(e, s, t, z, s_dof, t_dof)

    alpha, first_cond = E(M[1, 1])
    diag_sq, second_cond = E(M[1, 1] ** 2)   # = a + 2b
    off_sq, _ = E(M[0, 1] ** 2)              # = b
    cross, _ = E(M[0, 0] * M[1, 1])          # = a  (over-determination: checks the ansatz)
    b = off_sq
    a = sp.factor(diag_sq - 2 * b)
    if sp.simplify(cross - a) != 0:          # pragma: no cover - would mean the ansatz is wrong
        raise AssertionError(f"invariance ansatz inconsistent: E[M11 M22] = {cross} but a = {a}")
    back = {_m: _n - _d}
    return Coefficients(alpha.subs(back), a.subs(back), b.subs(back),
                        _simplify_condition(first_cond), _simplify_condition(second_cond))


def _simplify_condition(cond):
    """``n − d − 3 > 0`` and friends, as ``n > d + 3`` (the strongest of the collected ones)."""
    args = cond.args if isinstance(cond, sp.And) else (cond,)
    # every collected condition is "m + c > 0" with m = n − d: keep the largest required m
    need = max(sp.solve(sp.Eq(arg.lhs - arg.rhs, 0), _m)[0] for arg in args)
    return sp.StrictGreaterThan(_n, _d + need)


# --------------------------------------------------------------------------- input handling
def _as_matrix(M, name: str):
    if M is None or isinstance(M, (sp.MatrixSymbol, sp.MatrixExpr)) and not isinstance(M, sp.MatrixBase):
        return M
    if isinstance(M, np.ndarray):
        M = sp.Matrix(M.tolist())
    if isinstance(M, (list, tuple)):
        M = sp.Matrix(M)
    if not isinstance(M, sp.MatrixBase):
        raise UserInputError(f"{name} must be a square matrix, got {type(M).__name__}")
    if M.rows != M.cols:
        raise UserInputError(f"{name} must be square, got {M.rows}×{M.cols}")
    return sp.Matrix(M)


def _operand(M, name: str, d):
    """A, B or Σ_q: a d × d matrix (a fresh matrix symbol when left out)."""
    if M is None:
        return sp.MatrixSymbol(name, d, d)
    M = _as_matrix(M, name)
    if sp.sympify(M.shape[0]) != d:
        raise UserInputError(f"{name} must be {d}×{d} like Sigma, got {M.shape[0]}×{M.shape[1]}")
    return M


def _setup(N, Sigma):
    """(N, Sigma, d, concrete) with Σ a MatrixSymbol of symbolic size when left out."""
    N = N_sym if N is None else sp.sympify(N)
    if N.is_number and (not N.is_integer or N < 1):
        raise UserInputError(f"the prompt length N must be a positive integer, got {N}")
    if Sigma is None:
        Sigma = sp.MatrixSymbol("Sigma", d_sym, d_sym)
    Sigma = _as_matrix(Sigma, "Sigma")
    d = Sigma.shape[0]
    d = sp.sympify(d)
    concrete = isinstance(Sigma, sp.MatrixBase)
    if concrete and not Sigma.is_symmetric():
        raise UserInputError("Sigma must be symmetric")
    if concrete and Sigma.is_positive_definite is False:
        raise UserInputError("Sigma must be positive definite")
    return N, Sigma, d, concrete


def _nice(expr, N, d):
    """Factor a rational function of N and d in the excess ``N − d``, so it prints as
    ``N/(N − d − 1)`` rather than ``−N/(d − N + 1)``."""
    if isinstance(N, sp.Symbol) and isinstance(d, sp.Symbol):
        m = sp.Dummy("m")
        return sp.factor(sp.sympify(expr).subs(N, d + m)).subs(m, N - d)
    return sp.factor(expr)


def _coefficients(N, d, order: int, what: str):
    """(alpha, a, b, condition) at n = N, checking existence for concrete N and d."""
    c = derive_coefficients()
    derived = c.first_condition if order == 1 else c.second_condition
    cond = derived.subs({_n: N, _d: d})
    if cond is sp.false:
        need = sp.sstr(derived.subs({_n: sp.Symbol("N"), _d: sp.Symbol("d")}))   # the derived condition
        raise UserInputError(f"{what} does not exist: it needs {need}, here N = {N}, d = {d}")
    sub = {_n: N, _d: d}
    return (_nice(c.alpha.subs(sub), N, d), _nice(c.a.subs(sub), N, d), _nice(c.b.subs(sub), N, d),
            cond)


def _inv(Sigma, concrete):
    return Sigma.inv() if concrete else sp.Inverse(Sigma)


def _tr(M, concrete):
    return M.trace() if concrete else sp.Trace(M)


def _tidy(value, concrete):
    if concrete:
        return sp.simplify(value) if isinstance(value, sp.MatrixBase) else sp.factor(value)
    return value


# ------------------------------------------------------------------------------ public moments
def mean_inverse(N=None, Sigma=None) -> Moment:
    """``E[Σ̂⁻¹] = N α Σ⁻¹ = N Σ⁻¹/(N − d − 1)``, exists iff ``N > d + 1``."""
    N, Sigma, d, concrete = _setup(N, Sigma)
    alpha, _, _, cond = _coefficients(N, d, 1, "E[Σ̂⁻¹]")
    coeff = _nice(N * alpha, N, d)
    return Moment("E[Σ̂⁻¹]", _tidy(coeff * _inv(Sigma, concrete), concrete), cond)


def inverse_sandwich(A=None, N=None, Sigma=None, *, symmetric: bool | None = None) -> Moment:
    """``E[Σ̂⁻¹AΣ̂⁻¹] = N² [a Σ⁻¹AΣ⁻¹ + b Σ⁻¹AᵀΣ⁻¹ + b tr(AΣ⁻¹) Σ⁻¹]`` (any square A), iff ``N > d + 3``.

    From whitening: with ``Ã = L⁻¹AL⁻ᵀ``, ``E[W₀⁻¹ÃW₀⁻¹]_il = Σ_jk Ã_jk E[(W₀⁻¹)_ij (W₀⁻¹)_kl]
    = a Ã + b Ãᵀ + b tr(Ã) I``, mapped back by ``L⁻ᵀ · L⁻¹``.  ``symmetric=True`` (automatic for a
    concrete symmetric A) merges the first two terms into ``(a + b) Σ⁻¹AΣ⁻¹``.
    """
    N, Sigma, d, concrete = _setup(N, Sigma)
    A = _operand(A, "A", d)
    if symmetric is None:
        symmetric = isinstance(A, sp.MatrixBase) and A.is_symmetric()
    _, a, b, cond = _coefficients(N, d, 2, "E[Σ̂⁻¹AΣ̂⁻¹]")
    Si = _inv(Sigma, concrete)
    trace_term = _nice(N ** 2 * b, N, d) * _tr(A * Si, concrete) * Si
    if symmetric:
        value = _nice(N ** 2 * (a + b), N, d) * Si * A * Si + trace_term
    else:
        value = _nice(N ** 2 * a, N, d) * Si * A * Si + _nice(N ** 2 * b, N, d) * Si * A.T * Si + trace_term
    return Moment("E[Σ̂⁻¹AΣ̂⁻¹]", _tidy(value, concrete), cond)


def inverse_square(N=None, Sigma=None) -> Moment:
    """``E[Σ̂⁻²] = N² [(a + b) Σ⁻² + b tr(Σ⁻¹) Σ⁻¹]``: :func:`inverse_sandwich` at ``A = I``, iff ``N > d + 3``."""
    N, Sigma, d, concrete = _setup(N, Sigma)
    _coefficients(N, d, 2, "E[Σ̂⁻²]")             # refuses under its own name
    I = sp.eye(d) if concrete else sp.Identity(d)
    m = inverse_sandwich(I, N, Sigma, symmetric=True)
    value = m.value if concrete else m.value.subs(sp.Inverse(Sigma) * sp.Inverse(Sigma), sp.Inverse(Sigma) ** 2)
    return Moment("E[Σ̂⁻²]", value, m.condition)


def trace_product(A=None, B=None, N=None, Sigma=None) -> Moment:
    """``E[tr(AΣ̂⁻¹) tr(BΣ̂⁻¹)] = N² [a tr(AΣ⁻¹)tr(BΣ⁻¹) + b tr(AΣ⁻¹BΣ⁻¹) + b tr(AΣ⁻¹BᵀΣ⁻¹)]``,
    iff ``N > d + 3``.  (``tr(B E[Σ̂⁻¹AΣ̂⁻¹])``, contracted the other way round.)"""
    N, Sigma, d, concrete = _setup(N, Sigma)
    A = _operand(A, "A", d)
    B = _operand(B, "B", d)
    _, a, b, cond = _coefficients(N, d, 2, "E[tr(AΣ̂⁻¹) tr(BΣ̂⁻¹)]")
    Si = _inv(Sigma, concrete)
    tr = lambda M: _tr(M, concrete)  # noqa: E731
    value = (_nice(N ** 2 * a, N, d) * tr(A * Si) * tr(B * Si)
             + _nice(N ** 2 * b, N, d) * (tr(A * Si * B * Si) + tr(A * Si * B.T * Si)))
    return Moment("E[tr(AΣ̂⁻¹) tr(BΣ̂⁻¹)]", _tidy(value, concrete), cond)


def query_quadratic(N=None, Sigma=None, Sigma_q=None) -> Moment:
    """``E[x_qᵀ Σ̂⁻¹ x_q] = tr(Σ_q E[Σ̂⁻¹])`` for an independent query ``x_q ~ N(0, Σ_q)``
    (``Σ_q = Σ`` by default, giving ``N d/(N − d − 1)``), iff ``N > d + 1``."""
    N, Sigma, d, concrete = _setup(N, Sigma)
    Sq = Sigma if Sigma_q is None else _operand(Sigma_q, "Sigma_q", d)
    _coefficients(N, d, 1, "E[x_qᵀ Σ̂⁻¹ x_q]")     # refuses under its own name
    m = mean_inverse(N, Sigma)
    value = _tr(Sq * m.value, concrete)
    if Sigma_q is None and not concrete:
        value = _nice(N * d * _coefficients(N, d, 1, "")[0], N, d)  # tr(Σ Σ⁻¹) = d
    return Moment("E[x_qᵀ Σ̂⁻¹ x_q]", _tidy(value, concrete), m.condition)


def query_quadratic_square(N=None, Sigma=None, Sigma_q=None) -> Moment:
    """``E[(x_qᵀ Σ̂⁻¹ x_q)²] = 2 E tr(Σ̂⁻¹Σ_qΣ̂⁻¹Σ_q) + E[tr(Σ_qΣ̂⁻¹)²]`` (Gaussian quadratic form
    given Σ̂, then :func:`inverse_sandwich` and :func:`trace_product`), iff ``N > d + 3``."""
    N, Sigma, d, concrete = _setup(N, Sigma)
    Sq = Sigma if Sigma_q is None else _operand(Sigma_q, "Sigma_q", d)
    _coefficients(N, d, 2, "E[(x_qᵀ Σ̂⁻¹ x_q)²]")  # refuses under its own name
    sandwich = inverse_sandwich(Sq, N, Sigma)
    tp = trace_product(Sq, Sq, N, Sigma)
    value = 2 * _tr(sandwich.value * Sq, concrete) + tp.value
    if Sigma_q is None and not concrete:
        _, a, b, _ = _coefficients(N, d, 2, "")
        # Σ_q = Σ: tr(Σ⁻¹Σ Σ⁻¹Σ) = d, tr(ΣΣ⁻¹)² = d²
        value = _nice(N ** 2 * (2 * (a * d + b * d + b * d ** 2) + a * d ** 2 + 2 * b * d), N, d)
    return Moment("E[(x_qᵀ Σ̂⁻¹ x_q)²]", _tidy(value, concrete), sandwich.condition)


def ols_icl_error(N=None, sigma2=None, Sigma=None, Sigma_q=None, *, with_label_noise: bool = False) -> Moment:
    """In-context error of ordinary least squares on a prompt of N examples.

    Data ``y_i = wᵀx_i + ε_i``, ``x_i ~ N(0, Σ)``, ``ε_i ~ N(0, σ²)``; ``ŵ = (XᵀX)⁻¹Xᵀy``; query
    ``x_q ~ N(0, Σ_q)`` (``Σ_q = Σ`` by default).  Since ``ŵ − w = (XᵀX)⁻¹Xᵀε`` and
    ``E[(ŵ−w)(ŵ−w)ᵀ | X] = σ² (XᵀX)⁻¹`` with ``XᵀX = W ~ W_d(N, Σ)``::

        E[(x_qᵀŵ − x_qᵀw)²] = σ² tr(Σ_q E[W⁻¹]) = σ² tr(Σ_q Σ⁻¹)/(N − d − 1)   (= σ² d/(N − d − 1))

    for every w (the error does not depend on the task).  ``with_label_noise`` adds the query's
    own noise σ² (the error against ``y_q``).  Exists iff ``N > d + 1``.
    """
    N, Sigma, d, concrete = _setup(N, Sigma)
    sigma2 = sp.Symbol("sigma2", nonnegative=True) if sigma2 is None else sp.sympify(sigma2)
    if sigma2.is_number and sigma2 < 0:
        raise UserInputError(f"the noise variance sigma2 must be >= 0, got {sigma2}")
    alpha, _, _, cond = _coefficients(N, d, 1, "the OLS in-context error")
    Sq = Sigma if Sigma_q is None else _operand(Sigma_q, "Sigma_q", d)
    if Sigma_q is None:
        trace = d                                     # tr(Σ Σ⁻¹)
    else:
        trace = _tr(Sq * _inv(Sigma, concrete), concrete)
    value = sigma2 * alpha * trace + (sigma2 if with_label_noise else 0)
    what = "E[(x_qᵀŵ_OLS − y_q)²]" if with_label_noise else "E[(x_qᵀŵ_OLS − x_qᵀw)²]"
    return Moment(what, _nice(value, N, d), cond)


# --------------------------------------------------------------------- Monte-Carlo route
# Independent of the derivation: draws the prompt itself and inverts numerically.

def _chol(Sigma) -> np.ndarray:
    return np.linalg.cholesky(np.asarray(np.array(Sigma, dtype=float), dtype=float))


def sample_inverse_covariances(rng: np.random.Generator, k: int, N: int, Sigma) -> np.ndarray:
    """``k`` draws of ``Σ̂⁻¹`` (shape ``(k, d, d)``): N Gaussian rows per draw, Σ̂ = XᵀX/N, inverted."""
    L = _chol(Sigma)
    d = L.shape[0]
    X = rng.standard_normal((k, N, d)) @ L.T
    S = np.einsum("kni,knj->kij", X, X) / N
    return np.linalg.inv(S)


def sample_ols_icl_error(rng: np.random.Generator, k: int, N: int, Sigma, sigma2: float,
                         Sigma_q=None, w=None, with_label_noise: bool = False) -> np.ndarray:
    """``k`` draws of ``(x_qᵀŵ − x_qᵀw)²`` (or ``(x_qᵀŵ − y_q)²``): the prompt, the labels and the
    query are drawn, and ŵ is the least-squares fit (``numpy.linalg.solve`` of the normal equations)."""
    L = _chol(Sigma)
    d = L.shape[0]
    Lq = L if Sigma_q is None else _chol(Sigma_q)
    w = rng.standard_normal(d) if w is None else np.asarray(w, dtype=float)
    X = rng.standard_normal((k, N, d)) @ L.T
    y = X @ w + np.sqrt(sigma2) * rng.standard_normal((k, N))
    w_hat = np.linalg.solve(np.einsum("kni,knj->kij", X, X), np.einsum("kni,kn->ki", X, y)[..., None])[..., 0]
    xq = rng.standard_normal((k, d)) @ Lq.T
    target = xq @ w + (np.sqrt(sigma2) * rng.standard_normal(k) if with_label_noise else 0.0)
    return (np.einsum("ki,ki->k", xq, w_hat) - target) ** 2
