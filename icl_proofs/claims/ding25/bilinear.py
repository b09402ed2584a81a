"""The hardness side of Theorem 3.5 / C.14 (Ding et al. 2025): bilinear separability and its reduction.

Why this module exists: the paper proves NP-hardness by reducing Bennett & Mangasarian's bilinear
separability program (their Thm 3.1, program (13); the paper's (69)/(70)) to a *bilinear feasibility*
problem (Problems C.10/C.11: ``b^T D^(r) A_{:,j(r)} = X_r`` with arbitrary matrices ``D^(r)``).  The
checker rebuilds that reduction, tests it both ways on small instances, and tests whether its output
is an instance of Problem C.9 (``phi(b, A) = X``) -- the problem Theorem 3.5 is about.

Separability (margin form).  Point sets ``A'`` (rows, m' x n') and ``B`` (k' x n') are *bilinearly
separable* when there are ``(w1, g1), (w2, g2)`` with ``A' w_i >= (g_i + 1) e`` for ``i = 1, 2`` and every
row ``B_r`` has ``B_r w1 <= g1 - 1`` or ``B_r w2 <= g2 - 1``.  Equivalently the bilinear program

    min z1^T z2  s.t.  -A' w_i + g_i e + e <= 0,  B w_i - g_i e + e <= z_i,  z_i >= 0   (i = 1, 2)

has minimum 0 (then ``z1_r z2_r = 0`` for every r).  For a fixed assignment of the B points to the
planes the two planes decouple into two LPs, which gives the exact (exponential) brute force.

Reduction (reconstructed; see :func:`reduce_separability` for the layout and the choices made).
The paper's Example C.13 (m' = k' = n' = 2) uses ``d = 8`` and ``dm = 8 * 45 = 360`` constraints; the
reconstruction reproduces ``d = k' + 2n' + 2 = 8`` with scalar ``g1, g2`` (the text's ``g_i in R^2`` /
``R^{n'}`` is a typo: with vector offsets the count would not fit ``b in R^9``).

>>> Ap, B = xor_instance()
>>> separable_bruteforce(Ap, B).separable, linearly_separable(Ap, B)
(True, False)
>>> inst = reduce_separability(Ap, B)
>>> inst.d, inst.d * inst.m
(8, 360)
>>> is_problem_c9_instance(inst.D, inst.d, inst.fixings, inst.inequalities)[0]
False
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any, Mapping, Sequence

import numpy as np

from ..base import UserInputError
from .markov_lsa import m_of, pairs

__all__ = [
    "SeparabilityResult", "BilinearValue", "BilinearInstance", "Layout",
    "separable_bruteforce", "linearly_separable", "check_separation", "bilinear_program_value",
    "xor_instance", "linear_instance", "inside_instance", "cross_instance", "known_instances",
    "random_instance",
    "reduce_separability", "forward_map", "backward_map", "solve_bilinear_alternating",
    "literal_counterexample", "c9_instance", "is_problem_c9_instance",
]


# --------------------------------------------------------------------------- input


def _points(P, name: str) -> tuple[np.ndarray, list[list[Fraction]]]:
    """A point set as floats (for LPs) and as exact Fractions (for certificates)."""
    try:
        arr = np.asarray(P, dtype=object)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError("need a non-empty 2-D array of points (one point per row)")
        exact = [[Fraction(v) for v in row] for row in arr.tolist()]
        fl = np.array([[float(v) for v in row] for row in exact])
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise UserInputError(f"{name}: {exc}") from None
    if not np.all(np.isfinite(fl)):
        raise UserInputError(f"{name}: non-finite coordinates")
    return fl, exact


def _pair(Ap, B):
    Af, Ae = _points(Ap, "A'")
    Bf, Be = _points(B, "B")
    if Af.shape[1] != Bf.shape[1]:
        raise UserInputError(f"A' and B have different dimensions ({Af.shape[1]} vs {Bf.shape[1]})")
    return Af, Ae, Bf, Be


def _dot(u: Sequence[Fraction], v: Sequence[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(u, v)), Fraction(0))


# --------------------------------------------------------------------------- linear pieces (LP)


def _lp_plane(Af: np.ndarray, Bs: np.ndarray):
    """(w, g) with ``A' w >= g + 1`` and ``Bs w <= g - 1`` (floats), or None if infeasible."""
    from scipy.optimize import linprog

    n = Af.shape[1]
    if Bs.shape[0] == 0:
        return np.zeros(n), -1.0
    Aub = np.vstack([np.hstack([-Af, np.ones((Af.shape[0], 1))]),
                     np.hstack([Bs, -np.ones((Bs.shape[0], 1))])])
    res = linprog(np.zeros(n + 1), A_ub=Aub, b_ub=-np.ones(Aub.shape[0]), bounds=[(None, None)] * (n + 1),
                  method="highs")
    if res.status != 0:
        return None
    return res.x[:n], float(res.x[n])


