"""Resolvent moments of the sample covariance: the ridge baseline at finite N.

Setting: ``Σ̂ = (1/N) Σ_{i≤N} x_i x_iᵀ`` with ``x_i ~ N(0, c I_d)`` iid and ``R = (Σ̂ + λI)⁻¹`` (λ > 0).
The ridge estimator ``ŵ = R Xᵀy/N`` on ``y = Xw + ε`` has ``ŵ − w = −λRw + R Xᵀε/N``, so for a query
``x_q ~ N(0, q I)`` independent of the prompt and ``E[wwᵀ] = Ψ₂`` (any task law)::

    E(x_qᵀŵ − y_q)² = q [λ² tr Ψ₂ · t₂ + σ² (d/N) · t₁] + σ²,
    t₂ = E (1/d) tr R²,   t₁ = E (1/d) tr Σ̂R².

(``E tr(Ψ₂R²) = tr(Ψ₂) t₂`` exactly: Σ̂ is orthogonally invariant, so ``E[R²]`` is a multiple of I.)

Unlike the inverse moments of :mod:`.inverse_wishart`, ``t₁, t₂`` have no closed form in a symbolic d
(they are Stieltjes-type integrals against the Wishart eigenvalue law), so this module gives

* :func:`resolvent_traces_exact` — ``(t₁, t₂)`` at d = 1 (a chi-square integral) and d = 2 (the joint
  density of the two Wishart eigenvalues, ∝ |l₁ − l₂| (l₁l₂)^{(N−3)/2} e^{−(l₁+l₂)/2}, normalised
  numerically so no constant is typed in), by mpmath quadrature at a working precision you choose;
* :func:`sample_resolvent_traces` — the same traces from sampled spectra (Monte Carlo, any d);
* the proportional limit d, N → ∞ at ``d/N = γ``: ``t₂ → −r′(λ)``, ``t₁ → r(λ) + λr′(λ)`` with r
  the Marchenko–Pastur Stieltjes transform of :mod:`.proportional` (reused, not re-derived here).

The Bayes-optimal ridge for ``w ~ N(0, ψI)`` is the posterior mean ``(XᵀX + (σ²/ψ) I)⁻¹Xᵀy``, i.e.
λ* = σ²/(ψN) in this module's normalisation (Σ̂ = XᵀX/N): :func:`bayes_lambda`.
"""
from __future__ import annotations

import mpmath
import numpy as np

from ..errors import UserInputError

__all__ = ["resolvent_traces_exact", "sample_resolvent_traces", "ridge_error_from_traces",
           "bayes_lambda", "EXACT_DIMENSIONS"]

#: dimensions at which :func:`resolvent_traces_exact` integrates exactly
EXACT_DIMENSIONS = (1, 2)


def _check(d, N, lam):
    if d not in EXACT_DIMENSIONS:
        raise UserInputError(f"the exact ridge route integrates the eigenvalue law at d = 1 or 2, not d = {d}: "
                             "use the Monte-Carlo route or the proportional limit")
    if int(N) != N or N < 1:
        raise UserInputError(f"the prompt length N must be a positive integer, got {N}")
    if lam < 0:
        raise UserInputError(f"the ridge parameter must be >= 0, got {lam}")
    if lam == 0 and N <= d + 1:
        # at λ = 0, t₁ = E(1/d) tr Σ̂⁻¹, finite iff N > d + 1 (the OLS condition of inverse_wishart)
        raise UserInputError(f"the ridgeless (λ = 0) error needs N > d + 1, here N = {N}, d = {d}")


def _traces_of_eigs(eigs, lam):
    """(1/d) tr Σ̂R² and (1/d) tr R² for the eigenvalues of Σ̂."""
    t1 = sum(e / (e + lam) ** 2 for e in eigs) / len(eigs)
    t2 = sum(1 / (e + lam) ** 2 for e in eigs) / len(eigs)
    return t1, t2


