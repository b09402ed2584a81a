"""Mutation operators: the ways hand derivations go wrong, applied to a derived value.

Each operator maps a value (a SymPy expression, a SymPy matrix, a Wick :class:`MatrixPoly`, an exact
table of rationals, a number) to *one* mutant, or to ``None`` where it does not apply.  Operators are
deterministic (the site they change is the first in SymPy's canonical order), so a mutation run is
reproducible and its report can name the exact change.

============== ===================================================================================
operator       the mistake it models
============== ===================================================================================
``1/N→1/(N+1)`` an off-by-one in a normalisation: every negative power of one size symbol
               (N, M, n, d, ...) gets that size plus one
``drop-trace`` a dropped trace term (e.g. the ``tr(AΛ)Λ`` of a Gaussian fourth moment)
``flip-sign``  one additive term (the largest entry of a numeric table) with the wrong sign
``Λ→Λ²``       a covariance squared where it should appear once (trace words, the spectral λ)
``transpose``  a transposed factor: one non-symmetric letter transposed, or a non-symmetric table
``missing-½``  a dropped factor ½ (a term whose coefficient has an even denominator, doubled)
============== ===================================================================================

>>> import sympy as sp
>>> N, x = sp.symbols("N x", positive=True)
>>> mutate(x / 2 + x**2 / N, "1/N→1/(N+1)").value
x**2/(N + 1) + x/2
>>> mutate(x / 2 + x**2 / N, "missing-½").value
x + x**2/N
>>> mutate(x**2, "drop-trace") is None
True
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import sympy as sp
from mpmath import mpf

from ..moments import traces

OPERATORS = ("1/N→1/(N+1)", "drop-trace", "flip-sign", "Λ→Λ²", "transpose", "missing-½")

#: names of size symbols (prompt lengths, dimensions, widths): candidates for 1/N → 1/(N+1)
SIZE_NAMES = frozenset({"N", "M", "n", "m", "d", "k", "l", "ell", "L", "rho", "t", "T"})
#: letters (and the spectral variable) that stand for a covariance
COVARIANCE_PREFIXES = ("Lambda",)
SPECTRAL_NAMES = frozenset({"lambda", "lam"})


@dataclasses.dataclass(frozen=True)
class Mutant:
    operator: str
    where: str  # a short human description of the change
    value: Any


def mutate(value, operator: str) -> Mutant | None:
    """The ``operator`` mutant of ``value``, or ``None`` if the operator does not apply to it."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown mutation operator {operator!r}; choose from {', '.join(OPERATORS)}")
    kind = value_kind(value)
    if kind is None:
        return None
    fn = _TABLE.get((kind, operator))
    if fn is None:
        return None
    out = fn(value)
    if out is None:
        return None
    where, new = out
    if _same(value, new):
        return None
    return Mutant(operator, where, new)


def value_kind(value) -> str | None:
    """Which family of operators applies: 'expr', 'matrix', 'matrixpoly', 'table', 'number' or None."""
    from ..moments.wick import MatrixPoly

    if isinstance(value, bool):
        return None
    if isinstance(value, MatrixPoly):
        return "matrixpoly"
    if isinstance(value, sp.MatrixBase):
        return "matrix"
    if isinstance(value, sp.Expr):
        return "expr" if not value.is_number or value != 0 else None
    if isinstance(value, int):  # an int in a derivation's result is a size or an index, not a formula
        return None
    if isinstance(value, (Fraction, float, mpf)):
        return "number" if value != 0 else None
    if _is_table(value):
        return "table"
    return None


def _is_table(value) -> bool:
    """A list (of lists) of exact or float numbers: the exact rational systems of the Markov engine."""
    if not isinstance(value, list) or not value:
        return False
    rows = value if isinstance(value[0], list) else [value]
    return all(isinstance(r, list) and r and all(isinstance(v, (int, Fraction, float, mpf, sp.Rational))
                                                   and not isinstance(v, bool) for v in r) for r in rows)


