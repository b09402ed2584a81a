"""Paper notation: how each paper writes its symbols, and how each derived quantity is named.

One :class:`Notation` per paper prefix (``zfb23``, ``ding25``, ``dd25``), merged over
:data:`COMMON`.  It is data, read by :mod:`icl_proofs.export.printing` (the SymPy printer); nothing
here edits printed strings.

* ``symbols``: SymPy symbol / matrix-letter / vector name -> LaTeX (``"Sigma_hat"`` -> ``\\hat\\Sigma``).
  Names that are not listed are translated by :func:`auto_symbol` (Greek names, ``_hat`` suffixes,
  trailing digits as subscripts), so a new claim's symbols print sensibly without an entry.
* ``labels``: derivation key (as ``derive()`` returns it) -> :class:`Label` (words and the math the
  displayed formula equals), so the document never shows the key itself.
* ``constants``: symbols that are parameters of the formula (prompt lengths, dimensions); like terms
  are collected with respect to everything else, and these go into the factored coefficients.
* ``aliases``: named spectral functions (Γ = γ(Λ) in zfb23) that a printed tr f(Λ) is written in.

>>> from icl_proofs.export.notation import auto_symbol, for_claim
>>> auto_symbol("Sigma_hat"), auto_symbol("u21"), auto_symbol("Lambda_q"), auto_symbol("yhat")
('\\\\hat{\\\\Sigma}', 'u_{21}', '\\\\Lambda_{q}', '\\\\hat{y}')
>>> for_claim("zfb23").label("E(yhat-y)^2, w~N(0,I)").lhs
'\\\\mathbb{E}(\\\\hat y - y_q)^2'
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

__all__ = ["Label", "Notation", "COMMON", "PAPERS", "for_claim", "auto_symbol", "auto_label"]

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi",
    "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
    "Upsilon", "Phi", "Psi", "Omega", "ell",
}


@dataclasses.dataclass(frozen=True)
class Label:
    """How a derived quantity is introduced: ``words`` (LaTeX text, may hold ``$...$``) and the
    ``lhs`` (LaTeX math) that the displayed formula equals, if the quantity has a symbol."""

    words: str
    lhs: str | None = None

    def text(self) -> str:
        """The label as one LaTeX text line: words, then the symbol in math."""
        if self.words:
            return self.words  # the display that follows shows "lhs = ..."
        return f"${self.lhs}$" if self.lhs else ""


@dataclasses.dataclass
class Notation:
    symbols: dict = dataclasses.field(default_factory=dict)
    labels: dict = dataclasses.field(default_factory=dict)
    constants: frozenset = frozenset()
    #: LaTeX name -> callable returning γ(λ) (an expression in spectral.lam); see printing
    aliases: dict = dataclasses.field(default_factory=dict)

    def merged(self, other: "Notation") -> "Notation":
        return Notation({**self.symbols, **other.symbols}, {**self.labels, **other.labels},
                        self.constants | other.constants, {**self.aliases, **other.aliases})

    def symbol(self, name: str) -> str:
        """LaTeX of a symbol name: the table's entry, else :func:`auto_symbol`."""
        return self.symbols.get(name) or auto_symbol(name, self.symbols)

    def label(self, key: str) -> Label:
        """The label of a derivation key (see :func:`label_for`)."""
        return label_for(self, key)


def _base(name: str, table: dict | None = None) -> str:
    if table and name in table:
        return table[name]
    if name in GREEK:
        return "\\" + name
    if len(name) > 1 and name.isalpha():
        return r"\mathrm{%s}" % name
    return name


def auto_symbol(name: str, table: dict | None = None) -> str:
    """LaTeX of a symbol name nobody listed: ``Lambda_q`` -> ``\\Lambda_{q}``, ``w21`` -> ``w_{21}``,
    ``k_1_2`` -> ``k_{12}``, ``Sigma_hat``/``yhat`` -> hats, ``u_*`` -> ``u_{*}``."""
    if name in (table or {}):
        return table[name]
    m = re.fullmatch(r"([A-Za-z]+?)_?hat", name)
    if m and m.group(1):
        return r"\hat{%s}" % _base(m.group(1), table)
    m = re.fullmatch(r"([A-Za-z]*[A-Za-z])(\d+)", name)
    if m:
        return "%s_{%s}" % (_base(m.group(1), table), m.group(2))
    if "_" in name:
        head, *subs = name.split("_")
        if subs and all(s.isdigit() and len(s) == 1 for s in subs):
            sub = "".join(subs)
        else:
            sub = ",".join(_base(s, table) if s not in ("*",) else "*" for s in subs if s)
        if head:
            return "%s_{%s}" % (_base(head, table), sub)
    return _base(name, table)


