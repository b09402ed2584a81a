"""Symbolic Gaussian expectations with symbolic dimension d and sample size N.

Expressions are built from matrices, fixed vectors, centred Gaussian vectors and empirical
covariances Σ̂ = (1/N) Σ_i x_i x_iᵀ with a small matrix DSL (``@``, ``.T``, ``+``, scalars, ``tr``).
:func:`expect` then

1. expands every Σ̂ occurrence over the **set partitions** of the occurrences (occurrences in one
   block use the same sample x_i; a partition with b blocks has N(N-1)...(N-b+1) index choices),
2. sums over the **Wick (Isserlis) pairings** of each independent Gaussian vector's occurrences,
   counted up to the symmetry of repeated factors (:mod:`.contractions`: cycle by cycle, memoised on
   the multiset of segments left, so (xᵀAx)^8 needs hundreds of steps, not 2,027,025 matchings;
   ``method="enumerate"`` keeps the one-matching-at-a-time route as the reference),
3. follows each pairing round its contraction graph: every component is a cycle (a trace) or a path
   between two fixed vectors (a bilinear form), canonicalised by :mod:`.traces`.

The result is a polynomial in trace symbols with coefficients in N, d and the user's scalars.
Nothing about the dimension is fixed, so results hold for symbolic d.

>>> import sympy as sp
>>> from icl_proofs.moments.wick import gaussian, matrix, expect, tr
>>> x = gaussian("x", cov="Lambda")
>>> A = matrix("A")
>>> expect((x.T @ A @ x) ** 2)          # E[(xᵀAx)²] for x ~ N(0, Λ), any A
tr(A*Lambda)**2 + tr(A*Lambda*A'*Lambda) + tr(A*Lambda*A*Lambda)
"""
from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from functools import lru_cache

import sympy as sp

from .contractions import AtomTable, count_contractions
from .traces import IDENTITY, Letter, Word, path_symbol, reverse_word, trace_symbol


# --------------------------------------------------------------------------------------------
# items of a word


@dataclasses.dataclass(frozen=True)
class Vec:
    """A vector inside a word: ``side`` 'c' (column v) or 'r' (row vᵀ).

    ``cov`` is the covariance letter of a centred Gaussian vector, or None for a fixed vector.
    """

    name: str
    side: str
    cov: Letter | None = None
    random: bool = False

    @property
    def T(self) -> "Vec":
        return Vec(self.name, "r" if self.side == "c" else "c", self.cov, self.random)

    def sortkey(self):
        return ("v", self.name, self.side)


@dataclasses.dataclass(frozen=True)
class SampleCovItem:
    """Σ̂ = (1/n) Σ x_i x_iᵀ with x_i iid N(0, cov); symmetric."""

    name: str
    cov: Letter
    n: sp.Expr

    @property
    def T(self) -> "SampleCovItem":
        return self

    def sortkey(self):
        return ("s", self.name)


def _item_key(it):
    if isinstance(it, Letter):
        return ("m", it.name, it.t)
    return it.sortkey()


def _word_T(word: tuple) -> tuple:
    return tuple(it.T for it in reversed(word))


def _is_row(it) -> bool:
    return isinstance(it, Vec) and it.side == "r"


def _is_col(it) -> bool:
    return isinstance(it, Vec) and it.side == "c"


# --------------------------------------------------------------------------------------------
# the DSL


@dataclasses.dataclass(frozen=True)
class Factor:
    """A scalar factor: an open chain (rowvec ... colvec) or a closed cycle (a trace)."""

    closed: bool
    items: tuple

    def key(self):
        return (self.closed, tuple(_item_key(i) for i in self.items))


def _factor_sort(factors) -> tuple:
    return tuple(sorted(factors, key=Factor.key))


