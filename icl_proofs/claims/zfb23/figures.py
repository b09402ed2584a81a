"""The zfb23 figures, computed from the paper's own derivations and simulators.

* :func:`zfb23_risk_vs_n` — the derived prediction error of the trained LSA (``Risk``, evaluated
  through the claim's own ``quantities``) against Monte-Carlo estimates with 95 % confidence bands,
  across the prompt length N.
* :func:`zfb23_gradient_flow` — gradient-flow trajectories from the paper's initialisation
  (Assumption 3.3) and their distance to the limit W_* of Theorem 4.1.

Each returns the plotted numbers (for the report's tables and JSON) and writes a PNG.
"""
from __future__ import annotations

import numpy as np

from ..figures import pyplot as _pyplot

__all__ = ["zfb23_risk_vs_n", "zfb23_gradient_flow", "drawn"]


def drawn(draw, out_dir, name: str, what: str, seed: int, progress) -> list:
    """The report's figure for one claim: ``draw(path, seed=...)`` into ``out_dir/name``, or no
    figure (with a note) when matplotlib is missing."""
    from pathlib import Path

    from ..figures import Figure, available

    if not available():
        progress(f"report: matplotlib missing, no {what} figure (pip install 'icl-proofs[plots]')")
        return []
    progress(f"report: {what} ...")
    data = draw(Path(out_dir) / name, seed=seed)
    return [Figure(Path(data["figure"]), data["caption"], data)]


def zfb23_risk_vs_n(path, Lambda=((1, 0, 0), (0, 2, 0), (0, 0, 3)), Ns=(2, 4, 8, 16, 32, 64), M: int | None = None,
                    n_mc: int = 2**15, seed: int = 0, level: float = 0.95) -> dict:
    """Derived vs simulated prediction error of the trained LSA (P = Γ⁻¹) across N; test length M
    (default M = N).  Bands: CLT intervals at ``level`` from each estimate's own standard error."""
    import sympy
    from scipy.stats import norm

    from ...numeric import montecarlo as mc
    from ...models import samplers
    from .risk_claims import Risk

    claim = Risk()
    Lam_q = sympy.Matrix(Lambda)
    Lam = np.array(Lam_q.tolist(), dtype=float)
    d = Lam.shape[0]
    z = float(norm.isf((1 - level) / 2))
    rows = []
    for i, N in enumerate(Ns):
        m = N if M is None else M
        exact = float(claim.quantities({"Lambda": Lam_q, "N": N, "M": m}, 20)["prediction_error"])
        G = (1 + 1 / N) * Lam + np.trace(Lam) / N * np.eye(d)
        est = mc.estimate(samplers.conditional_sampler(np.linalg.inv(G), Lam, m), n_mc, seed=[seed, i])
        rows.append({"N": N, "M": m, "derived": exact, "mc_mean": est.mean, "mc_se": est.se, "n": est.n,
                     "z": (est.mean - exact) / est.se})
    plt = _pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.6, 3.6), dpi=110)
    n_arr = np.array([r["N"] for r in rows], dtype=float)
    mean = np.array([r["mc_mean"] for r in rows])
    derived = np.array([r["derived"] for r in rows])
    half = z * np.array([r["mc_se"] for r in rows])
    ax.plot(n_arr, derived, "-", color="tab:blue", label="derived (Theorem 4.2)")
    ax.errorbar(n_arr, mean, yerr=half, fmt="o", color="tab:orange", ms=3, capsize=3,
                label=f"Monte Carlo ± {int(level * 100)} % CI")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("prompt length N" + (" (= test length M)" if M is None else ""))
    ax.set_ylabel("prediction error E(ŷ − y)²")
    ax.legend(fontsize=8)
    # the band is too narrow to see on the left: the right panel shows the residual at scale
    ax2.fill_between(n_arr, -half / derived, half / derived, color="tab:orange", alpha=0.3,
                     label=f"{int(level * 100)} % band of the estimate")
    ax2.plot(n_arr, (mean - derived) / derived, "o-", color="tab:orange", ms=3, label="(MC − derived) / derived")
    ax2.axhline(0.0, color="tab:blue", lw=1)
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("prompt length N")
    ax2.set_ylabel("relative difference")
    ax2.legend(fontsize=8)
    diag = ", ".join(f"{v:g}" for v in np.diag(Lam))
    fig.suptitle(f"zfb23: trained LSA at P = Γ⁻¹, Λ = diag({diag}), w ~ N(0, I)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {"figure": str(path), "Lambda": Lam.tolist(), "level": level, "rows": rows,
            "caption": "Derived prediction error of the trained linear self-attention (line) and "
                       f"Monte-Carlo estimates with {int(level * 100)} % CLT bands (conditional Wishart "
                       f"estimator, {n_mc:,} samples per N), across the prompt length."}


def zfb23_gradient_flow(path, Lambda=((1, 0, 0), (0, 2, 0), (0, 0, 3)), N: int = 10, inits: int = 3,
                        seed: int = 0, t_max: float = 400.0) -> dict:
    """Gradient flow of the reduced zfb23 loss from Assumption 3.3 initialisations: distance of
    (U, u) to the Theorem 4.1 limit and loss gap, against time."""
    from ...numeric import gradflow as gf
    from . import flow

    Lam = np.array(Lambda, dtype=float)
    d = Lam.shape[0]
    loss, grad = flow.reduced_zfb23_grad(Lam, N)
    U_star, u_star = flow.zfb23_optimum(Lam, N)
    x_star = gf.pack(U_star, u_star)
    L_star = loss(x_star)
    sigma = 0.5 * flow.sigma_bound(Lam, N)
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(inits):
        U0, u0 = flow.paper_init(d, sigma, rng=rng)
        res = gf.integrate_flow(grad, gf.pack(U0, u0), t_max, loss=loss, n_eval=300)
        dist = np.linalg.norm(res.x - x_star, axis=1)
        gap = res.loss - L_star
        floor = 1e-13 * max(1.0, abs(L_star))  # below this the gap is round-off, not signal
        runs.append({"t": res.t, "dist": dist, "gap": np.where(gap > floor, gap, np.nan),
                     "final_distance": float(dist[-1]), "converged": bool(res.converged)})
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4), dpi=110)
    for k, r in enumerate(runs):
        axes[0].semilogy(r["t"], r["dist"], label=f"init {k + 1}")
        axes[1].semilogy(r["t"], r["gap"], label=f"init {k + 1}")
    axes[0].set_title("‖(U, u)(t) − (U*, u*)‖", fontsize=9)
    axes[1].set_title("L(t) − L(U*, u*)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("time t")
        ax.legend(fontsize=7)
    fig.suptitle(f"zfb23 gradient flow, d = {d}, N = {N}, σ = {sigma:.3g} (half the Thm 4.1 bound)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {"figure": str(path), "N": N, "sigma": sigma, "L_star": L_star,
            "final_distances": [r["final_distance"] for r in runs],
            "converged": [r["converged"] for r in runs],
            "caption": f"Gradient flow of the reduced loss from {inits} random initialisations of Assumption "
                       "3.3: the distance to the Theorem 4.1 limit (U*, u*) = (tr(Γ⁻²)^(-1/4) Γ⁻¹, "
                       "tr(Γ⁻²)^(1/4)) and the loss gap decay to round-off."}
