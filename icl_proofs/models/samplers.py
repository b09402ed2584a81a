"""Samplers for Monte-Carlo checks of zfb23: Wishart draws and prompt simulators.

Data model (Zhang, Frei & Bartlett 2023, see ``docs/architecture.md``): per prompt
``w ~ N(mu, Psi)``, ``x_1..x_M ~ N(0, Lambda)`` iid, ``x_q ~ N(0, Lambda_q)`` (``Lambda_q =
Lambda`` unless a query shift is given), ``y_i = <w, x_i> + eps_i`` with ``eps_i ~ N(0, s^2)``,
query label ``y_q = <w, x_q> + eps_q`` with ``eps_q ~ N(0, s_q^2)``.

* :func:`sample_empirical_cov` draws ``Sigma_hat = (1/M) sum_i x_i x_i^T`` directly from its
  Wishart law (Bartlett decomposition; the ``M x d`` Gaussian matrix when ``M < d``).
* :func:`naive_prediction_error_samples` simulates whole prompts and runs the LSA forward pass.
* :func:`conditional_prediction_error_samples` is the Rao-Blackwellised estimator for the reduced
  model ``y_hat = h^T P x_q``: it samples only ``Sigma_hat`` and returns
  ``E[(y_hat - y_q)^2 | Sigma_hat]`` in closed form.  Same mean, far smaller variance.

Every function takes a :class:`numpy.random.Generator` and a batch size and is vectorised over the
batch; the order of the random draws is fixed, so a seeded generator gives reproducible output.
"""
from __future__ import annotations

import operator

import numpy as np

from . import lsa

__all__ = [
    "sample_empirical_cov",
    "naive_prediction_error_samples",
    "conditional_prediction_error_samples",
    "conditional_sampler",
    "ConditionalSampler",
]

# Samples per internal chunk of the conditional estimator: about 2^17 doubles per (chunk, d, d)
# array keeps the working set in cache.  Depends on d only, so results stay reproducible.
_CHUNK_DOUBLES = 2**17


# ----------------------------------------------------------------------------- validation helpers


def _int(name: str, v, minimum: int) -> int:
    try:
        i = operator.index(v)
    except TypeError:
        if isinstance(v, float) and v.is_integer():
            i = int(v)
        else:
            raise ValueError(f"{name} must be an integer, got {v!r}") from None
    if i < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {i}")
    return i


def _matrix(name: str, A, d: int | None = None) -> np.ndarray:
    try:
        A = np.asarray(A, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a real matrix: {e}") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {A.shape}")
    if d is not None and A.shape[0] != d:
        raise ValueError(f"{name} must have shape ({d}, {d}) to match Lambda, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} has non-finite entries")
    return A


def _symmetric(name: str, A, d: int | None = None) -> np.ndarray:
    A = _matrix(name, A, d)
    scale = float(np.max(np.abs(A))) if A.size else 0.0
    if not np.allclose(A, A.T, rtol=0.0, atol=1e-10 * max(scale, 1e-300)):
        raise ValueError(f"{name} must be symmetric")
    return (A + A.T) / 2


