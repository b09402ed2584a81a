"""zfb23 claims about training dynamics (Theorem 4.1's gradient flow) and random covariances
(Theorem 4.5)."""
from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp

from ...moments import traces
from ...moments.traces import d as dsym
from ...numeric import gradflow
from ...numeric import montecarlo as mc
from ..base import Check, Control, Param
from ..checks import (exact_equal, holds, hypothesis_sweep, inconclusive, refuted, resolution,
                      resolution_text, symbolic_zero, too_coarse, two_sided_p)
from ..registry import register
from . import derive as derivations
from . import flow
from . import numeric
from . import paper
from .claims import P_LAMBDA, P_N, Zfb23Claim, _mc_n, _sizes


def _word_program(word, consts: dict) -> list:
    """A word of letters as a product program: runs of constant letters folded into one matrix
    (computed once), the variable letter U left as ``"U"`` / ``"U'"``."""
    prog, run = [], None
    for letter in word:
        if letter.is_identity:
            continue
        if letter.name in consts:
            m = consts[letter.name].T if letter.t else consts[letter.name]
            run = m if run is None else run @ m
            continue
        if run is not None:
            prog.append(run)
            run = None
        prog.append("U'" if letter.t else "U")
    if run is not None:
        prog.append(run)
    return prog


def _run_program(prog, U: np.ndarray, dim: int) -> np.ndarray:
    m = None
    for f in prog:
        x = (U if f == "U" else U.T) if isinstance(f, str) else f
        m = x if m is None else m @ x
    return np.eye(dim) if m is None else m


def _compiled_scalar(expr: sp.Expr, consts: dict, dim: int, n: int):
    """A trace polynomial in Λ, U and u as a float function ``f(U, u)``: each trace atom becomes a
    matrix product with the Λ-runs folded (evaluated in NumPy), the polynomial in the atoms is
    compiled once.  (Why not substitute symbolic entries: at d = 6 the expanded polynomial in 37
    variables costs ~4 ms a call, and an ODE needs 10⁴ calls.)"""
    expr = sp.sympify(expr).xreplace({derivations.N: sp.Integer(n), dsym: sp.Integer(dim)})
    atoms = sorted(traces.trace_atoms(expr), key=str)
    for a in atoms:
        if traces.info(a).kind != "trace":
            raise ValueError(f"unexpected non-trace atom {a} in the reduced loss")
    progs = [_word_program(traces.info(a).word, consts) for a in atoms]
    f = sp.lambdify([derivations.u, *atoms], expr, "math")
    return lambda U, u: float(f(u, *[float(np.trace(_run_program(p_, U, dim))) for p_ in progs]))


def derived_flow(Lam: np.ndarray, n: int):
    """(loss, grad) on packed x = (vec U, u) from the *derived* L(U, u) and its derived gradient
    (the Wick engine's MatrixPoly ∇_U L and ∂L/∂u — not the paper's formula), for this Λ and N."""
    l = derivations.losses()
    dim = Lam.shape[0]
    consts = {"Lambda": np.asarray(Lam, dtype=float)}
    loss_f = _compiled_scalar(l["L_reduced"], consts, dim, n)
    du_f = _compiled_scalar(l["dL/du"], consts, dim, n)
    dU_terms = [(_word_program(word, consts), _compiled_scalar(c, consts, dim, n))
                for word, c in l["dL/dU"].terms.items()]

    def loss(x):
        U, u = gradflow.unpack(x, dim)
        return loss_f(U, u)

    def grad(x):
        U, u = gradflow.unpack(x, dim)
        gU = np.zeros((dim, dim))
        for prog, c in dU_terms:
            gU += c(U, u) * _run_program(prog, U, dim)
        return gradflow.pack(gU, du_f(U, u))

    return loss, grad


#: a run has reached W_* when max(‖U − U_*‖/‖U_*‖, |u − u_*|/|u_*|) ≤ this.  Why 1e-6: the
#: solver (rtol 1e-10) conserves balancedness, the only flat direction of L at W_*, to ~1e-10, so
#: the true flow gets there; a wrong limit (a gradient with 1/(N+1) for 1/N moves uU by ≥ 1/N²
#: relative, ≥ 1e-4 for N ≤ 100) never does.
ENDPOINT_TOL = 1e-6
#: the loss at the end point must equal the separately derived min L to this (relative to max(1, tr Λ))
LOSS_TOL = 1e-9


@dataclasses.dataclass
class FlowRun:
    """One integration of the derived flow from Assumption 3.3 towards a target (U_*, u_*)."""

    result: gradflow.FlowResult
    distance: float  # max(‖U − U_*‖/‖U_*‖, |u − u_*|/|u_*|) at the end point
    loss_gap: float  # L(end point) − min L (min L from the separate pointwise minimisation)
    trace: float  # tr Λ (the loss scale)

    @property
    def verdict(self) -> str:
        """'holds': reached the target to ENDPOINT_TOL at the minimum value; 'refuted': stopped at a
        stationary point away from the target (or at the target with a loss other than min L);
        'inconclusive': neither within the horizon."""
        at_min = abs(self.loss_gap) <= LOSS_TOL * max(1.0, self.trace)
        if self.result.stopped_by == "stop" or self.distance <= ENDPOINT_TOL:
            return "holds" if at_min else "refuted"
        return "refuted" if self.result.converged else "inconclusive"

    def row(self, **labels) -> dict:
        return {**labels, "verdict": self.verdict, "distance": self.distance, "loss_gap": self.loss_gap,
                "stopped_by": self.result.stopped_by, "t_end": self.result.t_end,
                "balancedness_drift": self.result.invariant_drift["balancedness"],
                "rate": self.result.rate_state}


