"""Whole claims side by side: ``verify`` runs independent claims on a spare core, in the same order.

A claim's numbers depend only on the run's settings and its own name (every check draws from the
stream of (seed, claim id, check name), see ``CheckContext.rng``), so a claim gives the same result
in a worker process as here.  When a core is spare and the selection is long enough to pay for a
worker, this process and ``cores - 1`` pool workers take claims from one queue, the longest
expected first.  Results are released **in the order given**, each with the callbacks a
sequential run would have made (``on_start`` per check, ``on_check`` per result, ``on_result`` per
claim), replayed from a record once every earlier claim is out: progress comes per claim, in
order.  Until a worker starts (and always when no core is spare) this process runs the claims in
the given order with live callbacks: exactly the sequential run.

Why this process computes too (rather than only waiting on a pool of ``cores`` workers): it starts
at once, while the worker boots on the other core, and only one new process pays the imports.

The Monte-Carlo router's measure decides whether a core is spare (see
:mod:`icl_proofs.parallel.routing`): the pool is warmed only while this process gets at least
``SHARE_MIN`` of a core (over the whole run so far), and, since whole claims are long and a worker
started in vain costs seconds, only while the load average leaves a core (:class:`_Gate`).  Whether a selection is long enough comes from the seconds each claim
took last time (:func:`load_costs`, a small JSON table in the cache directory).  Only *where* a
claim runs depends on timing; nothing a claim computes does.

Nested parallelism: while claims run side by side, each claim's Monte-Carlo estimates and
simulations run in its own process (``workers=1``): both cores are busy with claims already.
A claim that cannot travel (its object or its result does not pickle) or whose worker dies runs
here instead, so a run never loses a claim to the pool.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any, Callable

from . import executors, routing, settings
from .ordered import helper_count

__all__ = ["load_costs", "save_costs", "expected_seconds", "should_run_side_by_side", "run_side_by_side",
           "COST_FILE", "DEFAULT_COST_S", "MIN_PARALLEL_S", "GATE_S"]

#: the table of last-run seconds per claim, in the cache directory
COST_FILE = "claim-seconds.json"
COST_FORMAT = "icl-proofs/claim-seconds"
#: expected seconds of a claim never timed here (the mean of the quick run of all claims is 1.3 s)
DEFAULT_COST_S = 1.0
#: expected work (seconds) a selection needs before a worker is started: the worker's start-up
#: (forkserver, imports: about 1-2 s of the spare core) must be won back
MIN_PARALLEL_S = 3.0
#: the gate measures this process's share of a core over this long before warming the worker
GATE_S = 0.3
#: at most this many claims are kept in the table (claims of tests come and go)
MAX_COST_ENTRIES = 2000


# ----------------------------------------------------------------------------- the cost table


def _cost_path() -> Path | None:
    if os.environ.get("ICL_PROOFS_CACHE", "1") == "0":
        return None  # the caches are off: nothing read, nothing left behind
    from ..cache import cache_dir

    return cache_dir() / COST_FILE


def _mode(quick: bool) -> str:
    return "quick" if quick else "full"


def _read_table(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != COST_FORMAT:
        return {}
    return doc


def load_costs(quick: bool) -> dict[str, float]:
    """``claim id -> seconds`` of the last run of each claim (``--quick`` or not), or ``{}``."""
    path = _cost_path()
    if path is None:
        return {}
    table = _read_table(path).get(_mode(quick))
    if not isinstance(table, dict):
        return {}
    out = {}
    for k, v in table.items():
        if isinstance(k, str) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0:
            out[k] = float(v)
    return out


def save_costs(quick: bool, seconds: dict[str, float]) -> None:
    """Merge ``claim id -> seconds`` into the table (temp file + rename: a concurrent run never
    sees half a file; the later of two concurrent runs wins, which only costs a stale timing)."""
    path = _cost_path()
    if path is None or not seconds:
        return
    doc = _read_table(path)
    table = {mode: dict(doc.get(mode) or {}) for mode in ("quick", "full")}
    mine = table[_mode(quick)]
    for k, v in seconds.items():
        mine.pop(k, None)  # re-inserted last: the oldest entries are the first dropped below
        mine[k] = round(float(v), 3)
    while len(mine) > MAX_COST_ENTRIES:
        mine.pop(next(iter(mine)))
    from ..cache import atomic_write

    try:
        atomic_write(path, json.dumps({"format": COST_FORMAT, "version": 1, **table}, indent=0,
                          sort_keys=True).encode("utf-8"))
    except OSError:
        pass  # a read-only cache directory: timings are a hint, never a reason to fail a run


def expected_seconds(claims, costs: dict[str, float]) -> list[float]:
    """Expected seconds of each claim: its last run, else the mean of those known, else
    :data:`DEFAULT_COST_S`."""
    known = [costs[c.id] for c in claims if c.id in costs]
    default = sum(known) / len(known) if known else DEFAULT_COST_S
    return [costs.get(c.id, default) for c in claims]


# ----------------------------------------------------------------------------- the decision


def should_run_side_by_side(claims: list, expected: list[float], execution: settings.Execution | None = None,
                            parallel: bool | None = None) -> bool:
    """Whether claims may run side by side (the spare-core gate still decides, during the run).

    ``parallel``: ``False`` never, ``True`` whenever there are two claims and two local workers,
    ``None`` (default) also only when the expected work is at least :data:`MIN_PARALLEL_S`.
    """
    ex = execution or settings.current()
    if parallel is False or len(claims) < 2 or ex.scheduler is not None or ex.local_workers < 2:
        return False
    if parallel:
        return True
    # the longest claim runs here in any case: only the rest can be won
    return sum(expected) - max(expected) >= MIN_PARALLEL_S


# ----------------------------------------------------------------------------- one claim, recorded


@dataclasses.dataclass
class Recorded:
    """A claim's result dict and the callbacks a sequential run made for it, in order:
    ``("start", None)`` before each planned check, ``("check", CheckResult)`` after each result."""

    out: dict
    events: list


def run_recorded(run_claim, claim, ctx, plan) -> Recorded:
    """``run_claim`` (:func:`icl_proofs.runner.run_claim`, passed in: the runner sits above this
    layer) on one claim, its callbacks recorded."""
    events: list = []
    out = run_claim(claim, ctx, checks=plan,
                    on_start=lambda claim_, check, i, n: events.append(("start", None)),
                    on_check=lambda claim_, r: events.append(("check", r)))
    return Recorded(out, events)


def _quiet(msg: str) -> None:
    """Progress notes from inside a worker's checks go nowhere (the parent shows per claim)."""


