"""Derived expressions as paper-ready LaTeX: canonical trace form first, then a SymPy printer.

Two steps, each exact:

1. :func:`canonical` rewrites a scalar expression as a sum of (coefficient × monomial), where the
   monomials are products of traces, bilinear forms, spectral traces tr f(Λ) and the formula's
   variables, and each coefficient is a factored rational function of the paper's constants
   (N, M, d, ...).  Like terms are thereby collected.  Constants are pulled out of tr f(Λ) by
   linearity.  The result is checked to equal the input (:class:`SimplificationError` otherwise).
2. :class:`PaperPrinter`, a subclass of SymPy's ``LatexPrinter``, prints symbols through the
   paper's :class:`~icl_proofs.export.notation.Notation`: traces as ``\\operatorname{tr}(…)`` with
   runs of a letter merged into powers (tr(ΛΛV) -> tr(Λ²V); the rotation with the fewest runs is
   chosen, which the cyclicity of the trace allows), transposes as ``^\\top``, tr f(Λ) in the
   paper's named functions (Γ⁻¹ rather than N/((N+1)Λ + tr Λ)).

>>> import sympy as sp
>>> from icl_proofs.moments.traces import Letter, trace_symbol
>>> L, V = Letter("Lambda", sym=True), Letter("V")
>>> N = sp.Symbol("N")
>>> e = trace_symbol((L, L, V)) / 2 + trace_symbol((L, L, V)) / (2 * N)
>>> to_latex(e)
'\\\\frac{N + 1}{2 N} \\\\operatorname{tr}(\\\\Lambda^{2} V)'
"""
from __future__ import annotations

import dataclasses
import re

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from ..moments import traces
from .notation import COMMON, Notation

__all__ = ["PaperPrinter", "SimplificationError", "canonical", "to_latex", "display", "merge_runs"]


class SimplificationError(ArithmeticError):
    """The canonical form of an expression differs from the expression (a bug, never printed)."""


def _spectral():
    from ..moments import spectral

    return spectral


# --------------------------------------------------------------------------- words

def merge_runs(word) -> list[tuple]:
    """A word as runs ``[(letter, power), ...]`` (consecutive equal letters merged)."""
    runs: list[list] = []
    for letter in word:
        if runs and runs[-1][0] == letter:
            runs[-1][1] += 1
        else:
            runs.append([letter, 1])
    return [tuple(r) for r in runs]


def _cyclic_runs(word) -> list[tuple]:
    """Runs of the rotation/reversal of a cyclic word with the fewest runs (ties: the canonical one)."""
    word = tuple(word)
    best = merge_runs(word)
    for w in (word, traces.reverse_word(word)):
        for i in range(len(w)):
            runs = merge_runs(w[i:] + w[:i])
            if len(runs) < len(best):
                best = runs
    return best


# --------------------------------------------------------------------------- canonical form

@dataclasses.dataclass
class Canonical:
    """``expr == Σ coeff·monomial``; ``terms`` in display order."""

    terms: list  # [(coeff, monomial)]
    expr: sp.Expr
    aliases: dict = dataclasses.field(default_factory=dict)  # AliasSymbol -> γ(λ)

    def value(self) -> sp.Expr:
        """``expr`` with the named functions (Γ) written out again: comparable with the input."""
        return self.expr.xreplace(self.aliases) if self.aliases else self.expr


def _is_spectral(a) -> bool:
    sp_ = _spectral()
    return isinstance(a, (sp_.TrF, sp_.QF))


class AliasSymbol(sp.Symbol):
    """A named matrix function of Λ (Γ in zfb23) standing inside tr f(Λ); a class of its own so it
    never equals a user's symbol of the same name."""


