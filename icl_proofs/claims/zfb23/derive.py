"""Symbolic derivations for zfb23, from the data model, with symbolic d and N (and M).

Every function here starts from the data model (Gaussian x, w, the LSA prediction) and runs the Wick
engine; nothing types in a paper's answer.  The paper's printed forms live in :mod:`.paper` and are
compared against these in the checks.
"""
from __future__ import annotations

import sympy as sp

from ...cache import disk_cached
from ...models import lsa_symbolic as lsa
from ...models import prompt_model as _pm
from ...models.prompt_model import PromptModel
from ...moments.spectral import TrF, lam, pointwise_minimise, to_spectral
from ...moments.wick import expect, expect_matrix, gaussian, grad, matrix, sample_cov, scalar, vector

N, M = lsa.N, lsa.M
u, w22 = lsa.u, lsa.w22
g = sp.Symbol("g", real=True)  # g(λ): the eigenvalue of a matrix function of Λ
s2 = _pm.s2  # label-noise variance (the same symbol as the data model's)
c = sp.Symbol("c", positive=True)  # covariate scale


@disk_cached("zfb23-moments")
def gaussian_moments() -> dict:
    """Claim 1: E[x xᵀ A x xᵀ], E[Σ̂ A Σ̂], E[Σ̂²] and Γ := E[Σ̂²] Λ⁻¹ (as a function of λ)."""
    x = gaussian("x", cov="Lambda")
    A = matrix("A")
    S = sample_cov("Sigma_hat", "Lambda", N)
    fourth = expect_matrix(x @ x.T @ A @ x @ x.T)
    sas = expect_matrix(S @ A @ S)
    ss = expect_matrix(S @ S)
    ss_fn = ss.as_function_of("Lambda", lam)  # E[Σ̂²] = p(Λ)
    quotient, remainder = sp.div(sp.Poly(ss_fn, lam), sp.Poly(lam, lam))
    if remainder.as_expr() != 0:
        raise ArithmeticError("E[Σ̂²] is not Γ·Λ for a polynomial Γ")
    return {
        "E[x x' A x x']": fourth,
        "E[Sigma_hat A Sigma_hat]": sas,
        "E[Sigma_hat^2]": ss,
        "gamma": sp.expand(quotient.as_expr()),  # Γ = gamma(Λ)
    }


def gamma_fn(n=N) -> sp.Expr:
    """γ(λ): Γ = γ(Λ), with the training prompt length n."""
    return gaussian_moments()["gamma"].subs(N, n)


@disk_cached("zfb23-losses")
def losses() -> dict:
    """Claim 2: the reduced loss L(U, u), its gradient, and the full loss over all LSA blocks."""
    yh, y = lsa.reduced_prediction()
    L = expect(lsa.half_square_loss(yh, y))
    yf, yq = lsa.full_prediction()
    Lfull = expect(lsa.half_square_loss(yf, yq))
    odd, even, yq2 = lsa.full_prediction_parts()
    Lodd = expect(lsa.half_square_loss(odd, yq2))
    Leven = expect(scalar(sp.Rational(1, 2)) * even ** 2)
    Lcross = expect((odd - yq2) * even)
    return {
        "L_reduced": L,
        "dL/dU": grad(L, "U"),
        "dL/du": sp.expand(sp.diff(L, u)),
        "L_full": Lfull,
        "L_odd": Lodd,
        "L_even": Leven,
        "L_cross": Lcross,
    }


@disk_cached("zfb23-global-min")
def global_min() -> dict:
    """Claim 3: minimise L over the preconditioner V = u·U.

    L(V) is a trace polynomial in Λ and V.  It is invariant under V -> D V D, Λ -> D Λ D for every
    sign matrix D diagonal in Λ's eigenbasis, and strictly convex (checked), so its unique minimiser
    is diagonal in that basis: V = g(Λ).  Substituting makes L separate across eigenvalues and the
    minimisation is done pointwise in λ.
    """
    yh, y = lsa.reduced_prediction(precond=matrix("V"))
    LV = expect(lsa.half_square_loss(yh, y))
    spec = to_spectral(LV, {"Lambda": lam, "V": g})
    g_star, c0, ell_min, curvature = pointwise_minimise(spec, g)
    min_loss = sp.expand(c0) + TrF(ell_min)
    # Hessian of L in V (quadratic part) for the strict-convexity certificate
    hess_quadratic = sp.expand(sum(t for t in sp.Add.make_args(sp.expand(LV))
                                   if _letter_count(t, "V") == 2))
    return {
        "L(V)": LV,
        "g_star": g_star,  # minimiser V* = g_star(Λ)
        "min_loss": min_loss,
        "curvature": curvature,
        "quadratic_part": hess_quadratic,
    }


