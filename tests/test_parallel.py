"""Sharded execution (icl_proofs.parallel): the same numbers wherever the shards run.

Routes: a sequential reference written out by hand (``SeedSequence.spawn`` + ``RunningMoments``),
the local process pool with 1-3 workers, a Dask ``LocalCluster``, and fault injection (a worker
that exits mid-run).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats

from icl_proofs.claims.base import UserInputError
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.models import samplers
from icl_proofs.parallel import (
    Execution,
    SchedulerError,
    ShardLostError,
    imap_ordered,
    shutdown_all,
    using,
)
from icl_proofs.parallel.executors import local_pool


def _lsa_sampler(d=6, M=12):
    """The zfb23 conditional estimator at P = Gamma^{-1} (the benchmark's estimator, small d)."""
    Lam = np.diag(np.linspace(0.5, 2.0, d))
    Gam = (1 + 1 / M) * Lam + np.trace(Lam) / M * np.eye(d)
    return samplers.conditional_sampler(np.linalg.inv(Gam), Lam, M)


def _sequential_reference(sample_batch, n, seed, batch):
    """The definition of a sharded estimate, written out: shard j draws from spawn j of the seed."""
    n_shards = -(-n // batch)
    acc = mc.RunningMoments()
    for j, child in enumerate(np.random.SeedSequence(seed).spawn(n_shards)):
        acc.update(sample_batch(np.random.default_rng(child), min(batch, n - j * batch)))
    return acc.estimate()


# a closure (not importable by name): workers receive it by value
_SCALE = 3.0
_skewed = lambda rng, k: _SCALE * rng.exponential(size=k) ** 2  # noqa: E731


@pytest.mark.parametrize("workers, placement", [(1, "auto"), (2, "auto"), (2, "pool"), (3, "pool")])
@pytest.mark.parametrize("make", [_lsa_sampler, lambda: _skewed], ids=["zfb23-conditional", "closure"])
def test_estimate_is_identical_for_any_number_of_workers(workers, placement, make):
    """Route: hand-written sequential reference vs the engine with 1, 2, 3 workers, routed or all on
    the pool (bitwise)."""
    f = make()
    ref = _sequential_reference(f, 50_000, seed=11, batch=4096)
    with using(workers=workers, placement=placement):
        est = mc.estimate(f, 50_000, seed=11, batch=4096)
    assert (est.mean, est.se, est.n) == (ref.mean, ref.se, ref.n)


def test_stopping_at_target_se_is_identical_for_any_number_of_workers():
    """Speculative shards past the stopping point are discarded: the prefix decides."""
    out = []
    for w in (1, 2, 3):
        with using(workers=w, placement="pool"):
            out.append(mc.estimate(_skewed, 10, seed=5, batch=500, se_target=0.2, max_n=10**6))
    assert out[0] == out[1] == out[2]
    assert out[0].se <= 0.2 and out[0].n % 500 == 0


def test_seedsequence_argument_advances_like_spawn():
    """A SeedSequence passed in is spawned from: two calls differ, and the counter moves by the
    number of shards used, in a pool exactly as in process."""
    counters = []
    for w in (1, 2):
        ss = np.random.SeedSequence(99)
        with using(workers=w, placement="pool"):
            a = mc.estimate(_skewed, 1000, seed=ss, batch=100)
            b = mc.estimate(_skewed, 1000, seed=ss, batch=100)
        counters.append((ss.n_children_spawned, a, b))
    assert counters[0] == counters[1]
    assert counters[0][0] == 20 and counters[0][1] != counters[0][2]


def test_stopping_rule_coverage_is_nominal():
    """Stopping at a target se (checked at shard boundaries) keeps the CLT interval's coverage.

    400 replicates of a skewed law (Exp(1)^2, mean 2, sd sqrt(20)); 95 % intervals.  The number
    of misses is Binomial(400, 0.05) under nominal coverage; the check fails with probability
    < 1e-3 (two-sided binomial quantiles at 5e-4 each)."""
    f = lambda rng, k: rng.exponential(size=k) ** 2  # noqa: E731
    z = stats.norm.isf(0.025)
    misses = 0
    with using(workers=1):
        for r in range(400):
            e = mc.estimate(f, 10**6, seed=10_000 + r, batch=200, se_target=0.1)
            misses += abs(e.mean - 2.0) > z * e.se
    lo, hi = stats.binom.ppf(5e-4, 400, 0.05), stats.binom.isf(5e-4, 400, 0.05)
    assert lo <= misses <= hi, misses


def test_window_bounds_tasks_in_flight():
    """Constant memory in the number of shards: at most ``window`` tasks are pulled ahead of the
    consumer, however many there are."""
    pulled = []

    def tasks():
        for i in range(200):
            pulled.append(i)
            yield i

    ahead = 0
    with using(workers=2, placement="pool"):
        for i, r in enumerate(imap_ordered(_square, None, tasks(), window=4)):
            assert r == i * i
            ahead = max(ahead, len(pulled) - i)
    assert ahead <= 4 + 1


def _square(shared, task):
    return task * task


def _die_once(marker):
    def f(rng, k):
        if not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write(str(os.getpid()))
            os._exit(13)  # the worker process vanishes mid-run
        return rng.standard_normal(k)

    return f


def _normal(rng, k):
    return rng.standard_normal(k)


def _die_always(rng, k):
    os._exit(13)


def test_dead_worker_shard_is_rerun_with_the_same_numbers(tmp_path):
    """Fault route: a worker exits during a shard; the lost shards run again, same seeds."""
    f = _die_once(str(tmp_path / "died"))
    ref = _sequential_reference(_normal, 20_000, seed=3, batch=1000)  # what f draws once alive
    with using(workers=2, placement="pool"):
        est = mc.estimate(f, 20_000, seed=3, batch=1000)
    assert (tmp_path / "died").exists()
    assert (est.mean, est.se, est.n) == (ref.mean, ref.se, ref.n)


def test_worker_dying_every_time_is_a_clear_error():
    with using(workers=2, retries=1, placement="pool"):
        with pytest.raises(ShardLostError, match="lost with its worker 2 times"):
            mc.estimate(_die_always, 4000, seed=0, batch=1000)
    with using(workers=2, placement="pool"):  # the pool recovers for later runs
        assert mc.estimate(_skewed, 4000, seed=0, batch=1000).n == 4000


def test_task_exceptions_are_not_retried_and_keep_their_type():
    def bad(rng, k):
        return np.full(k, np.nan)

    with using(workers=2, placement="pool"), pytest.raises(ValueError, match="non-finite"):
        mc.estimate(bad, 4000, seed=0, batch=1000)


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "workers must be a positive integer"),
    ({"workers": 2.5}, "workers must be a positive integer"),
    ({"scheduler": "not an address"}, "malformed scheduler address"),
    ({"scheduler": ""}, "non-empty"),
    ({"timeout": -1}, "timeout must be a positive"),
    ({"placement": "gpu"}, "placement must be one of auto, pool"),
])
def test_bad_execution_settings(kwargs, message):
    with pytest.raises(UserInputError, match=message):
        Execution(**kwargs)


