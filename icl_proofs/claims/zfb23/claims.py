"""The zfb23 claims (Zhang, Frei & Bartlett, arXiv 2306.09927): registration and checks."""
from __future__ import annotations


import numpy as np
import sympy as sp

from ...moments import elementwise as ew
from ...moments import traces
from ...moments.spectral import TrF, lam, matrix_function, spectral_normal_form
from ...moments.traces import d as dsym
from ...numeric import montecarlo as mc
from ...models import samplers
from ...numeric.precision import digits_agreed
from ...moments.wick import MatrixPoly
from ..base import Check, Claim, Control, Param, UserInputError
from ..checks import (exact_equal, holds, hypothesis_sweep, inconclusive, matrix_zero, mc_check, refuted,
                      symbolic_zero)
from ..registry import register
from . import derive as derivations
from . import numeric
from . import paper

PAPER = "Zhang, Frei & Bartlett 2023, Trained Transformers Learn Linear Models In-Context (arXiv 2306.09927)"

P_LAMBDA = Param("Lambda", "spd", "covariance Λ of the covariates (symmetric positive definite)")
P_N = Param("N", "int", "training prompt length N", minimum=1, maximum=10**9)
P_M = Param("M", "int", "test prompt length M", minimum=1, maximum=10**9)


class Zfb23Claim(Claim):
    paper = PAPER

    def validate(self, values: dict):
        shapes = {k: v.shape for k, v in values.items() if hasattr(v, "shape")}
        if len({s for s in shapes.values()}) > 1:
            raise UserInputError("matrix parameters must have the same size, got "
                                 + ", ".join(f"{k} {s[0]}x{s[1]}" for k, s in shapes.items()))
        return values


#: the relative error every zfb23 Monte-Carlo check of a closed form must resolve (at its α, power
#: 0.9) before it may say "holds": a closed form off by 5 % is a different closed form.  The slips
#: the checks' controls inject (1/(N+1) for 1/N at the N used, a dropped trace term, a flipped sign,
#: Aᵀ read as A) move these expectations by 2.4 %–10×; a check states its own resolution in every
#: verdict, and the controls show which slips it tells apart.
MC_EFFECT = 0.05


def _sizes(ctx, quick_sizes, full_sizes):
    return quick_sizes if ctx.quick else full_sizes


def _mp_matrix_json(M, dps):
    return numeric.mp_matrix(M, dps)


def _mc_n(ctx, quick, full):
    return quick if ctx.quick else full


