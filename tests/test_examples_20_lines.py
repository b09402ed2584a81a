"""The "new setting in 20 lines" examples (examples/*.py) run as written: each one derives, then
checks by two routes, and fails (AssertionError) if a check does."""
from __future__ import annotations

import pathlib
import runpy

import pytest

from icl_proofs.parallel import using

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["iterated_gd_in_20_lines.py", "proportional_in_20_lines.py"])
def test_example_runs_and_its_checks_pass(name, capsys):
    path = EXAMPLES / name
    assert sum(1 for line in path.read_text().splitlines() if line.strip()) <= 21   # the promise
    with using(workers=1):
        runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip()
