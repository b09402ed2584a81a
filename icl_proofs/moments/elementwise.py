"""Exact Gaussian expectations at concrete small dimension, by MGF coefficient extraction.

This is the *independent* exact route: it shares no code and no algorithm with the symbolic
pairing engine (:mod:`icl_proofs.moments.wick`), so agreement between the two is meaningful.

Method
------
For a centred Gaussian vector ``z`` with covariance ``C`` the moment generating function is
``E[exp(tᵀz)] = exp(½ tᵀCt)``.  Comparing coefficients of ``t^α`` on both sides gives ::

    E[z^α] = α! · [t^α] exp(½ tᵀCt) = α! · [t^α] (½ tᵀCt)^m / m!      (|α| = 2m),

and ``E[z^α] = 0`` for odd ``|α|``.  Only the variables in the support of ``α`` matter (setting
the other ``t_j`` to zero does not change the coefficient), so ``(½ t_Sᵀ C_SS t_S)^m / m!`` is
expanded, with exact rational arithmetic in a :mod:`sympy.polys.rings` ring over ``QQ``, only over
the support ``S``, and cached per (covariance, support, m).  A non-centred vector ``x = μ + z``
is handled by the binomial expansion ``E[x^α] = Σ_{β≤α} (α choose β) μ^{α-β} E[z^β]``.

:func:`expect` expands a polynomial expression in the symbols of several *independent* Gaussian
vectors into a sparse ring element and sums, over its monomials, the coefficient times the product
of the per-vector moments.  Symbols that belong to no vector are treated as constants.

Typical use: build the expression with SymPy matrix arithmetic on the vectors' symbol columns.

>>> import sympy as sp
>>> from icl_proofs.moments.elementwise import GaussianVector, expect, quad
>>> Lam = sp.Matrix([[2, 1], [1, 3]])
>>> x = GaussianVector("x", Lam)
>>> A = sp.Matrix([[1, sp.Rational(1, 2)], [sp.Rational(1, 2), -1]])
>>> expect(quad(x, A, x) ** 2, [x]) == 2 * (A * Lam * A * Lam).trace() + (A * Lam).trace() ** 2
True

Sizes: the route is exact and dense in the worst case; it is meant for dimensions 1-3 with a
handful of vectors (about a dozen variables) and total degree up to about 8.  Larger inputs are
refused with ``ValueError("too large for the exact elementwise route: ...")``.
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from math import comb, factorial, gcd
from typing import Iterable, Sequence

import sympy as sp
from sympy.matrices.matrixbase import MatrixBase
from sympy.polys.domains import EX, QQ, ZZ
from sympy.polys.polyerrors import CoercionFailed
from sympy.polys.rings import ring

__all__ = [
    "GaussianVector",
    "expect",
    "expect_matrix",
    "vector_symbols",
    "iid_vectors",
    "empirical_cov",
    "quad",
    "inner",
    "as_column",
    "example_quadratic_forms",
    "MAX_VARIABLES",
    "MAX_TERMS",
]

#: at most this many variables (sum of the dimensions of the vectors) in one expectation
MAX_VARIABLES = 40
#: at most this many monomials (estimated upper bound) in any intermediate expansion
MAX_TERMS = 1_000_000


# --------------------------------------------------------------------------------------------
# exact input validation
# --------------------------------------------------------------------------------------------

def _exact_rational(value, what: str) -> sp.Rational:
    v = sp.sympify(value)
    if isinstance(v, sp.Float):
        raise ValueError(
            f"{what} must be exact (Integer or Rational), got the float {v}; "
            f"use sympy.Rational, e.g. Rational('{v}')"
        )
    if not v.is_Rational:
        raise ValueError(f"{what} must be a rational number, got {v!r}")
    return v


def _rational_matrix(m, what: str) -> sp.ImmutableMatrix:
    try:
        M = sp.ImmutableMatrix(m)
    except Exception as exc:  # noqa: BLE001 - anything SymPy cannot read as a matrix
        raise ValueError(f"{what} must be a matrix of rationals, got {m!r}") from exc
    entries = [_exact_rational(e, f"{what} entry ({i // M.cols}, {i % M.cols})")
               for i, e in enumerate(M)]
    return sp.ImmutableMatrix(M.rows, M.cols, entries)


def _check_psd(C: sp.ImmutableMatrix, what: str = "cov") -> None:
    """Exact symmetric elimination: raises ValueError unless ``C`` is positive semidefinite."""
    n = C.rows
    a = [[QQ.convert(C[i, j]) for j in range(n)] for i in range(n)]
    for k in range(n):
        p = a[k][k]
        if p < 0:
            raise ValueError(f"{what} is not positive semidefinite (indefinite: negative pivot "
                             f"{p} at step {k} of symmetric elimination)")
        if p == 0:
            if any(a[k][j] != 0 for j in range(k + 1, n)):
                raise ValueError(f"{what} is not positive semidefinite (indefinite: zero pivot with "
                                 f"non-zero off-diagonal entries in row {k} after elimination)")
            continue
        for i in range(k + 1, n):
            if a[i][k] == 0:
                continue
            f = a[i][k] / p
            row_i, row_k = a[i], a[k]
            for j in range(k + 1, n):
                row_i[j] -= f * row_k[j]


# --------------------------------------------------------------------------------------------
# centred moments by MGF coefficients, shared between vectors with equal covariance
# --------------------------------------------------------------------------------------------

class _CentredMoments:
    """E[z^α] for z ~ N(0, C), by [t^α] of (½ tᵀCt)^m / m! on the support of α."""

    def __init__(self, cov_rows: tuple[tuple[int | sp.Rational, ...], ...]):
        self.d = len(cov_rows)
        self.C = [[QQ.convert(c) for c in row] for row in cov_rows]
        self._powers: dict[tuple[int, ...], list] = {}   # support -> [q^0/0!, q^1/1!, ...]
        self._cache: dict[tuple[int, ...], object] = {}

    def _power(self, support: tuple[int, ...], m: int):
        pows = self._powers.get(support)
        if pows is None:
            R, *t = ring(",".join(f"t{i}" for i in support) or "t_", QQ)
            half = QQ(1, 2)
            q = R.zero
            for a, i in enumerate(support):
                q += half * self.C[i][i] * t[a] ** 2
                for b in range(a + 1, len(support)):
                    c = self.C[i][support[b]]
                    if c:
                        q += c * t[a] * t[b]
            pows = self._powers[support] = [R.one, q]
        while len(pows) <= m:
            k = len(pows)
            pows.append(pows[-1] * pows[1] * QQ(1, k))
        return pows[m]

    def moment(self, alpha: tuple[int, ...]):
        hit = self._cache.get(alpha)
        if hit is not None:
            return hit
        n = sum(alpha)
        if n % 2:
            val = QQ.zero
        elif n == 0:
            val = QQ.one
        else:
            support = tuple(i for i, a in enumerate(alpha) if a)
            key = tuple(alpha[i] for i in support)
            P = self._power(support, n // 2)
            c = P.get(key)
            if c is None:
                val = QQ.zero
            else:
                val = c
                for a in key:
                    val *= factorial(a)
        self._cache[alpha] = val
        return val


@lru_cache(maxsize=128)
def _centred_engine(cov_rows) -> _CentredMoments:
    return _CentredMoments(cov_rows)


# --------------------------------------------------------------------------------------------
# Gaussian vectors
# --------------------------------------------------------------------------------------------

class GaussianVector:
    """A real Gaussian vector ``N(mean, cov)`` with exact rational parameters and named coordinates.

    Parameters
    ----------
    name:
        prefix of the coordinate symbols ``name_0, ..., name_{d-1}`` (real SymPy ``Symbol`` s).
        Vectors used together in :func:`expect` must have distinct symbols (distinct names).
    cov:
        ``d × d`` symmetric positive-semidefinite matrix of Integers/Rationals (floats refused).
    mean:
        optional length-``d`` rational vector; ``None`` means centred.

    Two ``GaussianVector`` objects always represent *independent* vectors, even with equal
    covariance (N i.i.d. samples are N vectors with the same ``cov``, see :func:`iid_vectors`).
    """

    def __init__(self, name: str, cov, mean=None):
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name) \
                or any(ch in name for ch in ",:()[]"):
            raise ValueError(f"GaussianVector name must be a non-empty identifier-like string, "
                             f"got {name!r}")
        C = _rational_matrix(cov, "cov")
        if C.rows != C.cols:
            raise ValueError(f"cov must be square, got shape {C.rows}x{C.cols}")
        if C.rows == 0:
            raise ValueError("cov must be at least 1x1")
        if C != C.T:
            bad = next((i, j) for i in range(C.rows) for j in range(i + 1, C.cols)
                       if C[i, j] != C[j, i])
            raise ValueError(f"cov must be symmetric, but cov[{bad[0]},{bad[1]}] = "
                             f"{C[bad]} != {C[bad[::-1]]} = cov[{bad[1]},{bad[0]}]")
        _check_psd(C, "cov")
        d = C.rows
        if mean is None:
            mu = None
        else:
            M = _rational_matrix(mean, "mean")
            if M.rows * M.cols != d or min(M.rows, M.cols) != 1:
                raise ValueError(f"mean must be a vector of length {d}, got shape "
                                 f"{M.rows}x{M.cols}")
            mu = sp.ImmutableMatrix(d, 1, list(M))
            if all(e == 0 for e in mu):
                mu = None
        self.name = name
        self.cov = C
        self.mean = mu
        self.dim = d
        self.symbols: tuple[sp.Symbol, ...] = tuple(vector_symbols(name, d))
        self._engine = _centred_engine(tuple(tuple(C.row(i)) for i in range(d)))
        self._mu = None if mu is None else [QQ.convert(e) for e in mu]
        self._cache: dict[tuple[int, ...], object] = {}

    # -- views ---------------------------------------------------------------------------
    @property
    def vec(self) -> sp.ImmutableMatrix:
        """The coordinate symbols as a ``d × 1`` column."""
        return sp.ImmutableMatrix(self.dim, 1, self.symbols)

    @property
    def T(self) -> sp.ImmutableMatrix:
        """The coordinate symbols as a ``1 × d`` row (so ``x.T * A * x.vec`` reads naturally)."""
        return self.vec.T

    def __repr__(self) -> str:
        mean = "0" if self.mean is None else list(self.mean)
        return f"GaussianVector({self.name!r}, d={self.dim}, mean={mean}, cov={self.cov.tolist()})"

    # -- moments -------------------------------------------------------------------------
    def moment(self, alpha: Sequence[int]) -> sp.Rational:
        """``E[x^α] = E[x_0^α_0 ··· x_{d-1}^α_{d-1}]`` as an exact SymPy Rational."""
        alpha = tuple(int(a) for a in alpha)
        if len(alpha) != self.dim or any(a < 0 for a in alpha):
            raise ValueError(f"alpha must be {self.dim} non-negative integers, got {alpha}")
        return QQ.to_sympy(self._moment(alpha))

    def _moment(self, alpha: tuple[int, ...]):
        """The moment as a ground-domain ``QQ`` element (cached)."""
        hit = self._cache.get(alpha)
        if hit is not None:
            return hit
        if self._mu is None:
            val = self._engine.moment(alpha)
        else:
            val = QQ.zero
            mu = self._mu
            ranges = [range(a + 1) if mu[i] else (a,) for i, a in enumerate(alpha)]
            for beta in itertools.product(*ranges):
                if sum(beta) % 2:
                    continue
                c = self._engine.moment(beta)
                if not c:
                    continue
                for i, (a, b) in enumerate(zip(alpha, beta)):
                    if a != b:
                        c = c * comb(a, b) * mu[i] ** (a - b)
                val += c
        self._cache[alpha] = val
        return val


# --------------------------------------------------------------------------------------------
# building expressions
# --------------------------------------------------------------------------------------------

def vector_symbols(name: str, d: int) -> sp.ImmutableMatrix:
    """The column ``(name_0, ..., name_{d-1})ᵀ`` of real symbols (same as ``GaussianVector.vec``)."""
    if int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    return sp.ImmutableMatrix(int(d), 1, [sp.Symbol(f"{name}_{i}", real=True) for i in range(int(d))])


def iid_vectors(name: str, cov, n: int, mean=None) -> list[GaussianVector]:
    """``n`` independent copies ``name1, ..., name{n}`` of ``N(mean, cov)`` (a sample)."""
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return [GaussianVector(f"{name}{i}", cov, mean) for i in range(1, int(n) + 1)]


def as_column(v) -> sp.ImmutableMatrix:
    """A :class:`GaussianVector` or a vector-shaped matrix, as a column matrix."""
    if isinstance(v, GaussianVector):
        return v.vec
    M = sp.ImmutableMatrix(v)
    if M.cols == 1:
        return M
    if M.rows == 1:
        return M.T
    raise ValueError(f"expected a vector, got a {M.rows}x{M.cols} matrix")


def empirical_cov(vectors: Iterable) -> sp.ImmutableMatrix:
    """``(1/N) Σ_i x_i x_iᵀ`` over the given sample (GaussianVectors or symbol columns)."""
    cols = [as_column(v) for v in vectors]
    if not cols:
        raise ValueError("empirical_cov needs at least one vector")
    d = cols[0].rows
    if any(c.rows != d for c in cols):
        raise ValueError("empirical_cov: all vectors must have the same dimension")
    S = sp.zeros(d, d)
    for c in cols:
        S += c * c.T
    return sp.ImmutableMatrix(S / len(cols))


def quad(u, M, v) -> sp.Expr:
    """The scalar bilinear form ``uᵀ M v`` (u, v GaussianVectors or columns, M a matrix)."""
    u, v = as_column(u), as_column(v)
    return (u.T * sp.Matrix(M) * v)[0, 0]


def inner(u, v) -> sp.Expr:
    """The scalar ``uᵀ v``."""
    u, v = as_column(u), as_column(v)
    if u.rows != v.rows:
        raise ValueError(f"inner: dimensions differ ({u.rows} vs {v.rows})")
    return (u.T * v)[0, 0]


# --------------------------------------------------------------------------------------------
# expectations
# --------------------------------------------------------------------------------------------

def _check_vectors(vectors) -> list[GaussianVector]:
    if isinstance(vectors, GaussianVector):
        vectors = [vectors]
    vectors = list(vectors)
    if not all(isinstance(v, GaussianVector) for v in vectors):
        raise TypeError("vectors must be a list of GaussianVector")
    seen: dict[sp.Symbol, str] = {}
    for v in vectors:
        for s in v.symbols:
            if s in seen:
                raise ValueError(f"symbol {s} is shared by two vectors ({seen[s]!r} and "
                                 f"{v.name!r}); give independent vectors distinct names")
            seen[s] = v.name
    nvars = len(seen)
    if nvars > MAX_VARIABLES:
        raise ValueError(f"too large for the exact elementwise route: {nvars} variables "
                         f"(sum of dimensions of {len(vectors)} vectors) > {MAX_VARIABLES}")
    return vectors


def _estimate_terms(expr, gens: frozenset) -> int:
    """Upper bound on the number of monomials of any intermediate expansion of ``expr``."""
    memo: dict = {}
    worst = [1]

    def walk(e):
        # returns (terms bound, degree bound, variables involved)
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e in gens:
            r = (1, 1, frozenset((e,)))
        elif not e.args or not (e.free_symbols & gens):
            r = (1, 0, frozenset())
        elif e.is_Add or e.is_Mul:
            parts = [walk(a) for a in e.args]
            vars_ = frozenset().union(*(p[2] for p in parts))
            if e.is_Add:
                t, deg = sum(p[0] for p in parts), max(p[1] for p in parts)
            else:
                t, deg = 1, sum(p[1] for p in parts)
                for p in parts:
                    t *= p[0]
            r = (min(t, comb(len(vars_) + deg, deg)), deg, vars_)
        elif e.is_Pow and e.exp.is_Integer and e.exp >= 0:
            t, deg, vars_ = walk(e.base)
            k = int(e.exp)
            deg *= k
            r = (min(comb(t + k - 1, k), comb(len(vars_) + deg, deg)), deg, vars_)
        else:  # not polynomial in gens: the converter reports it
            r = (1, 0, frozenset())
        worst[0] = max(worst[0], r[0])
        memo[e] = r
        return r

    walk(expr)
    return worst[0]


def _to_ring(expr, gens: tuple[sp.Symbol, ...]):
    """``expr`` as ``(R, P, D)``: ``expr = P / D`` with ``P`` in ``K[gens]`` and ``D`` a positive int.

    With rational coefficients only, ``K = ZZ`` (exact integer arithmetic is several times
    faster than rational arithmetic); otherwise ``K`` is QQ[others], QQ(others) or EX and
    ``D = 1``.
    """
    for f in expr.atoms(sp.Float):
        raise ValueError(f"expect: the expression contains the float {f}; the exact route needs "
                         f"Integers/Rationals (use sympy.Rational)")
    others = sorted(expr.free_symbols - set(gens), key=sp.default_sort_key)
    last = None
    if not others:
        try:
            R, *g = ring(gens, ZZ)
            P, D = _rebuild_zz(R, dict(zip(gens, g)), expr)
            return R, P, D
        except (CoercionFailed, ValueError, TypeError, NotImplementedError) as exc:
            last = exc
    domains = [] if not others else [QQ.poly_ring(*others), QQ.frac_field(*others)]
    domains.append(EX)
    for K in domains:
        try:
            R, *g = ring(gens, K)
            return R, _rebuild(R, dict(zip(gens, g)), expr), 1
        except (CoercionFailed, ValueError, TypeError, NotImplementedError) as exc:
            last = exc
    raise ValueError(f"expect: the expression is not a polynomial in the vectors' symbols "
                     f"({last})")


def _rebuild_zz(R, mapping, expr):
    """``expr`` as ``(P, D)`` with ``P`` in ``ZZ[gens]``, ``D`` a positive int, ``expr = P/D``."""
    gens = set(mapping)
    memo: dict = {}

    def reduce_(P, D):
        if D == 1 or not P:
            return P, (1 if not P else D)
        g = D
        for c in P.values():
            g = gcd(g, c)
            if g == 1:
                return P, D
        return P.quo_ground(g), D // g

    def rb(e):
        hit = memo.get(e)
        if hit is not None:
            return hit
        g = mapping.get(e)
        if g is not None:
            r = (g, 1)
        elif not (e.free_symbols & gens):
            q = QQ.convert(e)
            r = (R.ground_new(int(q.numerator)), int(q.denominator))
        elif e.is_Add:
            parts = [rb(a) for a in e.args]
            L = 1
            for _, D in parts:
                L = L * D // gcd(L, D)
            acc: dict = {}
            for P, D in parts:
                f = L // D
                for m, c in P.items():
                    c = c * f
                    acc[m] = acc[m] + c if m in acc else c
            r = reduce_(R.from_dict({m: c for m, c in acc.items() if c}), L)
        elif e.is_Mul:
            P, D = R.one, 1
            for a in e.args:
                Pa, Da = rb(a)
                P, D = P * Pa, D * Da
            r = reduce_(P, D)
        elif e.is_Pow and e.exp.is_Integer and e.exp >= 0:
            P, D = rb(e.base)
            k = int(e.exp)
            r = (P ** k, D ** k)
        else:
            raise ValueError(f"sub-expression {e} is not polynomial in the vectors' symbols")
        memo[e] = r
        return r

    return rb(sp.sympify(expr))


def _rebuild(R, mapping, expr):
    K = R.domain
    gens = set(mapping)
    memo: dict = {}

    def rb(e):
        hit = memo.get(e)
        if hit is not None:
            return hit
        g = mapping.get(e)
        if g is not None:
            r = g
        elif not (e.free_symbols & gens):
            r = R.ground_new(K.convert(e))
        elif e.is_Add:
            acc: dict = {}
            for a in e.args:
                for m, c in rb(a).items():
                    acc[m] = acc[m] + c if m in acc else c
            r = R.from_dict({m: c for m, c in acc.items() if c}) if acc else R.zero
        elif e.is_Mul:
            r = R.one
            for a in e.args:
                r = r * rb(a)
        elif e.is_Pow and e.exp.is_Integer and e.exp >= 0:
            r = rb(e.base) ** int(e.exp)
        else:
            raise ValueError(f"sub-expression {e} is not polynomial in the vectors' symbols")
        memo[e] = r
        return r

    return rb(sp.sympify(expr))


def _scalar(expr):
    if isinstance(expr, MatrixBase):
        if expr.shape == (1, 1):
            return expr[0, 0]
        raise TypeError(f"expect takes a scalar expression; for a {expr.rows}x{expr.cols} matrix "
                        f"use expect_matrix")
    return sp.sympify(expr)


def _expect_checked(expr, vectors: list[GaussianVector]):
    expr = _scalar(expr)
    gens = tuple(s for v in vectors for s in v.symbols)
    if not (expr.free_symbols & set(gens)):
        return expr  # a constant
    bound = _estimate_terms(expr, frozenset(gens))
    if bound > MAX_TERMS:
        raise ValueError(f"too large for the exact elementwise route: the expansion may have up "
                         f"to {bound} monomials in {len(gens)} variables (limit {MAX_TERMS})")
    R, p, denom = _to_ring(expr, gens)
    K = R.domain
    # slices of the exponent tuple per vector
    spans, start = [], 0
    for v in vectors:
        spans.append((v, start, start + v.dim, v._mu is None))
        start += v.dim
    is_zz = K == ZZ
    total = QQ.zero if is_zz else K.zero
    for monom, coeff in p.items():
        w = QQ.one
        for v, a, b, centred in spans:
            sub = monom[a:b]
            if centred and sum(sub) % 2:
                w = QQ.zero
                break
            m = v._moment(sub)
            if not m:
                w = QQ.zero
                break
            w = w * m
        if w:
            total += (w * coeff) if is_zz else coeff * K.convert_from(w, QQ)
    if is_zz:
        return QQ.to_sympy(total / denom)
    return K.to_sympy(total)


def expect(expr, vectors) -> sp.Expr:
    """``E[expr]`` over the independent Gaussian ``vectors``, exactly.

    ``expr`` is a SymPy expression (or a ``1 × 1`` matrix) polynomial in the vectors' symbols;
    any other free symbols are constants and may appear in the result.  Returns a SymPy
    ``Rational`` when ``expr`` has no other free symbols.

    Raises ``ValueError`` for floats in ``expr``, for non-polynomial dependence on the vectors,
    for shared symbols, and for inputs too large for this route.
    """
    return _expect_checked(expr, _check_vectors(vectors))


def expect_matrix(M, vectors) -> sp.ImmutableMatrix:
    """Elementwise :func:`expect` of a matrix-valued expression (moment caches are shared)."""
    vectors = _check_vectors(vectors)
    M = sp.ImmutableMatrix(M)
    return sp.ImmutableMatrix(M.rows, M.cols, [_expect_checked(e, vectors) for e in M])


# --------------------------------------------------------------------------------------------
# example
# --------------------------------------------------------------------------------------------

def example_quadratic_forms(Lam, A, name: str = "x"):
    """``(E[(xᵀAx)²], E[x xᵀ A x xᵀ])`` for ``x ~ N(0, Lam)``, by MGF coefficient extraction.

    Intended use: compare with a closed form computed by plain matrix arithmetic.

    >>> import sympy as sp
    >>> from icl_proofs.moments.elementwise import example_quadratic_forms
    >>> R = sp.Rational
    >>> Lam = sp.Matrix([[2, R(1, 2)], [R(1, 2), R(1, 3)]])      # exactly SPD
    >>> A = sp.Matrix([[1, R(-2, 3)], [R(-2, 3), 5]])           # symmetric
    >>> q2, _ = example_quadratic_forms(Lam, A)
    >>> q2 == 2 * (A * Lam * A * Lam).trace() + (A * Lam).trace() ** 2
    True
    >>> B = sp.Matrix([[1, 2], [R(-1, 4), 3]])                  # NOT symmetric
    >>> _, M4 = example_quadratic_forms(Lam, B)
    >>> M4 == Lam * (B + B.T) * Lam + (B * Lam).trace() * Lam
    True
    """
    x = GaussianVector(name, Lam)
    A = sp.Matrix(A)
    q = quad(x, A, x)
    X = x.vec
    return expect(q ** 2, [x]), expect_matrix(X * X.T * A * X * X.T, [x])