def test_unreachable_scheduler_is_one_line_error():
    with using(scheduler="tcp://127.0.0.1:1", timeout=1.0):
        with pytest.raises(SchedulerError) as e:
            mc.estimate(_skewed, 4000, seed=0, batch=1000)
    msg = str(e.value)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in msg and "\n" not in msg


def test_pool_is_reused():
    assert local_pool(2) is local_pool(2)


def test_backend_reaches_the_shards():
    """``using(backend="torch")``: the engine's shards draw with ``sample_on`` (torch CPU here),
    shard j from spawn j of the seed — the same numbers as drawing the shards by hand; samplers
    without ``sample_on`` ignore the backend."""
    pytest.importorskip("torch")
    from icl_proofs.parallel import backends

    f = _lsa_sampler()
    with using(backend="torch"):
        est = mc.estimate(f, 3 * 4096, seed=17, batch=4096)
        plain = mc.estimate(_skewed, 3 * 4096, seed=17, batch=4096)
    acc = mc.RunningMoments()
    b = backends.resolve("torch")
    for j, child in enumerate(np.random.SeedSequence(17).spawn(3)):
        acc.update(f.sample_on(b, child, 4096))
    assert est.backend == "torch" and (est.mean, est.se) == (acc.estimate().mean, acc.estimate().se)
    assert plain.backend == "numpy" and plain == _sequential_reference(_skewed, 3 * 4096, 17, 4096)