# --------------------------------------------------------------------------- labels by rule

_TEXT_WORDS = re.compile(r"\b(on|of|as|from|the|function|coefficient|over|all|blocks|with|derived|"
                         r"data|model|invariant|set|lower|bound|error|linear|fixed|task|noise|"
                         r"trained|preconditioner|span|minimiser|and|for|example)\b", re.I)


def auto_label(key: str, notation: "Notation | None" = None) -> Label:
    """A label for a derivation key nobody listed: the key read as a formula where it is one.

    Keys are short formulas (``E[x x' A x x']``, ``dL/du``) or phrases; the formula parts are set
    in math with the notation's symbols, the words as text.
    """
    notation = notation or COMMON
    if not _TEXT_WORDS.search(key):
        return Label("", formula_to_latex(key, notation))
    # a phrase with formulas in parentheses or after a comma: typeset the identifier-like tokens
    parts = re.split(r"(\s+)", key)
    out = []
    for p in parts:
        if p.isspace() or _TEXT_WORDS.fullmatch(p.strip("(),")) or not re.search(r"[A-Za-z0-9]", p):
            out.append(_escape_words(p))
        else:
            lead = re.match(r"^[(]*", p).group(0)
            trail = re.search(r"[),]*$", p).group(0)
            core = p[len(lead):len(p) - len(trail)] if trail else p[len(lead):]
            out.append(_escape_words(lead) + "$" + formula_to_latex(core, notation) + "$"
                       + _escape_words(trail))
    return Label("".join(out).strip())


def _escape_words(s: str) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", s)


_FORMULA_TOKEN = re.compile(r"([A-Za-z\u0370-\u03ff][\u0300-\u036f]?[A-Za-z0-9]*(?:_(?:\{[^}]*\}|[A-Za-z0-9*]+))*"
                            r"|\*\*|\^(?:\{[^}]*\}|-?[A-Za-z0-9*]+)|'|.)")
#: multi-letter names that are words in a formula; any other short run of letters is a product (Ax = A x)
_WORDS = {"tr", "He", "min", "max", "log", "exp", "Exp", "Cov", "Var", "vec", "span", "sgn", "diag", "relu",
          "ReLU", "rank", "det", "argmin", "argmax", "hat"}


def formula_to_latex(text: str, notation: "Notation | None" = None) -> str:
    """A short ASCII formula (a derivation key) in LaTeX math: names through the notation,
    ``'``/``^T`` as transposes, ``E`` as the expectation, ``*`` dropped."""
    notation = notation or COMMON
    # a starred name (V*, c*_p) is a superscript star, not a product
    text = re.sub(r"(?<=[A-Za-z])\*(?=_|$|[\s)=,])", "^{*}", text)
    out = []
    for tok in _FORMULA_TOKEN.findall(text):
        if tok == "E" or tok == "𝔼":
            out.append(r"\mathbb{E}")
        elif tok == "tr":
            out.append(r"\operatorname{tr}")
        elif tok in ("'", "^T", "^{T}"):
            out.append(r"^{\top}")
        elif tok.startswith("^"):
            out.append("^{%s}" % tok[1:].strip("{}").replace("*", r"\ast"))
        elif tok == "**":
            out.append("^")
        elif tok == "*":
            out.append(" ")
        elif tok == "~":
            out.append(r"\sim ")
        elif tok in "{}%&#$":
            out.append("\\" + tok)
        elif tok == "|":
            out.append(r"\mid ")
        elif re.fullmatch(r"[A-Za-z]{2,3}", tok) and tok not in _WORDS and tok not in GREEK \
                and tok not in notation.symbols and not tok.endswith("hat"):
            out.append(" ".join(notation.symbol(ch) for ch in tok) + " ")
        elif re.match(r"[A-Za-z]", tok):
            out.append(notation.symbol(tok) + " ")
        else:
            out.append(tok)
    tex = re.sub(r" +", " ", "".join(out)).strip()
    return re.sub(r" (?=[\^_)\]},/])|(?<=[(\[{/]) ", "", tex)  # no space before ^ or closing brackets


