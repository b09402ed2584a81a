"""A fourth paper, made here as a temporary package (one claim with a sampler and a figure), appears
in list, verify, latex and report without touching any file of the project."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PAPER = textwrap.dedent('''
    """A toy paper: E[g^2] = 1 for g ~ N(0, 1), by a Monte-Carlo sampler."""
    import numpy as np

    from icl_proofs.claims import Check, Claim, register
    from icl_proofs.claims.base import Control
    from icl_proofs.claims.checks import mc_check
    from icl_proofs.claims.figures import Figure
    from icl_proofs.numeric import montecarlo as mc

    PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


    def sampler(rng, k):
        return rng.standard_normal(k) ** 2


    @register
    class SecondMoment(Claim):
        id = "toy4.second-moment"
        paper = "A fourth paper"
        source = "Lemma 1"
        title = "The second moment of a standard Gaussian"
        statement = "E[g^2] = 1 for g ~ N(0, 1)."

        def checks(self):
            wrong = Control.negative("E[g^2] = 1.1", lambda ctx: self._mc(ctx, 1.1))
            return [Check("monte-carlo", "monte-carlo", self._mc, controls=(wrong,))]

        def _mc(self, ctx, claimed=1.0):
            est = mc.estimate(sampler, 200_000, ctx.seed_sequence())
            return mc_check("monte-carlo", est, claimed, ctx.alpha, {}, "E[g^2]")

        def figures(self, out_dir, seed=0, progress=lambda msg: None):
            png = out_dir / "toy4.png"
            png.write_bytes(PNG)
            return [Figure(png, "toy4 figure: one pixel")]
''')


@pytest.fixture
def run(tmp_path):
    (tmp_path / "toy4paper.py").write_text(PAPER)
    env = dict(os.environ, ICL_PROOFS_PLUGINS="toy4paper",
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "icl_proofs").rglob("*") if p.is_file()}

    def _run(*args):
        return subprocess.run([sys.executable, "-m", "icl_proofs.cli", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path)

    yield _run
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "icl_proofs").rglob("*") if p.is_file()}
    changed = [str(p) for p in after if before.get(p) != after[p] and "__pycache__" not in str(p)]
    assert not changed, changed


def test_fourth_paper_everywhere(run, tmp_path):
    listed = json.loads(run("list", "--json").stdout)
    assert "toy4.second-moment" in {c["id"] for c in listed}
    v = run("verify", "toy4", "--quick", "--json", "r.json", "--workers", "1", "-q")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert v.returncode == 0 and doc["results"][0]["status"] == "holds", v.stdout + v.stderr
    assert run("verify", "toy4", "--quick", "--controls", "--workers", "1").returncode == 0
    tex = run("latex", "toy4")
    assert tex.returncode == 0 and "second moment of a standard Gaussian" in tex.stdout
    rep = run("report", "toy4", "--from", "r.json", "--out", "rep", "--no-pdf", "-q")
    assert rep.returncode == 0, rep.stderr
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "toy4 figure: one pixel" in html and "data:image/png;base64," in html