def flow_target(Lam: np.ndarray, n: int, flip: bool = False):
    """The paper's limit (U_*, u_*) of Theorem 4.1; ``flip`` gives −W_* (the other balanced global
    minimiser, a wrong limit from u(0) = σ > 0: the negative control of the flow checks)."""
    Us, us = flow.zfb23_optimum(Lam, n)
    return (-Us, -us) if flip else (Us, us)


def min_loss_float(Lam: np.ndarray, n: int) -> float:
    """min L from the derived pointwise minimisation (global_min), at Λ's eigenvalues (mpmath)."""
    return float(numeric.spectral_mp(derivations.global_min()["min_loss"], sp.Matrix(np.asarray(Lam).tolist()), 20, {derivations.N: n}))


def run_flow(Lam: np.ndarray, n: int, sigma: float, rng: np.random.Generator, target=None) -> FlowRun:
    """Integrate the derived flow from Assumption 3.3 (σ, Θ from ``rng``) until it reaches
    ``target`` (default W_*), stops at a stationary point, or runs 100 time constants.

    The slowest relaxation rate near W_* is r = u_*² · min_j γ(λ_j) λ_j² (small eigenvalues of Λ
    relax on a time scale ~1/λ_min²); the stationarity event ‖∇L‖ < 0.1·ENDPOINT_TOL·r·‖W_*‖ fires
    only within 0.1·ENDPOINT_TOL of a stationary point, and LSODA steps over 100/r cheaply."""
    dim = Lam.shape[0]
    loss, grad = derived_flow(Lam, n)
    U0, u0 = flow.paper_init(dim, sigma, rng=rng)
    Ustar, ustar = flow_target(Lam, n) if target is None else target
    lam_ = np.linalg.eigvalsh(Lam)
    gam_ = (1 + 1 / n) * lam_ + lam_.sum() / n
    rate = float(ustar ** 2 * np.min(gam_ * lam_ ** 2))
    size = float(np.sqrt(np.sum(Ustar ** 2) + ustar ** 2))
    t_max = float(min(1e16, max(1e4, 100.0 / rate)))

    def distance(x):
        U, u = gradflow.unpack(x, dim)
        return max(float(np.linalg.norm(U - Ustar) / np.linalg.norm(Ustar)), abs(u - ustar) / abs(ustar))

    res = gradflow.integrate_flow(grad, gradflow.pack(U0, u0), t_max, loss=loss,
                                  tol_grad=0.1 * ENDPOINT_TOL * rate * size,
                                  stop=lambda x: distance(x) - ENDPOINT_TOL,
                                  invariants={"balancedness": flow.balancedness(dim)})
    gap = loss(res.x_final) - min_loss_float(Lam, n)
    return FlowRun(res, distance(res.x_final), gap, float(np.trace(Lam)))


