"""One gradient-descent loop (Adam or plain SGD) for every model the package trains.

The models differ only in how a step's loss and gradients are computed (which prompts, which
parameters), so that is the one thing a caller passes: ``loss_and_grads(step, params) -> (loss,
grads)``, with ``params`` and ``grads`` dicts of arrays keyed alike.  Everything a trainer records
on the side (a loss average, progress, a divergence test of its own) goes in ``on_step``.

The update is the textbook Adam (Kingma & Ba 2015) with bias correction,

    m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,
    p ← p − lr_t · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε),

in this order of floating-point operations, which both former loops (``models/training.py`` and
``claims/ding25/multilayer.py``) used: their numbers are unchanged to the last bit
(``tests/test_optim.py`` runs copies of the old loops beside this one).

>>> res = adam(lambda k, p: (float(p["x"] @ p["x"]), {"x": 2 * p["x"]}), {"x": [1.0, -2.0]}, lr=0.1, steps=200)
>>> bool(abs(res.params["x"]).max() < 1e-2), len(res.losses), res.diverged
(True, 200, False)
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["TrainResult", "descend", "adam", "METHODS"]

Array = NDArray[np.float64]
Params = dict[str, Array]
#: ``loss_and_grads(step, params) -> (loss, grads)``; ``grads`` keyed like ``params`` (a key left
#: out is not updated at that step)
LossAndGrads = Callable[[int, Params], "tuple[float, Mapping[str, Array]]"]
#: ``on_step(step, params, loss)``, after the update (it may raise to stop the run)
OnStep = Callable[[int, Params, float], None]

METHODS = ("adam", "sgd")


@dataclasses.dataclass
class TrainResult:
    """Outcome of :func:`descend`.

    ``params``: the returned parameters (the average of the last ``average_tail`` fraction of
    iterates when averaging, else the last iterate); ``last``: the last iterate; ``losses``: the
    loss of each step (of its batch, before its update); ``diverged``: the run stopped at a
    non-finite loss, which is the last entry of ``losses``.  Models add their own views in
    subclasses (:class:`icl_proofs.models.training.LSATrainResult`, ...).
    """

    params: Params
    losses: Array
    diverged: bool = False
    last: Params | None = None
    wall_time: float = 0.0
    cpu_time: float = 0.0

    def extended(self, cls: type, **fields) -> "TrainResult":
        """This result as the subclass ``cls`` with its extra ``fields`` (a model's view of it)."""
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainResult)}
        return cls(**base, **fields)


def _validated(steps: int, method: str, betas, average_tail: float) -> None:
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not all(0 <= b < 1 for b in betas):
        raise ValueError(f"Adam's betas must lie in [0, 1), got {betas!r}")
    if not 0 <= average_tail < 1:
        raise ValueError(f"average_tail must lie in [0, 1), got {average_tail!r}")


class _Adam:
    """Adam's moment estimates, updated in place (the float operations of the module docstring)."""

    def __init__(self, params: Params, betas: tuple[float, float], eps: float):
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Params, grads: Mapping[str, Array], lr: float, t: int) -> None:
        """Update ``params`` in place; ``t`` counts steps from 1 (bias correction)."""
        b1, b2 = self.b1, self.b2
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            mhat = m / (1 - b1 ** t)
            vhat = v / (1 - b2 ** t)
            params[k] -= lr * mhat / (np.sqrt(vhat) + self.eps)


class _SGD:
    def step(self, params: Params, grads: Mapping[str, Array], lr: float, t: int) -> None:
        for k, g in grads.items():
            params[k] -= lr * g


def descend(loss_and_grads: LossAndGrads, params0: Mapping[str, ArrayLike], *, steps: int,
            lr: float | Callable[[int], float], method: str = "adam", betas: tuple[float, float] = (0.9, 0.999),
            eps: float = 1e-8, average_tail: float = 0.0, stop_at_nonfinite_loss: bool = True,
            on_step: OnStep | None = None) -> TrainResult:
    """Minimise by ``steps`` gradient steps from ``params0`` (copied, as float64).

    ``lr``: a number, or ``lr(step)`` for a schedule.  ``method``: ``"adam"`` (with ``betas``,
    ``eps``) or ``"sgd"`` (``p ← p − lr·g``).  ``average_tail``: return the average of the iterates
    over the last fraction of steps (Polyak-Ruppert; ``0``: the last iterate).
    ``stop_at_nonfinite_loss``: stop, marking the result ``diverged``, at the first loss that is
    not finite (before its update); otherwise the loop goes on (``on_step`` may test the
    parameters instead).  ``on_step(step, params, loss)`` is called after each update.
    """
    _validated(steps, method, betas, average_tail)
    params = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params0.items()}
    rule = _Adam(params, betas, eps) if method == "adam" else _SGD()
    lr_at = lr if callable(lr) else (lambda k: lr)
    n_avg_start = steps - int(round(average_tail * steps)) if average_tail > 0 else steps
    avg = {k: np.zeros_like(v) for k, v in params.items()}
    n_avg = 0
    losses = np.empty(steps)
    diverged = False
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for k in range(steps):
        loss, grads = loss_and_grads(k, params)
        losses[k] = loss
        if stop_at_nonfinite_loss and not np.isfinite(loss):
            diverged, losses = True, losses[:k + 1]
            break
        rule.step(params, grads, lr_at(k), k + 1)
        if k >= n_avg_start:
            for name, p in params.items():
                avg[name] += p
            n_avg += 1
        if on_step is not None:
            on_step(k, params, loss)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    last = {k: v.copy() for k, v in params.items()}
    returned = {k: avg[k] / n_avg for k in params} if n_avg else params
    return TrainResult(params=returned, losses=losses, diverged=diverged, last=last, wall_time=wall, cpu_time=cpu)


def adam(loss_and_grads: LossAndGrads, params0: Mapping[str, ArrayLike], *, lr, steps: int, **options) -> TrainResult:
    """:func:`descend` with Adam (the default method), named for what it is."""
    return descend(loss_and_grads, params0, lr=lr, steps=steps, method="adam", **options)
