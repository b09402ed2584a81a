"""What the ding25 paper prints: the statements under test.  Never used to derive anything.

Ding, Lu, Lu, Nowicki & Gao 2025 (arXiv 2510.18638).  Most display equations of the paper could not
be read; only the pieces below are printed legibly (main text and appendix), and each is quoted with
its location.  Conventions: g = (G_xx, G_xy, G_yy) at d = 1.
"""
from __future__ import annotations

import sympy as sp

p, n, c1, c2 = sp.symbols("p n c_1 c_2", positive=True)


def thm33_rhs():
    """Theorem 3.3 / Lemma C.1 (main text): X* = H^{-1} [p^2/2, p^2/3, p^2/12 + p/4]^T."""
    return sp.Matrix([p**2 / 2, p**2 / 3, p**2 / 12 + p / 4])


def thm33_rhs_appendix_end():
    """The last line of the proof of Lemma C.1 prints X* = H^{-1} [p^2, p^2/3, p^2/12 + p/4]."""
    return sp.Matrix([p**2, p**2 / 3, p**2 / 12 + p / 4])


def thm34_rhs():
    """Theorem 3.4 / C.4: X* = H^{-1} [c_1/(2n), c_1/(3n), p/4 + c_1/(12n)]."""
    return sp.Matrix([c1 / (2 * n), c1 / (3 * n), p / 4 + c1 / (12 * n)])


def example_c5_c1():
    """Example C.5 (g(x) = (x - p)^2): "Therefore c_1 = n(p - 2p^2 + p^3)"."""
    return n * (p - 2 * p**2 + p**3)


def chain_prob_product(S, a, c, pp):
    """Lemma 3.2 / C.7's moment formula: P(s_{t_1} = ... = s_{t_k} = 1) = mu(t_1) prod kappa(t_{l+1} - t_l),
    mu(t) = (pi P^{t-1})_1, kappa(D) = (P^D)_{11}, for a fixed kernel P = [[1-a, a], [c, 1-c]]."""
    ts = sorted(set(S))
    if not ts:
        return 1
    P = sp.Matrix([[1 - a, a], [c, 1 - c]])
    pi = sp.Matrix([[1 - pp, pp]])
    mu = (pi * P ** (ts[0] - 1))[0, 1]
    out = mu
    for t0, t1 in zip(ts, ts[1:]):
        out = out * (P ** (t1 - t0))[1, 1]
    return out


def lemma32_factorised_entry(Eq, Eg):
    """Lemma C.7's step E[x_{q,i} x_{q,j} G G'] = E[x_{q,i} x_{q,j}] · E[G G'] ("x_i and x_{n+1} are
    independent"): the factorised entry from the two separate expectations."""
    return Eq * Eg


#: Theorem 3.3 / 3.4 claim that substituting X* into Eq. 10 "gives a global minimizer of f(P, Q)";
#: this requires some one-layer (b, A) with phi(b, A) = X* (Eq. 10 is not readable).
GLOBAL_MINIMISER_STATEMENT = ("substituting X* into Eq. 10 gives a global minimizer of f(P, Q)")

#: Theorem 3.5: solving phi(b, A) = X for (b, A) "is NP-hard with respect to d".
THM35_STATEMENT = "Given X in R^{dm}, solving for 1-layer LSA parameters (b, A) with phi(b, A) = X is NP-hard in d"


#: Example C.13 / the proof of Theorem C.14, as printed (the reduction from bilinear separability).
#: The objective constraint (r = 1) is printed as z1^T z2 = b^T D^(1) A_{:,1} with
#: D^(1) = sum_{i=1}^{k'} E_ii (only 1-entries); the Bennett-Mangasarian constraints (groups r = jm+1 ..
#: jm+4) keep their "<=" (Problem C.11 admits inequalities), and the data A', B and the constant 1 are
#: written into entries of b and A that are fixed (Problem C.10 admits fixed entries).
THM35_PRINTED_REDUCTION = {
    "objective_D1": "sum_{i=1}^{k'} E_ii",
    "group_senses": ("<=", "<=", "<=", "<="),
    "fixed_entries": True,
    "example_sizes": {"m'": 2, "k'": 2, "n'": 2, "d": 8},
}
