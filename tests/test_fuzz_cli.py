"""Fuzzing the command in-process (issue 15): random parameter strings, matrices, flags and
malformed results files.  Whatever the input, the outcome is exit 0, 1 or 3, or exit 2 with exactly
one ``icl-proofs: error:`` line; never a traceback; each run within a work budget (counted, not timed:
each check and the evaluation run at most once, at no more than the CLI's largest precision); and
nothing is written anywhere but the paths named on the command line."""
from __future__ import annotations

import collections
import contextlib
import json
import os
import tempfile
from pathlib import Path

import mpmath
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icl_proofs.claims import registry
from icl_proofs.claims.base import Check, CheckResult, Claim, Param, Status, UserInputError
from icl_proofs.cli import MAX_DPS, cli

#: the work one fuzzed command did on the dummy claims: runs of each check ("check:<claim>:<name>"),
#: evaluations ("quantities") and the largest mpmath precision an evaluation ran at ("dps")
WORK: collections.Counter = collections.Counter()
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _check(name, status, claim_id):
    def run(ctx):
        WORK[f"check:{claim_id}:{name}"] += 1
        return CheckResult(name=name, route="exact-rational", status=status, evidence=f"{name}: {status.value}")

    return Check(name=name, route="exact-rational", run=run)


class FuzzClaim(Claim):
    id = "fz.claim"
    statement = "a claim for fuzzing"
    params = (Param("n", "int", "a count", default="3", minimum=1, maximum=100),
              Param("x", "number", "a non-negative number", default="1/2", minimum=0),
              Param("S", "spd", "an SPD matrix", default="[[2,1],[1,3]]"),
              Param("flag", "bool", "a flag", default=False))

    def validate(self, values):
        if values["S"].shape[0] > 3:
            raise UserInputError("parameter S: at most 3x3 here")
        return values

    def quantities(self, values, dps=30):
        WORK["quantities"] += 1
        WORK["dps"] = max(WORK["dps"], dps)
        with mpmath.workdps(dps):
            return {"v": mpmath.mpf(values["x"].p) / values["x"].q * int(values["n"]),
                    "S": mpmath.matrix(values["S"].tolist())}

    def checks(self):
        return [_check("a", Status.HOLDS, self.id), _check("b", Status.HOLDS, self.id)]


class FuzzRefuted(Claim):
    id = "fz.refuted"
    statement = "a refuted claim"

    def checks(self):
        return [_check("r", Status.REFUTED, self.id), _check("i", Status.INCONCLUSIVE, self.id)]


@pytest.fixture(autouse=True)
def _claims(register_claim):
    register_claim(FuzzClaim)
    register_claim(FuzzRefuted)


