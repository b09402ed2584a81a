"""Run tasks on the current executor and hand back their results in task order.

Results arrive in any order and are released in task order, so a consumer that merges them (or
stops early, e.g. at a target standard error) sees the same sequence whatever the number of
workers.  At most ``window`` tasks are in flight or waiting to be released: memory stays bounded
however many tasks there are, and stopping early wastes at most ``window`` tasks.

A task whose worker dies is run again (``Execution.retries`` times at most, with the same seed, so
with the same result); after that the run fails with :class:`ShardLostError`.  An exception raised by
the task itself is re-raised here unchanged: it would recur on every retry.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Iterator

import cloudpickle

from . import settings, worker
from .executors import ShardLostError, dask_cluster, local_pool

__all__ = ["imap_ordered", "runs_in_process"]


def runs_in_process(execution: settings.Execution | None = None, n_tasks: int | None = None) -> bool:
    """Whether tasks run sequentially in this process (one local worker, or a single task)."""
    ex = execution or settings.current()
    if ex.scheduler is not None:
        return False
    return ex.local_workers == 1 or (n_tasks is not None and n_tasks <= 1)


def imap_ordered(
    fn: Callable[[Any, Any], Any],
    shared: Any,
    tasks: Iterable,
    *,
    execution: settings.Execution | None = None,
    n_tasks: int | None = None,
    window: int | None = None,
) -> Iterator:
    """Yield ``fn(shared, task)`` for each task, in order.

    ``fn`` must be a module-level function; ``shared`` is sent once per worker (cloudpickle, so
    closures work).  ``n_tasks`` (if known) lets a single task run in process.  Close the generator
    (or leave the ``for`` loop) to stop: tasks not yet released are cancelled.
    """
    ex = execution or settings.current()
    if runs_in_process(ex, n_tasks):
        with worker.blas_single_thread():
            for t in tasks:
                yield fn(shared, t)
        return
    executor = dask_cluster(ex.scheduler, ex.timeout) if ex.scheduler else local_pool(ex.local_workers)
    blob = cloudpickle.dumps(shared)
    key = hashlib.sha1(blob).hexdigest()
    window = max(1, window or executor.window)

    it = iter(tasks)
    pending: dict[int, list] = {}  # index -> [task, future, attempts]
    ready: dict[int, Any] = {}
    next_in = next_out = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) + len(ready) < window:
                try:
                    t = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending[next_in] = [t, executor.submit(fn, key, blob, t), 0]
                next_in += 1
            if next_out in ready:
                yield ready.pop(next_out)
                next_out += 1
                continue
            if not pending:
                return
            done = executor.wait_any(entry[1] for entry in pending.values())
            lost: list[int] = []
            for i in sorted(i for i, entry in pending.items() if entry[1] in done):
                exc = pending[i][1].exception()
                if exc is None:
                    ready[i] = pending.pop(i)[1].result()
                elif executor.is_lost(exc):
                    lost.append(i)
                else:
                    raise exc
            if lost:
                _resubmit(executor, fn, key, blob, pending, lost, ex.retries)
    except KeyboardInterrupt:
        executor.shutdown(kill=True)
        raise
    finally:
        for entry in pending.values():
            entry[1].cancel()


def _resubmit(executor, fn, key, blob, pending: dict, lost: list[int], retries: int) -> None:
    if executor.kind == "pool":
        # a dead process breaks the whole local pool: every unfinished task is run again
        executor.recover()
        lost = sorted(pending)
    for i in lost:
        entry = pending[i]
        entry[2] += 1
        if entry[2] > retries:
            raise ShardLostError(
                f"shard {i} was lost with its worker {entry[2]} times (retries: {retries}); "
                "stopped rather than report a smaller sample")
        entry[1] = executor.submit(fn, key, blob, entry[0])
