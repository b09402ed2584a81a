"""Problem C.9 of Ding et al. (2025): is X in R^{dm} of the form phi(b, A)?  Decided in polynomial time.

Why this module exists: Theorem 3.5 / C.14 of the paper claims that recovering one-layer LSA parameters
``(b, A)`` with ``phi(b, A) = X`` is NP-hard in ``d``.  The problem has a short exact solution, which this
module implements (the hardness side is in :mod:`icl_proofs.claims.ding25.bilinear`).

The mathematics (conventions of :mod:`icl_proofs.claims.ding25.markov_lsa`: block ``j`` of ``X`` is the
symmetric ``S_j`` and ``phi(b, A) = X`` iff ``S_j = sym(b a_j^T) = (b a_j^T + a_j b^T)/2`` for every
column ``a_j`` of ``A``):

1. For ``b != 0`` the map ``a -> sym(b a^T)`` is injective and its image is
   ``V_b = {S symmetric : u^T S v = 0 for all u, v orthogonal to b}`` (both have dimension ``d+1``).
   So ``X != 0`` is realisable iff some hyperplane ``b^perp`` is totally isotropic for every ``S_j``.
2. The quadratic form of ``sym(b a^T)`` is ``(b.x)(a.x)``; factorisation into linear forms is unique
   up to order and scale.  Hence a non-zero ``S`` has an isotropic hyperplane iff
   ``rank S = 1`` (``S = c v v^T``, only normal ``v``) or ``rank S = 2`` and ``S`` is indefinite
   (``S = sym(u v^T)``, only normals ``u`` and ``v``).  Rank >= 3, or rank 2 semidefinite: impossible.
3. Given a candidate normal ``b``, the only possible column is
   ``a_k = 2 S_k b / |b|^2 - b (b^T S_k b) / |b|^4``; and ``S_k - sym(b a_k^T) = P S_k P`` with ``P``
   the projector onto ``b^perp``, so the candidate works iff every ``P S_k P`` vanishes.

One non-zero block therefore yields at most two candidates and the rest is linear algebra: an exact
decision in polynomial time over Q (one square root of a rational may appear, e.g. ``S = diag(1, -2)``
has normals ``(1, +-sqrt 2)``).  For ``d = 1`` the criterion is ``det S <= 0``, i.e.
``X_2^2 >= 4 X_1 X_3``.

>>> import sympy
>>> r = realize_exact([1, 0, -2], 1)       # S = diag(1, -2): indefinite, rank 2
>>> r.realizable, r.b
(True, [1, sqrt(2)])
>>> realize_exact([1, 0, 1], 1).certificate["reason"]      # S = I: definite
'definite'
>>> realize_float([1., 0., -2.], 1).residual < 1e-12
True
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ..base import UserInputError
from .markov_lsa import lift_matrix, m_of, phi, sym_blocks, x_from_sym

__all__ = ["Realization", "ProjectionResult", "realize_exact", "realize_float", "projection_distance",
           "sym_blocks", "x_from_sym", "phi_fast", "phi_exact", "MAX_D_EXACT"]

#: largest d accepted by :func:`realize_exact` (SymPy cost grows like d^4 and beyond)
MAX_D_EXACT = 12
#: largest d accepted by the float routines (memory: d^3/2 doubles per X)
MAX_D_FLOAT = 512


@dataclasses.dataclass
class Realization:
    """Outcome of a realisability decision.

    ``certificate`` explains a negative answer (``reason`` is ``"rank"``, ``"definite"`` or
    ``"no common isotropic hyperplane"``) and, for a positive one, which block gave the normal.
    ``residual`` is ``||phi(b, A) - X||_2`` (0 for the exact solver when realisable).
    """

    realizable: bool
    b: Any = None
    A: Any = None
    certificate: dict = dataclasses.field(default_factory=dict)
    residual: float | None = None


# --------------------------------------------------------------------------- input checks


def _check_d(d, limit: int) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise UserInputError(f"d must be an integer >= 1, got {d!r}")
    d = int(d)
    if d < 1:
        raise UserInputError(f"d must be >= 1, got {d}")
    if d > limit:
        raise UserInputError(f"d = {d} is too large for this solver (limit {limit}); "
                             "use realize_float for large d")
    return d


def _check_len(n: int, d: int) -> None:
    if n != d * m_of(d):
        raise UserInputError(f"X must have d*m = {d * m_of(d)} entries for d = {d} "
                             f"(m = (d+1)(d+2)/2 = {m_of(d)}), got {n}")


def _to_rational(v, k: int) -> sympy.Rational:
    """One entry of X as an exact rational (floats are taken at their exact binary value)."""
    if isinstance(v, bool):
        raise UserInputError(f"X[{k}] must be a number, got a bool")
    if isinstance(v, sympy.Rational):
        return v
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    if isinstance(v, Fraction):
        return sympy.Rational(v.numerator, v.denominator)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            raise UserInputError(f"X[{k}] is not finite ({v})")
        f = Fraction(float(v))
        return sympy.Rational(f.numerator, f.denominator)
    if isinstance(v, sympy.Basic):
        if v.is_Rational:
            return v
        raise UserInputError(f"X[{k}] = {v} is not a rational number (the exact solver works over Q)")
    raise UserInputError(f"X[{k}] must be an int, Fraction, float or SymPy rational, got {type(v).__name__}")


def _float_vector(X, d: int) -> np.ndarray:
    try:
        Xf = np.asarray(X, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"X must be a vector of real numbers ({exc})") from None
    _check_len(Xf.size, d)
    if not np.all(np.isfinite(Xf)):
        raise UserInputError(f"X has {int(np.sum(~np.isfinite(Xf)))} non-finite entries")
    return Xf


# --------------------------------------------------------------------------- vectorised conventions


#: the float conventions live in :mod:`icl_proofs.claims.ding25.markov_lsa`; ``phi_fast`` is its vectorised phi
phi_fast = phi


def phi_exact(b, A) -> list:
    """``phi(b, A)`` on SymPy entries, each entry expanded (canonical for polynomials in one surd)."""
    return [sympy.expand(v) for v in phi(np.array(b, dtype=object), np.array(A, dtype=object))]


class _Surd:
    """An element ``p + q sqrt(delta)`` of ``Q(sqrt(delta))`` (``delta`` a non-square rational, or
    ``q = 0`` throughout).  Exact and fast; SymPy's ``radsimp`` is far slower for the same job.
    The representation is unique because ``sqrt(delta)`` is irrational, so ``== 0`` is exact."""

    __slots__ = ("p", "q", "delta")

    def __init__(self, p, q=0, delta=0):
        self.p, self.q, self.delta = Fraction(p), Fraction(q), Fraction(delta)

    def _lift(self, o):
        return o if isinstance(o, _Surd) else _Surd(o, 0, self.delta)

    def __add__(self, o):
        o = self._lift(o)
        return _Surd(self.p + o.p, self.q + o.q, self.delta)

    __radd__ = __add__

    def __neg__(self):
        return _Surd(-self.p, -self.q, self.delta)

    def __sub__(self, o):
        return self + (-self._lift(o))

    def __rsub__(self, o):
        return self._lift(o) - self

    def __mul__(self, o):
        o = self._lift(o)
        return _Surd(self.p * o.p + self.q * o.q * self.delta, self.p * o.q + self.q * o.p, self.delta)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = self._lift(o)
        n = o.p * o.p - o.q * o.q * self.delta
        return self * _Surd(o.p / n, -o.q / n, self.delta)

    def is_zero(self) -> bool:
        return self.p == 0 and self.q == 0

    def to_float(self) -> float:
        return float(self.p) + float(self.q) * math.sqrt(float(self.delta))

    def to_sympy(self):
        r = sympy.Rational(self.p.numerator, self.p.denominator)
        if self.q == 0:
            return r
        return r + sympy.Rational(self.q.numerator, self.q.denominator) * sympy.sqrt(
            sympy.Rational(self.delta.numerator, self.delta.denominator))


def _rational_sqrt(x: Fraction) -> Fraction | None:
    """``sqrt(x)`` if it is rational, else None."""
    n, dn = math.isqrt(x.numerator), math.isqrt(x.denominator)
    return Fraction(n, dn) if n * n == x.numerator and dn * dn == x.denominator else None


def _F(v) -> Fraction:
    v = sympy.Rational(v)
    return Fraction(int(v.p), int(v.q))


def _exact_rank(S: sympy.Matrix) -> int:
    """Rank over Q by python-flint (SymPy's rank takes minutes on the thousand-digit blocks of X* at
    d = 8; flint's fraction-free elimination takes milliseconds)."""
    import flint

    entries = [flint.fmpq(int(x.p), int(x.q)) for x in (sympy.Rational(v) for v in S)]
    return int(flint.fmpq_mat(S.rows, S.cols, entries).rank())


def _exact_candidates(S: sympy.Matrix, j: int, r: int):
    """Isotropic-hyperplane normals (lists of ``_Surd``) of one non-zero rational block of rank ``r``,
    or a certificate."""
    if r >= 3:
        return None, {"reason": "rank", "block": j, "rank": int(r),
                      "explanation": f"S_{j + 1} has rank {r} >= 3, but every sym(b a^T) has rank <= 2"}
    if r == 1:
        col = next(S[:, k] for k in range(S.cols) if any(S[:, k]))
        return [[_Surd(_F(x)) for x in col]], None
    # rank 2: S = R M R^T with R a rational basis of the column space, M 2x2 symmetric invertible
    R = sympy.Matrix.hstack(*S.columnspace())
    Rp = (R.T * R).inv() * R.T
    M = Rp * S * Rp.T
    det = M.det()
    if det > 0:
        sign = "positive" if M.trace() > 0 else "negative"
        return None, {"reason": "definite", "block": j, "rank": 2, "sign": sign,
                      "explanation": f"S_{j + 1} has rank 2 and is {sign} semidefinite "
                                     "(det of its compression = " + str(det) + " > 0); "
                                     "every rank-2 sym(b a^T) is indefinite"}
    m11, m12, m22 = _F(M[0, 0]), _F(M[0, 1]), _F(M[1, 1])
    delta = m12 ** 2 - m11 * m22  # = -det M > 0
    root = _rational_sqrt(delta)
    s = _Surd(root) if root is not None else _Surd(0, 1, delta)
    dl = s.delta
    # q(x, y) = m11 x^2 + 2 m12 x y + m22 y^2 = (p . (x, y)) (q . (x, y))
    if m11 != 0:
        p = (_Surd(m11, 0, dl), _Surd(m12, 0, dl) - s)
        q = (_Surd(1, 0, dl), (_Surd(m12, 0, dl) + s) / m11)
    else:
        p = (_Surd(0, 0, dl), _Surd(1, 0, dl))
        q = (_Surd(2 * m12, 0, dl), _Surd(m22, 0, dl))
    Rf = [[_F(R[i, c]) for c in range(2)] for i in range(R.rows)]
    u = [p[0] * Rf[i][0] + p[1] * Rf[i][1] for i in range(R.rows)]
    v = [q[0] * Rf[i][0] + q[1] * Rf[i][1] for i in range(R.rows)]
    return [u, v], None


def _normalise(b: list) -> list:
    """Scale a candidate normal so that its first non-zero entry is 1 (keeps the numbers small)."""
    lead = next(x for x in b if not x.is_zero())
    return [x / lead for x in b]


def _column_for(b: list, S: list):
    """The unique a with sym(b a^T) = S if it exists: (a, None), else (a, P S P residual)."""
    n = len(b)
    nb = sum((x * x for x in b), _Surd(0, 0, b[0].delta))
    Sb = [sum((b[c] * S[i][c] for c in range(n)), _Surd(0, 0, b[0].delta)) for i in range(n)]
    bSb = sum((b[i] * Sb[i] for i in range(n)), _Surd(0, 0, b[0].delta))
    a = [(Sb[i] * 2) / nb - b[i] * bSb / (nb * nb) for i in range(n)]
    R = [[(b[i] * a[c] + a[i] * b[c]) * Fraction(-1, 2) + S[i][c] for c in range(n)] for i in range(n)]
    return a, (None if all(x.is_zero() for row in R for x in row) else R)


def realize_exact(X, d: int, *, max_d: int = MAX_D_EXACT) -> Realization:
    """Decide Problem C.9 exactly over Q and return an exact preimage ``(b, A)`` when one exists.

    ``X``: ``d*m`` rationals (SymPy rationals, ints, Fractions; floats at their exact binary value).
    ``b`` is a list of ``d+1`` SymPy numbers in ``Q(sqrt(delta))``, ``A`` a list of rows.  A returned
    preimage has been re-verified by computing ``phi(b, A)`` exactly (SymPy) and comparing with ``X``.
    """
    d = _check_d(d, max_d)
    X = list(X) if not isinstance(X, np.ndarray) else list(X.reshape(-1))
    _check_len(len(X), d)
    Xq = [_to_rational(v, k) for k, v in enumerate(X)]
    m = m_of(d)
    blocks = []
    for j in range(d):
        S = sympy.zeros(d + 1, d + 1)
        k = j * m
        for a in range(d + 1):
            for c in range(a, d + 1):
                S[a, c] = S[c, a] = Xq[k] if a == c else Xq[k] / 2
                k += 1
        blocks.append(S)
    nonzero = [j for j in range(d) if not blocks[j].is_zero_matrix]
    if not nonzero:
        b = [sympy.Integer(1)] + [sympy.Integer(0)] * d
        return Realization(True, b, [[sympy.Integer(0)] * d for _ in range(d + 1)],
                           {"reason": "X = 0", "pivot_block": None}, 0.0)
    # all ranks first: a rank >= 3 or definite block is the simplest certificate
    ranks = {j: _exact_rank(blocks[j]) for j in nonzero}
    best = None
    for j in sorted(nonzero, key=lambda j: (-ranks[j] if ranks[j] >= 3 else ranks[j], j)):
        cands, cert = _exact_candidates(blocks[j], j, ranks[j])
        if cert is not None:
            cert["ranks"] = [ranks.get(k, 0) for k in range(d)]
            return Realization(False, certificate=cert)
        if best is None:
            best = (j, cands)
    pivot, cands = best
    failures = []
    for ci, cand in enumerate(cands):
        b = _normalise(cand)
        cols, bad = [], None
        for k in range(d):
            Sk = [[_Surd(_F(blocks[k][i, c]), 0, b[0].delta) for c in range(d + 1)] for i in range(d + 1)]
            a, R = _column_for(b, Sk)
            if R is not None:
                bad = (k, R)
                break
            cols.append(a)
        if bad is None:
            bs = [x.to_sympy() for x in b]
            A = [[cols[j][i].to_sympy() for j in range(d)] for i in range(d + 1)]
            diff = [sympy.expand(p - x) for p, x in zip(phi_exact(bs, A), Xq)]
            if any(v != 0 for v in diff):  # pragma: no cover - would be a bug in the derivation
                raise AssertionError("exact re-verification of phi(b, A) = X failed")
            return Realization(True, bs, A, {"reason": "realizable", "pivot_block": pivot,
                                             "pivot_rank": ranks[pivot], "candidate": ci}, 0.0)
        k, R = bad
        fro = math.sqrt(sum(x.to_float() ** 2 for row in R for x in row))
        failures.append({"candidate": ci, "normal": [str(x.to_sympy()) for x in b], "block": k,
                         "residual_PSP_frobenius": fro,
                         "residual_PSP": [[str(x.to_sympy()) for x in row] for row in R]})
    return Realization(False, certificate={
        "reason": "no common isotropic hyperplane", "pivot_block": pivot, "pivot_rank": ranks[pivot],
        "ranks": [ranks.get(k, 0) for k in range(d)],
        "candidates": [f["normal"] for f in failures], "residuals": failures,
        "explanation": f"S_{pivot + 1} admits only the listed normals b; for each, some S_k has "
                       "P S_k P != 0 on b^perp, so no a_k with sym(b a_k^T) = S_k exists"})


# --------------------------------------------------------------------------- float solver


def realize_float(X, d: int, tol: float = 1e-9) -> Realization:
    """The same decision in floating point, ``O(d^3)`` flops (linear in the size of X).

    The pivot is the block of largest norm; its numerical rank counts eigenvalues above
    ``tol * max|eig|``.  Candidates are accepted when ``||phi(b, A) - X|| <= sqrt(tol) * ||X||``
    (a relative residual test, loose enough for rounding at d in the hundreds).  The answer is
    numerical: near the boundary of the realisable set it depends on ``tol``.
    """
    d = _check_d(d, MAX_D_FLOAT)
    Xf = _float_vector(X, d)
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise UserInputError(f"tol must be in (0, 1), got {tol!r}")
    nX = float(np.linalg.norm(Xf))
    if nX == 0.0:
        b = np.zeros(d + 1)
        b[0] = 1.0
        return Realization(True, b, np.zeros((d + 1, d)), {"reason": "X = 0"}, 0.0)
    S = sym_blocks(Xf, d)
    norms = np.linalg.norm(S, axis=(1, 2))
    pivot = int(np.argmax(norms))
    lam, V = np.linalg.eigh(S[pivot])
    scale = float(np.max(np.abs(lam)))
    big = np.abs(lam) > tol * scale
    rank = int(np.sum(big))
    info = {"pivot_block": pivot, "pivot_rank": rank,
            "pivot_eigenvalues_extreme": [float(lam[0]), float(lam[-1])]}
    if rank >= 3:
        return Realization(False, certificate={"reason": "rank", "block": pivot, "rank": rank,
                                               "eigenvalues": lam[big].tolist(), **info})
    if rank == 2 and (np.all(lam[big] > 0) or np.all(lam[big] < 0)):
        return Realization(False, certificate={"reason": "definite", "block": pivot, "rank": 2,
                                               "eigenvalues": lam[big].tolist(), **info})
    if rank == 1:
        cands = [V[:, int(np.argmax(np.abs(lam)))]]
    else:
        ip, im = int(np.argmax(lam)), int(np.argmin(lam))
        u = math.sqrt(lam[ip]) * V[:, ip]
        w = math.sqrt(-lam[im]) * V[:, im]
        cands = [(u + w) / np.linalg.norm(u + w), (u - w) / np.linalg.norm(u - w)]
    best = None
    for ci, b in enumerate(cands):
        Sb = S @ b                                   # (d, d+1): S_k b
        bSb = Sb @ b                                 # (d,)
        A = (2 * Sb - np.outer(bSb, b)).T            # |b| = 1
        res = float(np.linalg.norm(phi_fast(b, A) - Xf))
        if best is None or res < best[0]:
            best = (res, ci, b, A)
    res, ci, b, A = best
    if res <= math.sqrt(tol) * nX:
        return Realization(True, b, A, {"reason": "realizable", "candidate": ci, **info}, res)
    return Realization(False, certificate={"reason": "no common isotropic hyperplane",
                                           "best_residual": res, "relative_residual": res / nX, **info},
                       residual=res)


# --------------------------------------------------------------------------- projection (Remark C.15)


@dataclasses.dataclass
class ProjectionResult:
    """``value = ||phi(b, A) - X||^2`` at the best ``(b, A)`` found (numeric, multistart)."""

    value: float
    b: np.ndarray
    A: np.ndarray
    starts: int


def _ls_value(y: np.ndarray, Xb: np.ndarray, d: int):
    b = y / np.linalg.norm(y)
    L = lift_matrix(b)
    A, *_ = np.linalg.lstsq(L, Xb.T, rcond=None)
    r = L @ A - Xb.T
    return float(np.sum(r * r)), b, A


def projection_distance(X, d: int, starts: int = 8, seed: int = 0) -> ProjectionResult:
    """The paper's psi (Remark C.15), numerically: ``min_{b, A} ||phi(b, A) - X||^2``.

    For fixed ``b`` the problem is linear least squares in ``A`` (variable projection), so only
    ``b`` on the unit sphere is searched: BFGS from the eigenvectors of the largest block and from
    ``starts`` random directions.  The minimum is attained (the image of phi is a closed cone) but
    the search is local: the value is an upper bound on the true distance, 0 up to rounding when X
    is realisable.
    """
    from scipy.optimize import minimize

    d = _check_d(d, 64)
    Xf = _float_vector(X, d)
    Xb = Xf.reshape(d, m_of(d))
    S = sym_blocks(Xf, d)
    piv = int(np.argmax(np.linalg.norm(S, axis=(1, 2))))
    lam, V = np.linalg.eigh(S[piv])
    rng = np.random.default_rng(seed)
    inits = [V[:, i] for i in np.argsort(-np.abs(lam))[:3]]
    if lam[-1] > 0 > lam[0]:
        u, w = math.sqrt(lam[-1]) * V[:, -1], math.sqrt(-lam[0]) * V[:, 0]
        inits += [u + w, u - w]
    inits += list(rng.standard_normal((starts, d + 1)))
    best = None
    for y0 in inits:
        if np.linalg.norm(y0) == 0:
            continue
        res = minimize(lambda y: _ls_value(y, Xb, d)[0], y0, method="BFGS",
                       options={"gtol": 1e-12, "maxiter": 400})
        val, b, A = _ls_value(res.x, Xb, d)
        if best is None or val < best[0]:
            best = (val, b, A)
    val, b, A = best
    return ProjectionResult(val, b, A, len(inits))