@contextlib.contextmanager
def _sandbox():
    """A fresh working directory (and cache directory) whose every file is accounted for."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="icl-fuzz-") as d:
        os.chdir(d)
        try:
            yield Path(d)
        finally:
            os.chdir(old)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _run(args, root: Path, named=(), stdin=None):
    env = {"ICL_PROOFS_CACHE_DIR": str(root / "cache"), "ICL_PROOFS_CACHE": "1"}
    before = _files(root)
    WORK.clear()
    r = CliRunner().invoke(cli, args, env=env, input=stdin)
    runs = {k: v for k, v in WORK.items() if k != "dps"}
    assert all(v <= 1 for v in runs.values()) and WORK["dps"] <= MAX_DPS, (args, dict(WORK))
    assert r.exit_code in (0, 1, 2, 3), (args, r.exit_code, r.output, r.exception)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{args}: {type(r.exception).__name__}: {r.exception}\n{r.output}")
    if r.exit_code == 2:
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("icl-proofs: error: "), (args, r.stderr)
    assert "Traceback" not in r.output, (args, r.output)
    new = {f for f in _files(root) - before if not f.startswith("cache")}
    allowed = set()
    for n in named:
        allowed |= {str(Path(n))} | {str(q.relative_to(root)) for q in (root / n).rglob("*")} if (root / n).is_dir() \
            else {str(Path(n))}
    assert new <= allowed, (args, new - allowed)
    return r


_NUMBERISH = st.text(alphabet="0123456789-+./eE", max_size=12)
_JUNK = st.text(alphabet='0123456789-+./eE[]," abtrufalsNIx\\', max_size=30)


@st.composite
def _matrices(draw):
    n = draw(st.integers(0, 4))
    m = draw(st.integers(0, 4))
    entry = st.one_of(st.integers(-5, 5).map(str), _NUMBERISH.map(json.dumps),
                      st.sampled_from(["null", "true", "[1]", "1e999", "NaN", '"1/0"']))
    rows = [[draw(entry) for _ in range(m)] for _ in range(n)]
    return "[" + ",".join("[" + ",".join(r) + "]" for r in rows) + "]"


_VALUES = st.one_of(_NUMBERISH, _JUNK, _matrices(), st.sampled_from(["true", "false", "", "1/3", "0", "-1"]))
_ASSIGNMENTS = st.lists(st.tuples(st.sampled_from(["n", "x", "S", "flag", "bogus", ""]), _VALUES)
                        .map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=4)


@FUZZ
@given(assignments=_ASSIGNMENTS, dps=st.one_of(st.integers(-3, 5000).map(str), _NUMBERISH))
def test_fuzz_eval_parameters(assignments, dps):
    with _sandbox() as root:
        args = ["eval", "fz.claim", "--dps", dps]
        for a in assignments:
            args += ["-p", a]
        _run(args, root)


_FLAGS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["--dps", "--seed", "--alpha", "--workers", "--family-alpha"]),
              st.one_of(st.integers(-2, 10 ** 4).map(str), _NUMBERISH)),
    st.sampled_from([("--quick",), ("--quiet",), ("--progress",), ("--resume",), ("--overwrite",),
                     ("--json", "-"), ("--json", "out.json"), ("--json", "."), ("--json", "/dev/null"),
                     ("--json", "nodir/out.json"), ("--controls",), ("--backend", "nope")])),
    max_size=4)


@FUZZ
# at least one pattern: with none, verify runs every registered claim (the built-in ones too, when an
# earlier test in the session loaded them)
@given(flags=_FLAGS, claims=st.lists(st.sampled_from(["fz.claim", "fz.refuted", "fz", "nothing"]),
                                     min_size=1, max_size=2))
def test_fuzz_verify_flags(flags, claims):
    with _sandbox() as root:
        args = ["verify", *claims] + [x for f in flags for x in f]
        _run(args, root, named=["out.json"])


def _valid_doc():
    return {"format": "icl-proofs/verify-results", "format_version": 1, "complete": True,
            "meta": {"seed": 0, "quick": False, "dps": 30, "alpha": 0.001, "package_version": None,
                     "claims": ["fz.claim"], "resumed": []},
            "results": [{"claim": "fz.claim", "status": "holds", "witness": None, "seconds": 0.1,
                         "checks": [{"name": "a", "route": "exact", "status": "holds", "evidence": "ok",
                                     "details": {}, "witness": None, "seconds": 0.0}]}],
            "partial": None}


_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                               st.sampled_from(["holds", "refuted", "bogus", "running", ""])),
                     lambda kids: st.one_of(st.lists(kids, max_size=3),
                                            st.dictionaries(st.sampled_from(["claim", "status", "checks", "name"]),
                                                            kids, max_size=3)), max_leaves=8)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


@st.composite
def _malformed(draw):
    doc = _valid_doc()
    paths = [p for p in _paths(doc) if p]
    # the fields the attacks broke come first (Hypothesis tries early choices more often)
    key = [("results", 0, "checks"), ("results", 0, "status"), ("results", 0, "checks", 0),
           ("results", 0, "checks", 0, "status"), ("partial",), ("meta", "claims"), ("results", 0)]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.one_of(st.sampled_from(key), st.sampled_from(paths)))
        target = doc
        try:
            for k in path[:-1]:
                target = target[k]
            target[path[-1]] = draw(_JSON)
        except (KeyError, IndexError, TypeError):
            pass
    text = json.dumps(doc)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] if draw(st.booleans()) else text
    return text


@FUZZ
@given(text=_malformed(), how=st.sampled_from(["report", "resume", "resume-family", "stdin"]))
def test_fuzz_malformed_results_files(text, how):
    with _sandbox() as root:
        (root / "r.json").write_text(text)
        if how == "report":
            _run(["report", "fz.claim", "--out", "rep", "--from", "r.json", "--no-pdf", "--no-figures", "-q"],
                 root, named=["rep"])
        elif how == "stdin":
            _run(["report", "--out", "rep", "--from", "-", "--no-pdf", "--no-figures", "-q"], root,
                 named=["rep"], stdin=text)
        else:
            extra = ["--family-alpha", "0.01"] if how == "resume-family" else []
            _run(["verify", "fz.claim", "--json", "r.json", "--resume", "--quiet", *extra], root, named=["r.json"])


@settings(max_examples=15, deadline=None, database=None)
@given(lam=st.lists(st.integers(1, 9), min_size=1, max_size=3), n=st.integers(-1, 50),
       s2=st.sampled_from(["0", "1/3", "-1", "2.5", "x"]))
def test_fuzz_real_claim_parameters(lam, n, s2):
    """The built-in zfb23 task-shift claim with small random diagonal Λ, Ψ, N, M and noise s²."""
    registry._LOADED = False  # the built-in claims too
    diag = "[" + ",".join("[" + ",".join(str(v if i == j else 0) for j in range(len(lam))) + "]"
                          for i, v in enumerate(lam)) + "]"
    with _sandbox() as root:
        _run(["eval", "zfb23.task-shift", "-p", f"Lambda={diag}", "-p", f"Psi={diag}", "-p", f"N={n}",
              "-p", "M=3", "-p", f"s2={s2}"], root)