def _aliases(notation: Notation) -> dict:
    """LaTeX name -> γ(λ) in spectral form (tr Λ as tr f(Λ)), for each alias the notation names."""
    sp_ = _spectral()
    out = {}
    for tex, fn in notation.aliases.items():
        try:
            out[tex] = sp_.to_spectral(sp.sympify(fn()), {"Lambda": sp_.lam})
        except Exception:  # noqa: BLE001 - an alias that cannot be built is not used
            continue
    return out


def _in_alias(f, aliases: dict):
    """f(λ) = c · λ^k · γ(λ)^b for an alias γ: (c, λ^k·A^b) with A the alias symbol, else None."""
    lam = _spectral().lam
    for tex, gamma in aliases.items():
        for b in (-1, 1, -2, 2, -3, 3):
            r = sp.factor(sp.cancel(f / gamma ** b))
            c, rest = r.as_independent(lam, as_Add=False)
            if rest == 1 or rest == lam or (rest.is_Pow and rest.base == lam and rest.exp.is_Integer):
                return c, rest * AliasSymbol(tex, positive=True) ** b, gamma
    return None


def _pull_constants(expr, notation: Notation = COMMON):
    """tr(c·f(Λ)) -> c·tr f(Λ) for λ-free c (linearity), with f factored and, where it is one, written
    in the notation's named functions (tr(NΛ²/((N+1)Λ + tr Λ)) -> tr(Λ²Γ⁻¹)); exact, checked."""
    sp_ = _spectral()
    aliases = _aliases(notation)
    sub = {}
    for a in sorted(expr.atoms(sp_.TrF, sp_.QF), key=lambda a: len(str(a))):
        f = a.args[0]
        inner = {b: sp.Dummy() for b in f.atoms(sp_.TrF, sp_.QF)}
        back = {v: k for k, v in inner.items()}
        fac = sp.factor(f.xreplace(inner))
        c, r = fac.as_independent(sp_.lam, as_Add=False)
        c, r = c.xreplace(back), r.xreplace(back)
        check = c * r
        named = _in_alias(r, aliases) if r != 1 else None
        if named is not None:
            c2, r, gamma = named
            c = c * c2
            check = c * r.xreplace({s: gamma for s in r.atoms(AliasSymbol)})
        if sp.cancel(sp.together(check - f)) != 0:
            raise SimplificationError(f"pulling constants out of {a} changed it")
        sub[a] = c * (type(a)(r, *a.args[1:]) if r != 1 or isinstance(a, sp_.QF) else traces.d)
    return expr.xreplace(sub) if sub else expr


def _atom_weight(a) -> int:
    inf = traces.info(a) if isinstance(a, sp.Symbol) else None
    if inf is not None:
        return len(inf.word) + (2 if inf.kind == "path" else 0)
    return 1


def _is_monomial(mono, variables) -> bool:
    for f in sp.Mul.make_args(mono):
        b, e = f.as_base_exp()
        # an atom (symbol, trace, function) to a positive integer power; not a sum or a ratio
        if f != 1 and (b.is_Add or not (e.is_Integer and e > 0)):
            return False
    return True


