"""The report (icl_proofs.export.report): self-contained HTML, LaTeX/PDF, figures; and its rendering
in a real headless Chromium (started by the test)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from icl_proofs.claims import registry
from icl_proofs.claims.base import CheckContext
from icl_proofs.export.report import build_report
from icl_proofs.runner import run_claims

CLAIMS = ["zfb23.risk", "zfb23.gradient-flow", "ding25.thm-3.5"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    claims = registry.select(CLAIMS)
    # the verdicts of real quick runs of the claims whose figures the report draws
    results = run_claims(claims[2:], CheckContext(quick=True))
    results += [{"claim": c.id, "status": "holds", "checks": [
        {"name": "stub", "route": "symbolic", "status": "holds", "evidence": "difference simplifies to 0"}],
        "witness": None} for c in claims[:2]]
    out = tmp_path_factory.mktemp("report")
    info = build_report(claims, results, out, meta={"seed": 0, "note": "test"}, pdf=shutil.which("pdflatex") is not None)
    return info, results


def test_html_is_self_contained(report):
    """No network at view time: no http(s) resource, figures inlined as data URIs, MathML math."""
    info, _ = report
    text = info["html"].read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs), refs[:5]
    assert "<link" not in text and "@import" not in text and "url(" not in text
    assert text.count('<math xmlns="http://www.w3.org/1998/Math/MathML"') >= 2
    assert text.count("data:image/png;base64,") == 2  # risk vs N and gradient flow


def test_html_has_verdicts_evidence_and_witness(report):
    info, results = report
    text = info["html"].read_text(encoding="utf-8")
    for r in results:
        assert f'id="{r["claim"]}"' in text
    refuted = [r for r in results if r["status"] == "refuted"]
    assert refuted, "ding25.thm-3.5 is a refuted claim (a finding)"
    assert "Witness" in text
    assert "z = " in text or "digits" in text or "refuted" in text


def test_figures_carry_their_numbers(report):
    """The risk figure is drawn from the derived formula and Monte Carlo; the CLT z of each point
    is recorded (a figure is evidence, not decoration)."""
    info, _ = report
    assert set(info["figures"]) == {"zfb23.risk", "zfb23.gradient-flow"}
    for pngs in info["figures"].values():
        for p in pngs:
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_latex_version(report):
    info, _ = report
    tex = info["tex"].read_text(encoding="utf-8")
    assert "\\includegraphics" in tex and "Verdict: refuted" in tex
    if shutil.which("pdflatex"):
        assert info["pdf"] is not None and info["pdf"].read_bytes()[:5] == b"%PDF-"
    elif os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail("pdflatex is missing on CI")


# ------------------------------------------------------------------------------ real browser
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    if os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail("Chromium is missing on CI (.ci/run installs Debian's chromium)")
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_renders_in_headless_chromium(report, tmp_path):
    """Chromium lays out every MathML formula and figure, logs no console error, and screenshots."""
    exe = _chromium()
    info, _ = report
    url = info["html"].resolve().as_uri()
    dom = subprocess.run([exe, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                          "--v=0", "--virtual-time-budget=10000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'data-render-check="([^"]+)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    check = json.loads(m.group(1).replace("&quot;", '"'))
    assert check["math"] >= 2 and check["math_unrendered"] == 0, check
    assert check["images"] == 2 and check["images_broken"] == 0, check
    # content, not only boxes: the rendered mathematics and text carry no code names ...
    for name in ("Lambda", "TrF", "yhat", "Sigma_hat", "**", "[U+"):
        assert name not in check["math_text"], name
    assert not re.search(r"\b(Lambda|Sigma_hat|yhat)\b", check["body_text"]), check["body_text"][:3000]
    # ... and every display box lies inside the viewport (a wide formula scrolls in its box)
    assert check["math_boxes"] >= 2 and check["math_boxes_outside"] == 0 and check["math_clipped"] == 0, {
        k: v for k, v in check.items() if "text" not in k}
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    assert not console, console
    shot = tmp_path / "report.png"
    subprocess.run([exe, *_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1280,2000",
                    f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_report_command_from_results_file(tmp_path):
    """``icl-proofs report --from FILE`` reuses the verdicts of ``verify --json`` (no re-run)."""
    from click.testing import CliRunner

    from icl_proofs.cli import cli

    res = tmp_path / "r.json"
    r = CliRunner().invoke(cli, ["verify", "zfb23.gaussian-moments", "--quick", "-q", "--json", str(res)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["report", "--from", str(res), "--out", str(tmp_path / "rep"), "--no-pdf", "-q"])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert 'id="zfb23.gaussian-moments"' in text and "holds" in text
    assert str(res) in text  # the run table names the results file it came from


@pytest.mark.parametrize("content, message", [
    ('{"hello": 1}', "not an icl-proofs results file"),
    ("not json", "not valid JSON"),
])
def test_report_bad_results_file_is_one_line_error(tmp_path, content, message):
    from click.testing import CliRunner

    from icl_proofs.cli import cli

    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = CliRunner().invoke(cli, ["report", "--from", str(bad), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_html_math_comes_from_the_papers_latex(report):
    """The derivations' MathML is converted from the LaTeX the PDF typesets: no SymPy names in it."""
    info, _ = report
    page = info["html"].read_text(encoding="utf-8")
    maths = re.findall(r"<math.*?</math>", page, flags=re.S)
    assert maths
    text = " ".join(re.sub(r"<[^>]+>", " ", m) for m in maths)
    for name in ("Lambda", "TrF", "tr(Lambda", "yhat", "Sigma_hat", "**"):
        assert name not in text, name
    assert "&#x00393;" in page or "Γ" in page  # tr(Λ²Γ⁻¹): the paper's Γ


def test_verdict_table_with_amendments_in_pdf_source(report):
    from icl_proofs.export.report import _tex_summary, verdict_rows

    info, results = report
    assert "\\section*{Verdicts}" in info["tex"].read_text(encoding="utf-8")
    claims = registry.select(["zfb23.risk"])
    res = {"zfb23.risk": {"claim": "zfb23.risk", "status": "refuted", "checks": [],
                          "amendments": [{"statement": "E(yhat-y)^2 with 1/M", "status": "holds", "checks": []}]}}
    rows = verdict_rows(claims, res)
    assert rows[1] == ("zfb23.risk (amended)", "holds", "E(yhat-y)^2 with 1/M")
    assert "yhat" not in _tex_summary(claims, res)  # typeset, not code


def test_evidence_is_typeset_not_python():
    from icl_proofs.export import latex
    from icl_proofs.export.report import _prose_html

    evidence = "difference N*lambda_i**2*lambda_j/2 vanishes for Sigma_hat and x_q"
    html_ = _prose_html(evidence)
    text = re.sub(r"<[^>]+>", " ", html_)
    assert html_.count("<math") == 3 and "**" not in text and "Sigma_hat" not in text
    tex = latex.prose(evidence)
    assert r"\frac{N \lambda_{i}^{2} \lambda_{j}}{2}" in tex and r"\hat{\Sigma}" in tex and "**" not in tex
