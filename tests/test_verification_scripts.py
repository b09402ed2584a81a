"""verification/verify_<paper>.py are thin calls of ``icl-proofs verify``: same results format."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_verify_script_writes_the_cli_results_format(tmp_path):
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, str(ROOT / "verification" / "verify_zfb23.py"), "--json", str(out),
                          "--quiet", "--workers", "1"], capture_output=True, text=True, cwd=tmp_path)
    doc = json.loads(out.read_text())
    assert doc["format"] == "icl-proofs/verify-results" and doc["meta"]["quick"] is True
    assert {r["claim"] for r in doc["results"]} == {l.split()[1].rstrip(":") for l in res.stdout.splitlines()
                                                     if l.startswith("== ")}
    assert all(r["claim"].startswith("zfb23.") for r in doc["results"])
    assert res.returncode in (0, 1, 3), res.stderr