class MExpr:
    """A linear combination of words; ``kind`` is 'scalar', 'col', 'row' or 'matrix'."""

    __slots__ = ("kind", "terms")

    def __init__(self, kind: str, terms: dict):
        self.kind = kind
        self.terms = {k: v for k, v in terms.items() if v != 0}

    # construction helpers
    @staticmethod
    def _single(kind, spine, coef=sp.Integer(1), factors=()):
        return MExpr(kind, {(_factor_sort(factors), tuple(spine)): sp.sympify(coef)})

    def __repr__(self):
        return f"MExpr({self.kind}, {len(self.terms)} terms)"

    # linear structure
    def __add__(self, other):
        other = _lift(other, self.kind)
        if other.kind != self.kind:
            raise TypeError(f"cannot add {self.kind} and {other.kind}")
        terms = dict(self.terms)
        for k, v in other.terms.items():
            terms[k] = terms.get(k, 0) + v
        return MExpr(self.kind, terms)

    __radd__ = __add__

    def __neg__(self):
        return MExpr(self.kind, {k: -v for k, v in self.terms.items()})

    def __sub__(self, other):
        return self + (-_lift(other, self.kind))

    def __rsub__(self, other):
        return _lift(other, self.kind) - self

    def __mul__(self, other):
        if isinstance(other, MExpr):
            if self.kind == "scalar":
                return other._scale_by(self)
            if other.kind == "scalar":
                return self._scale_by(other)
            raise TypeError("use @ for matrix products")
        c = sp.sympify(other)
        return MExpr(self.kind, {k: v * c for k, v in self.terms.items()})

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self * (1 / sp.sympify(other))

    def __pow__(self, k: int):
        if self.kind not in ("scalar", "matrix") or int(k) != k or k < 0:
            raise TypeError("only scalar and square-matrix expressions can be raised to non-negative "
                            "integer powers")
        # a matrix power is the repeated product (M**0 = I), so expect() sees ordinary words
        out = _lift(1, "scalar") if self.kind == "scalar" else identity()
        for _ in range(int(k)):
            out = out * self if self.kind == "scalar" else out @ self
        return out

    def _scale_by(self, s: "MExpr") -> "MExpr":
        terms: dict = defaultdict(lambda: sp.Integer(0))
        for (f1, sp1), c1 in s.terms.items():
            for (f2, sp2), c2 in self.terms.items():
                terms[(_factor_sort(f1 + f2), sp2)] += c1 * c2
        return MExpr(self.kind, dict(terms))

    @property
    def T(self) -> "MExpr":
        kind = {"row": "col", "col": "row"}.get(self.kind, self.kind)
        return MExpr(kind, {(f, _word_T(s)): c for (f, s), c in self.terms.items()})

    def __matmul__(self, other: "MExpr") -> "MExpr":
        if self.kind == "scalar" or other.kind == "scalar":
            raise TypeError("@ needs vectors or matrices; use * for scalars")
        rows, inner_l = _SHAPE[self.kind]
        inner_r, cols = _SHAPE[other.kind]
        if inner_l != inner_r:
            raise TypeError(f"shape mismatch: {self.kind} @ {other.kind}")
        kind = _KIND[(rows, cols)]
        terms: dict = defaultdict(lambda: sp.Integer(0))
        for (f1, s1), c1 in self.terms.items():
            for (f2, s2), c2 in other.terms.items():
                spine = s1 + s2
                factors = f1 + f2
                if kind == "scalar":
                    factors = factors + (Factor(False, spine),)
                    spine = ()
                terms[(_factor_sort(factors), spine)] += c1 * c2
        return MExpr(kind, dict(terms))


#: (rows, cols) of each kind: 1 or n
_SHAPE = {"scalar": (1, 1), "col": ("n", 1), "row": (1, "n"), "matrix": ("n", "n")}
_KIND = {v: k for k, v in _SHAPE.items()}


def _lift(x, kind: str) -> MExpr:
    if isinstance(x, MExpr):
        return x
    if kind != "scalar":
        if sp.sympify(x) == 0:
            return MExpr(kind, {})
        raise TypeError(f"cannot combine a number with a {kind}")
    return MExpr._single("scalar", (), x)


