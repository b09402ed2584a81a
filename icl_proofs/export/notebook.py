"""Jupyter display: a claim and its derivation typeset, from the same LaTeX as the PDF.

``Claim`` objects show themselves (``_repr_html_`` / ``_repr_latex_``), and
:func:`derivation` wraps one claim's derived quantities so that a notebook cell ending in
``derivation(claim)`` shows every formula in the paper's notation.

>>> from icl_proofs.claims.registry import all_claims
>>> d = derivation(next(c for c in all_claims() if "L(V)" in c.derive()))  # zfb23's global minimum
>>> "\\\\operatorname{tr}(\\\\Lambda^{2} V)" in d._repr_latex_()
True
>>> "<math" in d._repr_html_()
True
"""
from __future__ import annotations

import html

__all__ = ["Derivation", "derivation", "claim_html", "claim_latex"]


class Derivation:
    """A claim's derived quantities, displayed as typeset formulas (``d["L(V)"]`` is the SymPy object)."""

    def __init__(self, claim):
        self.claim = claim
        self._items = claim.derive()

    def __getitem__(self, key):
        return self._items[key]

    def keys(self):
        return self._items.keys()

    def __repr__(self) -> str:
        from . import notation, printing

        nt = notation.for_claim(self.claim)
        out = [f"{self.claim.id}:"]
        for key, expr in self._items.items():
            try:
                text = "\n    ".join(printing.to_text(expr, nt, 100))
            except Exception:  # noqa: BLE001 - not a formula
                text = str(expr)
            out.append(f"  {key} = {text}")
        return "\n".join(out)

    def _repr_latex_(self) -> str:
        from .latex import derivations

        parts = []
        for _key, label, disp in derivations(self.claim):
            if label.text():
                parts.append(label.text() + ":")
            parts.append(disp)
        return "\n\n".join(parts)

    def _repr_html_(self) -> str:
        from .report import _derivations

        rows, err = _derivations(self.claim)
        body = "".join((f"<p>{label}:</p>" if label else "") + math for label, math in rows)
        if err:
            body += f"<p><em>Derivation unavailable: {html.escape(err)}</em></p>"
        return f'<div class="icl-proofs-derivation">{body}</div>'


def derivation(claim) -> Derivation:
    return Derivation(claim)


def claim_html(claim) -> str:
    """A claim's title, statement and derivation as HTML (MathML)."""
    from .report import _prose_html, _text_with_math

    statement = _text_with_math(claim.statement_latex) if claim.statement_latex else _prose_html(claim.statement)
    head = f"<h3><code>{html.escape(claim.id)}</code> — {_prose_html(claim.title)}</h3>" if claim.title else \
        f"<h3><code>{html.escape(claim.id)}</code></h3>"
    return head + f"<p><strong>Statement.</strong> {statement}</p>" + Derivation(claim)._repr_html_()


def claim_latex(claim) -> str:
    """A claim's statement and derivation as LaTeX (what ``icl-proofs latex`` writes for it)."""
    from .latex import claim_section

    return claim_section(claim)
