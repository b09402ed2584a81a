"""Jupyter display of claims and derivations: typeset (MathML / LaTeX from the paper's notation)."""
from __future__ import annotations

import re

from icl_proofs.claims.registry import get
from icl_proofs.export.notebook import derivation


def test_claim_displays_itself_as_mathml():
    page = get("zfb23.global-min")._repr_html_()
    assert page.count("<math") >= 3
    text = re.sub(r"<[^>]+>", " ", page)
    for name in ("Lambda", "TrF", "yhat", "**"):
        assert name not in text, name


def test_derivation_latex_is_the_papers():
    d = derivation(get("zfb23.risk"))
    tex = d._repr_latex_()
    assert r"\operatorname{tr}(\Lambda^{2} \Gamma^{-1})" in tex and "Prediction error" in tex
    assert "tr(Λ²Γ⁻¹)" in repr(d)
    assert d["fixed task a, noise s2"] is get("zfb23.risk").derive()["fixed task a, noise s2"]
