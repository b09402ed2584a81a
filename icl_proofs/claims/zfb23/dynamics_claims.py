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
from ..checks import exact_equal, holds, hypothesis_sweep, inconclusive, refuted, symbolic_zero
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
        sub = {a: traces.eval_atom(a, env, dim) for a in traces.trace_atoms(expr)}
        sub.update({traces.d: dim, D.N: n})
        return sp.expand(expr.xreplace(sub))

    GU = sp.zeros(dim, dim)
    for w, c in l["dL/dU"].terms.items():
        m = sp.eye(dim)
        for letter in w:
            if not letter.is_identity:
                mm = env[letter.name]
                m = m * (mm.T if letter.t else mm)
        GU += concrete(c) * m
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
            Check("flow-converges-below-bound", "ode", self._below),
            Check("flow-above-bound", "ode", self._above),
            Check("train-plain-lsa", "training", self._train),
        ]

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

    def _run(self, Lam, n, sigma, rng):
        loss, grad = derived_flow(Lam, n)
        U0, u0 = gradflow.paper_init(Lam.shape[0], sigma, rng=rng)
        res = gradflow.integrate_flow(grad, gradflow.pack(U0, u0), 1e4, loss=loss, tol_grad=1e-11,
                                      invariants={"balancedness": gradflow.balancedness(Lam.shape[0])})
        U, u = gradflow.unpack(res.x_final, Lam.shape[0])
        Ustar, ustar = gradflow.zfb23_optimum(Lam, n)
        err = max(float(np.linalg.norm(U - Ustar) / np.linalg.norm(Ustar)), abs(u - ustar) / abs(ustar))
        return res, err

    def _below(self, ctx):
        rng = _cases_rng(ctx, 82)
        rows = []
        for dim in _sizes(ctx, (2, 3), (1, 2, 3, 5)):
            Lam = Z.to_np(Z.random_spd(rng, dim, 20))
            n = int(rng.integers(2, 30))
            sigma = 0.5 * gradflow.sigma_bound(Lam, n)
            res, err = self._run(Lam, n, sigma, rng)
            drift = res.invariant_drift["balancedness"]
            rows.append({"d": dim, "N": n, "sigma": sigma, "rel_err": err, "balancedness_drift": drift,
                         "rate": res.rate_state})
            if not (err < 1e-6 and drift < 1e-8 and res.converged):
                return refuted("flow-converges-below-bound", "ode",
                               f"d={dim}, N={n}: end point off by {err:.3g}, drift {drift:.2g}",
                               {"Lambda": Lam, "N": n, "sigma": sigma, "rel_err": err, "drift": drift})
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
                res, err = self._run(Lam, n, sigma, rng)
                rows.append({"d": dim, "k": k, "rel_err": err, "converged": bool(res.converged and err < 1e-6)})
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
        φ_i = h_i x_{q,i}, over prompts with fresh Λ_τ; one z-test per coordinate (Bonferroni)."""
        dim, n = 3, 5
        v = float(self.v_star().subs({dsym: dim, D.N: n}))
        rng_seed = [ctx.seed, 91]
        total = _mc_n(ctx, 200_000, 2_000_000)
        zs = []
        for i in range(dim):
            def sample(r, k, i=i):
                lamb = r.exponential(size=(k, 1, dim))
                X = r.standard_normal((k, n, dim)) * np.sqrt(lamb)
                xq = r.standard_normal((k, dim)) * np.sqrt(lamb[:, 0, :])
                w = r.standard_normal((k, dim))
                y = np.einsum("knd,kd->kn", X, w)
                h = np.einsum("kn,knd->kd", y, X) / n
                phi = h * xq
                yq = np.einsum("kd,kd->k", xq, w)
                return phi[:, i] * (phi.sum(axis=1) * v - yq)

            est = mc.estimate(sample, total, rng_seed + [i])
            z, thr, ok = mc.z_check(est, 0.0, ctx.alpha / dim)
            zs.append(z)
            if not ok:
                return refuted("estimating-equation-monte-carlo", "monte-carlo",
                               f"coordinate {i}: E[φ_i(φᵀv* − y)] = {est.mean:.4g} ± {est.se:.2g}, z = {z:.2f}",
                               {"d": dim, "N": n, "v_star": v, "z": z})
        return holds("estimating-equation-monte-carlo", "monte-carlo",
                     f"E[φ(φᵀv* − y_q)] = 0 per coordinate, z = {', '.join(f'{z:+.2f}' for z in zs)} "
                     f"(|z| ≤ {thr:.2f}, α = {ctx.alpha:g} Bonferroni over {dim}), d=3, N=5", z=zs)


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