# ============================================================================================
@register
class GaussianMoments(Zfb23Claim):
    id = "zfb23.gaussian-moments"
    source = "Lemma (Gaussian fourth moment) and the definition of Γ, Sec. 5"
    title = "Gaussian and Wishart moments; Γ"
    statement = ("For x ~ N(0,Λ): E[x xᵀ A x xᵀ] = Λ(A+Aᵀ)Λ + tr(AΛ)Λ; E[Σ̂AΣ̂] = ΛAΛ + (ΛAᵀΛ + "
                 "tr(AΛ)Λ)/N; E[Σ̂²] = ΓΛ with Γ = (1+1/N)Λ + (tr Λ/N) I.")
    statement_latex = (r"For $x\sim N(0,\Lambda)$: $E[xx^\top A xx^\top]=\Lambda(A+A^\top)\Lambda+"
                       r"\operatorname{tr}(A\Lambda)\Lambda$, $E[\hat\Sigma A\hat\Sigma]=\Lambda A\Lambda+"
                       r"\frac1N(\Lambda A^\top\Lambda+\operatorname{tr}(A\Lambda)\Lambda)$, "
                       r"$E[\hat\Sigma^2]=\Gamma\Lambda$, $\Gamma=(1+\frac1N)\Lambda+\frac{\operatorname{tr}\Lambda}{N}I$.")
    params = (P_LAMBDA, P_N)

    def derive(self):
        m = derivations.gaussian_moments()
        return {
            "E[x x' A x x']": m["E[x x' A x x']"].to_matrix_expr(),
            "E[Sigma_hat A Sigma_hat]": m["E[Sigma_hat A Sigma_hat]"].to_matrix_expr(),
            "E[Sigma_hat^2]": m["E[Sigma_hat^2]"].to_matrix_expr(),
            "Gamma (as function of lambda)": derivations.to_trf(m["gamma"]),
        }

    def quantities(self, values, dps=30):
        G = numeric.gamma_matrix(values["Lambda"], values["N"])
        return {"Gamma": numeric.mp_matrix(G, dps)}

    controls = {
        "gamma-symbolic": (Control.negative("derived Γ with 1/(N+1) for 1/N",
                                            mutant="gaussian_moments['gamma'] 1/N→1/(N+1)"),),
        "moments-hypothesis": (Control.negative("derived E[Σ̂²] with 1/(N+1) for 1/N",
                                                mutant="gaussian_moments['E[Sigma_hat^2]'] 1/N→1/(N+1)"),),
    }

    def checks(self):
        sym_a = "Aᵀ read as A (the moments of a symmetric A), the usual slip for a general A"
        return [
            Check("fourth-moment-symbolic", "symbolic", self._sym_fourth, controls=(
                Control.negative("printed Λ(A + Aᵀ)Λ with " + sym_a,
                                 lambda ctx: self._sym_fourth(ctx, printed=_symmetric_a_fourth())),)),
            Check("wishart-symbolic", "symbolic", self._sym_wishart, controls=(
                Control.negative("printed ΛAᵀΛ/N with " + sym_a,
                                 lambda ctx: self._sym_wishart(ctx, printed=_symmetric_a_wishart())),)),
            Check("gamma-symbolic", "symbolic", self._sym_gamma),
            Check("moments-vs-mgf-engine", "exact-rational", self._exact, controls=(
                Control.negative("both moments with " + sym_a, lambda ctx: self._exact(
                    ctx, fourth=_symmetric_a_fourth(), wishart=_symmetric_a_wishart())),)),
            Check("moments-hypothesis", "hypothesis", self._hypothesis),
            Check("wishart-monte-carlo", "monte-carlo", self._mc, controls=(
                Control.negative("E[Σ̂AΣ̂] with " + sym_a, lambda ctx: self._mc(ctx, wishart=_symmetric_a_wishart())),)),
        ]

    def _sym_fourth(self, ctx, printed=None):
        printed = paper.fourth_moment() if printed is None else printed
        return matrix_zero(derivations.gaussian_moments()["E[x x' A x x']"] - printed,
                           "Wick engine E[xxᵀAxxᵀ] vs paper, symbolic d")

    def _sym_wishart(self, ctx, printed=None):
        printed = paper.wishart_second() if printed is None else printed
        return matrix_zero(derivations.gaussian_moments()["E[Sigma_hat A Sigma_hat]"] - printed,
                           "Wick engine + set partitions E[Σ̂AΣ̂] vs paper, symbolic d and N")

    def _sym_gamma(self, ctx):
        return symbolic_zero(derivations.to_trf(derivations.gaussian_moments()["gamma"]) - paper.gamma(),
                             "Γ := E[Σ̂²]Λ⁻¹ derived vs paper's Γ")

    def _exact(self, ctx, fourth=None, wishart=None):
        """Second route: MGF-coefficient engine (no pairing enumeration) at concrete d, N.
        ``fourth``, ``wishart``: other formulas to test in place of the derived ones (controls)."""
        rng = ctx.rng()
        cases = []
        m = dict(derivations.gaussian_moments())
        m["E[x x' A x x']"] = m["E[x x' A x x']"] if fourth is None else fourth
        m["E[Sigma_hat A Sigma_hat]"] = m["E[Sigma_hat A Sigma_hat]"] if wishart is None else wishart
        for dim, n in _sizes(ctx, [(1, 2), (2, 2), (3, 1)], [(1, 3), (2, 2), (2, 3), (3, 2)]):
            Lam = numeric.random_spd(rng, dim, 5)
            A = numeric.random_rational_matrix(rng, dim)
            x = ew.GaussianVector("x", Lam)
            lhs = ew.expect_matrix(x.vec * x.vec.T * A * x.vec * x.vec.T, [x])
            rhs = m["E[x x' A x x']"].evaluate({"Lambda": Lam, "A": A})
            cases.append(({"what": "E[xx'Axx']", "d": dim, "Lambda": Lam, "A": A}, lhs, rhs))
            xs = ew.iid_vectors("s", Lam, n)
            S = ew.empirical_cov(xs)
            lhs = ew.expect_matrix(S * A * S, xs)
            rhs = m["E[Sigma_hat A Sigma_hat]"].evaluate({"Lambda": Lam, "A": A}, {derivations.N: n})
            cases.append(({"what": "E[SAS]", "d": dim, "N": n, "Lambda": Lam, "A": A}, lhs, rhs))
        return exact_equal([(p, sp.Matrix(l), sp.Matrix(r)) for p, l, r in cases],
                           "MGF-coefficient engine vs derived moments")

    def _hypothesis(self, ctx):
        """Hypothesis over d = 1..6 and exact SPD Λ (condition up to 10⁶): the derived E[Σ̂²]
        agrees with ΓΛ for the paper's Γ, entry by entry in exact arithmetic, and the fourth
        moment's trace against a random probe agrees with the MGF engine (d ≤ 4)."""
        from hypothesis import strategies as st

        from ...strategies import spd_matrices

        m = derivations.gaussian_moments()
        strat = st.tuples(spd_matrices(min_d=1, max_d=6, max_condition=1e6, exact=True),
                          st.integers(1, 50))

        def pred(ex):
            Lam, n = ex
            Lam = sp.Matrix(Lam)
            lhs = m["E[Sigma_hat^2]"].evaluate({"Lambda": Lam}, {derivations.N: n})
            G = matrix_function(paper.gamma().subs(derivations.N, n), Lam)
            ok = sp.simplify(lhs - G * Lam) == sp.zeros(*Lam.shape)
            if ok and Lam.shape[0] <= 3:
                A = sp.Matrix(Lam.shape[0], Lam.shape[0], lambda i, j: (i + 2 * j) % 3 - 1)
                x = ew.GaussianVector("x", Lam)
                e1 = ew.expect((x.vec.T * A * x.vec * x.vec.T * A.T * x.vec)[0, 0], [x])
                e2 = traces.evaluate_exact(_trace_probe(), {"Lambda": Lam, "A": A})
                ok = sp.simplify(e1 - e2) == 0
            return ok, f"d={Lam.shape[0]}, N={n}, Lambda={Lam.tolist()}"

        return hypothesis_sweep(strat, pred, 8 if ctx.quick else 40, ctx.stream_seed(),
                                "E[Σ̂²] = ΓΛ and fourth moment, random d ≤ 6, ill-conditioned Λ")

    def _mc(self, ctx, wishart=None):
        """E tr(BΣ̂AΣ̂) by simulation vs the derived E[Σ̂AΣ̂] (``wishart``: another formula, a control).
        Reading Aᵀ as A moves this probe by 51 %."""
        rng_seed = ctx.seed_sequence("monte-carlo")
        Lam = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]])
        A = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [0.5, 0.0, 1.0]])
        # the probe B weighs the antisymmetric part of ΛAΛ, where ΛAᵀΛ and ΛAΛ differ (a symmetric
        # probe cannot see a transposed A at all)
        B = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 2.0], [0.0, -1.0, 0.0]])
        n = 4

        def sample(rng, k):
            S = samplers.sample_empirical_cov(rng, Lam, n, k)
            return np.einsum("ij,bjk,kl,bli->b", B, S, A, S)

        est = mc.estimate(sample, _mc_n(ctx, 200_000, 2_000_000), rng_seed)
        formula = derivations.gaussian_moments()["E[Sigma_hat A Sigma_hat]"] if wishart is None else wishart
        exact = formula.evaluate(
            {"Lambda": sp.Matrix(Lam).applyfunc(sp.nsimplify), "A": sp.Matrix(A).applyfunc(sp.nsimplify)},
            {derivations.N: n})
        exact_val = float((sp.Matrix(B).applyfunc(sp.nsimplify) * exact).trace())
        return mc_check(est, exact_val, ctx.alpha,
                        {"Lambda": Lam, "A": A, "probe B": B, "N": n}, "E tr(BΣ̂AΣ̂), d=3, N=4", effect=MC_EFFECT)


def _symmetric_a_fourth():
    """A wrong fourth moment: Λ(A + A)Λ + tr(AΛ)Λ (true only for symmetric A)."""
    from .paper import A as LA, L as LL, t

    return MatrixPoly({(LL, LA, LL): 2, (LL,): t((LA, LL))})


def _symmetric_a_wishart():
    """A wrong E[Σ̂AΣ̂]: ΛAΛ + (ΛAΛ + tr(AΛ)Λ)/N (true only for symmetric A)."""
    from .paper import A as LA, L as LL, t

    return MatrixPoly({(LL, LA, LL): 1 + 1 / derivations.N, (LL,): t((LA, LL)) / derivations.N})


def _trace_probe():
    """E[(xᵀAx)(xᵀAᵀx)] by the Wick engine (symbolic d), to compare with the MGF engine."""
    from ...moments.wick import expect, gaussian, matrix

    x = gaussian("x", cov="Lambda")
    A = matrix("A")
    return expect((x.T @ A @ x) * (x.T @ A.T @ x))


