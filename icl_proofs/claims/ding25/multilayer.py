"""Multilayer linear self-attention (LSA) on Markov-chain prompts (ding25, Section 4 and App. A/B).

Model (the paper's, with its mask): ``Z_0 = [[x_1 .. x_n, x_q], [y_1 .. y_n, 0]]`` of shape
``(d+1) x (n+1)``, ``M = diag(I_n, 0)`` and

    Z_{l+1} = Z_l + (1/n) P_l Z_l M (Z_l^T Q_l Z_l),        output = [Z_L]_{d+1, n+1}.

Two parameter spaces are trained here:

* **structured** (Theorem 4.1; with ``L = 1`` App. A's sparse "variant 1"):
  ``P_l = [0_{d x (d+1)}; b_l^T]``, ``Q_l = [A_l, 0_{(d+1) x 1}]`` with ``A_l`` in ``R^{(d+1) x d}``.
  Because ``Z M Z^T = n G`` and ``Q_l z_i = A_l x_i``, a layer only rewrites the label row:

      y_i^{(l+1)} = y_i^{(l)} + b_l^T G^{(l)} A_l x_i      (every column i, query included),
      G^{(l)} = (1/n) sum_{j<=n} z_j^{(l)} z_j^{(l)T},  z_j^{(l)} = [x_j; y_j^{(l)}],  y_q^{(0)} = 0.

  This is why the forward pass is O(B n d) per layer and never forms ``Z^T Q Z``: the input block
  ``G_xx`` of every ``G^{(l)}`` is fixed, computed once per batch (:class:`PromptBatch`).
* **dense** one layer (App. A "variant 2"): full ``P, Q`` in ``R^{(d+1) x (d+1)}``.  The output entry is
  ``P[d,:] G Q z_q`` with ``z_q = [x_q; 0]`` (0-based ``d``), so only the last row of ``P`` and the
  first ``d`` columns of ``Q`` receive gradient -- the dense and sparse one-layer models realise the
  same predictors; App. A's comparison is between two *optimisation* problems, not two model classes.

Losses are ``mean_b (output_b - target_b)^2`` (the paper's ``f``, no 1/2).  Gradients are written out
by hand (reverse mode over the layers) and are checked by central finite differences in
``tests/test_ding25_multilayer.py``.  :func:`masked_lsa_forward` is the generic formula with full
matrices, kept as the reference the fast paths are tested against.

>>> import numpy as np
>>> from icl_proofs.claims.ding25.samplers import sample_prompts
>>> st = sample_prompts(np.random.default_rng(0), 4, 5, 2, 0.5)
>>> prm = init_structured(np.random.default_rng(1), d=2, L=2)
>>> Ps, Qs = structured_to_full(prm["b"], prm["A"])
>>> bool(np.allclose(structured_forward(st, prm["b"], prm["A"]), masked_lsa_forward(st, Ps, Qs)))
True
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Union

import numpy as np
from numpy.typing import NDArray

from ...numeric.optim import TrainResult, adam
from ..base import UserInputError

__all__ = [
    "PromptBatch",
    "as_batch",
    "split_prompts",
    "masked_lsa_forward",
    "structured_to_full",
    "structured_forward",
    "structured_loss_and_grads",
    "dense_forward",
    "dense_loss_and_grads",
    "init_structured",
    "init_dense",
    "MODELS",
    "predict",
    "loss_and_grads",
    "MultilayerTrainResult",
    "TrainResult",
    "train_adam",
    "fit",
    "round_to_states",
    "accuracy",
]

Array = NDArray[np.float64]
Params = dict  # name -> float64 array


@dataclasses.dataclass(frozen=True)
class PromptBatch:
    """A batch of prompts split once into float64 parts, plus the label-free block of ``G``.

    ``x``: (B, n+1, d) inputs of every column; ``y0``: (B, n+1) initial label row, query entry 0;
    ``target``: (B,) the query chain's last state; ``Gxx = (1/n) sum_{j<=n} x_j x_j^T`` (B, d, d) --
    the layers never change the inputs, so this block of every ``G^{(l)}`` is computed once (full-batch
    training reuses it at every step).
    """

    x: Array
    y0: Array
    target: Array
    Gxx: Array

    @property
    def n(self) -> int:
        return self.x.shape[1] - 1

    @property
    def d(self) -> int:
        return self.x.shape[2]

    def G(self, y: Array) -> Array:
        """``G = (1/n) sum_{j<=n} [x_j; y_j][x_j; y_j]^T`` for the label row ``y`` (B, n+1)."""
        n, d = self.n, self.d
        yc = y[:, :n]
        G = np.empty((y.shape[0], d + 1, d + 1))
        G[:, :d, :d] = self.Gxx
        gxy = np.matmul(yc[:, None, :], self.x[:, :n])[:, 0, :] / n
        G[:, :d, d] = gxy
        G[:, d, :d] = gxy
        G[:, d, d] = np.einsum("bi,bi->b", yc, yc) / n
        return G


def as_batch(states) -> PromptBatch:
    """A :class:`PromptBatch` from prompts ``(B, n+1, d+1)`` (query chain last), or the batch itself."""
    if isinstance(states, PromptBatch):
        return states
    st = np.asarray(states)
    if st.ndim != 3 or st.shape[1] < 2 or st.shape[2] < 2:
        raise UserInputError(f"prompts must have shape (B, n+1, d+1) with n >= 1, d >= 1; got {st.shape}")
    st = st.astype(np.float64)
    x = np.ascontiguousarray(st[:, :, :-1])
    y0 = st[:, :, -1].copy()
    target = y0[:, -1].copy()
    y0[:, -1] = 0.0
    n = x.shape[1] - 1
    xc = x[:, :n]
    Gxx = np.matmul(xc.transpose(0, 2, 1), xc) / n
    return PromptBatch(x, y0, target, Gxx)


def split_prompts(states) -> tuple[Array, Array, Array]:
    """``(x, y0, target)`` of a batch of prompts (see :class:`PromptBatch`)."""
    b = as_batch(states)
    return b.x, b.y0.copy(), b.target


def _Z0(states) -> Array:
    """The embedding ``Z_0`` for each prompt, shape (B, d+1, n+1)."""
    x, y0, _ = split_prompts(states)
    return np.concatenate([x, y0[:, :, None]], axis=2).transpose(0, 2, 1)


def masked_lsa_forward(states, Ps, Qs) -> Array:
    """Reference: ``Z_{l+1} = Z_l + (1/n) P_l Z_l M Z_l^T Q_l Z_l`` with full matrices; returns the
    output entry ``[Z_L]_{d+1, n+1}`` per prompt (B,).  Slow on purpose (forms every matrix)."""
    Z = _Z0(states)
    n = Z.shape[2] - 1
    M = np.diag(np.r_[np.ones(n), 0.0])
    for P, Q in zip(Ps, Qs):
        P = np.asarray(P, float)
        Q = np.asarray(Q, float)
        Z = Z + np.einsum("ac,bcj,jk,bek,ef,bfm->bam", P, Z, M, Z, Q, Z, optimize=True) / n
    return Z[:, -1, -1]


def structured_to_full(b, A) -> tuple[list[Array], list[Array]]:
    """``P_l = [0; b_l^T]`` and ``Q_l = [A_l, 0]`` from ``b`` (L, d+1) and ``A`` (L, d+1, d)."""
    b = np.asarray(b, float)
    A = np.asarray(A, float)
    L, d1 = b.shape
    Ps, Qs = [], []
    for l in range(L):
        P = np.zeros((d1, d1))
        P[-1] = b[l]
        Q = np.zeros((d1, d1))
        Q[:, :-1] = A[l]
        Ps.append(P)
        Qs.append(Q)
    return Ps, Qs


def _check_structured(x: Array, b: Array, A: Array) -> None:
    d = x.shape[2]
    if b.ndim != 2 or b.shape[1] != d + 1 or A.shape != (b.shape[0], d + 1, d):
        raise UserInputError(f"structured parameters need b of shape (L, {d + 1}) and A of shape "
                             f"(L, {d + 1}, {d}); got {b.shape} and {A.shape}")


def _structured_pass(states, b, A):
    """Forward pass keeping what the reverse pass needs: per layer (y before the layer, G, u = G b)."""
    batch = as_batch(states)
    x, y = batch.x, batch.y0
    b = np.asarray(b, float)
    A = np.asarray(A, float)
    _check_structured(x, b, A)
    cache = []
    for l in range(b.shape[0]):
        G = batch.G(y)
        u = G @ b[l]  # (B, d+1); G symmetric so b^T G = (G b)^T
        v = u @ A[l]  # (B, d): b^T G A
        cache.append((y, G, u))
        y = y + np.matmul(x, v[:, :, None])[:, :, 0]
    return y[:, -1], batch.target, x, cache


def structured_forward(states, b, A) -> Array:
    """Query output ``y_q^{(L)}`` of the structured L-layer LSA for each prompt (B,)."""
    return _structured_pass(states, b, A)[0]


def structured_loss_and_grads(states, b, A, target=None):
    """``(loss, pred, grad_b, grad_A)`` of ``mean_b (y_q^{(L)} - target)^2``.

    Reverse mode: with ``gy`` the adjoint of the label row after layer l+1,
    ``gv = sum_i gy_i x_i``, ``grad A_l = sum_B (G b_l) gv^T``, ``grad b_l = sum_B G A_l gv``, and the
    label row before the layer gets ``gy`` (residual) plus ``(1/n) [(gG + gG^T) z_j]_{d+1}`` through
    ``G`` with ``gG = b_l (A_l gv)^T``.
    """
    pred, tgt, x, cache = _structured_pass(states, b, A)
    if target is not None:
        tgt = np.asarray(target, float)
    b = np.asarray(b, float)
    A = np.asarray(A, float)
    B = pred.shape[0]
    n = x.shape[1] - 1
    e = pred - tgt
    loss = float(np.mean(e**2))
    gy = np.zeros(x.shape[:2])
    gy[:, -1] = 2.0 * e / B
    gb = np.zeros_like(b)
    gA = np.zeros_like(A)
    for l in range(b.shape[0] - 1, -1, -1):
        yl, G, u = cache[l]
        gv = np.matmul(gy[:, None, :], x)[:, 0, :]
        gA[l] = u.T @ gv
        gu = gv @ A[l].T  # (B, d+1)
        gb[l] = np.matmul(G, gu[:, :, None]).sum(axis=0)[:, 0]
        # gG = b gu^T ; the label (last) coordinate of z_j gets (1/n) [(gG + gG^T) z_j]_last
        row = b[l][-1] * gu + gu[:, -1:] * b[l][None, :]  # (gG + gG^T)[last, :]
        gy[:, :n] += (np.matmul(x[:, :n], row[:, :-1, None])[:, :, 0] + row[:, -1:] * yl[:, :n]) / n
    return loss, pred, gb, gA


def dense_forward(states, P, Q) -> Array:
    """Output of the dense one-layer LSA: ``P[d,:] G Q z_q`` with ``z_q = [x_q; 0]`` (B,)."""
    return _dense_pass(states, P, Q)[0]


def _dense_pass(states, P, Q):
    batch = as_batch(states)
    x = batch.x
    P = np.asarray(P, float)
    Q = np.asarray(Q, float)
    d = x.shape[2]
    if P.shape != (d + 1, d + 1) or Q.shape != (d + 1, d + 1):
        raise UserInputError(f"dense parameters need P, Q of shape ({d + 1}, {d + 1}); got {P.shape}, {Q.shape}")
    G = batch.G(batch.y0)
    zq = np.concatenate([x[:, -1], batch.y0[:, -1:]], axis=1)  # label entry is 0
    wq = zq @ Q.T  # Q z_q
    Gp = G @ P[-1]
    pred = np.einsum("ba,ba->b", Gp, wq)
    return pred, batch.target, G, zq, wq, Gp


def dense_loss_and_grads(states, P, Q, target=None):
    """``(loss, pred, grad_P, grad_Q)``; rows ``0..d-1`` of ``grad_P`` and the last column of
    ``grad_Q`` are exactly zero (they do not reach the output entry)."""
    pred, tgt, G, zq, wq, Gp = _dense_pass(states, P, Q)
    if target is not None:
        tgt = np.asarray(target, float)
    e = pred - tgt
    loss = float(np.mean(e**2))
    g = 2.0 * e / pred.shape[0]
    gP = np.zeros_like(np.asarray(P, float))
    gP[-1] = np.einsum("b,bac,bc->a", g, G, wq)
    gQ = np.einsum("b,ba,bc->ac", g, Gp, zq)
    return loss, pred, gP, gQ


def init_structured(rng: np.random.Generator, d: int, L: int, scale: float = 0.1) -> Params:
    """Gaussian init ``N(0, scale^2)`` of every ``b_l`` and ``A_l``."""
    return {"b": scale * rng.standard_normal((L, d + 1)), "A": scale * rng.standard_normal((L, d + 1, d))}


def init_dense(rng: np.random.Generator, d: int, scale: float = 0.1) -> Params:
    """Gaussian init of the full ``P`` and ``Q``."""
    return {"P": scale * rng.standard_normal((d + 1, d + 1)), "Q": scale * rng.standard_normal((d + 1, d + 1))}


def _structured_lg(states, p: Params):
    loss, pred, gb, gA = structured_loss_and_grads(states, p["b"], p["A"])
    return loss, pred, {"b": gb, "A": gA}


def _dense_lg(states, p: Params):
    loss, pred, gP, gQ = dense_loss_and_grads(states, p["P"], p["Q"])
    return loss, pred, {"P": gP, "Q": gQ}


#: model name -> (predict(states, params), loss_and_grads(states, params) -> (loss, pred, grads dict))
MODELS: dict[str, tuple[Callable, Callable]] = {
    "structured": (lambda st, p: structured_forward(st, p["b"], p["A"]), _structured_lg),
    "dense": (lambda st, p: dense_forward(st, p["P"], p["Q"]), _dense_lg),
}


def _model(name: str):
    if name not in MODELS:
        raise UserInputError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def predict(model: str, params: Params, states) -> Array:
    return _model(model)[0](states, params)


def loss_and_grads(model: str, params: Params, states):
    return _model(model)[1](states, params)


@dataclasses.dataclass(kw_only=True)
class MultilayerTrainResult(TrainResult):
    """Outcome of :func:`train_adam`: the optimiser's :class:`~icl_proofs.numeric.optim.TrainResult`
    (final ``params``, per-step ``losses``: the loss of the batch used at each step, before the
    update; ``diverged``) and the ``model`` it trained, which :meth:`predict` runs."""

    model: str

    def predict(self, states) -> Array:
        return predict(self.model, self.params, states)


Data = Union[np.ndarray, Callable[[np.random.Generator], np.ndarray]]


def train_adam(model: str, params0: Params, data: Data, *, lr: float = 0.01, steps: int = 1000,
               seed: int = 0, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> MultilayerTrainResult:
    """Adam (:func:`icl_proofs.numeric.optim.adam`) on ``mean (output - target)^2``.

    ``data`` is either a fixed batch of prompts (full-batch training) or ``sample(rng) -> prompts``
    called once per step with a generator seeded by ``seed`` (fresh prompts each step).  The run is a
    deterministic function of ``(params0, data, seed)``.  Stops early, marking ``diverged``, if the
    loss becomes non-finite.
    """
    if steps < 0 or not lr > 0:
        raise UserInputError(f"need steps >= 0 and lr > 0; got steps={steps}, lr={lr:g}")
    lg = _model(model)[1]
    rng = np.random.default_rng(seed)
    fixed = None if callable(data) else as_batch(data)  # split once, reuse G_xx at every step

    def batch_loss(step: int, params: Params):
        loss, _, grads = lg(data(rng) if fixed is None else fixed, params)
        return loss, grads

    res = adam(batch_loss, params0, lr=lr, steps=steps, betas=(beta1, beta2), eps=eps)
    return res.extended(MultilayerTrainResult, model=model)


def fit(model: str, d: int, data: Data, *, L: int = 1, lr: float = 0.01, steps: int = 1000, seed: int = 0,
        init_scale: float = 0.1) -> MultilayerTrainResult:
    """Initialise (``N(0, init_scale^2)`` entries, generator seeded by ``seed``) and train with Adam.

    ``L`` is the number of layers of the structured model; the dense model has one layer.
    """
    rng = np.random.default_rng([seed, 7])
    if model == "structured":
        p0 = init_structured(rng, d, L, init_scale)
    elif model == "dense":
        if L != 1:
            raise UserInputError("the dense model has one layer (L = 1)")
        p0 = init_dense(rng, d, init_scale)
    else:
        _model(model)
    return train_adam(model, p0, data, lr=lr, steps=steps, seed=seed)


def round_to_states(pred, n_states: int) -> NDArray[np.int64]:
    """Nearest state in ``{0, .., S-1}`` (round half to even, then clip)."""
    p = np.nan_to_num(np.asarray(pred, float), nan=0.0, posinf=n_states - 1, neginf=0.0)
    return np.clip(np.rint(p), 0, n_states - 1).astype(np.int64)


def accuracy(pred, target, n_states: int) -> float:
    """Fraction of prompts whose rounded prediction equals the target state."""
    return float(np.mean(round_to_states(pred, n_states) == np.asarray(target).astype(np.int64)))