def tr(m: MExpr) -> MExpr:
    """Trace of a matrix expression (a closed cycle)."""
    if m.kind != "matrix":
        raise TypeError("tr needs a matrix")
    terms: dict = defaultdict(lambda: sp.Integer(0))
    for (f, s), c in m.terms.items():
        terms[(_factor_sort(f + (Factor(True, s),)), ())] += c
    return MExpr("scalar", dict(terms))


def scalar(c) -> MExpr:
    return _lift(c, "scalar")


def matrix(name: str, sym: bool = False) -> MExpr:
    return MExpr._single("matrix", (Letter(name, sym=sym),))


def identity() -> MExpr:
    return MExpr._single("matrix", (IDENTITY,))


def vector(name: str) -> MExpr:
    """A fixed (non-random) column vector."""
    return MExpr._single("col", (Vec(name, "c"),))


def gaussian(name: str, cov: str | None = None) -> MExpr:
    """A centred Gaussian column vector N(0, cov); ``cov=None`` means the identity."""
    cl = IDENTITY if cov is None else Letter(cov, sym=True)
    return MExpr._single("col", (Vec(name, "c", cl, True),))


def sample_cov(name: str, cov: str | None, n) -> MExpr:
    """Σ̂ = (1/n) Σ_{i ≤ n} x_i x_iᵀ with x_i iid N(0, cov); n may be a symbol."""
    cl = IDENTITY if cov is None else Letter(cov, sym=True)
    return MExpr._single("matrix", (SampleCovItem(name, cl, sp.sympify(n)),))


# --------------------------------------------------------------------------------------------
# expectation


@lru_cache(maxsize=None)
def _set_partitions(k: int) -> tuple:
    """All set partitions of range(k), each as a tuple of block labels (restricted growth)."""
    out = []

    def rec(i, labels, m):
        if i == k:
            out.append(tuple(labels))
            return
        for b in range(m + 1):
            labels.append(b)
            rec(i + 1, labels, max(m, b + 1))
            labels.pop()

    rec(0, [], 0)
    return tuple(out)


@lru_cache(maxsize=None)
def _matchings(k: int) -> tuple:
    """Perfect matchings of range(k) as tuples of partner indices."""
    if k % 2:
        return ()
    out = []

    def rec(rem: tuple, partner: dict):
        if not rem:
            out.append(tuple(partner[i] for i in range(k)))
            return
        a = rem[0]
        for j in range(1, len(rem)):
            b = rem[j]
            partner[a], partner[b] = b, a
            rec(rem[1:j] + rem[j + 1:], partner)
        partner.pop(a, None)

    rec(tuple(range(k)), {})
    return tuple(out)


def _falling(n, b: int):
    out = sp.Integer(1)
    for i in range(b):
        out *= n - i
    return out


def _expand_samplecovs(chains: list[Factor]):
    """Yield (coefficient, chains with Σ̂ replaced by sample vectors) over set partitions."""
    occ = [(ci, ii, it) for ci, ch in enumerate(chains) for ii, it in enumerate(ch.items)
           if isinstance(it, SampleCovItem)]
    if not occ:
        yield sp.Integer(1), chains
        return
    families: dict[str, list[int]] = defaultdict(list)
    for k, (_, _, it) in enumerate(occ):
        families[it.name].append(k)
    fam_names = sorted(families)
    per_family = [_set_partitions(len(families[f])) for f in fam_names]
    for combo in itertools.product(*per_family):
        coef = sp.Integer(1)
        label_of = {}
        for f, labels in zip(fam_names, combo):
            idxs = families[f]
            item = occ[idxs[0]][2]
            nb = max(labels) + 1
            coef *= _falling(item.n, nb) / item.n ** len(idxs)
            for k, lab in zip(idxs, labels):
                label_of[k] = lab
        new = [list(ch.items) for ch in chains]
        # replace from the back so indices stay valid
        for k in sorted(range(len(occ)), key=lambda k: (occ[k][0], -occ[k][1])):
            ci, ii, it = occ[k]
            vname = f"{it.name}#{label_of[k]}"
            new[ci][ii:ii + 1] = [Vec(vname, "c", it.cov, True), Vec(vname, "r", it.cov, True)]
        yield coef, [Factor(ch.closed, tuple(items)) for ch, items in zip(chains, new)]


