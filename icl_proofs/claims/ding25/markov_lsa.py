"""One-layer LSA on Markov-chain prompts (Ding, Lu, Lu, Nowicki & Gao 2025): the reparameterisation.

Conventions (see ``docs/architecture.md``, section ding25):

* a prompt holds ``n`` labelled chains and one query chain; chain ``i`` has states
  ``s_{i,1..d+1}``, ``x_i = s_{i,1:d}``, ``y_i = s_{i,d+1}``; ``z_i = [x_i; y_i]``;
* ``G = (1/n) sum_{i<=n} z_i z_i^T`` (the query column is masked out);
* the one-layer prediction is ``y_hat = b^T G A x_q`` with ``b`` the last row of ``P`` and
  ``A`` the first ``d`` columns of ``Q``;
* ``g`` = the unique entries of ``G`` in **row-major upper-triangle** order
  ``(1,1), (1,2), ..., (1,d+1), (2,2), ..., (d+1,d+1)`` (``m = (d+1)(d+2)/2`` entries);
* ``X`` in ``R^{d m}`` is the concatenation of blocks ``X^(1), ..., X^(d)``, block ``j`` for column ``j``
  of ``A``; then ``y_hat = (x_q ⊗ g)^T X`` and
  ``phi(b, A)^(j)_(a,a) = b_a A_{a,j}``, ``phi(b, A)^(j)_(a,c) = b_a A_{c,j} + b_c A_{a,j}`` (a < c).

Block ``j`` of ``X`` is the symmetric matrix ``S_j`` with ``S_j[a,a] = X^(j)_(a,a)`` and
``S_j[a,c] = X^(j)_(a,c)/2``; then ``b^T G A_{:,j} = <G, S_j>`` and ``phi`` is ``S_j = sym(b A_{:,j}^T)``.

>>> import numpy as np
>>> pairs(2)
[(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
>>> b = np.array([1., 2., 3.]); A = np.arange(6.).reshape(3, 2)
>>> X = phi(b, A)
>>> G = np.array([[1., .5, .2], [.5, 1., .3], [.2, .3, 1.]]); xq = np.array([1., 0.])
>>> bool(np.isclose(b @ G @ A @ xq, np.kron(xq, unique_entries(G)) @ X))
True
"""
from __future__ import annotations

import numpy as np

from ...moments.symmetric_index import m_of, pairs  # noqa: F401 (re-exported)

__all__ = ["pairs", "m_of", "unique_entries", "phi", "blocks_to_sym", "sym_to_blocks", "sym_blocks", "x_from_sym",
           "lift_matrix", "predict_one_layer", "features"]


def unique_entries(G: np.ndarray) -> np.ndarray:
    """g: the row-major upper triangle of G (works on a leading batch axis)."""
    G = np.asarray(G)
    d = G.shape[-1] - 1
    iu = np.triu_indices(d + 1)
    return G[..., iu[0], iu[1]]


def phi(b, A) -> np.ndarray:
    """The reparameterisation phi(b, A) in R^{d m}: vectorised for floats, exact for object arrays
    (Fractions, SymPy numbers)."""
    b = np.asarray(b)
    A = np.asarray(A)
    if b.dtype != object and A.dtype != object:
        O = np.einsum("a,cj->jac", b.astype(float), A.astype(float))
        return x_from_sym((O + O.transpose(0, 2, 1)) / 2)
    d = A.shape[1]
    out = []
    for j in range(d):
        for a, c in pairs(d):
            if a == c:
                out.append(b[a] * A[a, j])
            else:
                out.append(b[a] * A[c, j] + b[c] * A[a, j])
    return np.array(out)


def blocks_to_sym(X, d: int) -> list[np.ndarray]:
    """The symmetric matrices S_1..S_d of X (object dtype kept, so exact numbers stay exact)."""
    X = np.asarray(X)
    m = m_of(d)
    if X.shape != (d * m,):
        raise ValueError(f"X must have length d*m = {d * m} for d = {d}, got shape {X.shape}")
    out = []
    for j in range(d):
        S = np.zeros((d + 1, d + 1), dtype=X.dtype)
        for k, (a, c) in enumerate(pairs(d)):
            v = X[j * m + k]
            if a == c:
                S[a, a] = v
            else:
                S[a, c] = S[c, a] = v / 2
        out.append(S)
    return out


def sym_to_blocks(Ss) -> np.ndarray:
    """Inverse of :func:`blocks_to_sym`."""
    d = len(Ss)
    out = []
    for S in Ss:
        for a, c in pairs(d):
            out.append(S[a, a] if a == c else 2 * S[a, c])
    return np.array(out)


def sym_blocks(X, d: int) -> np.ndarray:
    """All S_j at once, shape (d, d+1, d+1), float (the vectorised :func:`blocks_to_sym`)."""
    m = m_of(d)
    iu0, iu1 = np.triu_indices(d + 1)
    T = np.zeros((d, d + 1, d + 1))
    T[:, iu0, iu1] = np.asarray(X, float).reshape(d, m) * np.where(iu0 == iu1, 1.0, 0.5)
    S = T + T.transpose(0, 2, 1)
    idx = np.arange(d + 1)
    S[:, idx, idx] = T[:, idx, idx]
    return S


def x_from_sym(S) -> np.ndarray:
    """Inverse of :func:`sym_blocks` (float): X_(a,a) = S_aa, X_(a,c) = 2 S_ac (a < c)."""
    S = np.asarray(S, float)
    iu0, iu1 = np.triu_indices(S.shape[-1])
    return (S[:, iu0, iu1] * np.where(iu0 == iu1, 1.0, 2.0)).reshape(-1)


def lift_matrix(b) -> np.ndarray:
    """L_b (m x (d+1)) with phi(b, A)^(j) = L_b A[:, j] (float, or object arrays for exact b).

    >>> lift_matrix(np.array([1., 2.])).tolist()   # d = 1: X = (b1 a1, b1 a2 + b2 a1, b2 a2)
    [[1.0, 0.0], [2.0, 1.0], [0.0, 2.0]]
    """
    b = np.asarray(b)
    d = len(b) - 1
    L = np.zeros((m_of(d), d + 1), dtype=object if b.dtype == object else float)
    for r, (a, c) in enumerate(pairs(d)):
        if a == c:
            L[r, a] = L[r, a] + b[a]
        else:
            L[r, c] = L[r, c] + b[a]
            L[r, a] = L[r, a] + b[c]
    return L


def features(states: np.ndarray) -> np.ndarray:
    """x_q ⊗ g for a batch of prompts ``states`` of shape (B, n+1, d+1) (query chain last)."""
    states = np.asarray(states, dtype=float)
    n = states.shape[1] - 1
    Z = states[:, :n, :]
    G = np.einsum("bia,bic->bac", Z, Z) / n
    g = unique_entries(G)
    xq = states[:, n, :-1]
    return (xq[:, :, None] * g[:, None, :]).reshape(states.shape[0], -1)


def predict_one_layer(states: np.ndarray, b, A) -> np.ndarray:
    """y_hat = b^T G A x_q for a batch of prompts (B, n+1, d+1)."""
    states = np.asarray(states, dtype=float)
    n = states.shape[1] - 1
    Z = states[:, :n, :]
    G = np.einsum("bia,bic->bac", Z, Z) / n
    return np.einsum("a,bac,cj,bj->b", np.asarray(b, float), G, np.asarray(A, float), states[:, n, :-1])