def canonical(expr, notation: Notation = COMMON) -> Canonical:
    """Sum of (factored coefficient × monomial) equal to ``expr``; raises
    :class:`SimplificationError` if the check that it equals ``expr`` fails."""
    expr = sp.sympify(expr)
    pulled = _pull_constants(expr, notation)
    aliases = {a: g for a in pulled.atoms(AliasSymbol) for t, g in _aliases(notation).items() if a.name == t}
    constants = {s for s in pulled.free_symbols if s.name in notation.constants}
    spectral_atoms = {a for a in pulled.atoms(sp.Function) if _is_spectral(a)}
    variables = (pulled.free_symbols - constants) | spectral_atoms
    if not variables:
        c = sp.factor(pulled) if pulled.free_symbols else sp.nsimplify(pulled) if pulled.is_Float else pulled
        return Canonical([(c, sp.Integer(1))], c, aliases)
    groups: dict = {}
    for term in sp.Add.make_args(sp.expand(pulled, deep=False)):
        coeff, mono = term.as_independent(*variables, as_Add=False)
        groups[mono] = groups.get(mono, 0) + coeff
    if not all(_is_monomial(m, variables) for m in groups):
        # not a polynomial in the variables (a ratio, a root): one factored term, if that is one
        factored = sp.factor(pulled)
        if not factored.is_Add:
            if sp.cancel(sp.together(factored - pulled)) != 0:
                raise SimplificationError(f"factored form differs from {expr}")
            return Canonical([(sp.Integer(1), factored)], factored, aliases)
    terms = []
    for mono, raw in groups.items():
        coeff = sp.factor(sp.cancel(raw))
        # each coefficient checked on its own: cheap, and exact (the grouping only moved terms)
        if sp.cancel(sp.together(coeff - raw)) != 0:
            raise SimplificationError(f"coefficient of {mono} changed from {raw} to {coeff}")
        if coeff != 0:
            terms.append((coeff, mono))

    def order(t):
        coeff, mono = t
        weight = sum(_atom_weight(b) * int(e) if e.is_Integer else 1
                     for b, e in (f.as_base_exp() for f in sp.Mul.make_args(mono)) if b != 1)
        return (weight, sp.default_sort_key(mono))

    terms.sort(key=order)
    rebuilt = sp.Add(*[c * m for c, m in terms])
    regrouped = sp.Add(*[raw * mono for mono, raw in groups.items()])
    if sp.expand(regrouped - pulled) != 0:
        raise SimplificationError(f"collecting the terms of {expr} changed it")
    return Canonical(terms, rebuilt, aliases)


# --------------------------------------------------------------------------- printer

