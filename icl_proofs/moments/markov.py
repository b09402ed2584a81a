"""Exact moments of Markov-chain prompts (ding25): the second moment engine.

Data model (Ding, Lu, Lu, Nowicki & Gao 2025): binary chains ``s_1..s_{d+1}``; kernel
``K = [[1-a, a], [c, 1-c]]`` with ``a = p01``, ``c = p10``; the kernel is drawn once per prompt (prior
``a, c`` iid U(0, 1)) or fixed; initial states Bern(p), either iid across the ``n+1`` chains or
*conditionally iid given the query's initial state* (Theorem 3.4 / Example C.5).

Why it is exact and fast.  Given the kernel and the query's initial state, the ``n+1`` chains are
independent, so the fixed-kernel moment tensors factorise:

    H(K) = E[x_q x_q^T | K] ⊗ ( (1/n) E[v v^T | K] + (1 - 1/n) E[v | K] E[v | K]^T ),

with ``v`` the unique entries of ``z z^T`` for one chain.  Every entry is a polynomial in (a, c) of
degree at most ``3d - 1`` in each variable, so averaging over the prior is a *finite* sum over a
tensor-product cubature that is exact for that degree: rational nodes and weights (exact route) or
Gauss-Legendre nodes (floating point / mpmath).  Dependence on ``n`` is affine in ``1/n``, so ``n``
stays symbolic: ``H(n) = H_diff + (H_same - H_diff)/n``.

Exact arithmetic at d up to 8 (issue 17): for rational initial laws the cubature runs on integers (every
chain probability scaled by Q D^d, D = 6d), the sums are python-flint ``fmpz_mat`` products, one Fraction
is made per distinct moment and shared by all the H entries equal to it, and H X = h is solved by
``fmpq_mat.solve`` (Dixon p-adic lifting).  The generic builder (any ring) and the Bareiss solver stay as
the reference routes.

Single-chain probabilities P(s_t = 1 for t in S | K) come from a forward recursion on the state
distribution — *not* from the paper's product formula ``mu(t_1) prod kappa(t_{l+1} - t_l)``, which
:mod:`icl_proofs.claims.ding25.paper` states and the checks compare against.

>>> from fractions import Fraction as F
>>> sysm = enlarged_system(1, F(1, 2))
>>> sysm.h
[Fraction(1, 8), Fraction(1, 12), Fraction(7, 48)]
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from .symmetric_index import m_of, pairs

__all__ = ["EnlargedSystem", "enlarged_system", "chain_prob", "rational_rule", "gauss_rule",
           "iid_init", "conditional_init", "solve", "loss_at", "MAX_EXACT_D"]

#: largest d accepted by the exact engine (H has (d m)^2 entries; d = 8 is ~ 2 * 10^5 entries)
MAX_EXACT_D = 8


# --------------------------------------------------------------------------- cubature rules
@lru_cache(maxsize=None)
def rational_rule(npts: int) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """Interpolatory rule on [0, 1] with rational nodes (2i+1)/(2 npts): exact for degree < npts.

    The weights solve the moment equations sum_i w_i t_i^k = 1/(k+1) exactly.
    """
    t = [Fraction(2 * i + 1, 2 * npts) for i in range(npts)]
    # solve the Vandermonde system V^T w = moments by exact Gaussian elimination
    M = [[t[i] ** k for i in range(npts)] + [Fraction(1, k + 1)] for k in range(npts)]
    for col in range(npts):
        piv = next(r for r in range(col, npts) if M[r][col] != 0)
        M[col], M[piv] = M[piv], M[col]
        pv = M[col][col]
        M[col] = [x / pv for x in M[col]]
        for r in range(npts):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [x - f * y for x, y in zip(M[r], M[col])]
    return tuple(t), tuple(M[i][npts] for i in range(npts))


def gauss_rule(npts: int, dps: int | None = None):
    """Gauss-Legendre nodes and weights on [0, 1] (float, or mpmath at ``dps`` digits)."""
    if dps is None:
        x, w = np.polynomial.legendre.leggauss(npts)
        return tuple((x + 1) / 2), tuple(w / 2)
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.dps = dps
    # Golub-Welsch via mpmath polyroots of the Legendre polynomial
    xs = ctx.polyroots(ctx.taylor(lambda z: ctx.legendre(npts, z), 0, npts)[::-1], maxsteps=200,
                       extraprec=4 * dps)
    xs = sorted(ctx.re(z) for z in xs)
    ws = [2 / ((1 - x**2) * ctx.diff(lambda z: ctx.legendre(npts, z), x) ** 2) for x in xs]
    return tuple((x + 1) / 2 for x in xs), tuple(w / 2 for w in ws)


# --------------------------------------------------------------------------- one chain
def chain_prob(S: Sequence[int], a, c, p):
    """P(s_t = 1 for every t in S | kernel (a = p01, c = p10), P(s_1 = 1) = p); times are 1-based.

    Forward recursion on (P(s_t = 0, ok), P(s_t = 1, ok)); works for any ring (Fraction, SymPy, float).

    >>> from fractions import Fraction as F
    >>> chain_prob([1, 2], F(1, 3), F(1, 4), F(1, 2))   # p * (1 - c)
    Fraction(3, 8)
    """
    S = set(S)
    if not S:
        return 1
    T = max(S)
    v0, v1 = 1 - p, p
    if 1 in S:
        v0 = 0
    for t in range(2, T + 1):
        v0, v1 = v0 * (1 - a) + v1 * c, v0 * a + v1 * (1 - c)
        if t in S:
            v0 = 0
    return v0 + v1


# --------------------------------------------------------------------------- initial laws
def iid_init(p):
    """Initial states iid Bern(p): one mixture component (weight, query p, context p)."""
    return ((1, p, p),)


def conditional_init(p, q0, q1):
    """Query initial state ~ Bern(p); given it equals x, context initial states iid Bern(q_x)."""
    return ((1 - p, 0, q0), (p, 1, q1))


# --------------------------------------------------------------------------- the system
@dataclass
class EnlargedSystem:
    """Normal equations of the enlarged-space objective f~(X) = X^T H X - 2 h^T X + E[y_q].

    ``H(n) = H_diff + (H_same - H_diff) / n`` (lists of lists in the engine's ring), ``h``, ``Ey``.
    """

    d: int
    H_same: Any
    H_diff: Any
    h: list
    Ey: Any

    def H(self, n):
        """H at prompt length n (an int, Fraction, SymPy symbol, ...).

        The exact builder shares one object per distinct moment, so each distinct (same, diff) pair
        is combined once (about 1/4 of the (d m)^2 entries at d = 8): the memo is keyed on identity.
        """
        memo: dict = {}
        out = []
        for rs, rd in zip(self.H_same, self.H_diff):
            row = []
            for hs, hd in zip(rs, rd):
                key = (id(hs), id(hd))
                v = memo.get(key)
                if v is None:
                    v = memo[key] = hd + (hs - hd) / n
                row.append(v)
            out.append(row)
        return out


def _union(*ss):
    out = set()
    for s in ss:
        out |= set(s)
    return frozenset(out)


def enlarged_system(d: int, p=None, *, kernel=None, init=None, rule=None) -> EnlargedSystem:
    """H_same, H_diff, h and E[y_q] for length-(d+1) binary chains, exactly (default) or on ``rule``.

    * ``p``: P(s_1 = 1) (Fraction, int, SymPy expression or float) for iid initial states;
    * ``init``: a mixture from :func:`iid_init` / :func:`conditional_init` (overrides ``p``);
    * ``kernel``: ``(a, c)`` for a fixed kernel; default: the U(0,1) prior, integrated exactly;
    * ``rule``: ``(nodes, weights)`` on [0, 1]; default :func:`rational_rule` of the exact size.
    """
    if d < 1:
        raise ValueError("d must be >= 1")
    if init is None:
        init = iid_init(p)
    if kernel is None and rule is None and all(_is_rational(x) for comp in init for x in comp):
        return _enlarged_system_integer(d, init)
    return _enlarged_system_generic(d, init, kernel, rule)


@dataclass(frozen=True)
class _Indexing:
    """How the enlarged system is indexed, shared by both builders: feature pairs of the context and
    query matrices, the time sets they touch and their pairwise unions."""

    qpairs: list  # (i, j), i <= j < d: entries of x_q x_qᵀ
    ctx_sets: list  # per feature pair (a, c) of G: the time set {a+1, c+1} (time index = a + 1)
    union_sets: list  # every union of two context sets, sorted
    uidx: dict  # union set -> its index in union_sets
    m: int  # number of feature pairs of G
    prod_pairs: list  # (al, be), al <= be < m: products of two features

    @property
    def qi(self) -> dict:
        return {qp: k for k, qp in enumerate(self.qpairs)}

    @property
    def pidx(self) -> dict:
        return {pp: k for k, pp in enumerate(self.prod_pairs)}


@lru_cache(maxsize=None)
def _indexing(d: int) -> _Indexing:
    prs = pairs(d)  # 0-based (a, c) pairs of the (d+1)x(d+1) matrix
    ctx_sets = [frozenset({a + 1, c + 1}) for a, c in prs]
    union_sets = sorted({_union(s, t) for s in ctx_sets for t in ctx_sets}, key=sorted)
    m = len(prs)
    return _Indexing(qpairs=[(i, j) for i in range(d) for j in range(i, d)], ctx_sets=ctx_sets,
                     union_sets=union_sets, uidx={s: k for k, s in enumerate(union_sets)}, m=m,
                     prod_pairs=[(al, be) for al in range(m) for be in range(al, m)])


def _enlarged_system_generic(d: int, init, kernel, rule) -> EnlargedSystem:
    """Any ring (Fraction, float, mpmath, SymPy): chain probabilities one point and one set at a time.
    The reference for :func:`_enlarged_system_integer` (tests compare them exactly)."""
    if kernel is not None:
        points = [((kernel[0], kernel[1]), 1)]
    else:
        nodes, weights = rule if rule is not None else rational_rule(3 * d)
        points = [((a, c), wa * wc) for a, wa in zip(nodes, weights) for c, wc in zip(nodes, weights)]
    ix = _indexing(d)
    qpairs, ctx_sets, union_sets, uidx, m, prod_pairs = (ix.qpairs, ix.ctx_sets, ix.union_sets, ix.uidx, ix.m,
                                                         ix.prod_pairs)
    # per cubature point: query features (weighted), context union probabilities, m2 products
    Wq, Wr, U, V, Ey = [], [], [], [], 0
    for (a, c), w in points:
        for wmix, pq, pc in init:
            ww = w * wmix
            q = [ww * chain_prob({i + 1, j + 1}, a, c, pq) for i, j in qpairs]
            r = [ww * chain_prob({j + 1, d + 1}, a, c, pq) for j in range(d)]
            Ey = Ey + ww * chain_prob({d + 1}, a, c, pq)
            u = [chain_prob(s, a, c, pc) for s in union_sets]
            m2 = [u[uidx[s]] for s in ctx_sets]
            Wq.append(q)
            Wr.append(r)
            U.append(u)
            V.append([m2[al] * m2[be] for al, be in prod_pairs])
    M2 = [[row[uidx[s]] for s in ctx_sets] for row in U]
    Hs = _dot_t(Wq, U)  # (query pairs) x (union sets)
    Hd = _dot_t(Wq, V)  # (query pairs) x (context pair products)
    # rhs: E[x_{q,j} y_q g_alpha] = sum_K w q_r(K) m2_alpha(K)
    hh = _dot_t(Wr, M2)  # d x m
    qi, pidx = ix.qi, ix.pidx
    dm = d * m
    H_same = [[None] * dm for _ in range(dm)]
    H_diff = [[None] * dm for _ in range(dm)]
    for i in range(d):
        for j in range(d):
            kq = qi[(min(i, j), max(i, j))]
            for al in range(m):
                for be in range(m):
                    H_same[i * m + al][j * m + be] = Hs[kq, uidx[_union(ctx_sets[al], ctx_sets[be])]]
                    H_diff[i * m + al][j * m + be] = Hd[kq, pidx[(min(al, be), max(al, be))]]
    h = [hh[j, al] for j in range(d) for al in range(m)]
    return EnlargedSystem(d, H_same, H_diff, h, Ey)


def _is_rational(x) -> bool:
    return isinstance(x, (Fraction, int)) and not isinstance(x, bool)


def _scaled_chain_probs(sets, A, C, D: int, p: Fraction, d: int) -> list:
    """Q D^d · P(s_t = 1 for t in S | a = A/D, c = C/D, P(s_1 = 1) = p = P/Q), for every set S, as
    integer arrays over the cubature points (A, C integer arrays).

    The same forward recursion as :func:`chain_prob`, scaled so that it runs on integers: each step
    multiplies the state by D, and a chain of length T is padded by D^(d+1-T) to the common scale.
    int64 when the scale Q D^d fits (d <= 8 with a small Q), Python integers otherwise.
    """
    p = Fraction(p)
    P, Q = p.numerator, p.denominator
    big = Q * D ** d >= 2**62
    A = A.astype(object) if big else A
    C = C.astype(object) if big else C
    one = np.ones(len(A), dtype=object if big else np.int64)
    out = []
    for S in sets:
        T = max(S)
        v0, v1 = one * (Q - P), one * P
        if 1 in S:
            v0 = v0 * 0
        for t in range(2, T + 1):
            v0, v1 = v0 * (D - A) + v1 * C, v0 * A + v1 * (D - C)
            if t in S:
                v0 = v0 * 0
        out.append((v0 + v1) * D ** (d + 1 - T))
    return out


def _fmpz_mat(columns: list):
    """fmpz_mat whose columns are the given integer arrays (rows = cubature points)."""
    import flint

    cols = [np.asarray(c, dtype=object) for c in columns]
    rows = len(cols[0])
    flat = np.stack(cols, axis=1).ravel().tolist() if cols else []
    return flint.fmpz_mat(rows, len(cols), [int(x) for x in flat])


def _enlarged_system_integer(d: int, init) -> EnlargedSystem:
    """The U(0,1)-prior system with rational initial laws, on integers (python-flint products).

    Same cubature (:func:`rational_rule` at 3d points per axis) and the same forward recursion as the
    generic builder, but every chain probability is an integer at the common scale Q D^d (D = 6d, the
    nodes are (2i+1)/D), all cubature sums are fmpz matrix products, and one Fraction is made per
    *distinct* moment, shared by every H entry equal to it.  The generic builder is the reference.
    """
    npts = 3 * d
    nodes, weights = rational_rule(npts)
    D = 2 * npts
    wden = math.lcm(*(w.denominator for w in weights))
    wnum = [int(w * wden) for w in weights]
    grid = [(i, k) for i in range(npts) for k in range(npts)]
    A = np.array([2 * i + 1 for i, _ in grid], dtype=np.int64)
    C = np.array([2 * k + 1 for _, k in grid], dtype=np.int64)
    wgrid = [wnum[i] * wnum[k] for i, k in grid]  # weights times wden^2

    ix = _indexing(d)
    qpairs, ctx_sets, union_sets, uidx, m, prod_pairs = (ix.qpairs, ix.ctx_sets, ix.union_sets, ix.uidx, ix.m,
                                                         ix.prod_pairs)
    ctx_cols = [uidx[s] for s in ctx_sets]

    Hs = Hd = hh = None
    Ey = Fraction(0)
    for wmix, pq, pc in init:
        wmix, pq, pc = Fraction(wmix), Fraction(pq), Fraction(pc)
        if wmix == 0:
            continue
        qsets = [frozenset({i + 1, j + 1}) for i, j in qpairs] + [frozenset({j + 1, d + 1}) for j in range(d)]
        qsets.append(frozenset({d + 1}))
        qv = _scaled_chain_probs(qsets, A, C, D, pq, d)
        wq = np.array(wgrid, dtype=object)
        Wq = [wq * v.astype(object) for v in qv]  # weighted query moments, one column per set
        U = [v.astype(object) for v in _scaled_chain_probs(union_sets, A, C, D, pc, d)]
        M2 = [U[k] for k in ctx_cols]
        V = [M2[al] * M2[be] for al, be in prod_pairs]
        Wq_mat = _fmpz_mat(Wq[: len(qpairs)]).transpose()
        Wr_mat = _fmpz_mat(Wq[len(qpairs): len(qpairs) + d]).transpose()
        sq = wmix / (wden**2 * pq.denominator * D**d)  # scale of the weighted query columns
        su = Fraction(1, pc.denominator * D**d)  # scale of one context probability
        comp = (_fractions(Wq_mat * _fmpz_mat(U), sq * su), _fractions(Wq_mat * _fmpz_mat(V), sq * su * su),
                _fractions(Wr_mat * _fmpz_mat(M2), sq * su))
        Ey += sq * int(sum(Wq[-1]))
        if Hs is None:
            Hs, Hd, hh = comp
        else:
            Hs, Hd, hh = ([[x + y for x, y in zip(r1, r2)] for r1, r2 in zip(P1, P2)]
                          for P1, P2 in zip((Hs, Hd, hh), comp))
    qi, pidx = ix.qi, ix.pidx
    union_of = [[uidx[_union(ctx_sets[al], ctx_sets[be])] for be in range(m)] for al in range(m)]
    pair_of = [[pidx[(min(al, be), max(al, be))] for be in range(m)] for al in range(m)]
    dm = d * m
    H_same: list = [None] * dm
    H_diff: list = [None] * dm
    for i in range(d):
        for al in range(m):
            rs, rd = [], []
            for j in range(d):
                kq = qi[(min(i, j), max(i, j))]
                hs_row, hd_row, uo, po = Hs[kq], Hd[kq], union_of[al], pair_of[al]
                rs.extend(hs_row[uo[be]] for be in range(m))
                rd.extend(hd_row[po[be]] for be in range(m))
            H_same[i * m + al], H_diff[i * m + al] = rs, rd
    h = [hh[j][al] for j in range(d) for al in range(m)]
    return EnlargedSystem(d, H_same, H_diff, h, Ey)


def _fractions(M, scale: Fraction) -> list:
    """Rows of Fractions ``scale * M`` for an fmpz_mat ``M``."""
    num, den = scale.numerator, scale.denominator
    return [[Fraction(int(x) * num, den) for x in row] for row in M.tolist()]


def _dot_t(A: list, B: list):
    """A^T B for lists of rows.  Exact rationals go through one common denominator per factor, so the
    inner products run on Python integers (about 20x faster than on Fractions)."""
    A = np.array(A, dtype=object)
    B = np.array(B, dtype=object)
    if all(isinstance(x, (Fraction, int)) for x in A.flat) and all(isinstance(x, (Fraction, int)) for x in B.flat):
        da = math.lcm(*(Fraction(x).denominator for x in A.flat))
        db = math.lcm(*(Fraction(x).denominator for x in B.flat))
        Ai = np.array([[int(Fraction(x) * da) for x in row] for row in A], dtype=object)
        Bi = np.array([[int(Fraction(x) * db) for x in row] for row in B], dtype=object)
        C = Ai.T.dot(Bi)
        return np.array([[Fraction(x, da * db) for x in row] for row in C], dtype=object)
    return A.T.dot(B)


def _to_fmpq_mat(rows: list, ncols: int):
    """fmpq_mat of Fractions/ints; one conversion per distinct object (H entries are shared)."""
    import flint

    memo: dict = {}

    def conv(x):
        v = memo.get(id(x))
        if v is None:
            f = Fraction(x)
            v = memo[id(x)] = flint.fmpq(f.numerator, f.denominator)
        return v

    return flint.fmpq_mat(len(rows), ncols, [conv(x) for row in rows for x in row])


def _to_fraction(q) -> Fraction:
    return Fraction(int(q.p), int(q.q))


def solve(H, h):
    """Solution of H X = h: exact for rationals (python-flint ``fmpq_mat.solve``, Dixon p-adic
    lifting), NumPy for floats.  :func:`solve_bareiss` is the pure-Python exact route."""
    if all(_is_rational(x) for x in h) and all(_is_rational(x) for row in H for x in row):
        N = len(h)
        A = _to_fmpq_mat(H, N)
        b = _to_fmpq_mat([[x] for x in h], 1)
        try:
            X = A.solve(b, algorithm="dixon")
        except ZeroDivisionError:
            raise ZeroDivisionError("H is singular") from None
        return [_to_fraction(x) for x in X.entries()]
    return list(np.linalg.solve(np.array(H, dtype=float), np.array(h, dtype=float)))


def solve_bareiss(H, h):
    """Exact solution of H X = h by fraction-free Bareiss elimination on Python integers
    (the engine's former route; about d^11 time: 91 s at d = 7)."""
    den = 1
    for row in H:
        den = math.lcm(den, *(Fraction(x).denominator for x in row))
    den = math.lcm(den, *(Fraction(x).denominator for x in h))
    A = [[int(Fraction(x) * den) for x in row] + [int(Fraction(h[i]) * den)] for i, row in enumerate(H)]
    N = len(h)
    prev = 1
    for k in range(N):
        piv = next((r for r in range(k, N) if A[r][k] != 0), None)
        if piv is None:
            raise ZeroDivisionError("H is singular")
        A[k], A[piv] = A[piv], A[k]
        akk, Ak = A[k][k], A[k]
        for i in range(k + 1, N):
            Ai = A[i]
            aik = Ai[k]
            A[i] = [0] * (k + 1) + [(Ai[j] * akk - aik * Ak[j]) // prev for j in range(k + 1, N + 1)]
        prev = akk
    X: list = [None] * N
    for i in range(N - 1, -1, -1):
        s = Fraction(A[i][N]) - sum(A[i][j] * X[j] for j in range(i + 1, N))
        X[i] = s / A[i][i]
    return X


def loss_at(system: EnlargedSystem, n, X):
    """f~(X) = X^T H X - 2 h^T X + E[y_q] (the loss E[(y_hat - y_q)^2] on the binary target).

    Exact rationals go through python-flint (X* has thousands of digits at d = 8)."""
    H = system.H_same if (system.H_same is system.H_diff) else system.H(n)
    N = len(X)
    if all(_is_rational(x) for x in X) and all(_is_rational(x) for x in system.h):
        Hq = _to_fmpq_mat(H, N)
        Xq = _to_fmpq_mat([[x] for x in X], 1)
        hq = _to_fmpq_mat([[x] for x in system.h], 1)
        quad = (Xq.transpose() * Hq * Xq)[0, 0]
        lin = (hq.transpose() * Xq)[0, 0]
        return _to_fraction(quad) - 2 * _to_fraction(lin) + system.Ey
    quad = sum(X[i] * sum(H[i][j] * X[j] for j in range(N)) for i in range(N))
    return quad - 2 * sum(hi * xi for hi, xi in zip(system.h, X)) + system.Ey


def all_subsets(d: int, max_size: int = 4):
    for k in range(1, max_size + 1):
        yield from itertools.combinations(range(1, d + 2), k)