def _exact_plane(w: np.ndarray, g: float, Ae, Bse) -> tuple[list[Fraction], Fraction] | None:
    """Rationalise an LP plane and rescale it so the margins hold exactly (>= 1)."""
    for den in (10 ** 6, 10 ** 9, 10 ** 12):
        we = [Fraction(float(x)).limit_denominator(den) for x in w]
        ge = Fraction(float(g)).limit_denominator(den)
        gaps = [_dot(a, we) - ge for a in Ae] + [ge - _dot(bb, we) for bb in Bse]
        mu = min(gaps)
        if mu > 0:
            return [x / mu for x in we], ge / mu
    return None  # pragma: no cover - LP answers with margin 1 round safely


@dataclasses.dataclass
class SeparabilityResult:
    """Exact decision by enumeration; the witness (when separable) satisfies every margin exactly."""

    separable: bool
    assignment: tuple[int, ...] | None = None  # plane (1 or 2) of each B point
    w1: list[Fraction] | None = None
    gamma1: Fraction | None = None
    w2: list[Fraction] | None = None
    gamma2: Fraction | None = None
    lps_solved: int = 0
    subsets_tried: int = 0


def separable_bruteforce(Ap, B, *, early_exit: bool = True) -> SeparabilityResult:
    """Enumerate the 2^{k'} assignments of B points to the two planes; one LP per subset (memoised).

    Exact as a decision (the LP answer is re-certified in rationals); exponential in ``k'``.  With
    ``early_exit=False`` every subset is examined (used by the benchmark to show the 2^{k'} growth).
    """
    Af, Ae, Bf, Be = _pair(Ap, B)
    k = Bf.shape[0]
    memo: dict[frozenset, Any] = {}
    out = SeparabilityResult(False)

    def plane(S: frozenset):
        if S not in memo:
            idx = sorted(S)
            sol = _lp_plane(Af, Bf[idx] if idx else np.zeros((0, Af.shape[1])))
            out.lps_solved += 1
            memo[S] = None if sol is None else _exact_plane(sol[0], sol[1], Ae, [Be[i] for i in idx])
        return memo[S]

    found = None
    for mask in range(2 ** k):
        S1 = frozenset(i for i in range(k) if mask >> i & 1)
        S2 = frozenset(range(k)) - S1
        out.subsets_tried += 1
        p1 = plane(S1)
        p2 = plane(S2) if p1 is not None or not early_exit else None
        if p1 is not None and p2 is not None and found is None:
            found = (mask, p1, p2)
            if early_exit:
                break
    if found is not None:
        mask, (w1, g1), (w2, g2) = found
        out.separable = True
        out.assignment = tuple(1 if mask >> i & 1 else 2 for i in range(k))
        out.w1, out.gamma1, out.w2, out.gamma2 = w1, g1, w2, g2
        assert check_separation(Ap, B, w1, g1, w2, g2)
    return out


def linearly_separable(Ap, B) -> bool:
    """One plane suffices (``A' w >= g + 1``, ``B w <= g - 1``): one LP."""
    Af, _, Bf, _ = _pair(Ap, B)
    return _lp_plane(Af, Bf) is not None


def check_separation(Ap, B, w1, g1, w2, g2, tol: float = 0.0) -> bool:
    """Exact (``tol = 0``, Fractions) or tolerant check of the bilinear-separation margins."""
    _, Ae, _, Be = _pair(Ap, B)
    conv = (lambda v: Fraction(v)) if tol == 0 else float
    tol = 0 if tol == 0 else float(tol)  # int 0 keeps Fraction arithmetic exact
    w1, w2 = [conv(x) for x in w1], [conv(x) for x in w2]
    g1, g2 = conv(g1), conv(g2)
    dot = _dot if tol == 0 else (lambda u, v: float(np.dot(np.array(u, float), np.array(v, float))))
    for a in Ae:
        if dot(a, w1) < g1 + 1 - tol or dot(a, w2) < g2 + 1 - tol:
            return False
    return all(dot(bb, w1) <= g1 - 1 + tol or dot(bb, w2) <= g2 - 1 + tol for bb in Be)


# --------------------------------------------------------------------------- bilinear program heuristic


@dataclasses.dataclass
class BilinearValue:
    """Best local value of ``min z1^T z2`` found by alternating LPs (a heuristic upper bound)."""

    value: float
    w1: np.ndarray
    gamma1: float
    z1: np.ndarray
    w2: np.ndarray
    gamma2: float
    z2: np.ndarray
    starts: int
    iterations: int


def _lp_half(Af: np.ndarray, Bf: np.ndarray, c: np.ndarray):
    """min c^T z over (w, g, z): -A'w + g e + e <= 0, B w - g e + e <= z, z >= 0."""
    from scipy.optimize import linprog

    m, n = Af.shape
    k = Bf.shape[0]
    Aub = np.vstack([np.hstack([-Af, np.ones((m, 1)), np.zeros((m, k))]),
                     np.hstack([Bf, -np.ones((k, 1)), -np.eye(k)])])
    res = linprog(np.concatenate([np.zeros(n + 1), c]), A_ub=Aub, b_ub=-np.ones(m + k),
                  bounds=[(None, None)] * (n + 1) + [(0, None)] * k, method="highs")
    if res.status != 0:  # pragma: no cover - the LP is always feasible and bounded below
        raise RuntimeError(f"LP failed: {res.message}")
    w, g = res.x[:n], float(res.x[n])
    z = np.maximum(Bf @ w - g + 1, 0.0)  # the smallest feasible z for this plane
    return w, g, z


