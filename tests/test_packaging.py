"""Packaging: a wheel built from this tree, installed non-editable in a fresh virtual environment,
carries its report assets (the committed dd25 figures) and its licence.

The fresh environment gets the dependencies of the running one through a ``.pth`` line (paths only:
the running environment's editable install of icl-proofs is not activated there), so the package
itself can only come from the wheel — the test checks that it does.
"""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

REPORT_FROM_WHEEL = r"""
import json, re, sys
from pathlib import Path
import icl_proofs
from icl_proofs.claims import registry
from icl_proofs.export.report import build_report

ids = ["dd25.thm-4.12", "dd25.data-mixing", "dd25.feature-learning"]
claims = registry.select(ids)
results = [{"claim": i, "status": "holds", "checks": [], "witness": None} for i in ids]
info = build_report(claims, results, Path(sys.argv[1]), pdf=False, figures=True)
page = info["html"].read_text(encoding="utf-8")
print(json.dumps({"package": icl_proofs.__file__, "images": page.count('<img '),
                  "figures": {k: len(v) for k, v in info["figures"].items()}}))
"""


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ICL_PROOFS_PLUGINS")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.mark.slow
def test_wheel_installed_non_editable_has_every_figure(tmp_path):
    try:
        import build  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("the 'build' package is missing in CI (it is in the test extra)")
        pytest.skip("pip install build")
    dist = tmp_path / "dist"
    # build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "*.pyc"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
                   check=True, capture_output=True, env=_clean_env(), timeout=600)
    wheel = next(dist.glob("icl_proofs-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for fig in ("fig1.png", "fig2.png", "fig3.png", "dd25_figures.json"):
        assert f"icl_proofs/claims/dd25/committed_figures/{fig}" in names, fig
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names), names[-10:]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    own_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies of this environment, as plain paths (its .pth hooks are not run from there)
    (own_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, capture_output=True, env=_clean_env(), timeout=300)

    out = subprocess.run([str(py), "-c", REPORT_FROM_WHEEL, str(tmp_path / "report")], cwd=tmp_path,
                         capture_output=True, text=True, env=_clean_env(), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(info["package"]).resolve().is_relative_to(own_site.resolve()), info["package"]
    assert info["images"] == 3 and info["figures"] == {
        "dd25.thm-4.12": 1, "dd25.data-mixing": 1, "dd25.feature-learning": 1}, info