@register
class GradientFlow(Zfb23Claim):
    id = "zfb23.gradient-flow"

    def figures(self, out_dir, seed=0, progress=lambda msg: None):
        from .figures import drawn, zfb23_gradient_flow

        return drawn(zfb23_gradient_flow, out_dir, "zfb23_gradient_flow.png", "zfb23 gradient-flow trajectories",
                     seed, progress)
    source = "Theorem 4.1 (convergence), Assumption 3.3 (initialisation)"
    title = "Gradient flow from the paper's initialisation converges to W_*"
    statement = ("From W^{PV}(0) = σe e ᵀ, W^{KQ}(0) = σ[[ΘΘᵀ,0],[0,0]], ‖ΘΘᵀ‖_F = 1, σ²‖Γ‖√d < 2: "
                 "gradient flow converges to U_* = tr(Γ⁻²)^{-1/4}Γ⁻¹, u_* = tr(Γ⁻²)^{1/4}; u² = ‖U‖_F² throughout.")
    statement_latex = (r"If $\sigma^2\|\Gamma\|_{op}\sqrt d<2$, gradient flow from Assumption 3.3 converges to "
                       r"$U_*=\operatorname{tr}(\Gamma^{-2})^{-1/4}\Gamma^{-1}$, $u_*=\operatorname{tr}(\Gamma^{-2})^{1/4}$, "
                       r"and $u(t)^2=\|U(t)\|_F^2$.")
    params = (P_LAMBDA, P_N)

    def derive(self):
        a, b = paper.flow_limit()
        return {"U_* factor": a, "u_*": b}

    def quantities(self, values, dps=30):
        Lam, n = values["Lambda"], values["N"]
        Gi = numeric.preconditioner(Lam, n)
        t = (Gi * Gi).trace()
        with __import__("mpmath").workdps(dps):
            import mpmath

            tm = numeric.mp_value(t, dps)
            fac = mpmath.power(tm, mpmath.mpf(-1) / 4)
            return {"U_star": numeric.mp_matrix(Gi, dps) * fac, "u_star": mpmath.power(tm, mpmath.mpf(1) / 4),
                    "sigma_bound": mpmath.sqrt(2 / (_op_norm_mp(numeric.gamma_matrix(Lam, n), dps)
                                                    * mpmath.sqrt(Lam.shape[0])))}

    controls = {
        "derived-vs-printed-gradient": (Control.negative("derived ∇_U L with 1/(N+1) for 1/N",
                                                         mutant="losses['dL/dU'] 1/N→1/(N+1)"),),
        "derived-loss-and-gradient": (Control.negative("minimiser g*(λ) with its sign flipped",
                                                       mutant="global_min['g_star'] flip-sign"),),
        "flow-converges-below-bound": (Control.negative("derived reduced loss with Λ² for Λ",
                                                        mutant="losses['L_reduced'] Λ→Λ²"),),
        "flow-hypothesis": (Control.negative("derived ∇_U L with 1/(N+1) for 1/N",
                                             mutant="losses['dL/dU'] 1/N→1/(N+1)"),),
    }

    def checks(self):
        flip = "the limit −W_* (the other balanced global minimiser) instead of W_*"
        return [
            Check("derived-vs-printed-gradient", "numeric", self._grad_agree),
            Check("derived-loss-and-gradient", "symbolic", self._grad_of_loss),
            Check("flow-converges-below-bound", "ode", self._below,
                  controls=(Control.negative(flip, lambda ctx: self._below(ctx, flip=True)),)),
            Check("flow-above-bound", "ode", self._above,
                  controls=(Control.negative(flip, lambda ctx: self._above(ctx, flip=True)),)),
            Check("train-plain-lsa", "training", self._train, controls=(
                Control.negative("Λ⁻¹ (the N → ∞ preconditioner) as the trained limit",
                                 lambda ctx: self._train(ctx, target=np.diag([1.0, 0.5]))),
                Control.negative("Γ⁻¹ with 1/(N+1) for 1/N as the trained limit",
                                 lambda ctx: self._train(ctx, target=np.linalg.inv(
                                     flow.gamma_matrix(np.diag([1.0, 2.0]), 11)))))),
            Check("flow-hypothesis", "hypothesis", self._hypothesis,
                  controls=(Control.negative(flip, lambda ctx: _unshrunk(self._hypothesis, ctx, flip=True)),)),
        ]

    def _hypothesis(self, ctx, flip=False):
        """Hypothesis over d = 1..6, SPD Λ up to condition 10³ (λ_max in [0.1, 10]), N and Θ: the flow
        of the derived gradient from the paper's initialisation (σ = bound/2) reaches W_* (relative
        distance ≤ ENDPOINT_TOL) at the minimum value; refuted by a run that stops at a stationary
        point elsewhere.  ``flip``: the same logic against −W_* (negative control)."""
        from hypothesis import strategies as st

        from ...strategies import spd_matrices

        # Λ rescaled so that λ_max ∈ [0.1, 10] (with condition ≤ 10³, λ_min ≥ 10⁻⁴): the flow's
        # slowest time constant stays within what a double-precision gradient can resolve
        strat = st.tuples(spd_matrices(min_d=1, max_d=6, max_condition=1e3), st.floats(0.1, 10.0),
                          st.integers(1, 100), st.integers(0, 2**31 - 1))

        undecided = []

        def pred(ex):
            Lam, top, n, theta_seed = ex
            Lam = Lam * (top / float(np.linalg.eigvalsh(Lam)[-1]))
            sigma = 0.5 * flow.sigma_bound(Lam, n)
            run = run_flow(Lam, n, sigma, np.random.default_rng(theta_seed), flow_target(Lam, n, flip))
            label = f"d={len(Lam)}, N={n}, cond={np.linalg.cond(Lam):.3g}, Θ seed={theta_seed}"
            if run.verdict == "inconclusive":
                undecided.append(label)
            # balancedness is tested by flow-converges-below-bound; the end point is what this tests
            return run.verdict != "refuted", (f"{label}: {run.verdict}, stopped by {run.result.stopped_by} at "
                                              f"relative distance {run.distance:.3g} from the target, loss gap "
                                              f"{run.loss_gap:.3g}")

        res = hypothesis_sweep(strat, pred, 5 if ctx.quick else 30, ctx.stream_seed(),
                               "gradient flow from Assumption 3.3 reaches W_* (distance ≤ 1e-6), d ≤ 6")
        if res.status.value == "holds" and undecided:
            return inconclusive(f"no counterexample, but {len(undecided)} runs neither reached W_* nor stopped "
                                f"within 100 time constants: {'; '.join(undecided)}", undecided=undecided)
        return res

    def _grad_agree(self, ctx):
        rng = ctx.rng()
        worst = 0.0
        for dim in (1, 2, 3, 4):
            Lam = numeric.to_np(numeric.random_spd(rng, dim, 10))
            n = int(rng.integers(1, 20))
            _, g1 = derived_flow(Lam, n)
            _, g2 = flow.reduced_zfb23_grad(Lam, n)
            for _ in range(3):
                x = rng.standard_normal(dim * dim + 1)
                a, b = g1(x), g2(x)
                worst = max(worst, float(np.linalg.norm(a - b) / max(1e-300, np.linalg.norm(b))))
        if worst < 1e-12:
            return holds(f"engine-derived ∇L equals the paper's flow field at random points (rel. diff {worst:.1e})")
        return refuted(f"relative difference {worst:.3g}",
                       {"max_relative_difference": worst})

    def _grad_of_loss(self, ctx):
        """The flow's field is the gradient of the loss its verdict is measured in: the engine's
        matrix gradient dL/dU and dL/du against SymPy's componentwise derivatives of the concrete
        derived L(U, u), exactly at random rational SPD Λ (a second route to the Wick gradient)."""
        rng = ctx.rng()
        l = derivations.losses()
        for dim in (1, 2):
            Lam = numeric.random_spd(rng, dim, 6)
            n = int(rng.integers(2, 9))
            Us = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"U_{i}_{j}"))
            env = {"Lambda": Lam, "U": Us}

            def concrete(expr):
                return sp.expand(traces.substitute(expr, env, {derivations.N: n}))

            L = concrete(l["L_reduced"])
            GU = l["dL/dU"].evaluate(env, coef=concrete)
            pairs = [(f"dL/dU[{i},{j}]", sp.diff(L, Us[i, j]), GU[i, j]) for i in range(dim) for j in range(dim)]
            pairs.append(("dL/du", sp.diff(L, derivations.u), concrete(l["dL/du"])))
            for what, by_diff, derived in pairs:
                if sp.expand(by_diff - derived) != 0:
                    return refuted(f"d={dim}, N={n}: {what} of the derived loss is {sp.expand(by_diff)} but the "
                                   f"derived gradient is {sp.expand(derived)}",
                                   {"Lambda": str(Lam.tolist()), "N": n, "entry": what})
            # the value the flow's verdict (loss gap at the end point) is measured in: at u = 1,
            # U = V* it is the minimum found by the separate pointwise minimisation of L(V)
            Vs = numeric.preconditioner(Lam, n)
            at_opt = sp.nsimplify(L.subs({derivations.u: 1, **{Us[i, j]: Vs[i, j] for i in range(dim) for j in range(dim)}}))
            ml = sp.nsimplify(numeric.min_loss(Lam, n))
            if sp.simplify(at_opt - ml) != 0:
                return refuted(f"d={dim}, N={n}: the flow's loss at u = 1, U = V* is {at_opt} but min L(V) is {ml}",
                               {"Lambda": str(Lam.tolist()), "N": n, "loss_at_V_star": str(at_opt),
                                "min_loss": str(ml)})
        return holds("the Wick engine's ∇_U L and ∂L/∂u equal SymPy's componentwise derivatives of the concrete "
                     "derived L(U, u), and L(U = V*, u = 1) equals the separately derived min L(V), exactly "
                     "(d = 1, 2, random rational SPD Λ)")

    def _below(self, ctx, flip=False):
        """σ = bound/2 (inside Theorem 4.1): every run reaches W_* at the minimum value and keeps
        u² = ‖U‖_F² (drift within the solver's accuracy).  ``flip``: against −W_* (negative control)."""
        rng = ctx.rng()
        rows = []
        for dim in _sizes(ctx, (2, 3), (1, 2, 3, 5)):
            Lam = numeric.to_np(numeric.random_spd(rng, dim, 20))
            n = int(rng.integers(2, 30))
            sigma = 0.5 * flow.sigma_bound(Lam, n)
            run = run_flow(Lam, n, sigma, rng, flow_target(Lam, n, flip))
            row = run.row(d=dim, N=n, sigma=sigma)
            rows.append(row)
            drift_bad = row["balancedness_drift"] > _DRIFT_TOL * _state_scale(Lam, n)
            if run.verdict != "holds" or drift_bad:
                what = (f"d={dim}, N={n}, σ={sigma:.3g}: {run.verdict}, stopped by {run.result.stopped_by} at "
                        f"relative distance {run.distance:.3g} from W_*, loss gap {run.loss_gap:.3g}, "
                        f"balancedness drift {row['balancedness_drift']:.2g}")
                if run.verdict == "refuted" or drift_bad:
                    return refuted(what,
                                   {"Lambda": Lam, "N": n, "sigma": sigma, **row}, runs=rows)
                return inconclusive(what, runs=rows)
        return holds("σ = bound/2: reached W_* to ≤ %.0e (%s) at min L, balancedness drift ≤ %.1e, linear rate %s"
                     % (ENDPOINT_TOL, ", ".join(f"d={r['d']}, N={r['N']}" for r in rows),
                        max(r["balancedness_drift"] for r in rows), ", ".join(f"{r['rate']:.3g}" for r in rows)),
                     runs=rows)

    def _above(self, ctx, flip=False):
        """An observation beyond the theorem (which is silent above the bound): from Assumption 3.3
        with σ = k·bound (k = 5 quick; 2, 5, 20 full) the flow still reaches W_* at min L, i.e. the
        condition σ²‖Γ‖√d < 2 is sufficient, not necessary.  Holds iff every run reaches W_*.  A run
        that stops elsewhere, or is undecided, makes the check inconclusive, never refuted: it
        would falsify this observation, not Theorem 4.1.  ``flip``: against −W_* (negative control)."""
        rng = ctx.rng()
        rows = []
        for dim in (2, 3):
            Lam = numeric.to_np(numeric.random_spd(rng, dim, 20))
            n = 10
            for k in _sizes(ctx, (5.0,), (2.0, 5.0, 20.0)):
                sigma = k * flow.sigma_bound(Lam, n)
                rows.append(run_flow(Lam, n, sigma, rng, flow_target(Lam, n, flip)).row(d=dim, N=n, k=k))
        failed = [r for r in rows if r["verdict"] != "holds"]
        ks = sorted({r["k"] for r in rows})
        if failed:
            return inconclusive("observation beyond Theorem 4.1 (not the theorem) fails: "
                                + "; ".join(f"d={r['d']}, N={r['N']}, σ = {r['k']:g}·bound: {r['verdict']}, distance "
                                            f"{r['distance']:.3g}" for r in failed)
                                + f" ({len(failed)}/{len(rows)} runs did not reach W_*)", runs=rows)
        return holds(f"observation beyond the theorem: {len(rows)}/{len(rows)} runs with σ = k·bound "
                     f"(k ∈ {ks}; " + ", ".join(f"d={r['d']}, N={r['N']}" for r in rows)
                     + f") reach W_* to ≤ {ENDPOINT_TOL:.0e} at min L — the condition is sufficient, not necessary",
                     runs=rows)

    def _train(self, ctx, target=None):
        """Adam on fresh prompts, all blocks trained, from Assumption 3.3, in R independent replicas
        (R = 4 × 1500 steps quick, 8 × 4000 full).  With P_r = w22·U11 of replica r, P̄ their mean and s² the replicas'
        spread Σ‖P_r − P̄‖²/(R − 1) (the optimiser's measured noise), the distance of the trained
        limit E P from Γ⁻¹ lies within δ̂ ± q·ŝ at confidence 1 − α, δ̂ = ‖P̄ − Γ⁻¹‖/‖Γ⁻¹‖,
        ŝ = s/(√R‖Γ⁻¹‖), q² = the 1 − α quantile of F(p, p(R − 1)), p = d² entries (Gaussian,
        isotropic noise).  Holds iff δ̂ + qŝ ≤ TRAIN_TOL (the limit is within TRAIN_TOL of Γ⁻¹);
        refuted iff δ̂ − qŝ > TRAIN_TOL (it converges elsewhere); else inconclusive.  ``target``: a
        wrong preconditioner to test against instead of Γ⁻¹ (negative control)."""
        from scipy.stats import f as f_dist
        from scipy.stats import norm

        Lam = np.diag([1.0, 2.0])
        n = 10
        Gi = np.linalg.inv(flow.gamma_matrix(Lam, n)) if target is None else np.asarray(target, float)
        # quick: shorter runs with a faster-decaying rate and a longer averaging tail (measured:
        # bias 0.19 %, replica noise 0.65 % in 1500 steps; 1000 steps leave a 0.5 % bias)
        reps, schedule = _sizes(ctx, (4, dict(steps=1500, lr_decay=1e-3, average_tail=0.5)), (8, {}))
        runs = [flow.train_lsa(Lam, n, seed=ctx.stream_seed("replica", r), init="paper", **schedule)
                for r in range(reps)]
        Ps = np.array([r.preconditioner() for r in runs])
        p = Ps[0].size
        P_bar = Ps.mean(axis=0)
        spread = float(np.sqrt(np.sum((Ps - P_bar) ** 2) / (reps - 1)))
        scale = float(np.linalg.norm(Gi))
        delta = float(np.linalg.norm(P_bar - Gi)) / scale
        s_hat = spread / (np.sqrt(reps) * scale)
        q = float(np.sqrt(f_dist.ppf(1 - ctx.alpha, p, p * (reps - 1))))
        lo, hi = delta - q * s_hat, delta + q * s_hat
        res = {"relative": (q + float(norm.ppf(0.9))) * s_hat, "absolute": (q + float(norm.ppf(0.9))) * s_hat * scale,
               "power": 0.9, "alpha": ctx.alpha}
        details = dict(runs=[r.summary() for r in runs], P_mean=P_bar, target=Gi, distance=delta, ci=[lo, hi],
                       tolerance=TRAIN_TOL, replicas=reps, q=q)
        text = (f"Adam, {reps} replicas from Assumption 3.3, Λ = diag(1, 2), N = 10: ‖P̄ − Γ⁻¹‖/‖Γ⁻¹‖ = {delta:.2%}, "
                f"{1 - ctx.alpha:.3g} interval [{max(lo, 0):.2%}, {hi:.2%}] (replica noise {spread / scale:.2%}); "
                f"tolerance {TRAIN_TOL:.0%}; ‖w21‖ ≤ {max(r.summary()['norm_w21'] for r in runs):.2g}")
        if hi <= TRAIN_TOL:
            out = holds(text + " — within tolerance", **details)
        elif lo > TRAIN_TOL:
            out = refuted(text + " — the trained limit is elsewhere",
                          {"Lambda": Lam, "N": n, "P_mean": P_bar, "target": Gi, "distance": delta, "ci": [lo, hi]},
                          **details)
        else:
            out = inconclusive(text + " — cannot tell", **details)
        out.resolution = res
        return out