class PaperPrinter(LatexPrinter):
    """SymPy's LaTeX printer speaking a paper's notation (see the module docstring)."""

    def __init__(self, notation: Notation = COMMON, **settings):
        settings.setdefault("mat_delim", "(")
        settings.setdefault("mat_str", "matrix")
        settings.setdefault("mul_symbol", None)
        super().__init__(settings)
        self.notation = notation
        self._lam_matrix = False  # inside tr f(Λ): the eigenvalue λ stands for the matrix Λ

    # ---- names
    def _name(self, name: str) -> str:
        return self.notation.symbol(name)

    def _letter(self, letter, power: int = 1) -> str:
        base = self._name(letter.name)
        if letter.t:
            base = base + r"^{\top}" if power == 1 else r"\left(%s^{\top}\right)" % base
        return base if power == 1 else "%s^{%d}" % (base if "^" not in base else "{%s}" % base, power)

    def _word(self, runs) -> str:
        return " ".join(self._letter(l, k) for l, k in runs)

    def _print_Symbol(self, expr, style="plain"):
        inf = traces.info(expr)
        if inf is not None:
            if inf.kind == "trace":
                return r"\operatorname{tr}(%s)" % self._word(_cyclic_runs(inf.word))
            left, right = self._name(inf.left), self._name(inf.right)
            mid = self._word(merge_runs(inf.word))
            return " ".join(x for x in (left + r"^{\top}", mid, right) if x)
        if self._lam_matrix and expr == _spectral().lam:
            return r"\Lambda"
        if isinstance(expr, AliasSymbol):
            return expr.name
        if expr in self._settings["symbol_names"]:
            return self._settings["symbol_names"][expr]
        return self._name(expr.name)

    _print_MatrixSymbol = _print_Symbol

    def _print_Transpose(self, expr):
        arg = expr.arg
        s = self._print(arg)
        if not isinstance(arg, (sp.MatrixSymbol, sp.Symbol)):
            s = r"\left(%s\right)" % s
        return s + r"^{\top}"

    def _print_Identity(self, expr):
        return "I"

    # ---- spectral traces
    def _print(self, expr, **kwargs):
        if _is_spectral(expr):
            s = self._print_spectral(expr)
            if kwargs.get("exp") is not None:
                return r"\left(%s\right)^{%s}" % (s, kwargs["exp"])
            return s
        return super()._print(expr, **kwargs)

    def _matrix_function(self, f) -> str:
        """f(λ) printed as a matrix function of Λ: λ-free constants in front, then the factors
        (powers of Λ, named functions such as Γ, sums), negative powers as ^{-k} (they commute)."""
        lam = _spectral().lam
        named = tuple(f.atoms(AliasSymbol))
        c, rest = sp.factor(f).as_independent(lam, *named, as_Add=False)
        pos, neg = [], []
        for fac in sp.Mul.make_args(rest):
            if fac == 1:
                continue
            base, e = fac.as_base_exp()
            s = self._print(base)
            if base.is_Add:
                s = r"\left(%s\right)" % s
            (neg if (e.is_number and e < 0) else pos).append(s if e == 1 else "%s^{%s}" % (s, self._print(e)))
        return self._with_coeff(c, " ".join(pos + neg) or "I")

    @staticmethod
    def _power(base: str, k: int) -> str:
        return "" if k == 0 else base if k == 1 else "%s^{%d}" % (base, k)

    def _with_coeff(self, c, body: str) -> str:
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        return self._print(c) + " " + body

    def _print_spectral(self, expr) -> str:
        sp_ = _spectral()
        f = expr.args[0]
        saved, self._lam_matrix = self._lam_matrix, True
        try:
            inner = self._matrix_function(f)
        finally:
            self._lam_matrix = saved
        if isinstance(expr, sp_.TrF):
            return r"\operatorname{tr}\left(%s\right)" % inner if "\\frac" in inner \
                else r"\operatorname{tr}(%s)" % inner
        v = self._name(str(expr.args[1]))
        return r"%s^{\top} %s %s" % (v, inner if inner else "", v) if " " not in inner else \
            r"%s^{\top} \left(%s\right) %s" % (v, inner, v)

    def _print_Add(self, expr, order=None):
        """Every sum in canonical form: like terms collected, coefficients factored."""
        if isinstance(expr, sp.MatrixExpr) or not expr.is_commutative:
            return super()._print_Add(expr, order)
        try:
            canon = canonical(expr, self.notation)
        except SimplificationError:
            raise
        except Exception:  # noqa: BLE001 - an expression SymPy cannot factor prints as it is
            return super()._print_Add(expr, order)
        if len(canon.terms) == 1 and (canon.terms[0][1] == 1 or canon.terms[0][1] == expr):
            return super()._print_Add(expr, order) if canon.terms[0][1] == 1 or canon.terms[0][1].is_Add \
                else self._print(canon.terms[0][1])
        return join_terms(self.terms(canon))

    def _print_MatMul(self, expr):
        """A scalar factor in front, factored: (u² + u²/N) Λ² -> (N+1)u²/N Λ²."""
        c, mats = expr.as_coeff_matrices()
        c = sp.factor(c)
        if c.is_Number or not mats:
            return super()._print_MatMul(expr)
        sign = ""
        if c.could_extract_minus_sign():
            sign, c = "-", -c
        cs = self._print(c)
        if c.is_Add:
            cs = r"\left(%s\right)" % cs
        body = " ".join(self.parenthesize(m, PRECEDENCE["Mul"], strict=False) for m in mats)
        return f"{sign}{cs} {body}"

    # ---- sums of terms in canonical order
    def term(self, coeff, mono) -> tuple[str, str]:
        """(sign, body) of one canonical term."""
        sign = "+"
        if coeff.could_extract_minus_sign():
            sign, coeff = "-", -coeff
        if mono == 1:
            return sign, self._print(coeff)
        num, _den = sp.fraction(coeff)
        if num.is_Number and not self._has_atoms(mono):
            return sign, self._print(sp.Mul(coeff, mono))  # κ²/(2ℓ), not 1/(2ℓ) κ²
        m = self._print(mono)
        if coeff == 1:
            return sign, m
        c = self._print(coeff)
        if coeff.is_Add:
            c = r"\left(%s\right)" % c
        return sign, f"{c} {m}"

    @staticmethod
    def _has_atoms(mono) -> bool:
        return any(traces.info(s) is not None for s in mono.free_symbols) or \
            any(_is_spectral(a) for a in mono.atoms(sp.Function))

    def terms(self, canon: Canonical) -> list[tuple[str, str]]:
        return [self.term(c, m) for c, m in canon.terms]


