"""dd25 models on the attention features h = vec(x_q bᵀ): the linear transformer (ridge on Γ), the
MLP head ŷ = wᵀσ(F h)/√k (one gradient step on F, ridge on w) and the equivalent polynomial model
ŷ_eq = w_eqᵀ σ̂_p(F̂ h)/√k with the same F̂.

Every function works on one feature matrix at a time; shapes are BLAS-friendly (features in rows,
one GEMM per stage).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg


def ridge(A: np.ndarray, y: np.ndarray, lam_total: float) -> np.ndarray:
    """argmin_w ‖A w − y‖² + lam_total ‖w‖² for A (n × k), via the smaller of the primal (k × k)
    and dual (n × n) normal equations, solved in float64 (the ridge is tiny, float32 Gram matrices
    lose it)."""
    n, k = A.shape
    A64 = A.astype(np.float64, copy=False)
    y64 = y.astype(np.float64, copy=False)
    if k <= n:
        G = A64.T @ A64
        G[np.diag_indices_from(G)] += lam_total
        return _spd_solve(G, A64.T @ y64)
    K = A64 @ A64.T
    K[np.diag_indices_from(K)] += lam_total
    return A64.T @ _spd_solve(K, y64)


def ridge_kron(xq: np.ndarray, b: np.ndarray, y: np.ndarray, lam_total: float) -> np.ndarray:
    """The same ridge for the features h_j = x_j ⊗ b_j (rows of A = H), with A never formed: the
    dual Gram H Hᵀ = (X Xᵀ) ∘ (B Bᵀ) (Hadamard product) costs n²(2d + 1) instead of n² d(d+1), and
    the readout w = Hᵀα = vec(Xᵀ diag(α) B).  Exact algebra, so it agrees with :func:`ridge` on H
    to rounding (tested); used when the dual is the smaller system (d(d+1) > n)."""
    X = xq.astype(np.float64, copy=False)
    B = b.astype(np.float64, copy=False)
    K = (X @ X.T) * (B @ B.T)
    K[np.diag_indices_from(K)] += lam_total
    alpha = _spd_solve(K, y.astype(np.float64, copy=False))
    return ((X.T * alpha) @ B).reshape(-1)


def _spd_solve(G: np.ndarray, r: np.ndarray) -> np.ndarray:
    try:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(G, check_finite=False), r, check_finite=False)
    except np.linalg.LinAlgError:  # numerically singular (ridge below rounding): least squares
        return scipy.linalg.lstsq(G, r, check_finite=False)[0]


def init_mlp(k: int, D: int, t: float, rng: np.random.Generator, dtype=np.float64):
    """F rows ~ N(0, I/t) (so preactivations are ≈ N(0, 1), Lemma 4.9), w ~ N(0, I/k)."""
    # drawn in float64 whatever the dtype: a float32 run starts from the float64 run's F, rounded
    F = rng.standard_normal((k, D)).astype(dtype, copy=False)
    F *= 1.0 / np.sqrt(t)  # a Python float is a weak scalar: float32 stays float32
    w = (rng.standard_normal(k) * (1.0 / np.sqrt(k))).astype(dtype, copy=False)
    return F, w


def mlp_forward(F, w, h, sigma):
    """Predictions wᵀσ(F h_j)/√k for the rows h_j of ``h``, and the preactivations."""
    Z = h @ F.T
    return sigma(Z) @ w / np.sqrt(len(w)), Z


def gradient(F, w, h, y, sigma, dsigma, Z=None):
    """G = −∇_F (1/2n) Σ_j (y_j − ŷ_j)² = (1/(n√k)) Σ_j r_j (w ⊙ σ'(F h_j)) h_jᵀ, r = y − ŷ."""
    n, k = len(y), len(w)
    if Z is None:
        Z = h @ F.T
    r = y - sigma(Z) @ w / np.sqrt(k)
    B = dsigma(Z)
    B *= r[:, None]
    B *= w[None, :]
    return (B.T @ h) / (n * np.sqrt(k))


def spike_and_rest(G, F, w, h, y, alpha):
    """Lemma 4.11's split G = u vᵀ + Δ with u = α w, v = hᵀy/(n√k); returns (u, v, Δ) exactly."""
    n, k = len(y), len(w)
    u = alpha * w
    v = h.T @ y / (n * np.sqrt(k))
    return u, v, G - np.outer(u, v)


def opnorm(M: np.ndarray, iters: int = 60, seed: int = 0) -> float:
    """Largest singular value by power iteration on MᵀM (exact to ~1e-6 relative for a gapped
    spectrum; cheap for k × d² matrices)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(M.shape[1])
    s = 0.0
    for _ in range(iters):
        x = M.T @ (M @ x)
        nx = np.linalg.norm(x)
        if nx == 0:
            return 0.0
        x /= nx
        s_new = np.sqrt(nx)
        if abs(s_new - s) <= 1e-9 * s_new:
            return float(s_new)
        s = s_new
    return float(np.linalg.norm(M @ x))
