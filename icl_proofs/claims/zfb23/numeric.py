"""Numbers from the zfb23 derivations: exact (rational) and mpmath evaluation at one configuration,
plus random exact test configurations for the checks."""
from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import sympy as sp

from ...moments import traces
from ...moments.spectral import eval_at_matrix, lam, matrix_function
from ...numeric.precision import to_mp_matrix, to_mpf
from . import derive


def gamma_matrix(Lambda, N) -> sp.Matrix:
    """Γ at a rational Λ, from the derived γ(λ)."""
    return matrix_function(derive.to_trf(derive.gamma_fn(N)), sp.Matrix(Lambda))


def preconditioner(Lambda, N) -> sp.Matrix:
    """The derived minimiser V* = g*(Λ), exactly."""
    return matrix_function(derive.global_min()["g_star"].subs(derive.N, N), sp.Matrix(Lambda))


def min_loss(Lambda, N) -> sp.Rational:
    return eval_at_matrix(derive.global_min()["min_loss"].subs(derive.N, N), sp.Matrix(Lambda))


def risk_error(Lambda, N, M) -> sp.Rational:
    """E(ŷ − y)² of P = Γ⁻¹(N) on test prompts of length M, w ~ N(0, I), noiseless."""
    return eval_at_matrix(derive.risk()["error_spectral"].subs({derive.N: N, derive.M: M}), sp.Matrix(Lambda))


def trace_poly_exact(expr: sp.Expr, env: dict, extra: dict | None = None) -> sp.Expr:
    """Exact value of a trace polynomial at rational matrices/vectors ``env``."""
    return traces.evaluate_exact(expr, {k: sp.Matrix(v) for k, v in env.items()}, extra)


#: the shift claims' keyword names for the fields of their :class:`PromptModel`
_SHIFT_FIELDS = {"Psi": "task_cov", "mu": "task_mean", "s2": "sigma2", "Lambda_q": "Lambda_query",
                 "Lambda_t": "Lambda_test"}


def shift_model(kind: str, Lambda, N, M, **mats):
    """The shift claim's data model (:data:`derive.SHIFT_MODELS`) at concrete Λ, N, M and shift
    values (keywords Psi, mu, s2, Lambda_q, Lambda_t)."""
    fields = {_SHIFT_FIELDS[k]: v for k, v in mats.items()}
    if derive.SHIFT_MODELS[kind].sigma2 != 0:
        fields.setdefault("sigma2", 0)   # a noisy model's noise defaults to 0 when not given
    return dataclasses.replace(derive.SHIFT_MODELS[kind], Lambda=sp.Matrix(Lambda), N=N, M=M, **fields)


def shift_error(kind: str, Lambda, N, M, **mats) -> sp.Rational:
    """Exact finite-(N, M) risk under a shift, for the trained P = Γ⁻¹(Λ, N): the derived
    expression of the claim's model, evaluated at its concrete values."""
    model = shift_model(kind, Lambda, N, M, **mats)
    return model.exact_error(preconditioner(Lambda, N), expr=derive.shifts()[kind])


def mp_value(x, dps: int):
    return to_mpf(x, dps)


def mp_matrix(M, dps: int):
    return to_mp_matrix(M, dps)


def spectral_mp(expr: sp.Expr, Lambda, dps: int, subs: dict | None = None):
    """Second route: evaluate a TrF expression through mpmath's symmetric eigensolver at ``dps``."""
    from ...moments.spectral import trf_atoms

    with mpmath.workdps(dps + 10):
        A = to_mp_matrix(sp.Matrix(Lambda), dps + 10)
        ev, _ = mpmath.eigsy(A)
        eig = [ev[i] for i in range(A.rows)]
        e = expr.subs(subs or {}).xreplace({traces.d: len(eig)})

        def value(e):
            out = {}
            for atom in trf_atoms(e):
                f = atom.args[0]
                fv = value(f) if trf_atoms(f) else f
                fn = sp.lambdify(lam, fv, modules="mpmath")
                out[atom] = sp.Float(mpmath.nstr(mpmath.fsum(fn(x) for x in eig), dps + 8), dps + 8)
            return e.xreplace(out) if out else e

        val = value(e)
        return mpmath.mpf(str(sp.N(val, dps + 8)))


# -------------------------------------------------------------------------------------------
# random exact configurations


def random_spd(rng: np.random.Generator, d: int, condition: float = 10.0) -> sp.Matrix:
    """An exactly SPD rational matrix with condition number roughly ``condition``:
    Q diag(λ) Qᵀ with a rational orthogonal Q (Cayley transform) and rational eigenvalues."""
    K = sp.Matrix(d, d, lambda i, j: 0)
    for i in range(d):
        for j in range(i + 1, d):
            v = int(rng.integers(-3, 4))
            K[i, j], K[j, i] = v, -v
    I = sp.eye(d)
    Q = (I - K) * (I + K).inv()  # orthogonal, rational
    logs = rng.uniform(0, np.log10(condition), size=d) if d > 1 else np.zeros(1)
    if d > 1:
        logs[0], logs[-1] = 0.0, np.log10(condition)
    eig = [sp.Rational(int(round(10 ** x * 8)), 8) for x in logs]
    return sp.Matrix(Q * sp.diag(*eig) * Q.T)


def random_rational_matrix(rng: np.random.Generator, d: int, k: int | None = None) -> sp.Matrix:
    k = d if k is None else k
    return sp.Matrix(d, k, lambda i, j: sp.Rational(int(rng.integers(-6, 7)), int(rng.integers(1, 5))))


def to_np(M) -> np.ndarray:
    return np.array(sp.Matrix(M).evalf(20).tolist(), dtype=float)
