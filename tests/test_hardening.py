"""Hardening (issue 15): results files, the derivation cache, cost limits, parameter validation,
one-line usage errors and where Hypothesis writes.  Each test is an attack from the issue; on the
code before the fix each of them failed (a traceback, a hang, a replaced /dev/null, code run from
the cache, a wrong exit status)."""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
import sympy as sp
from click.testing import CliRunner

from icl_proofs import cache
from icl_proofs.claims.base import Check, CheckResult, Claim, Status
from icl_proofs.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def _ok(name):
    def run(ctx):
        return CheckResult(name=name, route="exact-rational", status=Status.HOLDS, evidence=f"{name} fine")

    return Check(name=name, route="exact-rational", run=run)


def _claim(claim_id, *checks):
    return type(claim_id.replace(".", "_"), (Claim,), {"id": claim_id, "statement": claim_id,
                                                       "checks": lambda self: list(checks)})


def _one_error_line(r) -> str:
    """The run ended as a usage error: exit 2 and exactly one ``icl-proofs: error:`` line."""
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert len(lines) == 1 and lines[0].startswith("icl-proofs: error: "), r.stderr
    return lines[0]


# --------------------------------------------------------------------------- results files


@pytest.mark.parametrize("target", ["/dev/null", "/dev/full"])
def test_json_to_a_device_is_refused_and_the_device_kept(runner, register_claim, target):
    if not os.path.exists(target):
        pytest.skip(f"no {target}")
    register_claim(_claim("hd.one", _ok("a")))
    before = os.stat(target)
    r = runner.invoke(cli, ["verify", "hd.one", "--json", target])
    assert "regular file" in _one_error_line(r)
    after = os.stat(target)
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_fifo_symlink_and_directory_refused_without_hanging(runner, register_claim, tmp_path, monkeypatch):
    """Refused before any work (the claim's check never runs), and no refused path is ever opened in
    a way that can block (a blocking open of a FIFO with no peer hangs): counted, not timed."""
    import builtins
    import io

    runs = []
    check = _ok("a")
    register_claim(_claim("hd.one", Check("a", check.route, lambda ctx: runs.append(1) or check.run(ctx))))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to("/proc/self/fd/1")
    refused, blocking = {str(fifo), str(link), str(tmp_path)}, []

    def guard(opener, nonblocking):
        def opened(path, *a, **k):
            if isinstance(path, (str, os.PathLike)) and os.fspath(path) in refused and not nonblocking(a, k):
                blocking.append(os.fspath(path))
                raise OSError(f"test: a blocking open of {path}")  # fail here instead of hanging
            return opener(path, *a, **k)
        return opened

    monkeypatch.setattr(os, "open", guard(os.open, lambda a, k: (a[0] if a else k["flags"]) & os.O_NONBLOCK))
    monkeypatch.setattr(builtins, "open", guard(builtins.open, lambda a, k: False))
    monkeypatch.setattr(io, "open", guard(io.open, lambda a, k: False))
    for args in (["verify", "hd.one", "--json", str(fifo)], ["verify", "hd.one", "--json", str(link)],
                 ["verify", "hd.one", "--json", str(tmp_path)],
                 ["report", "--out", str(tmp_path / "rep"), "--from", str(fifo)]):
        _one_error_line(runner.invoke(cli, args))
    assert runs == [] and blocking == []
    assert not (tmp_path / "rep").exists()


def test_report_from_a_device_is_refused_not_read(runner, register_claim, tmp_path):
    register_claim(_claim("hd.one", _ok("a")))
    r = runner.invoke(cli, ["report", "--out", str(tmp_path / "rep"), "--from", "/dev/zero"])
    assert "regular file" in _one_error_line(r)


def test_reads_are_size_capped(runner, register_claim, tmp_path, monkeypatch):
    from icl_proofs.export import jsonout

    register_claim(_claim("hd.one", _ok("a")))
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"pad": "x" * 5000}))
    monkeypatch.setattr(jsonout, "MAX_RESULTS_BYTES", 1000)
    monkeypatch.setattr(jsonout.read_input_file, "__defaults__", (1000,))
    r = runner.invoke(cli, ["report", "--out", str(tmp_path / "rep"), "--from", str(big)])
    assert "more than the 1000" in _one_error_line(r)


