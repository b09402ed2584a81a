"""Training the plain LSA (all blocks) by gradient descent on sampled prompts (manual backprop).

Model (conventions of ``docs/architecture.md``): ``E`` is ``(d+1) x (N+1)``, columns
``(x_i; y_i)`` for ``i < N`` and ``(x_q; 0)`` last, and

    f(E) = E + W_PV E (E^T W_KQ E) / rho,      y_hat = f(E)[d, N]   (0-based),

with ``rho`` the number of labelled columns (``rho = N``).  Since ``E[d, N] = 0``,

    y_hat = r^T M c,   M = E E^T / rho,   r = W_PV[d, :],   c = W_KQ[:, :d] @ x_q,

so only the last row of ``W_PV`` and the first ``d`` columns of ``W_KQ`` receive gradient.  With the
blocks ``r = (w21, w22)`` and ``W_KQ[:, :d] = [U11; u21^T]``,

    y_hat = h^T (w22 U11 + w21 u21^T) x_q  +  w21^T (X X^T / rho) U11 x_q  +  w22 (y.y / rho) u21^T x_q

(``h = (1/rho) sum_i y_i x_i``, ``X X^T`` including the query column).  The last two terms are even
in the task vector ``w`` and only add variance, so at the population optimum ``w21 = 0``,
``u21 = 0`` and ``P = w22 U11 = Gamma^{-1}`` (Zhang, Frei & Bartlett 2023).  We report both
``w22 U11`` (:meth:`LSATrainResult.preconditioner`) and ``w22 U11 + w21 u21^T``
(:meth:`LSATrainResult.effective_preconditioner`).

Gradients of the batch loss ``1/2 mean_b (y_hat_b - y_b)^2`` with residuals ``e_b``:

    dL/dW_PV[d, :]  = (1/B) sum_b e_b M_b c_b,
    dL/dW_KQ[:, :d] = (1/B) sum_b e_b (M_b r) x_{q,b}^T,

every other entry zero.  ``M_b`` is never formed: ``M c = E (E^T c) / rho``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..numeric.optim import TrainResult, descend

__all__ = [
    "LSAGrads",
    "LSATrainResult",
    "TrainResult",
    "lsa_predict_and_grads",
    "sample_prompts",
    "train_lsa",
    "relative_error",
    "random_init_full",
    "Init",
]

Array = NDArray[np.float64]


class LSAGrads(NamedTuple):
    """``(y_hat, loss, grad_PV, grad_KQ)`` of one batch."""

    y_hat: Array  # (B,)
    loss: float  # 1/2 mean (y_hat - y)^2
    grad_PV: Array  # (d+1, d+1), nonzero only in the last row
    grad_KQ: Array  # (d+1, d+1), nonzero only in the first d columns


def relative_error(P: Array, Gamma_inv: Array) -> float:
    """Frobenius relative error ``||P - Gamma_inv||_F / ||Gamma_inv||_F``."""
    P = np.asarray(P, dtype=float)
    Gi = np.asarray(Gamma_inv, dtype=float)
    return float(np.linalg.norm(P - Gi) / np.linalg.norm(Gi))


def _lsa_forward(W_PV: Array, W_KQ: Array, E: Array, rho: float):
    d = E.shape[1] - 1
    r = W_PV[d, :]  # (d+1,)
    xq = E[:, :d, -1]  # (B, d)
    c = xq @ W_KQ[:, :d].T  # (B, d+1)
    a = np.einsum("bin,i->bn", E, r)  # E^T r      (B, N+1)
    b = np.einsum("bin,bi->bn", E, c)  # E^T c      (B, N+1)
    y_hat = np.einsum("bn,bn->b", a, b) / rho
    return y_hat, xq, a, b


def lsa_predict_and_grads(W_PV: Array, W_KQ: Array, E: Array, rho: float, y_q: Array) -> LSAGrads:
    """Predictions and hand-derived gradients of ``1/2 mean (y_hat - y_q)^2`` for a batch.

    ``E`` has shape ``(B, d+1, N+1)`` (a single ``(d+1, N+1)`` prompt is accepted too), ``y_q``
    shape ``(B,)``; ``W_PV``, ``W_KQ`` are ``(d+1, d+1)``.
    """
    E = np.asarray(E, dtype=float)
    if E.ndim == 2:
        E = E[None]
    y_q = np.atleast_1d(np.asarray(y_q, dtype=float))
    B, dp1, _ = E.shape
    d = dp1 - 1
    W_PV = np.asarray(W_PV, dtype=float)
    W_KQ = np.asarray(W_KQ, dtype=float)
    if W_PV.shape != (dp1, dp1) or W_KQ.shape != (dp1, dp1):
        raise ValueError(f"W_PV, W_KQ must be {(dp1, dp1)}, got {W_PV.shape}, {W_KQ.shape}")
    if y_q.shape != (B,):
        raise ValueError(f"y_q must have shape {(B,)}, got {y_q.shape}")

    y_hat, xq, a, b = _lsa_forward(W_PV, W_KQ, E, rho)
    e = y_hat - y_q
    g = e / (B * rho)  # dL/dy_hat and the 1/rho of M together
    Mc = np.einsum("bin,bn->bi", E, b)  # rho * M c   (B, d+1)
    Mr = np.einsum("bin,bn->bi", E, a)  # rho * M r   (B, d+1)
    grad_PV = np.zeros_like(W_PV)
    grad_PV[d, :] = g @ Mc
    grad_KQ = np.zeros_like(W_KQ)
    grad_KQ[:, :d] = (Mr * g[:, None]).T @ xq
    return LSAGrads(y_hat, 0.5 * float(np.mean(e * e)), grad_PV, grad_KQ)


def sample_prompts(chol: Array, N: int, B: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """``B`` prompts of the zfb23 model: ``w ~ N(0, I)``, ``x ~ N(0, Lambda)`` with
    ``chol @ chol.T = Lambda``, ``y = <w, x>``.  Returns ``(E (B, d+1, N+1), y_q (B,))``."""
    d = chol.shape[0]
    X = rng.standard_normal((B, N + 1, d)) @ chol.T  # (B, N+1, d)
    w = rng.standard_normal((B, d))
    y = np.einsum("bnd,bd->bn", X, w)  # (B, N+1)
    E = np.empty((B, d + 1, N + 1))
    E[:, :d, :] = X.transpose(0, 2, 1)
    E[:, d, :N] = y[:, :N]
    E[:, d, N] = 0.0
    return E, y[:, N].copy()


@dataclasses.dataclass(frozen=True)
class Init:
    """A named way to draw the initial ``(W_PV, W_KQ)`` from the run's generator (a paper's
    initialisation, e.g. zfb23's Assumption 3.3 in :mod:`icl_proofs.claims.zfb23.flow`): drawn
    where the run draws it, so its numbers do not depend on who supplies it."""

    name: str
    draw: Callable[[np.random.Generator], tuple[Array, Array]]


def random_init_full(d: int, sigma: float, rng: np.random.Generator):
    """All entries of both matrices i.i.d. ``N(0, (sigma/(d+1))^2)`` (Frobenius norm ~ sigma)."""
    s = sigma / (d + 1)
    return s * rng.standard_normal((d + 1, d + 1)), s * rng.standard_normal((d + 1, d + 1))


@dataclasses.dataclass(kw_only=True)
class LSATrainResult(TrainResult):
    """Outcome of :func:`train_lsa`: the optimiser's :class:`~icl_proofs.numeric.optim.TrainResult`
    (``params`` / ``last`` keyed ``"W_PV"``, ``"W_KQ"``) with the LSA's named views.

    ``W_PV``, ``W_KQ`` are the returned parameters (the tail average when ``average_tail > 0``,
    else the last iterate); ``W_PV_last``, ``W_KQ_last`` the last iterate.  ``loss`` holds the
    batch loss of every step, ``loss_ema`` its exponential moving average (span ~ 1% of steps).
    """

    loss_ema: Array
    samples_seen: int
    #: the preconditioner the run is measured against (``target``; zfb23: Gamma^-1)
    Gamma_inv: Array
    config: dict

    @property
    def W_PV(self) -> Array:
        return self.params["W_PV"]

    @property
    def W_KQ(self) -> Array:
        return self.params["W_KQ"]

    @property
    def W_PV_last(self) -> Array:
        return self.last["W_PV"]

    @property
    def W_KQ_last(self) -> Array:
        return self.last["W_KQ"]

    @property
    def loss(self) -> Array:
        return self.losses

    @property
    def d(self) -> int:
        return self.W_PV.shape[0] - 1

    def blocks(self, last: bool = False) -> dict[str, Array | float]:
        """The named blocks ``W11, w12, w21, w22, U11, u12, u21, u22`` (paper notation)."""
        PV = self.W_PV_last if last else self.W_PV
        KQ = self.W_KQ_last if last else self.W_KQ
        d = self.d
        return {
            "W11": PV[:d, :d], "w12": PV[:d, d], "w21": PV[d, :d], "w22": float(PV[d, d]),
            "U11": KQ[:d, :d], "u12": KQ[:d, d], "u21": KQ[d, :d], "u22": float(KQ[d, d]),
        }

    def preconditioner(self, last: bool = False) -> Array:
        """``P = w22 * U11``."""
        b = self.blocks(last)
        return b["w22"] * b["U11"]

    def effective_preconditioner(self, last: bool = False) -> Array:
        """``w22 U11 + w21 u21^T`` (the full coefficient of ``h^T . x_q`` in ``y_hat``)."""
        b = self.blocks(last)
        return b["w22"] * b["U11"] + np.outer(b["w21"], b["u21"])

    def error(self, last: bool = False) -> float:
        """``relative_error(w22 U11, Gamma^{-1})``."""
        return relative_error(self.preconditioner(last), self.Gamma_inv)

    def summary(self) -> dict:
        b = self.blocks()
        return {
            "rel_err_P": self.error(),
            "rel_err_P_last": self.error(last=True),
            "rel_err_P_effective": relative_error(self.effective_preconditioner(), self.Gamma_inv),
            "norm_w21": float(np.linalg.norm(b["w21"])),
            "norm_u21": float(np.linalg.norm(b["u21"])),
            "w22": b["w22"],
            "final_loss_ema": float(self.loss_ema[-1]) if self.loss_ema.size else math.nan,
            "wall_time": self.wall_time,
            "cpu_time": self.cpu_time,
            "samples_seen": self.samples_seen,
        }


def train_lsa(
    Lambda: Array,
    N: int,
    *,
    steps: int = 4000,
    batch: int = 256,
    lr: float = 0.02,
    seed: int = 0,
    target: Array,
    init: str | tuple[Array, Array] | Init = "random",
    sigma: float | None = None,
    optimizer: str = "adam",
    lr_decay: float = 1e-2,
    batch_final: int | None = None,
    average_tail: float = 0.25,
    fresh_samples: bool = True,
    n_fixed: int | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    progress: Callable[[int, float], None] | None = None,
) -> LSATrainResult:
    """Train the full LSA on linear-regression prompts (``x ~ N(0, Lambda)``) by (stochastic)
    gradient descent; the result is measured against the preconditioner ``target``.

    Schedules (``t = step / steps`` in ``[0, 1)``):

    * learning rate ``lr * lr_decay ** t`` (exponential decay to ``lr * lr_decay``);
    * batch size ``batch * (batch_final / batch) ** t`` (geometric growth; constant by default);
    * the returned parameters are the average of the iterates over the last ``average_tail``
      fraction of steps (Polyak-Ruppert tail averaging; ``0`` returns the last iterate).

    ``fresh_samples=True`` draws new prompts every step (SGD on the population loss).  With
    ``fresh_samples=False`` one fixed sample of ``n_fixed`` prompts (default ``batch``) is drawn
    once and every step is a full-batch, deterministic gradient step on it (the limit is the
    empirical minimiser, ``O(n_fixed^{-1/2})`` away from the population one).

    ``init="random"``: every entry of both matrices ``N(0, (sigma/(d+1))^2)`` (``sigma`` required).
    ``init=Init(name, draw)``: ``draw(rng)`` with the run's generator (before any prompt is drawn).
    ``init=(W_PV0, W_KQ0)`` starts from given matrices (copied).  ``optimizer`` is ``"adam"`` or
    ``"sgd"``.  A paper's initialisation and target come from the paper: zfb23's Assumption 3.3 and
    ``Gamma^-1`` through :func:`icl_proofs.claims.zfb23.flow.train_lsa`.
    ``progress(step, loss_ema)`` is called about 20 times.
    """
    Lam = np.array(Lambda, dtype=float)
    if Lam.ndim != 2 or Lam.shape[0] != Lam.shape[1]:
        raise ValueError(f"Lambda must be a square matrix, got shape {Lam.shape}")
    if int(N) != N or N < 1:
        raise ValueError(f"N must be a positive integer, got {N!r}")
    d = Lam.shape[0]
    if steps < 1 or batch < 1:
        raise ValueError("steps and batch must be positive")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if isinstance(init, str):
        if init != "random":
            raise ValueError(f"init must be 'random', an Init or (W_PV, W_KQ), got {init!r}")
        if sigma is None:
            raise ValueError("init='random' needs sigma")
    elif not isinstance(init, Init):
        W_PV0, W_KQ0 = (np.array(w, dtype=float) for w in init)
        if W_PV0.shape != (d + 1, d + 1) or W_KQ0.shape != (d + 1, d + 1):
            raise ValueError(f"initial W_PV, W_KQ must be {(d + 1, d + 1)}")
    if not (0 < lr_decay <= 1):
        raise ValueError("lr_decay must lie in (0, 1]")
    if not (0 <= average_tail < 1):
        raise ValueError("average_tail must lie in [0, 1)")
    rng = np.random.default_rng(seed)
    if isinstance(init, Init):
        W_PV, W_KQ = init.draw(rng)
    elif not isinstance(init, str):
        W_PV, W_KQ = W_PV0, W_KQ0
    else:
        W_PV, W_KQ = random_init_full(d, sigma, rng)
    chol = np.linalg.cholesky(Lam)
    rho = float(N)
    bf = batch if batch_final is None else int(batch_final)

    fixed = None
    if not fresh_samples:
        fixed = sample_prompts(chol, N, int(n_fixed or batch), rng)

    ema = np.empty(steps)
    alpha = 2.0 / (max(10, steps // 100) + 1)
    report_every = max(1, steps // 20)
    seen = 0

    def batch_loss(k: int, params: dict) -> tuple[float, dict]:
        """Loss and gradients of step ``k``'s batch: fresh prompts (size on the batch schedule) or
        the fixed sample."""
        nonlocal seen
        if fixed is None:
            Bk = int(round(batch * (bf / batch) ** (k / steps)))
            E, yq = sample_prompts(chol, N, Bk, rng)
            seen += Bk
        else:
            E, yq = fixed
        out = lsa_predict_and_grads(params["W_PV"], params["W_KQ"], E, rho, yq)
        return out.loss, {"W_PV": out.grad_PV, "W_KQ": out.grad_KQ}

    def after_step(k: int, params: dict, loss: float) -> None:
        if not (np.all(np.isfinite(params["W_PV"])) and np.all(np.isfinite(params["W_KQ"]))):
            raise FloatingPointError(f"training diverged at step {k} (lower lr)")
        ema[k] = loss if k == 0 else (1 - alpha) * ema[k - 1] + alpha * loss
        if progress is not None and (k % report_every == 0 or k == steps - 1):
            progress(k, float(ema[k]))

    # the parameters are tested after each update (a non-finite loss alone does not stop the run)
    res = descend(batch_loss, {"W_PV": W_PV, "W_KQ": W_KQ}, steps=steps, lr=lambda k: lr * lr_decay ** (k / steps),
                  method=optimizer, betas=betas, eps=1e-12, average_tail=average_tail,
                  stop_at_nonfinite_loss=False, on_step=after_step)
    if fixed is not None:
        seen = fixed[0].shape[0]
    config = dict(N=N, steps=steps, batch=batch, batch_final=bf, lr=lr, lr_decay=lr_decay,
                  seed=seed, init=init if isinstance(init, str) else init.name if isinstance(init, Init) else "given",
                  sigma=None if sigma is None else float(sigma),
                  optimizer=optimizer,
                  average_tail=average_tail, fresh_samples=fresh_samples,
                  n_fixed=None if fixed is None else fixed[0].shape[0])
    return res.extended(LSATrainResult, loss_ema=ema, samples_seen=seen, Gamma_inv=np.array(target, dtype=float),
                        config=config)