#: balancedness u² − ‖U‖_F² is conserved exactly by the flow; the solver (rtol 1e-10 over long
#: horizons) conserves it to ~1e-8 relative.  A real violation is O(1) relative to ‖(U_*, u_*)‖².
_DRIFT_TOL = 1e-6
#: train-plain-lsa: how far the Adam-trained limit may sit from Γ⁻¹.  Why 3 %: the optimiser's own
#: bias is ≤ 0.2 % (6 replicas of 4000 steps: mean distance 0.14 %, replica noise 0.25 %; 1500 quick
#: steps: 0.19 %, 0.65 %), and the (1 − α) interval of 4 quick replicas reaches up to ±1.5 % (seeds
#: 0–3), so a tighter tolerance would make "holds" depend on the seed.  Λ⁻¹ (the N → ∞
#: preconditioner, 35 % away) is refuted; Γ⁻¹ with 1/(N+1) for 1/N (2.4 % away) is not resolved
TRAIN_TOL = 0.03
TRAIN_TOL = 0.03


def _unshrunk(fn, ctx, **kw):
    """Run a Hypothesis check without shrinking its counterexample (a control needs the verdict,
    and shrinking re-runs ODEs)."""
    from .. import checks as checks_mod

    with checks_mod.witness_shrinking(False):
        return fn(ctx, **kw)