# ============================================================================================
@register
class ReducedLoss(Zfb23Claim):
    id = "zfb23.reduced-loss"
    source = "Lemma 5.1 / Lemma 5.2 (reduced loss and invariant set)"
    title = "Reduced loss and gradient flow on the invariant set"
    statement = ("On w12 = 0, W11 = 0, u12 = 0, u21 = 0 (w21 = 0): L = tr[½u²ΓΛUΛUᵀ − uΛ²Uᵀ] + ½trΛ; "
                 "gradient flow keeps the set invariant with dU/dt = −u²ΓΛUΛ + uΛ², "
                 "du/dt = −tr[uΓΛUΛUᵀ − Λ²Uᵀ].")
    statement_latex = (r"On the invariant set, $L=\operatorname{tr}[\tfrac12u^2\Gamma\Lambda U\Lambda U^\top-"
                       r"u\Lambda^2U^\top]+\tfrac12\operatorname{tr}\Lambda$; gradient flow keeps the set invariant.")
    params = (P_LAMBDA, P_N, Param("U", "matrix", "the block U11"), Param("u", "number", "w22"))

    def derive(self):
        l = derivations.losses()
        return {"L(U,u)": l["L_reduced"], "dL/dU": l["dL/dU"].to_matrix_expr(), "dL/du": l["dL/du"],
                "L over all blocks": l["L_full"]}

    def derivation_latex(self):
        l = derivations.losses()
        return [("L(U, u) on the invariant set", traces.to_latex(l["L_reduced"])),
                ("dL/dU =", traces.to_latex(l["dL/dU"].to_matrix_expr())),
                ("dL/du =", traces.to_latex(l["dL/du"])),
                ("L over all blocks (w21, w22, U11, u21)", traces.to_latex(l["L_full"]))]

    def quantities(self, values, dps=30):
        env = {"Lambda": values["Lambda"], "U": values["U"]}
        val = traces.evaluate_exact(derivations.losses()["L_reduced"], env, {derivations.N: values["N"], derivations.u: values["u"]})
        return {"loss": numeric.mp_value(val, dps)}

    controls = {
        "loss-symbolic": (Control.negative("derived L(U, u) with 1/(N+1) for 1/N",
                                           mutant="losses['L_reduced'] 1/N→1/(N+1)"),),
        "gradient-symbolic": (Control.negative("derived ∇_U L with 1/(N+1) for 1/N",
                                               mutant="losses['dL/dU'] 1/N→1/(N+1)"),),
        "invariant-set": (Control.negative("derived full loss with 1/(N+1) for 1/N",
                                           mutant="losses['L_full'] 1/N→1/(N+1)"),),
        "full-loss-vs-mgf-engine": (Control.negative("derived full loss with 1/(N+1) for 1/N",
                                                     mutant="losses['L_full'] 1/N→1/(N+1)"),),
        "full-loss-monte-carlo": (Control.negative("derived full loss without a trace term",
                                                   mutant="losses['L_full'] drop-trace"),),
        "loss-hypothesis": (Control.negative("derived L(U, u) with 1/(N+1) for 1/N",
                                             mutant="losses['L_reduced'] 1/N→1/(N+1)"),),
    }

    def checks(self):
        return [
            Check("loss-symbolic", "symbolic", self._sym_loss),
            Check("gradient-symbolic", "symbolic", self._sym_grad),
            Check("invariant-set", "symbolic", self._invariant),
            Check("unused-blocks", "numpy-forward", self._unused_blocks, controls=(
                Control.negative("w21 (which reaches ŷ) changed along with the unused blocks",
                                 lambda ctx: self._unused_blocks(ctx, shift={"W11": 5.0, "w12": -3.0, "u12": 2.0,
                                                                             "u22": -4.3, "w21": 0.5})),)),
            Check("full-loss-vs-mgf-engine", "exact-rational", self._exact_full),
            Check("full-loss-monte-carlo", "monte-carlo", self._mc_full),
            Check("loss-hypothesis", "hypothesis", self._hypothesis),
        ]

    def _hypothesis(self, ctx):
        """Hypothesis over d = 1..6, SPD Λ up to condition 10⁶, random U, u, N: the engine's L(U,u)
        (evaluated from trace atoms) equals the paper's formula computed in NumPy."""
        from hypothesis import strategies as st

        from ...numeric import gradflow
        from ...strategies import spd_matrices
        from . import flow

        L = derivations.losses()["L_reduced"]
        strat = st.tuples(spd_matrices(min_d=1, max_d=6, max_condition=1e6), st.integers(1, 100),
                          st.integers(0, 2**31 - 1), st.floats(-3, 3))

        def pred(ex):
            Lam, n, seed, u = ex
            U = np.random.default_rng(seed).standard_normal(Lam.shape)
            ours = traces.evaluate_numpy(L, {"Lambda": Lam, "U": U}, {derivations.N: n, derivations.u: u})
            theirs = flow.reduced_zfb23_grad(Lam, n)[0](gradflow.pack(U, u))
            scale = abs(theirs) + np.trace(Lam) + abs(u) ** 2 * np.linalg.norm(Lam) ** 3 * np.linalg.norm(U) ** 2
            return abs(ours - theirs) <= 1e-9 * scale, f"d={len(Lam)}, N={n}, u={u}: {ours} vs {theirs}"

        return hypothesis_sweep(strat, pred, 10 if ctx.quick else 60, ctx.stream_seed(),
                                "engine L(U,u) vs paper formula (NumPy), d ≤ 6, κ ≤ 10⁶")

    def _sym_loss(self, ctx):
        return symbolic_zero(derivations.losses()["L_reduced"] - paper.reduced_loss(),
                             "L(U,u) derived from the data model vs paper, symbolic d, N")

    def _sym_grad(self, ctx):
        l = derivations.losses()
        dU = l["dL/dU"] - paper.reduced_grad_U()
        du = sp.expand(l["dL/du"] - paper.reduced_grad_u())
        if dU.is_zero() and du == 0:
            return holds("∂L/∂U and ∂L/∂u (matrix calculus on the derived L) equal the paper's flow")
        return refuted(f"gradient differs: dU {dU!r}, du {du}",
                       {"dU_difference": repr(dU), "du_difference": str(du)})

    def _invariant(self, ctx):
        """On w21 = u21 = 0 the full loss equals L(U, w22) and its gradients in w21, u21 vanish."""
        Lf = derivations.losses()["L_full"]
        atoms = traces.trace_atoms(Lf)

        def count(atom, name):
            inf = traces.info(atom)
            return (inf.left == name) + (inf.right == name) if inf.kind == "path" else 0

        bad = []
        restricted = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(Lf)):
            cw = sum(count(a, "w21") * e for a, e in term.as_powers_dict().items() if a in atoms)
            cu = sum(count(a, "u21") * e for a, e in term.as_powers_dict().items() if a in atoms)
            if (cw, cu) in ((1, 0), (0, 1)):
                bad.append(str(term))
            if cw == 0 and cu == 0:
                restricted += term
        same = sp.expand(restricted - derivations.losses()["L_reduced"].subs(derivations.u, derivations.w22)) == 0
        if not bad and same:
            return holds("full loss has no term linear in w21 or u21 alone (zero gradient on the set) "
                         "and restricts to L(U, w22)")
        return refuted(f"terms {bad[:3]}; restricts correctly: {same}",
                       {"linear_terms": bad, "restricts": same})

    def _unused_blocks(self, ctx, shift=None):
        """Changing W11, w12, u12 and u22 leaves ŷ = f(E)[d+1, N+1] of the *full* forward pass
        bit-identical (they multiply rows and a zero entry of E that never reach ŷ), and the reduced
        prediction formula agrees with the full pass.  ``shift``: the blocks to change and by how
        much (a control changes w21 too, which does reach ŷ)."""
        from ...models import lsa

        rng = ctx.rng()
        d, n = 3, 5
        X = rng.standard_normal((64, n, d))
        w = rng.standard_normal((64, d))
        E = lsa.embed(X, np.einsum("bnd,bd->bn", X, w), rng.standard_normal((64, d)))
        blocks = {k: rng.standard_normal(s) for k, s in
                  dict(W11=(d, d), w12=(d,), w21=(d,), U11=(d, d), u12=(d,), u21=(d,)).items()}
        blocks.update(w22=0.7, u22=0.3)
        shift = {"W11": 5.0, "w12": -3.0, "u12": 2.0, "u22": -4.3} if shift is None else shift
        moved = {k: v + shift.get(k, 0.0) for k, v in blocks.items()}
        order = ("W11", "w12", "w21", "w22", "U11", "u12", "u21", "u22")
        base = lsa.LSAParams.from_blocks(*(blocks[k] for k in order))
        pert = lsa.LSAParams.from_blocks(*(moved[k] for k in order))
        y0, y1 = lsa.forward(base, E, n)[:, d, n], lsa.forward(pert, E, n)[:, d, n]
        diff = float(np.max(np.abs(y1 - y0)))
        reduced_agrees = bool(np.allclose(lsa.predict(pert, E, n), y1, rtol=1e-12, atol=1e-12))
        names = ", ".join(sorted(shift))
        if diff == 0.0 and reduced_agrees:
            return holds(f"changing {names} leaves ŷ of the full forward pass bit-identical (64 prompts, d=3, N=5); "
                         "the reduced prediction formula agrees with it")
        return refuted(f"changing {names} moves ŷ of the full forward pass by {diff:g}; reduced formula agrees: "
                       f"{reduced_agrees}", {"max_change": diff, "shift": shift, "reduced_agrees": reduced_agrees})

    def _exact_full(self, ctx):
        """Second route for the full loss: build E literally at d = 2, N = 2 from symbol vectors,
        run the LSA formula f(E) = E + W^{PV}E(EᵀW^{KQ}E)/N, and take E[½(ŷ−y)²] by MGF coefficients."""
        rng = ctx.rng()
        cases = []
        for dim, n in _sizes(ctx, [(2, 2)], [(1, 3), (2, 2), (2, 3)]):
            Lam = numeric.random_spd(rng, dim, 4)
            xs = ew.iid_vectors("x", Lam, n)
            xq = ew.GaussianVector("q", Lam)
            w = ew.GaussianVector("w", sp.eye(dim))
            Wpv = numeric.random_rational_matrix(rng, dim + 1)
            Wkq = numeric.random_rational_matrix(rng, dim + 1)
            cols = [sp.Matrix.vstack(x.vec, (w.vec.T * x.vec)) for x in xs]
            cols.append(sp.Matrix.vstack(xq.vec, sp.zeros(1, 1)))
            E = sp.Matrix.hstack(*cols)
            yhat = (Wpv * E * (E.T * Wkq * E))[dim, n] / n
            lhs = ew.expect(sp.Rational(1, 2) * (yhat - (w.vec.T * xq.vec)[0, 0]) ** 2, [*xs, xq, w])
            env = {"Lambda": Lam, "U": Wkq[:dim, :dim], "w21": Wpv[dim, :dim].T, "u21": Wkq[dim, :dim].T}
            rhs = traces.evaluate_exact(derivations.losses()["L_full"], env, {derivations.N: n, derivations.w22: Wpv[dim, dim]})
            cases.append(({"d": dim, "N": n, "Lambda": Lam, "W_PV": Wpv, "W_KQ": Wkq}, lhs, rhs))
        return exact_equal(cases,
                           "literal LSA forward + MGF engine vs derived full loss (all blocks)")

    def _mc_full(self, ctx):
        from ...models import lsa

        rng = ctx.rng()
        d, n = 3, 6
        Lam = np.array([[1.5, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.6]])
        Wpv = 0.3 * rng.standard_normal((d + 1, d + 1))
        Wkq = 0.3 * rng.standard_normal((d + 1, d + 1))
        params = lsa.LSAParams(Wpv, Wkq)

        def sample(r, k):
            return 0.5 * samplers.naive_prediction_error_samples(r, params, Lam, n, k)

        # 4×10⁵ quick: at 2×10⁵ the resolution reached 4.9 % on one of 20 seeds (random blocks set
        # the variance), too close to the 5 % it must resolve
        est = mc.estimate(sample, _mc_n(ctx, 400_000, 2_000_000), ctx.seed_sequence("monte-carlo"))
        env = {"Lambda": Lam, "U": Wkq[:d, :d], "w21": Wpv[d, :d][:, None], "u21": Wkq[d, :d][:, None]}
        exact = traces.evaluate_numpy(derivations.losses()["L_full"], env, {derivations.N: n, derivations.w22: Wpv[d, d]})
        return mc_check(est, exact, ctx.alpha,
                        {"Lambda": Lam, "W_PV": Wpv, "W_KQ": Wkq, "N": n},
                        "naive LSA simulation of ½E(ŷ−y)², random blocks, d=3, N=6", effect=MC_EFFECT)


