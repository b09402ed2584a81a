"""A researcher's own claim (verification/my_claims_example.py) appears in every command."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = str(ROOT / "verification" / "my_claims_example.py")


def run(*args, plugins=PLUGIN):
    env = dict(os.environ, ICL_PROOFS_PLUGINS=plugins)
    return subprocess.run([sys.executable, "-m", "icl_proofs.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)


def test_plugin_claim_is_listed_and_evaluated():
    listed = json.loads(run("list", "--json").stdout)
    assert "demo.isotropic-error" in {c["id"] for c in listed}
    out = json.loads(run("eval", "demo.isotropic-error", "-p", "d=3", "-p", "N=7", "--json").stdout)
    # d − 2d + d(N+d+1)/N at c = 1: 12/7, derived by the Wick engine inside the plugin
    assert out["quantities"]["prediction_error"].startswith("1.714285714285714285714")


def test_plugin_claim_verifies():
    res = run("verify", "demo", "--quick", "--quiet")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "HOLDS" in res.stdout


def test_missing_plugin_is_a_one_line_error():
    res = run("list", plugins="does/not/exist.py")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "plugin" in res.stderr
