"""Derivations for mhm23, from the data model only (the paper's formulas live in :mod:`.paper`).

Data model (one prompt): x_1..x_n, x_q ~ N(0, Λ) iid, task w ~ N(0, Ψ), labels y_i = wᵀx_i + ε_i with
ε_i ~ N(0, σ²), all independent.  The one-layer LSA's prediction on the optimal invariant set is
ŷ = x_qᵀ Γ h with h = (1/n) Σ_i y_i x_i (one step of GD from 0, preconditioned by Γ), so its in-context
loss is a quadratic in Γ; every formula here comes out of the package's Wick engine
(:mod:`icl_proofs.moments.iterated_gd` builds the GD step in the Wick DSL) or, at d = 1, out of
chi-square moments.  Public functions of this module are the derivations that ``mutate`` perturbs.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ...moments import iterated_gd as ig
from ...moments import traces, wick
from ...moments.inverse_wishart import d_sym


@lru_cache(maxsize=None)
def isotropic_step_optimum() -> dict:
    """Λ = Ψ = I: the loss of ŷ = η x_qᵀh is quadratic in η; its minimiser and minimum (clean label),
    for symbolic d, n, σ² (:func:`icl_proofs.moments.iterated_gd.one_layer_optimum`)."""
    eta, loss = ig.one_layer_optimum()
    return {"eta*": eta, "min loss": loss}


@lru_cache(maxsize=None)
def isotropic_preconditioner() -> sp.Expr:
    """The minimiser over *all* matrices Γ (not only scalar steps) at Λ = Ψ = I: the convex quadratic's
    stationary point is g(Λ) (:func:`~icl_proofs.moments.iterated_gd.optimal_preconditioner_one_layer`);
    at Λ = I every eigenvalue is 1 and every trace tr(Λᵏ) is d, so Γ* = g(1)·I."""
    g = ig.optimal_preconditioner_one_layer()
    at_identity = {atom: d_sym for atom in traces.trace_atoms(g)}
    return sp.factor(g.xreplace(at_identity).subs(ig.lam_sym, 1))


@lru_cache(maxsize=None)
def d1_step_optimum() -> sp.Expr:
    """d = 1 by a separate route: chi-square moments of s = Σ̂ = χ²_n/n (no Wick engine); the loss is
    quadratic in η, minimised where its derivative vanishes."""
    loss = ig.loss_d1_chi_square(1)
    (eta,) = sp.solve(sp.diff(loss, ig.eta_sym), ig.eta_sym)
    return sp.factor(eta)


@lru_cache(maxsize=None)
def preconditioned_loss_gradient() -> dict:
    """General Λ, Ψ and a general matrix Γ: the loss E[(x_qᵀΓh − x_qᵀw)²] (trace atoms in Λ, Ψ, Γ,
    symbolic n and σ²) and its matrix gradient ∂/∂Γ (:func:`icl_proofs.moments.wick.grad`).  The loss
    is the expectation of a square, linear in Γ, hence convex: Γ is a global minimiser iff the
    gradient vanishes there."""
    loss = ig.gd_loss(1, 1, Lambda="Lambda", Psi="Psi", Gamma="Gamma")
    return {"loss": loss, "dL/dGamma": wick.grad(loss, "Gamma")}


#: per-coordinate noise level in the proportional regime (σ² = s·d when w ~ N(0, I_d))
s_sym = sp.Symbol("s", positive=True)


@lru_cache(maxsize=None)
def proportional_gap() -> dict:
    """The optimal one-layer LSA against the Bayes-optimal predictor as d, n → ∞ with n = αd.

    Normalisation of :mod:`icl_proofs.moments.proportional`: w ~ N(0, I_d/d), noise variance s, which
    is the paper's w ~ N(0, I_d) with σ² = s·d after dividing labels by √d (errors scale by 1/d).

    * LSA: the derived finite minimum loss at σ² = s·d, divided by d, taken to the limit exactly
      (:func:`~icl_proofs.moments.proportional.proportional_limit`);
    * Bayes: the posterior mean is ridge at λ* = s/α, whose limit risk comes from the
      Marchenko–Pastur resolvent (:func:`~icl_proofs.moments.proportional.bayes_risk_limit`).
    """
    from ...moments import proportional

    loss = isotropic_step_optimum()["min loss"].subs(ig.sigma2_sym, s_sym * d_sym)
    lim = proportional.proportional_limit(loss)
    if lim.order != 1:                                    # pragma: no cover - a derivation bug
        raise AssertionError(f"the LSA loss should grow like d, got order {lim.order}")
    bayes = sp.simplify(proportional.bayes_risk_limit(gamma=1 / proportional.alpha_sym, sigma2=s_sym))
    return {"LSA limit": sp.factor(lim.value), "Bayes limit": bayes}
