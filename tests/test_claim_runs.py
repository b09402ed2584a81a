"""Whole claims side by side (icl_proofs.parallel.claim_runs): the same results and the same
callbacks, in the same order, as one claim after the other.

Routes: ``run_claims`` with one worker (claims in this process, one after the other: the reference)
against ``run_claims`` with the pool forced (``placement="pool"``: the worker is started at once,
no gate), on claims whose checks draw from their own random stream; real claims too.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from icl_proofs.claims.base import Check, CheckContext, Claim
from icl_proofs.claims.checks import holds
from icl_proofs.parallel import claim_runs, current, executors, shutdown_all, using
from icl_proofs.runner import run_claims


def _draw(ctx):
    """A check whose numbers come from its stream; it records where and how it ran."""
    x = ctx.rng("draw").standard_normal(5)
    return holds("draw", "numeric", f"sum {x.sum():.17g}", values=[float(v) for v in x],
                 workers=current().local_workers, pid=os.getpid())


def _slow(ctx):
    time.sleep(0.3)  # long enough that the other claims finish first, out of order
    return holds("slow", "numeric", f"u = {ctx.rng().random():.17g}", pid=os.getpid())


class Alpha(Claim):
    id = "sbs.alpha"

    def checks(self):
        return [Check("draw", "numeric", _draw), Check("slow", "numeric", _slow)]


class Beta(Claim):
    id = "sbs.beta"

    def checks(self):
        return [Check("draw", "numeric", _draw)]


class Gamma(Claim):
    id = "sbs.gamma"

    def checks(self):
        return [Check("draw", "numeric", _draw), Check("crash", "numeric", lambda ctx: 1 / 0)]


def _unpicklable_result(ctx):
    r = holds("lock", "numeric", "holds a lock in its details", pid=os.getpid())
    import threading

    r.details["lock"] = threading.Lock()  # cannot travel back from a worker: runs here instead
    return r


class Delta(Claim):
    id = "sbs.delta"

    def checks(self):
        return [Check("lock", "numeric", _unpicklable_result)]


TIMING = re.compile(r"\(\d+(\.\d+)?s\)")
WHERE = ("seconds", "pid", "traceback", "wall_time", "cpu_time", "lock")


def _strip(o):
    """Results without what says when or where they ran."""
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if k not in WHERE}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    if isinstance(o, str):
        return TIMING.sub("(…s)", o)
    return o


def _run(claims, ctx, **execution):
    events = []
    if execution.get("workers", 1) > 1:  # the worker up before the claims start: some go to it
        executors.warm_pool(execution["workers"] - 1).wait_ready(120)
    with using(**execution):
        out = run_claims(claims, ctx, parallel=execution.get("workers", 1) > 1 or None,
                         on_start=lambda c, k, i, n: events.append(("start", c.id, k.name, i, n)),
                         on_check=lambda c, r: events.append(("check", c.id, r.name, r.status.value,
                                                              _strip(r.to_json()))),
                         on_result=lambda r: events.append(("result", r["claim"], _strip(r))))
    return out, events


@pytest.fixture
def fresh_costs(tmp_path, monkeypatch):
    monkeypatch.setenv("ICL_PROOFS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ICL_PROOFS_CACHE", raising=False)
    return tmp_path


def test_side_by_side_gives_the_sequential_results_and_callbacks_in_order(fresh_costs):
    """Reference: one worker.  Before: run_claims had no side-by-side mode (TypeError on
    ``parallel``), and every claim ran in this process."""
    local = type("Local", (Claim,), {"id": "sbs.local",  # defined here: travels by value
                                     "checks": lambda self: [Check("draw", "numeric", _draw)]})

    class Epsilon(Beta):
        id = "sbs.epsilon"
        lock = threading.Lock()  # cannot travel at all: runs here

    claims = [Alpha(), Beta(), Gamma(), Delta(), local(), Epsilon()]
    ctx = CheckContext(quick=True, seed=7)
    ref, ref_events = _run(claims, ctx, workers=1)
    try:
        out, events = _run(claims, ctx, workers=2, placement="pool")
    finally:
        shutdown_all()
    assert _strip(out) == _strip(ref)
    assert events == ref_events  # same calls, same order, same content
    assert [r["claim"] for r in out] == [c.id for c in claims]
    run = claim_runs.run_side_by_side.last
    assert run.ran_in_pool  # some claim really ran in the worker
    pids = {r["claim"]: {c["details"].get("pid") for c in r["checks"]} for r in out}
    assert any(os.getpid() not in p for p in pids.values())
    assert os.getpid() in pids["sbs.epsilon"] and os.getpid() in pids["sbs.delta"]
    # nested parallelism: wherever a claim ran, its Monte Carlo ran in its own process
    assert all(c["details"]["workers"] == 1 for r in out for c in r["checks"] if c["name"] == "draw")


def test_real_claims_side_by_side_match_one_worker(fresh_costs):
    """Two quick real claims (symbolic, exact, Hypothesis and Monte-Carlo routes): one worker vs the
    pool forced, JSON identical apart from timings."""
    from icl_proofs.claims import registry

    claims = registry.select(["zfb23.query-shift", "zfb23.gaussian-moments", "mhm23.isotropic-one-step-gd"])
    ctx = CheckContext(quick=True)
    ref, ref_events = _run(claims, ctx, workers=1)
    # this process takes the longest, the worker the next: mhm23, whose least-squares fit differs in
    # its last bits under one BLAS thread (before the worker took the caller's BLAS threads: z
    # 3.7049044240686535 vs ...824)
    claim_runs.save_costs(True, {"zfb23.query-shift": 3.0, "mhm23.isotropic-one-step-gd": 2.0,
                                 "zfb23.gaussian-moments": 1.0})
    try:
        out, events = _run(claims, ctx, workers=2, placement="pool")
    finally:
        shutdown_all()
    assert "mhm23.isotropic-one-step-gd" in claim_runs.run_side_by_side.last.ran_in_pool
    a, b = (json.dumps(_strip(x), sort_keys=True, default=str, indent=1).splitlines() for x in (ref, out))
    assert a == b, "\n".join(difflib.unified_diff(a, b, lineterm=""))
    assert events == ref_events


def test_costs_are_remembered_and_order_the_next_run(fresh_costs):
    claims = [Beta(), Alpha()]
    with using(workers=1):
        run_claims(claims, CheckContext(quick=True))
    costs = claim_runs.load_costs(quick=True)
    assert set(costs) == {"sbs.alpha", "sbs.beta"} and costs["sbs.alpha"] >= 0.3
    assert claim_runs.load_costs(quick=False) == {}
    expected = claim_runs.expected_seconds([Beta(), Alpha(), Gamma()], costs)
    assert expected[1] == costs["sbs.alpha"]
    assert expected[2] == pytest.approx((costs["sbs.alpha"] + costs["sbs.beta"]) / 2)  # never timed
    doc = json.loads((fresh_costs / claim_runs.COST_FILE).read_text())
    assert doc["format"] == claim_runs.COST_FORMAT  # plain JSON, no pickle
    run = claim_runs._SideBySide([Beta(), Alpha(), Gamma()], [[], [], []], CheckContext(), expected,
                                 None, None, None, 0, "auto", [])
    assert run.queue[0] == 1  # the longest expected claim is taken first


def test_a_broken_or_disabled_cost_table_is_ignored(fresh_costs, monkeypatch):
    (fresh_costs / claim_runs.COST_FILE).write_text("{not json")
    assert claim_runs.load_costs(True) == {}
    claim_runs.save_costs(True, {"a.b": 1.5})
    assert claim_runs.load_costs(True) == {"a.b": 1.5}
    monkeypatch.setenv("ICL_PROOFS_CACHE", "0")
    (fresh_costs / claim_runs.COST_FILE).unlink()
    claim_runs.save_costs(True, {"a.b": 1.5})
    assert not (fresh_costs / claim_runs.COST_FILE).exists() and claim_runs.load_costs(True) == {}


@pytest.mark.parametrize("workers, n, seconds, parallel, expect", [
    (1, 5, 10.0, None, False),  # one worker: never
    (2, 1, 10.0, None, False),  # one claim: nothing to run beside it
    (2, 5, 0.3, None, False),  # too little work to pay for a worker
    (2, 5, 10.0, None, True),
    (2, 5, 10.0, False, False),
    (2, 2, 0.1, True, True),
])
def test_when_claims_may_run_side_by_side(workers, n, seconds, parallel, expect):
    claims = [Beta()] * n
    with using(workers=workers):
        assert claim_runs.should_run_side_by_side(claims, [seconds / n] * n, parallel=parallel) is expect


CTRL_C_SCRIPT = """
import sys, time
from icl_proofs.claims.base import Check, CheckContext, Claim
from icl_proofs.claims.checks import holds
from icl_proofs.parallel import lifecycle, using
from icl_proofs.runner import run_claims