def bilinear_program_value(Ap, B, starts: int = 8, seed: int = 0, max_iter: int = 50,
                           tol: float = 1e-9) -> BilinearValue:
    """Local minimisation of ``z1^T z2`` by alternating LPs (Bennett & Mangasarian's own scheme).

    Fix ``z2``, solve the LP in ``(w1, g1, z1)``; fix ``z1``, solve the LP in ``(w2, g2, z2)``; repeat
    until no decrease.  Starts: ``z2 = e`` and ``starts - 1`` random positive vectors.  A value
    ``<= tol`` proves separability (the point is feasible); a positive value proves nothing.
    """
    Af, _, Bf, _ = _pair(Ap, B)
    rng = np.random.default_rng(seed)
    k = Bf.shape[0]
    best, total = None, 0
    for s in range(max(1, starts)):
        z2 = np.ones(k) if s == 0 else rng.exponential(size=k)
        w1, g1, z1 = _lp_half(Af, Bf, z2)
        val = float(z1 @ z2)
        for _ in range(max_iter):
            total += 1
            w2, g2, z2 = _lp_half(Af, Bf, z1)
            w1n, g1n, z1n = _lp_half(Af, Bf, z2)
            new = float(z1n @ z2)
            w1, g1, z1 = w1n, g1n, z1n
            if new >= val - 1e-12 or new <= tol:
                val = min(val, new)
                break
            val = new
        val = float(z1 @ z2)
        if best is None or val < best.value:
            best = BilinearValue(val, w1, g1, z1, w2, g2, z2, s + 1, total)
        if best.value <= tol:
            break
    best.starts = s + 1
    best.iterations = total
    return best


# --------------------------------------------------------------------------- instances with known answers


def xor_instance():
    """XOR: A' = {(1,1), (-1,-1)}, B = {(1,-1), (-1,1)}: not linearly but 2-plane separable (strip)."""
    return [[1, 1], [-1, -1]], [[1, -1], [-1, 1]]


def linear_instance():
    """Linearly separable (hence 2-plane separable)."""
    return [[1, 1], [2, 1]], [[-1, -1], [-2, 0]]


def inside_instance():
    """Not separable: B's first point (0,0) lies in conv(A') (the segment from (1,1) to (-1,-1))."""
    return [[1, 1], [-1, -1]], [[0, 0], [3, 0]]


def cross_instance():
    """Not separable although every B point alone is: square corners vs (+-2, 0), (0, +-2).

    Any two B points span a segment meeting the square, so one plane cuts off at most one B point.
    """
    return [[1, 1], [1, -1], [-1, 1], [-1, -1]], [[2, 0], [-2, 0], [0, 2], [0, -2]]


def known_instances() -> list[tuple[str, list, list, bool]]:
    """``(name, A', B, separable)`` with the answer known by hand (see each builder's docstring)."""
    return [("xor", *xor_instance(), True), ("linear", *linear_instance(), True),
            ("inside", *inside_instance(), False), ("cross", *cross_instance(), False)]


def random_instance(mp: int, kp: int, n: int, seed: int = 0, radius: int = 3):
    """Integer points in ``[-radius, radius]^n`` (A' and B disjoint); answer by brute force."""
    rng = np.random.default_rng(seed)
    pts = set()
    while len(pts) < mp + kp:
        pts.add(tuple(int(x) for x in rng.integers(-radius, radius + 1, size=n)))
    pts = [list(p) for p in pts]
    order = rng.permutation(len(pts))
    pts = [pts[i] for i in order]
    return pts[:mp], pts[mp:]


# --------------------------------------------------------------------------- bilinear feasibility data


@dataclasses.dataclass
class BilinearInstance:
    """Data of Problem C.10/C.11: ``b^T D^(r) A[:, r // m]  (== or <=)  X_r`` for ``r < d m`` (0-based).

    ``D`` and ``X`` are sparse (absent = zero matrix / 0), ``sense[r]`` is ``"<="`` for inequalities
    (absent = equality), ``fix_b``/``fix_A`` pin entries of ``b`` and ``A`` to constants.
    ``objective`` is the index held out by Lemma C.12 (an equality with ``X = 0`` here).
    """

    d: int
    D: dict[int, np.ndarray]
    X: dict[int, Fraction]
    sense: dict[int, str]
    fix_b: dict[int, Fraction]
    fix_A: dict[tuple[int, int], Fraction]
    names: dict[int, str]
    objective: int = 0
    layout: Any = None

    @property
    def m(self) -> int:
        return m_of(self.d)

    @property
    def fixings(self) -> dict:
        return {**{("b", i): v for i, v in self.fix_b.items()},
                **{("A", i, j): v for (i, j), v in self.fix_A.items()}}

    @property
    def inequalities(self) -> list[int]:
        return sorted(r for r, s in self.sense.items() if s == "<=")

    def lhs(self, r: int, b, A):
        """``b^T D^(r) A[:, j(r)]`` in the arithmetic of ``b`` and ``A`` (exact for Fractions)."""
        D = self.D.get(r)
        if D is None:
            return 0
        j = r // self.m
        return sum(b[a] * D[a, c] * A[c][j] for a, c in zip(*np.nonzero(D)))

    def violations(self, b, A, tol: float = 0.0) -> list[str]:
        """Every violated constraint or fixing (empty list = ``(b, A)`` solves the instance)."""
        bad = []
        for i, v in self.fix_b.items():
            if abs(b[i] - v) > tol:
                bad.append(f"b[{i}] = {b[i]} != {v}")
        for (i, j), v in self.fix_A.items():
            if abs(A[i][j] - v) > tol:
                bad.append(f"A[{i},{j}] = {A[i][j]} != {v}")
        for r in sorted(self.D):
            lhs, x = self.lhs(r, b, A), self.X.get(r, 0)
            if self.sense.get(r, "==") == "<=":
                if lhs > x + tol:
                    bad.append(f"r={r} ({self.names.get(r, '')}): {lhs} > {x}")
            elif abs(lhs - x) > tol:
                bad.append(f"r={r} ({self.names.get(r, '')}): {lhs} != {x}")
        return bad