def _spd_chol(name: str, A, d: int | None = None) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive definite matrix."""
    A = _symmetric(name, A, d)
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None


def _psd_factor(name: str, A, d: int) -> np.ndarray:
    """A factor ``C`` with ``C C^T = A`` for a symmetric positive semi-definite ``A``."""
    A = _symmetric(name, A, d)
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        pass
    ev, V = np.linalg.eigh(A)
    scale = max(float(np.max(np.abs(ev))), 1e-300)
    if ev[0] < -1e-10 * scale:
        raise ValueError(f"{name} must be positive semi-definite (smallest eigenvalue {ev[0]:.3g})")
    return V * np.sqrt(np.clip(ev, 0.0, None))


def _vector(name: str, v, d: int) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) to match Lambda, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} has non-finite entries")
    return v


def _sd(name: str, s) -> float:
    s = float(s)
    if not (np.isfinite(s) and s >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {s}")
    return s


# ----------------------------------------------------------------------------- Wishart


def _wishart_factor(rng: np.random.Generator, d: int, M: int, batch: int) -> np.ndarray:
    """A factor ``T`` with ``T T^T ~ Wishart_d(I, M)``, shape ``(batch, d, min(d, M))``.

    ``M >= d``: Bartlett decomposition, ``T`` lower triangular with ``T_ii^2 ~ chi^2_{M-i}``
    (0-based ``i``) and ``T_ij ~ N(0, 1)`` below the diagonal.  ``M < d`` (singular Wishart):
    ``T = G^T`` with ``G`` an ``M x d`` standard Gaussian matrix.
    """
    if M < d:
        return rng.standard_normal((batch, M, d)).transpose(0, 2, 1)
    A = np.zeros((batch, d, d))
    if d > 1:
        il = np.tril_indices(d, -1)
        A[:, il[0], il[1]] = rng.standard_normal((batch, il[0].size))
    df = (M - np.arange(d)).astype(float)
    idx = np.arange(d)
    A[:, idx, idx] = np.sqrt(2.0 * rng.standard_gamma(df / 2.0, size=(batch, d)))
    return A


def _white_wishart(rng: np.random.Generator, d: int, M: int, batch: int) -> np.ndarray:
    """``S = W / M`` with ``W ~ Wishart_d(I, M)``, shape ``(batch, d, d)``."""
    T = _wishart_factor(rng, d, M, batch)
    return np.matmul(T, T.transpose(0, 2, 1)) / M


def sample_empirical_cov(rng: np.random.Generator, Lambda, M: int, batch: int) -> np.ndarray:
    """``batch`` draws of ``Sigma_hat = (1/M) sum_{i<=M} x_i x_i^T``, ``x_i ~ N(0, Lambda)`` iid.

    Drawn from the Wishart law ``Sigma_hat = L W L^T / M``, ``W ~ Wishart_d(I, M)``, ``L`` the
    Cholesky factor of ``Lambda`` (Bartlett decomposition, cost O(d^3) per draw; for ``M < d`` the
    ``M x d`` Gaussian matrix, cost O(M d^2)).  Returns shape ``(batch, d, d)``.
    """
    L = _spd_chol("Lambda", Lambda)
    d = L.shape[0]
    M = _int("M", M, 1)
    batch = _int("batch", batch, 0)
    T = np.matmul(L, _wishart_factor(rng, d, M, batch))
    return np.matmul(T, T.transpose(0, 2, 1)) / M


# ----------------------------------------------------------------------------- naive simulator


def naive_prediction_error_samples(
    rng: np.random.Generator,
    params: lsa.LSAParams,
    Lambda,
    M: int,
    batch: int,
    Lambda_query=None,
    w_mean=None,
    w_cov=None,
    noise_sd: float = 0.0,
    query_noise_sd: float = 0.0,
) -> np.ndarray:
    """Squared errors ``(y_hat - y_q)^2`` of ``batch`` fully simulated prompts, shape ``(batch,)``.

    Draws (in this order) ``x_1..x_M ~ N(0, Lambda)``, ``w ~ N(w_mean, w_cov)`` (default
    ``N(0, I)``), ``x_q ~ N(0, Lambda_query)`` (default ``Lambda``), label noise ``eps_i`` with sd
    ``noise_sd`` and query noise with sd ``query_noise_sd`` (noiseless query label by default),
    embeds the prompt and runs :func:`icl_proofs.models.lsa.predict` with ``rho = M``.
    """
    if not isinstance(params, lsa.LSAParams):
        raise ValueError(f"params must be an LSAParams, got {type(params).__name__}")
    L = _spd_chol("Lambda", Lambda)
    d = L.shape[0]
    if params.d != d:
        raise ValueError(f"params are for d = {params.d} but Lambda is {d}x{d}")
    M = _int("M", M, 1)
    batch = _int("batch", batch, 0)
    Cq = L if Lambda_query is None else _psd_factor("Lambda_query", Lambda_query, d)
    mu = np.zeros(d) if w_mean is None else _vector("w_mean", w_mean, d)
    R = None if w_cov is None else _psd_factor("w_cov", w_cov, d)
    s = _sd("noise_sd", noise_sd)
    sq = _sd("query_noise_sd", query_noise_sd)

    X = np.matmul(rng.standard_normal((batch, M, d)), L.T)  # rows x_i = L z_i
    zw = rng.standard_normal((batch, d))
    w = mu + (zw if R is None else zw @ R.T)
    x_q = rng.standard_normal((batch, d)) @ Cq.T
    y = np.einsum("bnd,bd->bn", X, w)
    if s > 0:
        y += s * rng.standard_normal((batch, M))
    y_q = np.einsum("bd,bd->b", x_q, w)
    if sq > 0:
        y_q += sq * rng.standard_normal(batch)
    E = lsa.embed(X, y, x_q)
    err = lsa.predict(params, E, M) - y_q
    return err * err


# ----------------------------------------------------------------------------- conditional simulator


class _ConditionalPlan:
    """Precomputed matrices of ``E[(y_hat - y_q)^2 | Sigma_hat]`` in whitened coordinates.

    With ``Lambda = L L^T`` and ``Sigma_hat = L S L^T`` (``S = W/M``, ``W ~ Wishart_d(I, M)``),
    ``K = Psi + mu mu^T``:

        E[err^2 | S] = tr(S J S N) + <S, Lin> + c,
        J = L^T K L,   N = L^T P Lambda_q P^T L,   C = L^T K Lambda_q P^T L,
        Lin = -(C + C^T) + (s^2/M) N,   c = tr(Lambda_q K) + s_q^2.

    The law of ``S`` is invariant under ``S -> O S O^T`` (``O`` orthogonal), so we rotate to the
    eigenbasis of ``J`` (diagonal ``J = diag(j)``): the quadratic term is then one batched matmul,
    ``tr((S * j) (S N))``; if ``N`` is diagonal too (``J`` and ``N`` commute, e.g. all matrices
    diagonal) it is elementwise, ``n^T (S o S) j``.  ``whitening`` is the factor ``L O`` actually
    used: ``evaluate(S)`` is the conditional error at ``Sigma_hat = whitening S whitening^T``.
    """

    def __init__(self, P, Lambda, M, Lambda_query, w_mean, w_cov, noise_sd, query_noise_sd):
        L = _spd_chol("Lambda", Lambda)
        d = L.shape[0]
        P = _matrix("P", P, d)
        M = _int("M", M, 1)
        Lq = _symmetric("Lambda", Lambda, d) if Lambda_query is None else _symmetric(
            "Lambda_query", Lambda_query, d
        )
        _psd_factor("Lambda_query", Lq, d)  # validates positive semi-definiteness
        mu = np.zeros(d) if w_mean is None else _vector("w_mean", w_mean, d)
        K = np.eye(d) if w_cov is None else _symmetric("w_cov", w_cov, d)
        if w_cov is not None:
            _psd_factor("w_cov", K, d)
        K = K + np.outer(mu, mu)
        s = _sd("noise_sd", noise_sd)
        sq = _sd("query_noise_sd", query_noise_sd)

        LtP = L.T @ P
        J = L.T @ K @ L
        N = LtP @ Lq @ LtP.T
        C = L.T @ K @ Lq @ LtP.T
        Lin = -(C + C.T) + (s * s / M) * N
        self.const = float(np.trace(Lq @ K)) + sq * sq

        J = (J + J.T) / 2
        N = (N + N.T) / 2
        if _is_diagonal(J):
            j = np.diag(J).copy()
            self.whitening = L
        else:
            j, O = np.linalg.eigh(J)
            self.whitening = L @ O
            N = O.T @ N @ O
            N = (N + N.T) / 2
            Lin = O.T @ Lin @ O
            # after a rotation, round-off leaves ~1e-16 relative off-diagonal noise in N when J and N
            # commute; below 1e-13 it is dropped (an error far below any Monte-Carlo tolerance)
            off = N - np.diag(np.diag(N))
            if np.max(np.abs(off)) <= 1e-13 * max(float(np.max(np.abs(N))), 1e-300):
                N = np.diag(np.diag(N))
        self.d, self.M = d, M
        self.j = j
        self.N = N
        self.n_diag = np.diag(N).copy() if _is_diagonal(N) else None
        self.Lin = (Lin + Lin.T) / 2  # <S, Lin> only sees the symmetric part
        self._lin_flat = self.Lin.ravel()
        if self.n_diag is not None:
            self._w_diag = np.outer(self.n_diag, j).ravel()
        else:
            self._w_gen = np.tile(j, d)

    def evaluate(self, S: np.ndarray) -> np.ndarray:
        """Conditional squared error for a batch ``S`` of whitened empirical covariances."""
        B, d = S.shape[0], self.d
        flat = S.reshape(B, d * d)
        if self.n_diag is not None:
            # tr(S D S N) = sum_ab S_ab^2 n_a j_b
            quad = np.matmul(flat * flat, self._w_diag)
        else:
            # tr(S D S N) = sum_ab S_ab j_b (S N)_ba = sum_ab S_ab (N S)_ab j_b
            NS = np.matmul(self.N, S).reshape(B, d * d)
            quad = np.matmul(flat * NS, self._w_gen)
        return quad + np.matmul(flat, self._lin_flat) + self.const


def _is_diagonal(A: np.ndarray) -> bool:
    return not np.any(A - np.diag(np.diag(A)))


def conditional_prediction_error_samples(
    rng: np.random.Generator,
    P,
    Lambda,
    M: int,
    batch: int,
    Lambda_query=None,
    w_mean=None,
    w_cov=None,
    noise_sd: float = 0.0,
    query_noise_sd: float = 0.0,
) -> np.ndarray:
    """Rao-Blackwellised squared errors of the reduced model ``y_hat = h^T P x_q``, shape ``(batch,)``.

    Samples ``Sigma_hat`` (``M`` covariates, covariance ``Lambda``) and returns, for each draw,

        E[(y_hat - y_q)^2 | Sigma_hat]
          = tr(Lambda_q (P^T Sigma_hat - I)(Psi + mu mu^T)(Sigma_hat P - I))
            + (s^2/M) tr(Lambda_q P^T Sigma_hat P) + s_q^2,

    from ``y_hat - y_q = w^T (Sigma_hat P - I) x_q + xi^T P x_q - eps_q`` with
    ``xi = (1/M) sum_i eps_i x_i ~ N(0, s^2 Sigma_hat / M)`` given the covariates.  Its mean is the
    prediction error of the naive simulator with ``LSAParams.reduced(P)`` and ``rho = M``.
    Arguments are as in :func:`naive_prediction_error_samples`.  Cost O(d^3) per draw.
    """
    batch = _int("batch", batch, 0)
    plan = _ConditionalPlan(P, Lambda, M, Lambda_query, w_mean, w_cov, noise_sd, query_noise_sd)
    return _conditional_with_plan(rng, plan, batch)


class _WhiteWishartBuffers:
    """Reusable buffers for chunked draws of ``S = W / M``, ``W ~ Wishart_d(I, M)``.

    Draws the same random stream as :func:`_white_wishart` (same order and sizes of the NumPy calls)
    but writes into preallocated arrays: fresh multi-megabyte allocations per chunk cost more in
    page faults than the arithmetic.
    """

    def __init__(self, d: int, M: int, chunk: int):
        self.d, self.M, self.chunk = d, M, chunk
        self.S = np.empty((chunk, d, d))
        if M >= d:
            self.A = np.zeros((chunk, d, d))  # strict upper triangle stays zero
            il = np.tril_indices(d, -1)
            self.low = il[0] * d + il[1]
            self.diag = np.arange(d) * (d + 1)
            self.Z = np.empty((chunk, self.low.size))
            self.g = np.empty((chunk, d))
            self.half_df = (M - np.arange(d)) / 2.0
        else:
            self.G = np.empty((chunk, M, d))

    def draw(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """``k <= chunk`` draws; the result is a view into the buffers, valid until the next call."""
        d, M = self.d, self.M
        S = self.S[:k]
        if M >= d:
            A = self.A[:k]
            flat = A.reshape(k, d * d)
            if d > 1:
                Z = self.Z[:k]
                rng.standard_normal(out=Z)
                flat[:, self.low] = Z
            g = self.g[:k]
            rng.standard_gamma(self.half_df, out=g)
            g *= 2.0
            np.sqrt(g, out=g)
            flat[:, self.diag] = g
            np.matmul(A, A.transpose(0, 2, 1), out=S)
        else:
            G = self.G[:k]
            rng.standard_normal(out=G)
            np.matmul(G.transpose(0, 2, 1), G, out=S)
        S *= 1.0 / M
        return S


def _conditional_with_plan(rng: np.random.Generator, plan: _ConditionalPlan, batch: int) -> np.ndarray:
    d, M = plan.d, plan.M
    chunk = min(batch, max(1, _CHUNK_DOUBLES // (d * d)))
    out = np.empty(batch)
    if batch == 0:
        return out
    buf = _WhiteWishartBuffers(d, M, chunk)
    for start in range(0, batch, chunk):  # loop over chunks of samples, not over samples
        stop = min(batch, start + chunk)
        out[start:stop] = plan.evaluate(buf.draw(rng, stop - start))
    return out


class ConditionalSampler:
    """Batches of the conditional estimator with its set-up (validation, factorisations) done once.

    ``sampler(rng, k)`` is a ``sample_batch`` for :func:`icl_proofs.numeric.montecarlo.estimate`
    (NumPy, same numbers as :func:`conditional_prediction_error_samples`);
    :meth:`sample_on` draws on an array backend (:mod:`icl_proofs.parallel.backends`).  Picklable
    (plain attributes; device copies of the plan are dropped and rebuilt after unpickling).
    """

    def __init__(self, plan: _ConditionalPlan):
        self.plan = plan
        self._device: dict = {}

    @property
    def d(self) -> int:
        return self.plan.d

    @property
    def M(self) -> int:
        return self.plan.M

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_device"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._device = {}

    def __call__(self, rng: np.random.Generator, k: int) -> np.ndarray:
        return _conditional_with_plan(rng, self.plan, _int("batch", k, 0))

    def sample_on(self, backend, seed, k: int) -> np.ndarray:
        """``k`` samples drawn with ``backend``'s random numbers from ``seed`` (a SeedSequence or
        an int), as a float64 NumPy array of shape ``(k,)``.

        ``backend`` is a :class:`~icl_proofs.parallel.backends.Backend` or a name for
        :func:`~icl_proofs.parallel.backends.resolve`.  NumPy gives exactly
        ``self(numpy.random.default_rng(seed), k)``; CuPy / PyTorch draw their own streams (same
        distribution, different numbers), deterministic for a given seed, backend and device.
        """
        from ..parallel import backends as _backends

        backend = _backends.resolve(backend)
        k = _int("batch", k, 0)
        if not isinstance(seed, np.random.SeedSequence):
            try:
                seed = np.random.SeedSequence(seed)
            except (TypeError, ValueError) as e:
                raise ValueError(f"seed must be a non-negative int or a SeedSequence: {e}") from None
        if backend.name == "numpy":
            return self(np.random.default_rng(seed), k)
        with backend.activate():
            return _conditional_on_backend(backend, self._device_plan(backend), seed, k)

    def _device_plan(self, backend) -> dict:
        key = (backend.name, backend.device)
        dp = self._device.get(key)
        if dp is None:
            dp = _device_plan(backend, self.plan)
            self._device[key] = dp
        return dp


def _device_plan(backend, plan: _ConditionalPlan) -> dict:
    """The arrays of ``plan`` (and of the Bartlett draw) copied to ``backend``'s device."""
    d, M = plan.d, plan.M
    dp = {"d": d, "M": M, "const": plan.const, "lin": backend.asarray(plan._lin_flat)}
    if plan.n_diag is not None:
        dp["w_diag"] = backend.asarray(plan._w_diag)
    else:
        dp["N"] = backend.asarray(plan.N)
        dp["w_gen"] = backend.asarray(plan._w_gen)
    if M >= d:
        il = np.tril_indices(d, -1)
        dp["low"] = (backend.asindex(il[0]), backend.asindex(il[1]))
        dp["n_low"] = il[0].size
        dp["diag"] = backend.asindex(np.arange(d))
        dp["half_df"] = (M - np.arange(d)) / 2.0
    return dp


