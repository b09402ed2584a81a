"""Streaming Monte-Carlo estimates and CLT tolerances at a stated false-alarm rate.

* :class:`RunningMoments` accumulates mean and centred sum of squares batch by batch in constant
  memory, merging batches with the pairwise (Chan et al. 1979) update, which is numerically stable
  (each batch is centred on its own mean before merging).
* :func:`estimate_fixed` draws a fixed number of samples, :func:`estimate_to_se` samples until a
  target standard error is reached (between a floor and a budget), both in shards from independent
  child streams of a :class:`numpy.random.SeedSequence`; :func:`estimate` is the front door to both.
* :func:`z_check` / :func:`z_check_diff` are two-sided CLT tests; :func:`tolerance` the matching
  half-width.

False-alarm rate.  If the estimated quantity equals ``exact`` and the samples are iid with finite
variance, ``z = (mean - exact) / se`` is asymptotically standard normal, so a check with threshold
``Phi^{-1}(1 - alpha/2)`` fails with probability ``alpha`` + o(1).  The o(1) is the CLT error
(Berry-Esseen: O(skewness / sqrt(n))) plus the error of estimating ``se`` from the same samples
(relative O(1/sqrt(n)) for finite fourth moment); for the sample sizes used here (>= 10^4) the
actual rate is close to ``alpha``, though heavy right tails (squared errors are chi-square-like)
make the one-sided rates unequal.  With a fixed seed a check is deterministic: the rate refers to
the choice of seed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
from typing import Callable

import numpy as np

__all__ = [
    "Estimate",
    "RunningMoments",
    "estimate",
    "estimate_fixed",
    "estimate_to_se",
    "Shard",
    "shard_moments",
    "shard_sizes",
    "z_check",
    "z_check_diff",
    "tolerance",
    "threshold",
]


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo estimate: sample mean, its standard error ``sd / sqrt(n)``, sample size, and
    per-sample standard deviation (``ddof = 1``).  With ``n < 2``: ``sd = nan`` and ``se = inf``."""

    mean: float
    se: float
    n: int
    sd: float
    #: array backend that drew the samples (see :mod:`icl_proofs.parallel.backends`)
    backend: str = "numpy"

    def to_json(self) -> dict:
        out = {"mean": self.mean, "se": self.se, "n": self.n, "sd": self.sd}
        if self.backend != "numpy":
            out["backend"] = self.backend
        return out


class RunningMoments:
    """Streaming mean / variance in constant memory (Chan-Golub-LeVeque pairwise merge)."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean

    def _merge(self, nb: int, mb: float, m2b: float) -> None:
        if nb == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * (nb / n)
        self.m2 += m2b + delta * delta * (self.n * nb / n)
        self.n = n

    def update(self, x) -> "RunningMoments":
        """Add a batch of samples (any shape; flattened).  Non-finite samples raise ``ValueError``."""
        x = np.asarray(x, dtype=float).ravel()
        if x.size == 0:
            return self
        mb = float(x.mean())
        dev = x - mb
        m2b = float(np.dot(dev, dev))
        if not (math.isfinite(mb) and math.isfinite(m2b)):
            raise ValueError("Monte-Carlo samples contain non-finite values (nan or inf)")
        self._merge(x.size, mb, m2b)
        return self

    def merge(self, other: "RunningMoments") -> "RunningMoments":
        """Merge another accumulator into this one (in place); returns ``self``."""
        self._merge(other.n, other.mean, other.m2)
        return self

    @property
    def var(self) -> float:
        """Sample variance (``ddof = 1``); ``nan`` for fewer than two samples."""
        return self.m2 / (self.n - 1) if self.n >= 2 else math.nan

    def estimate(self) -> Estimate:
        if self.n == 0:
            raise ValueError("no samples accumulated")
        if self.n < 2:
            return Estimate(mean=self.mean, se=math.inf, n=self.n, sd=math.nan)
        sd = math.sqrt(max(self.var, 0.0))
        return Estimate(mean=self.mean, se=sd / math.sqrt(self.n), n=self.n, sd=sd)


def _pos_int(name: str, v) -> int:
    try:
        i = int(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive integer, got {v!r}") from None
    if i != v or i < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return i


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard of a Monte-Carlo run: ``size`` samples from the stream ``seed`` (shard ``index``)."""

    index: int
    seed: np.random.SeedSequence
    size: int
    backend: str = "numpy"


