"""Parallel only when it pays (issue 17): the router's decisions, with counted work.

Routes: the decision rule on made-up measurements (no processes, no clock), then the engine on
jobs whose shards record where they ran (this process or a worker), compared bit for bit with the
hand-written sequential definition of the estimate.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from icl_proofs.numeric import montecarlo as mc
from icl_proofs.parallel import executors, routing, using
from icl_proofs.parallel.routing import Router, Workload, pays


def _router(n_tasks, ready=False, remaining=None):
    calls = {"warm": 0}
    state = {"ready": ready}

    def warm():
        calls["warm"] += 1

    r = Router(2, Workload(remaining=remaining) if remaining else None, n_tasks,
               pool_ready=lambda: state["ready"], warm=warm)
    return r, calls, state


def test_pays_needs_enough_work_and_tasks():
    assert not pays(routing.HAND_OVER_MIN_S / 2, 100, 2)  # too little work left
    assert not pays(10.0, 1, 2)  # one task: the pool cannot split it
    assert not pays(10.0, 100, 1)  # one worker
    assert pays(1.0, 100, 2)  # half the time plus overhead
    assert pays(3.0, 3, 2)  # three tasks on two workers: two rounds, 2/3 of the time
    assert not pays(3.0, 2 * 10**6, 2)  # two million tiny tasks: the per-task overhead dominates


def test_small_job_never_starts_the_pool():
    """Ten tasks of 10 ms: 0.1 s in all, below the warm-up threshold: no pool, no hand-over."""
    r, calls, _ = _router(10)
    for _ in range(10):
        assert not r.hand_over()
        r.ran(None, 0.010)
    assert calls["warm"] == 0


def test_large_job_warms_then_hands_over_once_ready():
    """100 tasks of 50 ms: the first measurement shows ~5 s of work: warm at once, keep computing
    in process until the pool is ready, then hand over."""
    r, calls, state = _router(100)
    r.ran(None, 0.05)
    assert calls["warm"] == 1
    for _ in range(5):
        assert not r.hand_over()  # pool still starting
        r.ran(None, 0.05)
    state["ready"] = True
    assert r.hand_over()
    assert calls["warm"] == 1


def test_a_warm_pool_is_used_below_the_warm_up_threshold():
    """A pool warmed by an earlier job takes over 0.5 s of remaining work, not 0.1 s."""
    r, calls, _ = _router(11, ready=True)
    r.ran(None, 0.05)  # 10 tasks x 50 ms left
    assert r.hand_over() and calls["warm"] == 0
    r, _, _ = _router(11, ready=True)
    r.ran(None, 0.01)  # 10 x 10 ms
    assert not r.hand_over()


def test_forecast_from_the_caller_replaces_the_task_count():
    """A run to a target se forecasts its remaining samples; a forecast of zero work never warms."""
    r, calls, _ = _router(10**6, remaining=lambda: 0.0)
    r.ran(None, 0.05)
    assert calls["warm"] == 0 and not r.hand_over()


def test_no_pool_without_a_spare_core():
    """Tasks that got a third of a core (a machine with no idle core) never warm the pool nor hand
    over to a warm one: more processes would share the same CPU, plus the pool's overhead."""
    r, calls, state = _router(100)
    r.ran(None, 0.05, 0.05 / 3)
    assert calls["warm"] == 0
    state["ready"] = True
    assert not r.hand_over()
    r.ran(None, 0.05, 0.05)  # a core again (share 2/3 over both tasks): still not
    assert not r.hand_over()
    for _ in range(10):
        r.ran(None, 0.05, 0.05)
    assert r.share() >= routing.SHARE_MIN and r.hand_over() and calls["warm"] == 1


def test_a_long_first_task_starts_the_warm_up_meanwhile(monkeypatch):
    """The timer checks the CPU share of the running task too: sleeping "work" gets none, so the
    gate is lifted here (the gate has its own test above)."""
    monkeypatch.setattr(routing, "SHARE_MIN", 0.0)
    monkeypatch.setattr(routing, "WARM_AFTER_S", 0.05)
    r, calls, _ = _router(4)
    r.starting()
    time.sleep(1.0)  # the timer fires after 0.05 s of this "task"
    r.ran(None, 1.0)
    assert calls["warm"] == 1
    r, calls, _ = _router(1)  # no task follows: nothing to warm for
    r.starting()
    time.sleep(0.3)
    r.close()
    assert calls["warm"] == 0


