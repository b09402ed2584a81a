"""Hypothesis strategies for property-testing formulas about in-context learning.

Researchers import these to test their own closed forms against the package's engines, e.g. ::

    from hypothesis import given
    import numpy as np
    from icl_proofs.strategies import spd_matrices, prompt_lengths

    @given(Lam=spd_matrices(max_d=4, max_condition=1e4), N=prompt_lengths(max_n=50))
    def test_gamma_is_spd(Lam, N):
        d = Lam.shape[0]
        Gamma = (1 + 1 / N) * Lam + np.trace(Lam) / N * np.eye(d)
        np.linalg.cholesky(Gamma)

    @given(Lam=spd_matrices(d=2, exact=True))      # exact SymPy rationals, exactly SPD
    def test_exact(Lam):
        assert Lam.is_symmetric()

Guarantees of :func:`spd_matrices`:

* float matrices are ``float64`` NumPy arrays, symmetric to the bit (built as ``(A + Aᵀ)/2``),
  Cholesky-factorisable, with 2-norm condition number ``≤ max_condition`` (up to rounding of
  the check itself; the target condition is at most ``0.98 · max_condition``);
* ``exact=True`` matrices are ``sympy.ImmutableMatrix`` of Rationals ``Q diag(λ) Qᵀ`` with ``Q``
  a *rational orthogonal* matrix (Cayley transform of an integer skew-symmetric matrix) and
  positive rational ``λ``: exactly symmetric positive-definite with exactly known eigenvalues, so
  the condition number is exactly ``max λ / min λ ≤ max_condition``;
* eigenvalue spreads are drawn on a log scale and include the extreme ``≈ max_condition``, so
  ill-conditioned examples are generated, and everything shrinks towards well-conditioned
  diagonal matrices.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import assume
from hypothesis import strategies as st

__all__ = [
    "dimensions",
    "spd_matrices",
    "ill_conditioned_spd",
    "prompt_lengths",
    "rationals",
    "MAX_FLOAT_CONDITION",
    "probabilities", "markov_kernels",
]

#: largest condition number for float64 matrices (beyond it Cholesky may fail after rounding)
MAX_FLOAT_CONDITION = 1e12


def _check_int(name: str, value, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def dimensions(min_d: int = 1, max_d: int = 6) -> st.SearchStrategy[int]:
    """Dimensions ``d`` with ``min_d ≤ d ≤ max_d`` (shrinks towards ``min_d``)."""
    min_d, max_d = _check_int("min_d", min_d, 1), _check_int("max_d", max_d, 1)
    if min_d > max_d:
        raise ValueError(f"min_d={min_d} > max_d={max_d}")
    return st.integers(min_d, max_d)


def prompt_lengths(min_n: int = 1, max_n: int = 200) -> st.SearchStrategy[int]:
    """Prompt lengths (number of labelled examples) ``N`` with ``min_n ≤ N ≤ max_n``."""
    min_n, max_n = _check_int("min_n", min_n, 1), _check_int("max_n", max_n, 1)
    if min_n > max_n:
        raise ValueError(f"min_n={min_n} > max_n={max_n}")
    return st.integers(min_n, max_n)


def rationals(max_numerator: int = 20, max_denominator: int = 20, *,
              allow_negative: bool = False, allow_zero: bool = False
              ) -> st.SearchStrategy[sp.Rational]:
    """Small exact rationals ``p/q`` (SymPy ``Rational``), positive by default.

    ``1 ≤ |p| ≤ max_numerator``, ``1 ≤ q ≤ max_denominator``; shrinks towards ``1``.
    """
    max_numerator = _check_int("max_numerator", max_numerator, 1)
    max_denominator = _check_int("max_denominator", max_denominator, 1)
    lo = -max_numerator if allow_negative else (0 if allow_zero else 1)
    num = st.integers(lo, max_numerator)
    if allow_negative and not allow_zero:
        num = num.filter(bool)
    if allow_zero and not allow_negative:
        num = st.integers(0, max_numerator)
    return st.builds(sp.Rational, num, st.integers(1, max_denominator))


# --------------------------------------------------------------------------------------------
# SPD matrices
# --------------------------------------------------------------------------------------------

def _dim_strategy(d, min_d, max_d):
    if d is None:
        return dimensions(min_d, max_d)
    if isinstance(d, st.SearchStrategy):
        return d
    return st.just(_check_int("d", d, 1))


def _check_condition(max_condition, exact: bool) -> float:
    try:
        c = float(max_condition)
    except (TypeError, ValueError):
        raise ValueError(f"max_condition must be a number >= 1, got {max_condition!r}") from None
    if not math.isfinite(c) or c < 1:
        raise ValueError(f"max_condition must be a finite number >= 1, got {max_condition!r}")
    if not exact and c > MAX_FLOAT_CONDITION:
        raise ValueError(
            f"max_condition={max_condition:g} is above {MAX_FLOAT_CONDITION:g}: float64 SPD "
            f"matrices that ill-conditioned cannot be guaranteed Cholesky-factorisable; "
            f"use exact=True for exact rational matrices"
        )
    return c


def _cayley(S: sp.Matrix) -> sp.Matrix:
    """Rational orthogonal ``(I − S)(I + S)⁻¹`` of a rational skew-symmetric ``S``."""
    n = S.rows
    I = sp.eye(n)
    return (I - S) * (I + S).inv()


def _spd(d, log_cond_lo: float, log_cond_hi: float, exact: bool, diagonal: bool):
    """Core composite: eigenvalue spread drawn in [10^lo, 10^hi] (log10 condition)."""

    @st.composite
    def build(draw):
        n = draw(d)
        # log10 of the condition number; shrinks towards lo, and the top is hit explicitly
        if n == 1 or log_cond_hi <= log_cond_lo:
            c = log_cond_lo if n > 1 else 0.0
        else:
            c = draw(st.one_of(
                st.floats(log_cond_lo, log_cond_hi, allow_nan=False, allow_infinity=False),
                st.just(log_cond_hi),
            ))
        # relative log-positions of the eigenvalues in [0, 1]: first 0 (largest), last 1
        inner = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=max(n - 2, 0),
                              max_size=max(n - 2, 0)))
        u = ([0.0] + inner + [1.0]) if n >= 2 else [0.0]
        log_scale = draw(st.integers(-2, 2))
        if diagonal:
            perm = draw(st.permutations(range(n)))
            u = [u[i] for i in perm]
        if exact:
            kappa = max(1, math.floor(10 ** c + 1e-9)) if n > 1 else 1
            # keep the exact condition within the bound
            kappa = min(kappa, math.floor(10 ** log_cond_hi + 1e-9)) if n > 1 else 1
            K = sp.Integer(kappa)
            lam = []
            for ui in u:
                if ui == 0.0:
                    lam.append(sp.Integer(1))
                elif ui == 1.0:
                    lam.append(1 / K)
                else:
                    den = min(kappa, max(1, round(kappa ** ui)))
                    lam.append(sp.Rational(1, den))
            scale = sp.Rational(10) ** log_scale
            D = sp.diag(*[scale * x for x in lam])
            if diagonal or n == 1:
                return sp.ImmutableMatrix(D)
            entries = draw(st.lists(st.integers(-2, 2), min_size=n * (n - 1) // 2,
                                    max_size=n * (n - 1) // 2))
            S = sp.zeros(n, n)
            k = 0
            for i in range(n):
                for j in range(i + 1, n):
                    S[i, j], S[j, i] = entries[k], -entries[k]
                    k += 1
            Q = _cayley(S)
            return sp.ImmutableMatrix(Q * D * Q.T)
        # float64
        lam = np.array([10.0 ** (log_scale - c * ui) for ui in u])
        if diagonal or n == 1:
            return np.diag(lam)
        entries = draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=n * n,
                                max_size=n * n))
        G = np.array(entries, dtype=float).reshape(n, n) + np.eye(n)
        Q, Rm = np.linalg.qr(G)
        Q = Q * np.where(np.diag(Rm) < 0, -1.0, 1.0)
        A = (Q * lam) @ Q.T
        A = (A + A.T) / 2
        # safety net (should never trigger for condition <= MAX_FLOAT_CONDITION)
        ev = np.linalg.eigvalsh(A)
        assume(ev[0] > 0 and ev[-1] / ev[0] <= 10 ** log_cond_hi / 0.98)
        try:
            np.linalg.cholesky(A)
        except np.linalg.LinAlgError:  # pragma: no cover
            assume(False)
        return A

    return build()


def spd_matrices(d=None, min_d: int = 1, max_d: int = 6, max_condition: float = 1e6,
                 exact: bool = False, diagonal: bool = False):
    """Symmetric positive-definite matrices.

    Parameters
    ----------
    d:
        ``None`` (drawn from :func:`dimensions` ``(min_d, max_d)``), an ``int``, or a strategy
        of ints (e.g. shared with other arguments via ``st.shared``).
    max_condition:
        upper bound on the 2-norm condition number; the spread of the eigenvalues is drawn
        log-uniformly up to it and the extreme (``0.98 · max_condition`` for floats,
        ``⌊max_condition⌋`` for exact) is drawn explicitly.  At most ``1e12`` for floats.
    exact:
        ``False``: ``float64`` NumPy arrays ``Q diag(λ) Qᵀ`` (Q from the QR of drawn entries),
        symmetric to the bit and Cholesky-factorisable.  ``True``: ``sympy.ImmutableMatrix`` of
        Rationals, exactly SPD with exact eigenvalues (rational orthogonal Cayley ``Q``).
    diagonal:
        only diagonal matrices (eigenvalues in drawn order).

    The overall scale is ``10^k`` with ``k ∈ {-2..2}``.  Shrinks towards well-conditioned,
    near-diagonal matrices of the smallest dimension.
    """
    c = _check_condition(max_condition, exact)
    dims = _dim_strategy(d, min_d, max_d)
    if exact:
        hi = math.log10(math.floor(c + 1e-9))
    else:
        hi = math.log10(c * 0.98) if c * 0.98 > 1 else 0.0
    return _spd(dims, 0.0, hi, exact, bool(diagonal))


def ill_conditioned_spd(d, condition: float, exact: bool = False):
    """SPD matrices of dimension ``d`` (int or strategy, ``≥ 2``) whose condition number is
    (up to rounding for floats) exactly ``condition``."""
    c = _check_condition(condition, exact)
    if isinstance(d, st.SearchStrategy):
        dims = d.filter(lambda n: n >= 2)
    else:
        n = _check_int("d", d, 1)
        if n < 2 and c > 1:
            raise ValueError("a 1x1 matrix has condition number 1; use d >= 2")
        dims = st.just(n)
    lc = math.log10(math.floor(c + 1e-9)) if exact else math.log10(c)
    return _spd(dims, lc, lc, exact, False)


# --------------------------------------------------------------------------- Markov chains (ding25)
def probabilities(max_denominator: int = 100) -> st.SearchStrategy:
    """Exact probabilities strictly inside (0, 1), as :class:`fractions.Fraction` (extremes included on
    purpose: 1/max_denominator and 1 - 1/max_denominator).

    >>> from hypothesis import find
    >>> find(probabilities(), lambda p: p > 0.9) < 1
    True
    """
    from fractions import Fraction

    _check_int("max_denominator", max_denominator, 2)
    return st.fractions(min_value=Fraction(1, max_denominator), max_value=1 - Fraction(1, max_denominator),
                        max_denominator=max_denominator)


def markov_kernels(n_states: int = 2, max_denominator: int = 20, exact: bool = True) -> st.SearchStrategy:
    """Row-stochastic ``n_states x n_states`` kernels with positive entries (exact rationals by default,
    float NumPy arrays with ``exact=False``); rows are normalised positive integer vectors, so nearly
    deterministic rows (e.g. 1/20 vs 19/20) are drawn too.

    >>> from hypothesis import find
    >>> K = find(markov_kernels(3), lambda K: True)
    >>> all(sum(row) == 1 for row in K)
    True
    """
    from fractions import Fraction

    import numpy as np

    _check_int("n_states", n_states, 2)
    _check_int("max_denominator", max_denominator, 2)
    row = st.lists(st.integers(1, max_denominator), min_size=n_states, max_size=n_states).map(
        lambda v: [Fraction(x, sum(v)) for x in v])
    kern = st.lists(row, min_size=n_states, max_size=n_states)
    return kern if exact else kern.map(lambda K: np.array(K, dtype=float))


# ---------------------------------------------------------------- data-model fields (issue 18)
def covariances(d=None, min_d: int = 1, max_d: int = 4, max_condition: float = 100.0, exact: bool = False):
    """Covariances of a prompt model (covariate Λ, test-time Λ′, task Ψ): :func:`spd_matrices` with a
    moderate default condition number (100), so Monte-Carlo checks at these covariances stay cheap.

    >>> from hypothesis import find
    >>> find(covariances(d=3), lambda S: True).shape
    (3, 3)
    """
    return spd_matrices(d=d, min_d=min_d, max_d=max_d, max_condition=max_condition, exact=exact)


def noise_variances(max_value: int = 4, exact: bool = True, allow_zero: bool = True):
    """Label-noise variances σ² ≥ 0: exact rationals (``sympy.Rational``) by default, or floats;
    0 (noiseless labels) is drawn explicitly unless ``allow_zero=False``; shrinks towards 0 (or 1/q).

    >>> from hypothesis import find
    >>> find(noise_variances(), lambda s: True)
    0
    """
    max_value = _check_int("max_value", max_value, 1)
    positive = rationals(max_numerator=4 * max_value, max_denominator=4).filter(lambda r: r <= max_value)
    out = st.one_of(st.just(sp.Integer(0)), positive) if allow_zero else positive
    return out if exact else out.map(float)


def moment_prompt_lengths(d, order: int = 2, finite_variance: bool = False, max_extra: int = 40):
    """Prompt lengths N for which the order-``order`` inverse moments of Σ̂ exist at dimension ``d``:
    ``N > d + 2·order − 1`` (N > d + 3 for second moments); ``finite_variance=True`` asks for the
    moments of twice the order too (``N > d + 4·order − 1``), which a Monte-Carlo check of them needs.
    ``d``: an int or a strategy of ints.  Shrinks towards the smallest admissible N.

    >>> from hypothesis import find
    >>> find(moment_prompt_lengths(3), lambda N: True)
    7
    """
    order = _check_int("order", order, 1)
    max_extra = _check_int("max_extra", max_extra, 0)
    k = 2 * order if finite_variance else order
    dims = d if isinstance(d, st.SearchStrategy) else st.just(_check_int("d", d, 1))
    return dims.flatmap(lambda n: st.integers(n + 2 * k, n + 2 * k + max_extra))


def task_means(d, max_abs: float = 3.0):
    """Task means μ ∈ ℝ^d (float64 vectors with entries in [−max_abs, max_abs]; shrinks to 0)."""
    n = _check_int("d", d, 1)
    return st.lists(st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False),
                    min_size=n, max_size=n).map(np.array)


def sample_covariance_settings(min_d: int = 1, max_d: int = 4, order: int = 2,
                               finite_variance: bool = True, max_extra: int = 12,
                               max_condition: float = 100.0):
    """``(d, N, Σ)`` for inverse-moment checks: Σ from :func:`covariances`, N from
    :func:`moment_prompt_lengths` at the same d.

    >>> from hypothesis import find
    >>> d, N, S = find(sample_covariance_settings(), lambda t: True)
    >>> (d, N, S.shape)
    (1, 9, (1, 1))
    """
    @st.composite
    def build(draw):
        d = draw(dimensions(min_d, max_d))
        N = draw(moment_prompt_lengths(d, order, finite_variance, max_extra))
        return d, N, draw(covariances(d=d, max_condition=max_condition))

    return build()


__all__ += ["covariances", "noise_variances", "moment_prompt_lengths", "task_means",
            "sample_covariance_settings"]