def _segments(chains: list[Factor]):
    """Split chains at vectors. Returns (segments, closed-cycle words without vectors).

    A segment is (left Vec or None, word, right Vec or None) for ``leftᵀ word right``.
    """
    segs = []
    cycles = []
    for ch in chains:
        items = list(ch.items)
        vec_pos = [i for i, it in enumerate(items) if isinstance(it, Vec)]
        if ch.closed:
            if not vec_pos:
                cycles.append(tuple(items))
                continue
            # rotate to start at a row vector that follows a column vector
            start = next(i for i in vec_pos if _is_row(items[i]))
            items = items[start:] + items[:start]
        cur_left, cur = None, []
        for it in items:
            if _is_row(it):
                cur_left, cur = it, []
            elif _is_col(it):
                segs.append((cur_left, tuple(cur), it))
                cur_left, cur = None, []
            else:
                cur.append(it)
    return segs, cycles


def _contract(segs, partner, occ_of):
    """Follow one pairing; return the tuple of atom symbols (sorted) and 0 if impossible."""
    nseg = len(segs)
    used = [False] * nseg
    atoms = []

    def step(si, enter_left):
        left, word, right = segs[si]
        if enter_left:
            return word, right, (si, "R")
        return reverse_word(word), left, (si, "L")

    # paths from fixed endpoints first
    for si in range(nseg):
        if used[si]:
            continue
        left, word, right = segs[si]
        for enter_left, start_vec in ((True, left), (False, right)):
            if start_vec is not None and not start_vec.random and not used[si]:
                acc: list = []
                cur, el = si, enter_left
                while True:
                    used[cur] = True
                    w, exit_vec, exit_occ = step(cur, el)
                    acc.extend(w)
                    if not exit_vec.random:
                        atoms.append(path_symbol(start_vec.name, tuple(acc), exit_vec.name))
                        break
                    acc.append(exit_vec.cov)
                    pseg, pside = occ_of[partner[exit_occ]]
                    cur, el = pseg, pside == "L"
    for si in range(nseg):
        if used[si]:
            continue
        acc = []
        cur, el = si, True
        while True:
            used[cur] = True
            w, exit_vec, exit_occ = step(cur, el)
            acc.extend(w)
            acc.append(exit_vec.cov)
            pseg, pside = occ_of[partner[exit_occ]]
            cur, el = pseg, pside == "L"
            if cur == si:
                break
        atoms.append(trace_symbol(tuple(acc)))
    return atoms


def _random_groups(segs) -> dict:
    """Occurrences (segment, side) of each random vector."""
    groups: dict[str, list] = defaultdict(list)
    for si, (left, _, right) in enumerate(segs):
        for side, v in (("L", left), ("R", right)):
            if v is None:
                raise ValueError("internal: open chain without end vectors")
            if v.random:
                groups[v.name].append((si, side))
    return groups


def _expect_chains_enumerate(chains: list[Factor], acc: dict, coef, table: AtomTable) -> None:
    """The matching-by-matching route: every perfect matching of every vector's occurrences.

    Kept as the independent reference for :func:`_expect_chains` (tests, benchmarks): it grows like
    (2k-1)!! for 2k occurrences.
    """
    segs, cycles = _segments(chains)
    base = [table.id(trace_symbol(c)) for c in cycles]
    groups = _random_groups(segs)
    occ_of = {(si, side): (si, side) for si in range(len(segs)) for side in "LR"}
    if any(len(g) % 2 for g in groups.values()):
        return
    names = sorted(groups)
    choices = [_matchings(len(groups[n])) for n in names]
    for combo in itertools.product(*choices):
        partner = {}
        for n, m in zip(names, combo):
            occs = groups[n]
            for i, j in enumerate(m):
                partner[occs[i]] = occs[j]
        atoms = [table.id(a) for a in _contract(segs, partner, occ_of)]
        acc[tuple(sorted(base + atoms))][coef] += 1


