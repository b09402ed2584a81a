"""dd25.hermite: the Hermite expansion behind the equivalent polynomial σ̂_p of Theorem 4.12.

σ̂_p(x) = Σ_{i≤p} c_i He_i(x) + c*_p z must match σ in the Gaussian moments the equivalence uses.
The checks confirm, each by its own route: Hermite orthogonality, the closed forms for ReLU and
GELU, E[σ̂_p²] = E[σ²] with the fresh z, Parseval convergence of Σ i! c_i², Stein's lemma
α = E[σ'] = c_1 (Lemma 4.11's spike), Lemma D.1's projection identity (our reading) and the parity
of the coefficients.  The numbers come from :mod:`icl_proofs.moments.hermite`.
"""
from __future__ import annotations

import math
from fractions import Fraction
import functools
from functools import lru_cache

import numpy as np
import sympy as sp
from mpmath import mp

from ...moments import hermite
from ...moments.elementwise import GaussianVector
from ...numeric import montecarlo as mc
from ...numeric.precision import digits_agreed, to_mpf
from ..base import Check, Claim, Control, Param, Status
from ..checks import bonferroni_p, exact_equal, holds, hypothesis_sweep, refuted, symbolic_zero
from ..registry import register

PAPER = ("Demir & Doğan 2025, How Data Mixing Shapes In-Context Learning: Asymptotic Equivalence for "
         "Transformers with MLPs (arXiv 2510.25753)")

#: degree of the orthogonality checks
ORTH_DEGREE = 8
#: variance of the importance-sampling proposal N(0, s²) of the least-squares check
IS_VARIANCE = 4.0
#: precision of the parity sweep (a vanishing coefficient must be below 10^(4 − PARITY_DPS))
PARITY_DPS = 15


def _min_digits(ctx) -> int:
    """Digits two mpmath routes must share: the working precision less a margin for rounding."""
    return ctx.dps - 5


def _orthonormal(c: list) -> list:
    """c_i·sqrt(i!) (the coefficients in the orthonormal basis), at the current precision."""
    return [v * mp.sqrt(mp.factorial(i)) for i, v in enumerate(c)]


def _gram(moment) -> sp.Matrix:
    """E[He_i He_j], i, j ≤ ORTH_DEGREE, from a table of moments E[g^m]."""
    n = ORTH_DEGREE + 1

    def entry(i, j):
        prod = hermite.hermite_poly(i) * hermite.hermite_poly(j)
        return sum((c * moment(m) for (m,), c in prod.terms()), sp.Integer(0))

    return sp.Matrix(n, n, entry)


def _target_gram() -> sp.Matrix:
    return sp.diag(*[sp.factorial(i) for i in range(ORTH_DEGREE + 1)])


@lru_cache(maxsize=None)
def _parity_parts(name: str) -> tuple[sp.Expr, sp.Expr]:
    """(even part, odd part) of a named activation, simplified by SymPy."""
    e = hermite.get_activation(name).sym
    flipped = e.subs(hermite.X, -hermite.X)
    return sp.simplify((e + flipped) / 2), sp.simplify((e - flipped) / 2)


def _degree(expr: sp.Expr) -> int | None:
    """Degree of a polynomial expression (−1 for 0); None when it is not a polynomial."""
    if expr.is_polynomial(hermite.X) is not True:
        return None
    d = sp.Poly(expr, hermite.X).degree()
    return -1 if d == -sp.oo else int(d)


def _predicted_zeros(even: sp.Expr, odd: sp.Expr, p: int) -> list[int]:
    """If the even (odd) part of σ is a polynomial of degree d, E[σ He_i] = 0 for every even (odd)
    i > d: He_i is orthogonal to lower degrees and to functions of the other parity.

    >>> _predicted_zeros(*_parity_parts("relu"), 6)      # odd part x/2
    [3, 5]
    >>> _predicted_zeros(*_parity_parts("sigmoid"), 6)   # even part 1/2
    [2, 4, 6]
    """
    out = []
    for part, parity in ((even, 0), (odd, 1)):
        d = _degree(part)
        if d is not None:
            out += [i for i in range(p + 1) if i % 2 == parity and i > d]
    return sorted(out)


