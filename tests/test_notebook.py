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


# ------------------------------------------------------------- the tutorial notebook, executed

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "notebooks" / "check_your_own_formula.ipynb"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
KERNEL = "icl-proofs-test-python"


def _need(module: str):
    try:
        return __import__(module)
    except ImportError:
        if IN_CI:  # the test extra installs them: missing in CI is a broken set-up, not a skip
            pytest.fail(f"{module} is missing in CI (it is in the test extra)")
        pytest.skip(f"pip install {module} (or the test extra)")


def _this_interpreter_kernel(tmp_path):
    """A kernel manager whose kernel is this very interpreter, with this checkout first on the path:
    a kernelspec written to a private folder, so neither a user-level 'python3' kernelspec nor a
    missing one (a fresh CI venv has none) decides which Python runs the notebook."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "icl-proofs tests", "language": "python",
        "env": {"PYTHONPATH": path, "MPLBACKEND": "Agg"}}))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The tutorial notebook executed top to bottom (any cell error fails here) and its run time."""
    nbformat = _need("nbformat")
    _need("ipykernel")
    nbclient = _need("nbclient")
    tmp = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(TUTORIAL, as_version=4)
    client = nbclient.NotebookClient(nb, km=_this_interpreter_kernel(tmp), timeout=180, allow_errors=False,
                                     resources={"metadata": {"path": str(tmp)}})
    t0 = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t0


def _outputs(nb, marker: str) -> list[dict]:
    """The outputs of the one code cell whose source contains ``marker``."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return cell.outputs


def _text(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_tutorial_runs_without_errors(tutorial):
    nb, seconds = tutorial
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")  # every cell ran
    assert seconds < 60, f"the tutorial took {seconds:.1f} s"


def test_tutorial_derivation_displays_itself(tutorial):
    (shown,) = [o for o in _outputs(tutorial[0], "derivation(claim)") if o.output_type == "execute_result"]
    assert r"\frac{d \left(N + d + 1\right)}{N} c^{2}" in shown.data["text/latex"]
    assert "<math" in shown.data["text/html"] and "yhat" not in shown.data["text/html"]


def test_tutorial_checks_the_closed_form_by_both_routes(tutorial):
    nb = tutorial[0]
    assert _text(_outputs(nb, "print(assert_expectation(derived, claimed))")) == \
        "symbolic: the difference simplifies to 0\n"
    mc = _text(_outputs(nb, "print(assert_expectation(squared_error, claimed"))
    assert mc.startswith("monte-carlo: Monte Carlo at N = 5, c = 1/2, d = 3:") and "resolution" in mc


def test_tutorial_refutes_the_wrong_formula_with_its_witness(tutorial):
    out = _text(_outputs(tutorial[0], "wrong = "))
    # exact: the point and both exact values there (27/20 by the Wick engine, 6/5 for N + d)
    assert ("exact: REFUTED — expectation differs at N = 5, c = 1/2, d = 3: derived = 27/20, "
            "claimed = 6/5") in out
    assert "symbolic difference c**2*d/N" in out
    assert "Monte Carlo: REFUTED — expectation differs: Monte Carlo at N = 5" in out


def test_tutorial_exports_latex(tutorial):
    out = _text(_outputs(tutorial[0], "latex.snippet"))
    assert out.startswith("% mine.one-step-error:")
    assert (r"\mathbb{E}(\hat{y} -y)^{2} = d - 2 d c + \frac{d \left(N + d + 1\right)}{N} c^{2}") in out
