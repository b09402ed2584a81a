"""Linear self-attention (LSA) of Zhang, Frei & Bartlett 2023: batched NumPy forward pass.

Conventions (see ``docs/architecture.md``):

* embedding ``E = [[x_1 ... x_n, x_q], [y_1 ... y_n, 0]]`` of shape ``(d+1, n+1)``;
* ``f(E) = E + W^{PV} E (E^T W^{KQ} E) / rho`` with ``rho`` the number of labelled columns;
* prediction ``y_hat = f(E)[d, n]`` (0-based: last row, last column).

Block layout of both parameter matrices (``d x d`` block top-left)::

    W^{PV} = [[W11, w12], [w21^T, w22]]        W^{KQ} = [[U11, u12], [u21^T, u22]]

with ``w12, w21, u12, u21`` vectors of length ``d`` and ``w22, u22`` scalars.  The *reduced*
parameters are ``W^{PV} = [[0, 0], [0, u]]``, ``W^{KQ} = [[U, 0], [0, 0]]``, for which
``y_hat = u * h^T U x_q`` with ``h = (1/rho) sum_i y_i x_i``; ``P = u U`` is the preconditioner.

Every function works on a leading batch axis ``B``; nothing loops over samples in Python.
"""
from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["LSAParams", "embed", "forward", "predict"]


