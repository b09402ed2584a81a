"""zfb23 claims about training dynamics (Theorem 4.1's gradient flow) and random covariances
(Theorem 4.5)."""
from __future__ import annotations


import numpy as np
import sympy as sp

from ...moments import traces
from ...moments.traces import d as dsym
from ...numeric import gradflow
from ...numeric import montecarlo as mc
from ..base import Check, Param
from ..checks import bonferroni_p, exact_equal, holds, hypothesis_sweep, inconclusive, refuted, symbolic_zero
from ..registry import register
from . import derive as D
from . import numeric as Z
from . import paper
from .claims import P_LAMBDA, P_N, Zfb23Claim, _cases_rng, _mc_n, _sizes


def derived_flow(Lam: np.ndarray, n: int):
    """(loss, grad) on packed x = (vec U, u) from the *derived* L(U, u) (not the paper's formula),
    compiled once with SymPy's lambdify for this Λ and N."""
    l = D.losses()
    dim = Lam.shape[0]
    Us = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"U_{i}_{j}"))
    Lm = sp.Matrix(Lam.tolist())
    env = {"Lambda": Lm, "U": Us}

    def concrete(expr):
        return sp.expand(traces.substitute(expr, env, {D.N: n}))

    GU = l["dL/dU"].evaluate(env, coef=concrete)
    args = [D.u] + list(Us)
    f_loss = sp.lambdify(args, concrete(l["L_reduced"]), "numpy")
    f_grad = sp.lambdify(args, list(GU.applyfunc(sp.expand)) + [concrete(l["dL/du"])], "numpy")

    def loss(x):
        U, u = gradflow.unpack(x, dim)
        return float(f_loss(u, *U.ravel()))

    def grad(x):
        U, u = gradflow.unpack(x, dim)
        return np.array(f_grad(u, *U.ravel()), dtype=float)

    return loss, grad