def shard_moments(sample_batch, shard: Shard) -> tuple[int, float, float]:
    """``(n, mean, m2)`` of one shard; runs wherever the shard is sent (a worker, or in process).

    A sampler with a ``sample_on(backend, seed, k)`` method draws on the shard's array backend;
    otherwise ``sample_batch(numpy.random.default_rng(seed), k)``.
    """
    k = shard.size
    if shard.backend != "numpy" and hasattr(sample_batch, "sample_on"):
        from ..parallel import backends

        x = np.asarray(sample_batch.sample_on(backends.resolve(shard.backend), shard.seed, k))
    else:
        x = np.asarray(sample_batch(np.random.default_rng(shard.seed), k))
    if x.shape != (k,):
        raise ValueError(f"sample_batch(rng, {k}) must return shape ({k},), got {x.shape}")
    acc = RunningMoments().update(x)
    return acc.n, acc.mean, acc.m2


def _children(ss: np.random.SeedSequence):
    """The streams ``ss.spawn`` would hand out next, one at a time, without spawning them yet
    (child ``j`` is ``SeedSequence(entropy, spawn_key + (base + j,))``, as in NumPy)."""
    base = ss.n_children_spawned
    j = 0
    while True:
        yield np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (base + j,),
                                     pool_size=ss.pool_size)
        j += 1


#: samples per shard by default, and the size growing shards stop doubling at
BATCH = 2**14
#: size of the first shard of a run to a target standard error when no ``batch`` is given
FIRST_SHARD = 2**8


def shard_sizes(n_cap: int, batch: int, growing: bool = False):
    """Sizes of the shards of a run of at most ``n_cap`` samples, in order.

    ``growing``: ``FIRST_SHARD, 2 FIRST_SHARD, 4 FIRST_SHARD, ...`` up to ``batch`` (the stopping
    rule is checked after each shard, so a run to a loose target stops early, and the overshoot is
    at most the last shard); otherwise ``batch`` each.  The last shard is shortened to ``n_cap``.

    >>> list(shard_sizes(5000, 1024, growing=True))
    [256, 512, 1024, 1024, 1024, 1024, 136]
    """
    drawn, size = 0, min(FIRST_SHARD, batch) if growing else batch
    while drawn < n_cap:
        k = min(size, n_cap - drawn)
        yield k
        drawn += k
        size = min(2 * size, batch)


