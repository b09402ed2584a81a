"""The icl-proofs command on small dummy claims (independent of the built-in paper claims)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mpmath
import pytest
import sympy
from click.testing import CliRunner

from icl_proofs.claims.base import Check, CheckResult, Claim, Param, Status, UserInputError
from icl_proofs.cli import cli, main

README = Path(__file__).resolve().parents[1] / "README.md"


def _check(name, status, quick=True, witness=None, route="exact-rational"):
    def run(ctx):
        return CheckResult(name=name, route=route, status=status, evidence=f"{name} says {status.value}",
                           witness=witness)

    return Check(name=name, route=route, run=run, quick=quick)


def _crashing_check(ctx):
    return 1 / 0


class DummyHolds(Claim):
    id = "dummy.holds"
    paper = "Nobody 2024"
    source = "Lemma 1"
    title = "A claim that holds"
    statement = "x * n = x * n for every x"
    params = (
        Param("n", "int", "a count", default="3"),
        Param("x", "number", "a number", default=None),
        Param("S", "spd", "an SPD matrix", default="[[2,1],[1,3]]"),
        Param("flag", "bool", "a flag", default=False),
    )

    def validate(self, values):
        if values["x"] == 13:
            raise UserInputError("x must not be 13 (cross-parameter check)")

    def derive(self):
        x, n = sympy.symbols("x n")
        return {"product": sympy.Rational(1, 3) * x * n**2 / (n + 1)}

    def quantities(self, values, dps=30):
        with mpmath.workdps(dps + 10):
            x = mpmath.mpf(values["x"].p) / values["x"].q
            S = mpmath.matrix(values["S"].tolist())
            return {
                "value": x * int(values["n"]),
                "third": mpmath.mpf(1) / 3,
                "S_inverse": S**-1,
                "column": mpmath.matrix([[1], [2]]) / 3,
                "positive": x > 0,
            }

    def checks(self):
        return [_check("quick-ok", Status.HOLDS), _check("full-ok", Status.HOLDS, quick=False, route="monte-carlo")]


class DummyRefuted(Claim):
    id = "dummy.refuted"
    statement = "false for d = 2"

    def checks(self):
        return [_check("ok", Status.HOLDS), _check("counterexample", Status.REFUTED, witness={"d": 2, "gap": "0.5"})]


class DummyUnsure(Claim):
    id = "dummy.unsure"
    statement = "cannot tell"

    def checks(self):
        return [_check("ok", Status.HOLDS), _check("noisy", Status.INCONCLUSIVE)]


class DummyCrash(Claim):
    id = "dummy.crash"
    statement = "a check crashes"

    def checks(self):
        return [_check("ok", Status.HOLDS), Check(name="broken", route="monte-carlo", run=_crashing_check)]


class DummySlowFail(Claim):
    id = "dummy.slowfail"
    statement = "only the full check finds the problem"

    def checks(self):
        return [_check("ok", Status.HOLDS), _check("thorough", Status.REFUTED, quick=False, witness={"N": 1})]


ALL = (DummyHolds, DummyRefuted, DummyUnsure, DummyCrash, DummySlowFail)


@pytest.fixture
def dummies(register_claim):
    for cls in ALL:
        register_claim(cls)
    return [c.id for c in ALL]


@pytest.fixture
def runner():
    return CliRunner()


def _is_user_error(result):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("icl-proofs: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def sig_digits(s: str) -> int:
    return len(re.split(r"[eE]", s)[0].lstrip("+-").replace(".", "").lstrip("0"))


def test_list(runner, dummies):
    r = runner.invoke(cli, ["list"])
    assert r.exit_code == 0
    for cid in dummies:
        assert cid in r.stdout
    r = runner.invoke(cli, ["list", "--json"])
    data = json.loads(r.stdout)
    entry = next(d for d in data if d["id"] == "dummy.holds")
    assert entry["source"] == "Lemma 1" and entry["params"][0]["name"] == "n"


class DummyLong(Claim):
    id = "dummy.long-statement"
    paper = "Nobody 2024"
    source = "Theorem 9 and its corollary, with the constants of Appendix Z"
    statement = ("For every positive definite Λ and every context length N ≥ 1 the prediction error of the "
                 "trained layer equals the Bayes error plus tr(Λ²Γ⁻¹)/N plus a term of order 1/N² whose "
                 "constant depends on d, κ and the spectrum of Λ only, and this closes the sentence")

    def checks(self, ctx):
        return [_check("ok", Status.HOLDS)]


def _statement_block(out: str, claim_id: str) -> str:
    """The text printed from a claim's row up to the next claim's row, whitespace collapsed."""
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(claim_id + " "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "")), len(lines))
    return " ".join(" ".join(lines[start:end]).split())


@pytest.mark.parametrize("columns", [80, 200])
def test_list_wraps_statements_in_full(runner, register_claim, monkeypatch, columns):
    """A long statement is wrapped to the terminal's width, never cut with '...' (issue 16)."""
    register_claim(DummyHolds)
    register_claim(DummyLong)
    monkeypatch.setenv("COLUMNS", str(columns))
    r = runner.invoke(cli, ["list"])
    assert r.exit_code == 0, r.output
    assert max(len(l) for l in r.stdout.splitlines()) <= columns
    assert DummyLong.statement in _statement_block(r.stdout, DummyLong.id)
    assert DummyHolds.statement in _statement_block(r.stdout, DummyHolds.id)
    if columns == 200:  # room for the column: continuation lines start under STATEMENT
        column = r.stdout.splitlines()[0].index("STATEMENT")
        first = next(l for l in r.stdout.splitlines() if l.startswith(DummyLong.id))
        assert first[column:].startswith("For every") and len(first) > column


