"""Exact rational linear algebra through python-flint (``fmpq_mat``), where SymPy is the bottleneck.

SymPy's exact ``Matrix.inv`` on a 64×64 rational matrix takes minutes (a Hilbert matrix: > 150 s;
10-digit rational entries: > 300 s); FLINT's p-adic (Dixon) solver does the same exact work in
seconds.  Every function here is exact: the results are the same rationals SymPy would return
(a test compares the two routes on small matrices).  Inputs that are not rational (symbols,
floats) are not handled: the functions return ``None`` and the caller keeps its SymPy route.
"""
from __future__ import annotations

from functools import lru_cache
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


def rational_function_at(num: sp.Poly, den: sp.Poly, Lambda, trace_only: bool = False):
    """num(Λ)·den(Λ)⁻¹ for polynomials with rational coefficients and a rational matrix Λ, exactly
    (the two commute, so this is den(Λ)⁻¹·num(Λ), one exact solve).  ``None`` when something is not
    rational (the caller then uses SymPy).  ``trace_only``: tr num(Λ)den(Λ)⁻¹ as a SymPy rational,
    from Σ_ij num(Λ)_ij (den(Λ)⁻¹)_ji without forming the product."""
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
    lead = dc[0]
    if lead == 0:
        return None
    key = (L.nrows(), tuple((int(x.p), int(x.q)) for x in L.entries()))
    # den = lead · Π q_k^m_k: one exact inverse per distinct factor q_k, shared between calls (the
    # risks' denominators are powers and products of the same few factors of Γ)
    invs = []
    for factor, mult in sp.factor_list(den.monic().as_expr(), lam_of(den))[1]:
        fc = sp.Poly(factor, den.gens[0]).monic().all_coeffs()
        if not all(isinstance(c, sp.Rational) for c in fc):
            return None
        invs += [_monic_inverse(tuple((int(c.p), int(c.q)) for c in fc), key)] * int(mult)
    n = L.nrows()
    eye = flint.fmpq_mat(n, n)
    for i in range(n):
        eye[i, i] = 1
    if len(nc) == 1:  # a constant numerator: start from the first inverse, not from c·I
        M, rest = (invs[0] * nc[0], invs[1:]) if invs else (eye * nc[0], [])
    else:
        M, rest = _poly_at(nc, L, eye), invs
    if trace_only:  # tr(M Q_1 ... Q_k): products up to Q_(k-1), then Σ_ij (·)_ij (Q_k)_ji
        for Q in rest[:-1]:
            M = M * Q
        total = _zero()
        if rest:
            last = rest[-1]
            for i in range(n):
                for j in range(n):
                    total += M[i, j] * last[j, i]
        else:
            for i in range(n):
                total += M[i, i]
        return _rational(total / lead)
    for Q in rest:
        M = M * Q
    return to_sympy(M * (1 / lead))


def lam_of(poly: sp.Poly):
    return poly.gens[0]


def _rational(x) -> sp.Rational:
    return sp.Rational(int(x.p), int(x.q))


@lru_cache(maxsize=4)
def _monic_inverse(monic: tuple, key: tuple):
    """den(Λ)⁻¹ for a monic den (coefficients as (p, q) pairs, highest first) at the matrix ``key``."""
    import flint

    n, entries = key
    L = flint.fmpq_mat(n, n, [flint.fmpq(p, q) for p, q in entries])
    eye = flint.fmpq_mat(n, n)
    for i in range(n):
        eye[i, i] = 1
    D = _poly_at([flint.fmpq(p, q) for p, q in monic], L, eye)
    return D.solve(eye, algorithm="dixon")


def trace_atoms_exact(atoms, env: dict) -> dict | None:
    """Exact values of trace/path atoms (:mod:`icl_proofs.moments.traces`) at rational SymPy
    matrices ``env``, with FLINT products (SymPy's exact matrix products dominate otherwise: 40 s
    for the shift risks at a 32×32 Hilbert Λ).  ``None`` when an entry of ``env`` is not rational
    or not a SymPy matrix: the caller keeps its SymPy route."""
    from ..moments import traces

    if not available():
        return None
    mats = {}
    for name, value in env.items():
        if not isinstance(value, sp.MatrixBase):
            return None
        m = to_fmpq_mat(value)
        if m is None:
            return None
        mats[name] = m
    out = {}
    for sym in atoms:
        info = traces.info(sym)
        letters = [l for l in info.word if not l.is_identity]
        if any(l.name not in mats for l in letters):
            return None
        factors = [mats[l.name].transpose() if l.t else mats[l.name] for l in letters]
        if info.kind == "trace":
            if not factors:
                return None  # tr(I) is d, handled by the caller
            acc = factors[0]
            for f in factors[1:]:
                acc = acc * f
            val = sum((acc[i, i] for i in range(acc.nrows())), _zero())
        else:
            if info.left not in mats or info.right not in mats:
                return None
            v = mats[info.right]
            for f in reversed(factors):  # right to left: matrix-vector products only
                v = f * v
            r = mats[info.left].transpose() * v
            val = r[0, 0]
        out[sym] = sp.Rational(int(val.p), int(val.q))
    return out


def _zero():
    import flint

    return flint.fmpq(0)