def _as_square(name: str, a, size: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {a.shape}")
    if size is not None and a.shape[0] != size:
        raise ValueError(f"{name} must have shape ({size}, {size}), got {a.shape}")
    return a


def _as_vector(name: str, a, size: int) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.shape != (size,):
        raise ValueError(f"{name} must be a vector of shape ({size},), got {a.shape}")
    return a


def _as_scalar(name: str, a) -> float:
    a = np.asarray(a, dtype=float)
    if a.ndim != 0 and a.shape != (1,) and a.shape != (1, 1):
        raise ValueError(f"{name} must be a scalar, got shape {a.shape}")
    return float(a.reshape(()))


@dataclasses.dataclass(eq=False)
class LSAParams:
    """Parameters of one LSA layer: ``W_PV`` and ``W_KQ``, both ``(d+1, d+1)``."""

    W_PV: np.ndarray
    W_KQ: np.ndarray

    def __post_init__(self) -> None:
        self.W_PV = _as_square("W_PV", self.W_PV)
        self.W_KQ = _as_square("W_KQ", self.W_KQ, self.W_PV.shape[0])
        if self.W_PV.shape[0] < 2:
            raise ValueError("W_PV and W_KQ must be at least 2x2 (d >= 1)")

    def __eq__(self, other) -> bool:
        if not isinstance(other, LSAParams):
            return NotImplemented
        return bool(np.array_equal(self.W_PV, other.W_PV) and np.array_equal(self.W_KQ, other.W_KQ))

    __hash__ = None  # mutable arrays

    @property
    def d(self) -> int:
        """Dimension of the covariates ``x`` (the matrices are ``(d+1, d+1)``)."""
        return self.W_PV.shape[0] - 1

    @classmethod
    def from_blocks(cls, W11, w12, w21, w22, U11, u12, u21, u22) -> "LSAParams":
        """Assemble ``W^{PV} = [[W11, w12], [w21^T, w22]]`` and ``W^{KQ} = [[U11, u12], [u21^T, u22]]``.

        ``W11, U11``: ``(d, d)``; ``w12, w21, u12, u21``: ``(d,)``; ``w22, u22``: scalars.
        """
        W11 = _as_square("W11", W11)
        d = W11.shape[0]
        U11 = _as_square("U11", U11, d)
        W_PV = np.empty((d + 1, d + 1))
        W_PV[:d, :d] = W11
        W_PV[:d, d] = _as_vector("w12", w12, d)
        W_PV[d, :d] = _as_vector("w21", w21, d)
        W_PV[d, d] = _as_scalar("w22", w22)
        W_KQ = np.empty((d + 1, d + 1))
        W_KQ[:d, :d] = U11
        W_KQ[:d, d] = _as_vector("u12", u12, d)
        W_KQ[d, :d] = _as_vector("u21", u21, d)
        W_KQ[d, d] = _as_scalar("u22", u22)
        return cls(W_PV, W_KQ)

    @classmethod
    def reduced_uU(cls, U, u) -> "LSAParams":
        """Reduced parameters ``W^{PV} = [[0, 0], [0, u]]``, ``W^{KQ} = [[U, 0], [0, 0]]``."""
        return cls(*_reduced_mats(_as_square("U", U), _as_scalar("u", u)))

    @classmethod
    def reduced(cls, P) -> "LSAParams":
        """Reduced parameters with ``u = 1`` and ``U = P`` (so the preconditioner is ``P``)."""
        return cls.reduced_uU(P, 1.0)

    def blocks(self) -> dict[str, np.ndarray | float]:
        """The eight blocks, keyed like the arguments of :meth:`from_blocks` (copies)."""
        d = self.d
        A, K = self.W_PV, self.W_KQ
        return {
            "W11": A[:d, :d].copy(),
            "w12": A[:d, d].copy(),
            "w21": A[d, :d].copy(),
            "w22": float(A[d, d]),
            "U11": K[:d, :d].copy(),
            "u12": K[:d, d].copy(),
            "u21": K[d, :d].copy(),
            "u22": float(K[d, d]),
        }

    def preconditioner(self) -> np.ndarray:
        """``P = w22 * U11``: the preconditioner of the reduced model (meaningful for reduced params)."""
        d = self.d
        return self.W_PV[d, d] * self.W_KQ[:d, :d]


def _reduced_mats(U: np.ndarray, u: float) -> tuple[np.ndarray, np.ndarray]:
    d = U.shape[0]
    W_PV = np.zeros((d + 1, d + 1))
    W_PV[d, d] = u
    W_KQ = np.zeros((d + 1, d + 1))
    W_KQ[:d, :d] = U
    return W_PV, W_KQ


def embed(X, y, x_q) -> np.ndarray:
    """Batched embedding ``E = [[X^T, x_q], [y^T, 0]]``.

    X: ``(B, n, d)`` covariates, y: ``(B, n)`` labels, x_q: ``(B, d)`` queries -> ``(B, d+1, n+1)``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    x_q = np.asarray(x_q, dtype=float)
    if X.ndim != 3:
        raise ValueError(f"X must have shape (B, n, d), got {X.shape}")
    B, n, d = X.shape
    if y.shape != (B, n):
        raise ValueError(f"y must have shape (B, n) = {(B, n)}, got {y.shape}")
    if x_q.shape != (B, d):
        raise ValueError(f"x_q must have shape (B, d) = {(B, d)}, got {x_q.shape}")
    E = np.empty((B, d + 1, n + 1))
    E[:, :d, :n] = X.transpose(0, 2, 1)
    E[:, :d, n] = x_q
    E[:, d, :n] = y
    E[:, d, n] = 0.0
    return E


def _check(params: LSAParams, E, rho) -> tuple[np.ndarray, float]:
    if not isinstance(params, LSAParams):
        raise ValueError(f"params must be LSAParams, got {type(params).__name__}")
    E = np.asarray(E, dtype=float)
    D = params.d + 1
    if E.ndim != 3 or E.shape[1] != D or E.shape[2] < 1:
        raise ValueError(f"E must have shape (B, {D}, n+1) for d = {params.d}, got {E.shape}")
    rho = float(rho)
    if not rho > 0 or not np.isfinite(rho):
        raise ValueError(f"rho must be a positive number, got {rho}")
    return E, rho


def forward(params: LSAParams, E, rho) -> np.ndarray:
    """Full LSA output ``f(E) = E + W^{PV} E (E^T W^{KQ} E) / rho`` for a batch ``E`` of shape ``(B, d+1, n+1)``."""
    E, rho = _check(params, E, rho)
    # W^{PV} (E E^T) W^{KQ} E costs O(d^2 n) instead of O(d n^2) for E^T W^{KQ} E.
    G = np.matmul(E, E.transpose(0, 2, 1))  # (B, d+1, d+1)
    return E + np.matmul(np.matmul(params.W_PV, G), np.matmul(params.W_KQ, E)) / rho


def predict(params: LSAParams, E, rho) -> np.ndarray:
    """Prediction ``y_hat = f(E)[d, n]`` for a batch, shape ``(B,)``, in ``O(B (n d + d^2))``.

    ``y_hat = E[d, n] + a^T (E E^T / rho) v`` with ``a`` the last row of ``W^{PV}`` and
    ``v = W^{KQ} E[:, n]`` (for an embedding from :func:`embed`, ``E[d, n] = 0`` and ``v`` only
    involves the first ``d`` columns of ``W^{KQ}`` times ``x_q``); evaluated as ``(E^T a) . (E^T v)``.
    """
    E, rho = _check(params, E, rho)
    D = params.d + 1
    a = params.W_PV[D - 1]  # (d+1,)
    v = np.matmul(E[:, :, -1], params.W_KQ.T)  # (B, d+1): W^{KQ} e_last
    r = np.matmul(a, E)  # (B, n+1): a^T E
    s = np.einsum("bkn,bk->bn", E, v)  # (B, n+1): E^T v
    return E[:, D - 1, -1] + np.einsum("bn,bn->b", r, s) / rho
