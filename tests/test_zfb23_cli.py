"""The command-line interface on the zfb23 claims, as the acceptance checks use it."""
import json
import shutil
import subprocess
import sys

import mpmath
import pytest
import sympy as sp
from click.testing import CliRunner

from icl_proofs.cli import cli as main

RUN = CliRunner()


def cli(*args):
    return RUN.invoke(main, list(args), catch_exceptions=False)


def eval_json(claim, *params, dps=30):
    args = ["eval", claim]
    for p in params:
        args += ["--param", p]
    res = cli(*args, "--dps", str(dps), "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def sig_digits(s: str) -> int:
    mant = s.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mant)


def test_eval_global_min_isotropic_closed_form():
    """Λ = I, d = 3, N = 7: prediction error d(d+1)/(N+d+1) = 12/11 (Theorem 4.1 remark),
    preconditioner Γ⁻¹ = N/(N+d+1)·I, min loss half the error — checked to 40 digits."""
    out = eval_json("zfb23.global-min", "Lambda=[[1,0,0],[0,1,0],[0,0,1]]", "N=7", dps=40)
    assert out["claim"] == "zfb23.global-min"
    q = out["quantities"]
    with mpmath.workdps(45):
        assert abs(mpmath.mpf(q["prediction_error"]) - mpmath.mpf(12) / 11) < mpmath.mpf(10) ** -38
        assert abs(mpmath.mpf(q["min_loss"]) - mpmath.mpf(6) / 11) < mpmath.mpf(10) ** -38
        assert abs(mpmath.mpf(q["preconditioner"][1][1]) - mpmath.mpf(7) / 11) < mpmath.mpf(10) ** -38
    assert mpmath.mpf(q["preconditioner"][0][1]) == 0
    assert sig_digits(q["min_loss"]) >= 40


def test_eval_global_min_anisotropic_exact():
    """Γ = (1+1/N)Λ + tr(Λ)/N·I inverted by hand (rationals) for Λ = [[2,1],[1,3]], N = 4."""
    out = eval_json("zfb23.global-min", "Lambda=[[2,1],[1,3]]", "N=4")
    P = out["quantities"]["preconditioner"]
    G = sp.Matrix([[2, 1], [1, 3]]) * sp.Rational(5, 4) + sp.Rational(5, 4) * sp.eye(2)
    Gi = G.inv()
    for i in range(2):
        for j in range(2):
            assert abs(mpmath.mpf(P[i][j]) - mpmath.mpf(Gi[i, j].p) / Gi[i, j].q) < 1e-28


def test_eval_risk_and_shift_consistency():
    """M = N and Λ' = Λ: risk and covariate-shift error equal the global-min prediction error."""
    base = eval_json("zfb23.global-min", "Lambda=[[2,1],[1,3]]", "N=5")["quantities"]["prediction_error"]
    risk = eval_json("zfb23.risk", "Lambda=[[2,1],[1,3]]", "N=5", "M=5")["quantities"]["prediction_error"]
    cov = eval_json("zfb23.covariate-shift", "Lambda=[[2,1],[1,3]]", "Lambda_test=[[2,1],[1,3]]",
                    "N=5", "M=5")["quantities"]["prediction_error"]
    assert mpmath.mpf(base) == mpmath.mpf(risk) == mpmath.mpf(cov)


def test_eval_random_covariance():
    out = eval_json("zfb23.random-covariance", "d=3", "N=10")
    diag = out["quantities"]["preconditioner_diag"]
    # 2 / (6 + (2d+10)/N) at d = 3, N = 10
    assert len(diag) == 3 and abs(mpmath.mpf(diag[0]) - mpmath.mpf(2) / (6 + mpmath.mpf(16) / 10)) < 1e-28


@pytest.mark.parametrize("claim,params,needle", [
    ("zfb23.global-min", ["Lambda=[[1,2],[2,1]]", "N=3"], "positive definite"),
    ("zfb23.global-min", ["Lambda=[[1,2],[3,4]]", "N=3"], "symmetric"),
    ("zfb23.global-min", ["Lambda=[[1,0],[0,1]]", "N=0"], "N"),
    ("zfb23.global-min", ["Lambda=__import__('os')", "N=3"], "Lambda"),
    ("zfb23.global-min", ["Lambda=[[1,0],[0,1]]", "N=1e999999"], "N"),
    ("zfb23.global-min", ["Lambda=[[1,0],[0,1]]", "N=3", "bogus=1"], "bogus"),
    ("zfb23.covariate-shift", ["Lambda=[[1,0],[0,1]]", "Lambda_test=[[1]]", "N=3", "M=3"], "size"),
    ("zfb23.nope", ["N=3"], "unknown claim"),
])
def test_bad_input_one_line_error(claim, params, needle):
    args = [sys.executable, "-m", "icl_proofs.cli", "eval", claim]
    for p in params:
        args += ["--param", p]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
    assert lines and needle.lower() in res.stderr.lower(), res.stderr


def test_verify_json_and_exit_code(tmp_path):
    out = tmp_path / "r.json"
    res = cli("verify", "zfb23.reduced-loss", "zfb23.random-covariance", "--quick", "--json", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert {r["claim"] for r in data["results"]} == {"zfb23.reduced-loss", "zfb23.random-covariance"}
    assert all(r["status"] == "holds" for r in data["results"])
    assert all(c["route"] for r in data["results"] for c in r["checks"])


def test_verify_reports_refutation_with_witness(monkeypatch, tmp_path):
    """A wrong paper formula (Γ with 1/(N+1)) makes verify exit 1 and carry a witness."""
    from icl_proofs.claims.zfb23 import derive
    from icl_proofs.claims.zfb23 import paper
    from icl_proofs.moments.spectral import TrF, lam

    monkeypatch.setattr(paper, "gamma", lambda: (1 + 1 / (derive.N + 1)) * lam + TrF(lam) / derive.N)
    out = tmp_path / "r.json"
    res = cli("verify", "zfb23.gaussian-moments", "--quick", "--json", str(out), "--quiet")
    assert res.exit_code == 1
    data = json.loads(out.read_text())
    assert data["results"][0]["status"] == "refuted" and data["results"][0]["witness"]


@pytest.mark.latex
def test_latex_zfb23_compiles(tmp_path):
    import os

    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex missing under CI")
        pytest.skip("pdflatex not installed")
    pdf = tmp_path / "zfb23.pdf"
    res = cli("latex", "zfb23", "-o", str(pdf))
    assert res.exit_code == 0, res.output
    assert pdf.exists() and pdf.stat().st_size > 1000
