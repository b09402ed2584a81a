"""The reduced gradient flow of zfb23 (Zhang, Frei & Bartlett 2023, Thm 4.1) and its set-up, as
printed: what the dynamics claims integrate and train against.

On the invariant set ``W11 = 0, w12 = 0, u12 = 0, u21 = 0, w21 = 0`` with ``U := U11`` and
``u := w22`` the population loss is, *as printed in the paper*,

    L(U, u) = tr[ 1/2 u^2 Gamma Lam U Lam U^T - u Lam^2 U^T ] + 1/2 tr Lam,
    Gamma   = (1 + 1/N) Lam + (tr Lam / N) I,

with gradient flow

    dU/dt = -u^2 Gamma Lam U Lam + u Lam^2,
    du/dt = -tr[ u Gamma Lam U Lam U^T - Lam^2 U^T ].

:func:`reduced_zfb23_grad` implements exactly these formulas (no re-derivation: the claim module
compares them with an independently derived gradient), on packed states ``x = pack(U, u)``
(:func:`icl_proofs.numeric.gradflow.pack`).  :func:`paper_init` is Assumption 3.3,
:func:`sigma_bound` the initial scale Thm 4.1 needs, :func:`zfb23_optimum` its limit.
:func:`train_lsa` trains the full LSA from Assumption 3.3 and measures it against Gamma^-1 (the
optimiser itself is the paper-free :func:`icl_proofs.models.training.train_lsa`).

Floats only (NumPy float64); exact values come from the moment engines, not from here.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from ...models import training
from ...numeric.gradflow import pack, unpack

__all__ = [
    "gamma_matrix",
    "reduced_zfb23_grad",
    "zfb23_optimum",
    "balancedness",
    "paper_init",
    "paper_init_full",
    "sigma_bound",
    "train_lsa",
]

Array = NDArray[np.float64]


def _check_lambda(Lambda: Array) -> Array:
    Lam = np.array(Lambda, dtype=float)
    if Lam.ndim != 2 or Lam.shape[0] != Lam.shape[1]:
        raise ValueError(f"Lambda must be a square matrix, got shape {Lam.shape}")
    if not np.allclose(Lam, Lam.T, rtol=0, atol=1e-12 * max(1.0, float(np.max(np.abs(Lam))))):
        raise ValueError("Lambda must be symmetric")
    if np.min(np.linalg.eigvalsh(Lam)) <= 0:
        raise ValueError("Lambda must be positive definite")
    return 0.5 * (Lam + Lam.T)


def gamma_matrix(Lambda: Array, N: int) -> Array:
    """``Gamma = (1 + 1/N) Lambda + (tr Lambda / N) I``."""
    Lam = _check_lambda(Lambda)
    if int(N) != N or N < 1:
        raise ValueError(f"N must be a positive integer, got {N!r}")
    d = Lam.shape[0]
    return (1.0 + 1.0 / N) * Lam + (np.trace(Lam) / N) * np.eye(d)


def reduced_zfb23_grad(Lambda: Array, N: int) -> tuple[Callable[[Array], float], Callable[[Array], Array]]:
    """``(loss, grad)`` of the paper's reduced loss on ``x = pack(U, u)``, literally as printed.

    loss(x) = tr[1/2 u^2 Gamma Lam U Lam U^T - u Lam^2 U^T] + 1/2 tr Lam
    grad(x) = pack(u^2 Gamma Lam U Lam - u Lam^2,  tr[u Gamma Lam U Lam U^T - Lam^2 U^T])
    """
    Lam = _check_lambda(Lambda)
    d = Lam.shape[0]
    G = gamma_matrix(Lam, N)
    GL = G @ Lam
    L2 = Lam @ Lam
    half_tr = 0.5 * float(np.trace(Lam))

    def loss(x: Array) -> float:
        U, u = unpack(x, d)
        return float(np.trace(0.5 * u * u * GL @ U @ Lam @ U.T - u * L2 @ U.T)) + half_tr

    def grad(x: Array) -> Array:
        U, u = unpack(x, d)
        gU = u * u * GL @ U @ Lam - u * L2
        gu = float(np.trace(u * GL @ U @ Lam @ U.T - L2 @ U.T))
        return pack(gU, gu)

    return loss, grad


def zfb23_optimum(Lambda: Array, N: int) -> tuple[Array, float]:
    """Thm 4.1 limit: ``U_* = tr(Gamma^-2)^(-1/4) Gamma^-1``, ``u_* = tr(Gamma^-2)^(1/4)``."""
    G = gamma_matrix(Lambda, N)
    Gi = np.linalg.inv(G)
    s = float(np.trace(Gi @ Gi))
    return s ** -0.25 * Gi, s ** 0.25


def balancedness(d: int) -> Callable[[Array], float]:
    """Invariant ``u^2 - ||U||_F^2`` on packed states (zero under the paper's initialisation)."""

    def inv(x: Array) -> float:
        U, u = unpack(x, d)
        return u * u - float(np.sum(U * U))

    return inv


def paper_init(
    d: int,
    sigma: float,
    Theta: Array | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    normalise: bool = True,
) -> tuple[Array, float]:
    """Assumption 3.3: ``U(0) = sigma Theta Theta^T``, ``u(0) = sigma`` with ``||Theta Theta^T||_F = 1``.

    ``Theta`` (d x m, any m >= 1) defaults to a standard Gaussian d x d matrix from ``rng``.  It is
    rescaled so that ``||Theta Theta^T||_F = 1``; with ``normalise=False`` a Theta that is not
    already normalised (to 1e-12) is rejected instead.
    """
    if int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    if Theta is None:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        Theta = gen.standard_normal((d, d))
    Theta = np.atleast_2d(np.asarray(Theta, dtype=float))
    if Theta.shape[0] != d:
        raise ValueError(f"Theta must have {d} rows, got shape {Theta.shape}")
    S = Theta @ Theta.T
    nrm = float(np.linalg.norm(S, "fro"))
    if nrm == 0.0:
        raise ValueError("Theta Theta^T must be nonzero")
    if abs(nrm - 1.0) > 1e-12:
        if not normalise:
            raise ValueError(f"||Theta Theta^T||_F = {nrm!r}, expected 1")
        S = S / nrm
    return float(sigma) * S, float(sigma)


def sigma_bound(Lambda: Array, N: int) -> float:
    """The sigma with ``sigma^2 ||Gamma||_op sqrt(d) = 2`` (Thm 4.1 needs sigma strictly below)."""
    G = gamma_matrix(Lambda, N)
    d = G.shape[0]
    return math.sqrt(2.0 / (float(np.linalg.norm(G, 2)) * math.sqrt(d)))


def paper_init_full(d: int, sigma: float, rng: np.random.Generator, Theta: Array | None = None):
    """Assumption 3.3: ``W_PV = sigma e_{d+1} e_{d+1}^T``, ``W_KQ = sigma [[Theta Theta^T, 0], [0, 0]]``."""
    U0, u0 = paper_init(d, sigma, Theta, rng)
    W_PV = np.zeros((d + 1, d + 1))
    W_PV[d, d] = u0
    W_KQ = np.zeros((d + 1, d + 1))
    W_KQ[:d, :d] = U0
    return W_PV, W_KQ


def train_lsa(
    Lambda: Array,
    N: int,
    *,
    init: str | tuple[Array, Array] = "paper",
    sigma: float | None = None,
    Theta: Array | None = None,
    **schedule,
) -> training.LSATrainResult:
    """Train the full LSA on zfb23 prompts (:func:`icl_proofs.models.training.train_lsa`, whose
    ``schedule`` keywords pass through) and measure it against the Thm 4.1 limit ``Gamma^-1``.

    ``init="paper"``: Assumption 3.3 with ``sigma`` (default ``0.5 * sigma_bound``) and ``Theta``
    (default random, drawn from the run's generator).  ``init="random"``: every entry of both
    matrices ``N(0, (sigma/(d+1))^2)`` (default ``sigma = 0.5 * sigma_bound``).
    ``init=(W_PV0, W_KQ0)`` starts from given matrices (copied).
    """
    Lam = np.array(Lambda, dtype=float)
    G = gamma_matrix(Lam, N)  # validates Lambda and N
    d = Lam.shape[0]
    if isinstance(init, str) and init not in ("paper", "random"):
        raise ValueError(f"init must be 'paper', 'random' or (W_PV, W_KQ), got {init!r}")
    if sigma is None:
        sigma = 0.5 * sigma_bound(Lam, N)
    if isinstance(init, str) and init == "paper":
        init = training.Init("paper", lambda rng: paper_init_full(d, sigma, rng, Theta))
    return training.train_lsa(Lam, N, target=np.linalg.inv(G), init=init, sigma=sigma, **schedule)