def _claim_task(shared: tuple, claim_blob: bytes) -> Recorded:
    """In a pool worker: run one claim, Monte Carlo in this process (no pool inside the pool)."""
    import cloudpickle

    claim = cloudpickle.loads(claim_blob)
    ctx, execution, hypothesis_home, blas, run_claim, planned_checks = shared
    _set_hypothesis_home(hypothesis_home)
    from threadpoolctl import threadpool_limits

    # the BLAS threads of the process that would have run the claim, not the pool's one: a
    # least-squares fit's last bits depend on how many threads split it (mhm23's full-lsa fit did)
    with threadpool_limits(limits=blas), settings.using(execution):
        return run_recorded(run_claim, claim, ctx, planned_checks(claim, ctx))


def blas_threads() -> dict[str, int]:
    """This process's BLAS / OpenMP thread counts, by library (``threadpoolctl`` names)."""
    import numpy  # noqa: F401 - loads its BLAS, so that it is counted
    from threadpoolctl import threadpool_info

    # keyed by prefix (libscipy_openblas, libmkl_rt, ...): threadpool_limits takes those
    return {info["prefix"]: info["num_threads"] for info in threadpool_info()}


def _hypothesis_home():
    try:
        import hypothesis.configuration as hc
    except ImportError:  # pragma: no cover - hypothesis is a dependency
        return None
    return hc.__dict__.get("__hypothesis_home_directory")


def _set_hypothesis_home(home) -> None:
    """The worker keeps Hypothesis's files where the command put them (never the working directory)."""
    if home is None:
        return
    import hypothesis.configuration as hc

    hc.set_hypothesis_home_dir(home)


# ----------------------------------------------------------------------------- side by side


def _load_leaves_a_core() -> bool:
    """The 1-minute load average is below the number of cores this process may use."""
    try:
        return os.getloadavg()[0] < settings.cpu_count()
    except (AttributeError, OSError):  # pragma: no cover - no load average here: trust the share
        return True


