"""``verify --json``: the results file format, streaming, --resume, never overwriting a foreign
file, ``--json -``, progress on stderr, and reproducibility for a given seed."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from icl_proofs.claims.base import Check, CheckResult, Claim, Status
from icl_proofs.cli import cli
from icl_proofs.cli.progress import Progress
from icl_proofs.export.jsonout import RESULTS_FORMAT, RESULTS_FORMAT_VERSION


@pytest.fixture
def runner():
    return CliRunner()


def _ok(name, calls=None, status=Status.HOLDS):
    def run(ctx):
        if calls is not None:
            calls.append(name)
        return CheckResult(name=name, route="exact-rational", status=status, evidence=f"{name} fine")

    return Check(name=name, route="exact-rational", run=run)


def _claim(claim_id, *checks):
    cls = type(claim_id.replace(".", "_"), (Claim,), {"id": claim_id, "statement": claim_id,
                                                      "checks": lambda self: list(checks)})
    return cls


def _is_one_line_error(r, *fragments):
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("icl-proofs: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in r.output
    for f in fragments:
        assert f in err, err


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- format


def test_format_and_meta(runner, register_claim, tmp_path):
    register_claim(_claim("vj.one", _ok("a"), _ok("b")))
    register_claim(_claim("vj.two", _ok("c")))
    out = tmp_path / "r.json"
    r = runner.invoke(cli, ["verify", "vj", "--json", str(out), "--seed", "5", "--dps", "20", "--quiet"])
    assert r.exit_code == 0, r.output
    doc = _load(out)
    assert doc["format"] == RESULTS_FORMAT == "icl-proofs/verify-results"
    assert doc["format_version"] == RESULTS_FORMAT_VERSION == 1
    assert doc["complete"] is True and doc["partial"] is None
    assert [x["claim"] for x in doc["results"]] == ["vj.one", "vj.two"]
    meta = doc["meta"]
    assert meta["seed"] == 5 and meta["dps"] == 20 and meta["quick"] is False and meta["alpha"] == 1e-3
    for key in ("package_version", "python", "platform", "numpy", "sympy", "mpmath"):
        assert isinstance(meta[key], str) and meta[key], key
    assert meta["argv"][:4] == ["icl-proofs", "verify", "vj", "--seed"]
    assert "--json" in meta["argv"] and "--quiet" in meta["argv"] and "5" in meta["argv"]
    assert meta["claims"] == ["vj.one", "vj.two"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["started"])
    assert meta["resumed"] == []
    assert meta["execution"]["backend"]
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]  # no temporary files left


def test_argv_is_sanitised(runner, register_claim, tmp_path, monkeypatch):
    from icl_proofs.cli import verify as verify_mod

    register_claim(_claim("vj.one", _ok("a")))
    monkeypatch.setenv("HOME", str(tmp_path))
    seen = {}
    monkeypatch.setattr(verify_mod, "execution", lambda *a: __import__("contextlib").nullcontext())
    monkeypatch.setattr(verify_mod.VerificationRun, "execute", lambda run, ctx: seen.update(argv=run.argv) or 0)
    r = runner.invoke(cli, ["verify", "vj.one", "--json", str(tmp_path / "r.json"),
                            "--scheduler", "tcp://user:secret@head:8786"])
    assert r.exit_code == 0, r.output
    argv = seen["argv"]
    assert "secret" not in " ".join(argv) and "tcp://***@head:8786" in argv
    assert "~/r.json" in argv


def test_written_after_every_check(runner, register_claim, tmp_path):
    out = tmp_path / "r.json"
    seen = []

    def peek(ctx):
        seen.append(_load(out))
        return CheckResult(name="peek", route="exact-rational", status=Status.HOLDS, evidence="ok")

    register_claim(_claim("vj.a", _ok("a1")))
    register_claim(_claim("vj.b", _ok("b1"), _ok("b2"), Check(name="peek", route="exact-rational", run=peek)))
    r = runner.invoke(cli, ["verify", "vj.a", "vj.b", "--json", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    mid = seen[0]
    assert [x["claim"] for x in mid["results"]] == ["vj.a"]  # results: finished claims only
    assert mid["complete"] is False
    assert mid["partial"]["claim"] == "vj.b" and mid["partial"]["status"] == "running"
    assert [c["name"] for c in mid["partial"]["checks"]] == ["b1", "b2"]
    end = _load(out)
    assert end["complete"] is True and end["partial"] is None and len(end["results"]) == 2


# --------------------------------------------------------------------------- interrupt and resume


def test_interrupt_then_resume(runner, register_claim, tmp_path):
    out = tmp_path / "r.json"
    calls: list[str] = []
    stop = [True]

    def maybe_stop(ctx):
        calls.append("second")
        if stop[0]:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a check
        return CheckResult(name="s", route="exact-rational", status=Status.HOLDS, evidence="ok")

    register_claim(_claim("vj.first", _ok("f", calls)))
    register_claim(_claim("vj.second", _ok("s0"), Check(name="s", route="exact-rational", run=maybe_stop)))
    args = ["verify", "vj.first", "vj.second", "--json", str(out), "--seed", "2"]
    r = runner.invoke(cli, args)
    assert r.exit_code == 130, r.output
    assert re.search(rf"interrupted; 1 finished claim kept in {re.escape(str(out))}; rerun with --resume",
                     r.stderr), r.stderr
    doc = _load(out)
    assert doc["complete"] is False
    assert [x["claim"] for x in doc["results"]] == ["vj.first"]
    assert doc["partial"]["claim"] == "vj.second" and doc["partial"]["status"] == "interrupted"
    assert calls == ["f", "second"]

    stop[0] = False
    r = runner.invoke(cli, args + ["--resume"])
    assert r.exit_code == 0, r.output
    assert "== vj.first: HOLDS (resumed)" in r.stdout
    assert "2 claims: 2 hold" in r.stdout
    assert calls == ["f", "second", "second"]  # vj.first did not run again
    doc = _load(out)
    assert doc["complete"] is True and doc["partial"] is None
    assert [x["claim"] for x in doc["results"]] == ["vj.first", "vj.second"]
    assert len(doc["meta"]["resumed"]) == 1 and "--resume" in doc["meta"]["resumed"][0]["argv"]
    assert doc["meta"]["argv"] == ["icl-proofs"] + args[:1] + args[1:3] + ["--seed", "2", "--json", str(out)]


def test_resume_keeps_unselected_claims_and_starts_missing_file(runner, register_claim, tmp_path):
    out = tmp_path / "r.json"
    register_claim(_claim("vj.a", _ok("a")))
    register_claim(_claim("vj.b", _ok("b")))
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--resume", "--quiet"])  # no file yet
    assert r.exit_code == 0, r.output
    assert "(resumed)" not in r.stdout
    r = runner.invoke(cli, ["verify", "vj.b", "--json", str(out), "--resume", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "1 claim: 1 hold" in r.stdout  # the summary counts the claims selected in this run
    doc = _load(out)
    assert [x["claim"] for x in doc["results"]] == ["vj.a", "vj.b"]
    assert doc["meta"]["claims"] == ["vj.a", "vj.b"] and doc["complete"] is True


PLUGIN = textwrap.dedent('''
    import os, sys, time
    from icl_proofs.claims import Check, CheckResult, Claim, Status, register

    def _check(name, sleep_var=None, noisy=False):
        def run(ctx):
            if noisy:
                print("NOISE-FROM-PRINT")
                sys.stdout.flush()
                os.write(1, b"NOISE-FROM-FD\\n")
            if sleep_var:
                time.sleep(float(os.environ.get(sleep_var, "0")))
            return CheckResult(name=name, route="exact-rational", status=Status.HOLDS, evidence="fine")
        return Check(name=name, route="exact-rational", run=run)

    @register
    class Fast(Claim):
        id = "vjkill.a"
        def checks(self):
            return [_check("fast")]

    @register
    class Slow(Claim):
        id = "vjkill.b"
        def checks(self):
            return [_check("slow", "VJ_SLEEP")]

    @register
    class Noisy(Claim):
        id = "vjnoise.a"
        def checks(self):
            return [_check("noisy", noisy=True)]
''')


def _subprocess_env(tmp_path, **extra):
    plugin = tmp_path / "vj_plugin.py"
    plugin.write_text(PLUGIN, encoding="utf-8")
    env = dict(os.environ, ICL_PROOFS_PLUGINS=str(plugin), **extra)
    env.pop("ICL_PROOFS_DEBUG", None)
    return env


CMD = [sys.executable, "-m", "icl_proofs.cli", "verify"]


def test_killed_process_keeps_finished_claims_then_resume(tmp_path):
    out = tmp_path / "r.json"
    env = _subprocess_env(tmp_path, VJ_SLEEP="120")
    proc = subprocess.Popen(CMD + ["vjkill", "--json", str(out), "--workers", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        doc = None
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists():
                doc = json.loads(out.read_text())  # always a whole document (atomic rewrites)
                # a finished and b started: the claim's result and the next claim's start are two
                # writes, and a loaded machine can pause between them
                if doc["results"] and doc.get("partial"):
                    break
            time.sleep(0.05)
        assert doc and doc["results"], proc.stderr.read() if proc.poll() is not None else "timed out"
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    doc = _load(out)
    assert [x["claim"] for x in doc["results"]] == ["vjkill.a"]
    assert doc["complete"] is False and doc["partial"]["claim"] == "vjkill.b"

    res = subprocess.run(CMD + ["vjkill", "--json", str(out), "--workers", "1", "--resume"],
                         env=dict(env, VJ_SLEEP="0"), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    assert "== vjkill.a: HOLDS (resumed)" in res.stdout
    doc = _load(out)
    assert doc["complete"] is True and [x["claim"] for x in doc["results"]] == ["vjkill.a", "vjkill.b"]


def test_json_stdout_is_only_json_subprocess(tmp_path):
    """--json -: stdout carries the document alone, even when a check prints (or writes fd 1)."""
    res = subprocess.run(CMD + ["vjnoise", "--json", "-", "--workers", "1"], env=_subprocess_env(tmp_path),
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["format"] == RESULTS_FORMAT and doc["complete"] is True
    assert [x["claim"] for x in doc["results"]] == ["vjnoise.a"]
    assert "NOISE-FROM-PRINT" in res.stderr and "NOISE-FROM-FD" in res.stderr
    assert "== vjnoise.a: HOLDS" in res.stderr  # the table goes to stderr


# --------------------------------------------------------------------------- never overwrite silently


@pytest.mark.parametrize("content", [b"not json at all\n", b'{"results": [', b"\xff\xfe\x00binary",
                                     b'{"hello": 1}\n', b"[1, 2, 3]",
                                     b'{"format": "someone-else/results", "results": [], "meta": {}}'])
def test_foreign_or_corrupt_file_is_refused(runner, register_claim, tmp_path, content):
    register_claim(_claim("vj.a", _ok("a")))
    out = tmp_path / "precious.json"
    out.write_bytes(content)
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out)])
    _is_one_line_error(r, str(out), "--overwrite", "--resume", "another file name")
    assert out.read_bytes() == content
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--resume"])
    _is_one_line_error(r, "cannot resume", str(out))
    assert out.read_bytes() == content
    assert [x.name for x in tmp_path.iterdir()] == ["precious.json"]

    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--overwrite", "--quiet"])
    assert r.exit_code == 0, r.output
    assert _load(out)["format"] == RESULTS_FORMAT


def test_overwriting_own_results_says_so(runner, register_claim, tmp_path):
    register_claim(_claim("vj.a", _ok("a")))
    register_claim(_claim("vj.b", _ok("b")))
    out = tmp_path / "r.json"
    assert runner.invoke(cli, ["verify", "vj", "--json", str(out), "--quiet"]).exit_code == 0
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert f"overwriting previous results in {out} (2 claims)" in r.stderr
    assert [x["claim"] for x in _load(out)["results"]] == ["vj.a"]
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""
    # the unversioned {"results", "meta"} files of earlier releases count as ours
    out.write_text(json.dumps({"results": [], "meta": {"seed": 0, "package_version": "0.0.1"}}))
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out)])
    assert r.exit_code == 0 and "overwriting previous results" in r.stderr
    # an empty file holds nothing to lose
    out.write_bytes(b"")
    assert runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--quiet"]).exit_code == 0


@pytest.mark.parametrize("args,field,old,new", [
    (["--seed", "4"], "seed", "3", "4"),
    (["--seed", "3", "--dps", "40"], "dps", "30", "40"),
    (["--seed", "3", "--quick"], "quick", "false", "true"),
    (["--seed", "3", "--alpha", "0.01"], "alpha", "0.001", "0.01"),
])
def test_resume_refuses_other_settings(runner, register_claim, tmp_path, args, field, old, new):
    register_claim(_claim("vj.a", _ok("a")))
    out = tmp_path / "r.json"
    assert runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--seed", "3", "--quiet"]).exit_code == 0
    before = out.read_bytes()
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--resume"] + args)
    _is_one_line_error(r, f"cannot resume {out}: {field} differs (file: {old}, this run: {new})")
    assert out.read_bytes() == before


def test_resume_refuses_other_version_and_newer_format(runner, register_claim, tmp_path):
    register_claim(_claim("vj.a", _ok("a")))
    out = tmp_path / "r.json"
    assert runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--quiet"]).exit_code == 0
    doc = _load(out)
    doc["meta"]["package_version"] = "0.0.0-old"
    out.write_text(json.dumps(doc))
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--resume"])
    _is_one_line_error(r, "package_version differs (file: 0.0.0-old, this run: ")
    doc["format_version"] = RESULTS_FORMAT_VERSION + 1
    out.write_text(json.dumps(doc))
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(out), "--resume"])
    _is_one_line_error(r, f"format_version {RESULTS_FORMAT_VERSION + 1} is newer")


@pytest.mark.parametrize("args,fragment", [
    (["--resume"], "--resume needs --json FILE"),
    (["--resume", "--json", "-"], "--resume needs --json FILE"),
    (["--overwrite"], "--overwrite needs --json FILE"),
    (["--json", "F.json", "--resume", "--overwrite"], "exclude each other"),
    (["--quiet", "--progress"], "exclude each other"),
])
def test_flag_combinations(runner, register_claim, tmp_path, monkeypatch, args, fragment):
    register_claim(_claim("vj.a", _ok("a")))
    monkeypatch.chdir(tmp_path)  # F.json, if anything were written, lands in the test's folder
    r = runner.invoke(cli, ["verify", "vj.a"] + args)
    _is_one_line_error(r, fragment)


# --------------------------------------------------------------------------- --json -, progress


def test_json_to_stdout(runner, register_claim):
    register_claim(_claim("vj.a", _ok("a")))
    register_claim(_claim("vj.bad", _ok("x", status=Status.REFUTED)))
    r = runner.invoke(cli, ["verify", "vj", "--json", "-"])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["format"] == RESULTS_FORMAT and doc["complete"] is True
    assert {x["claim"]: x["status"] for x in doc["results"]} == {"vj.a": "holds", "vj.bad": "refuted"}
    assert "CLAIM" in r.stderr and "== vj.bad: REFUTED" in r.stderr
    assert not os.path.exists("-")
    r = runner.invoke(cli, ["verify", "vj", "--json", "-", "--quiet"])
    assert r.exit_code == 1 and r.stderr == ""
    json.loads(r.stdout)


def test_json_to_stdout_interrupted(runner, register_claim):
    def stop(ctx):
        raise KeyboardInterrupt

    register_claim(_claim("vj.a", _ok("a")))
    register_claim(_claim("vj.b", Check(name="stop", route="exact-rational", run=stop)))
    r = runner.invoke(cli, ["verify", "vj", "--json", "-", "--quiet"])
    assert r.exit_code == 130
    doc = json.loads(r.stdout)  # what finished, marked incomplete
    assert doc["complete"] is False and [x["claim"] for x in doc["results"]] == ["vj.a"]
    assert r.stderr.strip() == "icl-proofs: interrupted; the JSON on stdout holds 1 finished claim"


def test_progress_only_on_a_terminal_unless_asked(runner, register_claim, tmp_path):
    register_claim(_claim("vj.a", _ok("a"), _ok("b")))
    r = runner.invoke(cli, ["verify", "vj.a"])  # CliRunner's stderr is not a terminal
    assert r.exit_code == 0 and "[1/" not in r.stderr and r.stderr == ""
    r = runner.invoke(cli, ["verify", "vj.a", "--progress"])
    assert r.exit_code == 0
    assert "[1/2] vj.a: a ..." in r.stderr and "[2/2] vj.a: b ..." in r.stderr and "[1/" not in r.stdout
    r = runner.invoke(cli, ["verify", "vj.a", "--json", str(tmp_path / "r.json"), "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""


class _FakeTTY(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen_lines(raw: str) -> list[str]:
    """What a terminal shows of ``raw``, roughly: colours dropped, each ``\r``/``\n`` a new segment."""
    return [seg for seg in re.split(r"[\r\n]", _ANSI.sub("", raw)) if seg.strip()]


def test_terminal_progress_line(monkeypatch):
    """On a terminal: ``[i/n]``, a bar, the percentage done, the elapsed time, the step, then notes
    from inside the check; rows print above the live line, which is wiped at the end."""
    err = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv("COLUMNS", "100")
    assert Progress.choose(quiet=False, force=False).mode == "tty"
    assert Progress.choose(quiet=True, force=True).mode == "off"
    assert Progress.choose(quiet=False, force=True).mode == "tty"
    now = [100.0]
    p = Progress("tty", clock=lambda: now[0])
    p.start()
    p.step(13, 81, "zfb23.risk: mc-risk")
    now[0] = 142.5
    line = p.line()
    assert line.startswith("[13/81] ") and " 15% 0:00:42 zfb23.risk: mc-risk ..." in line, line
    bar = line[len("[13/81] "):][:Progress.BAR + 1]
    assert bar.startswith("━━") and bar.endswith("  ")  # 12 of 81 done: the bar is partly filled
    assert len(line) <= 100
    now[0] = 100.0 + 3725
    assert "1:02:05" in p.line()
    p.note("shard 3/8")
    assert p.line().rstrip().endswith("mc-risk ... shard 3/8")
    p.step(14, 81, "zfb23.risk: mc-other")
    assert "shard" not in p.line()  # a note belongs to its step
    p.echo("a row", err=True)
    p.close()
    p.close()  # twice is harmless (Ctrl-C closes it, then the run's end)
    raw = err.getvalue()
    assert "\ra row\n" in _ANSI.sub("", raw)  # the row on a line of its own
    assert raw.endswith("\x1b[2K")  # the live line erased at the end
    assert p.line() == ""


def test_terminal_progress_redraws_on_its_own_clock(monkeypatch):
    """Notes only update the line; rich redraws it at most REFRESH_PER_SECOND times a second, and
    keeps redrawing (the clock moves) while a slow check sends nothing."""
    err = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    p = Progress("tty")
    p.start()
    p.step(1, 2, "vj.a: slow")
    t0 = time.monotonic()
    for k in range(2000):  # a chatty Monte-Carlo run
        p.note(f"shard {k}")
    time.sleep(0.35)
    elapsed = time.monotonic() - t0
    p.close()
    draws = sum("[1/2]" in seg for seg in _screen_lines(err.getvalue()))
    assert 2 <= draws <= elapsed * Progress.REFRESH_PER_SECOND + 3, (draws, elapsed)
    assert "vj.a: slow ..." in _ANSI.sub("", err.getvalue())


def test_plain_progress_lines_for_logs(capsys):
    p = Progress("lines")
    p.start()
    p.step(1, 2, "vj.a: a")
    p.note("not in logs")
    p.echo("a row")
    p.close()
    out, err = capsys.readouterr()
    assert err == "[1/2] vj.a: a ...\n" and out == "a row\n"


# --------------------------------------------------------------------------- reproducibility


_TIMING = re.compile(r"\s*\(\d+(?:\.\d+)?\s*s\)")


def _numbers(doc):
    """The results without wall-clock times: ``seconds`` keys dropped, ``(1.2s)`` cut from text."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "seconds"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        if isinstance(x, str):
            return _TIMING.sub("", x)
        return x

    return strip(doc["results"])


def test_same_seed_same_numbers(runner, tmp_path):
    def run(seed, name):
        out = tmp_path / name
        r = runner.invoke(cli, ["verify", "zfb23.covariate-shift", "--quick", "--seed", str(seed),
                                "--workers", "1", "--json", str(out), "--quiet"])
        assert r.exit_code in (0, 1, 3), r.output
        doc = _load(out)
        assert doc["meta"]["seed"] == seed and doc["complete"] is True
        return doc

    a, b, c = run(3, "a.json"), run(3, "b.json"), run(4, "c.json")
    assert _numbers(a) == _numbers(b)

    def mc_means(doc):
        return [chk["details"]["estimate"]["mean"] for res in doc["results"] for chk in res["checks"]
                if isinstance(chk.get("details"), dict) and isinstance(chk["details"].get("estimate"), dict)]

    assert mc_means(a), "no Monte-Carlo estimate in zfb23.covariate-shift --quick"
    assert mc_means(a) == mc_means(b) and mc_means(a) != mc_means(c)