def _shard_count(n_cap: int, batch: int, growing: bool) -> int:
    """``len(list(shard_sizes(n_cap, batch, growing)))`` without listing them."""
    count = drawn = 0
    size = min(FIRST_SHARD, batch) if growing else batch
    while size < batch and drawn < n_cap:  # the doubling prefix: a few dozen steps at most
        drawn += size
        count += 1
        size *= 2
    return count + max(0, -(-(n_cap - drawn) // batch))


def _expected_total(acc: RunningMoments, n_min: int, n_cap: int, se_target: float | None, batch: int,
                    min_batches: int, growing: bool) -> Callable[[], float]:
    """Forecast of the samples a run will draw, from what it has seen so far (for the router only:
    where shards run, never how many)."""
    if se_target is None:
        return lambda: n_cap
    floor = sum(itertools.islice(shard_sizes(n_cap, batch, growing), min_batches))

    def total() -> float:
        if acc.n < 2:
            return n_cap
        need = acc.var / se_target**2  # se = sd / sqrt(n)
        return min(n_cap, max(n_min, floor, need))

    return total


def _backend_for(sample_batch) -> tuple[str, bool]:
    """Resolved backend name for this sampler, and whether it must run in this process (GPU)."""
    if not hasattr(sample_batch, "sample_on"):
        return "numpy", False
    from ..parallel import backends, settings

    b = backends.resolve(settings.current().backend)
    return b.name, b.name != "numpy" and settings.current().scheduler is None


def _seed_sequence(seed) -> np.random.SeedSequence:
    """``seed`` itself if a SeedSequence (spawned from, so its child counter advances), else a new one."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    try:
        return np.random.SeedSequence(seed)
    except (TypeError, ValueError) as e:
        raise ValueError(f"seed must be a non-negative int or a SeedSequence: {e}") from None


def _positive_target(se_target) -> float:
    se_target = float(se_target)
    if not se_target > 0:
        raise ValueError(f"se_target must be positive, got {se_target}")
    return se_target


def estimate_fixed(
    sample_batch: Callable[[np.random.Generator, int], np.ndarray],
    n: int,
    seed: int | np.random.SeedSequence,
    *,
    batch: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Estimate:
    """Monte-Carlo estimate of ``E[X]`` from exactly ``n`` iid samples.

    The samples come in shards of ``batch`` (default :data:`BATCH`; the last one shortened), shard
    ``j`` from the ``j``-th child stream of ``SeedSequence(seed)`` (see :func:`estimate` for seeds,
    executors and ``progress``).

    >>> normal = lambda rng, k: rng.standard_normal(k)
    >>> est = estimate_fixed(normal, 10_000, seed=1, batch=1000)
    >>> est.n
    10000
    >>> abs(est.mean) < 5 * est.se
    True
    """
    n = _pos_int("n", n)
    batch = BATCH if batch is None else _pos_int("batch", batch)
    return _sample(sample_batch, _seed_sequence(seed), _Stop(n, n, None, 1), batch, False, progress)


def estimate_to_se(
    sample_batch: Callable[[np.random.Generator, int], np.ndarray],
    se_target: float,
    seed: int | np.random.SeedSequence,
    *,
    max_n: int,
    min_n: int = 0,
    batch: int | None = None,
    min_batches: int = 4,
    progress: Callable[[str], None] | None = None,
) -> Estimate:
    """Monte-Carlo estimate of ``E[X]``, sampled until its standard error is at most ``se_target``.

    The rule, checked after each shard: stop as soon as at least ``min_n`` samples and
    ``min_batches`` shards are in and the running ``se <= se_target``; stop anyway at ``max_n``
    samples (the target is then unmet: read ``Estimate.se``).  ``min_batches`` guards against a
    lucky small first shard whose sample variance happens to be tiny.  Without ``batch`` the shards
    grow from :data:`FIRST_SHARD` by doubling up to :data:`BATCH`, so a loose target stops after a
    few thousand samples while a tight one runs in full-size shards (:func:`shard_sizes`).

    >>> normal = lambda rng, k: rng.standard_normal(k)
    >>> est = estimate_to_se(normal, 0.02, seed=1, max_n=10**6)
    >>> est.se <= 0.02, est.n
    (True, 3840)

    A floor of 20,000 samples, although 3840 already met the target: the run stops at the first
    shard boundary past it, 256 + 512 + ... + 16,384 = 32,512.

    >>> estimate_to_se(normal, 0.02, seed=1, min_n=20_000, max_n=10**6).n
    32512

    An unreachable target stops at the budget:

    >>> est = estimate_to_se(normal, 1e-6, seed=1, max_n=5000)
    >>> est.n, est.se > 1e-6
    (5000, True)
    """
    se_target = _positive_target(se_target)
    max_n = _pos_int("max_n", max_n)
    if int(min_n) != min_n or min_n < 0:
        raise ValueError(f"min_n must be a non-negative integer, got {min_n!r}")
    if min_n > max_n:
        raise ValueError(f"max_n ({max_n}) must be >= min_n ({min_n})")
    growing = batch is None
    batch = BATCH if batch is None else _pos_int("batch", batch)
    stop = _Stop(int(min_n), max_n, se_target, _pos_int("min_batches", min_batches))
    return _sample(sample_batch, _seed_sequence(seed), stop, batch, growing, progress)


def estimate(
    sample_batch: Callable[[np.random.Generator, int], np.ndarray],
    n: int,
    seed: int | np.random.SeedSequence,
    batch: int | None = None,
    se_target: float | None = None,
    max_n: int | None = None,
    progress: Callable[[str], None] | None = None,
    min_batches: int = 4,
) -> Estimate:
    """Monte-Carlo estimate of ``E[X]`` from iid samples produced shard by shard: the front door to
    the two stopping rules, with the same numbers as calling them directly.

    ========================  ====================================================================
    arguments                 rule
    ========================  ====================================================================
    no ``se_target``          :func:`estimate_fixed` with ``n`` samples (``max_n`` unused)
    ``se_target``             :func:`estimate_to_se` with budget ``max_n = n`` (no floor)
    ``se_target``, ``max_n``  :func:`estimate_to_se` with floor ``min_n = n`` and budget ``max_n``
    ========================  ====================================================================

    ``sample_batch(rng, k)`` must return ``k`` samples as an array of shape ``(k,)``.  Shard ``j``
    (0-based) uses a fresh ``numpy.random.default_rng`` seeded with the ``j``-th child of
    ``SeedSequence(seed)`` (``spawn``).  The shard layout (:func:`shard_sizes`) is a function of the
    arguments only, so the result is a deterministic function of them and ``seed``: the shards run
    on the current :mod:`icl_proofs.parallel` executor (every core by default, or a Dask cluster)
    and are merged in shard order, so the number of workers never changes a digit.  An ``int`` seed
    builds a fresh SeedSequence; a SeedSequence passed in is spawned from (its child counter
    advances by the shards used, as in NumPy), so two calls with the same object give independent
    estimates.  ``progress`` (by default the callback installed with
    :func:`icl_proofs.parallel.progress.reporting`, as the ``verify`` runner does) receives a
    one-line status string at most about once per second and at the end.

    >>> normal = lambda rng, k: rng.standard_normal(k)
    >>> estimate(normal, 10_000, seed=1, batch=1000) == estimate_fixed(normal, 10_000, seed=1, batch=1000)
    True
    >>> estimate(normal, 10**6, seed=1, se_target=0.02) == estimate_to_se(normal, 0.02, seed=1, max_n=10**6)
    True
    >>> estimate(normal, 20_000, seed=1, se_target=0.02, max_n=10**6).n
    32512
    """
    n = _pos_int("n", n)
    if batch is not None:
        batch = _pos_int("batch", batch)
    min_batches = _pos_int("min_batches", min_batches)
    if se_target is not None:
        se_target = _positive_target(se_target)
    if max_n is not None:
        max_n = _pos_int("max_n", max_n)
        if se_target is not None and max_n < n:
            raise ValueError(f"max_n ({max_n}) must be >= n ({n})")
    seed = _seed_sequence(seed)
    if se_target is None:
        return estimate_fixed(sample_batch, n, seed, batch=batch, progress=progress)
    if max_n is None:
        return estimate_to_se(sample_batch, se_target, seed, max_n=n, batch=batch, min_batches=min_batches,
                              progress=progress)
    return estimate_to_se(sample_batch, se_target, seed, min_n=n, max_n=max_n, batch=batch,
                          min_batches=min_batches, progress=progress)


@dataclasses.dataclass(frozen=True)
class _Stop:
    """When a run stops: after ``n_cap`` samples, or once ``se <= se_target`` (``None``: never early)
    with at least ``n_min`` samples and ``min_batches`` shards in."""

    n_min: int
    n_cap: int
    se_target: float | None
    min_batches: int

    def reached(self, acc: RunningMoments, shards: int) -> bool:
        return (self.se_target is not None and shards >= self.min_batches and acc.n >= self.n_min
                and acc.n >= 2 and acc.estimate().se <= self.se_target)


def _sample(sample_batch, ss: np.random.SeedSequence, stop: _Stop, batch: int, growing: bool,
            progress: Callable[[str], None] | None) -> Estimate:
    """Draw shards of ``shard_sizes(stop.n_cap, batch, growing)`` until ``stop`` says so; merge them
    in shard order."""
    from ..parallel import Workload, imap_ordered, settings
    from ..parallel import progress as progress_

    n_cap = stop.n_cap
    backend, gpu_local = _backend_for(sample_batch)
    n_shards = _shard_count(n_cap, batch, growing)
    execution = settings.current()
    if gpu_local:  # one device: its shards run in this process, one after the other
        execution = dataclasses.replace(execution, workers=1)
    seeds = _children(ss)
    shards = (Shard(j, next(seeds), k, backend) for j, k in enumerate(shard_sizes(n_cap, batch, growing)))

    report = progress_.sink(progress)
    acc = RunningMoments()
    used = 0
    t0 = last = time.perf_counter()
    expected = _expected_total(acc, stop.n_min, n_cap, stop.se_target, batch, stop.min_batches, growing)
    workload = Workload(units=lambda shard: shard.size, remaining=lambda: expected() - acc.n)
    results = imap_ordered(shard_moments, sample_batch, shards, execution=execution, n_tasks=n_shards,
                           workload=workload)
    with contextlib.closing(results):
        for nb_, mb, m2b in results:
            acc._merge(nb_, mb, m2b)
            used += 1
            now = time.perf_counter()
            if now - last >= 1.0:
                last = now
                e = acc.estimate()
                eta = (n_cap - e.n) * (now - t0) / e.n
                report(f"monte-carlo: n={e.n:,} ({100 * e.n / n_cap:.0f}% of {n_cap:,}, "
                       f"≤{eta:.0f} s left) mean={e.mean:.6g} se={e.se:.3g}")
            if stop.reached(acc, used):
                break
    ss.spawn(used)  # advance the caller's SeedSequence past the streams used
    est = acc.estimate()
    if backend != "numpy":
        est = dataclasses.replace(est, backend=backend)
    if progress is not None or time.perf_counter() - t0 >= 1.0:
        report(f"monte-carlo done: n={est.n:,} mean={est.mean:.6g} se={est.se:.3g} "
               f"({time.perf_counter() - t0:.1f}s)")
    return est


def threshold(alpha: float) -> float:
    """Two-sided normal critical value ``Phi^{-1}(1 - alpha/2)`` (``scipy.stats.norm.isf(alpha/2)``)."""
    alpha = float(alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    # imported here, not at the top: a pool worker imports this module to run shards and never
    # needs SciPy's statistics, whose import was most of the worker's start-up (0.6 of 0.7 s CPU)
    from scipy.stats import norm

    return float(norm.isf(alpha / 2))


def _z(diff: float, se: float, scale: float) -> float:
    if not math.isfinite(se) or se < 0:
        raise ValueError(f"standard error must be finite and >= 0 (need n >= 2), got {se}")
    if se == 0:
        # constant samples: only rounding can separate them from the exact value
        return 0.0 if abs(diff) <= 1e-12 * max(scale, 1e-300) else math.copysign(math.inf, diff)
    return diff / se


def z_check(est: Estimate, exact: float, alpha: float) -> tuple[float, float, bool]:
    """Two-sided CLT test of ``E[X] == exact``: returns ``(z, threshold, passed)``.

    ``z = (est.mean - exact) / est.se``, ``threshold = Phi^{-1}(1 - alpha/2)``, ``passed = |z| <=
    threshold``.  Under the null the check fails with probability ~``alpha`` (the false-alarm rate;
    see the module docstring for the approximation).  If ``se == 0`` (constant samples) the check
    passes iff the mean equals ``exact`` to relative 1e-12.
    """
    thr = threshold(alpha)
    exact = float(exact)
    z = _z(est.mean - exact, est.se, max(abs(est.mean), abs(exact)))
    return z, thr, bool(abs(z) <= thr)


def z_check_diff(est1: Estimate, est2: Estimate, alpha: float) -> tuple[float, float, bool]:
    """Two-sided CLT test that two *independent* estimates have the same expectation.

    ``z = (m1 - m2) / sqrt(se1^2 + se2^2)``; returns ``(z, threshold, passed)`` like :func:`z_check`.
    """
    thr = threshold(alpha)
    se = math.hypot(est1.se, est2.se)
    z = _z(est1.mean - est2.mean, se, max(abs(est1.mean), abs(est2.mean)))
    return z, thr, bool(abs(z) <= thr)


def tolerance(est: Estimate, alpha: float) -> float:
    """Half-width ``threshold(alpha) * se`` of the two-sided interval at false-alarm rate ``alpha``."""
    return threshold(alpha) * est.se
