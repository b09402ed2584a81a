"""LaTeX documents of claim statements and derivations.

Only ``amsmath``, ``amssymb`` and ``geometry`` are used (all in ``texlive-latex-base`` /
``texlive-latex-recommended``), with the default Computer Modern fonts, so the document compiles
with a minimal TeX installation.  Plain text is escaped; common Unicode math characters (Greek
letters, ≤, ᵀ, ⁻¹, ...) are turned into LaTeX in text, LaTeX and math alike.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

__all__ = [
    "LatexError", "escape_text", "sanitize_latex", "prose", "claim_section", "derivations", "snippet",
    "preamble", "document", "compile_pdf",
]


class LatexError(RuntimeError):
    """pdflatex is missing or failed; the message is one line."""


# characters that are special in LaTeX text
_TEXT_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "varepsilon", "ϵ": "epsilon",
    "ζ": "zeta", "η": "eta", "θ": "theta", "ϑ": "vartheta", "ι": "iota", "κ": "kappa",
    "λ": "lambda", "μ": "mu", "µ": "mu", "ν": "nu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma",
    "ς": "varsigma", "τ": "tau", "υ": "upsilon", "φ": "varphi", "ϕ": "phi", "χ": "chi",
    "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta", "Λ": "Lambda", "Ξ": "Xi",
    "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega",
}
# math symbols (wrapped in \ensuremath, so they work in text and in math)
_MATH = {k: "\\" + v for k, v in _GREEK.items()}
_MATH.update({
    "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "≈": r"\approx", "≡": r"\equiv", "∼": r"\sim",
    "∝": r"\propto", "∞": r"\infty", "→": r"\to", "←": r"\leftarrow", "↦": r"\mapsto",
    "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow", "·": r"\cdot", "⋅": r"\cdot", "×": r"\times",
    "÷": r"\div", "±": r"\pm", "∓": r"\mp", "−": "-", "∈": r"\in", "∉": r"\notin",
    "⊂": r"\subset", "⊆": r"\subseteq", "∪": r"\cup", "∩": r"\cap", "∑": r"\sum", "∏": r"\prod",
    "∫": r"\int", "√": r"\surd", "∂": r"\partial", "∇": r"\nabla", "‖": r"\|", "⊤": r"\top",
    "⊗": r"\otimes", "⊕": r"\oplus", "∘": r"\circ", "°": r"^{\circ}", "¬": r"\neg",
    "∀": r"\forall", "∃": r"\exists", "ℝ": r"\mathbb{R}", "ℕ": r"\mathbb{N}", "𝔼": r"\mathbb{E}",
    "…": r"\ldots", "⋯": r"\cdots", "⟨": r"\langle", "⟩": r"\rangle", "≪": r"\ll", "≫": r"\gg",
    "∧": r"\wedge", "∨": r"\vee", "∅": r"\emptyset", "ℓ": r"\ell",
})
# text punctuation (wrapped in amsmath's \text, valid in text and math)
_TEXT = {
    "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "\u00a0": "~",
    "§": r"\S{}",
}
_SUPER = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ", "0123456789+-=()ni"))
_SUPER["ᵀ"] = r"\top"
_SUB = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓᵢⱼₖₙ", "0123456789+-=()aeoxijkn"))


#: combining accents (σ̂ is "σ" + U+0302): the accent goes on the character before it
_COMBINING = {"\u0302": "hat", "\u0303": "tilde", "\u0304": "bar", "\u0307": "dot", "\u0308": "ddot",
              "\u20d7": "vec"}


def _convert(s: str, escape: bool) -> str:
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if i + 1 < n and s[i + 1] in _COMBINING:
            base = _MATH.get(c, c)
            out.append(r"\ensuremath{\%s{%s}}" % (_COMBINING[s[i + 1]], base))
            i += 2
            continue
        if c in _COMBINING:  # an accent with nothing before it
            i += 1
            continue
        if c in _SUPER or c in _SUB:
            table = _SUPER if c in _SUPER else _SUB
            j = i
            while j < n and s[j] in table:
                j += 1
            run = "".join(table[ch] if len(table[ch]) == 1 else table[ch] + " " for ch in s[i:j])
            out.append(r"\ensuremath{%s{%s}}" % ("^" if table is _SUPER else "_", run.strip()))
            i = j
            continue
        if escape and c in _TEXT_SPECIALS:
            out.append(_TEXT_SPECIALS[c])
        elif c in _MATH:
            out.append(r"\ensuremath{%s}" % _MATH[c])
        elif c in _TEXT:
            out.append(r"\text{%s}" % _TEXT[c])
        elif ord(c) < 128:
            out.append(c if (c >= " " or c in "\n\t") else " ")
        elif "\u00c0" <= c <= "\u017f":  # accented Latin letters: handled by inputenc
            out.append(c)
        else:
            out.append(r"\texttt{[U+%04X]}" % ord(c))
        i += 1
    return "".join(out)


def escape_text(s: str) -> str:
    """Plain text -> LaTeX text: specials escaped, Unicode math characters converted."""
    return _convert(str(s), escape=True)


def sanitize_latex(s: str) -> str:
    """LaTeX (text or math) written by a claim: only its Unicode characters are converted."""
    return _convert(str(s), escape=False)


# --------------------------------------------------------------------------- displays

_BREAK_AT = 70  # estimated visible characters per displayed line


def _visible_len(math: str) -> int:
    """Rough width of a formula: commands count as one character, layout tokens as none."""
    s = re.sub(r"\\(left|right|operatorname|mathrm|mathbf|frac|dfrac|tfrac)(?![A-Za-z])", "", math)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    return len(re.sub(r"[{}^_ ]", "", s))


def _split_terms(math: str) -> list[str] | None:
    """Split a long formula at top-level ``+``/``-`` (outside braces, \\left..\\right, environments)."""
    pieces: list[str] = []
    depth = 0
    start = 0
    i, n = 0, len(math)
    while i < n:
        c = math[i]
        if c == "\\":
            m = re.match(r"\\(left|right|begin|end)(?![A-Za-z])", math[i:])
            if m:
                depth += 1 if m.group(1) in ("left", "begin") else -1
                i += len(m.group(0))
                continue
            i += 2  # skip the escaped character / first letter of a command
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0 and c in "+-" and i > start and math[i - 1] == " " and i + 1 < n and math[i + 1] == " ":
            pieces.append(math[start:i])
            start = i
        if depth < 0:
            return None
        i += 1
    if depth != 0:
        return None
    pieces.append(math[start:])
    # greedily join terms into lines of about _BREAK_AT characters
    lines: list[str] = []
    cur = ""
    for p in pieces:
        if cur and _visible_len(cur + p) > _BREAK_AT:
            lines.append(cur)
            cur = p
        else:
            cur += p
    if cur:
        lines.append(cur)
    return lines


def display_math(math: str) -> str:
    """A display of one formula; long sums are broken over lines with ``multline*``."""
    math = sanitize_latex(math).strip()
    if _visible_len(math) > _BREAK_AT:
        lines = _split_terms(math)
        if lines and len(lines) > 1:
            return "\\begin{multline*}\n" + " \\\\\n".join(l.strip() for l in lines) + "\n\\end{multline*}"
    return "\\[\n" + math + "\n\\]"


# --------------------------------------------------------------------------- prose

_GREEK_WORDS = "|".join(sorted(
    ("alpha beta gamma delta epsilon zeta eta theta kappa lambda mu nu xi rho sigma tau phi chi psi "
     "omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega").split(), key=len, reverse=True))
# formula-like tokens in plain text: x_q, W_*, b_l^T, H^-1, s^2, w21, Sigma_hat, yhat, Greek names,
# and Python expressions as evidence prints them (N*lambda_i**2/2)
_OPERAND = r"[A-Za-z0-9.(][A-Za-z0-9_.()]*"
_PYEXPR = rf"{_OPERAND}(?:\*\*?{_OPERAND}|/{_OPERAND})+"
_SUBSUP = (r"(?:[A-Za-z]+\*?|[\u0370-\u03ff][\u0300-\u036f]?)(?:_(?:\{[^}\s]*\}|[A-Za-z0-9*]+))+(?:\^(?:\{[^}\s]*\}|-?[A-Za-z0-9*]+))?"
           r"|[A-Za-z]\^(?:\{[^}\s]*\}|-?[A-Za-z0-9*]+)")
_FORMULA = re.compile(
    rf"(?<![A-Za-z0-9\\\u0370-\u03ff])(?:(?P<py>{_PYEXPR})|(?P<ss>{_SUBSUP})|(?P<hat>[A-Za-z]+hat)"
    rf"|(?P<idx>[A-Za-z]\d{{1,2}})|(?P<greek>(?:{_GREEK_WORDS}))|(?P<sup>\^(?:T|-?\d+|\{{[^}}\s]*\}})))"
    rf"(?![A-Za-z0-9])")


_ARITH_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z][A-Za-z0-9_]*)|(?P<op>\*\*|[*/()]))")


def parse_arithmetic(text: str):
    """A product/quotient/power of names and numbers (``N*lambda_i**2/2``, as evidence prints them)
    as a SymPy expression, or None.  A small parser of our own, never ``eval``: the text may come
    from a results file (``report --from``), and SymPy's ``parse_expr`` evaluates Python.

    >>> parse_arithmetic("N*lambda_i**2/2")
    N*lambda_i**2/2
    >>> parse_arithmetic("().__class__*x") is None
    True
    """
    import sympy as sp

    tokens, pos = [], 0
    while pos < len(text):
        m = _ARITH_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        tokens.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    at = 0

    def peek():
        return tokens[at] if at < len(tokens) else (None, None)

    def atom():
        nonlocal at
        kind, val = peek()
        at += 1
        if kind == "num":
            return sp.Rational(val) if "." not in val else sp.Float(val)
        if kind == "name":
            return sp.Symbol(val)
        if (kind, val) == ("op", "("):
            e = product()
            if peek() != ("op", ")"):
                raise ValueError
            at += 1
            return e
        raise ValueError

    def power():
        nonlocal at
        base = atom()
        if peek() == ("op", "**"):
            at += 1
            return base ** power()  # right-associative, as in Python
        return base

    def product():
        nonlocal at
        e = power()
        while peek() in (("op", "*"), ("op", "/")):
            op = peek()[1]
            at += 1
            rhs = power()
            e = e * rhs if op == "*" else e / rhs
        return e

    try:
        expr = product()
    except (ValueError, ZeroDivisionError):
        return None
    return expr if at == len(tokens) else None


def _python_math(text: str, notation) -> str | None:
    """A Python expression (as evidence prints them) in LaTeX, or None if it is not one."""
    from .printing import PaperPrinter

    if not re.search(r"[A-Za-z]", text) or text.count("(") != text.count(")"):
        return None
    if re.fullmatch(r"[\d.]+(/[\d.]+)*", text):
        return None
    expr = parse_arithmetic(text)
    if expr is None:
        return None
    try:
        return PaperPrinter(notation).doprint(expr)
    except Exception:  # noqa: BLE001
        return None


def prose_parts(text: str, notation=None) -> list[tuple[str, str]]:
    """Plain text split into ("text", raw) and ("math", LaTeX) pieces: formula-like tokens (x_q, b^T,
    W_*, w21, Sigma_hat, N*lambda**2) through the paper's notation.  Used by the PDF and the HTML."""
    from .notation import COMMON, formula_to_latex

    notation = notation or COMMON
    text = str(text)
    out, pos = [], 0
    for m in _FORMULA.finditer(text):
        tok = m.group(0)
        math = _python_math(tok, notation) if m.group("py") else formula_to_latex(tok, notation)
        if math is None:
            continue
        if m.start() > pos:
            out.append(("text", text[pos:m.start()]))
        out.append(("math", math))
        pos = m.end()
    if pos < len(text):
        out.append(("text", text[pos:]))
    return out


