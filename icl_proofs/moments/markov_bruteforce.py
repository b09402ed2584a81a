"""Brute-force route to the ding25 moments: enumerate every trajectory of every chain of a prompt.

Independent of :mod:`icl_proofs.moments.markov` (no cubature, no factorisation, no chain recursion):
each configuration of the ``n+1`` chains gets its probability integrated over the kernel prior in
closed form — with Dirichlet(alpha) rows, E[prod_t P_st^{n_st}] = prod_t (alpha)_{n_st} / (S alpha)_{N_s}
(rising factorials; U(0,1) is alpha = 1, S = 2) — and the moments are exact sums over configurations.
States are fed as the reals 0..S-1.  Cost is S^((n+1)(d+1)) configurations, so sizes are capped.

>>> from fractions import Fraction as F
>>> bf = enumerate_system(1, 1, p=F(1, 2))
>>> bf.h
[Fraction(1, 8), Fraction(1, 12), Fraction(7, 48)]
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import UserInputError
from .symmetric_index import pairs

__all__ = ["enumerate_system", "BruteForceSystem", "MAX_CONFIGS"]

#: most configurations enumerated (memory ~ 40 bytes each)
MAX_CONFIGS = 1 << 22


@dataclass
class BruteForceSystem:
    d: int
    n: int
    H: list  # exact E[(x_q ⊗ g)(x_q ⊗ g)^T]
    h: list  # exact E[(x_q ⊗ g) y_q]
    Ey: Fraction  # E[y_q^2]


def _rising(x: Fraction, k: int) -> Fraction:
    out = Fraction(1)
    for i in range(k):
        out *= x + i
    return out


def enumerate_system(d: int, n: int, p=None, *, n_states: int = 2, alpha=1, kernel=None,
                     init: str = "iid", q0=None, q1=None) -> BruteForceSystem:
    """Exact H, h, E[y^2] for n labelled chains + query, chains of length d+1, by enumeration.

    * binary iid initial states Bern(p) (``p`` given) or uniform over S states (``p=None``);
    * ``init="conditional"``: query initial ~ Bern(p), context initial states iid Bern(q_x) given it;
    * ``kernel``: fixed S x S matrix of rationals, else Dirichlet(alpha) rows.
    """
    S = n_states
    L = (n + 1) * (d + 1)
    count = S**L
    if count > MAX_CONFIGS:
        raise UserInputError(f"exact enumeration of S^((n+1)(d+1)) = {S}^{L} configurations exceeds the "
                             f"limit of {MAX_CONFIGS}; use smaller d, n or the Monte-Carlo route")
    alpha = Fraction(alpha)
    if alpha <= 0:
        raise UserInputError(f"Dirichlet concentration alpha must be > 0, got {alpha}")
    # all configurations: (count, n+1, d+1) states
    idx = np.arange(count, dtype=np.int64)
    digits = np.empty((count, L), dtype=np.int8)
    for k in range(L):
        digits[:, k] = (idx // S**k) % S
    st = digits.reshape(count, n + 1, d + 1)
    # sufficient statistics of the probability: initial states and transition counts per (s, t)
    trans = np.zeros((count, S, S), dtype=np.int64)
    for s in range(S):
        for t in range(S):
            trans[:, s, t] = ((st[:, :, :-1] == s) & (st[:, :, 1:] == t)).sum(axis=(1, 2))
    if init == "iid":
        init_counts = np.stack([(st[:, :, 0] == s).sum(axis=1) for s in range(S)], axis=1)
        sig = np.concatenate([init_counts, trans.reshape(count, -1)], axis=1)
    elif init == "conditional":
        if S != 2:
            raise UserInputError("conditional initial states are defined for binary chains")
        xq0 = st[:, n, 0].astype(np.int64)
        ones = st[:, :n, 0].sum(axis=1).astype(np.int64)
        sig = np.concatenate([xq0[:, None], ones[:, None], trans.reshape(count, -1)], axis=1)
    else:
        raise UserInputError(f"unknown init {init!r}")
    keys, inverse = np.unique(sig, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)

    def weight(key) -> Fraction:
        key = [int(v) for v in key]
        if init == "iid":
            ic, tr = key[:S], key[S:]
            if p is not None:
                w = Fraction(p) ** ic[1] * (1 - Fraction(p)) ** ic[0]
            else:
                w = Fraction(1, S) ** sum(ic)
        else:
            x0, ones, tr = key[0], key[1], key[2:]
            q = Fraction(q1 if x0 else q0)
            w = (Fraction(p) if x0 else 1 - Fraction(p)) * q**ones * (1 - q) ** (n - ones)
        tr = np.array(tr).reshape(S, S)
        for s in range(S):
            if kernel is not None:
                for t in range(S):
                    w *= Fraction(kernel[s][t]) ** int(tr[s, t])
            else:
                num = Fraction(1)
                for t in range(S):
                    num *= _rising(alpha, int(tr[s, t]))
                w *= num / _rising(S * alpha, int(tr[s].sum()))
        return w

    weights = [weight(k) for k in keys]
    # integer features n * (x_q ⊗ g) and target
    Z = st[:, :n, :].astype(np.int64)
    Gn = np.einsum("bia,bic->bac", Z, Z)  # n * G
    iu = [a for a, _ in pairs(d)], [c for _, c in pairs(d)]
    gn = Gn[:, iu[0], iu[1]]
    xq = st[:, n, :d].astype(np.int64)
    feat = (xq[:, :, None] * gn[:, None, :]).reshape(count, -1)
    y = st[:, n, d].astype(np.int64)
    dm = feat.shape[1]
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    H = [[Fraction(0)] * dm for _ in range(dm)]
    h = [Fraction(0)] * dm
    Ey = Fraction(0)
    for g, w in enumerate(weights):
        rows = order[bounds[g]:bounds[g + 1]]
        F = feat[rows]
        FF = F.T @ F
        Fy = F.T @ y[rows]
        yy = int((y[rows] ** 2).sum())
        if w == 0:
            continue
        for i in range(dm):
            Hi = H[i]
            for j in range(dm):
                v = int(FF[i, j])
                if v:
                    Hi[j] += w * v
            if Fy[i]:
                h[i] += w * int(Fy[i])
        Ey += w * yy
    n2 = Fraction(n * n)
    return BruteForceSystem(d, n, [[x / n2 for x in row] for row in H], [x / n for x in h], Ey)