def test_rewrite_keeps_mode(runner, register_claim, tmp_path):
    register_claim(_claim("hd.one", _ok("a")))
    out = tmp_path / "r.json"
    assert runner.invoke(cli, ["verify", "hd.one", "--json", str(out), "--quiet"]).exit_code == 0
    os.chmod(out, 0o600)
    assert runner.invoke(cli, ["verify", "hd.one", "--json", str(out), "--quiet"]).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_a_second_concurrent_writer_is_refused(runner, register_claim, tmp_path):
    """A run holds the lock on its results file; another run on it is refused, before any work."""
    ran = []

    def run(ctx):
        ran.append(1)
        return CheckResult(name="a", route="exact-rational", status=Status.HOLDS, evidence="fine")

    register_claim(_claim("hd.one", Check(name="a", route="exact-rational", run=run)))
    out = tmp_path / "r.json"
    assert runner.invoke(cli, ["verify", "hd.one", "--json", str(out), "--quiet"]).exit_code == 0
    before = out.read_bytes()
    ran.clear()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running verify holds
        r = runner.invoke(cli, ["verify", "hd.one", "--json", str(out), "--quiet"])
        assert "another icl-proofs run" in _one_error_line(r)
    finally:
        os.close(fd)
    assert ran == [] and out.read_bytes() == before


def test_writer_that_finds_its_file_replaced_stops(tmp_path):
    from icl_proofs.export.jsonout import FileLock, ResultsFileError, write_json

    out = tmp_path / "r.json"
    lock = FileLock(out)
    write_json(out, {"n": 1}, lock=lock)
    other = tmp_path / "other.json"
    other.write_text("{}")
    os.replace(other, out)  # another process's file now
    with pytest.raises(ResultsFileError, match="replaced by another process"):
        write_json(out, {"n": 2}, lock=lock)
    assert out.read_text() == "{}"
    lock.release()


def test_every_output_path_checked_before_the_work(runner, register_claim, tmp_path, monkeypatch):
    import icl_proofs.mutation as mutation

    register_claim(_claim("hd.one", _ok("a")))

    def no_work(*a, **k):
        raise AssertionError("the work started before the output path was checked")

    monkeypatch.setattr(mutation, "mutate_claim", no_work)
    monkeypatch.setattr("icl_proofs.runner.run_claims", no_work)
    missing_dir = tmp_path / "no-such-dir" / "out.json"
    for args in (["mutate", "hd.one", "--json", str(missing_dir)],
                 ["mutate", "hd.one", "--json", "/dev/null"],
                 ["verify", "hd.one", "--json", str(missing_dir)],
                 ["latex", "hd.one", "-o", "/dev/full"],
                 ["report", "hd.one", "--out", "/dev/null"]):
        _one_error_line(runner.invoke(cli, args))


# --------------------------------------------------------------------------- results-file schema


def _results_doc(**result):
    base = {"claim": "hd.one", "status": "holds", "checks": [{"name": "a", "route": "exact",
                                                              "status": "holds", "evidence": "ok"}]}
    base.update(result)
    return {"format": "icl-proofs/verify-results", "format_version": 1, "complete": True,
            "meta": {"seed": 0, "quick": False, "dps": 30, "alpha": 0.001, "package_version": None,
                     "claims": ["hd.one"]},
            "results": [base], "partial": None}


@pytest.mark.parametrize("bad", [{"checks": None}, {"checks": "abc"}, {"checks": {"a": 1}},
                                 {"status": "bogus"}, {"checks": [{"name": "a", "status": "bogus"}]},
                                 {"checks": [None]}, {"witness": "x"}])