# --------------------------------------------------------------------------- the tables

COMMON = Notation(
    symbols={
        "Lambda": r"\Lambda", "lambda": r"\lambda", "Sigma_hat": r"\hat{\Sigma}", "yhat": r"\hat{y}",
        "y_hat": r"\hat{y}", "xi_hat": r"\hat{\xi}", "ell": r"\ell", "I": "I",
    },
    # prompt lengths and dimensions: parameters of a formula, never collected on
    constants=frozenset({"N", "M", "d", "n"}),
)


def _zfb23_gamma():
    from ..claims.zfb23.derive import gamma_fn

    return gamma_fn()


ZFB23 = Notation(
    symbols={
        "Lambda_t": r"{\Lambda'}", "Lambda_test": r"{\Lambda'}", "Lambda_q": r"\Lambda_{q}",
        "s2": r"s^{2}", "W_KQ": r"W^{KQ}", "W_PV": r"W^{PV}", "U11": r"U_{11}", "u21": r"u_{21}",
        "w21": r"w_{21}", "w22": r"w_{22}", "u_*": r"u_{*}", "U_*": r"U_{*}", "V_ii*": r"V^{*}_{ii}",
    },
    labels={
        "E(yhat-y)^2": Label("Prediction error", r"\mathbb{E}(\hat y - y_q)^2"),
        "E(yhat-y)^2, w~N(0,I)": Label(r"Prediction error for tasks $w\sim N(0,I)$",
                                       r"\mathbb{E}(\hat y - y_q)^2"),
        "fixed task a, noise s2": Label(r"Prediction error for a fixed task $a$ with label noise $s^2$",
                                        r"\mathbb{E}(\hat y - y_q)^2"),
        "E(yhat-y)^2 (P = trained preconditioner)": Label(
            r"Prediction error with the trained preconditioner $P$", r"\mathbb{E}(\hat y - y_q)^2"),
        "E[x x' A x x']": Label("Gaussian fourth moment", r"\mathbb{E}[x x^\top A x x^\top]"),
        "E[Sigma_hat A Sigma_hat]": Label("Wishart moment", r"\mathbb{E}[\hat\Sigma A \hat\Sigma]"),
        "E[Sigma_hat^2]": Label("Second moment of the sample covariance", r"\mathbb{E}[\hat\Sigma^2]"),
        "Gamma (as function of lambda)": Label(r"$\Gamma = \gamma(\Lambda)$ with", r"\gamma(\lambda)"),
        "L(V)": Label(r"Loss on the invariant set, $V = u U_{11}$", "L(V)"),
        "minimiser V* = g(Lambda)": Label(r"Global minimiser $V_* = g(\Lambda)$ with", r"g(\lambda)"),
        "min L": Label("Minimum loss", r"\min L"),
        "U_* factor": Label(r"Scale of the limit $U_*$", r"c_{U_*}"),
        "u_*": Label(r"Limit of $u$", r"u_*"),
        "V_ii*": Label(r"Diagonal of the limit $V_*$ for $\lambda \sim \mathrm{Exp}(1)$", r"V^*_{ii}"),
        "paper": Label(r"The paper's value of $V^*_{ii}$", r"V^*_{ii}"),
        "L(U,u)": Label("Loss on the invariant set", "L(U, u)"),
        "dL/dU": Label("Gradient in $U$", r"\partial L/\partial U"),
        "dL/du": Label("Gradient in $u$", r"\partial L/\partial u"),
        "L over all blocks": Label(r"Loss over all blocks ($w_{21}$, $w_{22}$, $U_{11}$, $u_{21}$)", "L"),
    },
    constants=frozenset({"N", "M", "d", "s2"}),
    aliases={r"\Gamma": _zfb23_gamma},
)

DING25 = Notation(
    symbols={"c1": "c_{1}", "c2": "c_{2}", "p01": "p_{01}", "p10": "p_{10}"},
    labels={
        "H(p, n)": Label("Hessian of the enlarged-space loss", "H(p, n)"),
        "H(p, n, c1, c2)": Label("Hessian of the enlarged-space loss", "H(p, n, c_1, c_2)"),
        "rhs": Label(r"Right-hand side of $H X = h$", "h"),
        "E[y_q^2]": Label("Second moment of the query label", r"\mathbb{E}[y_q^2]"),
        "c1 (Example C.5)": Label("Example C.5", "c_1"),
        "c2 (Example C.5)": Label("Example C.5", "c_2"),
    },
    constants=frozenset({"n", "p", "d", "c1", "c2", "c_1", "c_2"}),
)

