"""The terminal reads well: "did you mean" for unknown ids, ``show`` with the paper's names in the
terminal's width (no SymPy 2-D art wrapped with ↪, no TrF(λ), no tr(Lambda*Lambda*V))."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from icl_proofs.cli import cli


@pytest.mark.parametrize("args, hint", [
    (["show", "zfb23.rsik"], "did you mean 'zfb23.risk'?"),
    (["verify", "zfb32", "--quick"], "did you mean 'zfb23'?"),
    (["latex", "ding25.thm-3.44"], "did you mean 'ding25.thm-3.4'?"),
])
def test_unknown_ids_get_a_suggestion(args, hint):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and hint in r.output and "Traceback" not in r.output


def test_show_prints_paper_names_within_the_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr("icl_proofs.cli._unicode_ok", lambda: True)
    r = CliRunner().invoke(cli, ["show", "zfb23.global-min"])
    assert r.exit_code == 0, r.output
    out = r.output
    for bad in ("↪", "TrF", "Lambda*Lambda", "tr(Lambda"):
        assert bad not in out, bad
    assert "tr(Λ²V)" in out and "tr(Λ²Γ⁻¹)" in out  # merged power; tr f(Λ) in the paper's Γ
    assert max(len(line) for line in out.splitlines()) <= 100
