"""mpmath helpers that never change the global precision permanently.

Every conversion runs under ``mpmath.workdps(dps)``; an ``mpf`` keeps the precision it was rounded
to, so results made here carry ``dps`` digits whatever ``mp.dps`` is afterwards.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import sympy

__all__ = ["to_mpf", "to_mp_matrix", "digits_agreed"]


def to_mpf(x: Any, dps: int):
    """``x`` (SymPy number or numeric expression, int, Fraction, float, mpf/mpc) as mpmath at ``dps``.

    Rationals are rounded once (``p/q`` at ``dps`` digits); irrational SymPy constants are
    evaluated with a few guard digits.  Complex values give ``mpc``.
    """
    with mpmath.workdps(dps):
        if isinstance(x, bool):
            return mpmath.mpf(int(x))
        if isinstance(x, (mpmath.mpf, mpmath.mpc)):
            return +x
        if isinstance(x, int):
            return mpmath.mpf(x)
        if isinstance(x, Fraction):
            return mpmath.mpf(x.numerator) / x.denominator
        if isinstance(x, (float, complex)):
            return mpmath.mpmathify(x)
        if isinstance(x, sympy.Rational):
            return mpmath.mpf(int(x.p)) / int(x.q)
        if isinstance(x, sympy.Basic):
            v = sympy.N(x, dps + 10)
            re_, im_ = v.as_real_imag()
            if not (re_.is_number and im_.is_number):
                raise TypeError(f"not a number: {x}")
            r = mpmath.mpf(sympy.Float(re_, dps + 10)._mpf_)
            if im_ == 0:
                return +r
            return mpmath.mpc(r, mpmath.mpf(sympy.Float(im_, dps + 10)._mpf_))
        if hasattr(x, "item"):  # numpy scalar
            return to_mpf(x.item(), dps)
        raise TypeError(f"cannot convert {type(x).__name__} to mpmath")


def to_mp_matrix(M: Any, dps: int) -> mpmath.matrix:
    """A SymPy matrix, nested list or NumPy array as an ``mpmath.matrix`` of ``dps``-digit entries."""
    if isinstance(M, sympy.MatrixBase):
        rows = M.tolist()
    elif isinstance(M, mpmath.matrix):
        rows = M.tolist()
    elif hasattr(M, "tolist"):
        rows = M.tolist()
    else:
        rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in M]
    if rows and not isinstance(rows[0], (list, tuple)):  # 1-D input: a column vector
        rows = [[r] for r in rows]
    with mpmath.workdps(dps):
        return mpmath.matrix([[to_mpf(x, dps) for x in r] for r in rows])


def digits_agreed(a: Any, b: Any, cap: int | None = None) -> int:
    """Number of agreeing significant digits of ``a`` and ``b`` (matrices/lists: the minimum).

    ``-log10(|a-b| / max(|a|,|b|))`` rounded down, clipped to ``[0, cap]``; ``cap`` defaults to the
    working precision in digits.  Equal values give ``cap``.
    """
    if isinstance(a, (mpmath.matrix, sympy.MatrixBase)) or isinstance(a, (list, tuple)):
        la = a.tolist() if hasattr(a, "tolist") else list(a)
        lb = b.tolist() if hasattr(b, "tolist") else list(b)
        fa = [x for r in la for x in (r if isinstance(r, (list, tuple)) else [r])]
        fb = [x for r in lb for x in (r if isinstance(r, (list, tuple)) else [r])]
        if len(fa) != len(fb):
            raise ValueError("digits_agreed: shapes differ")
        return min((digits_agreed(x, y, cap) for x, y in zip(fa, fb)), default=cap or mpmath.mp.dps)
    cap = cap if cap is not None else mpmath.mp.dps
    with mpmath.workdps(cap + 10):
        x, y = to_mpf(a, cap + 10), to_mpf(b, cap + 10)
        diff = abs(x - y)
        if diff == 0:
            return cap
        scale = max(abs(x), abs(y))
        d = -mpmath.log10(diff / scale)
        return int(max(0, min(cap, mpmath.floor(d))))
