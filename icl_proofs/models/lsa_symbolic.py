"""The LSA prediction of zfb23 as a symbolic expression for the moment engine.

ŷ = (w21ᵀ, w22) · (E Eᵀ/ρ) · [U11; u21ᵀ] · x_q, with the blocks of E Eᵀ/ρ written from the
embedding E = [[x_1 … x_ρ, x_q], [y_1 … y_ρ, 0]] and y_i = ⟨w, x_i⟩:

    E Eᵀ/ρ = [[Σ̂ + x_q x_qᵀ/ρ,  Σ̂ w], [wᵀ Σ̂,  wᵀ Σ̂ w]],   Σ̂ = (1/ρ) Σ_i x_i x_iᵀ.

(The NumPy forward pass in :mod:`.lsa` builds E literally; the Monte-Carlo checks compare the two.)
Only the last row of W^{PV} and the first d columns of W^{KQ} reach ŷ; the other blocks (W11, w12,
u12, u22) do not appear, so the loss does not depend on them at all.
"""
from __future__ import annotations

import sympy as sp

from ..moments.wick import MExpr, gaussian, matrix, sample_cov, scalar, vector

N, M = sp.symbols("N M", positive=True)
u, w22 = sp.symbols("u w22", real=True)


def data(rho=N, cov="Lambda", query_cov=None, task="w"):
    """(x_q, w, Σ̂) of one prompt: w ~ N(0, I), x_i, x_q ~ N(0, Λ), ρ labelled columns."""
    xq = gaussian("x_q", cov=query_cov or cov)
    w = gaussian(task, cov=None)
    S = sample_cov("Sigma_hat", cov, rho)
    return xq, w, S


def full_prediction(rho=N, cov="Lambda", query_cov=None) -> tuple[MExpr, MExpr]:
    """(ŷ, y_q) for the LSA with general blocks w21, w22, U, u21 (w21, u21 fixed vectors)."""
    xq, w, S = data(rho, cov, query_cov)
    W21, U21, U = vector("w21"), vector("u21"), matrix("U")
    top_left = S + (xq @ xq.T) / rho
    top_right = S @ w
    bottom_right = w.T @ S @ w
    yhat = (W21.T @ top_left @ U @ xq
            + (W21.T @ top_right) * (U21.T @ xq)
            + w22 * (w.T @ S @ U @ xq)
            + w22 * bottom_right * (U21.T @ xq))
    return yhat, w.T @ xq


def full_prediction_parts(rho=N, cov="Lambda") -> tuple[MExpr, MExpr, MExpr]:
    """(odd part, even part, y_q) of ŷ in w: odd = wᵀ Σ̂ V x_q with V = w22 U + w21 u21ᵀ."""
    xq, w, S = data(rho, cov)
    W21, U21, U = vector("w21"), vector("u21"), matrix("U")
    odd = w22 * (w.T @ S @ U @ xq) + (w.T @ S @ W21) * (U21.T @ xq)
    even = W21.T @ (S + (xq @ xq.T) / rho) @ U @ xq + w22 * (w.T @ S @ w) * (U21.T @ xq)
    return odd, even, w.T @ xq


def reduced_prediction(rho=N, cov="Lambda", query_cov=None, precond: MExpr | None = None):
    """(ŷ, y_q) on the invariant set: ŷ = u · wᵀ Σ̂ U x_q, or wᵀ Σ̂ P x_q for a given P."""
    xq, w, S = data(rho, cov, query_cov)
    if precond is None:
        yhat = u * (w.T @ S @ matrix("U") @ xq)
    else:
        yhat = w.T @ S @ precond @ xq
    return yhat, w.T @ xq


def half_square_loss(yhat: MExpr, y: MExpr) -> MExpr:
    """The paper's loss convention: ½(ŷ − y)² (expect it with :func:`~..moments.wick.expect`)."""
    return scalar(sp.Rational(1, 2)) * (yhat - y) ** 2
