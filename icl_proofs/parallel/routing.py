"""Where a local job's tasks run: in this process, or on the pool once the pool pays.

A job starts in this process.  Each task run here is timed, which gives the job's measured cost
per unit of work (a unit is a sample for Monte Carlo, a run for the dd25 simulator).  From it and
the work still expected, the router decides, before each further task:

* **warm**: when at least :data:`WARM_AFTER_S` seconds of work remain, the pool's workers are
  started in the background (once per session) while this process keeps computing;
* **hand over**: once the workers are up, the remaining tasks go to the pool if that is expected to
  save time: ``remaining / min(workers, tasks left) + overhead <= HAND_OVER_GAIN * remaining``.

Both need a core to spare: the CPU time of the tasks run here, over their wall time, must be at
least :data:`SHARE_MIN`.  A task that gets less than a whole core shows a machine with no idle core,
where more processes only share the same CPU (with Linux's autogroup scheduling a session's
processes get one share between them) and the pool's overhead makes the job slower: measured on
the shared 2-core machine at load 10-12, 2^21 samples took 0.77x the in-process speed on the pool.

Only *where* a task runs depends on timing.  What a task computes depends on its seed and size
alone, and the shard layout is fixed by the caller's arguments, so the numbers are bit for bit the
same whichever way the router decides (tests check this).

The constants were measured on a 2-core machine (``benchmarks/bench_parallel.py`` prints them):
starting the pool costs 0.7-1.3 s of wall time, a warm pool about 1-2 ms per task.  (Since the pool
is one worker fewer, working beside this process, and its workers no longer import SciPy's
statistics, its start-up measured 0.2 s at load 4; the constants were left as they were.)
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from typing import Any, Callable

__all__ = ["Workload", "Router", "WARM_AFTER_S", "HAND_OVER_MIN_S", "TASK_OVERHEAD_S", "SHARE_MIN", "pays"]

#: start the pool in the background once this much in-process work remains (seconds): about the
#: pool's start-up, so a job that cannot win that back never starts it
WARM_AFTER_S = 1.0
#: hand over to a warm pool only when at least this much work remains (seconds)
HAND_OVER_MIN_S = 0.25
#: cost of one task on a warm pool (pickling, pipes, result), measured 1-2 ms; taken high
TASK_OVERHEAD_S = 0.004
#: the pool is considered only while tasks run here get at least this share of a core
SHARE_MIN = 0.8
#: tasks this long (on average so far) get a warm-up timer each (see :meth:`Router.starting`)
LONG_TASK_S = 0.05
#: hand over only when the pool is expected to take at most this fraction of the in-process time
HAND_OVER_GAIN = 0.8


@dataclasses.dataclass(frozen=True)
class Workload:
    """How much work a job's tasks are, for the router.

    ``units(task)``: the work in one task (e.g. its sample count).  ``remaining()``: the units still
    expected after the results released so far (called between tasks; a Monte-Carlo run to a target
    standard error predicts it from the variance seen so far).  ``None``: unknown, treated as large.
    """

    units: Callable[[Any], float] = lambda task: 1.0
    remaining: Callable[[], float | None] = lambda: None


def pays(remaining_s: float, tasks_left: int, workers: int) -> bool:
    """Whether moving ``remaining_s`` seconds of in-process work (``tasks_left`` tasks) to a warm
    pool of ``workers`` is expected to save time."""
    if remaining_s < HAND_OVER_MIN_S or tasks_left < 2 or workers < 2:
        return False
    rounds = math.ceil(tasks_left / workers)  # the pool finishes in whole rounds of tasks
    pool_s = remaining_s * rounds / tasks_left + TASK_OVERHEAD_S * rounds
    return pool_s <= HAND_OVER_GAIN * remaining_s


class Router:
    """The measured cost of a job run in process so far, and the decisions above.

    ``pool_ready()`` returns whether the session's pool is warm; ``warm()`` starts it warming.
    Both are injected so that the decisions can be tested with counted work and no processes.
    """

    def __init__(self, workers: int, workload: Workload | None, n_tasks: int | None,
                 pool_ready: Callable[[], bool], warm: Callable[[], None]):
        self.workers = workers
        self.workload = workload or Workload()
        self.n_tasks = n_tasks
        self._pool_ready = pool_ready
        self._warm = warm
        self.warming = False
        self.seconds = 0.0  # in-process time so far
        self.cpu_seconds = 0.0  # and the CPU time it got
        self.units = 0.0  # in-process work so far
        self.tasks = 0
        self.last_units = 1.0
        self._timer: threading.Timer | None = None

    def starting(self) -> None:
        """A task starts in process.  If it alone outlasts :data:`WARM_AFTER_S` and another task
        may follow, the pool starts warming meanwhile (a timer thread), so that a job of a few long
        tasks does not wait for the first one to end before the workers start."""
        more = self.n_tasks is None or self.n_tasks - self.tasks >= 2
        # only while tasks may be long (the first, or long so far): a timer is a thread start
        long_tasks = self.tasks == 0 or self.seconds / self.tasks >= LONG_TASK_S
        if not self.warming and more and long_tasks and self.share() >= SHARE_MIN:
            stamps = (time.perf_counter(), time.process_time())
            self._timer = threading.Timer(WARM_AFTER_S, self._warm_if_a_core_is_spare, (stamps,))
            self._timer.daemon = True
            self._timer.start()

    def _warm_if_a_core_is_spare(self, stamps) -> None:
        wall, cpu = time.perf_counter() - stamps[0], time.process_time() - stamps[1]
        if cpu >= SHARE_MIN * wall:
            self._start_warming()

    def _start_warming(self) -> None:
        if not self.warming:
            self.warming = True
            self._warm()

    def share(self) -> float:
        """CPU time over wall time of the tasks run here so far (1.0 before any)."""
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 1.0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def ran(self, task: Any, seconds: float, cpu_seconds: float | None = None) -> None:
        """Record one task run in process (wall and CPU time); start warming the pool if enough
        work remains and a core is spare."""
        self.close()
        u = float(self.workload.units(task))
        self.seconds += seconds
        self.cpu_seconds += seconds if cpu_seconds is None else cpu_seconds
        self.units += u
        self.tasks += 1
        self.last_units = max(u, 1e-300)
        if not self.warming and self.share() >= SHARE_MIN and self.remaining_s() >= WARM_AFTER_S:
            self._start_warming()

    def remaining_units(self) -> float:
        r = self.workload.remaining()
        if r is None:  # unknown: the task count if given, else large
            return math.inf if self.n_tasks is None else (self.n_tasks - self.tasks) * self.last_units
        return max(0.0, float(r))

    def remaining_s(self) -> float:
        """In-process seconds the rest of the job is expected to take (inf before any measurement
        when the work left is unknown)."""
        units = self.remaining_units()
        if self.units <= 0:
            return math.inf
        return units * (self.seconds / self.units) if units else 0.0

    def tasks_left(self) -> int:
        if self.workload.remaining() is None and self.n_tasks is not None:
            return self.n_tasks - self.tasks
        units = self.remaining_units()
        return 1 << 30 if math.isinf(units) else math.ceil(units / self.last_units)

    def hand_over(self) -> bool:
        """Whether the next task (and every later one) should go to the pool."""
        if self.tasks == 0 or self.share() < SHARE_MIN or not self._pool_ready():
            return False  # (a pool warmed by an earlier job counts as ready)
        return pays(self.remaining_s(), self.tasks_left(), self.workers)
