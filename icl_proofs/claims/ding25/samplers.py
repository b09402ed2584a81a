"""Vectorised samplers of Markov-chain prompts (ding25): binary chains with a U(0,1) kernel prior,
fixed kernels, correlated initial states, and |S|-state chains with Dirichlet rows.

A *prompt* is an integer array of shape ``(n+1, d+1)``: ``n`` labelled chains then the query chain,
each of ``d+1`` states.  Batches have a leading axis ``B``.  The kernel is drawn **once per prompt**
and shared by its ``n+1`` chains.  Nothing loops over samples in Python (only over time steps).
"""
from __future__ import annotations

import numpy as np

from ..base import UserInputError

__all__ = ["check_probability", "check_kernel", "sample_kernels", "sample_prompts", "MAX_BATCH_BYTES"]

#: refuse a single batch larger than this (the sampler's working arrays)
MAX_BATCH_BYTES = 2 * 1024**3


def check_probability(name: str, p) -> float:
    p = float(p)
    if not (0.0 < p < 1.0):
        raise UserInputError(f"parameter {name}: must lie strictly between 0 and 1, got {p:g}")
    return p


def check_kernel(K) -> np.ndarray:
    """A fixed transition kernel: square, entries in [0, 1], rows summing to 1."""
    K = np.asarray(K, dtype=float)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 2:
        raise UserInputError(f"kernel must be a square matrix with at least 2 states, got shape {K.shape}")
    if np.any(K < 0) or np.any(K > 1) or not np.all(np.isfinite(K)):
        raise UserInputError("kernel entries must lie in [0, 1]")
    rows = K.sum(axis=1)
    if not np.allclose(rows, 1.0, atol=1e-12, rtol=0):
        bad = int(np.argmax(np.abs(rows - 1)))
        raise UserInputError(f"kernel is not row-stochastic: row {bad + 1} sums to {rows[bad]:.6g}")
    return K


def sample_kernels(rng: np.random.Generator, B: int, n_states: int = 2, alpha: float = 1.0) -> np.ndarray:
    """B kernels with iid Dirichlet(alpha·1) rows, shape (B, S, S).

    For S = 2 and alpha = 1 this is the paper's prior p01, p10 iid U(0, 1).
    """
    if not alpha > 0:
        raise UserInputError(f"parameter alpha: Dirichlet concentration must be > 0, got {alpha:g}")
    if n_states < 2:
        raise UserInputError(f"parameter S: need at least 2 states, got {n_states}")
    return rng.dirichlet(np.full(n_states, float(alpha)), size=(B, n_states))


def _check_size(B: int, n: int, d: int) -> None:
    if n < 1:
        raise UserInputError(f"parameter n: need at least one labelled chain, got {n}")
    if d < 1:
        raise UserInputError(f"parameter d: need d >= 1, got {d}")
    need = 8 * B * (n + 1) * (d + 1) * 3
    if need > MAX_BATCH_BYTES:
        raise UserInputError(f"batch of {B} prompts with n={n}, d={d} needs ~{need / 2**30:.1f} GiB; "
                             f"use a smaller batch (limit {MAX_BATCH_BYTES / 2**30:.0f} GiB)")


def sample_prompts(rng: np.random.Generator, B: int, n: int, d: int, p: float | None = 0.5, *,
                   kernels: np.ndarray | None = None, n_states: int = 2, alpha: float = 1.0,
                   init: str = "iid", query_init=None, context_init_given_query=None) -> np.ndarray:
    """B prompts of n labelled chains plus a query chain, each of length d+1; shape (B, n+1, d+1).

    * ``kernels``: (S, S) fixed kernel or (B, S, S) per-prompt kernels; default: Dirichlet(alpha) rows.
    * initial states: ``init="iid"``: binary iid Bern(p) (S = 2) or uniform on S states (``p=None``);
      ``init="conditional"``: the query's initial state ~ Bern(p) and, given it, the context initial
      states iid Bern(context_init_given_query(x_q)) (Theorem 3.4 / Example C.5 of the paper).
    """
    _check_size(B, n, d)
    if kernels is None:
        K = sample_kernels(rng, B, n_states, alpha)
    else:
        K = np.asarray(kernels, dtype=float)
        if K.ndim == 2:
            K = np.broadcast_to(check_kernel(K), (B,) + K.shape)
        elif K.shape[0] != B:
            raise UserInputError(f"kernels has {K.shape[0]} entries for a batch of {B}")
        n_states = K.shape[-1]
    S = n_states
    states = np.empty((B, n + 1, d + 1), dtype=np.int8 if S < 128 else np.int32)
    if init == "iid":
        if S == 2 and p is not None:
            p = check_probability("p", p)
            states[:, :, 0] = rng.random((B, n + 1)) < p
        else:
            states[:, :, 0] = rng.integers(0, S, size=(B, n + 1))
    elif init == "conditional":
        if S != 2 or context_init_given_query is None:
            raise UserInputError("init='conditional' needs binary chains and context_init_given_query")
        p = check_probability("p", p)
        xq = rng.random(B) < p
        q = np.where(xq, float(context_init_given_query(1)), float(context_init_given_query(0)))
        if np.any((q < 0) | (q > 1)):
            raise UserInputError("context_init_given_query must return probabilities in [0, 1]")
        states[:, n, 0] = xq
        states[:, :n, 0] = rng.random((B, n)) < q[:, None]
    else:
        raise UserInputError(f"unknown init {init!r} (known: iid, conditional)")
    # one step for all chains of all prompts at once: inverse-CDF on the current state's row
    cum = np.cumsum(K, axis=-1)  # (B, S, S)
    bidx = np.arange(B)[:, None]
    for t in range(1, d + 1):
        rows = cum[bidx, states[:, :, t - 1]]  # (B, n+1, S)
        u = rng.random((B, n + 1, 1))
        states[:, :, t] = np.minimum((u > rows).sum(axis=-1), S - 1)
    return states