@register
class Hermite(Claim):
    id = "dd25.hermite"
    #: mutants of the derivations each check must not accept (verified by tests/test_controls.py)
    controls = {
        "closed-form-vs-quadrature": (Control.negative("E[gelu(g) g^m] negated", mutant="gelu_moment flip-sign"),),
        "second-moment-monte-carlo": (Control.negative("c_i negated", mutant="hermite_coefficients flip-sign"),),
        "parseval-convergence": (Control.negative("E[σ²] negated", mutant="second_moment flip-sign"),),
        "stein-alpha-mpmath": (Control.negative("α = E[σ'] negated", mutant="derivative_mean flip-sign"),),
        "projection-mpmath": (Control.negative("c_i negated", mutant="hermite_coefficients flip-sign"),),
        "projection-monte-carlo": (Control.negative("E[σ²] negated", mutant="second_moment flip-sign"),),
    }
    paper = PAPER
    dps_range = (2, hermite.MAX_DPS)  # the quadratures of moments.hermite are set up for at most MAX_DPS digits
    source = "Theorem 4.12 / Eq. of σ̂_p; Lemma D.1"
    title = "Hermite equivalent of an activation: σ̂_p = Σ_{i≤p} c_i He_i + c*_p z"
    statement = ("With c_i = E[σ(g)He_i(g)]/i! and (c*_p)² = E[σ(g)²] − Σ_{i≤p} i! c_i², "
                 "σ̂_p(g) = Σ_{i≤p} c_i He_i(g) + c*_p z (z fresh N(0,1)) has E[σ̂_p²] = E[σ²]; "
                 "c_1 = E[σ'(g)] = α; and Σ_{i≤p} c_i He_i is the L²(γ) projection of σ onto "
                 "polynomials of degree ≤ p, with squared error (c*_p)² (Lemma D.1, our reading).")
    statement_latex = (r"With $c_i=\mathbb E[\sigma(g)\mathrm{He}_i(g)]/i!$ and "
                       r"$(c^*_p)^2=\mathbb E[\sigma(g)^2]-\sum_{i\le p}i!\,c_i^2$, "
                       r"$\hat\sigma_p(g)=\sum_{i\le p}c_i\mathrm{He}_i(g)+c^*_p z$ has "
                       r"$\mathbb E[\hat\sigma_p^2]=\mathbb E[\sigma^2]$, $c_1=\mathbb E[\sigma'(g)]$, and "
                       r"$\sum_{i\le p}c_i\mathrm{He}_i$ is the $L^2(\gamma)$ projection of $\sigma$ onto "
                       r"polynomials of degree $\le p$.")
    params = (
        Param("activation", "str", f"activation: {', '.join(hermite.ACTIVATIONS)}", default="relu"),
        Param("p", "int", "degree of the Hermite polynomial part", default=4, minimum=0, maximum=hermite.MAX_P),
    )

    def validate(self, values):
        values = dict(values)
        values["activation"] = hermite.get_activation(values["activation"]).name
        return values

    def derive(self):
        c = hermite.hermite_coefficients_symbolic("relu", 5)
        out = {f"c_{i} (relu)": v for i, v in enumerate(c)}
        m2 = hermite.half_line_moment(2)
        out["E[relu(g)^2]"] = m2
        out["(c*_5)^2 (relu)"] = sp.simplify(m2 - sum(sp.factorial(i) * v**2 for i, v in enumerate(c)))
        return out

    def quantities(self, values, dps=30):
        act, p = values["activation"], int(values["p"])
        c, cstar = hermite.equivalent(act, p, dps)
        return {"coefficients": c, "residual_sq": hermite.residual_sq(act, p, dps), "cstar": cstar,
                "second_moment": hermite.second_moment(act, dps), "alpha": hermite.derivative_mean(act, dps)}

    def checks(self):
        return [
            Check("orthogonality-symbolic", "symbolic", self._orth_symbolic, controls=(
                Control.negative("the physicists' Hermite polynomials H_i in place of He_i",
                                 functools.partial(self._orth_symbolic, physicists=True)),)),
            Check("orthogonality-exact-rational", "exact-rational", self._orth_exact, controls=(
                Control.negative("moments of N(0, 2) in place of N(0, 1)", functools.partial(self._orth_exact, variance=2)),)),
            Check("closed-form-vs-quadrature", "mpmath", self._closed_form),
            Check("second-moment-monte-carlo", "monte-carlo", self._second_moment_mc),
            Check("parseval-convergence", "mpmath", self._parseval),
            Check("stein-alpha-symbolic", "symbolic", self._stein_symbolic, controls=(
                Control.negative("α compared with c_2 in place of c_1", functools.partial(self._stein_symbolic, index=2)),)),
            Check("stein-alpha-mpmath", "mpmath", self._stein_mpmath),
            Check("projection-mpmath", "mpmath", self._projection_mpmath),
            Check("projection-monte-carlo", "monte-carlo", self._projection_mc),
            Check("parity-hypothesis", "hypothesis", self._parity, controls=(
                Control.negative("zeros predicted from the wrong parity (odd part for even i, even for odd)",
                                 functools.partial(self._parity, swap=True)),)),
        ]

    # ------------------------------------------------------------------ orthogonality
    def _orth_symbolic(self, ctx, physicists: bool = False):
        """``physicists``: the physicists' H_i in place of He_i (a negative control: E[H_i H_j] ≠ i! δ_ij)."""
        name = "orthogonality-symbolic"
        n = ORTH_DEGREE
        poly = (lambda i: sp.expand(sp.hermite(i, hermite.X))) if physicists else (lambda i: hermite.hermite_poly(i).as_expr())
        bad = [i for i in range(n + 1) if poly(i) != sp.expand(sp.hermite_prob(i, hermite.X))]
        if bad:
            return refuted(name, "symbolic", f"recurrence He_{bad[0]} differs from SymPy's hermite_prob",
                           {"degree": bad[0], "recurrence": str(hermite.hermite_poly(bad[0]).as_expr())})
        moments = [hermite.gaussian_moment(m) for m in range(2 * n + 1)]
        if moments != [sp.factorial2(m - 1) if m % 2 == 0 else 0 for m in range(2 * n + 1)]:
            return refuted(name, "symbolic", "integrated Gaussian moments are not (2m−1)!!",
                           {"moments": [str(v) for v in moments]})
        r = symbolic_zero(name, _gram(hermite.gaussian_moment) - _target_gram(),
                          f"E[He_i He_j] − i! δ_ij for i, j ≤ {n}, moments E[g^m] by SymPy integration")
        if r.status is Status.HOLDS:
            r.evidence += (f"; the recurrence equals SymPy's hermite_prob up to degree {n} and the "
                           f"integrated moments E[g^2m] equal (2m−1)!!")
        return r

    def _orth_exact(self, ctx, variance: int = 1):
        """``variance``: moments of N(0, variance) (a negative control for variance ≠ 1)."""
        g = GaussianVector("g", [[variance]])
        return exact_equal("orthogonality-exact-rational",
                           [({"degrees": f"0..{ORTH_DEGREE}"}, _gram(lambda m: g.moment((m,))), _target_gram())],
                           "Gram matrix E[He_i He_j] = diag(i!) with moments by MGF coefficient extraction "
                           "(icl_proofs.moments.elementwise)")

    # ------------------------------------------------------------------ closed forms
    def _closed_form(self, ctx):
        name, p = "closed-form-vs-quadrature", (10 if ctx.quick else hermite.MAX_P)
        worst = {}
        for act in ("relu", "gelu"):
            sym = hermite.hermite_coefficients_symbolic(act, p)
            num = hermite.hermite_coefficients(act, p, ctx.dps)
            digits = [_agreement(s, v, i, ctx.dps) for i, (s, v) in enumerate(zip(sym, num))]
            i = int(np.argmin(digits))
            worst[act] = (digits[i], i)
            if digits[i] < _min_digits(ctx):
                return refuted(name, "mpmath",
                               f"{act}: closed-form c_{i} = {sym[i]} but quadrature gives {num[i]} "
                               f"({digits[i]} digits agree, need {_min_digits(ctx)})",
                               {"activation": act, "i": i, "closed_form": str(sym[i]), "quadrature": str(num[i])})
        summary = ", ".join(f"{a}: ≥ {d} digits (worst c_{i})" for a, (d, i) in worst.items())
        return holds(name, "mpmath", f"SymPy closed forms c_0..c_{p} vs tanh-sinh quadrature at dps {ctx.dps}: "
                     f"{summary}; zero coefficients compared in absolute, normalised units", p=p,
                     digits={a: d for a, (d, _) in worst.items()})

    # ------------------------------------------------------------------ σ̂_p second moment
    def _second_moment_mc(self, ctx):
        name = "second-moment-monte-carlo"
        ps, n = SECOND_MOMENT_SIZES[bool(ctx.quick)]
        cases = [(a, p) for a in hermite.ACTIVATIONS for p in ps]
        m_tests = 2 * len(cases)
        alpha_each = ctx.alpha / m_tests  # Bonferroni: the family's false-alarm rate is ctx.alpha
        worst, zero_targets = (0.0, None), 0
        z_all, ses = [], []  # ses: (SE, exact) of every test, for the resolution  # every z so far: the check-level p-value is bonferroni_p(z_all, m_tests), valid
        # also when the check returns at the first failure (refuted at α iff p_value ≤ α)
        for k, (act, p) in enumerate(cases):
            c, cstar = hermite.equivalent(act, p, ctx.dps)
            m2 = float(hermite.second_moment(act, ctx.dps))
            targets = {"E[sigma_hat^2]": m2, "E[sigma*sigma_hat]": m2 - float(cstar) ** 2}
            for j, (what, exact) in enumerate(targets.items()):
                est = mc.estimate(_sigma_hat_sampler(act, c, cstar, j), n,
                                  ctx.seed_sequence("moment", act, p, what), batch=2**16)
                z, thr, ok = mc.z_check(est, exact, alpha_each)
                ses.append((est.se, _resolution_reference(exact, m2)))
                zero_targets += ses[-1][1] != exact
                z_all.append(z)
                if not ok:
                    return refuted(name, "monte-carlo",
                                   f"{what} for {act}, p = {p}: MC {est.mean:.6g} ± {est.se:.2g} vs {exact:.6g} "
                                   f"(z = {z:+.2f}, threshold {thr:.2f})",
                                   {"activation": act, "p": p, "moment": what, "estimate": est.mean,
                                    "se": est.se, "exact": exact, "z": z},
                                   p_value=bonferroni_p(z_all, m_tests), alpha=ctx.alpha, z=z,
                                   bonferroni_m=m_tests)
                if abs(z) >= abs(worst[0]):
                    worst = (z, (act, p, what))
        return _with_resolution(name, ses, alpha_each, holds(name, "monte-carlo",
                     f"E[σ̂_p(g)²] = E[σ(g)²] and E[σ(g)σ̂_p(g)] = E[σ²] − (c*_p)² (fresh z per sample) for "
                     f"{len(cases)} (activation, p) with p in {ps}, n = {n} each: max |z| = {abs(worst[0]):.2f} "
                     f"({worst[1][0]}, p = {worst[1][1]}, {worst[1][2]}) ≤ {mc.threshold(alpha_each):.2f} "
                     f"(α = {ctx.alpha:g} Bonferroni-split over {2 * len(cases)} tests)"
                     + (f"; {zero_targets} zero target(s) (odd σ at p = 0) resolved relative to E[σ²]"
                        if zero_targets else ""),
                     max_abs_z=abs(worst[0]), n=n, p_value=bonferroni_p(z_all, m_tests), alpha=ctx.alpha,
                     z=worst[0], bonferroni_m=m_tests))

    # ------------------------------------------------------------------ Parseval

    def _parseval(self, ctx):
        """Bessel: (c*_P)² ≥ 0.  Convergence: σ' has Hermite coefficients (i+1)c_{i+1}, so Parseval
        for σ' bounds the tail, Σ_{i>P} i! c_i² ≤ (E[σ'²] − Σ_{1≤i≤P} i·i! c_i²)/(P+1) → 0."""
        name, P = "parseval-convergence", (20 if ctx.quick else hermite.MAX_P)
        report = []
        with mp.workdps(ctx.dps):
            tol = mp.mpf(10) ** (-_min_digits(ctx))
            for act_name in hermite.ACTIVATIONS:
                act = hermite.get_activation(act_name)
                a = _orthonormal(hermite.hermite_coefficients(act_name, P, ctx.dps))
                m2 = hermite.second_moment(act_name, ctx.dps)
                d2 = hermite.gaussian_expectation(lambda x: act.dmp(x) ** 2, ctx.dps, act.kinks)
                r, t = m2, d2
                for k in range(P + 1):
                    r -= a[k] ** 2
                    t -= k * a[k] ** 2
                    if r < -tol or t < -tol or r > t / (k + 1) + tol:
                        return refuted(name, "mpmath",
                                       f"{act_name}: at P = {k}, (c*_P)² = {mp.nstr(r, 8)} violates "
                                       f"0 ≤ (c*_P)² ≤ (E[σ'²] − Σ i·i! c_i²)/(P+1) = {mp.nstr(t / (k + 1), 8)}",
                                       {"activation": act_name, "P": k, "residual_sq": str(r),
                                        "derivative_tail": str(t)})
                report.append(f"{act_name} {mp.nstr(r / m2, 3)} (bound {mp.nstr(t / (P + 1) / m2, 3)})")
        return holds(name, "mpmath",
                     f"for P = 0..{P}: 0 ≤ (c*_P)² ≤ (E[σ'²] − Σ_{{1≤i≤P}} i·i! c_i²)/(P+1), the bound from "
                     f"Parseval for σ' (E[σ'²] by Gauss–Legendre, independent of the coefficients); "
                     f"relative residual (c*_{P})²/E[σ²]: " + "; ".join(report), P=P)

    # ------------------------------------------------------------------ Stein
    def _stein_symbolic(self, ctx, index: int = 1):
        """``index``: compare α with c_index (a negative control for index ≠ 1)."""
        diffs = []
        for act in ("relu", "gelu"):
            e = hermite.get_activation(act).sym
            alpha = sp.integrate(sp.diff(e, hermite.X) * hermite._PHI, (hermite.X, -sp.oo, sp.oo), conds="none")
            diffs.append(alpha - hermite.hermite_coefficients_symbolic(act, max(index, 1))[index])
        return symbolic_zero("stein-alpha-symbolic", sp.Matrix(diffs),
                             "E[σ'(g)] (SymPy integral of the derivative) − closed-form c_1, for ReLU and GELU")

    def _stein_mpmath(self, ctx):
        name = "stein-alpha-mpmath"
        user = hermite.Activation("tanh(x)+x^2/3", lambda x: mp.tanh(x) + x * x / 3)  # derivative by mpmath.diff
        out = []
        for act in (*hermite.ACTIVATIONS, user):
            alpha = hermite.derivative_mean(act, ctx.dps)
            c1 = hermite.hermite_coefficients(act, 1, ctx.dps)[1]
            d = digits_agreed(alpha, c1, cap=ctx.dps)
            label = act if isinstance(act, str) else act.name
            if d < _min_digits(ctx):
                return refuted(name, "mpmath", f"{label}: E[σ'(g)] = {alpha} but c_1 = {c1} ({d} digits)",
                               {"activation": label, "alpha": str(alpha), "c1": str(c1)})
            out.append(f"{label} {d}")
        return holds(name, "mpmath", "α = E[σ'(g)] (quadrature of σ') equals c_1 = E[g σ(g)]; digits agreed: "
                     + ", ".join(out))

    # ------------------------------------------------------------------ Lemma D.1
    def _projection_mpmath(self, ctx):
        """σ − Π_pσ ⊥ He_k (k ≤ p); E[(σ − Π_pσ)²] = (c*_p)²; any other degree-p q is worse by
        Σ i!(c_i − q_i)² (Pythagoras), all by Gauss–Legendre quadrature."""
        name = "projection-mpmath"
        cases = [("relu", 4), ("tanh", 5)] if ctx.quick else [(a, p) for a in hermite.ACTIVATIONS for p in (2, 4, 5)]
        rng = ctx.rng("random polynomial q")
        worst = ctx.dps
        for act_name, p in cases:
            act = hermite.get_activation(act_name)
            c, cstar = hermite.equivalent(act_name, p, ctx.dps)
            delta = [Fraction(int(rng.integers(-8, 9)), 32) for _ in range(p + 1)]
            found = _projection_numbers(act, c, delta, ctx.dps)
            with mp.workdps(ctx.dps):
                m2 = hermite.second_moment(act_name, ctx.dps)
                pyth = mp.fsum(math.factorial(i) * mp.mpf(d.numerator) ** 2 / d.denominator ** 2
                               for i, d in enumerate(delta))
                orth_digits = min(_abs_digits(v, mp.sqrt(m2), ctx.dps) for v in found["orth"])
                d_err = digits_agreed(found["err2"], cstar**2, cap=ctx.dps)
                d_pyth = digits_agreed(found["pyth"] - cstar**2, pyth, cap=ctx.dps)
            low = min(orth_digits, d_err, d_pyth)
            worst = min(worst, low)
            if low < _min_digits(ctx):
                return refuted(name, "mpmath",
                               f"{act_name}, p = {p}: projection identity fails (orthogonality to {orth_digits}, "
                               f"E[r²] vs (c*_p)² to {d_err}, Pythagoras to {d_pyth} digits)",
                               {"activation": act_name, "p": p, "E[r^2]": str(found["err2"]),
                                "cstar_sq": str(cstar**2), "orth": [str(v) for v in found["orth"]]})
        return holds(name, "mpmath",
                     f"for (activation, p) in {cases}: r = σ − Σ c_i He_i has E[r He_k]/sqrt(k!) = 0 (k ≤ p), "
                     f"E[r²] = (c*_p)², and E[(σ − q)²] = (c*_p)² + Σ i!(c_i − q_i)² for a random degree-p q "
                     f"(Pythagoras: the projection is the best approximation); ≥ {worst} digits "
                     f"(Gauss–Legendre, dps {ctx.dps})")

    def _projection_mc(self, ctx):
        """Regress σ(g) on 1, g, ..., g^p: the mean squared residual estimates min_q E[(σ − q)²].

        The residual r = σ − Π_pσ grows like g^p, so part of E[r²] sits where N(0, 1) draws
        rarely go (ReLU, p = 10: 4% from |g| > 5, probability 6·10^−7).  With g ~ N(0, 1) the mean
        of r² is skewed and its CLT error understated: over 100 seeds at n = 10^5, 4–21% of the
        p = 4, 5 cases gave |z| > 3.29 (nominal 0.1%) and every p = 10 case failed.  So g is drawn
        from N(0, IS_VARIANCE) and weighted by φ/φ_s (importance sampling), which keeps the
        estimate unbiased for E_γ and its tails light (z mean ≈ 0, sd ≈ 1 over 100 seeds).
        """
        name = "projection-monte-carlo"
        cases = [("relu", 4), ("tanh", 5)] if ctx.quick else \
            [(a, p) for a in hermite.ACTIVATIONS for p in (4, 5, 10)]
        n = 100_000 if ctx.quick else 1_000_000
        alpha_each = ctx.alpha / len(cases)
        zs = []
        z_all, ses = [], []  # check-level p-value bonferroni_p(z_all, len(cases)): refuted at α iff p_value ≤ α
        for k, (act, p) in enumerate(cases):
            rng = ctx.rng("least squares", act, p)
            est = _least_squares_residual(act, p, n, rng)
            exact = float(hermite.residual_sq(act, p, ctx.dps))
            z, thr, ok = mc.z_check(est, exact, alpha_each)
            ses.append((est.se, exact))
            zs.append(f"{act} p={p}: {est.mean:.5g} ± {est.se:.1g} vs {exact:.5g} (z = {z:+.2f})")
            z_all.append(z)
            if not ok:
                return refuted(name, "monte-carlo", f"{act}, p = {p}: least-squares residual variance "
                               f"{est.mean:.6g} ± {est.se:.2g} vs (c*_p)² = {exact:.6g} (z = {z:+.2f}, "
                               f"threshold {thr:.2f})",
                               {"activation": act, "p": p, "estimate": est.mean, "se": est.se, "exact": exact,
                                "z": z},
                               p_value=bonferroni_p(z_all, len(cases)), alpha=ctx.alpha, z=z,
                               bonferroni_m=len(cases))
        return _with_resolution(name, ses, alpha_each, holds(name, "monte-carlo",
                     f"weighted least squares on monomials up to g^p over n = {n} draws from "
                     f"N(0, {IS_VARIANCE:g}) (weights φ/φ_s) reproduces (c*_p)²: "
                     + "; ".join(zs) + f"; |z| ≤ {mc.threshold(alpha_each):.2f} (α = {ctx.alpha:g} split "
                     f"over {len(cases)} cases)", n=n, p_value=bonferroni_p(z_all, len(cases)), alpha=ctx.alpha,
                     z=max(z_all, key=abs), bonferroni_m=len(cases)))

    # ------------------------------------------------------------------ parity
    def _parity(self, ctx, swap: bool = False):
        """``swap``: predict the zeros from the wrong parity (a negative control)."""
        from hypothesis import strategies as st

        strategy = st.tuples(
            st.sampled_from(hermite.ACTIVATIONS),
            st.fractions(min_value=-3, max_value=3, max_denominator=4).filter(lambda w: w != 0),
            st.lists(st.integers(-2, 2), min_size=4, max_size=4),
            st.integers(0, 10),
        )
        return hypothesis_sweep("parity-hypothesis", strategy, functools.partial(_parity_holds, swap=swap),
                                6 if ctx.quick else 40, ctx.stream_seed(),
                                "σ = w·base + q (q a cubic): if σ's even (odd) part is a polynomial of degree d "
                                "(derived by SymPy), c_i = 0 for every even (odd) i > d")


