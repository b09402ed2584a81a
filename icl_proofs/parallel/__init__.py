"""Sharded execution: the same numbers on one core, every core, or a Dask cluster.

Work is cut into shards, each with its own stream (a child of the run's ``SeedSequence``, indexed
by the shard number), and results are merged in shard order.  A shard's result depends only on its
seed and size, so the estimate is identical whatever runs it.  Data flow:

    settings (where) -> ordered.imap_ordered (route, run, retry, release in order) -> caller merges

Locally a job starts in this process and moves to the pool only when that pays
(:mod:`icl_proofs.parallel.routing`); workers die with the process that started them
(:mod:`icl_proofs.parallel.worker`), and :mod:`icl_proofs.parallel.lifecycle` makes SIGTERM end a
run like Ctrl-C.

:func:`icl_proofs.numeric.montecarlo.estimate` and the dd25 simulator are built on it.
"""
from . import lifecycle, progress
from .executors import SchedulerError, ShardLostError, shutdown_all
from .ordered import imap_ordered, runs_in_process
from .routing import Workload
from .settings import Execution, cpu_count, current, using

__all__ = [
    "Execution",
    "SchedulerError",
    "ShardLostError",
    "cpu_count",
    "current",
    "imap_ordered",
    "lifecycle",
    "progress",
    "runs_in_process",
    "shutdown_all",
    "using",
    "Workload",
]
