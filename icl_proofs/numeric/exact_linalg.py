"""Exact rational linear algebra through python-flint (``fmpq_mat``), where SymPy is the bottleneck.

SymPy's exact ``Matrix.inv`` on a 64×64 rational matrix takes minutes (a Hilbert matrix: > 150 s;
10-digit rational entries: > 300 s); FLINT's p-adic (Dixon) solver does the same exact work in
seconds.  Every function here is exact: the results are the same rationals SymPy would return
(a test compares the two routes on small matrices).  Inputs that are not rational (symbols,
floats) are not handled: the functions return ``None`` and the caller keeps its SymPy route.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp

__all__ = ["available", "to_fmpq_mat", "to_sympy", "solve", "inverse", "rational_function_at"]


def available() -> bool:
    try:
        import flint  # noqa: F401
    except ImportError:  # pragma: no cover - python-flint is a dependency
        return False
    return True


def _fmpq(x):
    import flint

    if isinstance(x, sp.Rational):
        return flint.fmpq(int(x.p), int(x.q))
    if isinstance(x, int) and not isinstance(x, bool):
        return flint.fmpq(x)
    raise TypeError("not a rational")


def to_fmpq_mat(M):
    """A SymPy matrix of rationals as an ``fmpq_mat`` (``None`` if an entry is not rational)."""
    import flint

    M = sp.Matrix(M)
    try:
        entries = [_fmpq(x) for x in M]
    except TypeError:
        return None
    return flint.fmpq_mat(M.rows, M.cols, entries)


def to_sympy(X) -> sp.Matrix:
    return sp.Matrix(X.nrows(), X.ncols(),
                     [sp.Rational(int(X[i, j].p), int(X[i, j].q)) for i in range(X.nrows()) for j in range(X.ncols())])


def solve(A, B) -> sp.Matrix | None:
    """X with A X = B, exactly (``ZeroDivisionError`` if A is singular; ``None`` if not rational)."""
    if not available():
        return None
    Af, Bf = to_fmpq_mat(A), to_fmpq_mat(B)
    if Af is None or Bf is None:
        return None
    return to_sympy(Af.solve(Bf, algorithm="dixon"))


def inverse(A) -> sp.Matrix | None:
    """A⁻¹ exactly (``ZeroDivisionError`` if singular; ``None`` if A is not rational)."""
    if not available():
        return None
    return solve(A, sp.eye(sp.Matrix(A).rows))


def _poly_at(coeffs: Sequence, L, eye):
    """Σ_k c_k L^k by Horner's rule (``coeffs`` highest degree first)."""
    import flint

    out = None
    for c in coeffs:
        out = eye * c if out is None else out * L + eye * c
    return out if out is not None else eye * flint.fmpq(0)


def rational_function_at(num: sp.Poly, den: sp.Poly, Lambda) -> sp.Matrix | None:
    """num(Λ)·den(Λ)⁻¹ for polynomials with rational coefficients and a rational matrix Λ, exactly
    (the two commute, so this is den(Λ)⁻¹·num(Λ), one exact solve).  ``None`` when something is not
    rational (the caller then uses SymPy)."""
    import flint

    if not available():
        return None
    L = to_fmpq_mat(Lambda)
    if L is None:
        return None
    try:
        nc = [_fmpq(c) for c in num.all_coeffs()]
        dc = [_fmpq(c) for c in den.all_coeffs()]
    except TypeError:
        return None
    n = L.nrows()
    eye = flint.fmpq_mat(n, n)
    for i in range(n):
        eye[i, i] = 1
    return to_sympy(_poly_at(dc, L, eye).solve(_poly_at(nc, L, eye), algorithm="dixon"))