def test_malformed_results_refused_by_report_and_resume(runner, register_claim, tmp_path, bad):
    register_claim(_claim("hd.one", _ok("a")))
    f = tmp_path / "r.json"
    f.write_text(json.dumps(_results_doc(**bad)))
    _one_error_line(runner.invoke(cli, ["report", "--out", str(tmp_path / "rep"), "--from", str(f)]))
    _one_error_line(runner.invoke(cli, ["verify", "hd.one", "--json", str(f), "--resume"]))
    _one_error_line(runner.invoke(cli, ["verify", "hd.one", "--json", str(f), "--resume",
                                        "--family-alpha", "0.01"]))


def test_well_formed_results_still_read():
    from icl_proofs.export.jsonout import schema_problem

    assert schema_problem(_results_doc()) is None
    doc = _results_doc()
    doc["partial"] = {"claim": "hd.two", "status": "interrupted", "checks": []}
    assert schema_problem(doc) is None


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("args", [
    ["eval", "zfb23.global-min", "--dps", "0"],
    ["verify", "zfb23.global-min", "--workers", "0"],
    ["verify", "zfb23.global-min", "--json", "/"],
    ["mutate", "zfb23.global-min", "--operator", "x"],
    ["verify", "--no-such-option"],
    ["no-such-command"],
    ["verify", "zfb23.global-min", "--seed", "-1"],
    ["verify", "zfb23.global-min", "--dps", "4400"],
    ["verify", "dd25.hermite", "--dps", "121"],
])
def test_usage_errors_are_one_line(runner, args, monkeypatch):
    monkeypatch.setattr("icl_proofs.runner.run_claims", lambda *a, **k: pytest.fail("checks ran"))
    _one_error_line(runner.invoke(cli, args))


# --------------------------------------------------------------------------- parameters


def test_negative_noise_variance_refused(runner):
    r = runner.invoke(cli, ["eval", "zfb23.task-shift", "-p", "Lambda=[[1]]", "-p", "Psi=[[1]]", "-p", "N=2",
                            "-p", "M=2", "-p", "s2=-1"])
    assert "s2" in _one_error_line(r)


def test_reducible_kernel_explained_in_one_line(runner):
    r = runner.invoke(cli, ["eval", "ding25.enlarged-min", "-p", "kernel=[[1,0],[0,1]]"])
    line = _one_error_line(r)
    assert "singular" in line and "reducible" in line


def test_kernel_irreducibility():
    from icl_proofs.claims.params import kernel_is_irreducible

    assert not kernel_is_irreducible(sp.Matrix([[1, 0], [0, 1]]))
    assert not kernel_is_irreducible(sp.Matrix([[1, 0], [sp.Rational(1, 2), sp.Rational(1, 2)]]))
    assert kernel_is_irreducible(sp.Matrix([[0, 1], [1, 0]]))


def test_huge_inputs_refused_fast(runner, monkeypatch):
    """Within the parser's limits, but past the digit budget: refused before any exact work (counted:
    neither claim's evaluation is entered), naming why."""
    from icl_proofs.claims import registry

    entered = []
    for cid in ("ding25.enlarged-min", "zfb23.global-min"):
        cls = type(registry.get(cid))
        monkeypatch.setattr(cls, "quantities", lambda self, *a, _id=cid, **k: entered.append(_id))
    p400 = "1/" + "3" * 398
    r = runner.invoke(cli, ["eval", "ding25.enlarged-min", "-p", "d=4", "-p", f"p={p400}"])
    assert "digits" in _one_error_line(r)
    rows = [[f'"{1234567891 + i + j}/{1987654321 + i * j}"' for j in range(64)] for i in range(64)]
    text = "[" + ",".join("[" + ",".join(r_) + "]" for r_ in rows) + "]"
    r = runner.invoke(cli, ["eval", "zfb23.global-min", "-p", f"Lambda={text}", "-p", "N=3"])
    assert "digits" in _one_error_line(r)
    assert entered == []


