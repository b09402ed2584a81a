"""dd25 data model: multi-source nonlinear regression prompts and their attention features.

Conventions (the paper's displays were unreadable; these are ours, each a parameter where the paper
leaves it open):

* source s: x_1..x_{ℓ+1} iid N(0, Σ_x,s); task ξ ~ N(0, Σ_ξ,s), one per context;
  u_i = ξᵀx_i / (‖ξ‖ ‖Σ_x,s‖^{1/2}); y_i = φ_s(u_i) + ε_i, ε_i ~ N(0, Δ_s²);
* context statistics b = (b1, b2), b1 = (κ/ℓ) Σ_{i≤ℓ} y_i x_i, b2 = (1/ℓ) Σ_{i≤ℓ} y_i²
  (κ = ``kappa``, the first-block scale, default 1 — what the zfb23 LSA with v_21 = 0 gives);
* features h = vec(x_{ℓ+1} bᵀ) = x_{ℓ+1} ⊗ b ∈ R^{d(d+1)}, label ỹ = y_{ℓ+1}.

Sampling is chunked with one child :class:`numpy.random.SeedSequence` per chunk of
:data:`CHUNK` contexts, so the numbers do not depend on memory settings or on how chunks are
scheduled.  Every random number is drawn in float64 whatever the compute dtype, and only the
features h are stored in it: a float32 pipeline sees the *same* contexts as a float64 one, rounded,
so the two differ by precision alone (which is what lets a test bound the effect of float32).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Sequence

import numpy as np

from ..base import UserInputError

#: contexts per sampling chunk (fixed: it is part of the stream layout, hence of every number)
CHUNK = 256

_TARGETS = {
    "relu": lambda u: np.maximum(u, 0),
    "tanh": np.tanh,
    "linear": lambda u: u,
}


#: contexts drawn inside :func:`reuse`, by their stream and settings (None: no reuse)
_REUSE: dict | None = None


@contextlib.contextmanager
def reuse():
    """Within the block, a batch drawn twice from the same stream with the same settings is drawn
    once: the second call returns the first call's arrays (read-only, so no caller can alter what
    another reads).  The numbers are those of drawing again (the same stream gives the same draws);
    only the time is saved.  One simulation run compares several models on its data (several η, k,
    activations, mixtures ρ): :func:`..sim.simulate_many` runs them inside one block per run, so the
    memory held is one run's data."""
    global _REUSE
    outer, _REUSE = _REUSE, {}
    try:
        yield
    finally:
        _REUSE = outer


def reusing() -> bool:
    return _REUSE is not None


def _seed_key(seed: np.random.SeedSequence) -> tuple:
    return (repr(seed.entropy), tuple(seed.spawn_key), seed.pool_size, seed.n_children_spawned)


def _source_key(src: "Source") -> tuple:
    def cov(c):
        return (c.d, c.theta, None if c.gamma is None else c.gamma.tobytes(),
                None if c.matrix is None else c.matrix.tobytes())
    return (cov(src.cov_x), cov(src.cov_xi), src.delta, src.target)


def _reused(key: tuple, draw):
    """``draw()``, or the batch it gave for ``key`` earlier inside :func:`reuse`."""
    if _REUSE is None:
        return draw()
    if key not in _REUSE:
        batch = draw()
        for a in (batch.h, batch.y, batch.f, batch.s, batch.xq, batch.b):
            if a is not None:
                a.flags.writeable = False
        _REUSE[key] = batch
    return _REUSE[key]


@dataclasses.dataclass(frozen=True)
class Cov:
    """A covariance I + θ γγᵀ (``theta``, unit ``gamma``) or a full SPD matrix (``matrix``)."""

    d: int
    theta: float = 0.0
    gamma: np.ndarray | None = None
    matrix: np.ndarray | None = None

    @classmethod
    def identity(cls, d: int) -> "Cov":
        return cls(_check_d(d))

    @classmethod
    def spiked(cls, d: int, theta: float, gamma: np.ndarray | None = None, seed: int = 12345) -> "Cov":
        """I + θ γγᵀ; γ defaults to a fixed random unit vector (seeded, so sources can share it)."""
        d = _check_d(d)
        theta = float(theta)
        if not np.isfinite(theta) or theta < 0:
            raise UserInputError(f"spike strength theta must be finite and >= 0, got {theta}")
        if gamma is None:
            gamma = np.random.default_rng(seed).standard_normal(d)
        gamma = np.asarray(gamma, dtype=float).reshape(-1)
        if gamma.shape != (d,) or not np.all(np.isfinite(gamma)) or not np.linalg.norm(gamma) > 0:
            raise UserInputError(f"spike direction gamma must be a nonzero finite vector of length {d}")
        return cls(d, theta, gamma / np.linalg.norm(gamma))

    @classmethod
    def full(cls, M) -> "Cov":
        """A full covariance, checked symmetric and positive definite (Cholesky)."""
        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] < 1:
            raise UserInputError(f"covariance must be a square matrix, got shape {M.shape}")
        if not np.all(np.isfinite(M)):
            raise UserInputError("covariance has non-finite entries")
        if not np.allclose(M, M.T, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(M).max())):
            raise UserInputError("covariance is not symmetric")
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise UserInputError("covariance is not positive definite") from None
        return cls(M.shape[0], matrix=M)

    @property
    def opnorm(self) -> float:
        if self.matrix is not None:
            return float(np.linalg.eigvalsh(self.matrix)[-1])
        return 1.0 + self.theta

    @property
    def trace(self) -> float:
        return float(np.trace(self.matrix)) if self.matrix is not None else self.d + self.theta

    def as_matrix(self) -> np.ndarray:
        if self.matrix is not None:
            return self.matrix
        M = np.eye(self.d)
        if self.theta:
            M += self.theta * np.outer(self.gamma, self.gamma)
        return M

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """Draw ``shape + (d,)`` vectors; a spike costs O(d) per vector, not O(d²)."""
        g = rng.standard_normal(shape + (self.d,), dtype=dtype)
        if self.matrix is not None:
            return g @ np.linalg.cholesky(self.matrix).T.astype(dtype)
        if self.theta:
            gam = self.gamma.astype(dtype)
            g += (np.sqrt(1.0 + self.theta) - 1.0) * (g @ gam)[..., None] * gam
        return g

    def describe(self) -> str:
        if self.matrix is not None:
            return "full"
        return "I" if not self.theta else f"I + {self.theta:g} γγᵀ"