# --------------------------------------------------------------------------- public helpers

def _is_scalar(expr) -> bool:
    return isinstance(expr, sp.Expr) and not getattr(expr, "is_Matrix", False) \
        and not isinstance(expr, sp.MatrixExpr)


def _prepare(expr):
    if hasattr(expr, "to_matrix_expr"):
        expr = expr.to_matrix_expr()
    return expr


def _matrix(expr, notation) -> sp.Matrix:
    """Entries factored (each checked equal), for a matrix of scalars."""
    out = expr.applyfunc(lambda e: canonical(e, notation).expr if e.free_symbols else e)
    return out


def term_list(expr, notation: Notation = COMMON) -> list[tuple[str, str]] | None:
    """(sign, LaTeX) of each term of a scalar expression in canonical form; ``None`` otherwise."""
    expr = _prepare(expr)
    if not _is_scalar(expr):
        return None
    printer = PaperPrinter(notation)
    return printer.terms(canonical(expr, notation))


def join_terms(terms: list[tuple[str, str]]) -> str:
    out = ""
    for i, (sign, body) in enumerate(terms):
        if i == 0:
            out = ("-" if sign == "-" else "") + body
        else:
            out += f" {sign} {body}"
    return out or "0"


def to_latex(expr, notation: Notation = COMMON) -> str:
    """One-line LaTeX of a derived object (scalar in canonical form, matrix, matrix expression)."""
    expr = _prepare(expr)
    terms = term_list(expr, notation)
    if terms is not None:
        return join_terms(terms)
    if isinstance(expr, sp.MatrixBase):
        expr = _matrix(expr, notation)
    return PaperPrinter(notation).doprint(expr)


BREAK_AT = 62  # estimated visible characters per displayed line


def visible_len(math: str) -> int:
    """Rough printed width of a formula: commands count as one character, layout as none."""
    s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", lambda m: max(m.group(1), m.group(2), key=len), math)
    s = re.sub(r"\\(left|right|operatorname|mathrm|mathbf|mathbb|frac|dfrac|tfrac|begin|end)(?![A-Za-z])", "", s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    s = re.sub(r"\^\{[^{}]*\}", "x", s)
    return len(re.sub(r"[{}_ ]", "", s))


def lines(terms: list[tuple[str, str]], first: str = "", width: int = BREAK_AT, measure=visible_len) -> list[str]:
    """Terms greedily packed into lines of about ``width`` characters as ``measure`` counts them
    (:func:`visible_len` for LaTeX, ``len`` for plain text)."""
    out: list[str] = []
    cur = first
    for i, (sign, body) in enumerate(terms):
        piece = (("-" if sign == "-" else "") + body) if i == 0 else f" {sign} {body}"
        if cur.strip() and cur != first and measure(cur + piece) > width:
            out.append(cur)
            cur = piece.lstrip()
        else:
            cur += piece
    out.append(cur)
    return out


def display(expr, notation: Notation = COMMON, lhs: str | None = None, width: int = BREAK_AT) -> str:
    """A LaTeX display of ``expr`` (``lhs = …`` if given); long sums broken with ``multline*``."""
    expr = _prepare(expr)
    head = f"{lhs} = " if lhs else ""
    terms = term_list(expr, notation)
    if terms is None:
        return "\\[\n" + head + to_latex(expr, notation) + "\n\\]"
    rows = lines(terms, head, width)
    if len(rows) == 1:
        return "\\[\n" + rows[0] + "\n\\]"
    # split: continuation lines start under the first term, after "lhs ="
    first = rows[0][len(head):] if head else rows[0]
    body = [(f"{lhs} = {{}}& " if head else "& ") + first] + ["&" + r for r in rows[1:]]
    return "\\begin{equation*}\\begin{split}\n" + " \\\\\n".join(body) + "\n\\end{split}\\end{equation*}"


# --------------------------------------------------------------------------- terminal text

_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_UNICODE = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
    "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
    "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ",
    "Omega": "Ω", "ell": "ℓ",
}