def _same(a, b) -> bool:
    from ..moments.wick import MatrixPoly

    if isinstance(a, MatrixPoly) and isinstance(b, MatrixPoly):
        return a.terms == b.terms
    if isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase):
        return a.shape == b.shape and a == b
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are different
        return False


# ---------------------------------------------------------------------------------- scalar expressions

def _key(e):
    return sp.default_sort_key(e)


def _terms(expr: sp.Expr) -> list:
    return sorted(sp.Add.make_args(expr), key=_key)


def _is_trace_atom(sym) -> bool:
    inf = traces.info(sym) if isinstance(sym, sp.Symbol) else None
    return inf is not None and inf.kind == "trace"


def _has_trace(term: sp.Expr) -> bool:
    from ..moments.spectral import TrF

    return any(_is_trace_atom(s) for s in term.free_symbols) or bool(term.atoms(TrF))


def _sizes(expr: sp.Expr) -> list:
    return sorted((s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.name in SIZE_NAMES
                   and not _is_trace_atom(s)), key=lambda s: s.name)


def _size_plus_one(expr: sp.Expr):
    for s in _sizes(expr):
        new = expr.replace(lambda e: isinstance(e, sp.Pow) and e.base == s and e.exp.is_negative,
                           lambda e: (s + 1) ** e.exp)
        if new != expr:
            return f"1/{s} → 1/({s}+1)", new
    return None


def _drop_trace(expr: sp.Expr):
    terms = _terms(expr)
    if len(terms) < 2:
        return None
    for t in terms:
        if _has_trace(t):
            return f"dropped the term {_short(t)}", expr - t
    return None


def _flip_sign(expr: sp.Expr):
    terms = _terms(expr)
    if len(terms) < 2:
        return "negated the whole expression", -expr
    t = terms[-1]
    return f"flipped the sign of {_short(t)}", expr - 2 * t


def _missing_half(expr: sp.Expr):
    for t in _terms(expr):
        coeff = t.as_coeff_Mul()[0]
        if isinstance(coeff, sp.Rational) and coeff.q % 2 == 0:
            return f"dropped a ½ from {_short(t)}", expr + t
    return None


def _square_word(word, name):
    out = []
    for letter in word:
        out.append(letter)
        if letter.name == name:
            out.append(letter)
    return tuple(out)


def _cov_letters(expr: sp.Expr) -> list[str]:
    names = set()
    for s in expr.free_symbols:
        inf = traces.info(s) if isinstance(s, sp.Symbol) else None
        if inf is not None:
            names |= {l.name for l in inf.word if l.name.startswith(COVARIANCE_PREFIXES)}
    return sorted(names)


def _spectral_vars(expr: sp.Expr) -> list:
    return sorted((s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.name in SPECTRAL_NAMES),
                  key=lambda s: s.name)


def _square_cov_expr(expr: sp.Expr):
    names = _cov_letters(expr)
    lams = _spectral_vars(expr)
    if not names and not lams:
        return None
    rep = {}
    for s in expr.free_symbols:
        inf = traces.info(s) if isinstance(s, sp.Symbol) else None
        if inf is None:
            continue
        word = inf.word
        for name in names:
            word = _square_word(word, name)
        if word != inf.word:
            rep[s] = (traces.trace_symbol(word) if inf.kind == "trace"
                      else traces.path_symbol(inf.left, word, inf.right))
    new = expr.xreplace(rep) if rep else expr
    for lam in lams:
        new = new.subs(lam, lam ** 2)
    label = ", ".join([f"{n} → {n}²" for n in names] + [f"{l} → {l}²" for l in lams])
    return label, new