@register
class GradientFlow(Zfb23Claim):
    id = "zfb23.gradient-flow"
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
        Gi = Z.preconditioner(Lam, n)
        t = (Gi * Gi).trace()
        with __import__("mpmath").workdps(dps):
            import mpmath

            tm = Z.mp_value(t, dps)
            fac = mpmath.power(tm, mpmath.mpf(-1) / 4)
            return {"U_star": Z.mp_matrix(Gi, dps) * fac, "u_star": mpmath.power(tm, mpmath.mpf(1) / 4),
                    "sigma_bound": mpmath.sqrt(2 / (_op_norm_mp(Z.gamma_matrix(Lam, n), dps)
                                                    * mpmath.sqrt(Lam.shape[0])))}

    def checks(self):
        return [
            Check("derived-vs-printed-gradient", "numeric", self._grad_agree),
            Check("derived-loss-and-gradient", "symbolic", self._grad_of_loss),
            Check("flow-converges-below-bound", "ode", self._below),
            Check("flow-above-bound", "ode", self._above),
            Check("train-plain-lsa", "training", self._train),
            Check("flow-hypothesis", "hypothesis", self._hypothesis),
        ]

    def _hypothesis(self, ctx):
        """Hypothesis over d = 1..6, SPD Λ up to condition 10³ (λ_max in [0.1, 10]), N and Θ: the flow
        of the derived gradient from the paper's initialisation (σ = bound/2) ends at the minimum
        (a stationary point with loss gap ≤ 1e-9·trΛ); refuted only by a stationary end point above
        the minimum."""
        from hypothesis import strategies as st

        from ...strategies import spd_matrices

        # Λ rescaled so that λ_max ∈ [0.1, 10] (with condition ≤ 10³, λ_min ≥ 10⁻⁴): the flow's
        # slowest time constant stays within what a double-precision gradient can resolve
        strat = st.tuples(spd_matrices(min_d=1, max_d=6, max_condition=1e3), st.floats(0.1, 10.0),
                          st.integers(1, 100), st.integers(0, 2**31 - 1))

        undecided = []

        def pred(ex):
            Lam, top, n, seed = ex
            Lam = Lam * (top / float(np.linalg.eigvalsh(Lam)[-1]))
            sigma = 0.5 * gradflow.sigma_bound(Lam, n)
            res, err, gap = self._run(Lam, n, sigma, np.random.default_rng(seed))
            drift = res.invariant_drift["balancedness"]
            verdict = self._verdict(res, gap, Lam)
            if verdict == "inconclusive":
                undecided.append((len(Lam), n))
            # the end point is what this sweep tests; balancedness is tested by
            # flow-converges-below-bound on horizons where the solver's own drift is ~1e-10
            ok = verdict != "refuted"
            return ok, (f"d={len(Lam)}, N={n}, cond={np.linalg.cond(Lam):.3g}: stopped with loss gap {gap:.3g} "
                        f"above min L (end error {err:.3g}), drift {drift:.2g}")

        res = hypothesis_sweep("flow-hypothesis", strat, pred, 3, ctx.seed,  # ODEs at d ≤ 6 are slow
                               "gradient flow from Assumption 3.3 reaches the minimum, d ≤ 6")
        if res.status.value == "holds" and undecided:
            return inconclusive("flow-hypothesis", "hypothesis",
                                f"no counterexample, but {len(undecided)} runs had not reached a stationary point "
                                f"within 100 time constants: {undecided}")
        return res



    def _grad_agree(self, ctx):
        rng = _cases_rng(ctx, 81)
        worst = 0.0
        for dim in (1, 2, 3, 4):
            Lam = Z.to_np(Z.random_spd(rng, dim, 10))
            n = int(rng.integers(1, 20))
            _, g1 = derived_flow(Lam, n)
            _, g2 = gradflow.reduced_zfb23_grad(Lam, n)
            for _ in range(3):
                x = rng.standard_normal(dim * dim + 1)
                a, b = g1(x), g2(x)
                worst = max(worst, float(np.linalg.norm(a - b) / max(1e-300, np.linalg.norm(b))))
        if worst < 1e-12:
            return holds("derived-vs-printed-gradient", "numeric",
                         f"engine-derived ∇L equals the paper's flow field at random points (rel. diff {worst:.1e})")
        return refuted("derived-vs-printed-gradient", "numeric", f"relative difference {worst:.3g}",
                       {"max_relative_difference": worst})

    def _grad_of_loss(self, ctx):
        """The flow's field is the gradient of the loss its verdict is measured in: the engine's
        matrix gradient dL/dU and dL/du against SymPy's componentwise derivatives of the concrete
        derived L(U, u), exactly at random rational SPD Λ (a second route to the Wick gradient)."""
        rng = _cases_rng(ctx, 84)
        l = D.losses()
        for dim in (1, 2):
            Lam = Z.random_spd(rng, dim, 6)
            n = int(rng.integers(2, 9))
            Us = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"U_{i}_{j}"))
            env = {"Lambda": Lam, "U": Us}

            def concrete(expr):
                return sp.expand(traces.substitute(expr, env, {D.N: n}))

            L = concrete(l["L_reduced"])
            GU = l["dL/dU"].evaluate(env, coef=concrete)
            pairs = [(f"dL/dU[{i},{j}]", sp.diff(L, Us[i, j]), GU[i, j]) for i in range(dim) for j in range(dim)]
            pairs.append(("dL/du", sp.diff(L, D.u), concrete(l["dL/du"])))
            for what, by_diff, derived in pairs:
                if sp.expand(by_diff - derived) != 0:
                    return refuted("derived-loss-and-gradient", "symbolic",
                                   f"d={dim}, N={n}: {what} of the derived loss is {sp.expand(by_diff)} but the "
                                   f"derived gradient is {sp.expand(derived)}",
                                   {"Lambda": str(Lam.tolist()), "N": n, "entry": what})
            # the value the flow's verdict (loss gap at the end point) is measured in: at u = 1,
            # U = V* it is the minimum found by the separate pointwise minimisation of L(V)
            Vs = Z.preconditioner(Lam, n)
            at_opt = sp.nsimplify(L.subs({D.u: 1, **{Us[i, j]: Vs[i, j] for i in range(dim) for j in range(dim)}}))
            ml = sp.nsimplify(Z.min_loss(Lam, n))
            if sp.simplify(at_opt - ml) != 0:
                return refuted("derived-loss-and-gradient", "exact-rational",
                               f"d={dim}, N={n}: the flow's loss at u = 1, U = V* is {at_opt} but min L(V) is {ml}",
                               {"Lambda": str(Lam.tolist()), "N": n, "loss_at_V_star": str(at_opt),
                                "min_loss": str(ml)})
        return holds("derived-loss-and-gradient", "symbolic",
                     "the Wick engine's ∇_U L and ∂L/∂u equal SymPy's componentwise derivatives of the concrete "
                     "derived L(U, u), and L(U = V*, u = 1) equals the separately derived min L(V), exactly "
                     "(d = 1, 2, random rational SPD Λ)")

    def _run(self, Lam, n, sigma, rng):
        """Integrate the derived flow from the paper's initialisation.

        Returns (result, relative error of (U, u) against (U_*, u_*), loss gap L_end − L_*).  The
        horizon is 100 time constants of the slowest direction (small eigenvalues of Λ relax on a
        time scale ~1/λ_min²); LSODA steps over it cheaply."""
        loss, grad = derived_flow(Lam, n)
        U0, u0 = gradflow.paper_init(Lam.shape[0], sigma, rng=rng)
        Ustar, ustar = gradflow.zfb23_optimum(Lam, n)
        # slowest relaxation rate near W_*: r = u_*² · min_j γ(λ_j) λ_j².  Stop when the Newton
        # distance ‖∇L‖/r is below 1e-9·‖W_*‖, i.e. the end point is a stationary point to that
        # accuracy even along the flattest direction; integrate up to 100 time constants.
        lam_ = np.linalg.eigvalsh(Lam)
        gam_ = (1 + 1 / n) * lam_ + lam_.sum() / n
        rate = float(ustar ** 2 * np.min(gam_ * lam_ ** 2))
        size = float(np.sqrt(np.sum(Ustar ** 2) + ustar ** 2))
        t_max = float(min(1e16, max(1e4, 100.0 / rate)))
        res = gradflow.integrate_flow(grad, gradflow.pack(U0, u0), t_max, loss=loss, tol_grad=1e-9 * rate * size,
                                      invariants={"balancedness": gradflow.balancedness(Lam.shape[0])})
        U, u = gradflow.unpack(res.x_final, Lam.shape[0])
        err = max(float(np.linalg.norm(U - Ustar) / np.linalg.norm(Ustar)), abs(u - ustar) / abs(ustar))
        gap = loss(res.x_final) - loss(gradflow.pack(Ustar, ustar))
        return res, err, gap

    @staticmethod
    def _verdict(res, gap, Lam):
        """'holds' if the flow reached a stationary point at the global minimum value, 'refuted' if
        it stopped at a stationary point above it, 'inconclusive' if it did not stop in time."""
        if not res.converged:
            return "inconclusive"
        return "refuted" if gap > 1e-9 * max(1.0, float(np.trace(Lam))) else "holds"

    def _below(self, ctx):
        rng = _cases_rng(ctx, 82)
        rows = []
        for dim in _sizes(ctx, (2, 3), (1, 2, 3, 5)):
            Lam = Z.to_np(Z.random_spd(rng, dim, 20))
            n = int(rng.integers(2, 30))
            sigma = 0.5 * gradflow.sigma_bound(Lam, n)
            res, err, gap = self._run(Lam, n, sigma, rng)
            drift = res.invariant_drift["balancedness"]
            rows.append({"d": dim, "N": n, "sigma": sigma, "rel_err": err, "loss_gap": gap,
                         "balancedness_drift": drift, "rate": res.rate_state})
            verdict = self._verdict(res, gap, Lam)
            if verdict != "holds" or drift > _DRIFT_TOL * _state_scale(Lam, n):
                make = refuted if verdict == "refuted" or drift > _DRIFT_TOL * _state_scale(Lam, n) else inconclusive
                args = ({"Lambda": Lam, "N": n, "sigma": sigma, "rel_err": err, "loss_gap": gap, "drift": drift},) \
                    if make is refuted else ()
                return make("flow-converges-below-bound", "ode",
                            f"d={dim}, N={n}: verdict {verdict}, end point off by {err:.3g}, loss gap {gap:.3g}, "
                            f"drift {drift:.2g}", *args)
        return holds("flow-converges-below-bound", "ode",
                     "σ = bound/2: converged to (U_*, u_*) to ≤ %.1e, balancedness drift ≤ %.1e, linear rate %s"
                     % (max(r["rel_err"] for r in rows), max(r["balancedness_drift"] for r in rows),
                        ", ".join(f"{r['rate']:.3g}" for r in rows)), runs=rows)

    def _above(self, ctx):
        """The condition is sufficient only: above it the theorem says nothing.  Report what happens."""
        rng = _cases_rng(ctx, 83)
        rows = []
        for dim in (2, 3):
            Lam = Z.to_np(Z.random_spd(rng, dim, 20))
            n = 10
            for k in _sizes(ctx, (5.0,), (2.0, 5.0, 20.0)):
                sigma = k * gradflow.sigma_bound(Lam, n)
                res, err, gap = self._run(Lam, n, sigma, rng)
                rows.append({"d": dim, "k": k, "rel_err": err, "loss_gap": gap,
                             "converged": self._verdict(res, gap, Lam) == "holds"})
        conv = sum(r["converged"] for r in rows)
        return holds("flow-above-bound", "ode",
                     f"not covered by the theorem; observed: {conv}/{len(rows)} runs with σ = k·bound "
                     f"(k ∈ {sorted({r['k'] for r in rows})}) still converge to W_* — the condition is "
                     f"sufficient, not necessary", runs=rows)

    def _train(self, ctx):
        from ...models import training

        Lam = np.diag([1.0, 2.0])
        n = 10
        seeds = _sizes(ctx, (ctx.seed,), tuple(ctx.seed + i for i in range(5)))
        errs = []
        for s in seeds:
            res = training.train_lsa(Lam, n, seed=s, init="paper")
            errs.append(res.summary())
        worst = max(e["rel_err_P"] for e in errs)
        # tolerance: 30-seed mean 0.56 %, sd 0.15 % of this configuration (helper measurement);
        # 3 % is > 15 sd away, a fixed margin for "lands on the closed form", not a statistical test
        if worst < 0.03 and max(e["norm_w21"] for e in errs) < 0.03:
            return holds("train-plain-lsa", "training",
                         "Adam on fresh prompts, all blocks trained, paper init: ‖uU − Γ⁻¹‖/‖Γ⁻¹‖ = "
                         + ", ".join(f"{e['rel_err_P']:.2%}" for e in errs) + " (< 3 %)", runs=errs)
        return inconclusive("train-plain-lsa", "training", f"relative error {worst:.2%} ≥ 3 %", runs=errs)


