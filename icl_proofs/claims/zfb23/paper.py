"""The statements of zfb23 **as printed in the paper** (arXiv 2306.09927 v3).

These are the claims under test, typed in from the paper so that the checks can compare them with
the derivations in :mod:`.derive`.  Nothing here is used to *derive* anything.
"""
from __future__ import annotations

import sympy as sp

from ...moments.spectral import TrF, lam
from ...moments.traces import Letter
from ...moments.wick import MatrixPoly, expect, matrix, scalar, tr
from .derive import M, N, u

L = Letter("Lambda", sym=True)
A = Letter("A")


def t(word):
    from ...moments.traces import trace_symbol

    return trace_symbol(tuple(word))


def fourth_moment() -> MatrixPoly:
    """Lemma (claim 1): E[x xᵀ A x xᵀ] = Λ(A + Aᵀ)Λ + tr(AΛ)Λ."""
    return MatrixPoly({(L, A, L): 1, (L, A.T, L): 1, (L,): t((A, L))})


def wishart_second() -> MatrixPoly:
    """Claim 1: E[Σ̂ A Σ̂] = ΛAΛ + (1/N)(ΛAᵀΛ + tr(AΛ)Λ)."""
    return MatrixPoly({(L, A, L): 1, (L, A.T, L): 1 / N, (L,): t((A, L)) / N})


def gamma() -> sp.Expr:
    """Γ = (1 + 1/N)Λ + (tr Λ / N) I, as γ(λ)."""
    return (1 + 1 / N) * lam + TrF(lam) / N


def reduced_loss() -> sp.Expr:
    """Claim 2: L = tr[½u² ΓΛUΛUᵀ − uΛ²Uᵀ] + ½ tr Λ, with Γ written out."""
    Lm, U = matrix("Lambda", sym=True), matrix("U")
    trL = tr(Lm)
    gl = (1 + 1 / N) * (Lm @ Lm) + (Lm * trL) / N  # ΓΛ
    expr = (scalar(u ** 2 / 2) * tr(gl @ U @ Lm @ U.T) - u * tr(Lm @ Lm @ U.T)
            + scalar(sp.Rational(1, 2)) * trL)
    return expect(expr)  # deterministic: expect() only canonicalises the traces


def reduced_grad_U() -> MatrixPoly:
    """Claim 2 (Lemma 5.2): −dU/dt = u² ΓΛUΛ − uΛ²  (= ∂L/∂U)."""
    U = Letter("U")
    return MatrixPoly({(L, L, U, L): u ** 2 * (1 + 1 / N), (L, U, L): u ** 2 * t((L,)) / N,
                       (L, L): -u})


def reduced_grad_u() -> sp.Expr:
    """Claim 2: −du/dt = tr[uΓΛUΛUᵀ − Λ²Uᵀ]  (= ∂L/∂u)."""
    U = Letter("U")
    return sp.expand(u * ((1 + 1 / N) * t((L, L, U, L, U.T)) + t((L,)) / N * t((L, U, L, U.T)))
                     - t((L, L, U.T)))


def min_loss() -> sp.Expr:
    """Theorem 4.1: min L = ½ tr(Λ − Λ²Γ⁻¹)."""
    return TrF(lam - lam ** 2 / gamma()) / 2


def preconditioner() -> sp.Expr:
    """Theorem 4.1: u·U = Γ⁻¹ at every global minimiser, as g(λ)."""
    return 1 / gamma()


def isotropic_error() -> sp.Expr:
    """Theorem 4.1 remark: for Λ = I_d, E(ŷ − y)² = d(d+1)/(N+d+1)."""
    from ...moments.traces import d

    return d * (d + 1) / (N + d + 1)


def flow_limit() -> tuple[sp.Expr, sp.Expr]:
    """Theorem 4.1: U_* = tr(Γ⁻²)^{-1/4} Γ⁻¹ and u_* = tr(Γ⁻²)^{1/4} (scalar factors)."""
    tg2 = TrF(1 / gamma() ** 2)
    return tg2 ** sp.Rational(-1, 4), tg2 ** sp.Rational(1, 4)


def thm42_rhs(bayes: sp.Expr, tr_sigma_B_fn, vector: str = "a") -> sp.Expr:
    """Theorem 4.2 for a fixed task with a = Λ⁻¹E[xy]:
    min_v E(⟨v,x⟩ − y)² + (1/M) tr(ΣΓ⁻²Λ) + (1/N²)[‖a‖²_{Γ⁻²Λ³} + 2 tr(Λ)‖a‖²_{Γ⁻²Λ²}
    + tr(Λ)² ‖a‖²_{Γ⁻²Λ}]."""
    from ...moments.spectral import QF

    g2 = 1 / gamma() ** 2
    a = sp.Symbol(vector)
    trL = TrF(lam)
    return (bayes + tr_sigma_B_fn / M
            + (QF(g2 * lam ** 3, a) + 2 * trL * QF(g2 * lam ** 2, a) + trL ** 2 * QF(g2 * lam, a)) / N ** 2)


def thm42_rhs_isotropic_tasks() -> sp.Expr:
    """Theorem 4.2 averaged over w ~ N(0, I), noiseless: a = w, Σ = E_w Cov(xy) = Λ² + tr(Λ)Λ."""
    g2 = 1 / gamma() ** 2
    trL = TrF(lam)
    return (TrF((lam ** 2 + trL * lam) * g2 * lam) / M
            + (TrF(g2 * lam ** 3) + 2 * trL * TrF(g2 * lam ** 2) + trL ** 2 * TrF(g2 * lam)) / N ** 2)


def corollary_bound(d, trace, kappa, N_, M_):
    """Corollary of Theorem 4.2: error ≤ (d+1)tr(Λ)/M + (1 + 2d + d²κ)tr(Λ)/N²."""
    return (d + 1) * trace / M_ + (1 + 2 * d + d ** 2 * kappa) * trace / N_ ** 2