def test_list_subprocess():
    exe = shutil.which("icl-proofs")
    cmd = [exe, "list"] if exe else [sys.executable, "-c", "from icl_proofs.cli import main; main()", "list"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_show(runner, dummies):
    r = runner.invoke(cli, ["show", "dummy.holds"])
    assert r.exit_code == 0, r.output
    assert "x * n = x * n" in r.stdout and "Lemma 1" in r.stdout
    assert "n (int" in r.stdout and "x (number" in r.stdout and "required" in r.stdout
    assert "product" in r.stdout and r"\frac" in r.stdout


def test_eval_json(runner, dummies):
    r = runner.invoke(cli, ["eval", "dummy.holds", "--param", "x=1/3", "-p", "S=[[4,0],[0,5]]",
                            "--dps", "40", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc) == ["claim", "params", "quantities"]
    assert doc["claim"] == "dummy.holds"
    assert doc["params"] == {"n": 3, "x": "1/3", "S": [[4, 0], [0, 5]], "flag": False}
    q = doc["quantities"]
    assert set(q) == {"value", "third", "S_inverse", "column", "positive"}
    assert q["positive"] is True
    assert sig_digits(q["value"]) >= 40 and q["value"].startswith("1.000000000")
    assert sig_digits(q["third"]) >= 40
    assert q["S_inverse"][0][0].startswith("0.25") and q["S_inverse"][0][1].startswith("0.0")
    assert all(sig_digits(x) >= 40 for row in q["S_inverse"] for x in row if float(x) != 0)
    assert len(q["column"]) == 2 and all(isinstance(row, list) and len(row) == 1 for row in q["column"])


def test_eval_text(runner, dummies):
    r = runner.invoke(cli, ["eval", "dummy.holds", "-p", "x=0.5", "--dps", "12"])
    assert r.exit_code == 0, r.output
    assert "third" in r.stdout and "0.333333333333" in r.stdout
    assert "1/2" in r.stdout


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["eval", "dummy.holds", "-p", "x=__import__('os')"], "parameter x: not a number"),
        (["eval", "dummy.holds"], "missing required parameter(s) x"),
        (["eval", "dummy.holds", "-p", "x=1", "-p", "y=2"], "no parameter 'y'"),
        (["eval", "dummy.holds", "-p", "x=1", "-p", "S=[[1,2],[2,1]]"], "not positive definite"),
        (["eval", "dummy.holds", "-p", "x=1", "-p", "n=0"], "parameter n: must be >= 1"),
        (["eval", "dummy.holds", "-p", "x=13"], "x must not be 13"),
        (["eval", "dummy.refuted"], "no numeric quantities"),
        (["eval", "nosuch.claim"], "unknown claim 'nosuch.claim'"),
        (["show", "nosuch.claim"], "unknown claim"),
        (["verify", "nosuch"], "no claim matches 'nosuch'"),
        (["latex", "nosuch"], "no claim matches"),
    ],
)
def test_user_errors(runner, dummies, args, fragment):
    r = runner.invoke(cli, args)
    _is_user_error(r)
    assert fragment in r.stderr


def test_click_usage_errors_exit_2(runner, dummies):
    assert runner.invoke(cli, ["eval", "dummy.holds", "--dps", "abc"]).exit_code == 2
    assert runner.invoke(cli, ["verify", "dummy.holds", "--alpha", "2"]).exit_code == 2
    assert runner.invoke(cli, ["frobnicate"]).exit_code == 2