@dataclasses.dataclass
class Layout:
    """Where each variable of the separability program lives in ``(b, A)`` (0-based indices)."""

    k: int
    n: int
    mp: int
    z1: list[int]            # b entries
    w1: list[int]            # b entries
    w2: list[int]            # b entries
    g1: int                  # b entry
    g2: int                  # b entry
    one_b: int               # b entry fixed to 1
    z2: list[int]            # rows of A[:, 0]
    one_A0: int              # row of A[:, 0] fixed to 1
    B_rows_A0: dict          # (i, l) -> row of A[:, 0] holding B[i, l]
    negAp_rows: list[int]    # rows of A[:, j] (j >= 1) holding -A'[j-1, :]
    B_rows: list[int]        # rows of A[:, j] (j >= 1) holding B[j-1, :]
    one_Aj: int              # row of A[:, j] (j >= 1) fixed to 1


def reduce_separability(Ap, B, nonnegativity: str = "explicit") -> BilinearInstance:
    """Build the bilinear feasibility instance (Problem C.10 with fixings and inequalities) from (A', B).

    Reconstruction of Example C.13 / Theorem C.14, 0-based, with the paper's 1-based ``r`` in brackets:

    * ``b = (z1 [k'], w1 [n'], w2 [n'], g1, g2, 1, 0...)`` -- decision variables first, then the
      auxiliaries, then a constant 1 (fixed); ``d = max(k' + 2n' + 2, k'(n'+1), max(m', k') + 1)``,
      which is 8 for ``m' = k' = n' = 2`` as in the paper.
    * ``A[:, 0] = (z2 [k'], B flattened [k'n'], 1, 0...)``; columns ``j = 1..max(m', k')`` are fixed
      constants ``(-A'_{j-1}, B_{j-1}, 1)`` aligned with the ``w`` / ``1`` slots of ``b``.
    * ``r = 0`` [1]: ``z1^T z2 = 0`` with ``D = sum_{i<k'} E_ii`` (only 1-entries, as in the text).
    * groups 1-3, row ``i`` of ``-A'w1 + g1 e + e <= 0``, ``-A'w2 + g2 e + e <= 0``,
      ``B w1 - g1 e + e <= z1`` at ``r = j m + 0, 1, 2`` with ``j = i + 1`` [``jm+1, jm+2, jm+3``].
    * group 4, ``B w2 - g2 e + e <= z2``: **moved to column 0** (``r = 1 + i``).  The paper puts it at
      ``r = jm + 4`` (column ``j+1 >= 2``), but ``z2`` lives in ``A[:, 0]`` and ``b^T D A[:, j]`` never
      sees column 0 -- the paper's placement cannot express the constraint.  Column 0 therefore also
      stores the constants of ``B``.
    * ``nonnegativity="explicit"`` adds ``-z1_i <= 0`` (``r = m + 3 + i``) and ``-z2_i <= 0``
      (``r = 1 + k' + i``).  ``"none"`` is the paper's text: the "split into nonnegative parts" of
      ``b_{1:k'}`` and ``A_{1:k',1}`` writes ``z = z+ - z-``, which constrains nothing in C.10/C.11
      (no sign constraints exist there); :func:`literal_counterexample` shows that this version
      accepts a non-separable instance.
    """
    if nonnegativity not in ("explicit", "none"):
        raise UserInputError(f"nonnegativity must be 'explicit' or 'none', got {nonnegativity!r}")
    _, Ae, _, Be = _pair(Ap, B)
    mp, k, n = len(Ae), len(Be), len(Ae[0])
    d = max(k + 2 * n + 2, k * (n + 1), max(mp, k) + 1)
    m = m_of(d)
    z1 = list(range(k))
    w1 = list(range(k, k + n))
    w2 = list(range(k + n, k + 2 * n))
    g1, g2, one_b = k + 2 * n, k + 2 * n + 1, k + 2 * n + 2
    B_rows_A0 = {(i, l): k + i * n + l for i in range(k) for l in range(n)}
    lay = Layout(k, n, mp, z1, w1, w2, g1, g2, one_b, list(range(k)), k + k * n, B_rows_A0,
                 list(range(k, k + n)), list(range(k + n, k + 2 * n)), one_b)
    one = Fraction(1)
    fix_b = {i: Fraction(0) for i in range(one_b + 1, d + 1)}
    fix_b[one_b] = one
    fix_A: dict[tuple[int, int], Fraction] = {}
    for r_ in range(k, d + 1):
        fix_A[(r_, 0)] = Fraction(0)
    for (i, l), row in B_rows_A0.items():
        fix_A[(row, 0)] = Be[i][l]
    fix_A[(lay.one_A0, 0)] = one
    ncols = max(mp, k)
    for j in range(1, ncols + 1):
        for r_ in range(d + 1):
            fix_A[(r_, j)] = Fraction(0)
        if j - 1 < mp:
            for l in range(n):
                fix_A[(lay.negAp_rows[l], j)] = -Ae[j - 1][l]
        if j - 1 < k:
            for l in range(n):
                fix_A[(lay.B_rows[l], j)] = Be[j - 1][l]
        fix_A[(lay.one_Aj, j)] = one

    D: dict[int, np.ndarray] = {}
    names: dict[int, str] = {}
    sense: dict[int, str] = {}

    def new(r: int, name: str, ineq: bool = True) -> np.ndarray:
        M = np.zeros((d + 1, d + 1), dtype=object)
        D[r], names[r] = M, name
        if ineq:
            sense[r] = "<="
        return M

    M = new(0, "objective z1^T z2 = 0", ineq=False)
    for i in range(k):
        M[z1[i], lay.z2[i]] = 1
    for i in range(mp):
        j = i + 1
        for grp, (w, g) in enumerate(((w1, g1), (w2, g2))):
            M = new(j * m + grp, f"-A'_{i + 1} w{grp + 1} + g{grp + 1} + 1 <= 0")
            for l in range(n):
                M[w[l], lay.negAp_rows[l]] = 1
            M[g, lay.one_Aj] = 1
            M[one_b, lay.one_Aj] = 1
    for i in range(k):
        j = i + 1
        M = new(j * m + 2, f"B_{i + 1} w1 - g1 + 1 - z1_{i + 1} <= 0")
        for l in range(n):
            M[w1[l], lay.B_rows[l]] = 1
        M[g1, lay.one_Aj] = -1
        M[one_b, lay.one_Aj] = 1
        M[z1[i], lay.one_Aj] = -1
        M = new(1 + i, f"B_{i + 1} w2 - g2 + 1 - z2_{i + 1} <= 0 (column 1, not jm+4)")
        for l in range(n):
            M[w2[l], B_rows_A0[(i, l)]] = 1
        M[g2, lay.one_A0] = -1
        M[one_b, lay.one_A0] = 1
        M[one_b, lay.z2[i]] = -1
    if nonnegativity == "explicit":
        for i in range(k):
            M = new(m + 3 + i, f"-z1_{i + 1} <= 0")
            M[z1[i], lay.one_Aj] = -1
            M = new(1 + k + i, f"-z2_{i + 1} <= 0")
            M[one_b, lay.z2[i]] = -1
    assert all(r < d * m for r in D)
    return BilinearInstance(d, D, {r: Fraction(0) for r in D}, sense, fix_b, fix_A, names, 0, lay)