def resolvent_traces_exact(d: int, N: int, lam, scale=1, dps: int = 30):
    """``(t₁, t₂)`` (module docstring) as mpmath numbers, by quadrature of the eigenvalue law
    (t₂ is None at λ = 0, where the ridge error does not involve it).

    ``scale`` = c, the covariate variance (Σ̂ = c · W/N with W ~ W_d(N, I)).
    """
    _check(d, N, lam)
    with mpmath.workdps(dps):
        lam, c, n = mpmath.mpf(lam), mpmath.mpf(scale), mpmath.mpf(N)
        if d == 1:
            # W ~ χ²_N: density u^{N/2−1} e^{−u/2} / (2^{N/2} Γ(N/2))
            dens = lambda u: u ** (n / 2 - 1) * mpmath.exp(-u / 2) / (2 ** (n / 2) * mpmath.gamma(n / 2))  # noqa: E731
            parts = [lambda u, k=k: dens(u) * _traces_of_eigs([c * u / n], lam)[k] for k in _wanted(lam)]
            return _pad(tuple(mpmath.quad(f, [0, n, mpmath.inf]) for f in parts))
        # d = 2: unordered eigenvalues l₁, l₂ of W ~ W_2(N, I); write l₂ = l₁·v, v ∈ [0, 1] (the ordered
        # half, dl₂ = l₁ dv), so the |l₁ − l₂| kink sits on the boundary of the square of integration
        def weight(l1, v):
            l2 = l1 * v
            return (l1 - l2) * (l1 * l2) ** ((n - 3) / 2) * mpmath.exp(-(l1 + l2) / 2) * l1

        def moment(g):
            return mpmath.quad(lambda l1, v: weight(l1, v) * g(l1, l1 * v), [0, n, mpmath.inf], [0, 1])

        norm = moment(lambda a, b: 1)
        return _pad(tuple(moment(lambda a, b, k=k: _traces_of_eigs([c * a / n, c * b / n], lam)[k]) / norm
                          for k in _wanted(lam)))


def _wanted(lam):
    """Which traces to integrate: at λ = 0 only t₁ (t₂ = E(1/d) tr Σ̂⁻² enters multiplied by λ² = 0,
    and may not even exist)."""
    return (0, 1) if lam > 0 else (0,)


def _pad(traces):
    return traces if len(traces) == 2 else (traces[0], None)


def sample_resolvent_traces(rng: np.random.Generator, d: int, N: int, lam: float, k: int, scale: float = 1.0):
    """``k`` iid draws of ``((1/d) tr Σ̂R², (1/d) tr R²)`` from sampled prompts (arrays of shape (k,))."""
    t1, t2 = np.empty(k), np.empty(k)
    chunk = max(1, 2 ** 22 // max(1, N * d))          # a batch of prompts per eigvalsh call, bounded memory
    for start in range(0, k, chunk):
        stop = min(k, start + chunk)
        X = rng.standard_normal((stop - start, N, d)) * np.sqrt(scale)
        e = np.linalg.eigvalsh(np.swapaxes(X, 1, 2) @ X / N)     # batched BLAS (einsum is not)
        t1[start:stop] = np.mean(e / (e + lam) ** 2, axis=1)
        t2[start:stop] = np.mean(1 / (e + lam) ** 2, axis=1)
    return t1, t2


def ridge_error_from_traces(t1, t2, *, lam, d, N, sigma2, signal, query_scale=1):
    """``q [λ² tr Ψ₂ · t₂ + σ² (d/N) t₁] + σ²`` with ``signal = tr Ψ₂`` (module docstring; at λ = 0
    the bias term is absent and t₂ may be None)."""
    bias = 0 if t2 is None else lam ** 2 * signal * t2
    return query_scale * (bias + sigma2 * d / N * t1) + sigma2


def bayes_lambda(sigma2, task_variance, N):
    """λ* = σ²/(ψN): the ridge that is the posterior mean for ``w ~ N(0, ψI)``, ``Σ̂ = XᵀX/N``."""
    if task_variance <= 0:
        raise UserInputError(f"the task variance must be > 0 for a Bayes ridge, got {task_variance}")
    return sigma2 / (task_variance * N)