def _transpose_expr(expr: sp.Expr):
    atoms = sorted((s for s in expr.free_symbols if traces.info(s) is not None), key=lambda s: s.name)
    for s in atoms:
        inf = traces.info(s)
        for i, letter in enumerate(inf.word):
            if letter.sym or letter.is_identity:
                continue
            word = inf.word[:i] + (letter.T,) + inf.word[i + 1:]
            new_atom = (traces.trace_symbol(word) if inf.kind == "trace"
                        else traces.path_symbol(inf.left, word, inf.right))
            if new_atom != s:
                return f"{s} → {new_atom}", expr.xreplace({s: new_atom})
    return None


def _short(e, width: int = 60) -> str:
    text = str(e)
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------------------------------ matrices

def _entrywise_first(M: sp.MatrixBase, op):
    """Apply a scalar term operator to the first entry it changes (and its mirror, if M is symmetric)."""
    symmetric = M.is_square and M == M.T
    for i in range(M.rows):
        for j in range(M.cols):
            if M[i, j] == 0 or (symmetric and j < i):
                continue
            out = op(sp.sympify(M[i, j]))
            if out is None or out[1] == M[i, j]:
                continue
            new = M.as_mutable().copy()
            new[i, j] = out[1]
            if symmetric and i != j:
                new[j, i] = out[1]
            where = f"entry ({i},{j}){' and its mirror' if symmetric and i != j else ''}: {out[0]}"
            return where, new
    return None


def _entrywise_all(M: sp.MatrixBase, op):
    label = None

    def f(e):
        nonlocal label
        out = op(sp.sympify(e))
        if out is None:
            return e
        label = label or out[0]
        return out[1]

    new = M.applyfunc(f)
    return (f"every entry: {label}", new) if label else None


def _transpose_matrix(M: sp.MatrixBase):
    if not M.is_square or M == M.T:
        return _entrywise_all(M, _transpose_expr)
    return "transposed the matrix", M.T


# --------------------------------------------------------------------------- Wick matrix polynomials

def _mp(terms):
    from ..moments.wick import MatrixPoly

    return MatrixPoly(terms)


def _word_text(word) -> str:
    return "*".join(l.text() for l in word) or "I"


def _mp_words(P):
    return sorted(P.terms, key=lambda w: tuple((l.name, l.t) for l in w))


def _mp_coeffs(P, op):
    label, out = None, {}
    for w, c in P.terms.items():
        r = op(c) if c != 0 else None
        if r is not None:
            label = label or r[0]
            out[w] = r[1]
        else:
            out[w] = c
    return (label, _mp(out)) if label else None


def _mp_drop_trace(P):
    words = _mp_words(P)
    if len(words) < 2:
        return None
    for w in words:
        if _has_trace(P.terms[w]):
            return f"dropped the term ({P.terms[w]})*{_word_text(w)}", _mp({k: v for k, v in P.terms.items() if k != w})
    return None


def _mp_flip(P):
    w = _mp_words(P)[-1]
    terms = dict(P.terms)
    terms[w] = -terms[w]
    return f"flipped the sign of the {_word_text(w)} term", _mp(terms)


def _mp_half(P):
    for w in _mp_words(P):
        r = _missing_half(P.terms[w])
        if r is not None:
            terms = dict(P.terms)
            terms[w] = r[1]
            return f"{_word_text(w)} term: {r[0]}", _mp(terms)
    return None


def _mp_square(P):
    names = sorted({l.name for w in P.terms for l in w if l.name.startswith(COVARIANCE_PREFIXES)})
    out = {}
    for w, c in P.terms.items():
        nw = w
        for name in names:
            nw = _square_word(nw, name)
        r = _square_cov_expr(c)
        out[nw] = out.get(nw, 0) + (r[1] if r else c)
    label = ", ".join(f"{n} → {n}²" for n in names) or "coefficients: Λ → Λ²"
    return label, _mp(out)


def _mp_transpose(P):
    for w in _mp_words(P):
        for i, letter in enumerate(w):
            if not letter.sym and not letter.is_identity:
                nw = w[:i] + (letter.T,) + w[i + 1:]
                terms = {k: v for k, v in P.terms.items() if k != w}
                terms[nw] = terms.get(nw, 0) + P.terms[w]
                return f"{_word_text(w)} → {_word_text(nw)}", _mp(terms)
    return _mp_coeffs(P, _transpose_expr)