# ---------------------------------------------------------------------------- helpers of the checks

def _resolution_reference(exact: float, second_moment: float) -> float:
    """The value a test's resolution is relative to: the target itself, unless it is 0.  At p = 0 an
    odd σ has c_0 = 0, so E[σ σ̂_0] = E[σ²] − (c*_0)² is exactly 0 but evaluates to rounding noise
    (~1e-17); a resolution relative to that noise read 3.9e15 %.  A zero target is measured against
    the scale it is a difference of, E[σ²] (the error it must resolve is a fraction of E[σ²]).

    >>> _resolution_reference(0.25, 0.5), _resolution_reference(1e-17, 0.5)
    (0.25, 0.5)
    """
    return exact if abs(exact) > 1e-9 * abs(second_moment) else second_moment


#: second-moment-monte-carlo: quick -> (degrees p, samples per test); full mode adds p = 0, 5, 10
SECOND_MOMENT_SIZES = {True: ((1, 4), 100_000), False: ((0, 1, 4, 5, 10), 1_000_000)}


def _with_resolution(name, ses, alpha_each, result):
    """State the family's resolution (its coarsest test) on a passing Monte-Carlo result; too coarse
    for a closed form (> 5 %) makes it inconclusive."""
    from ..checks import DEFAULT_EFFECT, resolution_text, too_coarse
    from .attention import family_resolution

    res = family_resolution(ses, alpha_each)
    ev = result.evidence + "; " + resolution_text(res) + " (the coarsest test)"
    if res["relative"] is None or res["relative"] > DEFAULT_EFFECT:
        result = too_coarse(name, result.route, ev, res, DEFAULT_EFFECT, **result.details)
    else:
        result.evidence = ev
    result.resolution = res
    return result