_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def tex_to_text(tex: str) -> str:
    """A symbol's LaTeX (from the notation) as Unicode: ``\\hat{\\Sigma}`` -> Σ̂, ``w_{21}`` -> w₂₁,
    ``s^{2}`` -> s², ``\\Lambda_{q}`` -> Λ_q."""
    s = re.sub(r"\\hat\{([^{}]*)\}", lambda m: tex_to_text(m.group(1)) + "\u0302", tex)
    s = re.sub(r"\\mathrm\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\([A-Za-z]+)", lambda m: _UNICODE.get(m.group(1), m.group(1)), s)
    s = re.sub(r"\^\{(-?\d+)\}", lambda m: m.group(1).translate(_SUP), s)
    s = re.sub(r"_\{(\d+)\}", lambda m: m.group(1).translate(_SUB), s)
    s = re.sub(r"_\{([^{}]*)\}", r"_\1", s)
    return s.replace("{", "").replace("}", "")


def text_name(name: str, notation: Notation = COMMON) -> str:
    """A symbol name for the terminal, through the paper's notation (``Sigma_hat`` -> Σ̂, ``u21`` -> u₂₁)."""
    if name.startswith("\\"):
        return tex_to_text(name)
    return tex_to_text(notation.symbol(name))


class PaperTextPrinter(sp.printing.str.StrPrinter):
    """One-line Unicode text of a derived expression (``icl-proofs show``): the same canonical form
    and names as the LaTeX, tr(Λ²V) rather than tr(Lambda*Lambda*V), tr(Λ²Γ⁻¹) rather than TrF(λ)."""

    def __init__(self, notation: Notation = COMMON):
        super().__init__()
        self.notation = notation
        self._lam_matrix = False

    def _letter(self, letter, power: int = 1) -> str:
        base = text_name(letter.name, self.notation)
        if letter.t:
            base = base + "ᵀ" if power == 1 else f"({base}ᵀ)"
        return base if power == 1 else base + str(power).translate(_SUP)

    def _print_Symbol(self, expr):
        inf = traces.info(expr)
        if inf is not None:
            if inf.kind == "trace":
                return "tr(" + "".join(self._letter(l, k) for l, k in _cyclic_runs(inf.word)) + ")"
            mid = "".join(self._letter(l, k) for l, k in merge_runs(inf.word))
            return f"{text_name(inf.left, self.notation)}ᵀ{mid}{text_name(inf.right, self.notation)}"
        if self._lam_matrix and expr == _spectral().lam:
            return "Λ"
        return text_name(expr.name, self.notation)

    _print_MatrixSymbol = _print_Symbol

    def _print_Transpose(self, expr):
        a = self._print(expr.arg)
        return (a if isinstance(expr.arg, sp.MatrixSymbol) else f"({a})") + "ᵀ"

    def _print_Pow(self, expr, rational=False):
        base, e = expr.as_base_exp()
        if e.is_Integer and e < 0 and not self._lam_matrix:
            return "1/" + self._print(base ** -e)
        if e.is_Integer and (e > 0 or self._lam_matrix):
            b = self._print(base)
            if not (base.is_Symbol or isinstance(base, (sp.MatrixSymbol, sp.Function))) or " " in b:
                b = f"({b})"
            return b + str(int(e)).translate(_SUP)
        b = self._print(base)
        b = b if base.is_Symbol or isinstance(base, sp.Function) or b.endswith(")") and b.startswith("tr(") else f"({b})"
        return f"{b}^({self._print(e)})"

    def _print_Mul(self, expr):
        if self._lam_matrix:  # a function of Λ: factors side by side, inverses as ⁻¹ (they commute)
            c, rest = expr.as_coeff_Mul()
            facs = sorted(sp.Mul.make_args(rest), key=lambda f: f.as_base_exp()[1].is_negative or False)
            body = "".join(self._print(f) for f in facs)
            return body if c == 1 else f"{self._print(c)}·{body}"
        return super()._print_Mul(expr).replace("*", "·")

    def _print_MatMul(self, expr):
        c, mats = expr.as_coeff_matrices()
        plain = (sp.MatrixSymbol, sp.MatPow, sp.Transpose, sp.Inverse)
        body = "".join(self._print(m) if isinstance(m, plain) else f"({self._print(m)})" for m in mats)
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        cs = self._print(sp.factor(c))
        return (f"({cs})" if " " in cs else cs) + "·" + body

    def _print_MatPow(self, expr):
        b = self._print(expr.base)
        return (b if isinstance(expr.base, sp.MatrixSymbol) else f"({b})") + self._print(expr.exp).translate(_SUP)

    def _print(self, expr, **kwargs):
        if _is_spectral(expr):
            saved, self._lam_matrix = self._lam_matrix, True
            try:
                c, rest = sp.factor(expr.args[0]).as_independent(
                    _spectral().lam, *expr.args[0].atoms(AliasSymbol), as_Add=False)
                inner = self._print(rest)
            finally:
                self._lam_matrix = saved
            head = "" if c == 1 else self._print(c) + "·"
            if isinstance(expr, _spectral().TrF):
                return f"{head}tr({inner})"
            v = text_name(str(expr.args[1]))
            return f"{head}{v}ᵀ({inner}){v}"
        return super()._print(expr, **kwargs)

    def _print_Add(self, expr, order=None):
        if isinstance(expr, sp.MatrixExpr) or not expr.is_commutative:
            return super()._print_Add(expr, order)
        canon = canonical(expr, self.notation)
        if len(canon.terms) == 1 and (canon.terms[0][1] == 1 or canon.terms[0][1].is_Add):
            return super()._print_Add(expr, order)
        return join_terms(self.text_terms(canon))

    def text_terms(self, canon: Canonical) -> list[tuple[str, str]]:
        out = []
        for coeff, mono in canon.terms:
            sign = "+"
            if coeff.could_extract_minus_sign():
                sign, coeff = "-", -coeff
            if mono == 1:
                out.append((sign, self._print(coeff)))
                continue
            m = self._print(mono)
            if coeff == 1:
                out.append((sign, m))
                continue
            c = self._print(coeff)
            if coeff.is_Add or "/" in c and not c.startswith("("):
                c = f"({c})" if (coeff.is_Add or "+" in c or "-" in c) else c
            out.append((sign, f"{c}·{m}"))
        return out


def to_text(expr, notation: Notation = COMMON, width: int = 100) -> list[str]:
    """A derived object as lines of Unicode text no wider than ``width`` (broken between terms)."""
    expr = _prepare(expr)
    printer = PaperTextPrinter(notation)
    if _is_scalar(expr):
        return lines(printer.text_terms(canonical(expr, notation)), "", width, measure=len)
    if isinstance(expr, sp.MatrixBase):
        rows = [[printer.doprint(canonical(e, notation).expr) if getattr(e, "free_symbols", None) else
                 printer.doprint(e) for e in row] for row in expr.tolist()]
        w = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))] if rows and rows[0] else []
        return ["[" + "  ".join(x.rjust(w[j]) for j, x in enumerate(r)) + "]" for r in rows]
    return [printer.doprint(expr)]
