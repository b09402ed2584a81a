"""Route: SciPy ODE integration of the paper's gradient flow (zfb23, Thm 4.1).

The reduced loss and gradient are the paper's printed formulas (``reduced_zfb23_grad``); the flow
is integrated with ``scipy.integrate.solve_ivp`` (LSODA) from the paper's initialisation
(Assumption 3.3) with sigma below the bound ``sigma^2 ||Gamma||_op sqrt(d) < 2``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from icl_proofs.claims.zfb23.flow import (
    balancedness,
    gamma_matrix,
    paper_init,
    reduced_zfb23_grad,
    sigma_bound,
    zfb23_optimum,
)
from icl_proofs.numeric.gradflow import ROUTE, fit_linear_rate, integrate_flow, pack, unpack


def _random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    A = rng.standard_normal((d, d))
    return A @ A.T + 0.3 * np.eye(d)


def _rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


CASES = [  # (d, N, seed, m = columns of Theta, sigma as a fraction of the bound)
    (2, 5, 11, 2, 0.5),
    (2, 20, 12, 1, 0.9),
    (3, 7, 13, 3, 0.5),
    (3, 3, 14, 5, 0.1),
]


@pytest.fixture(scope="module", params=CASES, ids=[f"d{c[0]}-N{c[1]}-m{c[3]}-s{c[4]}" for c in CASES])
def flow(request):
    d, N, seed, m, frac = request.param
    rng = np.random.default_rng(seed)
    Lam = _random_spd(d, rng)
    sigma = frac * sigma_bound(Lam, N)
    U0, u0 = paper_init(d, sigma, rng.standard_normal((d, m)))
    loss, grad = reduced_zfb23_grad(Lam, N)
    res = integrate_flow(grad, pack(U0, u0), 1e4, loss=loss,
                         invariants={"balancedness": balancedness(d)})
    return dict(d=d, N=N, Lam=Lam, sigma=sigma, res=res, loss=loss, grad=grad)


def test_route_name(flow):
    assert ROUTE == "SciPy ODE integration of the paper's gradient flow"
    assert flow["res"].route == ROUTE


def test_flow_converges_to_paper_limit(flow):
    """Thm 4.1: u U -> Gamma^{-1}, U -> tr(Gamma^-2)^{-1/4} Gamma^{-1}, u -> tr(Gamma^-2)^{1/4}."""
    d, Lam, N, res = flow["d"], flow["Lam"], flow["N"], flow["res"]
    assert res.converged and res.t_end < 1e4
    U, u = unpack(res.x_final, d)
    Gi = np.linalg.inv(gamma_matrix(Lam, N))
    U_star, u_star = zfb23_optimum(Lam, N)
    # closed forms written out again here (not via zfb23_optimum) to pin the formula
    s = float(np.trace(Gi @ Gi))
    assert _rel(U_star, s ** -0.25 * Gi) < 1e-14 and abs(u_star - s ** 0.25) < 1e-14 * u_star
    assert _rel(u * U, Gi) < 1e-6
    assert _rel(U, U_star) < 1e-6
    assert abs(u - u_star) / u_star < 1e-6


def test_balancedness_preserved(flow):
    """u(t)^2 - ||U(t)||_F^2 stays 0 (it is 0 at the paper's initialisation)."""
    d, res = flow["d"], flow["res"]
    assert abs(balancedness(d)(res.x[0])) < 1e-14
    assert res.invariant_drift["balancedness"] < 1e-8
    assert np.max(np.abs([balancedness(d)(x) for x in res.x])) < 1e-8


def test_loss_decreases_monotonically(flow):
    """dL/dt = -||grad L||^2 <= 0; recorded losses may only rise by floating-point rounding."""
    L = flow["res"].loss
    slack = 1e-13 * (1.0 + np.max(np.abs(L)))
    assert np.all(np.diff(L) <= slack)
    assert L[-1] < L[0]
    # the limit value: L(U_*, u_*) = 1/2 tr Lam - 1/2 tr(Lam^2 Gamma^{-1})
    Lam, N = flow["Lam"], flow["N"]
    Gi = np.linalg.inv(gamma_matrix(Lam, N))
    L_star = 0.5 * np.trace(Lam) - 0.5 * np.trace(Lam @ Lam @ Gi)
    assert abs(L[-1] - L_star) < 1e-10 * (1 + abs(L_star))


def test_rate_matches_hessian(flow):
    """Linear convergence at the rate of the smallest nonzero Hessian eigenvalue at the limit."""
    d, Lam, N, grad, res = flow["d"], flow["Lam"], flow["N"], flow["grad"], flow["res"]
    x_star = pack(*zfb23_optimum(Lam, N))
    h = 1e-6
    H = np.array([(grad(x_star + h * e) - grad(x_star - h * e)) / (2 * h) for e in np.eye(d * d + 1)])
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert ev[0] > -1e-6 * ev[-1]  # PSD; one zero mode (the rescaling (cU, u/c))
    assert abs(ev[0]) < 1e-6 * ev[-1]
    lam_min = ev[1]
    assert math.isfinite(res.rate_state)
    assert abs(res.rate_state - lam_min) < 0.02 * lam_min
    assert abs(res.rate_grad - lam_min) < 0.02 * lam_min


def test_gradient_is_gradient_of_loss():
    """Self-consistency of the printed formulas: grad = central differences of loss."""
    rng = np.random.default_rng(5)
    for d in (1, 2, 3):
        Lam = _random_spd(d, rng)
        loss, grad = reduced_zfb23_grad(Lam, 4)
        x = rng.standard_normal(d * d + 1)
        h = 1e-6
        fd = np.array([(loss(x + h * e) - loss(x - h * e)) / (2 * h) for e in np.eye(d * d + 1)])
        assert np.allclose(fd, grad(x), rtol=1e-6, atol=1e-6 * np.max(np.abs(fd)))


def test_pack_unpack_roundtrip():
    U = np.arange(9.0).reshape(3, 3)
    x = pack(U, -2.5)
    assert x.shape == (10,) and x[1] == 1.0 and x[3] == 3.0  # row-major vec U, then u
    U2, u2 = unpack(x, 3)
    assert np.array_equal(U2, U) and u2 == -2.5
    with pytest.raises(ValueError):
        unpack(x, 2)


def test_paper_init_and_sigma_bound():
    rng = np.random.default_rng(0)
    Lam = _random_spd(3, rng)
    N = 6
    sb = sigma_bound(Lam, N)
    G = gamma_matrix(Lam, N)
    assert abs(sb ** 2 * np.linalg.norm(G, 2) * math.sqrt(3) - 2) < 1e-12
    U0, u0 = paper_init(3, 0.3, rng=rng)
    assert u0 == 0.3
    assert abs(np.linalg.norm(U0) - 0.3) < 1e-14
    assert np.min(np.linalg.eigvalsh(U0)) > -1e-15  # sigma Theta Theta^T is PSD for sigma > 0
    Theta = rng.standard_normal((3, 1))
    U1, _ = paper_init(3, 1.0, Theta)
    assert np.allclose(U1, Theta @ Theta.T / np.linalg.norm(Theta @ Theta.T))
    with pytest.raises(ValueError):
        paper_init(3, 1.0, Theta, normalise=False)
    with pytest.raises(ValueError):
        gamma_matrix(-np.eye(2), 3)


def test_negative_sigma_mirrors():
    """(U, u) -> (-U, -u) leaves the loss invariant: sigma < 0 converges to (-U_*, -u_*)."""
    rng = np.random.default_rng(21)
    Lam = _random_spd(2, rng)
    N = 8
    loss, grad = reduced_zfb23_grad(Lam, N)
    U0, u0 = paper_init(2, -0.5 * sigma_bound(Lam, N), rng=rng)
    res = integrate_flow(grad, pack(U0, u0), 1e4, loss=loss, method="Radau")
    U, u = unpack(res.x_final, 2)
    U_star, u_star = zfb23_optimum(Lam, N)
    assert res.converged
    assert _rel(U, -U_star) < 1e-6 and abs(u + u_star) / u_star < 1e-6


def test_integrate_flow_on_quadratic():
    """Generic integrator: x' = -A x converges at rate lambda_min(A); invariants are tracked."""
    A = np.diag([0.5, 2.0, 3.0])
    x0 = np.array([1.0, 1.0, -1.0])
    res = integrate_flow(lambda x: A @ x, x0, 200.0, loss=lambda x: 0.5 * x @ A @ x,
                         invariants={"sign_x0": lambda x: float(np.sign(x[0]))})
    assert res.converged and np.linalg.norm(res.x_final) < 1e-9
    assert abs(res.rate_state - 0.5) < 1e-3 * 0.5
    assert abs(res.rate_grad - 0.5) < 1e-3 * 0.5
    assert abs(res.rate_loss - 1.0) < 1e-2
    assert res.invariant_drift["sign_x0"] == 0.0
    assert res.x.shape == (200, 3) and res.t[0] == 0.0 and res.t[-1] == res.t_end
    # not enough time: reported as not converged
    short = integrate_flow(lambda x: A @ x, x0, 1.0)
    assert not short.converged and short.t_end == 1.0


def test_fit_linear_rate():
    t = np.linspace(0, 10, 50)
    assert abs(fit_linear_rate(t, 3.0 * np.exp(-0.7 * t), floor=1e-12, tail_fraction=0.5) - 0.7) < 1e-10
    assert math.isnan(fit_linear_rate(t[:2], np.exp(-t[:2]), floor=0.0))


def test_stop_event_ends_the_flow_and_says_so():
    """``stop(x) < 0`` is a second terminal event (e.g. the distance to a known limit below a
    tolerance); ``stopped_by`` tells it from the gradient event and from running out of time."""
    Lam = np.diag([1.0, 2.0])
    loss, grad = reduced_zfb23_grad(Lam, 5)
    Ustar, ustar = zfb23_optimum(Lam, 5)
    x0 = pack(*paper_init(2, 0.5 * sigma_bound(Lam, 5), rng=0))
    xs = pack(Ustar, ustar)

    def dist(x):
        return float(np.linalg.norm(x - xs) / np.linalg.norm(xs))

    by_stop = integrate_flow(grad, x0, 1e4, tol_grad=0.0, stop=lambda x: dist(x) - 1e-3)
    assert by_stop.stopped_by == "stop" and abs(dist(by_stop.x_final) - 1e-3) < 1e-6
    assert not by_stop.converged
    by_grad = integrate_flow(grad, x0, 1e4, tol_grad=1e-8)
    assert by_grad.stopped_by == "gradient" and by_grad.converged
    short = integrate_flow(grad, x0, 1e-3, tol_grad=1e-8)
    assert short.stopped_by == "t_max" and not short.converged