def test_flint_matrix_function_equals_sympy_route():
    """Two routes for f(Λ) = num(Λ) den(Λ)⁻¹: FLINT's exact solve and SymPy's exact inverse."""
    import numpy as np

    from icl_proofs.moments.spectral import lam
    from icl_proofs.numeric.exact_linalg import rational_function_at

    rng = np.random.default_rng(7)
    for n in (1, 3, 5):
        B = sp.Matrix(n, n, [sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 9))) for _ in range(n * n)])
        L = B * B.T + sp.eye(n)
        num, den = sp.Poly(3 * lam ** 2 - lam / 7 + 2, lam), sp.Poly(lam ** 2 + sp.Rational(5, 3), lam)
        via_sympy = (3 * L ** 2 - L / 7 + 2 * sp.eye(n)) * (L ** 2 + sp.Rational(5, 3) * sp.eye(n)).inv()
        assert rational_function_at(num, den, L) == via_sympy
    # not rational: left to SymPy
    assert rational_function_at(sp.Poly(lam + sp.Symbol("N"), lam), sp.Poly(lam, lam), sp.eye(2)) is None


# --------------------------------------------------------------------------- the derivation cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("ICL_PROOFS_CACHE_DIR", str(d))
    monkeypatch.setenv("ICL_PROOFS_CACHE", "1")
    return d


def _derivation():
    x, n = sp.symbols("x n", positive=True)
    calls = []

    @cache.disk_cached("hardening-test")
    def derive():
        calls.append(1)
        return {"f": sp.Rational(3, 7) * x ** 2 / (n + 1), "M": sp.Matrix([[1, x], [x, 2]]), "k": (1, "a")}

    return derive, calls


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['ICL_PROOFS_CACHE_DIR']}/pwned",))


def test_cache_round_trip_and_planted_files_run_no_code(cache_dir):
    derive, calls = _derivation()
    first = derive()
    path = cache._entry_path("hardening-test")
    assert path.exists() and path.suffix == ".json" and calls == [1]
    derive.cache_clear()
    assert derive() == first and calls == [1]  # read back, not recomputed
    # a planted pickle (the old format) and a planted entry with a node that is not ours
    path.with_suffix(".pkl").write_bytes(pickle.dumps(_Boom()))
    doc = json.loads(path.read_text())
    doc["payload"] = {"t": "eval", "v": "__import__('os').system('touch pwned')"}
    doc["sha256"] = __import__("hashlib").sha256(cache._canonical(doc["payload"])).hexdigest()
    path.write_text(json.dumps(doc))
    derive.cache_clear()
    assert derive() == first and calls == [1, 1]  # recomputed
    assert not (cache_dir / "pwned").exists() and not Path("pwned").exists()


def test_tampered_number_is_detected_and_recomputed(cache_dir):
    """One number changed in a valid entry (the attack that made zfb23.global-min refute seven
    checks): the content hash no longer matches, the derivation is recomputed, the verdict stands."""
    from icl_proofs.claims import registry
    from icl_proofs.claims.base import CheckContext
    from icl_proofs.claims.zfb23 import derive as derivations

    derivations.global_min.cache_clear()
    true = derivations.global_min()
    path = cache._entry_path("zfb23-global-min")
    raw = path.read_text()
    doc = json.loads(raw)

    def bump(node):  # change the first nonzero rational in the tree
        if isinstance(node, dict):
            if node.get("t") == "Q" and node["p"] not in ("0",):
                node["p"] = str(int(node["p"]) + 1)
                return True
            return any(bump(v) for v in node.values())
        if isinstance(node, list):
            return any(bump(v) for v in node)
        return False

    assert bump(doc["payload"])
    path.write_text(json.dumps(doc))
    derivations.global_min.cache_clear()
    assert derivations.global_min() == true
    claim = registry.get("zfb23.global-min")
    assert claim._sym_minimiser(CheckContext()).status is Status.HOLDS
    derivations.global_min.cache_clear()


def test_cache_temp_file_never_follows_a_planted_symlink(cache_dir, tmp_path):
    derive, _ = _derivation()
    cache_dir.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    entry = cache._entry_path("hardening-test")
    entry.with_suffix(".tmp").symlink_to(victim)  # the old fixed temporary name
    derive()
    assert victim.read_text() == "precious"
    # a symlinked entry is neither read nor written through
    entry.unlink()
    entry.symlink_to(victim)
    derive.cache_clear()
    derive()
    assert victim.read_text() == "precious"


