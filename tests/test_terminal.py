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
    monkeypatch.setattr("icl_proofs.cli.show.unicode_ok", lambda: True)
    r = CliRunner().invoke(cli, ["show", "zfb23.global-min"])
    assert r.exit_code == 0, r.output
    out = r.output
    for bad in ("↪", "TrF", "Lambda*Lambda", "tr(Lambda"):
        assert bad not in out, bad
    assert "tr(Λ²V)" in out and "tr(Λ²Γ⁻¹)" in out  # merged power; tr f(Λ) in the paper's Γ
    assert max(len(line) for line in out.splitlines()) <= 100


def test_monte_carlo_evidence_gives_the_se_to_two_significant_figures():
    """"MC 151.795 ± 1" read as if the SE were exactly 1: it is 1.0 (2 significant figures), and the
    mean carries the SE's decimal place."""
    from icl_proofs.claims.checks import mc_check
    from icl_proofs.numeric.montecarlo import Estimate

    r = mc_check("c", Estimate(mean=151.79513, se=1.04, n=800, sd=29.4), 151.0, 1e-3, {}, "risk", effect=0.1)
    assert "MC 151.8 ± 1.0 (n=800)" in r.evidence, r.evidence


def test_durations_never_read_zero():
    from icl_proofs.numeric.formatting import seconds

    assert seconds(0.0) == "< 0.1 s" and seconds(0.04) == "< 0.1 s" and seconds(3.21) == "3.2 s"


def test_evidence_wraps_to_the_terminal_width():
    from icl_proofs.cli.output import VerdictTable

    row = VerdictTable(claim_width=26, width=130, wrap=True).row("zfb23.risk", "monte-carlo", "mc", "HOLDS",
                                                                 "word " * 80)
    lines = row.splitlines()
    assert len(lines) > 3 and max(len(l) for l in lines) <= 130
    column = lines[0].index("word")
    assert all(l.startswith(" " * column) and l[column] != " " for l in lines[1:])  # under the evidence
    piped = VerdictTable(claim_width=26, width=130, wrap=False)  # piped: one row per check
    assert "\n" not in piped.row("zfb23.risk", "monte-carlo", "mc", "HOLDS", "word " * 80)


def test_verify_reads_the_terminal_once_per_run(monkeypatch):
    """The table's layout is fixed when the run starts (no module-level column widths that one
    run leaves behind for the next)."""
    from icl_proofs.cli import output

    class C:
        def __init__(self, id):
            self.id = id

    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    wide = output.VerdictTable.for_claims([C("a-rather-long-claim.identifier-here")])
    narrow = output.VerdictTable.for_claims([C("z.a")])
    assert (wide.claim_width, narrow.claim_width, wide.width, wide.wrap) == (35, 5, 90, True)
    assert wide.header().index("ROUTE") == 36 and narrow.header().index("ROUTE") == 6


def test_show_latex_uses_the_papers_notation_and_labels_in_words(monkeypatch):
    """`show` pastes the same display as `latex --expr`: s² is s^{2} (not s_{2}), labels are words."""
    monkeypatch.setenv("COLUMNS", "100")
    out = CliRunner().invoke(cli, ["show", "zfb23.task-shift"]).output
    latex_part = out.split("LaTeX (one display to paste")[1]
    assert "s^{2}" in latex_part and "s_{2}" not in latex_part
    assert "Prediction error" in latex_part
