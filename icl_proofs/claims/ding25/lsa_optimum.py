"""The true optimum of the one-layer LSA loss f(b, A) = f~(phi(b, A)) on Markov prompts (ding25).

f~ is a convex quadratic on R^{dm}; the one-layer LSA only reaches the image of phi.  For fixed
``b != 0`` the map A -> phi(b, A) is linear and injective, so

    F(b) = min_A f~(phi(b, A)) = E[y^2] - h_b^T H_b^{-1} h_b,   H_b = J_b^T H J_b,  h_b = J_b^T h,

with J_b = I_d ⊗ L_b, and F is invariant under b -> s b.  Hence min f = min of F over the sphere.

* d = 1 (:func:`one_layer_min_d1`): b = (1, t) or b = (0, 1); F(t) is a rational function, and its
  global minimum on the projective line is found from **all** real roots of the numerator of F'(t)
  (SymPy exact root isolation), evaluated with mpmath — an exact-algebra certificate.
* any d (:func:`one_layer_min_multistart`): multistart BFGS on F over the sphere — numeric, no
  certificate; and :func:`one_layer_min_direct`: BFGS on (b, A) jointly, a second numeric route.

L_b is :func:`icl_proofs.claims.ding25.markov_lsa.lift_matrix`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .markov_lsa import lift_matrix, m_of

__all__ = ["profile", "one_layer_min_d1", "one_layer_min_multistart", "one_layer_min_direct"]


def profile(H: np.ndarray, h: np.ndarray, Ey: float, b) -> tuple[float, np.ndarray]:
    """F(b) and the minimising A (float)."""
    b = np.asarray(b, dtype=float)
    d = len(b) - 1
    J = np.kron(np.eye(d), lift_matrix(b))
    Hb = J.T @ H @ J
    hb = J.T @ h
    a = np.linalg.lstsq(Hb, hb, rcond=None)[0]
    return float(Ey - hb @ a), a.reshape(d, d + 1).T


def one_layer_min_d1(H, h, Ey, dps: int = 30) -> dict:
    """Exact-algebra global minimum of the one-layer loss at d = 1 (H, h, Ey exact rationals)."""
    import mpmath

    t = sp.Symbol("t", real=True)
    Hm = sp.Matrix(3, 3, lambda i, j: sp.Rational(H[i][j]))
    hv = sp.Matrix([sp.Rational(x) for x in h])
    Ey = sp.Rational(Ey)

    def value_at(bvec):
        L = sp.Matrix(lift_matrix(np.array(bvec, dtype=object)))
        Hb, hb = L.T * Hm * L, L.T * hv
        return Ey - (hb.T * Hb.adjugate() * hb)[0] / Hb.det(), Hb, hb

    F_t, _, _ = value_at([sp.Integer(1), t])
    num, den = sp.fraction(sp.together(F_t))
    crit = sp.Poly(sp.expand(sp.diff(num, t) * den - num * sp.diff(den, t)), t)
    roots = crit.real_roots() if crit.degree() > 0 else []
    cands = []
    with mpmath.workdps(dps + 10):
        for r in roots:
            cands.append((sp.N(F_t.subs(t, r), dps + 10), "t", r))
        F_inf, _, _ = value_at([sp.Integer(0), sp.Integer(1)])
        cands.append((sp.N(F_inf, dps + 10), "inf", None))
    best = min(cands, key=lambda c: c[0])
    bvec = [1.0, float(sp.N(best[2], 20))] if best[1] == "t" else [0.0, 1.0]
    return {"min_loss": best[0], "b": bvec, "critical_points": len(roots),
            "critical_polynomial_degree": crit.degree(), "candidates": [str(sp.N(c[0], 12)) for c in cands]}


def _unit(v):
    return v / np.linalg.norm(v)


class QuadraticProfile:
    """F(b) and its exact gradient from precomputed blocks, for many b at one (H, h).

    J_b = sum_k b_k J_k is linear in b, so H_b = sum_kl b_k b_l G_kl with G_kl = J_k^T H J_l and
    h_b = sum_k b_k g_k with g_k = J_k^T h: one product with all J_k stacked up front, then each F(b)
    costs O((d+1)^2 (d(d+1))^2) instead of the dense J_b^T H J_b of :func:`profile` (O(d^2 m^2 (d+1))).
    Envelope theorem (a = H_b^-1 h_b minimises over A): dF/db_k = -2 g_k^T a + 2 a^T (sum_l b_l G_kl) a.
    F is invariant under b -> s b, so on the sphere the gradient of F(b / |b|) is grad F(u) / |b|.
    """

    def __init__(self, H, h, Ey):
        H = np.asarray(H, dtype=float)
        h = np.asarray(h, dtype=float)
        self.d = d = next(k for k in range(1, 64) if k * m_of(k) == len(h))  # len(h) = d m(d)
        self.Ey = float(Ey)
        Js = [np.kron(np.eye(d), lift_matrix(np.eye(d + 1)[k])) for k in range(d + 1)]
        Jall = np.concatenate(Js, axis=1)  # (d m) x ((d+1) * d(d+1))
        p = d * (d + 1)
        self.G = (Jall.T @ H @ Jall).reshape(d + 1, p, d + 1, p).transpose(0, 2, 1, 3)
        self.g = (Jall.T @ h).reshape(d + 1, p)

    def value_grad(self, b) -> tuple[float, np.ndarray, np.ndarray]:
        """F(b / |b|), its gradient in b, and the minimising a (flattened A^T)."""
        b = np.asarray(b, dtype=float)
        nb = np.linalg.norm(b)
        u = b / nb
        Gu = np.tensordot(self.G, u, axes=([1], [0]))  # sum_l u_l G_kl, shape (k, p, q)
        Hb = np.tensordot(u, Gu, axes=1)
        hb = u @ self.g
        try:  # H_b is positive definite for b != 0 (J_b injective, H > 0): LU is enough
            a = np.linalg.solve(Hb, hb)
        except np.linalg.LinAlgError:
            a = np.linalg.lstsq(Hb, hb, rcond=None)[0]
        grad = -2 * self.g @ a + 2 * (Gu @ a) @ a
        return float(self.Ey - hb @ a), grad / nb, a


def one_layer_min_multistart(H, h, Ey, starts: int = 20, seed: int = 0) -> dict:
    """min over the sphere of F(b), multistart BFGS with the exact gradient (numeric; no certificate)."""
    from scipy.optimize import minimize

    H = np.asarray(H, dtype=float)
    h = np.asarray(h, dtype=float)
    F = QuadraticProfile(H, h, Ey)
    d = F.d
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(starts):
        b0 = rng.standard_normal(d + 1)
        res = minimize(lambda b: F.value_grad(b)[:2], b0, jac=True, method="BFGS",
                       options={"gtol": 1e-10, "maxiter": 2000})
        val, _, a = F.value_grad(res.x)
        A = a.reshape(d, d + 1).T
        if best is None or val < best["min_loss"]:
            best = {"min_loss": val, "b": _unit(res.x), "A": A}
    return best


def one_layer_min_direct(H, h, Ey, starts: int = 10, seed: int = 1) -> dict:
    """min over (b, A) of f~(phi(b, A)) by BFGS from random starts (second numeric route)."""
    from scipy.optimize import minimize

    from .markov_lsa import phi

    H = np.asarray(H, dtype=float)
    h = np.asarray(h, dtype=float)
    d = next(k for k in range(1, 64) if k * m_of(k) == len(h))
    rng = np.random.default_rng(seed)

    def f(v):
        b, A = v[: d + 1], v[d + 1:].reshape(d + 1, d)
        X = phi(b, A)
        return X @ H @ X - 2 * h @ X + Ey

    best = None
    for _ in range(starts):
        res = minimize(f, rng.standard_normal((d + 1) * (d + 1)), method="BFGS",
                       options={"gtol": 1e-11, "maxiter": 5000})
        if best is None or res.fun < best["min_loss"]:
            best = {"min_loss": float(res.fun), "x": res.x}
    return best