def test_main_wrapper(dummies, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "dummy.holds", "-p", "x=nan"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("icl-proofs: error: parameter x") and "Traceback" not in err


@pytest.mark.parametrize(
    "args,code",
    [
        (["verify", "dummy.holds"], 0),
        (["verify", "dummy.holds", "--quick"], 0),
        (["verify", "dummy.refuted"], 1),
        (["verify", "dummy.unsure"], 3),
        (["verify", "dummy.crash"], 3),
        (["verify", "dummy.slowfail", "--quick"], 0),
        (["verify", "dummy.slowfail"], 1),
        (["verify", "dummy.unsure", "dummy.refuted"], 1),
        (["verify", "dummy"], 1),
    ],
)
def test_verify_exit_codes(runner, dummies, args, code):
    r = runner.invoke(cli, args + ["--quiet"])
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output


def test_verify_output(runner, dummies, tmp_path):
    out = tmp_path / "res.json"
    r = runner.invoke(cli, ["verify", "dummy", "--json", str(out), "--seed", "7", "--progress"])
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["CLAIM", "ROUTE", "CHECK", "VERDICT"]
    assert any("dummy.crash" in l and "broken" in l and "check crashed: ZeroDivisionError" in l for l in lines)
    assert any(l.strip().startswith("witness:") and '"d": 2' in l for l in lines)
    assert any(l.startswith("== dummy.refuted: REFUTED") for l in lines)
    assert "5 claims: 1 hold, 2 refuted as printed, 2 inconclusive" in r.stdout
    # progress (forced with --progress: CliRunner's stderr is not a terminal) goes to stderr, not stdout
    assert "[1/" in r.stderr and "[1/" not in r.stdout
    doc = json.loads(out.read_text())
    assert doc["meta"]["seed"] == 7 and doc["meta"]["quick"] is False
    by_id = {x["claim"]: x for x in doc["results"]}
    assert set(by_id) == {c.id for c in ALL}
    assert by_id["dummy.refuted"]["status"] == "refuted" and by_id["dummy.refuted"]["witness"]["d"] == 2
    crash = by_id["dummy.crash"]
    assert crash["status"] == "inconclusive"
    broken = next(c for c in crash["checks"] if c["name"] == "broken")
    assert broken["evidence"].startswith("check crashed: ZeroDivisionError")
    assert "Traceback" in broken["details"]["traceback"]
    assert set(by_id["dummy.holds"]) >= {"claim", "status", "checks", "witness", "seconds"}

    r = runner.invoke(cli, ["verify", "dummy.holds", "--quick", "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""
    assert "full-ok" not in r.stdout and "quick-ok" in r.stdout


def test_verify_json_written_incrementally(runner, register_claim, tmp_path):
    out = tmp_path / "partial.json"
    seen = []

    class First(Claim):
        id = "dummy.first"

        def checks(self):
            return [_check("ok", Status.HOLDS)]

    class Second(Claim):
        id = "dummy.second"

        def checks(self):
            def run(ctx):
                seen.append(json.loads(out.read_text()))
                raise KeyboardInterrupt  # a hard stop in the middle of the run

            return [Check(name="stop", route="exact-rational", run=run)]

    register_claim(First)
    register_claim(Second)
    runner.invoke(cli, ["verify", "dummy.first", "dummy.second", "--json", str(out), "--quiet"])
    assert [x["claim"] for x in seen[0]["results"]] == ["dummy.first"]
    assert [x["claim"] for x in json.loads(out.read_text())["results"]] == ["dummy.first"]


def test_latex_command(runner, dummies, tmp_path):
    r = runner.invoke(cli, ["latex", "dummy.holds", "dummy.refuted"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(r"\documentclass") and r"\texttt{dummy.holds}" in r.stdout
    assert r.stdout.rstrip().endswith(r"\end{document}")
    target = tmp_path / "doc.tex"
    r = runner.invoke(cli, ["latex", "dummy.holds", "-o", str(target)])
    assert r.exit_code == 0 and target.read_text().startswith(r"\documentclass")


def test_readme_register_example(runner, register_claim):
    """The README's 'Register your own claim' example runs as written."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Register your own claim", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    from icl_proofs.claims import registry

    before = set(registry._REGISTRY)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    new = set(registry._REGISTRY) - before
    try:
        assert new, "the README example registers no claim"
        (cid,) = new
        r = runner.invoke(cli, ["verify", cid, "--quiet"])
        assert r.exit_code == 0, r.output
        claim = registry.get(cid)
        if claim.params:
            r = runner.invoke(cli, ["eval", cid, "--json"])
            assert r.exit_code == 0, r.output
    finally:
        for cid in new:
            registry.unregister(cid)


def test_broken_claim_objects_are_inconclusive(runner, register_claim):
    class BadChecks(Claim):
        id = "dummy.badchecks"

        def checks(self):
            raise RuntimeError("cannot even list my checks")

    class BadReturn(Claim):
        id = "dummy.badreturn"

        def checks(self):
            return [Check(name="returns-none", route="exact-rational", run=lambda ctx: None)]

    register_claim(BadChecks)
    register_claim(BadReturn)
    r = runner.invoke(cli, ["verify", "dummy.badchecks", "dummy.badreturn", "--quiet"])
    assert r.exit_code == 3, r.output
    assert "check crashed: RuntimeError: cannot even list my checks" in r.stdout
    assert "check crashed: returned NoneType" in r.stdout
