"""Executors that run shards: a persistent local process pool, or a Dask distributed cluster.

Both hand out futures; :mod:`icl_proofs.parallel.ordered` drives them.  Neither decides any number:
a shard's result depends only on its task (seed and size), so where it runs cannot change it.
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import multiprocessing
import multiprocessing.spawn as mp_spawn
import os
import threading
from typing import Any, Iterable

from ..claims.base import UserInputError
from . import worker

__all__ = ["SchedulerError", "ShardLostError", "LocalPool", "DaskCluster", "local_pool", "dask_cluster",
           "shutdown_all"]


class SchedulerError(UserInputError):
    """The Dask scheduler cannot be reached, has no workers, or its workers differ from us."""


class ShardLostError(RuntimeError):
    """A shard's worker died more often than the retry budget allows; the run stops (no smaller
    sample is ever reported in its place)."""


def _mp_context():
    # forkserver: workers fork from a clean server with numpy preloaded (fast, thread-safe starts).
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "cloudpickle", "icl_proofs.parallel.worker",
                                  "icl_proofs.numeric.montecarlo"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


@contextlib.contextmanager
def _main_not_imported():
    """Start worker processes without re-running the user's ``__main__`` in them.

    Why: multiprocessing re-imports the main script in each new process, which breaks (or
    re-runs) scripts without an ``if __name__ == "__main__"`` guard.  Workers never need it: tasks
    name icl_proofs functions, and samplers defined in ``__main__`` travel by value (cloudpickle).
    """
    orig = mp_spawn.get_preparation_data

    def preparation_data(name):
        data = orig(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    mp_spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        mp_spawn.get_preparation_data = orig


class LocalPool:
    """``workers`` processes on this machine (one BLAS thread each), kept for the whole session."""

    kind = "pool"

    def __init__(self, workers: int):
        self.workers = workers
        self.slots = workers
        self._pid = os.getpid()
        self._pool = self._new()

    @property
    def window(self) -> int:
        """Tasks in flight or awaiting release: two per worker keeps every worker busy."""
        return 2 * self.slots

    def _new(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(),
                                      initializer=worker.init_worker)

    def submit(self, fn, key: str, blob: bytes, task: Any) -> cf.Future:
        with _main_not_imported():  # the pool starts its processes inside submit
            return self._pool.submit(worker.run_task, fn, key, blob, task)

    @staticmethod
    def wait_any(futures: Iterable[cf.Future]) -> set:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return done

    @staticmethod
    def is_lost(exc: BaseException) -> bool:
        """A worker process died (the pool is then broken as a whole)."""
        return isinstance(exc, cf.process.BrokenProcessPool)

    def recover(self) -> None:
        """Replace a broken pool with a fresh one (the lost shards are then resubmitted)."""
        self.shutdown(kill=True)
        self._pool = self._new()

    def shutdown(self, kill: bool = False) -> None:
        pool = self._pool
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=not kill, cancel_futures=True)
        if kill:  # workers ignore SIGINT; stop them so an interrupted run ends at once
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)

    @property
    def usable(self) -> bool:
        return os.getpid() == self._pid


class DaskCluster:
    """A client of a Dask distributed scheduler at ``address``."""

    kind = "dask"

    def __init__(self, address: str, timeout: float = 10.0):
        try:
            from distributed import Client
        except ImportError:
            raise UserInputError(
                "--scheduler needs Dask distributed, which is not installed "
                "(pip install 'icl-proofs[cluster]')") from None
        self.address = address
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise SchedulerError(f"cannot reach the Dask scheduler at {address} "
                                 f"(waited {timeout:g} s): {_one_line(e)}") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            self.client.close()
            raise SchedulerError(f"the Dask scheduler at {address} has no workers "
                                 f"(waited {timeout:g} s)") from None
        self._check_versions()
        self.slots = max(1, sum(self.client.nthreads().values()))
        self.workers = len(self.client.nthreads())

    @property
    def window(self) -> int:
        """Four tasks per worker thread: a scheduler round trip is slower than a pool's pipe."""
        return 4 * self.slots

    def _check_versions(self) -> None:
        mine = worker.versions()
        try:
            theirs = self.client.run(worker.versions)
        except Exception as e:  # noqa: BLE001 - a worker that cannot import us
            self.client.close()
            raise SchedulerError(f"Dask workers at {self.address} cannot run icl-proofs "
                                 f"(install the same version there): {_one_line(e)}") from None
        for addr, v in theirs.items():
            if v != mine:
                self.client.close()
                raise SchedulerError(
                    f"Dask worker {addr} has {_versions(v)}, this machine has {_versions(mine)}; "
                    "install the same versions so that the numbers are reproducible")

    def submit(self, fn, key: str, blob: bytes, task: Any):
        return self.client.submit(worker.run_task, fn, key, blob, task, pure=False)

    def wait_any(self, futures: Iterable) -> set:
        from distributed import as_completed

        futures = list(futures)
        # distributed.wait() would look for a *default* client; ours is deliberately not one
        first = next(iter(as_completed(futures, loop=self.client.loop)))
        return {first} | {f for f in futures if f.done()}

    @staticmethod
    def is_lost(exc: BaseException) -> bool:
        from distributed.scheduler import KilledWorker

        return isinstance(exc, KilledWorker)

    def recover(self) -> None:
        """Nothing to rebuild: the scheduler replaces workers; lost shards are resubmitted."""

    def shutdown(self, kill: bool = False) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass

    @property
    def usable(self) -> bool:
        return self.client.status == "running"


def _versions(v: dict) -> str:
    return ", ".join(f"{k} {val}" for k, val in sorted(v.items()))


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


_LOCK = threading.Lock()
_POOLS: dict[int, LocalPool] = {}
_CLUSTERS: dict[str, DaskCluster] = {}


def local_pool(workers: int) -> LocalPool:
    """The session's pool with ``workers`` processes (created on first use, reused afterwards)."""
    with _LOCK:
        pool = _POOLS.get(workers)
        if pool is None or not pool.usable:
            pool = _POOLS[workers] = LocalPool(workers)
        return pool


def dask_cluster(address: str, timeout: float = 10.0) -> DaskCluster:
    """A connected client for ``address`` (reused while the connection is alive)."""
    with _LOCK:
        c = _CLUSTERS.get(address)
        if c is None or not c.usable:
            c = _CLUSTERS[address] = DaskCluster(address, timeout)
        return c


def shutdown_all() -> None:
    """Stop every pool and close every cluster client (also run at interpreter exit)."""
    with _LOCK:
        for p in _POOLS.values():
            if p.usable:
                p.shutdown(kill=True)
        _POOLS.clear()
        for c in _CLUSTERS.values():
            c.shutdown()
        _CLUSTERS.clear()


atexit.register(shutdown_all)