def prose(text: str, notation=None) -> str:
    """Plain text (a title, a statement, evidence) as LaTeX text, formulas in math (see
    :func:`prose_parts`), the rest escaped."""
    return "".join(escape_text(raw) if kind == "text" else r"\ensuremath{%s}" % sanitize_latex(raw)
                   for kind, raw in prose_parts(text, notation))


# --------------------------------------------------------------------------- derivations

def derivations(claim) -> list[tuple]:
    """(key, :class:`~.notation.Label`, LaTeX display) for each derived quantity of ``claim``.

    The source is ``claim.derive()`` (its keys are the names ``--expr`` takes), printed through the
    paper's notation in canonical form; a claim whose ``derive()`` gives nothing printable falls
    back to its own ``derivation_latex()``.
    """
    from . import notation as _notation
    from . import printing

    nt = _notation.for_claim(claim)
    out = []
    import sympy as sp

    for key, expr in claim.derive().items():
        if not isinstance(expr, (sp.Basic, sp.MatrixBase)) and not hasattr(expr, "to_matrix_expr"):
            continue  # not a formula (a table, a callable): nothing to typeset
        label = nt.label(key)
        try:
            out.append((key, label, printing.display(expr, nt, label.lhs)))
        except printing.SimplificationError:
            raise
        except Exception:  # noqa: BLE001 - not every derived object is a formula
            continue
    if not out:
        for key, math in claim.derivation_latex():
            out.append((key, nt.label(key), display_math(math)))
    return out