def nap(ctx):
    time.sleep(1.0)
    return holds("nap", "numeric", "slept")

class Nap(Claim):
    def __init__(self, i):
        self.id = f"nap.{i}"
    def checks(self):
        return [Check("nap", "numeric", nap)]

lifecycle.handle_sigterm()
try:
    with using(workers=2, placement="pool"):
        run_claims([Nap(i) for i in range(40)], CheckContext(), parallel=True,
                   on_result=lambda r: print(r["claim"], flush=True))
except KeyboardInterrupt:
    print("script: interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and /proc")
def test_ctrl_c_stops_claims_side_by_side(tmp_path, fresh_costs):
    """Ctrl-C (SIGINT to the process group) while claims run here and in a worker: exit 130, one
    line, the worker gone at once (not left running its claim)."""
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "run.py"
    script.write_text(CTRL_C_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(3):  # three claims released: the worker is up and busy
            assert p.stdout.readline().startswith(b"nap."), p.stderr.read() if p.poll() is not None else ""
        kids = psutil.Process(p.pid).children(recursive=True)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130
    assert [ln for ln in err.decode().splitlines() if ln.strip()] == ["script: interrupted"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids):
        time.sleep(0.1)
    assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids)


@pytest.mark.parametrize("load, share_min, warms", [
    (0.9, 0.0, True),  # this process alone on the machine
    (2.5, 0.0, False),  # the load average leaves no core (before: warmed on the share alone)
    (0.9, 1.5, False),  # this process got less than the share asked (over the whole run so far)
])
def test_the_gate_warms_only_with_a_core_to_spare(monkeypatch, load, share_min, warms):
    from icl_proofs.parallel import routing

    monkeypatch.setattr(routing, "SHARE_MIN", share_min)  # the share, measured, is tested by the router
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(claim_runs.settings, "cpu_count", lambda: 2)
    fired = []
    gate = claim_runs._Gate(lambda: fired.append(1), lambda: 100.0, immediately=False)
    try:
        time.sleep(claim_runs.GATE_S + 0.05)
        gate.check()
    finally:
        gate.close()
    assert bool(fired) is warms and gate.warmed is warms