def _agreement(sym: sp.Expr, num, i: int, dps: int) -> int:
    """Digits shared by a closed form and a quadrature value (absolute, normalised, when exactly 0)."""
    if sym == 0:
        with mp.workdps(dps):
            return _abs_digits(num * mp.sqrt(mp.factorial(i)), mp.one, dps)
    return digits_agreed(to_mpf(sym, dps + 10), num, cap=dps)


def _abs_digits(v, scale, dps: int) -> int:
    """−log10(|v| / scale), clipped to [0, dps]: digits to which v vanishes."""
    with mp.workdps(dps + 5):
        if v == 0:
            return dps
        return int(max(0, min(dps, mp.floor(-mp.log10(abs(v) / scale)))))


def _sigma_hat_sampler(act: str, c: list, cstar, which: int):
    """Samples of σ̂_p(g)² (which = 0) or σ(g)σ̂_p(g) (which = 1); g and the fresh z share one stream."""
    sigma, _ = hermite.activation_numpy(act)

    def batch(rng, k):
        g = rng.standard_normal(k)
        s_hat = hermite.sigma_hat(c, cstar, g, rng)
        return s_hat * s_hat if which == 0 else sigma(g) * s_hat

    return batch


def _projection_numbers(act: hermite.Activation, c: list, delta: list, dps: int) -> dict:
    """Quadratures of Lemma D.1: E[r He_k]/sqrt(k!), E[r²], E[(σ − q)²] with q = Σ (c_i + δ_i) He_i."""
    p = len(c) - 1
    with mp.workdps(dps + hermite.GUARD_DPS):
        shifted = [ci + mp.mpf(d.numerator) / d.denominator for ci, d in zip(c, delta)]
        proj, q = _monomial_coeffs(c), _monomial_coeffs(shifted)

        def r(x):
            return act.mp(x) - mp.polyval(proj, x)

        orth = []
        for k in range(p + 1):
            he = [int(v) for v in hermite.hermite_poly(k).all_coeffs()]
            v = hermite.gaussian_expectation(lambda x: r(x) * mp.polyval(he, x), dps, act.kinks)
            orth.append(v / mp.sqrt(mp.factorial(k)))
        err2 = hermite.gaussian_expectation(lambda x: r(x) ** 2, dps, act.kinks)
        pyth = hermite.gaussian_expectation(lambda x: (act.mp(x) - mp.polyval(q, x)) ** 2, dps, act.kinks)
    return {"orth": orth, "err2": err2, "pyth": pyth}


