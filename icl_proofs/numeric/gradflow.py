"""Gradient-flow ODE integration (SciPy).

Route name: **"SciPy ODE integration of the paper's gradient flow"** (:data:`ROUTE`).

:func:`integrate_flow` integrates ``dx/dt = -grad(x)`` with :func:`scipy.integrate.solve_ivp`,
stops as soon as ``||grad(x)|| < tol_grad`` (terminal event), records the trajectory, the drift of
user-supplied invariants and a fitted linear (exponential) convergence rate.  A state made of a
matrix and a scalar is packed as ``x = (U.ravel(), u)`` -- row-major ``vec U`` followed by the
scalar ``u``; see :func:`pack` / :func:`unpack`.

A paper's own flow lives with the paper (the reduced zfb23 flow: :mod:`icl_proofs.claims.zfb23.flow`).

Floats only (NumPy float64); exact values come from the moment engines, not from here.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

__all__ = [
    "ROUTE",
    "FlowResult",
    "integrate_flow",
    "fit_linear_rate",
    "pack",
    "unpack",
]

ROUTE = "SciPy ODE integration of the paper's gradient flow"

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# generic gradient-flow integrator
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class FlowResult:
    """Outcome of :func:`integrate_flow`.

    Attributes
    ----------
    t : (n,) times of the recorded trajectory (``n_eval`` equispaced points on ``[0, t_end]``).
    x : (n, p) states at those times (``x[0] = x0``, ``x[-1] = x_final``).
    loss : (n,) loss along the trajectory, or ``None`` when no loss callable was given.
    x_final : state where integration stopped.
    t_end : time where integration stopped (``< t_max`` iff the gradient event fired).
    grad_norm_final : ``||grad(x_final)||``.
    converged : ``grad_norm_final < tol_grad`` (event fired, or reached at ``t_max``).
    invariant_drift : for each invariant, ``max_t |inv(x(t)) - inv(x0)|`` over the recorded
        trajectory *and* every internal solver step (max-abs over components for vector ones).
    rate_state : fitted ``-slope`` of ``log ||x(t) - x_final||`` over the tail (NaN if too few points).
    rate_loss : fitted ``-slope`` of ``log (L(t) - L_final)`` over the tail (``None`` without a loss).
        Near a non-degenerate minimum ``rate_loss ~ 2 * rate_state``.
    rate_grad : fitted ``-slope`` of ``log ||grad(x(t))||`` over the tail (needs no reference point;
        equals ``rate_state`` asymptotically).  Near a minimum all are set by the smallest
        Hessian eigenvalue that the flow excites.
    nfev, status, message : from :func:`scipy.integrate.solve_ivp`.
    """

    t: Array
    x: Array
    loss: Array | None
    x_final: Array
    t_end: float
    grad_norm_final: float
    converged: bool
    invariant_drift: dict[str, float]
    rate_state: float
    rate_loss: float | None
    rate_grad: float
    nfev: int
    status: int
    message: str
    method: str
    route: str = ROUTE
    #: which terminal event ended the integration: ``"gradient"`` (``||grad|| < tol_grad``),
    #: ``"stop"`` (the caller's ``stop(x)`` fell below 0), or ``"t_max"``
    stopped_by: str = "t_max"

    @property
    def rate(self) -> float:
        """The loss rate when a loss was recorded, else the state rate."""
        return self.rate_loss if self.rate_loss is not None else self.rate_state

    def summary(self) -> dict:
        return {
            "route": self.route,
            "method": self.method,
            "converged": bool(self.converged),
            "t_end": float(self.t_end),
            "grad_norm_final": float(self.grad_norm_final),
            "invariant_drift": {k: float(v) for k, v in self.invariant_drift.items()},
            "rate_state": float(self.rate_state),
            "rate_loss": None if self.rate_loss is None else float(self.rate_loss),
            "rate_grad": float(self.rate_grad),
            "nfev": int(self.nfev),
            "stopped_by": self.stopped_by,
        }


def fit_linear_rate(t: Array, err: Array, *, floor: float, tail_fraction: float = 1e-2) -> float:
    """Least-squares ``-slope`` of ``log err`` against ``t`` over the tail of a decay.

    Uses the samples with ``floor < err < tail_fraction * max(err)`` (past the transient and above
    the numerical noise floor).  Returns NaN if fewer than 3 such samples exist.
    """
    t = np.asarray(t, dtype=float)
    err = np.asarray(err, dtype=float)
    if err.size == 0 or not np.all(np.isfinite(err)):
        return math.nan
    top = tail_fraction * float(np.max(err))
    # only the part after the last time the error was above the tail threshold
    above = np.nonzero(err >= top)[0]
    start = int(above[-1]) + 1 if above.size else 0
    sel = np.arange(start, err.size)
    sel = sel[(err[sel] > floor) & (err[sel] < top)]
    if sel.size < 3:
        return math.nan
    slope = np.polyfit(t[sel], np.log(err[sel]), 1)[0]
    return float(-slope)


def integrate_flow(
    grad: Callable[[Array], Array],
    x0: Array,
    t_max: float,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    method: str = "LSODA",
    tol_grad: float = 1e-10,
    invariants: dict[str, Callable[[Array], float | Array]] | None = None,
    n_eval: int = 200,
    loss: Callable[[Array], float] | None = None,
    max_step: float = np.inf,
    stop: Callable[[Array], float] | None = None,
) -> FlowResult:
    """Integrate the gradient flow ``dx/dt = -grad(x)`` from ``x0`` on ``[0, t_max]``.

    Integration stops early (terminal event) when ``||grad(x)||_2`` falls below ``tol_grad``.
    The trajectory is recorded at ``n_eval`` equispaced times on ``[0, t_end]`` from the solver's
    dense output; invariants are checked there and at every internal step.

    ``stop(x)``, if given, is a second terminal event: integration also ends when it falls below 0
    (e.g. the distance to a known limit below a tolerance); :attr:`FlowResult.stopped_by` says which
    event fired.

    ``method`` is any :func:`solve_ivp` method; ``"LSODA"`` (default, switches to BDF when stiff) or
    ``"Radau"`` (implicit, for stiff flows, e.g. large initialisations) are recommended.
    """
    x0 = np.array(x0, dtype=float).ravel()
    if not (t_max > 0 and math.isfinite(t_max)):
        raise ValueError(f"t_max must be positive and finite, got {t_max!r}")
    if n_eval < 2:
        raise ValueError("n_eval must be at least 2")
    invariants = dict(invariants or {})

    def rhs(_t: float, x: Array) -> Array:
        return -np.asarray(grad(x), dtype=float).ravel()

    def small_grad(_t: float, x: Array) -> float:
        return float(np.linalg.norm(grad(x))) - tol_grad

    small_grad.terminal = True  # type: ignore[attr-defined]
    small_grad.direction = -1  # type: ignore[attr-defined]

    events = [small_grad]
    if stop is not None:
        def stop_event(_t: float, x: Array) -> float:
            return float(stop(x))

        stop_event.terminal = True  # type: ignore[attr-defined]
        stop_event.direction = -1  # type: ignore[attr-defined]
        events.append(stop_event)

    g0 = float(np.linalg.norm(grad(x0)))
    stopped_by = "t_max"
    if g0 < tol_grad or (stop is not None and stop(x0) < 0):  # nothing to integrate
        t_rec = np.linspace(0.0, 0.0, n_eval)
        x_rec = np.tile(x0, (n_eval, 1))
        steps_x = x0[None, :]
        stopped_by = "gradient" if g0 < tol_grad else "stop"
        t_end, nfev, status, message = 0.0, 0, 1, f"{stopped_by} event already at x0"
    else:
        sol = solve_ivp(
            rhs, (0.0, float(t_max)), x0, method=method, rtol=rtol, atol=atol,
            dense_output=True, events=events, max_step=max_step,
        )
        if sol.status == -1:
            raise RuntimeError(f"gradient-flow integration failed: {sol.message}")
        t_end = float(sol.t[-1])
        t_rec = np.linspace(0.0, t_end, n_eval)
        x_rec = sol.sol(t_rec).T
        x_rec[0] = x0
        x_rec[-1] = sol.y[:, -1]
        steps_x = sol.y.T
        nfev, status, message = int(sol.nfev), int(sol.status), str(sol.message)
        if status == 1:
            stopped_by = "gradient" if len(sol.t_events[0]) else "stop"

    x_final = x_rec[-1].copy()
    grad_norm_final = float(np.linalg.norm(grad(x_final)))
    converged = grad_norm_final < tol_grad or stopped_by == "gradient"

    drift: dict[str, float] = {}
    for name, inv in invariants.items():
        ref = np.asarray(inv(x0), dtype=float)
        dev = 0.0
        for xs in (x_rec, steps_x):
            for xi in xs:
                dev = max(dev, float(np.max(np.abs(np.asarray(inv(xi), dtype=float) - ref))))
        drift[name] = dev

    # rates: ||grad(x(t))|| needs no reference point; x_final and L_final sit ~||g_final||/rate
    # away from the true limit, so points within 100x of that distance are left out of the fits.
    g_rec = np.array([float(np.linalg.norm(grad(xi))) for xi in x_rec])
    rate_grad = fit_linear_rate(t_rec, g_rec, floor=10.0 * max(grad_norm_final, 1e-300),
                                tail_fraction=1e-4)
    dist_est = grad_norm_final / rate_grad if rate_grad > 0 else 0.0
    floor_state = 100.0 * max(atol + rtol * float(np.linalg.norm(x_final)), dist_est)
    err_state = np.linalg.norm(x_rec[:-1] - x_final, axis=1)
    rate_state = fit_linear_rate(t_rec[:-1], err_state, floor=floor_state)

    loss_rec = None
    rate_loss = None
    if loss is not None:
        loss_rec = np.array([float(loss(xi)) for xi in x_rec])
        l_final = loss_rec[-1]
        floor_loss = max(1e3 * np.finfo(float).eps * max(1.0, abs(l_final)),
                         100.0 * grad_norm_final * dist_est)
        rate_loss = fit_linear_rate(t_rec[:-1], loss_rec[:-1] - l_final, floor=floor_loss,
                                    tail_fraction=1e-3)

    return FlowResult(
        t=t_rec, x=x_rec, loss=loss_rec, x_final=x_final, t_end=t_end,
        grad_norm_final=grad_norm_final, converged=bool(converged), invariant_drift=drift,
        rate_state=rate_state, rate_loss=rate_loss, rate_grad=rate_grad, nfev=nfev, status=status, message=message,
        method=method, stopped_by=stopped_by,
    )


# --------------------------------------------------------------------------------------------
# packed (matrix, scalar) states
# --------------------------------------------------------------------------------------------


def pack(U: Array, u: float) -> Array:
    """Packed state ``x = (U.ravel(), u)`` (row-major ``vec U`` then ``u``)."""
    U = np.asarray(U, dtype=float)
    return np.concatenate([U.ravel(), [float(u)]])


def unpack(x: Array, d: int) -> tuple[Array, float]:
    """Inverse of :func:`pack`: ``(U (d, d), u)``."""
    x = np.asarray(x, dtype=float).ravel()
    if x.size != d * d + 1:
        raise ValueError(f"packed state of size {x.size} does not match d={d} (expected {d * d + 1})")
    return x[: d * d].reshape(d, d), float(x[-1])
