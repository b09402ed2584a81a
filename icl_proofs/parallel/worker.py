"""What runs inside a worker process (local pool or Dask worker).

A task is ``fn(shared, task)``: ``fn`` a module-level function (pickled by reference), ``shared``
an object sent once per run as cloudpickle bytes (a sampler with its set-up done, possibly a
closure) and cached in the worker under a digest of those bytes, ``task`` small (a seed and a size).
"""
from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from typing import Any, Callable

import cloudpickle

__all__ = ["init_worker", "run_task", "blas_single_thread", "versions", "ready", "watch_parent"]

_CACHE: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
_CACHE_SIZE = 8
_LIMITS = None  # keeps the process-wide BLAS limit alive


def blas_single_thread():
    """A context manager that pins BLAS/OpenMP pools to one thread.

    Why: the cores are used by workers, and a shard's numbers must not depend on how many BLAS
    threads happened to split a product (reductions may be ordered differently).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def init_worker() -> None:
    """Pool initialiser: one BLAS thread; Ctrl-C is the parent's business (it stops the workers);
    the worker exits when the process that started the pool dies."""
    global _LIMITS
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - not the main thread
        pass
    watch_parent()
    _LIMITS = blas_single_thread()


def watch_parent() -> bool:
    """Exit this process as soon as its multiprocessing parent is gone (``kill -9`` included).

    Why: a pool worker holds the write end of the pool's task queue and the pipe that keeps the
    forkserver alive, so after the parent's death nothing would ever end it: the worker, and with
    it the forkserver, would outlive the run holding the terminal's stdout/stderr (a pipe reader
    never saw EOF).  The parent's sentinel is a pipe that only the parent writes; it reads EOF once
    the parent is gone, whatever killed it.  Returns whether a watch was started.
    """
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None) if parent is not None else None
    if sentinel is None:  # a Dask worker, or this process is not a multiprocessing child
        return False
    threading.Thread(target=_exit_when_ready, args=(sentinel,), name="icl-proofs-parent-watch",
                     daemon=True).start()
    return True


def _exit_when_ready(sentinel) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)  # no clean-up to do: the parent's results are gone with it


def ready() -> int:
    """A no-op task: once it returns, a worker process is up and initialised (pool warm-up)."""
    return os.getpid()


def _shared(key: str, blob: bytes) -> Any:
    obj = _CACHE.get(key)
    if obj is None:
        obj = cloudpickle.loads(blob)
        _CACHE[key] = obj
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return obj


def run_task(fn: Callable[[Any, Any], Any], key: str, blob: bytes, task: Any) -> Any:
    """Run one task in a worker (the shared object is unpickled once per worker)."""
    if _LIMITS is None:  # a Dask worker: no initialiser ran
        with blas_single_thread():
            return fn(_shared(key, blob), task)
    return fn(_shared(key, blob), task)


def versions() -> dict:
    """Versions that decide the numbers a worker produces (compared with the client's)."""
    import numpy

    from .. import __version__

    return {"icl_proofs": __version__, "numpy": numpy.__version__}