def forward_map(inst: BilinearInstance, Ap, B, w1, g1, w2, g2) -> tuple[list, list]:
    """A separating ``(w1, g1, w2, g2)`` -> ``(b, A)`` (exact Fractions) solving the reduced instance.

    ``z_i = max(0, B w_i - g_i e + e)``; separation makes ``z1_r z2_r = 0`` for every r.
    """
    _, Ae, _, Be = _pair(Ap, B)
    lay, d = inst.layout, inst.d
    w1, w2 = [Fraction(x) for x in w1], [Fraction(x) for x in w2]
    g1, g2 = Fraction(g1), Fraction(g2)
    z1 = [max(Fraction(0), _dot(bb, w1) - g1 + 1) for bb in Be]
    z2 = [max(Fraction(0), _dot(bb, w2) - g2 + 1) for bb in Be]
    b = [Fraction(0)] * (d + 1)
    for idx, vals in ((lay.z1, z1), (lay.w1, w1), (lay.w2, w2)):
        for i, v in zip(idx, vals):
            b[i] = v
    b[lay.g1], b[lay.g2] = g1, g2
    for i, v in inst.fix_b.items():
        b[i] = v
    A = [[Fraction(0)] * d for _ in range(d + 1)]
    for (i, j), v in inst.fix_A.items():
        A[i][j] = v
    for i, v in zip(lay.z2, z2):
        A[i][0] = v
    return b, A


