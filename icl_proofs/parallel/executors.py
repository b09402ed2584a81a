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
import signal
import threading
from typing import Any, Iterable

from ..errors import UserInputError
from . import worker

__all__ = ["SchedulerError", "ShardLostError", "LocalPool", "DaskCluster", "local_pool", "warm_pool",
           "ready_pool", "discard_pool", "dask_cluster", "shutdown_all"]


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
def _sigint_blocked():
    """Block SIGINT in this thread for the block (a Ctrl-C meanwhile is delivered afterwards).

    Why: a process inherits the signal mask of the thread that forks it.  A forkserver started
    under this block, and every worker it forks, never sees the terminal's Ctrl-C (which goes to the
    whole process group); only this process handles it, and stops the workers itself.  Before, a
    Ctrl-C while the forkserver was still importing NumPy printed its 30-40-line traceback.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _start_forkserver(ctx) -> None:
    """Start the forkserver now, with SIGINT blocked (see :func:`_sigint_blocked`); a no-op when it
    runs already or the start method is not forkserver.  Cheap: it forks and returns, and the
    server imports its preload modules on its own."""
    if ctx.get_start_method() != "forkserver":  # pragma: no cover - Windows
        return
    from multiprocessing import forkserver, resource_tracker

    # first: starting the resource tracker *unblocks* SIGINT in this thread when it is done
    resource_tracker.ensure_running()
    with _sigint_blocked():
        forkserver.ensure_running()


@contextlib.contextmanager
def _interrupts_deferred():
    """In the main thread: a Ctrl-C (or SIGTERM) during the block takes effect when it ends.

    Why: a signal mask cannot do this for the main thread, since Python runs handlers there
    whichever thread the kernel delivered the signal to; so the Python handlers are swapped.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):  # only handlers that raise; SIG_DFL/SIG_IGN stay as they are
            old[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in caught[:1]:
            old[sig](sig, None)


_PREPARATION_LOCK = threading.Lock()  # the patch below is process-wide: one thread at a time


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

    with _PREPARATION_LOCK:
        mp_spawn.get_preparation_data = preparation_data
        try:
            yield
        finally:
            mp_spawn.get_preparation_data = orig


class LocalPool:
    """``workers`` processes on this machine (one BLAS thread each), kept for the whole session.

    Creating one starts no worker: they start on the first task, or in the background with
    :meth:`warm` (then :attr:`is_ready` tells when every worker is up).
    """

    kind = "pool"

    def __init__(self, workers: int):
        self.workers = workers
        self.slots = workers
        self._pid = os.getpid()
        self._ready = threading.Event()
        self._warming: threading.Thread | None = None
        self.startup_s: float | None = None  # how long warming took (benchmarks report it)
        self._pool = self._new()

    @property
    def is_ready(self) -> bool:
        """Every worker has started and run its initialiser (after :meth:`warm`)."""
        return self._ready.is_set()

    def warm(self) -> None:
        """Start the workers in a background thread and return at once.

        Why a thread: starting workers (the forkserver imports NumPy and SciPy first) takes about
        a second, which the caller spends computing in process instead of waiting.
        """
        with _LOCK:
            if self._warming is not None or self._ready.is_set():
                return
            self._warming = threading.Thread(target=self._warm_up, name="icl-proofs-pool-warm-up",
                                             daemon=True)
        self._warming.start()

    def _warm_up(self) -> None:
        import time

        t0 = time.perf_counter()
        try:
            with _main_not_imported():
                # one no-op per worker: each submit finding no idle worker starts a process
                futures = [self._pool.submit(worker.ready) for _ in range(self.workers)]
            cf.wait(futures)
            if all(f.exception() is None for f in futures if not f.cancelled()):
                self.startup_s = time.perf_counter() - t0
                self._ready.set()
        except Exception:  # noqa: BLE001 - a pool shut down meanwhile: stay not ready, run in process
            pass

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for :meth:`warm` to finish (benchmarks and tests); whether the pool is ready."""
        return self._ready.wait(timeout)

    @property
    def window(self) -> int:
        """Tasks in flight or awaiting release: two per worker keeps every worker busy."""
        return 2 * self.slots

    def _new(self) -> cf.ProcessPoolExecutor:
        ctx = _mp_context()
        _start_forkserver(ctx)
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                      initializer=worker.init_worker)

    def submit(self, fn, key: str, blob: bytes, task: Any) -> cf.Future:
        # the pool starts its processes inside submit; a Ctrl-C there would leave a started worker
        # unknown to the pool (it then outlives the shutdown and prints a traceback): deferred
        with _interrupts_deferred(), _main_not_imported():
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
        warming = self._warming
        if warming is not None and warming is not threading.current_thread():
            # a worker being started is not yet in the pool's list: wait until it is, so that it is
            # stopped with the rest rather than left starting against a pool that is gone
            warming.join(timeout=30)
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


def warm_pool(workers: int) -> LocalPool:
    """The session's pool with ``workers`` processes, its workers starting in the background."""
    pool = local_pool(workers)
    pool.warm()
    return pool


def ready_pool(workers: int) -> LocalPool | None:
    """The session's pool with ``workers`` processes if every worker is up, else ``None``."""
    with _LOCK:
        pool = _POOLS.get(workers)
    return pool if pool is not None and pool.usable and pool.is_ready else None


def discard_pool(pool: LocalPool) -> None:
    """Stop ``pool`` now (its workers killed) and forget it, so that a later job starts a fresh one."""
    with _LOCK:
        for k, p in list(_POOLS.items()):
            if p is pool:
                del _POOLS[k]
    pool.shutdown(kill=True)


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