DD25 = Notation(
    symbols={"ell": r"\ell", "s": "s"},
    labels={
        "t(d, ell, Delta, kappa)": Label(r"Total variance of $\operatorname{vec} H$",
                                         r"t(d, \ell, \Delta, \kappa)"),
        "E[bb^T | xi] on span(xi_hat, e_{d+1})": Label(
            r"$\mathbb{E}[b b^\top \mid \xi]$ on $\operatorname{span}(\hat\xi, e_{d+1})$"),
        "E[bb^T | xi] coefficient of I - xi_hat xi_hat^T": Label(
            r"$\mathbb{E}[b b^\top \mid \xi]$: coefficient of $I - \hat\xi\hat\xi^\top$"),
        "linear ICL error lower bound (ReLU, u ~ N(0, s^2))": Label(
            r"Lower bound on the linear ICL error (ReLU, $u \sim N(0, s^2)$)"),
        "Gamma from the LSA blocks (d = 2)": Label(r"$\Gamma$ from the LSA blocks ($d = 2$)", r"\Gamma"),
        "E[relu(g)^2]": Label("", r"\mathbb{E}[\operatorname{relu}(g)^2]"),
        # the derived linear-attention baseline (ours, not the paper's)
        "c1, m2, m22 (ReLU)": Label(r"Moments of the ReLU link", r"(c_1, m_2, m_{22})"),
        "E_lin(d, ell) (ReLU)": Label(r"Error of the best linear attention at finite $d$ and $\ell$ (ReLU)",
                                      r"E_{\mathrm{lin}}(d, \ell)"),
        "limit at ell = alpha d (ReLU)": Label(r"Its limit as $d \to \infty$ with $\ell = \alpha d$ (ReLU)",
                                               r"E_{\mathrm{lin}}(\infty)"),
        "ridgeless limit, tau > 1 (ReLU)": Label(
            r"Ridgeless baseline on $n = \tau d^2$ contexts, $\tau > 1$ (ReLU)", r"E_{\mathrm{ridgeless}}"),
        "Lu et al. Result 1 (tau > 1, kappa = oo)": Label(
            r"Lu et al.\ (2024), Result 1, at $\tau > 1$, $\kappa = \infty$", r"e_{\mathrm{ICL}}"),
    },
    constants=frozenset({"d", "ell"}),
)

PAPERS = {"zfb23": ZFB23, "ding25": DING25, "dd25": DD25}


def for_claim(claim_or_id) -> Notation:
    """The notation of a claim (or claim id): its paper's table over :data:`COMMON`."""
    cid = claim_or_id if isinstance(claim_or_id, str) else getattr(claim_or_id, "id", "")
    paper = PAPERS.get(cid.split(".", 1)[0])
    return COMMON.merged(paper) if paper else COMMON


def hermite_label(key: str) -> Label | None:
    """Keys of Hermite coefficients: ``c_3 (relu)`` -> "Hermite coefficient $c_3$ (ReLU)"."""
    m = re.fullmatch(r"c_(\d+) \((\w+)\)", key)
    if m:
        return Label(f"Hermite coefficient ({_activation(m.group(2))})", f"c_{{{m.group(1)}}}")
    m = re.fullmatch(r"\(c\*_(\d+)\)\^2 \((\w+)\)", key)
    if m:
        return Label(f"Remainder coefficient ({_activation(m.group(2))})", f"(c^*_{{{m.group(1)}}})^2")
    m = re.fullmatch(r"E\[(\w+)\(g\)\^2\]", key)
    if m:
        return Label("", r"\mathbb{E}[\operatorname{%s}(g)^2]" % m.group(1))
    return None


def _activation(name: str) -> str:
    return {"relu": "ReLU", "gelu": "GELU"}.get(name, name)


_RULES: list[Callable[[str], "Label | None"]] = [hermite_label]


def label_for(notation: Notation, key: str) -> Label:
    """The label of a derivation key: table, then rules (families of keys), then :func:`auto_label`."""
    if key in notation.labels:
        return notation.labels[key]
    for rule in _RULES:
        lab = rule(key)
        if lab is not None:
            return lab
    return auto_label(key, notation)