# ============================================================================================
@register
class GlobalMin(Zfb23Claim):
    id = "zfb23.global-min"
    source = "Theorem 4.1"
    title = "Global minimum of the LSA loss"
    statement = ("On the invariant set every global minimiser has u·U11 = Γ⁻¹; min L = ½tr(Λ − Λ²Γ⁻¹) is "
                 "the global minimum over all LSA blocks; for Λ = I, E(ŷ−y)² = d(d+1)/(N+d+1) at the optimum.")
    statement_latex = (r"On the invariant set every global minimiser has $uU_{11}=\Gamma^{-1}$; "
                       r"$\min L=\tfrac12\operatorname{tr}(\Lambda-\Lambda^2\Gamma^{-1})$ is the global minimum over "
                       r"all LSA blocks; for $\Lambda=I_d$, $E(\hat y-y)^2=\frac{d(d+1)}{N+d+1}$.")
    params = (P_LAMBDA, P_N)

    def derive(self):
        g = derivations.global_min()
        return {"L(V)": g["L(V)"], "minimiser V* = g(Lambda)": g["g_star"], "min L": g["min_loss"]}

    def derivation_latex(self):
        g = derivations.global_min()
        return [("L(V), V = u U11 (derived from the data model)", traces.to_latex(g["L(V)"])),
                ("minimiser V* = g(Lambda), g(lambda) =", traces.to_latex(g["g_star"])),
                ("min L =", traces.to_latex(g["min_loss"]))]

    def quantities(self, values, dps=30):
        Lam, n = values["Lambda"], values["N"]
        ml = numeric.min_loss(Lam, n)
        return {"preconditioner": numeric.mp_matrix(numeric.preconditioner(Lam, n), dps),
                "min_loss": numeric.mp_value(ml, dps), "prediction_error": numeric.mp_value(2 * ml, dps)}

    controls = {
        "minimiser-symbolic": (Control.negative("minimiser g*(λ) with its sign flipped",
                                                mutant="global_min['g_star'] flip-sign"),),
        "min-loss-symbolic": (Control.negative("min L without its trace term", mutant="global_min['min_loss'] drop-trace"),),
        "isotropic-error-symbolic": (Control.negative("min L without its trace term",
                                                      mutant="global_min['min_loss'] drop-trace"),),
        "strict-convexity": (Control.negative("L(V) with 1/(N+1) for 1/N", mutant="global_min['L(V)'] 1/N→1/(N+1)"),),
        "global-over-all-blocks": (Control.negative("even-part loss with 1/(N+1) for 1/N",
                                                    mutant="losses['L_even'] 1/N→1/(N+1)"),),
        "odd-part-vs-V-loss": (Control.negative("L(V) with 1/(N+1) for 1/N", mutant="global_min['L(V)'] 1/N→1/(N+1)"),),
        "minimisers-over-all-blocks": (Control.negative("minimiser g*(λ) with its sign flipped",
                                                        mutant="global_min['g_star'] flip-sign"),),
        "min-loss-mpmath-eigen": (Control.negative("min L without its trace term",
                                                   mutant="global_min['min_loss'] drop-trace"),),
        "random-start-optimisation": (Control.negative("min L without its trace term",
                                                       mutant="global_min['min_loss'] drop-trace"),),
        "stationarity-hypothesis": (Control.negative("L(V) with 1/(N+1) for 1/N",
                                                     mutant="global_min['L(V)'] 1/N→1/(N+1)"),),
        "prediction-error-monte-carlo": (Control.negative("minimiser g*(λ) with its sign flipped",
                                                          mutant="global_min['g_star'] flip-sign"),),
    }

    def checks(self):
        return [
            Check("minimiser-symbolic", "symbolic", self._sym_minimiser),
            Check("min-loss-symbolic", "symbolic", self._sym_min),
            Check("isotropic-error-symbolic", "symbolic", self._sym_iso),
            Check("strict-convexity", "symbolic", self._convexity),
            Check("global-over-all-blocks", "symbolic", self._global_decomposition),
            Check("odd-part-vs-V-loss", "exact-rational", self._odd_part_exact),
            Check("minimisers-over-all-blocks", "exact-rational", self._minimiser_set),
            Check("min-loss-mpmath-eigen", "mpmath", self._mpmath),
            Check("random-start-optimisation", "optimisation", self._optimise, controls=(
                Control.negative("a claimed minimum 1 % below the closed form",
                                 lambda ctx: self._optimise(ctx, claimed_shift=0.01)),)),
            Check("stationarity-hypothesis", "hypothesis", self._hypothesis),
            Check("prediction-error-monte-carlo", "monte-carlo", self._mc),
        ]

    def _sym_minimiser(self, ctx):
        return symbolic_zero(derivations.global_min()["g_star"] - paper.preconditioner(),
                             "pointwise minimiser of the derived L(V) vs Γ⁻¹")

    def _sym_min(self, ctx):
        diff = spectral_normal_form(derivations.global_min()["min_loss"] - paper.min_loss())
        return symbolic_zero(diff, "derived min L vs ½tr(Λ − Λ²Γ⁻¹), symbolic d, N")

    def _sym_iso(self, ctx):
        ml = derivations.global_min()["min_loss"]
        iso = _at_identity(2 * ml)
        return symbolic_zero(sp.simplify(iso - paper.isotropic_error()),
                             "2·min L at Λ = I vs d(d+1)/(N+d+1), symbolic d, N")

    def _convexity(self, ctx):
        """Curvature ∂²ℓ/∂g² of the pointwise loss and the Hessian quadratic form are positive:
        every coefficient of the quadratic part (in eigen-coordinates: Σ_ij κ(λ_i, λ_j) V_ij²) is a
        polynomial in λ_i, λ_j, tr Λ, 1/N with non-negative coefficients and not identically zero."""
        q = derivations.global_min()["quadratic_part"]
        # q = Σ c·tr(Λ^a V Λ^b Vᵀ)·(other traces): in eigen-coordinates Σ_ij c λ_i^a λ_j^b V_ij²
        li, lj = sp.symbols("lambda_i lambda_j", positive=True)
        kappa = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(q)):
            vat = [a for a in traces.trace_atoms(term) if any(l.name == "V" for l in traces.info(a).word)]
            if len(vat) != 1:
                return inconclusive(f"unexpected term {term}")
            w = traces.info(vat[0]).word
            # rotate to V first: V Λ^b Vᵀ Λ^a
            i = next(k for k, l in enumerate(w) if l.name == "V")
            w = w[i:] + w[:i]
            j = next(k for k, l in enumerate(w) if l.name == "V" and k > 0)
            if not (w[j].t != w[0].t):
                return inconclusive(f"term without Vᵀ pairing: {term}")
            b, a = j - 1, len(w) - j - 1
            coef = derivations.to_trf(term / vat[0])
            kappa += coef * li ** a * lj ** b
        t1 = sp.Symbol("t1", positive=True)
        kappa = sp.expand(kappa.subs(TrF(lam), t1) * derivations.N)
        poly = sp.Poly(kappa, li, lj, t1, derivations.N)
        bad = self._quadratic_part_mismatch(ctx, q, kappa, li, lj, t1)
        if bad is not None:
            return refuted(bad[0], bad[1])
        if kappa != 0 and all(c > 0 for c in poly.coeffs()):
            return holds(f"Hessian form Σ κ(λ_i,λ_j)V_ij² with N·κ = {kappa}: all coefficients > 0 (and, "
                         "exactly at rational Λ, V: the form is L(V)'s degree-2 part, (L(V) + L(−V))/2 − L(0), "
                         "and Σ κ V_ij² reproduces it at a diagonal Λ)")
        return refuted(f"κ = {kappa} not positive", {"kappa": str(kappa)})

    @staticmethod
    def _quadratic_part_mismatch(ctx, q, kappa, li, lj, t1):
        """Second route for the convexity certificate, in exact rationals: the quadratic part read off
        the derivation is L(V)'s degree-2 part (L is quadratic in V, so q(V) = (L(V) + L(−V))/2 − L(0)),
        and κ is that form in eigen-coordinates (Σ_ij κ(λ_i, λ_j) V_ij² = q(V) for diagonal Λ)."""
        rng = ctx.rng("quadratic-part")
        LV, n = derivations.global_min()["L(V)"], 3
        V = numeric.random_rational_matrix(rng, 2)
        for Lam in (numeric.random_spd(rng, 2, 6), sp.diag(2, 5)):
            def ev(e, VV, Lam=Lam):
                return traces.evaluate_exact(e, {"Lambda": Lam, "V": VV}, {derivations.N: n})

            route = sp.simplify((ev(LV, V) + ev(LV, -V)) / 2 - ev(LV, sp.zeros(2, 2)))
            got = ev(q, V)
            if sp.simplify(got - route) != 0:
                return (f"the quadratic part {got} ≠ (L(V) + L(−V))/2 − L(0) = {route} at Λ = {Lam.tolist()}, "
                        f"V = {V.tolist()}, N = {n}", {"Lambda": str(Lam.tolist()), "V": str(V.tolist()), "N": n,
                                                        "quadratic_part": str(got), "from_L": str(route)})
        lams = (sp.Integer(2), sp.Integer(5))
        by_kappa = sum(kappa.subs({li: lams[i], lj: lams[j], t1: sum(lams), derivations.N: n}) * V[i, j] ** 2
                       for i in range(2) for j in range(2)) / n
        if sp.simplify(by_kappa - got) != 0:
            return (f"Σ κ(λ_i, λ_j) V_ij² = {by_kappa} but the quadratic part is {got} at Λ = diag(2, 5), "
                    f"V = {V.tolist()}, N = {n}", {"V": str(V.tolist()), "N": n, "by_kappa": str(by_kappa),
                                                   "quadratic_part": str(got)})
        return None

    def _global_decomposition(self, ctx):
        """ŷ = odd(w) + even(w) with odd = wᵀΣ̂Vx_q, V = w22U + w21u21ᵀ; the cross term
        E[(odd − y)·even] vanishes, so L_full = L_odd(V) + ½E[even²] ≥ min_V L(V)."""
        l = derivations.losses()
        cross = sp.expand(l["L_cross"])
        total = sp.expand(l["L_full"] - l["L_odd"] - l["L_even"] - cross)
        if cross == 0 and total == 0:
            return holds("L_full = L_odd(V) + ½E[even²] exactly (cross term 0): no choice of the other "
                         "blocks beats the invariant-set minimum")
        return refuted(f"cross term {cross}, remainder {total}",
                       {"cross": str(cross), "remainder": str(total)})

    def _odd_part_exact(self, ctx):
        """L_odd(w21, w22, U, u21) = L(V) at V = w22U + w21u21ᵀ, exact at random rational blocks."""
        rng = ctx.rng()
        l, g = derivations.losses(), derivations.global_min()
        cases = []
        for dim in (1, 2, 3):
            Lam = numeric.random_spd(rng, dim, 8)
            U = numeric.random_rational_matrix(rng, dim)
            a, b = numeric.random_rational_matrix(rng, dim, 1), numeric.random_rational_matrix(rng, dim, 1)
            w22 = sp.Rational(int(rng.integers(1, 9)), 5)
            n = int(rng.integers(1, 12))
            lhs = traces.evaluate_exact(l["L_odd"], {"Lambda": Lam, "U": U, "w21": a, "u21": b},
                                        {derivations.N: n, derivations.w22: w22})
            rhs = traces.evaluate_exact(g["L(V)"], {"Lambda": Lam, "V": w22 * U + a * b.T}, {derivations.N: n})
            cases.append(({"d": dim, "N": n, "Lambda": Lam}, lhs, rhs))
        return exact_equal(cases, "odd-part loss equals L(V) at V = w22U + w21u21ᵀ")

    def _minimiser_set(self, ctx):
        """Which points of the full parameter space attain the minimum?

        A global minimiser needs E[even²] = 0 and V = w22U + w21u21ᵀ = Γ⁻¹.  The even part vanishes
        only if w21ᵀ(Σ̂ + x_qx_qᵀ/N)Ux_q ≡ 0 (so w21 = 0 or U = 0) and w22·u21 = 0.  For d ≥ 2,
        U = 0 leaves V = w21u21ᵀ of rank one ≠ Γ⁻¹, so w21 = u21 = 0 and w22U = Γ⁻¹.  For d = 1 the
        rank-one branch is full rank: w22 = U = 0, w21u21 = Γ⁻¹ is a second family of global minima.
        Checked exactly on the derived full loss."""
        rng = ctx.rng()
        Lf = derivations.losses()["L_full"]
        rows = []
        for dim in (1, 2, 3):
            Lam = numeric.random_spd(rng, dim, 5)
            n = int(rng.integers(1, 9))
            Gi = numeric.preconditioner(Lam, n)
            target = numeric.min_loss(Lam, n)
            main = traces.evaluate_exact(Lf, {"Lambda": Lam, "U": Gi, "w21": sp.zeros(dim, 1),
                                               "u21": sp.zeros(dim, 1)}, {derivations.N: n, derivations.w22: 1})
            if main != target:
                return refuted(f"d={dim}: L_full at w22U = Γ⁻¹ is {main}, not the minimum {target}",
                               {"d": dim, "Lambda": Lam, "N": n})
            # rank-one branch: w22 = 0, U = 0, w21u21ᵀ = best rank-one / exact Γ⁻¹ when d = 1
            e1 = sp.zeros(dim, 1)
            e1[0] = 1
            alt = traces.evaluate_exact(Lf, {"Lambda": Lam, "U": sp.zeros(dim, dim), "w21": e1,
                                              "u21": Gi[:, 0] if dim == 1 else Gi.T * e1}, {derivations.N: n, derivations.w22: 0})
            rows.append({"d": dim, "N": n, "Lambda": Lam, "min": target, "rank_one_branch": alt,
                         "attains_min": bool(alt == target)})
        d1 = [r for r in rows if r["d"] == 1][0]
        higher = [r for r in rows if r["d"] > 1]
        if d1["attains_min"] and not any(r["attains_min"] for r in higher):
            return holds("min value attained at w22·U11 = Γ⁻¹, w21 = u21 = 0 for every d; for d ≥ 2 that is the "
                         "only family; for d = 1 ALSO at w22 = U11 = 0, w21·u21 = Γ⁻¹ (exact witness: "
                         f"Λ = {d1['Lambda'].tolist()}, N = {d1['N']}, w21 = 1, u21 = Γ⁻¹, L = {d1['min']}), "
                         "so 'u·U11 = Γ⁻¹ at every minimiser' is a statement about the invariant set (or d ≥ 2)",
                         rows=rows)
        return inconclusive("unexpected minimiser structure",
                            rows=rows)

    def _mpmath(self, ctx):
        rng = ctx.rng()
        worst = None
        for dim in (2, 3, 5):
            Lam = numeric.random_spd(rng, dim, 1e4)
            n = 7
            exact = numeric.min_loss(Lam, n)
            val = numeric.spectral_mp(paper.min_loss(), Lam, ctx.dps, {derivations.N: n})
            dig = digits_agreed(numeric.mp_value(exact, ctx.dps), val, cap=ctx.dps)
            worst = dig if worst is None else min(worst, dig)
            if dig < ctx.dps - 5:
                return refuted(f"exact rational min L vs paper formula via mpmath eigenvalues: {dig} digits",
                               {"Lambda": Lam, "N": n, "exact": exact, "mpmath": str(val)})
        return holds(f"exact rational tr f(Λ) vs ½Σ(λ−λ²/γ(λ)) via mpmath eigsy: ≥ {worst} digits "
                     f"(dps {ctx.dps}, condition 10⁴)", digits=worst)

    def _optimise(self, ctx, claimed_shift=0):
        """BFGS from random starts over ALL blocks (w21, w22, U11, u21) of the exact full loss: none
        ends below the closed-form minimum, and the end points above it are the rank-one spurious
        minima.

        Verdict: refuted if a start ends below min L; inconclusive if no start reaches it, or an end
        point above it is not at a rank-one value ½trΛ − λ²/(2γ(λ)) (λ an eigenvalue of Λ), or the
        exact rank-one point w22 = 0, U11 = 0, w21 = v, u21 = v/γ(λ) (v the eigenvector) does not
        have that loss (a second, exact route to the spurious value); else holds.  Every spurious
        end point is kept whole (w21, w22, U11, u21, loss, Hessian spectrum) so it can be replayed.
        ``claimed_shift``: test a minimum that far (relative) below the closed form (negative control)."""
        from scipy.optimize import minimize

        rng = ctx.rng()
        d, n = 2, 5  # the witness configuration
        Lam_s = numeric.random_spd(rng, d, 6)
        Lam = numeric.to_np(Lam_s)
        Lf = derivations.losses()["L_full"]
        f, gradf, hessf = _numeric_full_loss(Lf, Lam, n)
        exact_min = numeric.min_loss(Lam_s, n)
        target = float(exact_min) * (1 - claimed_shift)
        tol = 1e-6 * max(1.0, abs(target))
        ends = []
        for k in range(_sizes(ctx, 8, 20)):
            x0 = rng.standard_normal(d * d + 2 * d + 1) * rng.choice([0.3, 1.0, 2.0])
            r = minimize(f, x0, jac=gradf, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
            ends.append((float(r.fun), r.x))
        best = min(e[0] for e in ends)
        setting = {"Lambda": Lam_s, "N": n, "claimed_min": target, "parameters": "x = (w21, w22, U11 row-major, u21)"}
        if best < target - 1e-8 * max(1.0, abs(target)):
            below = min(ends, key=lambda e: e[0])
            return refuted(f"found loss {best!r} below the claimed minimum {target!r} (d={d}, N={n})",
                           {**setting, "found": best, "point": _full_point(below[1], d)})
        if best > target + tol:
            return inconclusive(f"best of {len(ends)} starts {best:.12g} did not reach the claimed minimum "
                                f"{target:.12g} (d={d}, N={n})", found=[e[0] for e in ends], **setting)
        rank_one = _rank_one_values(Lam_s, n)
        spurious, unconverged = [], []
        for v, x in ends:
            if abs(v - target) > tol and np.linalg.norm(gradf(x)) > 1e-6 * max(1.0, np.linalg.norm(x)):
                # BFGS ran off along a valley (e.g. w22 → 0, U11 → ∞ with w22·U11 finite): no end point
                unconverged.append({"loss": v, **_full_point(x, d), "grad_norm": float(np.linalg.norm(gradf(x)))})
            elif abs(v - target) > tol:
                eig = np.linalg.eigvalsh(hessf(x))
                spurious.append({"loss": v, **_full_point(x, d), "min_hessian_eig": float(eig[0]),
                                 "near_zero_eigs": int(np.sum(np.abs(eig) < 1e-7)),
                                 "rank_one_eigenvalue": next((str(lv) for lv, r1 in rank_one.items()
                                                              if abs(float(r1["value"]) - v) < 1e-9 * max(1, v)), None)})
        unexplained = [s_ for s_ in spurious if s_["rank_one_eigenvalue"] is None]
        wrong_exact = {lv: r1 for lv, r1 in rank_one.items() if sp.simplify(r1["L_full_at_point"] - r1["value"]) != 0}
        details = dict(found=[e[0] for e in ends], spurious=spurious, unconverged=unconverged,
                       rank_one_minima=rank_one, **setting)
        if unexplained or wrong_exact:
            return inconclusive(f"nothing below min L = {target:.12g}, but "
                                + (f"{len(unexplained)} end points at losses "
                                   f"{sorted(round(s_['loss'], 9) for s_ in unexplained)} are not at a rank-one value "
                                   f"½trΛ − λ²/(2γ(λ)) {[str(r1['value']) for r1 in rank_one.values()]}; "
                                   if unexplained else "")
                                + (f"the exact rank-one points have L_full ≠ ½trΛ − λ²/(2γ(λ)) at λ = "
                                   f"{list(wrong_exact)}" if wrong_exact else ""), **details)
        locmin = [s_ for s_ in spurious if s_["min_hessian_eig"] > -1e-7]
        note = ""
        if spurious:
            note = (f"; {len(spurious)} starts stopped at losses {sorted({round(s_['loss'], 9) for s_ in spurious})} "
                    f"= ½trΛ − λ²/(2γ(λ)) at λ = {sorted({s_['rank_one_eigenvalue'] for s_ in spurious})} "
                    f"(w22 ≈ 0, U11 ≈ 0: rank-one attention w21u21ᵀ), {len(locmin)} with a PSD exact Hessian "
                    f"(one zero mode, w21 → c·w21, u21 → u21/c): spurious local minima of the full loss, which "
                    f"the paper's initialisation avoids (end points in details.spurious)")
        return holds(f"{len(ends)} BFGS starts over all {d*d+2*d+1} parameters (d={d}, N={n}): none below the closed "
                     f"form {target:.12g}; {len(ends) - len(spurious) - len(unconverged)} reached it{note}"
                     + (f"; {len(unconverged)} ran off along a valley without converging" if unconverged else "")
                     + "; exact rank-one points "
                     f"w22 = 0, U11 = 0, w21 = v, u21 = v/γ(λ) have L_full = ½trΛ − λ²/(2γ(λ)) = "
                     + ", ".join(f"{r1['value']} (λ = {lv})" for lv, r1 in rank_one.items()), **details)

    def _hypothesis(self, ctx):
        from hypothesis import strategies as st

        from ...strategies import spd_matrices

        grad = _v_gradient()
        strat = st.tuples(spd_matrices(min_d=1, max_d=6, max_condition=1e6), st.integers(1, 200))

        def pred(ex):
            Lam, n = ex
            G = (1 + 1 / n) * Lam + np.trace(Lam) / n * np.eye(len(Lam))
            V = np.linalg.solve(G, np.eye(len(Lam)))
            gr = grad.evaluate({"Lambda": Lam, "V": V}, {derivations.N: n})
            scale = np.linalg.norm(Lam @ Lam)
            ok = np.linalg.norm(gr) <= 1e-8 * scale * np.linalg.cond(G)
            return ok, f"d={len(Lam)}, N={n}, |∇L(Γ⁻¹)| = {np.linalg.norm(gr):.3g}, cond={np.linalg.cond(Lam):.3g}"

        return hypothesis_sweep(strat, pred, 15 if ctx.quick else 100,
                                ctx.stream_seed(), "∇_V L vanishes at V = Γ⁻¹ (matrix calculus, no eigen-ansatz)")

    def _mc(self, ctx):
        rng = ctx.rng()
        Lam_s = numeric.random_spd(rng, 3, 5)
        n = 6
        P = numeric.to_np(numeric.preconditioner(Lam_s, n))
        exact = float(2 * numeric.min_loss(Lam_s, n))
        sampler = samplers.conditional_sampler(P, numeric.to_np(Lam_s), n)
        est = mc.estimate(sampler, _mc_n(ctx, 100_000, 1_000_000), ctx.seed_sequence("monte-carlo"))
        return mc_check(est, exact, ctx.alpha,
                        {"Lambda": Lam_s, "N": n}, "E(ŷ−y)² at P = Γ⁻¹ (Wishart-conditioned), d=3, N=M=6",
                        effect=MC_EFFECT)


def _at_identity(expr: sp.Expr) -> sp.Expr:
    """Evaluate TrF atoms at Λ = I_d with symbolic d: tr f(I) = d·f(1)."""
    def ev(e):
        sub = {}
        for a in e.atoms(TrF):
            f = ev(a.args[0])
            sub[a] = dsym * f.subs(lam, 1)
        return e.xreplace(sub)

    return sp.simplify(ev(expr))


def _v_gradient():
    from ...moments.wick import grad

    return grad(derivations.global_min()["L(V)"], "V")


def _full_point(x, d: int) -> dict:
    """A packed point x = (w21, w22, U11 row-major, u21) of the full loss, every block named."""
    x = np.asarray(x, dtype=float)
    return {"w21": x[:d].tolist(), "w22": float(x[d]), "U11": x[d + 1:d + 1 + d * d].reshape(d, d).tolist(),
            "u21": x[d + 1 + d * d:].tolist()}


def _rank_one_values(Lam_s: sp.Matrix, n: int) -> dict:
    """For each eigenvalue λ of Λ (unit eigenvector v): the rank-one attention point w22 = 0,
    U11 = 0, w21 = v, u21 = v/γ(λ), the predicted loss ½trΛ − λ²/(2γ(λ)) (γ from the derived
    Γ), and the exact derived L_full at that point (exact when v is rational)."""
    gam = traces.evaluate_exact(derivations.gamma_fn(n), {"Lambda": Lam_s})  # γ(λ) with tr Λ filled in
    Lf = derivations.losses()["L_full"]
    dim = Lam_s.shape[0]
    out = {}
    for ev, _, vecs in Lam_s.eigenvects():
        v = vecs[0] / sp.sqrt((vecs[0].T * vecs[0])[0, 0])
        g = gam.subs(lam, ev)
        at = traces.evaluate_exact(Lf, {"Lambda": Lam_s, "U": sp.zeros(dim, dim), "w21": v, "u21": v / g},
                                   {derivations.N: n, derivations.w22: 0})
        out[str(ev)] = {"value": sp.nsimplify(sp.Rational(1, 2) * Lam_s.trace() - ev ** 2 / (2 * g)),
                        "L_full_at_point": at, "w21": list(v), "u21": list(v / g), "w22": 0,
                        "U11": sp.zeros(dim, dim)}
    return out


def _numeric_full_loss(Lf: sp.Expr, Lam: np.ndarray, n: int):
    """Full loss and its gradient as NumPy functions of the packed (w21, w22, U, u21)."""
    d = Lam.shape[0]
    syms_U = [sp.Symbol(f"U_{i}{j}") for i in range(d) for j in range(d)]
    syms_a = [sp.Symbol(f"a_{i}") for i in range(d)]
    syms_b = [sp.Symbol(f"b_{i}") for i in range(d)]
    Um = sp.Matrix(d, d, syms_U)
    am, bm = sp.Matrix(syms_a), sp.Matrix(syms_b)
    Lm = sp.Matrix(Lam.tolist()).applyfunc(sp.nsimplify)
    env = {"Lambda": Lm, "U": Um, "w21": am, "u21": bm}
    expr = sp.expand(traces.substitute(Lf, env, {derivations.N: n}))
    allv = syms_a + [derivations.w22] + syms_U + syms_b
    fl = sp.lambdify([allv], expr, "numpy")
    grads = [sp.diff(expr, v) for v in allv]
    gl = sp.lambdify([allv], grads, "numpy")
    hl = sp.lambdify([allv], [[sp.diff(g_, v) for v in allv] for g_ in grads], "numpy")
    return ((lambda x: float(fl(list(x)))), (lambda x: np.array(gl(list(x)), dtype=float)),
            (lambda x: np.array(hl(list(x)), dtype=float)))