def backward_map(inst: BilinearInstance, b, A) -> dict:
    """A reduced solution ``(b, A)`` -> the separability variables ``w_i, g_i, z_i``."""
    lay = inst.layout
    return {"w1": [b[i] for i in lay.w1], "g1": b[lay.g1], "w2": [b[i] for i in lay.w2],
            "g2": b[lay.g2], "z1": [b[i] for i in lay.z1], "z2": [A[i][0] for i in lay.z2]}


def literal_counterexample() -> tuple[list, list, BilinearInstance, list, list]:
    """The paper's reduction without sign constraints accepts a NON-separable instance.

    ``A' = {(1,1), (-1,-1)}``, ``B = {(0,0), (3,0)}`` (``(0,0)`` lies in conv A').  With
    ``w1 = (-4, 0), g1 = -5, w2 = 0, g2 = -1``: ``z1 >= (6, -6)``, ``z2 >= (2, 2)``; taking
    ``z1 = (6, -6)``, ``z2 = (2, 2)`` gives ``z1^T z2 = 0`` and every constraint of the
    ``nonnegativity="none"`` instance holds exactly.  Returns ``(A', B, instance, b, A)``.
    """
    Ap, B = inside_instance()
    inst = reduce_separability(Ap, B, nonnegativity="none")
    lay = inst.layout
    b, A = forward_map(inst, Ap, B, [-4, 0], -5, [0, 0], -1)
    b[lay.z1[0]], b[lay.z1[1]] = Fraction(6), Fraction(-6)
    A[lay.z2[0]][0], A[lay.z2[1]][0] = Fraction(2), Fraction(2)
    return Ap, B, inst, b, A


# --------------------------------------------------------------------------- a generic numeric solver