def _check_d(d) -> int:
    if int(d) != d or d < 1:
        raise UserInputError(f"dimension d must be a positive integer, got {d}")
    return int(d)


@dataclasses.dataclass(frozen=True)
class Source:
    """One data source: input covariance, task covariance, label noise sd Δ, target link φ."""

    cov_x: Cov
    cov_xi: Cov
    delta: float = 0.01
    target: str = "relu"

    def __post_init__(self):
        if self.cov_x.d != self.cov_xi.d:
            raise UserInputError(f"Σ_x is {self.cov_x.d}-dimensional but Σ_ξ is {self.cov_xi.d}-dimensional")
        if not np.isfinite(self.delta) or self.delta < 0:
            raise UserInputError(f"noise level Delta must be finite and >= 0, got {self.delta}")
        if self.target not in _TARGETS:
            raise UserInputError(f"unknown target link {self.target!r}; known: {', '.join(_TARGETS)}")

    @property
    def d(self) -> int:
        return self.cov_x.d

    def describe(self) -> str:
        return f"Σx={self.cov_x.describe()}, Σξ={self.cov_xi.describe()}, Δ={self.delta:g}, φ={self.target}"


def check_mixture(rho: Sequence[float], n_sources: int) -> np.ndarray:
    """ρ must be a probability vector over the sources (one-line error otherwise)."""
    r = np.asarray(rho, dtype=float).reshape(-1)
    if r.shape != (n_sources,):
        raise UserInputError(f"mixture rho has {r.size} entries but there are {n_sources} sources")
    if not np.all(np.isfinite(r)) or np.any(r < 0) or abs(r.sum() - 1.0) > 1e-9:
        raise UserInputError(f"mixture rho must be a probability vector (entries >= 0 summing to 1), got {r.tolist()}")
    return r


@dataclasses.dataclass
class Batch:
    """Contexts as features: ``h`` (m × d(d+1)), query label ``y``, noiseless query label ``f``,
    source index ``s``; ``xq`` (m × d) and ``b`` (m × (d+1)) are the two factors of h = x_q ⊗ b in
    float64 (the Gram matrix H Hᵀ = (X_q X_qᵀ) ∘ (B Bᵀ) costs m²(2d+1) from them, not m² d(d+1))."""

    h: np.ndarray
    y: np.ndarray
    f: np.ndarray
    s: np.ndarray
    xq: np.ndarray | None = None
    b: np.ndarray | None = None


def sample_source_chunk(src: Source, m: int, ell: int, rng: np.random.Generator, kappa: float = 1.0,
                        dtype=np.float64) -> Batch:
    """m contexts of one source, as features (vectorised; memory O(m ℓ d + m d²)).  The draws and
    b are float64; h is formed in ``dtype``."""
    d = src.d
    f64 = np.float64
    xi = src.cov_xi.sample(rng, (m,), f64)
    xi /= np.linalg.norm(xi, axis=1, keepdims=True)
    X = src.cov_x.sample(rng, (m, ell + 1), f64)
    u = np.einsum("mid,md->mi", X, xi) / np.sqrt(src.cov_x.opnorm)
    f = _TARGETS[src.target](u).astype(f64, copy=False)
    y = f + src.delta * rng.standard_normal(f.shape, dtype=f64) if src.delta else f.copy()
    b = np.empty((m, d + 1), dtype=f64)
    b[:, :d] = np.einsum("mi,mid->md", y[:, :ell], X[:, :ell]) * (kappa / ell)
    b[:, d] = np.mean(y[:, :ell] ** 2, axis=1)
    xq = X[:, ell, :]
    dt = np.dtype(dtype)
    h = (xq.astype(dt, copy=False)[:, :, None] * b.astype(dt, copy=False)[:, None, :]).reshape(m, d * (d + 1))
    return Batch(h, y[:, ell].astype(dt, copy=False), f[:, ell].astype(dt, copy=False),
                 np.zeros(m, dtype=np.int64), np.ascontiguousarray(xq), b)


