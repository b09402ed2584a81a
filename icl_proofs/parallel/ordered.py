"""Run tasks on the current executor and hand back their results in task order.

Locally (``placement="auto"``, the default) a job starts in this process and brings in the pool
only once the pool pays for itself (:mod:`icl_proofs.parallel.routing`); from then on this process
keeps computing beside ``workers - 1`` pool workers (:func:`helper_count`).  On a Dask cluster, or
with ``placement="pool"``, every task goes to the executor.

Results arrive in any order and are released in task order, so a consumer that merges them (or
stops early, e.g. at a target standard error) sees the same sequence whatever the number of
workers.  At most ``window`` tasks are in flight or waiting to be released: memory stays bounded
however many tasks there are, and stopping early wastes at most ``window`` tasks.

A task whose worker dies is run again (``Execution.retries`` times at most, with the same seed, so
with the same result); after that the run fails with :class:`ShardLostError`.  An exception raised by
the task itself is re-raised here unchanged: it would recur on every retry.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import time
from typing import Any, Callable, Iterable, Iterator

import cloudpickle

from . import executors, settings, worker
from .executors import ShardLostError, dask_cluster, local_pool
from .routing import Router, Workload

__all__ = ["imap_ordered", "runs_in_process", "helper_count", "Workload"]


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
    workload: Workload | None = None,
) -> Iterator:
    """Yield ``fn(shared, task)`` for each task, in order.

    ``fn`` must be a module-level function; ``shared`` is sent once per worker (cloudpickle, so
    closures work).  ``n_tasks`` (if known) lets a single task run in process.  ``workload`` tells
    the router how much work the tasks are (default: each task one unit, ``n_tasks`` of them).
    Close the generator (or leave the ``for`` loop) to stop: tasks not yet released are cancelled.
    """
    ex = execution or settings.current()
    if runs_in_process(ex, n_tasks):
        for t in tasks:
            yield _run_here(fn, shared, t)
        return
    it = iter(tasks)
    first = 0
    if ex.scheduler is None and ex.placement == "auto":
        workers = ex.local_workers
        helpers = helper_count(workers)
        router = Router(workers, workload, n_tasks,
                        pool_ready=lambda: executors.ready_pool(helpers) is not None,
                        warm=lambda: executors.warm_pool(helpers))
        try:
            for t in it:
                if router.hand_over():
                    it = itertools.chain([t], it)
                    break
                router.starting()
                t0, c0 = time.perf_counter(), time.process_time()
                result = _run_here(fn, shared, t)
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                first += 1
                yield result
                router.ran(t, seconds, cpu)  # after the consumer took the result: its forecast counts it
            else:
                return
        finally:
            router.close()
        yield from _alongside(fn, shared, it, ex, window, first)
        return
    yield from _on_executor(fn, shared, it, ex, window, first)


def helper_count(workers: int) -> int:
    """Pool processes that work *alongside this process* for ``workers`` in all (``placement="auto"``).

    Why not ``workers`` processes with this one waiting: this process is already computing when
    the pool starts, and each process started costs start-up time on the cores the job wants
    (measured on 2 cores: 2^21 samples cold 1.77x with two workers and this process idle).
    """
    return max(1, workers - 1)


def _run_here(fn, shared, task):
    """One task in this process, under the workers' BLAS setting (one thread), so that its numbers
    are those a worker would compute."""
    with worker.blas_single_thread():
        return fn(shared, task)


def _on_executor(fn, shared, it: Iterator, ex: settings.Execution, window: int | None, first: int):
    """Tasks ``first, first + 1, ...`` (the rest of ``it``) on the pool or the cluster, in order."""
    executor = dask_cluster(ex.scheduler, ex.timeout) if ex.scheduler else local_pool(ex.local_workers)
    blob = cloudpickle.dumps(shared)
    key = hashlib.sha1(blob).hexdigest()
    window = max(1, window or executor.window)

    pending: dict[int, list] = {}  # index -> [task, future, attempts]
    ready: dict[int, Any] = {}
    next_in = next_out = first
    exhausted = False
    with _stopping_on_interrupt(executor, pending):
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
            _collect(executor, fn, key, blob, pending, ready, ex.retries,
                     [i for i, entry in pending.items() if entry[1] in done])


def _alongside(fn, shared, it: Iterator, ex: settings.Execution, window: int | None, first: int):
    """Tasks ``first, ...`` on the local pool of :func:`helper_count` workers *and* in this process,
    released in order.  The pool is kept fed; whenever the next result to release is still on the
    pool, this process runs the next task itself (at most ``window`` tasks in flight or waiting)."""
    executor = local_pool(helper_count(ex.local_workers))
    blob = cloudpickle.dumps(shared)
    key = hashlib.sha1(blob).hexdigest()
    feed = executor.window
    window = max(feed + 1, window or feed + 2)

    pending: dict[int, list] = {}  # index -> [task, future, attempts]
    ready: dict[int, Any] = {}
    next_in = next_out = first
    exhausted = False
    with _stopping_on_interrupt(executor, pending):
        while True:
            while not exhausted and len(pending) < feed and len(pending) + len(ready) < window:
                try:
                    t = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending[next_in] = [t, executor.submit(fn, key, blob, t), 0]
                next_in += 1
            _collect(executor, fn, key, blob, pending, ready, ex.retries,
                     [i for i, entry in pending.items() if entry[1].done()])
            if next_out in ready:
                yield ready.pop(next_out)
                next_out += 1
                continue
            if not exhausted and len(pending) + len(ready) < window:
                try:
                    t = next(it)
                except StopIteration:
                    exhausted = True
                    continue
                ready[next_in] = _run_here(fn, shared, t)  # this process is the other worker
                next_in += 1
                continue
            if not pending:
                return
            done = executor.wait_any(entry[1] for entry in pending.values())
            _collect(executor, fn, key, blob, pending, ready, ex.retries,
                     [i for i, entry in pending.items() if entry[1] in done])


@contextlib.contextmanager
def _stopping_on_interrupt(executor, pending: dict):
    """Ctrl-C kills the workers at once; however the job ends, tasks not yet started are cancelled."""
    try:
        yield
    except KeyboardInterrupt:
        executor.shutdown(kill=True)
        raise
    finally:
        for entry in pending.values():
            entry[1].cancel()


def _collect(executor, fn, key, blob, pending: dict, ready: dict, retries: int, finished: list[int]) -> None:
    """Move the finished tasks' results from ``pending`` to ``ready``; resubmit the lost ones."""
    lost: list[int] = []
    for i in sorted(finished):
        exc = pending[i][1].exception()
        if exc is None:
            ready[i] = pending.pop(i)[1].result()
        elif executor.is_lost(exc):
            lost.append(i)
        else:
            raise exc
    if lost:
        _resubmit(executor, fn, key, blob, pending, lost, retries)


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