def solve_bilinear_alternating(inst: BilinearInstance, starts: int = 40, seed: int = 0, max_iter: int = 60,
                               penalty: float = 1e3, init_scale: float = 5.0) -> dict:
    """Heuristic for any :class:`BilinearInstance`: alternate an LP in ``b`` and an LP in ``A``.

    Each LP minimises the Lemma C.12 merit ``lhs_0 - X_0`` (with ``lhs_0 >= X_0``) plus ``penalty``
    times the elastic slacks of all other constraints, so it is always feasible.  The instance data
    are used only through ``D``, ``X``, ``sense`` and the fixings (nothing about separability), which
    makes this an independent route to reduced solutions.  Returns the best ``b``, ``A`` (floats),
    ``gap`` (``lhs_0 - X_0``), ``infeasibility`` (sum of violations) and ``merit``.

    Starts alternate between dense random free entries of ``A`` and sparse ones (each entry zero
    with probability 1/2): a bilinear zero often needs some factors exactly 0, which a dense start
    and an LP in the other factor do not reach.
    """
    from scipy.optimize import linprog

    d, m = inst.d, inst.m
    rs = sorted(inst.D)
    r0 = inst.objective
    Dn = {r: np.array(inst.D[r], dtype=float) for r in rs}
    Xn = {r: float(inst.X.get(r, 0)) for r in rs}
    cols = sorted({r // m for r in rs})
    freeA = [(i, j) for j in cols for i in range(d + 1) if (i, j) not in inst.fix_A]
    freeb = [i for i in range(d + 1) if i not in inst.fix_b]
    rng = np.random.default_rng(seed)

    def lp(coef_of, nvar, fixed_bounds):
        """Rows: coefficient vectors (over the nvar variables) and constants of each constraint."""
        others = [r for r in rs if r != r0]
        nslack = len(others)
        c = np.zeros(nvar + nslack)
        vec0, const0 = coef_of(r0)
        c[:nvar] = vec0
        c[nvar:] = penalty
        rows, rhs = [], []
        row = np.zeros(nvar + nslack)
        row[:nvar] = -vec0
        rows.append(row), rhs.append(const0 - Xn[r0])          # lhs0 >= X0
        for s, r in enumerate(others):
            vec, const = coef_of(r)
            row = np.zeros(nvar + nslack)
            row[:nvar], row[nvar + s] = vec, -1.0
            rows.append(row), rhs.append(Xn[r] - const)          # lhs - X <= slack
            if inst.sense.get(r, "==") == "==":
                row = np.zeros(nvar + nslack)
                row[:nvar], row[nvar + s] = -vec, -1.0
                rows.append(row), rhs.append(const - Xn[r])      # X - lhs <= slack
        res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs),
                      bounds=fixed_bounds + [(0, None)] * nslack, method="highs")
        if res.status != 0:
            return None
        return res.x[:nvar]

    def b_step(A):
        def coef(r):
            v = Dn[r] @ A[:, r // m]
            return v, 0.0
        bounds = [(float(inst.fix_b[i]),) * 2 if i in inst.fix_b else (None, None) for i in range(d + 1)]
        return lp(coef, d + 1, bounds)

    def a_step(b):
        idx = {ij: t for t, ij in enumerate(freeA)}

        def coef(r):
            j = r // m
            u = Dn[r].T @ b
            vec = np.zeros(len(freeA))
            const = 0.0
            for i in range(d + 1):
                if (i, j) in idx:
                    vec[idx[(i, j)]] += u[i]
                else:
                    const += u[i] * A_cur[i, j]
            return vec, const
        out = lp(coef, len(freeA), [(None, None)] * len(freeA))
        if out is None:
            return None
        A = A_cur.copy()
        for t, (i, j) in enumerate(freeA):
            A[i, j] = out[t]
        return A

    def merit(b, A):
        gap = float(b @ Dn[r0] @ A[:, r0 // m]) - Xn[r0]
        inf = 0.0
        for r in rs:
            if r == r0:
                continue
            v = float(b @ Dn[r] @ A[:, r // m]) - Xn[r]
            inf += max(v, 0.0) if inst.sense.get(r, "==") == "<=" else abs(v)
        inf += max(-gap, 0.0)
        return gap, inf

    best = None
    for s in range(starts):
        A_cur = np.zeros((d + 1, d))
        for (i, j), v in inst.fix_A.items():
            A_cur[i, j] = float(v)
        keep = rng.random(len(freeA)) < (0.5 if s % 2 else 1.0)  # odd starts: sparse patterns
        for t, (i, j) in enumerate(freeA):
            A_cur[i, j] = init_scale * rng.exponential() * keep[t]
        b = None
        prev = np.inf
        for _ in range(max_iter):
            b = b_step(A_cur)
            if b is None:
                break
            A_new = a_step(b)
            if A_new is None:
                break
            A_cur = A_new
            gap, inf = merit(b, A_cur)
            val = gap + penalty * inf
            if val >= prev - 1e-12 or val < 1e-10:
                break
            prev = val
        if b is None:
            continue
        gap, inf = merit(b, A_cur)
        cand = {"b": b, "A": A_cur, "gap": gap, "infeasibility": inf, "merit": gap + penalty * inf,
                "start": s}
        if best is None or cand["merit"] < best["merit"]:
            best = cand
        if best["merit"] < 1e-9:
            break
    return best


# --------------------------------------------------------------------------- Problem C.9 structure


def c9_instance(d: int) -> list[np.ndarray]:
    """The ``D^(r)`` of Problem C.9 (``phi(b, A) = X``): ``E_aa`` or ``E_ac + E_ca`` for pair ``r mod m``."""
    out = []
    for _j in range(d):
        for a, c in pairs(d):
            M = np.zeros((d + 1, d + 1), dtype=int)
            M[a, c] = 1
            M[c, a] = 1
            out.append(M)
    return out


def is_problem_c9_instance(D_list, d: int, fixings=None, inequalities=None) -> tuple[bool, str]:
    """Is ``(D^(r), fixings, inequalities)`` literally an instance of Problem C.9?

    C.9 has exactly ``d m`` equalities ``b^T D^(r) A[:, r // m] = X_r`` with the fixed unit pattern of
    :func:`c9_instance` (only ``X`` is data), no fixed variables and no inequalities.  ``D_list`` is a
    list of length ``d m`` or a dict ``r -> D`` (absent = zero).  Returns ``(answer, reason)``.
    """
    if fixings:
        return False, f"{len(fixings)} fixed variable(s); C.9 has none"
    if inequalities:
        return False, f"{len(list(inequalities))} inequality constraint(s); C.9 has only equalities"
    m = m_of(d)
    if isinstance(D_list, Mapping):
        if any(not (0 <= r < d * m) for r in D_list):
            return False, "constraint index out of range 0..dm-1"
        get = lambda r: D_list.get(r)  # noqa: E731
    else:
        D_list = list(D_list)
        if len(D_list) != d * m:
            return False, f"{len(D_list)} matrices; C.9 has d m = {d * m}"
        get = lambda r: D_list[r]  # noqa: E731
    ref = c9_instance(d)
    for r in range(d * m):
        Dr = get(r)
        a, c = pairs(d)[r % m]
        want = "E_{%d%d}" % (a + 1, a + 1) if a == c else "E_{%d%d} + E_{%d%d}" % (a + 1, c + 1, c + 1, a + 1)
        if Dr is None:
            return False, f"D^({r + 1}) = 0 but C.9 needs {want} (column {r // m + 1})"
        Dr = np.asarray(Dr)
        if Dr.shape != (d + 1, d + 1) or not np.array_equal(Dr.astype(float), ref[r].astype(float)):
            nz = " + ".join(("" if Dr[i, j] == 1 else f"({Dr[i, j]})") + f"E_{{{i + 1}{j + 1}}}"
                            for i, j in zip(*np.nonzero(Dr)))
            return False, f"D^({r + 1}) = {nz or '0'} but C.9 needs {want} (column {r // m + 1})"
    return True, "every D^(r) is the phi pattern; no fixings, no inequalities"


# --------------------------------------------------------------------------- an exact decision of the reduced system


@dataclasses.dataclass
class ReducedDecision:
    """Feasibility of a reduced instance decided by complementarity branching (one LP per branch).

    ``decided`` is False when the instance is outside the method's reach (a bilinear term outside the
    objective, or an objective product whose factors are not both constrained ``>= 0``); then
    ``feasible`` is None and ``reason`` says why.  A feasible answer carries ``b``, ``A`` (floats)
    satisfying every constraint within ``tol``.
    """

    decided: bool
    feasible: bool | None
    reason: str
    branches: int = 0
    b: list | None = None
    A: list | None = None
    zero: tuple | None = None


def _linearise(inst: BilinearInstance, r: int, zero: frozenset):
    """Constraint ``r`` as ``(coefficients {var: c}, constant, bilinear pairs)`` with ``zero`` vars = 0.

    Variables are ``("b", i)`` and ``("A", i, j)`` for entries not fixed by the instance."""
    D = inst.D[r]
    j = r // inst.m
    vec: dict = {}
    const = Fraction(0)
    bil = []
    for a, c in zip(*np.nonzero(D)):
        coef = Fraction(D[a, c])
        bv = ("b", int(a))
        av = ("A", int(c), j)
        bval = inst.fix_b.get(int(a))
        aval = inst.fix_A.get((int(c), j))
        if bv in zero or av in zero or bval == 0 or aval == 0:
            continue
        if bval is not None and aval is not None:
            const += coef * bval * aval
        elif bval is not None:
            vec[av] = vec.get(av, 0) + coef * bval
        elif aval is not None:
            vec[bv] = vec.get(bv, 0) + coef * aval
        else:
            bil.append((coef, bv, av))
    return vec, const, bil


def decide_reduced_by_complementarity(inst: BilinearInstance, tol: float = 1e-7) -> ReducedDecision:
    """Decide whether the reduced system (Problem C.10/C.11 data) has a solution, knowing nothing of
    separability: an independent route to the reduction's correctness.

    Method: every bilinear term must sit in the objective constraint ``sum_t c_t u_t v_t = 0`` with
    ``c_t > 0`` and both factors constrained ``>= 0`` by single-variable inequalities of the instance;
    then the objective holds iff one factor of each product is 0.  Branching on which factor (2^t
    branches) leaves linear systems, one LP each (HiGHS).  Exact as a decision up to the LP
    solver's feasibility tolerance; a feasible branch's solution is re-checked with
    :meth:`BilinearInstance.violations` at ``tol``.
    """
    from scipy.optimize import linprog

    r0 = inst.objective
    lin = {r: _linearise(inst, r, frozenset()) for r in sorted(inst.D)}
    stray = [r for r, (_, _, bil) in lin.items() if bil and r != r0]
    if stray:
        return ReducedDecision(False, None, f"bilinear terms outside the objective (r = {stray[:3]})")
    nonneg = set()
    for r, (vec, const, _) in lin.items():
        if inst.sense.get(r) == "<=" and len(vec) == 1 and const == 0 and inst.X.get(r, 0) == 0:
            ((v, c),) = vec.items()
            if c < 0:
                nonneg.add(v)
    pairs_ = lin[r0][2]
    for coef, u, v in pairs_:
        if coef <= 0 or u not in nonneg or v not in nonneg:
            return ReducedDecision(False, None, f"objective product {u}·{v} is not a product of two variables "
                                                "constrained >= 0 (no complementarity: a zero sum of products "
                                                "need not have a zero factor)")
    variables = sorted({v for r in inst.D for v in _linearise(inst, r, frozenset())[0]}
                       | {x for _, u, v in pairs_ for x in (u, v)}, key=str)
    pos = {v: k for k, v in enumerate(variables)}
    branches = 0
    for mask in range(2 ** len(pairs_)):
        zero = frozenset(p[1] if mask >> t & 1 else p[2] for t, p in enumerate(pairs_))
        rows_ub, rhs_ub, rows_eq, rhs_eq = [], [], [], []
        for r in sorted(inst.D):
            vec, const, bil = _linearise(inst, r, zero)
            assert not bil
            row = np.zeros(len(variables))
            for v, c in vec.items():
                row[pos[v]] = float(c)
            rhs = float(inst.X.get(r, 0) - const)
            if inst.sense.get(r, "==") == "<=":
                rows_ub.append(row), rhs_ub.append(rhs)
            else:
                rows_eq.append(row), rhs_eq.append(rhs)
        bounds = [(0.0, 0.0) if v in zero else (None, None) for v in variables]
        branches += 1
        res = linprog(np.zeros(len(variables)), A_ub=np.array(rows_ub) if rows_ub else None,
                      b_ub=np.array(rhs_ub) if rows_ub else None, A_eq=np.array(rows_eq) if rows_eq else None,
                      b_eq=np.array(rhs_eq) if rows_eq else None, bounds=bounds, method="highs")
        if res.status != 0:
            continue
        b = [float(inst.fix_b.get(i, 0)) for i in range(inst.d + 1)]
        A = [[float(inst.fix_A.get((i, j), 0)) for j in range(inst.d)] for i in range(inst.d + 1)]
        for v, k in pos.items():
            if v[0] == "b":
                b[v[1]] = float(res.x[k])
            else:
                A[v[1]][v[2]] = float(res.x[k])
        if inst.violations(b, A, tol):
            continue  # pragma: no cover - an LP answer outside its own tolerance
        return ReducedDecision(True, True, f"branch {sorted(map(str, zero))} is feasible", branches, b, A,
                               tuple(sorted(map(str, zero))))
    return ReducedDecision(True, False, f"all {branches} complementarity branches are infeasible LPs", branches)