def _expect_chains(chains: list[Factor], acc: dict, coef, table: AtomTable) -> None:
    """Contractions counted up to the symmetry of repeated segments (:mod:`.contractions`)."""
    segs, cycles = _segments(chains)
    base = tuple(table.id(trace_symbol(c)) for c in cycles)
    if any(len(g) % 2 for g in _random_groups(segs).values()):
        return
    for mono, count in count_contractions(segs, table).items():
        acc[tuple(sorted(base + mono))][coef] += count


#: the contraction routes of :func:`expect`
METHODS = {"orbits": _expect_chains, "enumerate": _expect_chains_enumerate}


def expect(e: MExpr, method: str = "orbits") -> sp.Expr:
    """E[e] for a scalar expression: a polynomial in trace/bilinear atoms.

    ``method="enumerate"`` visits every Wick matching one by one (the old, independent route).
    """
    if e.kind != "scalar":
        raise TypeError("expect() needs a scalar; use expect_matrix for matrices")
    if method not in METHODS:
        raise ValueError(f"unknown contraction method {method!r}: use one of {sorted(METHODS)}")
    contract = METHODS[method]
    table = AtomTable()
    acc: dict = defaultdict(lambda: defaultdict(int))
    for (factors, spine), c in e.terms.items():
        assert not spine
        for pc, chains in _expand_samplecovs(list(factors)):
            contract(chains, acc, c * pc, table)
    terms = []
    for ids, coefs in acc.items():
        mono = sp.Mul(*[table.atoms[i] for i in ids])
        terms.append(sp.expand(sp.Add(*[cf * k for cf, k in coefs.items()]) * mono))
    return sp.Add(*terms)


# --------------------------------------------------------------------------------------------
# matrix-valued expectations and matrix polynomials

_PROBE = "__probe__"


def _word_order(word) -> tuple:
    """A total order on words that does not depend on hashing: length, then the letters."""
    return len(word), tuple((l.name, str(l.t), str(l.sym)) for l in word)


class MatrixPoly:
    """Σ_k c_k · W_k: a matrix written as words W_k with scalar (trace-polynomial) coefficients."""

    def __init__(self, terms: dict):
        expanded = ((w, sp.expand(c)) for w, c in terms.items())
        # words in a fixed order: the terms are built from sets, whose order changes with Python's
        # hash seed, and a float evaluation summing them in another order rounds differently
        self.terms = dict(sorted(((w, c) for w, c in expanded if c != 0), key=lambda wc: _word_order(wc[0])))

    def __sub__(self, other: "MatrixPoly") -> "MatrixPoly":
        t = dict(self.terms)
        for w, c in other.terms.items():
            t[w] = t.get(w, 0) - c
        return MatrixPoly(t)

    def __add__(self, other: "MatrixPoly") -> "MatrixPoly":
        t = dict(self.terms)
        for w, c in other.terms.items():
            t[w] = t.get(w, 0) + c
        return MatrixPoly(t)

    def scale(self, c) -> "MatrixPoly":
        return MatrixPoly({w: v * c for w, v in self.terms.items()})

    def is_zero(self) -> bool:
        return not self.terms

    def words(self):
        return list(self.terms)

    def __repr__(self):
        parts = []
        for w, c in self.terms.items():
            ws = "*".join(l.text() for l in w) or "I"
            parts.append(f"({c})*{ws}")
        return " + ".join(parts) or "0"

    def as_function_of(self, name: str, lam: sp.Symbol) -> sp.Expr:
        """If every word is a power of the symmetric letter ``name``: the scalar function f(λ)."""
        out = sp.Integer(0)
        for w, c in self.terms.items():
            letters = [l for l in w if not l.is_identity]
            if any(l.name != name for l in letters):
                raise ValueError(f"word {w} is not a power of {name}")
            out += c * lam ** len(letters)
        return sp.expand(out)

    def to_matrix_expr(self, dim=None):
        from .traces import d as dsym

        dim = dsym if dim is None else dim
        total = None
        for w, c in self.terms.items():
            mats = []
            for l in w:
                m = sp.Identity(dim) if l.is_identity else sp.MatrixSymbol(l.name, dim, dim)
                mats.append(m.T if l.t else m)
            term = sp.MatMul(*mats) if mats else sp.Identity(dim)
            term = c * term
            total = term if total is None else total + term
        return total if total is not None else sp.ZeroMatrix(dim, dim)

    def evaluate(self, env: dict, extra: dict | None = None, coef=None):
        """Σ_k c_k W_k at concrete matrices: exact for SymPy ``env``, float for NumPy ``env``.

        ``coef(c)`` evaluates a scalar coefficient (default: exact or float trace evaluation).
        """
        import numpy as np

        from .traces import evaluate_exact, evaluate_numpy

        numeric = all(isinstance(v, np.ndarray) for v in env.values())
        if coef is None:
            coef = (lambda c: evaluate_numpy(c, env, extra)) if numeric else (lambda c: evaluate_exact(c, env, extra))
        dim = next(iter(v for v in env.values() if hasattr(v, "shape"))).shape[0]
        out = np.zeros((dim, dim)) if numeric else sp.zeros(dim, dim)
        for w, c in self.terms.items():
            m = np.eye(dim) if numeric else sp.eye(dim)
            for l in w:
                if not l.is_identity:
                    mm = env[l.name] if numeric else sp.Matrix(env[l.name])
                    m = m @ (mm.T if l.t else mm)
            out = out + coef(c) * m
        return out