def test_group_writable_entry_is_not_trusted(cache_dir):
    derive, calls = _derivation()
    derive()
    os.chmod(cache._entry_path("hardening-test"), 0o666)
    derive.cache_clear()
    derive()
    assert calls == [1, 1]


# --------------------------------------------------------------------------- Hypothesis files


def test_no_hypothesis_directory_in_the_working_directory(tmp_path):
    """A fresh process, as a user runs it: Hypothesis's files go under the cache directory."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    env["ICL_PROOFS_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    work = tmp_path / "work"
    work.mkdir()
    # a claim whose quick checks include a Hypothesis sweep (as in the report)
    r = subprocess.run([sys.executable, "-m", "icl_proofs.cli", "verify", "zfb23.gaussian-moments", "--quick",
                        "--quiet", "--workers", "1"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert list(work.iterdir()) == []


def test_flint_trace_atoms_equal_sympy_products():
    """Two routes for trace and path atoms at rational matrices: FLINT products and SymPy's."""
    import numpy as np

    from icl_proofs.moments import traces
    from icl_proofs.numeric.exact_linalg import trace_atoms_exact

    L, A, P = traces.Letter("Lambda", sym=True), traces.Letter("A"), traces.Letter("P", sym=True)
    atoms = [traces.trace_symbol((A, L, A.T, P)), traces.trace_symbol((L, P, L)),
             traces.path_symbol("a", (L, A, P), "b"), traces.path_symbol("a", (), "b")]
    rng = np.random.default_rng(3)

    def rat(r, c):
        return sp.Matrix(r, c, [sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 7))) for _ in range(r * c)])

    for n in (1, 2, 4):
        env = {"Lambda": rat(n, n), "A": rat(n, n), "P": rat(n, n), "a": rat(n, 1), "b": rat(n, 1)}
        fast = trace_atoms_exact(atoms, env)
        assert fast == {s: sp.sympify(traces.eval_atom(s, env, n)) for s in atoms}
    env["A"] = sp.Matrix(n, n, lambda i, j: sp.Symbol("x"))  # not rational: left to SymPy
    assert trace_atoms_exact(atoms, env) is None


def test_flint_trace_of_matrix_function_equals_sympy_trace():
    from icl_proofs.moments.spectral import lam
    from icl_proofs.numeric.exact_linalg import rational_function_at

    L = sp.Matrix([[3, 1, 0], [1, 2, sp.Rational(1, 2)], [0, sp.Rational(1, 2), 4]])
    for num in (sp.Poly(sp.Rational(2, 3), lam), sp.Poly(lam ** 2 - 5, lam)):
        den = sp.Poly(2 * lam + 7, lam)
        via_sympy = (num.as_expr().subs(lam, 0) * sp.eye(3) if num.degree() == 0 else L ** 2 - 5 * sp.eye(3)) \
            * (2 * L + 7 * sp.eye(3)).inv()
        assert rational_function_at(num, den, L, trace_only=True) == via_sympy.trace()


def test_flint_powers_and_products_in_the_denominator():
    from icl_proofs.moments.spectral import lam
    from icl_proofs.numeric.exact_linalg import rational_function_at

    L = sp.Matrix([[3, 1, 0], [1, 2, sp.Rational(1, 2)], [0, sp.Rational(1, 2), 4]])
    I3 = sp.eye(3)
    den = sp.Poly(3 * (2 * lam + 7) ** 2 * (lam + 1), lam)
    den_at = 3 * (2 * L + 7 * I3) ** 2 * (L + I3)
    for num, num_at in ((sp.Poly(lam ** 3 - lam, lam), L ** 3 - L), (sp.Poly(5, lam), 5 * I3)):
        via_sympy = num_at * den_at.inv()
        assert rational_function_at(num, den, L) == via_sympy
        assert rational_function_at(num, den, L, trace_only=True) == via_sympy.trace()