def _conditional_on_backend(backend, dp: dict, seed: np.random.SeedSequence, batch: int) -> np.ndarray:
    """:func:`_conditional_with_plan` with ``backend``'s arrays and random numbers."""
    d, M = dp["d"], dp["M"]
    out = np.empty(batch)
    if batch == 0:
        return out
    xp = backend.xp
    gen = backend.generator(seed)
    chunk = min(batch, max(1, backend.chunk_doubles // (d * d)))
    for start in range(0, batch, chunk):
        b = min(batch, start + chunk) - start
        if M >= d:  # Bartlett: T lower triangular, T_ii^2 ~ chi^2_{M-i}, N(0, 1) below
            T = backend.zeros((b, d, d))
            if d > 1:
                T[:, dp["low"][0], dp["low"][1]] = backend.standard_normal(gen, (b, dp["n_low"]))
            g = backend.standard_gamma(gen, dp["half_df"], (b, d))
            T[:, dp["diag"], dp["diag"]] = xp.sqrt(2.0 * g)
            S = T @ T.swapaxes(1, 2)
        else:  # singular Wishart: T = G^T, G an M x d Gaussian matrix
            G = backend.standard_normal(gen, (b, M, d))
            S = G.swapaxes(1, 2) @ G
        S = S * (1.0 / M)
        flat = S.reshape(b, d * d)
        if "w_diag" in dp:
            quad = (flat * flat) @ dp["w_diag"]
        else:
            quad = (flat * (dp["N"] @ S).reshape(b, d * d)) @ dp["w_gen"]
        out[start:start + b] = backend.to_numpy(quad + flat @ dp["lin"] + dp["const"])
    return out


def conditional_sampler(P, Lambda, M, **kwargs) -> ConditionalSampler:
    """A :class:`ConditionalSampler`: ``sampler(rng, k)`` for
    :func:`icl_proofs.numeric.montecarlo.estimate`, with the conditional estimator's set-up
    (validation, factorisations) done once.  ``kwargs`` as in
    :func:`conditional_prediction_error_samples`."""
    plan = _ConditionalPlan(
        P,
        Lambda,
        M,
        kwargs.pop("Lambda_query", None),
        kwargs.pop("w_mean", None),
        kwargs.pop("w_cov", None),
        kwargs.pop("noise_sd", 0.0),
        kwargs.pop("query_noise_sd", 0.0),
    )
    if kwargs:
        raise ValueError(f"unknown arguments: {sorted(kwargs)}")
    return ConditionalSampler(plan)