def _extract_probe(total: sp.Expr) -> MatrixPoly:
    from .traces import info

    terms: dict = defaultdict(lambda: sp.Integer(0))
    for term in sp.Add.make_args(sp.expand(total)):
        coef, atoms = sp.Integer(1), []
        for f in sp.Mul.make_args(term):
            base, ex = f.as_base_exp()
            inf = info(base) if isinstance(base, sp.Symbol) else None
            if inf is not None and any(l.name == _PROBE for l in inf.word):
                if ex != 1 or sum(l.name == _PROBE for l in inf.word) != 1:
                    raise ValueError("probe appears more than once: expression not linear")
                atoms.append(inf)
            else:
                coef *= f
        if len(atoms) != 1:
            raise ValueError("matrix extraction failed: term without the probe")
        word = atoms[0].word
        i = next(k for k, l in enumerate(word) if l.name == _PROBE)
        rot = word[i:] + word[:i]
        if rot[0].t:  # tr(Pᵀ W) = tr(P Wᵀ)
            rest = reverse_word(rot[1:])
        else:
            rest = rot[1:]
        rest = tuple(l for l in rest if not l.is_identity)
        terms[_canon_open(rest)] += coef
    return MatrixPoly(dict(terms))


def _canon_open(word: Word) -> Word:
    return tuple(word)


def expect_matrix(e: MExpr, method: str = "orbits") -> MatrixPoly:
    """E[e] for a matrix expression, via E[tr(P e)] with a free probe matrix P."""
    if e.kind != "matrix":
        raise TypeError("expect_matrix needs a matrix expression")
    total = expect(tr(matrix(_PROBE) @ e), method)
    return _extract_probe(total)


def grad(expr: sp.Expr, name: str) -> MatrixPoly:
    """∂expr/∂X for the matrix letter ``name`` (matrix calculus on trace atoms).

    ∂ tr(X R)/∂X = Rᵀ and ∂ tr(Xᵀ R)/∂X = R, summed over every occurrence of X, by the chain rule.
    """
    from .traces import info

    terms: dict = defaultdict(lambda: sp.Integer(0))
    for atom in [s for s in expr.free_symbols if info(s) is not None]:
        inf = info(atom)
        if not any(l.name == name for l in inf.word):
            continue
        if inf.kind != "trace":
            raise NotImplementedError("gradient through bilinear forms of fixed vectors")
        outer = sp.diff(expr, atom)
        w = inf.word
        for i, l in enumerate(w):
            if l.name != name:
                continue
            rot = w[i:] + w[:i]
            rest = rot[1:]
            gword = rest if l.t else reverse_word(rest)
            gword = tuple(x for x in gword if not x.is_identity)
            terms[gword] += outer
    return MatrixPoly(dict(terms))
