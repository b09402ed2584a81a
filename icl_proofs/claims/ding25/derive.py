"""ding25 derivations from the data model (never from the paper's answers).

* :func:`system_d1_iid` — H(p, n), h(p), E[y] at d = 1 with iid Bern(p) initial states, symbolic p, n
  (moment engine with SymPy entries).
* :func:`system_d1_correlated` — H(p, n, c_1, c_2), h at d = 1 for *any* initial-state law that is
  independent of the kernel, with x_q ~ Bern(p), c_1 = sum_i E[x_i x_q], c_2 = sum_{i != j}
  E[x_i x_j x_q]: conditional expectations given the kernel and the initial states are affine in each
  x_i, so every entry is linear in (p n, c_1, c_2) — derived by SymPy from that structure.
* :func:`exact_system` — exact rational H, h, E[y] at concrete (d, p) (cached per configuration).
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import sympy as sp

from ...cache import disk_cached, not_a_derivation
from ...moments import markov

p, n, c1, c2 = sp.symbols("p n c_1 c_2", positive=True)
a, c = sp.symbols("a c", positive=True)  # p01, p10


def _prior(e):
    e = sp.expand(e)
    return sp.expand(sp.integrate(sp.integrate(e, (a, 0, 1)), (c, 0, 1)))


@disk_cached("ding25-d1-iid")
def system_d1_iid() -> dict:
    s = markov.enlarged_system(1, p)
    H = sp.Matrix(s.H(n)).applyfunc(sp.factor)
    return {"H": H, "h": sp.Matrix([sp.factor(x) for x in s.h]), "Ey": sp.factor(s.Ey)}


@disk_cached("ding25-d1-correlated")
def system_d1_correlated() -> dict:
    # per-chain features f = (x, x y, y); given kernel and x: E[x] = x, E[x y] = x (1 - c),
    # E[y] = a + (1 - a - c) x; products of features of ONE chain collapse (binary: x^2 = x, y^2 = y)
    x = sp.Symbol("x")
    E1 = {"x": x, "xy": x * (1 - c), "y": a + (1 - a - c) * x}
    feats = ["x", "xy", "y"]

    def same(k, l):  # E[f_k f_l | K, x] for one chain
        s = set(k) | set(l)
        return E1["xy"] if s == {"x", "y"} else E1["x"] if s == {"x"} else E1["y"]

    def ab(expr):  # affine in x: alpha + beta x
        expr = sp.expand(expr)
        return expr.subs(x, 0), sp.expand(expr.coeff(x, 1))

    H = sp.zeros(3, 3)
    for i, k in enumerate(feats):
        for j, l in enumerate(feats):
            al, be = ab(same(k, l))
            diag = n * p * _prior(al) + c1 * _prior(be)  # sum_i E[x_q (alpha + beta x_i)]
            ak, bk = ab(E1[k])
            aj, bj = ab(E1[l])
            off = (n * (n - 1) * p * _prior(ak * aj) + (n - 1) * c1 * _prior(ak * bj + bk * aj)
                   + c2 * _prior(bk * bj))
            H[i, j] = sp.factor((diag + off) / n**2)
    h = sp.zeros(3, 1)
    for i, k in enumerate(feats):
        ak, bk = ab(E1[k])
        # E[x_q y_q f_k(i)] = E[x_q (1 - c)(alpha_k + beta_k x_i)]
        h[i] = sp.factor((n * p * _prior((1 - c) * ak) + c1 * _prior((1 - c) * bk)) / n)
    Ey = _prior(a + (1 - a - c) * p)
    return {"H": H, "h": h, "Ey": Ey}


def example_c5_moments():
    """c_1, c_2 for Example C.5: x_q ~ Bern(p), x_i | x_q iid Bern((x_q - p)^2)."""
    q = {0: p**2, 1: (1 - p) ** 2}
    c1v = n * (p * q[1])  # E[x_i x_q] = P(x_q = 1) q_1
    c2v = n * (n - 1) * (p * q[1] ** 2)
    return sp.factor(c1v), sp.factor(c2v)


@lru_cache(maxsize=64)
def exact_system(d: int, p_val: Fraction, init: str = "iid", q0: Fraction | None = None,
                 q1: Fraction | None = None) -> markov.EnlargedSystem:
    if init == "iid":
        return markov.enlarged_system(d, p_val)
    return markov.enlarged_system(d, init=markov.conditional_init(p_val, q0, q1))


@not_a_derivation  # Example C.5's initial-state law: part of the model, not a derived formula
def example_c5_init(p_val: Fraction):
    return (p_val**2, (1 - p_val) ** 2)


@lru_cache(maxsize=256)
def minimiser(d: int, p_val: Fraction, n_val: int, init: str = "iid"):
    """Exact X*, f~(X*) and the system at (d, p, n)."""
    if init == "example-c5":
        q0, q1 = example_c5_init(p_val)
        s = exact_system(d, p_val, "conditional", q0, q1)
    else:
        s = exact_system(d, p_val)
    H = s.H(n_val)
    X = markov.solve(H, s.h)
    return s, H, X, markov.loss_at(s, n_val, X)