def snippet(claim, name: str) -> str:
    """One derived quantity of ``claim`` as a display to paste into a paper."""
    from ..claims.base import UserInputError

    keys = list(claim.derive())
    if name not in keys:
        import difflib

        near = difflib.get_close_matches(name, keys, n=1, cutoff=0.4)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise UserInputError(f"claim {claim.id} derives no {name!r}{hint} (it derives: "
                             + ", ".join(repr(k) for k in keys) + ")")
    for key, label, disp in derivations(claim):
        if key == name:
            return f"% {claim.id}: {label.text()}\n{disp}\n"
    raise UserInputError(f"claim {claim.id}: {name!r} is not a formula that prints as LaTeX")


def _param_line(p, nt) -> str:
    sym = nt.symbol(p.name)
    default = "" if p.default in (None, "(optional)") else r" (default %s)" % prose(str(p.default), nt)
    return r"\item $%s$: %s%s" % (sym, prose(p.doc, nt), default)


def claim_section(claim) -> str:
    """One ``\\section`` for ``claim``: title, source, statement, parameters and derivation."""
    from . import notation as _notation

    nt = _notation.for_claim(claim)
    parts: list[str] = []
    title = prose(claim.title, nt) if claim.title else ""
    head = r"\texttt{%s}" % escape_text(claim.id)
    parts.append(r"\section{%s%s}" % (head, r" --- " + title if title else ""))
    src = ", ".join(prose(x, nt) for x in (claim.paper, claim.source) if x)
    if src:
        parts.append(r"\noindent\textit{Source:} %s.\par\medskip" % src)
    statement = sanitize_latex(claim.statement_latex) if claim.statement_latex else prose(claim.statement, nt)
    if statement.strip():
        parts.append(r"\noindent\textbf{Statement.} %s\par" % statement)
    if claim.params:
        items = [_param_line(p, nt) for p in claim.params]
        parts.append("\\medskip\\noindent\\textbf{Parameters.}\n\\begin{itemize}\n" + "\n".join(items)
                     + "\n\\end{itemize}")
    try:
        derived = derivations(claim)
    except Exception as e:  # noqa: BLE001 - one broken derivation must not lose the document
        parts.append(
            r"\medskip\noindent\emph{Derivation unavailable: %s.}"
            % escape_text(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        )
        derived = []
    if derived:
        parts.append(r"\medskip\noindent\textbf{Derivation.}")
        body = []
        for _key, label, disp in derived:
            text = sanitize_latex(label.text())
            if text:
                body.append(r"\noindent %s:" % text)
            body.append(disp)
        parts.append("\n".join(body))
    return "\n\n".join(parts) + "\n"


#: packages and macros the exported formulas need; ``icl-proofs latex --preamble`` prints it
PREAMBLE = r"""% icl-proofs: what the exported formulas need (\input this file in your preamble)
\usepackage{amsmath}
\usepackage{amssymb}
\providecommand{\tr}{\operatorname{tr}}
\providecommand{\E}{\mathbb{E}}
"""


def preamble() -> str:
    """The macros preamble (``\\input`` it, or paste it into a paper's preamble)."""
    return PREAMBLE


def document(claims: Iterable, title: str = "icl-proofs: statements and derivations") -> str:
    """A complete, compilable LaTeX document with one section per claim."""
    sections = "\n".join(claim_section(c) for c in claims)
    return (
        "\\documentclass[10pt]{article}\n"
        "\\usepackage[utf8]{inputenc}\n"
        "\\usepackage[T1]{fontenc}\n"
        "\\usepackage{lmodern}\n"
        + PREAMBLE
        + "\\usepackage[margin=2cm]{geometry}\n"
        "\\allowdisplaybreaks\n"
        "\\setlength{\\parindent}{0pt}\n"
        f"\\title{{{escape_text(title)}}}\n"
        "\\author{generated by \\texttt{icl-proofs}}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n\n"
        f"{sections}\n"
        "\\end{document}\n"
    )


def compile_pdf(tex: str, workdir, name: str = "claims", timeout: float = 300) -> Path:
    """Compile ``tex`` with ``pdflatex`` in ``workdir``; return the PDF's path.

    Raises :class:`LatexError` (one-line message) if pdflatex is missing or the run fails.
    """
    exe = shutil.which("pdflatex")
    if exe is None:
        raise LatexError(
            "pdflatex not found on PATH; install a LaTeX engine, e.g. "
            "apt-get install texlive-latex-base texlive-latex-recommended"
        )
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / f"{name}.tex"
    src.write_text(tex, encoding="utf-8")
    cmd = [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", src.name]
    try:
        proc = subprocess.run(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise LatexError(f"pdflatex did not finish within {timeout:g} s") from None
    pdf = workdir / f"{name}.pdf"
    if proc.returncode != 0 or not pdf.exists():
        log = workdir / f"{name}.log"
        text = log.read_text(encoding="latin-1") if log.exists() else proc.stdout.decode("latin-1")
        errors = [l.strip() for l in text.splitlines() if l.startswith("!")]
        where = [l.strip() for l in text.splitlines() if re.match(r"l\.\d+", l)]
        msg = errors[0] if errors else f"exit status {proc.returncode}"
        if where:
            msg += f" at {where[0][:80]}"
        raise LatexError(f"pdflatex failed: {msg} (log: {log})")
    return pdf