class _Gate:
    """Warm the pool once this process has been seen getting a whole core (see the module doc)."""

    def __init__(self, warm: Callable[[], None], remaining_s: Callable[[], float], immediately: bool):
        self._warm = warm
        self._remaining_s = remaining_s
        self._lock = threading.Lock()
        self.warmed = False
        self._reset()
        self._timer = None
        if immediately:
            self._fire()
        else:
            self._timer = threading.Timer(GATE_S, self.check)
            self._timer.daemon = True
            self._timer.start()

    def _reset(self) -> None:
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def _fire(self) -> None:
        self.warmed = True
        self._warm()

    def check(self) -> None:
        """Warm now if a core is spare and enough work is left (called by the timer and after each
        claim run here).

        A core is spare when (1) this process got at least ``SHARE_MIN`` of a core *since the run
        began* (the router's measure, over the whole run: a short window passed by chance on the
        shared machine at load 5, and the worker then only shared our one core), and (2) the
        1-minute load average is below the core count (this process counts about 1): with one
        other busy process, (1) holds but a worker only takes a share of the same two cores.
        """
        with self._lock:
            if self.warmed:
                return
            wall, cpu = time.perf_counter() - self._t0, time.process_time() - self._c0
            if wall < GATE_S:
                return
            if (cpu >= routing.SHARE_MIN * wall and _load_leaves_a_core()
                    and self._remaining_s() >= MIN_PARALLEL_S / 2):
                self._fire()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _SideBySide:
    def __init__(self, claims, plans, ctx, expected, on_result, on_check, on_start, total, placement, out,
                 run_claim=None, planned_checks=None):
        self.claims, self.plans, self.ctx = claims, plans, ctx
        self.run_claim, self.planned_checks = run_claim, planned_checks
        self.expected = expected
        self.on_result, self.on_check, self.on_start = on_result, on_check, on_start
        self.total = total
        self.counter = 0
        self.n = len(claims)
        # longest expected first (ties: the given order), so the last claim to end is a short one
        self.queue = sorted(range(self.n), key=lambda i: (-expected[i], i))
        self.here_only: set[int] = set()
        self.done: dict[int, Recorded] = {}
        self.next_out = 0
        self.out: list[dict] = out  # released results, in order (kept by the caller if interrupted)
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.slots = helper_count(settings.current().local_workers)  # the pool Monte Carlo uses too
        self.execution = dataclasses.replace(settings.current(), workers=1)
        self.pool: executors.LocalPool | None = None  # set once the gate warms it
        self.feeders: list[threading.Thread] = []
        self.placement = placement
        self.ran_in_pool: list[str] = []  # ids of the claims the pool ran (tests and benchmarks read it)
        self.blas = blas_threads()  # now, in the caller's thread: what its claims run under

    # -- the queue

    def _take(self, for_pool: bool) -> int | None:
        """The next claim: the longest expected left, except for this process while no worker is
        starting: the next one to release (it runs with its callbacks live, as sequentially).

        Why this process goes longest-first too once a worker starts: the worker joins late (its
        start-up), so leaving it a long claim would end the run on that claim alone."""
        with self.cond:
            if not for_pool and self.pool is None and self.next_out in self.queue:
                self.queue.remove(self.next_out)
                return self.next_out
            for pos, i in enumerate(self.queue):
                if not (for_pool and i in self.here_only):
                    return self.queue.pop(pos)
        return None

    def _remaining_s(self) -> float:
        with self.cond:
            return sum(self.expected[i] for i in self.queue)

    def _finish(self, i: int, rec: Recorded) -> None:
        with self.cond:
            self.done[i] = rec
            self.cond.notify_all()

    def _back_here(self, i: int) -> None:
        with self.cond:
            self.here_only.add(i)
            self.queue.insert(0, i)
            self.cond.notify_all()

    # -- the pool

    def _warm(self) -> None:
        self.pool = executors.warm_pool(self.slots)
        blob = pickle.dumps((dataclasses.replace(self.ctx, progress=_quiet), self.execution, _hypothesis_home(),
                             self.blas, self.run_claim, self.planned_checks))
        for k in range(self.pool.workers):
            t = threading.Thread(target=self._feed, args=(self.pool, blob), name=f"icl-proofs-claims-{k}",
                                 daemon=True)
            self.feeders.append(t)
            t.start()

    def _blob(self, i: int) -> bytes | None:
        """The claim as the worker gets it, or ``None`` if it cannot travel.  cloudpickle: a claim
        of a script (``__main__``, which workers do not import) or of a function goes by value."""
        import cloudpickle

        try:
            return cloudpickle.dumps(self.claims[i])
        except Exception:  # noqa: BLE001 - a claim holding a lock, an open file, ...
            return None

    def _feed(self, pool: executors.LocalPool, blob: bytes) -> None:
        """One pool slot: wait for the worker, then take claims until none is left."""
        import hashlib

        key = hashlib.sha1(blob).hexdigest()
        while not pool.wait_ready(0.1):
            if self.stop.is_set():
                return
        while not self.stop.is_set():
            i = self._take(for_pool=True)
            if i is None:
                return
            claim_blob = self._blob(i)
            if claim_blob is None:
                self._back_here(i)
                continue
            try:
                rec = pool.submit(_claim_task, key, blob, claim_blob).result()
            except Exception as e:  # noqa: BLE001 - the claim runs here instead: never lost
                self._back_here(i)
                if pool.is_lost(e) or isinstance(e, RuntimeError):
                    return  # a dead worker or a pool shut down: no more claims for it
                continue
            if not self._consistent(i, rec):
                self._back_here(i)
                continue
            self.ran_in_pool.append(self.claims[i].id)
            self._finish(i, rec)

    def _consistent(self, i: int, rec: Recorded) -> bool:
        """The worker planned the checks this process planned (what the replay assumes)."""
        plan = self.plans[i]
        starts = sum(1 for kind, _ in rec.events if kind == "start")
        return starts == (len(plan) if isinstance(plan, list) else 0)

    # -- this process

    def _run_here(self, i: int) -> None:
        with settings.using(self.execution):
            if i == self.next_out:  # every earlier claim is out: report as it runs
                self._run_live(i)
            else:
                self._finish(i, run_recorded(self.run_claim, self.claims[i], self.ctx, self.plans[i]))

    def _run_live(self, i: int) -> None:
        def on_start(claim, check, _i, _n):
            self.counter += 1
            if self.on_start:
                self.on_start(claim, check, self.counter, self.total)

        res = self.run_claim(self.claims[i], self.ctx, checks=self.plans[i], on_start=on_start, on_check=self.on_check)
        self.out.append(res)
        self.next_out += 1
        if self.on_result:
            self.on_result(res)

    def _release(self) -> None:
        """Replay, in the given order, every claim whose predecessors are all out."""
        while True:
            with self.cond:
                rec = self.done.pop(self.next_out, None)
            if rec is None:
                return
            claim, plan = self.claims[self.next_out], self.plans[self.next_out]
            k = 0
            for kind, payload in rec.events:
                if kind == "start":
                    self.counter += 1
                    if self.on_start:
                        self.on_start(claim, plan[k], self.counter, self.total)
                    k += 1
                elif self.on_check:
                    self.on_check(claim, payload)
            self.out.append(rec.out)
            self.next_out += 1
            if self.on_result:
                self.on_result(rec.out)

    def run(self) -> list[dict]:
        first = self._take(for_pool=False)  # taken before any worker starts
        gate = _Gate(self._warm, self._remaining_s, immediately=self.placement == "pool")
        interrupted = False
        try:
            while self.next_out < self.n:
                self._release()
                i, first = (first, None) if first is not None else (self._take(for_pool=False), None)
                if i is not None:
                    self._run_here(i)
                    gate.check()
                    continue
                with self.cond:
                    if self.next_out not in self.done and not self.queue:
                        self.cond.wait(0.2)
            return self.out
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            gate.close()
            self.stop.set()
            if interrupted and self.pool is not None:
                # a worker may be in the middle of a long claim: stop it now, not at exit
                executors.discard_pool(self.pool)


def run_side_by_side(claims: list, plans: list, ctx, expected: list[float], *, run_claim, planned_checks,
                     on_result=None, on_check=None, on_start=None, total: int = 0,
                     out: list | None = None) -> list[dict]:
    """Run ``claims`` here and on ``cores - 1`` workers; return and report results in the given order
    (see the module doc).  ``run_claim``, ``planned_checks``: the runner's functions (module-level,
    so that a worker gets them by name); ``plans``: ``planned_checks`` of each claim; ``out``: a
    list the results are appended to as they are released."""
    run = _SideBySide(claims, plans, ctx, expected, on_result, on_check, on_start, total,
                      settings.current().placement, [] if out is None else out, run_claim, planned_checks)
    out = run.run()
    run_side_by_side.last = run  # what ran where, for tests and benchmarks
    return out


run_side_by_side.last = None