def _monomial_coeffs(c: list) -> list:
    """Σ c_i He_i as monomial coefficients, highest degree first (for mp.polyval)."""
    out = [mp.zero] * len(c)
    for i, ci in enumerate(c):
        for (m,), a in hermite.hermite_poly(i).terms():
            out[m] += ci * int(a)
    return out[::-1]


def _least_squares_residual(act: str, p: int, n: int, rng) -> mc.Estimate:
    """Weighted least squares of σ(g) on 1, g, ..., g^p with g ~ N(0, s²), w = φ(g)/φ_s(g).

    Σ w (σ − q)²/n estimates E_γ[(σ − q)²] for every q, so the fit estimates the L²(γ) projection
    and the weighted residual sum /(n − p − 1) estimates (c*_p)²; se from the weighted squares.
    """
    sigma, _ = hermite.activation_numpy(act)
    s = math.sqrt(IS_VARIANCE)
    g = s * rng.standard_normal(n)
    w = s * np.exp(-g * g * (1 - 1 / IS_VARIANCE) / 2)
    y = sigma(g)
    V = np.vander(g, p + 1, increasing=True)
    root_w = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(V * root_w[:, None], y * root_w, rcond=None)
    e2 = w * (y - V @ beta) ** 2
    sd = float(e2.std(ddof=1))
    return mc.Estimate(mean=float(e2.sum() / (n - p - 1)), se=sd / math.sqrt(n), n=n, sd=sd)