def _letter_count(term: sp.Expr, name: str) -> int:
    """How many times the letter ``name`` occurs in a product of trace atoms."""
    from ...moments.traces import info

    total = 0
    for base, ex in term.as_powers_dict().items():
        inf = info(base) if isinstance(base, sp.Symbol) else None
        if inf is not None:
            total += int(ex) * sum(l.name == name for l in inf.word)
    return total


# The data models of the risk and shift claims, each stated once: the derivations below and the
# claims' Monte-Carlo samplers (``dataclasses.replace(model, Lambda=..., M=...).sampler(P)``) both
# read these.  ŷ = x_qᵀ P (1/M) Σ y_i x_i with P the trained preconditioner (a symmetric letter).
RISK_MODEL = PromptModel(N=N, M=M)                                      # w ~ N(0, I), noiseless
FIXED_TASK_MODEL = PromptModel(task_vector="a", sigma2=s2, N=N, M=M)   # Theorem 4.2: y = ⟨a,x⟩ + ε
SHIFT_MODELS = {
    "task": PromptModel(task_mean="mu", task_cov="Psi", sigma2=s2, N=N, M=M),
    "query": PromptModel(Lambda_query="Lambda_q", N=N, M=M),
    "covariate": PromptModel(Lambda_test="Lambda_t", N=N, M=M),
}


@disk_cached("zfb23-risk")
def risk() -> dict:
    """Claims 5-7: finite-(N, M) prediction errors of the limiting predictor P = Γ⁻¹, and the
    ingredients of Theorem 4.2 for a fixed linear task y = ⟨a, x⟩ + ε."""
    ginv = 1 / gamma_fn(N)
    err = RISK_MODEL.error("P")
    # Theorem 4.2, fixed task a with noise: direct route ...
    direct = FIXED_TASK_MODEL.error("P")
    # ... and the theorem's right-hand side from its ingredients, each derived by the engine
    x = gaussian("x", cov="Lambda")
    a = vector("a")
    B = matrix("B", sym=True)  # stands for Γ⁻²Λ
    second = expect_matrix(x @ x.T)  # E[x xᵀ] (= Λ), so E[x y] = E[x xᵀ] a
    if second.as_function_of("Lambda", lam) != lam:
        raise ArithmeticError("E[x xᵀ] is not Λ")
    ey2xBx = expect(((a.T @ x) ** 2) * (x.T @ B @ x)) + s2 * expect(x.T @ B @ x)
    tr_SigmaB = ey2xBx - expect(a.T @ matrix("Lambda", sym=True) @ B @ matrix("Lambda", sym=True) @ a)
    ey2 = expect((a.T @ x) ** 2) + s2
    bayes = ey2 - expect(a.T @ matrix("Lambda", sym=True) @ a)  # E y² − E[xy]ᵀ Λ⁻¹ E[xy]
    return {
        "error": err,
        "error_spectral": sp.expand(to_spectral(err, {"Lambda": lam, "P": ginv})),
        "direct_fixed_task": direct,
        "thm42_bayes": sp.expand(bayes),
        "thm42_trSigmaB": sp.expand(tr_SigmaB),
    }


@disk_cached("zfb23-shifts")
def shifts() -> dict:
    """Claim 7: exact finite-(N, M) risks under task, query and covariate shift."""
    return {
        kind: model.error("P") for kind, model in SHIFT_MODELS.items()
    }


def to_trf(expr: sp.Expr) -> sp.Expr:
    """Trace atoms in Λ alone (tr Λ, tr Λ², ...) as TrF terms."""
    return to_spectral(expr, {"Lambda": lam})