def sample_mixture(sources: Sequence[Source], rho: np.ndarray, n: int, ell: int, seed: np.random.SeedSequence,
                   kappa: float = 1.0, dtype=np.float64, out: np.ndarray | None = None,
                   coupled: bool = False) -> Batch:
    """See :func:`_sample_mixture`; inside :func:`reuse` (where ``out`` is ignored: the arrays are
    shared) an uncoupled mixture drawn before is returned again."""
    if _REUSE is None:
        return _sample_mixture(sources, rho, n, ell, seed, kappa, dtype, out, coupled)
    if coupled:  # reused chunk by chunk (the chunks do not depend on ρ)
        return _sample_mixture(sources, rho, n, ell, seed, kappa, dtype, None, coupled)
    key = ("mixture", tuple(_source_key(s) for s in sources), tuple(np.asarray(rho, float).tolist()), n, ell,
           _seed_key(seed), kappa, np.dtype(dtype).str)
    return _reused(key, lambda: _sample_mixture(sources, rho, n, ell, seed, kappa, dtype, None, coupled))


def _sample_mixture(sources: Sequence[Source], rho: np.ndarray, n: int, ell: int, seed: np.random.SeedSequence,
                    kappa: float = 1.0, dtype=np.float64, out: np.ndarray | None = None,
                    coupled: bool = False) -> Batch:
    """n contexts with s ~ Cat(ρ) per context, written into one n × d(d+1) array (``out`` if given).

    ``coupled``: common random numbers across mixtures (for comparing mixtures ρ on the same runs).
    Context j's source is s_j = #{c : U_j ≥ ρ_0 + … + ρ_c} with one uniform U_j per context, and
    its Gaussian draws are the same whichever source it comes from (every source is sampled from
    one shared stream per chunk, and each context keeps the rows of its own source).  Moving ρ then
    changes the source of the fewest contexts and the data of none other; each context is still
    exactly a draw of its source, so every single mixture has the law of the uncoupled sampler (a
    different stream, hence other numbers)."""
    d = sources[0].d
    D = d * (d + 1)
    h = out if out is not None else np.empty((n, D), dtype=dtype)
    y = np.empty(n, dtype=dtype)
    f = np.empty(n, dtype=dtype)
    s_all = np.empty(n, dtype=np.int64)
    xq = np.empty((n, d))
    bb = np.empty((n, d + 1))
    n_chunks = -(-n // CHUNK)
    for c, child in enumerate(seed.spawn(n_chunks)):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        if coupled:
            label_seed, data_seed = child.spawn(2)
            u = np.random.default_rng(label_seed).random(hi - lo)
            s = np.searchsorted(np.cumsum(rho)[:-1], u, side="right")
            parts = []
            for j, src in enumerate(sources):
                idx = np.flatnonzero(s == j)
                if idx.size:  # the whole chunk from the shared stream, then this source's rows
                    key = ("chunk", _source_key(src), hi - lo, ell, _seed_key(data_seed), kappa, np.dtype(dtype).str)
                    whole = _reused(key, lambda: sample_source_chunk(src, hi - lo, ell, np.random.default_rng(data_seed),
                                                                     kappa, dtype))
                    parts.append((j, idx, _rows(whole, idx)))
        else:
            rng = np.random.default_rng(child)
            s = rng.choice(len(sources), size=hi - lo, p=rho)
            parts = []
            for j, src in enumerate(sources):
                idx = np.flatnonzero(s == j)
                if idx.size:
                    parts.append((j, idx, sample_source_chunk(src, idx.size, ell, rng, kappa, dtype)))
        s_all[lo:hi] = s
        for _, idx, b in parts:
            h[lo + idx], y[lo + idx], f[lo + idx] = b.h, b.y, b.f
            xq[lo + idx], bb[lo + idx] = b.xq, b.b
    return Batch(h, y, f, s_all, xq, bb)


def _rows(b: Batch, idx: np.ndarray) -> Batch:
    return Batch(b.h[idx], b.y[idx], b.f[idx], b.s[idx], b.xq[idx], b.b[idx])


def iter_source(src: Source, n: int, ell: int, seed: np.random.SeedSequence, kappa: float = 1.0,
                dtype=np.float64):
    """Test contexts of one source in chunks of :data:`CHUNK` (never one big feature matrix)."""
    n_chunks = -(-n // CHUNK)
    for c, child in enumerate(seed.spawn(n_chunks)):
        m = min(n, (c + 1) * CHUNK) - c * CHUNK
        key = ("chunk", _source_key(src), m, ell, _seed_key(child), kappa, np.dtype(dtype).str)
        yield _reused(key, lambda: sample_source_chunk(src, m, ell, np.random.default_rng(child), kappa, dtype))