# -------------------------------------------------------------------------------------- CLI
def _verify_json(tmp_path, *options):
    """Run ``verify`` on a claim with Monte-Carlo checks; the JSON results without timings."""
    import json

    from click.testing import CliRunner

    from icl_proofs.cli import cli

    out = tmp_path / f"r{len(list(tmp_path.iterdir()))}.json"
    r = CliRunner().invoke(cli, ["verify", "zfb23.covariate-shift", "--quick", "-q", "--json", str(out),
                                 *options])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    for res in doc["results"]:
        res.pop("seconds")
        for c in res["checks"]:
            c.pop("seconds", None)
            c["evidence"] = c["evidence"].split(" (")[0]
    return doc


def test_verify_same_results_with_one_or_two_workers(tmp_path):
    """End to end: ``verify --workers 1`` and ``--workers 2`` write the same verdicts and numbers."""
    one, two = _verify_json(tmp_path, "--workers", "1"), _verify_json(tmp_path, "--workers", "2")
    assert one["results"] == two["results"]
    assert one["meta"]["execution"]["workers"] == 1 and two["meta"]["execution"]["workers"] == 2
    assert any(c["route"] == "monte-carlo" for c in one["results"][0]["checks"])


@pytest.mark.parametrize("options, message", [
    (["--backend", "fortran"], "unknown backend 'fortran'"),
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
    (["--scheduler", "no such host!"], "malformed scheduler address"),
])
def test_verify_bad_execution_options_are_one_line_errors(options, message, monkeypatch):
    from click.testing import CliRunner

    from icl_proofs.cli import cli

    monkeypatch.setenv("ICL_PROOFS_SCHEDULER_TIMEOUT", "1")
    r = CliRunner().invoke(cli, ["verify", "zfb23.covariate-shift", "--quick", *options])
    assert r.exit_code == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("icl-proofs: error:")


# ------------------------------------------------------------------------------------- Dask
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c.scheduler_address
        shutdown_all()  # close our client before the cluster goes


@pytest.mark.parametrize("make", [_lsa_sampler, lambda: _skewed], ids=["zfb23-conditional", "closure"])
def test_dask_local_cluster_gives_the_local_numbers(cluster, make):
    """Route: Dask LocalCluster (2 worker processes) vs the local pool, same seed: bitwise equal."""
    f = make()
    with using(workers=2):
        local = mc.estimate(f, 40_000, seed=21, batch=2048)
        local_se = mc.estimate(f, 10, seed=22, batch=512, se_target=1e-3, max_n=30_000)
    with using(scheduler=cluster):
        remote = mc.estimate(f, 40_000, seed=21, batch=2048)
        remote_se = mc.estimate(f, 10, seed=22, batch=512, se_target=1e-3, max_n=30_000)
    assert remote == local and remote_se == local_se


def test_dask_dd25_simulation_matches_local(cluster):
    from icl_proofs.claims.dd25 import sim as dd25_sim

    cfg = dd25_sim.fig2_config(8, "task")
    with using(workers=1):
        a = dd25_sim.simulate(cfg, 3, seed=4)
    with using(scheduler=cluster):
        b = dd25_sim.simulate(cfg, 3, seed=4)
    assert a.per_run.keys() == b.per_run.keys()
    for m in a.per_run:
        np.testing.assert_array_equal(a.per_run[m], b.per_run[m])


def test_verify_on_dask_matches_local(cluster, tmp_path):
    """End to end: ``verify --scheduler ADDRESS`` writes the local verdicts and numbers."""
    local = _verify_json(tmp_path, "--workers", "2")
    remote = _verify_json(tmp_path, "--scheduler", cluster)
    assert remote["results"] == local["results"]
    assert remote["meta"]["execution"]["scheduler"] == cluster


def test_dask_dead_worker_shard_is_rerun(cluster, tmp_path):
    """Fault route on the cluster: the worker process exits; the nanny restarts it, the scheduler
    re-runs the shard with the same seed, and the estimate is unchanged."""
    f = _die_once(str(tmp_path / "died"))
    ref = _sequential_reference(_normal, 8000, seed=8, batch=1000)
    with using(scheduler=cluster):
        est = mc.estimate(f, 8000, seed=8, batch=1000)
    assert (tmp_path / "died").exists()
    assert (est.mean, est.se, est.n) == (ref.mean, ref.se, ref.n)