def _state_scale(Lam, n) -> float:
    Ustar, ustar = flow.zfb23_optimum(Lam, n)
    return float(np.sum(Ustar ** 2) + ustar ** 2)


def _op_norm_mp(M, dps):
    import mpmath

    with mpmath.workdps(dps + 10):
        ev, _ = mpmath.eigsy(numeric.mp_matrix(M, dps + 10))
        return max(abs(ev[i]) for i in range(len(ev)))


# ============================================================================================
def _exp_moment(k):
    return sp.factorial(k)  # E[λ^k], λ ~ Exp(1)


def _iid_expect_term(coeff_atoms: sp.Expr, a: int, p1_power: int):
    """E[λ_i^a · p_1^m] for iid Exp(1) entries, p_1 = Σ_j λ_j, symbolic d:
    p_1 = λ_i + R with R ~ Gamma(d − 1, 1), E R^k = (d−1)(d)…(d+k−2)."""
    m = p1_power
    return sp.Add(*[sp.binomial(m, r) * _exp_moment(a + r) * sp.rf(dsym - 1, m - r) for r in range(m + 1)])


@register
class RandomCovariance(Zfb23Claim):
    id = "zfb23.random-covariance"
    source = "Theorem 4.5"
    title = "Training over random diagonal covariances"
    statement = ("With Λ_τ = diag(λ_τ), λ_τi iid, the flow converges to u·U = [E Γ_τΛ_τ²]⁻¹E[Λ_τ²]; for Exp(1) "
                 "entries and N, M → ∞ the prediction tends to ⅓⟨w, x_q⟩.")
    statement_latex = (r"$uU=[E\,\Gamma_\tau\Lambda_\tau^2]^{-1}E[\Lambda_\tau^2]$; for $\lambda\sim$ Exp(1), "
                       r"$\hat y\to\tfrac13\langle w,x_q\rangle$ as $N,M\to\infty$.")
    params = (Param("d", "int", "dimension", minimum=1, maximum=10**6), P_N)
    # Theorem 4.5 is about the minimiser, sought over diagonal V (below): a term constant in V and
    # a transposed V (V = Vᵀ there) cannot move it
    equivalent_mutants = {
        "global_min['L(V)'] drop-trace": "the dropped term tr(Λ)/2 is constant in V, so the minimiser is unchanged",
        "global_min['L(V)'] missing-½": "the doubled term tr(Λ)/2 is constant in V, so the minimiser is unchanged",
        "global_min['L(V)'] transpose": "the minimiser is sought over diagonal V (sign symmetry of diag(λ)), "
                                        "where tr(Λ²VΛVᵀ) = tr(Λ²VΛV)",
    }

    def derive(self):
        return {"V_ii*": self.v_star(), "paper": self.v_paper()}

    @staticmethod
    def v_star():
        """Minimise E_τ L(V) over diagonal V (the sign symmetry of diag(λ) makes V* diagonal)."""
        LV = derivations.global_min()["L(V)"]
        v = sp.Symbol("v")
        ell = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(LV)):
            a, b, m, coef = _diag_term(term, v)
            ell += coef * _iid_expect_term(None, a, m) * v ** b
        ell = sp.expand(ell)
        sol = sp.solve(sp.diff(ell, v), v)
        return sp.factor(sol[0])

    @staticmethod
    def v_paper():
        """[E Γ_τ Λ_τ²]⁻¹ E[Λ_τ²] on the diagonal: E[λ_i²] / E[γ_i λ_i²], γ_i = (1+1/N)λ_i + p_1/N."""
        num = _exp_moment(2)
        den = (1 + 1 / derivations.N) * _exp_moment(3) + _iid_expect_term(None, 2, 1) / derivations.N
        return sp.factor(num / den)

    def quantities(self, values, dps=30):
        v = self.v_star().subs({dsym: values["d"], derivations.N: values["N"]})
        return {"preconditioner_diag": [numeric.mp_value(v, dps)] * int(values["d"])}

    controls = {
        "minimiser-vs-paper-symbolic": (Control.negative("L(V) with 1/(N+1) for 1/N",
                                                         mutant="global_min['L(V)'] 1/N→1/(N+1)"),),
        "estimating-equation-monte-carlo": (Control.negative("L(V) with 1/(N+1) for 1/N",
                                                             mutant="global_min['L(V)'] 1/N→1/(N+1)"),),
    }

    def checks(self):
        # the closed form is N/(3N + d + 5); an off-by-one in its d-term is the slip to tell apart
        off_by_one = (derivations.N / (3 * derivations.N + dsym + 4), "N/(3N + d + 4), an off-by-one in the closed form N/(3N + d + 5)")
        fixed = (derivations.N / (derivations.N + 1 + dsym), "N/(N + d + 1), the minimiser for the fixed covariance Λ = I")
        return [
            Check("minimiser-vs-paper-symbolic", "symbolic", self._sym),
            Check("limit-one-third", "symbolic", self._limit, controls=(
                Control.negative(fixed[1], lambda ctx: self._limit(ctx, v=fixed[0])),)),
            Check("exact-integration-d2", "exact-rational", self._integrate, controls=(
                Control.negative(off_by_one[1], lambda ctx: self._integrate(ctx, v=off_by_one[0])),)),
            Check("estimating-equation-monte-carlo", "monte-carlo", self._mc, controls=(
                Control.negative(off_by_one[1], lambda ctx: self._mc(ctx, v=off_by_one[0])),)),
            Check("finite-d-hypothesis", "hypothesis", self._hypothesis, controls=(
                Control.negative(off_by_one[1], lambda ctx: self._hypothesis(ctx, claimed=off_by_one[0])),)),
        ]

    def _hypothesis(self, ctx, claimed=None):
        """Hypothesis over d = 1..6 and N: the symbolic-d minimiser (``claimed``: another formula, a control) agrees with a direct exact
        expectation at that d (iid Exp(1) moments expanded by brute force over the multinomial
        terms of p_1^m, no Gamma-sum shortcut)."""
        from hypothesis import strategies as st

        LV = derivations.global_min()["L(V)"]
        v = sp.Symbol("v")

        def brute(dim, n):
            ell = sp.Integer(0)
            for term in sp.Add.make_args(sp.expand(LV)):
                a, b, m, coef = _diag_term(term, v)
                # E[λ_1^a (λ_1 + ... + λ_d)^m] by expanding the multinomial explicitly
                lams = sp.symbols(f"l1:{dim + 1}", positive=True)
                poly = sp.Poly(sp.expand(lams[0] ** a * sum(lams) ** m), *lams)
                e = sum(c * sp.Mul(*[sp.factorial(k) for k in mon]) for mon, c in poly.terms())
                ell += coef * e * v ** b
            ell = sp.expand(ell.subs(derivations.N, n))
            return sp.solve(sp.diff(ell, v), v)[0]

        vs = self.v_star() if claimed is None else claimed

        def pred(ex):
            dim, n = ex
            a, b = brute(dim, n), vs.subs({dsym: dim, derivations.N: n})
            return sp.simplify(a - b) == 0, f"d={dim}, N={n}: brute force {a} vs symbolic-d {b}"

        return hypothesis_sweep(st.tuples(st.integers(1, 6), st.integers(1, 200)), pred,
                                8 if ctx.quick else 30, ctx.stream_seed(), "symbolic-d V* vs brute-force Exp(1) moments")

    def _sym(self, ctx):
        return symbolic_zero(self.v_star() - self.v_paper(),
                             "E_τ-minimiser (Gamma-moment expectation, symbolic d, N) vs [EΓΛ²]⁻¹E[Λ²]")

    def _limit(self, ctx, v=None):
        lim = sp.limit(self.v_star() if v is None else v, derivations.N, sp.oo)
        if lim == sp.Rational(1, 3):
            return holds(f"lim_(N→∞) V_ii* = {lim} for every d: with Σ̂ → I on an isotropic test prompt, "
                         "ŷ → ⅓⟨w, x_q⟩ (not covariate-robust)")
        return refuted(f"limit is {lim}", {"limit": str(lim)})

    def _integrate(self, ctx, v=None):
        """Second route at d = 2: E over (λ_1, λ_2) by direct integration against e^{-λ1-λ2}
        (``v``: another symbolic-d formula to compare with, a control)."""
        claimed = self.v_star() if v is None else v
        l1, l2 = sp.symbols("l1 l2", positive=True)
        cases = []
        for n in (1, 3, 10):
            Lam = sp.diag(l1, l2)
            v = sp.Symbol("v")
            V = v * sp.eye(2)
            LV = derivations.global_min()["L(V)"]
            val = traces.evaluate_exact(LV, {"Lambda": Lam, "V": V}, {derivations.N: n})
            ev = sp.integrate(sp.integrate(sp.expand(val) * sp.exp(-l1 - l2), (l1, 0, sp.oo)), (l2, 0, sp.oo))
            vstar = sp.solve(sp.diff(ev, v), v)[0]
            cases.append(({"d": 2, "N": n}, vstar, claimed.subs({dsym: 2, derivations.N: n})))
        return exact_equal(cases, "∫ L(vI) e^{-λ1-λ2} dλ minimised vs symbolic-d V*")

    def _mc(self, ctx, v=None):
        """Stationarity of the population loss at the claimed V* = v·I along V = vI:
        E[Σ_i φ_i(φᵀv* − y_q)] = 0 with φ_i = h_i x_{q,i}, over prompts with fresh Λ_τ; one z-test.

        w and x_q are integrated out given the prompt (Rao-Blackwell): with S = XᵀX/N,
        E[φ_i(v Σ_j φ_j − y_q) | X, Λ] = λ_i (v (S²)_ii − S_ii), because E[h hᵀ | X] = S² and
        E[x_q x_qᵀ] = Λ.  Why: the raw products (λ³ times eight Gaussian factors) are so
        heavy-tailed that the z-test over-alarmed (32/200 seeds at α = 0.05 in the calibration run).
        Control variates in λ (exact Exp(1) moments, mean 0) take out part of the rest of the
        variance, and summing over the d coordinates (equal means by the symmetry of iid λ) the
        rest: one coordinate at a time with Bonferroni resolved V* only to 5.5–7.3 % at 2×10⁵ samples,
        coarser than the 4 % to resolve.  ``v``: another closed form to test (a control).
        """
        dim, n = 3, 5
        v = float((self.v_star() if v is None else v).subs({dsym: dim, derivations.N: n}))
        total = _mc_n(ctx, 200_000, 2_000_000)

        def sample(r, k):
            lamb = r.exponential(size=(k, 1, dim))
            X = r.standard_normal((k, n, dim)) * np.sqrt(lamb)
            S = np.einsum("kni,knj->kij", X, X) / n
            s2_diag = np.einsum("kij,kij->ki", S, S)  # (S²)_ii, S symmetric
            lam_ = lamb[:, 0, :]
            rest = lam_.sum(axis=1, keepdims=True) - lam_
            # control variates with mean exactly 0 by the Exp(1) moments alone (E λ² = 2, E λ³ = 6,
            # independence); the weights only change the variance, never the mean
            cv = (v * (1 + 2 / n) * (lam_ ** 3 - 6) + (v / n) * (lam_ ** 2 * rest - 2 * (dim - 1))
                  - (lam_ ** 2 - 2))
            return np.sum(lam_ * (v * s2_diag - np.diagonal(S, axis1=1, axis2=2)) - cv, axis=1)

        est = mc.estimate(sample, total, ctx.seed_sequence("monte-carlo"))
        z, thr, ok = mc.z_check(est, 0.0, ctx.alpha)
        # resolution in V*: a relative error δ in v moves the mean by δ·v·d·κ, κ = E[λ_i (S²)_ii] =
        # E[λ_i² γ(λ_i)] = (1 + 1/N)·E λ³ + E[λ_i² tr Λ]/N (iid Exp(1) moments)
        kappa = float((1 + sp.Rational(1, n)) * _exp_moment(3) + _iid_expect_term(None, 2, 1).subs(dsym, dim) / n)
        res = resolution(est.se, v * dim * kappa, ctx.alpha)
        text = (f"E[Σ_i φ_i(φᵀv* − y_q)] = {est.mean:.4g} ± {est.se:.2g} (n={est.n}), z = {z:+.2f} "
                f"(|z| ≤ {thr:.2f} at α = {ctx.alpha:g}), d={dim}, N={n}, v*={v:.6g}; {resolution_text(res)} in V*")
        details = dict(p_value=two_sided_p(z), alpha=ctx.alpha, z=z, threshold=thr, estimate=est.to_json())
        if not ok:
            out = refuted(text,
                          {"d": dim, "N": n, "v_star": v, "estimate": est.mean, "se": est.se, "z": z}, **details)
        elif res["relative"] > _V_EFFECT:
            out = too_coarse(text, res, _V_EFFECT, **details)
        else:
            out = holds(text, **details)
        out.resolution = res
        return out


#: the relative error in V* the estimating equation must resolve: N/(3N + d + 4) for the true
#: N/(3N + d + 5) (an off-by-one) is 4.5 % away at d = 3, N = 5
_V_EFFECT = 0.04


def _diag_term(term, v):
    """For Λ = diag(λ) and diagonal V: a term c·tr(Λ)^m·tr(word) → (a, b, m, c) with
    tr(word) = Σ_i λ_i^a v_i^b.  Only tr(Λ) may appear outside the carrying trace."""
    coef = sp.Integer(1)
    a = b = m = 0
    carrier = None
    for base, ex in term.as_powers_dict().items():
        inf = traces.info(base) if isinstance(base, sp.Symbol) else None
        if inf is None:
            coef *= base ** ex
            continue
        names = [l.name for l in inf.word]
        if names == ["Lambda"]:
            m += int(ex)
            continue
        if carrier is not None or ex != 1:
            raise NotImplementedError(f"unsupported term {term}")
        carrier = inf
        a = sum(nm == "Lambda" for nm in names)
        b = sum(nm == "V" for nm in names)
    return a, b, m, coef