# -------------------------------------------------------------------------------- numbers and tables

def _num_flip(x):
    return "negated the value", -x


def _num_half(x):
    if isinstance(x, Fraction) and x.denominator % 2 == 0:
        return "dropped a ½ (doubled the value)", 2 * x
    return None


def _table_rows(T):
    return T if isinstance(T[0], list) else None


def _table_first(T, op):
    """Apply ``op`` to the entry of largest magnitude (the first such; and its mirror in a symmetric
    table): the constant term of a series is often absorbed downstream, the leading one is not."""
    rows = _table_rows(T)
    if rows is None:  # a vector
        order = sorted(range(len(T)), key=lambda i: -abs(T[i]))
        for i in order:
            r = op(T[i]) if T[i] != 0 else None
            if r is not None:
                new = list(T)
                new[i] = r[1]
                return f"entry {i}: {r[0]}", new
        return None
    n = len(rows)
    symmetric = all(len(r) == n for r in rows) and all(rows[i][j] == rows[j][i] for i in range(n) for j in range(n))
    cells = sorted(((i, j) for i, row in enumerate(rows) for j in range(len(row))
                    if not (symmetric and j < i)), key=lambda ij: -abs(rows[ij[0]][ij[1]]))
    for i, j in cells:
        v = rows[i][j]
        if v == 0:
            continue
        r = op(v)
        if r is None:
            continue
        new = [list(x) for x in rows]
        new[i][j] = r[1]
        if symmetric and i != j:
            new[j][i] = r[1]
        return f"entry ({i},{j}){' and its mirror' if symmetric and i != j else ''}: {r[0]}", new
    return None


def _table_transpose(T):
    rows = _table_rows(T)
    if rows is None or any(len(r) != len(rows) for r in rows):
        return None
    t = [list(col) for col in zip(*rows)]
    return ("transposed the table", t) if t != rows else None


_TABLE = {
    ("expr", "1/N→1/(N+1)"): _size_plus_one,
    ("expr", "drop-trace"): _drop_trace,
    ("expr", "flip-sign"): _flip_sign,
    ("expr", "Λ→Λ²"): _square_cov_expr,
    ("expr", "transpose"): _transpose_expr,
    ("expr", "missing-½"): _missing_half,
    ("matrix", "1/N→1/(N+1)"): lambda M: _entrywise_all(M, _size_plus_one),
    ("matrix", "drop-trace"): lambda M: _entrywise_first(M, _drop_trace),
    ("matrix", "flip-sign"): lambda M: _entrywise_first(M, _flip_sign),
    ("matrix", "Λ→Λ²"): lambda M: _entrywise_all(M, _square_cov_expr),
    ("matrix", "transpose"): _transpose_matrix,
    ("matrix", "missing-½"): lambda M: _entrywise_first(M, _missing_half),
    ("matrixpoly", "1/N→1/(N+1)"): lambda P: _mp_coeffs(P, _size_plus_one),
    ("matrixpoly", "drop-trace"): _mp_drop_trace,
    ("matrixpoly", "flip-sign"): _mp_flip,
    ("matrixpoly", "Λ→Λ²"): lambda P: _mp_square(P) if any(
        l.name.startswith(COVARIANCE_PREFIXES) for w in P.terms for l in w) else _mp_coeffs(P, _square_cov_expr),
    ("matrixpoly", "transpose"): _mp_transpose,
    ("matrixpoly", "missing-½"): _mp_half,
    ("number", "flip-sign"): _num_flip,
    ("number", "missing-½"): _num_half,
    ("table", "flip-sign"): lambda T: _table_first(T, _num_flip),
    ("table", "missing-½"): lambda T: _table_first(T, _num_half),
    ("table", "transpose"): _table_transpose,
}
