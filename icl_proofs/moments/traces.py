"""Trace monomials: the atoms in which every symbolic expectation is written.

After Wick contraction every term of an expectation is a product of

* closed cycles of matrices, i.e. traces ``tr(M1 M2 ... Mk)``, and
* open paths between two *fixed* vectors, i.e. bilinear forms ``aᵀ M1 ... Mk b``.

Both are canonicalised (cyclic rotation, reversal with transposition, symmetric letters lose their
transpose, identity letters vanish, ``tr(I) = d``) and turned into SymPy ``Symbol`` s, so that the
rest of the code does fast commutative polynomial algebra on them.  A module-level table maps each
symbol back to its word for numeric evaluation and LaTeX.

>>> from icl_proofs.moments.traces import Letter, trace_symbol
>>> L, A = Letter("Lambda", sym=True), Letter("A")
>>> trace_symbol((A, L, A.T, L)) == trace_symbol((L, A, L, A.T))   # rotation
True
>>> trace_symbol((A, L)) == trace_symbol((L, A.T))                # tr(X) = tr(Xᵀ)
True
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import sympy as sp

#: the symbolic dimension: tr(I) = d
d = sp.Symbol("d", positive=True, integer=True)

_LATEX_NAMES = {
    "Lambda": r"\Lambda", "Gamma": r"\Gamma", "Sigma": r"\Sigma", "Psi": r"\Psi",
    "Theta": r"\Theta", "I": "I",
}


@dataclasses.dataclass(frozen=True, order=True)
class Letter:
    """A matrix in a word: its name, whether it is transposed, whether it is symmetric."""

    name: str
    t: bool = False
    sym: bool = False

    def __post_init__(self):
        if self.sym and self.t:
            object.__setattr__(self, "t", False)

    @property
    def T(self) -> "Letter":
        return self if self.sym else Letter(self.name, not self.t, False)

    @property
    def is_identity(self) -> bool:
        return self.name == "I"

    def text(self) -> str:
        return self.name + ("'" if self.t else "")

    def latex(self) -> str:
        base = _LATEX_NAMES.get(self.name, _latex_name(self.name))
        return base + ("^{\\top}" if self.t else "")


def _latex_name(name: str) -> str:
    if "_" in name:
        head, tail = name.split("_", 1)
        return f"{_LATEX_NAMES.get(head, head)}_{{{tail}}}"
    return name


IDENTITY = Letter("I", sym=True)

Word = tuple  # tuple[Letter, ...]


def reverse_word(word: Word) -> Word:
    """(M1 ... Mk)ᵀ = Mkᵀ ... M1ᵀ."""
    return tuple(letter.T for letter in reversed(word))


def _key(word: Word):
    return tuple((l.name, l.t) for l in word)


def canonical_cycle(word: Word) -> Word:
    """Canonical representative of tr(word) under rotation and tr(X) = tr(Xᵀ)."""
    word = tuple(l for l in word if not l.is_identity)
    if not word:
        return ()
    best = None
    for w in (word, reverse_word(word)):
        for i in range(len(w)):
            cand = w[i:] + w[:i]
            if best is None or _key(cand) < _key(best):
                best = cand
    return best


def canonical_path(left: str, word: Word, right: str) -> tuple:
    """Canonical (a, W, b) for the bilinear form aᵀ W b = bᵀ Wᵀ a."""
    word = tuple(l for l in word if not l.is_identity)
    a = (left, _key(word), right)
    rw = reverse_word(word)
    b = (right, _key(rw), left)
    return (left, word, right) if a <= b else (right, rw, left)


@dataclasses.dataclass(frozen=True)
class TraceInfo:
    kind: str  # "trace" or "path"
    word: Word
    left: str | None = None
    right: str | None = None

    def text(self) -> str:
        inner = "*".join(l.text() for l in self.word)
        if self.kind == "trace":
            return f"tr({inner})"
        mid = f"*{inner}*" if inner else "*"
        return f"{self.left}'{mid}{self.right}"

    def latex(self) -> str:
        inner = " ".join(l.latex() for l in self.word)
        if self.kind == "trace":
            return rf"\operatorname{{tr}}({inner})"
        return f"{_latex_name(self.left)}^{{\\top}} {inner} {_latex_name(self.right)}".replace("  ", " ")


_INFO: dict[sp.Symbol, TraceInfo] = {}


@lru_cache(maxsize=None)
def _trace_symbol_canon(canon: Word) -> sp.Expr:
    if not canon:
        return d
    info = TraceInfo("trace", canon)
    sym = sp.Symbol(info.text(), real=True)
    _INFO[sym] = info
    return sym


def trace_symbol(word: Word) -> sp.Expr:
    """The SymPy symbol for tr(word) (``d`` for the trace of the identity)."""
    return _trace_symbol_canon(canonical_cycle(word))


@lru_cache(maxsize=None)
def _path_symbol_canon(left: str, canon: Word, right: str) -> sp.Expr:
    info = TraceInfo("path", canon, left, right)
    sym = sp.Symbol(info.text(), real=True)
    _INFO[sym] = info
    return sym


def path_symbol(left: str, word: Word, right: str) -> sp.Expr:
    """The SymPy symbol for the bilinear form leftᵀ·word·right of two fixed vectors."""
    return _path_symbol_canon(*canonical_path(left, word, right))


def info(sym: sp.Symbol) -> TraceInfo | None:
    return _INFO.get(sym)


def trace_atoms(expr: sp.Expr) -> set:
    return {s for s in expr.free_symbols if s in _INFO}


def letters_in(expr: sp.Expr) -> set[str]:
    out = set()
    for s in trace_atoms(expr):
        out.update(l.name for l in _INFO[s].word)
    return out


def latex_names(expr: sp.Expr) -> dict:
    """``symbol_names`` for :func:`sympy.latex` so traces print as tr(...)."""
    return {s: _INFO[s].latex() for s in trace_atoms(expr)}


def to_latex(expr: sp.Expr, notation=None, **kw) -> str:
    """LaTeX of a derived expression in canonical trace form (like terms collected, tr(ΛΛV) as
    tr(Λ²V)), through :class:`icl_proofs.export.printing.PaperPrinter`.  ``notation``: a paper's
    :class:`~icl_proofs.export.notation.Notation` (default: the common one).  Extra keywords go to
    plain :func:`sympy.latex` (the old behaviour, for callers that need SymPy's own settings)."""
    if kw:
        return sp.latex(expr, symbol_names=latex_names(expr), **kw)
    from ..export import printing  # the printer uses this module: imported late
    from ..export.notation import COMMON

    return printing.to_latex(expr, notation or COMMON)


# --------------------------------------------------------------------------------------------
# numeric evaluation


def _word_value(word: Word, env: dict, dim: int, one):
    acc = None
    for l in word:
        if l.is_identity:
            continue
        m = env[l.name]
        if l.t:
            m = m.T
        acc = m if acc is None else acc @ m
    return acc


def eval_atom(sym: sp.Symbol, env: dict, dim: int | None = None):
    """Value of one trace/path atom given concrete matrices (SymPy, mpmath or NumPy) in ``env``."""
    inf = _INFO[sym]
    if dim is None:
        dim = next(iter(v for v in env.values() if hasattr(v, "shape"))).shape[0]
    acc = _word_value(inf.word, env, dim, None)
    if inf.kind == "trace":
        if acc is None:
            return dim
        return acc.trace() if hasattr(acc, "trace") and not isinstance(acc, np.ndarray) else np.trace(acc)
    a, b = env[inf.left], env[inf.right]
    mid = a.T if acc is None else a.T @ acc
    val = mid @ b
    return val[0, 0] if hasattr(val, "shape") and len(getattr(val, "shape", ())) == 2 else val


def substitute(expr: sp.Expr, env: dict, extra: dict | None = None) -> sp.Expr:
    """Replace every trace/path atom by its value at the matrices in ``env`` and ``d`` by the size.

    Entries of ``env`` may be SymPy matrices with symbolic entries (to build concrete polynomials),
    rational matrices, or NumPy arrays.  No simplification is done here.
    """
    dim = next(iter(v for v in env.values() if hasattr(v, "shape"))).shape[0]
    from ..numeric.exact_linalg import trace_atoms_exact

    sub = trace_atoms_exact(trace_atoms(expr), env)  # rational matrices: FLINT products
    if sub is None:
        sub = {s: sp.sympify(eval_atom(s, env, dim)) for s in trace_atoms(expr)}
    sub[d] = sp.Integer(dim)
    if extra:
        sub.update({sp.Symbol(k) if isinstance(k, str) else k: v for k, v in extra.items()})
    return expr.xreplace(sub)


def evaluate_exact(expr: sp.Expr, env: dict, extra: dict | None = None) -> sp.Expr:
    """Exact value of a trace polynomial for SymPy rational matrices ``env`` (name -> Matrix)."""
    return sp.simplify(substitute(expr, env, extra))


def evaluate_numpy(expr: sp.Expr, env: dict, extra: dict | None = None) -> float:
    """Float value of a trace polynomial for NumPy matrices."""
    dim = next(iter(v for v in env.values() if hasattr(v, "shape"))).shape[0]
    sub = {s: float(eval_atom(s, env, dim)) for s in trace_atoms(expr)}
    sub[d] = dim
    if extra:
        sub.update({sp.Symbol(k) if isinstance(k, str) else k: v for k, v in extra.items()})
    return float(expr.xreplace({k: sp.Float(v, 30) for k, v in sub.items()}))