# ------------------------------------------------------------------------------ the engine
def _reference(sample_batch, n, seed, batch):
    acc = mc.RunningMoments()
    for j, child in enumerate(np.random.SeedSequence(seed).spawn(-(-n // batch))):
        acc.update(sample_batch(np.random.default_rng(child), min(batch, n - j * batch)))
    return acc.estimate()


@pytest.fixture
def sleeping_work_counts(monkeypatch):
    """The engine tests below model work by sleeping (counted, load-independent), which uses no
    CPU: the spare-core gate, tested above with counted numbers, is lifted for them."""
    monkeypatch.setattr(routing, "SHARE_MIN", 0.0)


def _recording(folder, seconds):
    """A sampler that leaves one file per shard named after the process that ran it."""
    def f(rng, k):
        time.sleep(seconds)
        x = rng.standard_normal(k)
        (folder / f"{os.getpid()}-{x[0]!r}").touch()
        return x

    return f


def _where(folder):
    pids = [int(p.name.split("-")[0]) for p in folder.iterdir()]
    return sum(p == os.getpid() for p in pids), sum(p != os.getpid() for p in pids)


def test_small_estimate_runs_in_process_without_a_pool(tmp_path, monkeypatch):
    """The issue's case: a small estimate with the default settings.  Before: every shard went to
    the pool (started for it).  Now: all shards here, and no pool is even warmed."""
    warmed = []
    monkeypatch.setattr(executors, "warm_pool", lambda w: warmed.append(w))
    monkeypatch.setattr(executors, "ready_pool", lambda w: None)
    f = _recording(tmp_path, 0.0)
    with using(workers=2):
        est = mc.estimate(f, 8 * 2048, seed=4, batch=2048)
    assert _where(tmp_path) == (8, 0) and warmed == []
    assert est == _reference(f, 8 * 2048, 4, 2048)


def test_large_job_warms_the_pool_in_the_background(tmp_path, monkeypatch, sleeping_work_counts):
    """Cold: 20 shards of 100 ms (2 s) start the pool's warm-up after the first shard, while the
    shards go on here (how many run here before the pool is up depends on the machine's load)."""
    executors.shutdown_all()
    warmed = []
    real = executors.warm_pool
    monkeypatch.setattr(executors, "warm_pool", lambda w: warmed.append(w) or real(w))
    f = _recording(tmp_path, 0.1)
    with using(workers=2):
        est = mc.estimate(f, 20 * 500, seed=9, batch=500)
    here, pool = _where(tmp_path)
    assert warmed == [1] and here >= 1 and here + pool == 20  # one worker beside this process
    assert est == _reference(f, 20 * 500, 9, 500)


def test_large_job_moves_to_a_warm_pool_with_the_same_numbers(tmp_path, sleeping_work_counts):
    """Warm: 60 shards of 40 ms (2.4 s): the first shard runs here, the rest go to the pool; the
    estimate is bit for bit the sequential one."""
    assert executors.warm_pool(1).wait_ready(120)  # workers=2: this process and one pool worker
    f = _recording(tmp_path, 0.04)
    with using(workers=2):
        est = mc.estimate(f, 60 * 500, seed=9, batch=500)
    here, pool = _where(tmp_path)
    assert here >= 1 and pool >= 1 and here + pool == 60
    assert est == _reference(f, 60 * 500, 9, 500)


def test_this_process_keeps_computing_beside_the_pool(tmp_path, sleeping_work_counts):
    """After the hand-over this process is one of the workers: 60 shards of 40 ms split between it
    and the one pool worker.  Before: it only waited (1 shard here, 59 on a pool of 2 workers)."""
    assert executors.warm_pool(1).wait_ready(120)
    f = _recording(tmp_path, 0.04)
    with using(workers=2):
        est = mc.estimate(f, 60 * 500, seed=9, batch=500)
    here, pool = _where(tmp_path)
    assert here >= 10 and pool >= 10 and here + pool == 60
    assert executors.ready_pool(2) is None  # no second, larger pool was started
    assert est == _reference(f, 60 * 500, 9, 500)


def test_a_worker_dying_beside_this_process_loses_no_shard(tmp_path, sleeping_work_counts):
    """Fault route, with this process computing beside the pool: the worker exits during a shard;
    its shards are run again with the same seeds, and the estimate is the sequential one."""
    main, marker = os.getpid(), str(tmp_path / "died")

    def f(rng, k):
        time.sleep(0.02)
        if os.getpid() != main and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(13)  # the worker vanishes mid-run
        return rng.standard_normal(k)

    assert executors.warm_pool(1).wait_ready(120)
    with using(workers=2):
        est = mc.estimate(f, 60 * 500, seed=9, batch=500)
    assert os.path.exists(marker)
    assert est == _reference(lambda rng, k: rng.standard_normal(k), 60 * 500, 9, 500)


def test_dd25_runs_are_routed_with_the_same_numbers():
    """The other user of the engine: dd25 simulation runs (a task each), routed vs in process."""
    from icl_proofs.claims.dd25 import sim as dd25_sim

    cfg = dd25_sim.fig2_config(8, "task")
    with using(workers=1):
        a = dd25_sim.simulate(cfg, 3, seed=4)
    with using(workers=2):
        b = dd25_sim.simulate(cfg, 3, seed=4)
    for m in a.per_run:
        np.testing.assert_array_equal(a.per_run[m], b.per_run[m])


@pytest.fixture(autouse=True)
def _no_stray_pools():
    yield
    executors.shutdown_all()
