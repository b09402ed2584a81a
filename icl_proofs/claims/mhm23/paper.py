"""The statements of mhm23 (Mahankali, Hashimoto & Ma, arXiv 2307.03576) under test.

Only the abstract could be read from the stored copies; the theorem formulas below are
**reconstructed** (see docs/papers/mhm23.md) and are what the checks compare the derivations with.
Nothing here is used to *derive* anything.
"""
from __future__ import annotations

import sympy as sp

from ...moments.iterated_gd import sigma2_sym
from ...moments.inverse_wishart import N_sym, d_sym


def isotropic_step() -> sp.Expr:
    """Theorem 1 (reconstructed): x_i, x_q ~ N(0, I_d), w ~ N(0, I_d), y = wᵀx + ε, ε ~ N(0, σ²):
    the loss-minimising one-layer LSA predicts ŷ = η x_qᵀ (1/n) Σ y_i x_i, one GD step from 0 with
    η = n / (n + d + 1 + σ²)."""
    return N_sym / (N_sym + d_sym + 1 + sigma2_sym)


def preconditioner(Sigma: sp.Matrix, N=N_sym, sigma2=sigma2_sym) -> sp.Matrix:
    """Theorem 2 (reconstructed): x ~ N(0, Σ), w ~ N(0, Σ⁻¹): the optimum is one step of GD
    preconditioned by Σ⁻¹ with the same step, ŷ = x_qᵀ (η Σ⁻¹) (1/n) Σ y_i x_i."""
    d = Sigma.shape[0]
    return (N / (N + d + 1 + sigma2)) * Sigma.inv()