def _parity_holds(example, swap: bool = False) -> tuple[bool, str]:
    base, w, q, p = example
    w_s = sp.Rational(w.numerator, w.denominator)
    q_expr = sum(k * hermite.X**j for j, k in enumerate(q))
    even_b, odd_b = _parity_parts(base)
    even = sp.expand(w_s * even_b + (q_expr + q_expr.subs(hermite.X, -hermite.X)) / 2)
    odd = sp.expand(w_s * odd_b + (q_expr - q_expr.subs(hermite.X, -hermite.X)) / 2)
    zeros = _predicted_zeros(odd, even, p) if swap else _predicted_zeros(even, odd, p)
    base_mp = hermite.get_activation(base).mp
    q_rev = list(reversed(q))
    act = hermite.Activation(f"{w}*{base}+q", lambda x: w_s.p * base_mp(x) / w_s.q + mp.polyval(q_rev, x))
    c = hermite.hermite_coefficients(act, p, dps=PARITY_DPS)
    with mp.workdps(PARITY_DPS):
        bad = [i for i in zeros if abs(c[i]) * mp.sqrt(mp.factorial(i)) > mp.mpf(10) ** (4 - PARITY_DPS)]
    label = f"σ = ({w})·{base} + {sp.sstr(q_expr)}, p = {p}"
    if bad:
        return False, f"{label}: predicted c_{bad[0]} = 0 but quadrature gives {mp.nstr(c[bad[0]], 5)}"
    return True, label