#: balancedness u² − ‖U‖_F² is conserved exactly by the flow; the solver (rtol 1e-10 over long
#: horizons) conserves it to ~1e-8 relative.  A real violation is O(1) relative to ‖(U_*, u_*)‖².
_DRIFT_TOL = 1e-6


def _state_scale(Lam, n) -> float:
    Ustar, ustar = gradflow.zfb23_optimum(Lam, n)
    return float(np.sum(Ustar ** 2) + ustar ** 2)


def _op_norm_mp(M, dps):
    import mpmath

    with mpmath.workdps(dps + 10):
        ev, _ = mpmath.eigsy(Z.mp_matrix(M, dps + 10))
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
        LV = D.global_min()["L(V)"]
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
        den = (1 + 1 / D.N) * _exp_moment(3) + _iid_expect_term(None, 2, 1) / D.N
        return sp.factor(num / den)

    def quantities(self, values, dps=30):
        v = self.v_star().subs({dsym: values["d"], D.N: values["N"]})
        return {"preconditioner_diag": [Z.mp_value(v, dps)] * int(values["d"])}

    def checks(self):
        return [
            Check("minimiser-vs-paper-symbolic", "symbolic", self._sym),
            Check("limit-one-third", "symbolic", self._limit),
            Check("exact-integration-d2", "exact-rational", self._integrate),
            Check("estimating-equation-monte-carlo", "monte-carlo", self._mc),
            Check("finite-d-hypothesis", "hypothesis", self._hypothesis),
        ]

    def _hypothesis(self, ctx):
        """Hypothesis over d = 1..6 and N: the symbolic-d minimiser agrees with a direct exact
        expectation at that d (iid Exp(1) moments expanded by brute force over the multinomial
        terms of p_1^m, no Gamma-sum shortcut)."""
        from hypothesis import strategies as st

        LV = D.global_min()["L(V)"]
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
            ell = sp.expand(ell.subs(D.N, n))
            return sp.solve(sp.diff(ell, v), v)[0]

        vs = self.v_star()

        def pred(ex):
            dim, n = ex
            a, b = brute(dim, n), vs.subs({dsym: dim, D.N: n})
            return sp.simplify(a - b) == 0, f"d={dim}, N={n}: brute force {a} vs symbolic-d {b}"

        return hypothesis_sweep("finite-d-hypothesis", st.tuples(st.integers(1, 6), st.integers(1, 200)), pred,
                                8 if ctx.quick else 30, ctx.seed, "symbolic-d V* vs brute-force Exp(1) moments")

    def _sym(self, ctx):
        return symbolic_zero("minimiser-vs-paper-symbolic", self.v_star() - self.v_paper(),
                             "E_τ-minimiser (Gamma-moment expectation, symbolic d, N) vs [EΓΛ²]⁻¹E[Λ²]")

    def _limit(self, ctx):
        lim = sp.limit(self.v_star(), D.N, sp.oo)
        if lim == sp.Rational(1, 3):
            return holds("limit-one-third", "symbolic",
                         f"lim_(N→∞) V_ii* = {lim} for every d: with Σ̂ → I on an isotropic test prompt, "
                         "ŷ → ⅓⟨w, x_q⟩ (not covariate-robust)")
        return refuted("limit-one-third", "symbolic", f"limit is {lim}", {"limit": str(lim)})

    def _integrate(self, ctx):
        """Second route at d = 2: E over (λ_1, λ_2) by direct integration against e^{-λ1-λ2}."""
        l1, l2 = sp.symbols("l1 l2", positive=True)
        cases = []
        for n in (1, 3, 10):
            Lam = sp.diag(l1, l2)
            v = sp.Symbol("v")
            V = v * sp.eye(2)
            LV = D.global_min()["L(V)"]
            val = traces.evaluate_exact(LV, {"Lambda": Lam, "V": V}, {D.N: n})
            ev = sp.integrate(sp.integrate(sp.expand(val) * sp.exp(-l1 - l2), (l1, 0, sp.oo)), (l2, 0, sp.oo))
            vstar = sp.solve(sp.diff(ev, v), v)[0]
            cases.append(({"d": 2, "N": n}, vstar, self.v_star().subs({dsym: 2, D.N: n})))
        return exact_equal("exact-integration-d2", cases, "∫ L(vI) e^{-λ1-λ2} dλ minimised vs symbolic-d V*")

    def _mc(self, ctx):
        """Stationarity of the population loss at the claimed V*: E[φ(φᵀv* − y_q)] = 0 with
        φ_i = h_i x_{q,i}, over prompts with fresh Λ_τ; one z-test per coordinate (Bonferroni).

        w and x_q are integrated out given the prompt (Rao-Blackwell): with S = XᵀX/N,
        E[φ_i(v Σ_j φ_j − y_q) | X, Λ] = λ_i (v (S²)_ii − S_ii), because E[h hᵀ | X] = S² and
        E[x_q x_qᵀ] = Λ.  Why: the raw products (λ³ times eight Gaussian factors) are so
        heavy-tailed that the z-test over-alarmed (32/200 seeds at α = 0.05 in the calibration run).
        """
        dim, n = 3, 5
        v = float(self.v_star().subs({dsym: dim, D.N: n}))
        rng_seed = [ctx.seed, 92]
        total = _mc_n(ctx, 200_000, 2_000_000)
        zs = []
        for i in range(dim):
            def sample(r, k, i=i):
                lamb = r.exponential(size=(k, 1, dim))
                X = r.standard_normal((k, n, dim)) * np.sqrt(lamb)
                S = np.einsum("kni,knj->kij", X, X) / n
                s2_ii = np.einsum("kj,kj->k", S[:, i, :], S[:, i, :])  # (S²)_ii, S symmetric
                return lamb[:, 0, i] * (v * s2_ii - S[:, i, i])

            est = mc.estimate(sample, total, rng_seed + [i])
            z, thr, ok = mc.z_check(est, 0.0, ctx.alpha / dim)
            zs.append(z)
            if not ok:
                # check-level p-value over the dim tests (valid when returning at the first failure):
                # refuted at α iff p_value ≤ α; alpha is the check's α, not the split α/dim
                return refuted("estimating-equation-monte-carlo", "monte-carlo",
                               f"coordinate {i}: E[φ_i(φᵀv* − y)] = {est.mean:.4g} ± {est.se:.2g}, z = {z:.2f}",
                               {"d": dim, "N": n, "v_star": v, "z": z},
                               p_value=bonferroni_p(zs, dim), alpha=ctx.alpha, z=z, zs=zs, bonferroni_m=dim)
        return holds("estimating-equation-monte-carlo", "monte-carlo",
                     f"E[φ(φᵀv* − y_q)] = 0 per coordinate, z = {', '.join(f'{z:+.2f}' for z in zs)} "
                     f"(|z| ≤ {thr:.2f}, α = {ctx.alpha:g} Bonferroni over {dim}), d=3, N=5",
                     p_value=bonferroni_p(zs, dim), alpha=ctx.alpha, z=max(zs, key=abs), zs=zs, bonferroni_m=dim)


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
