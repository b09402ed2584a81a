"""A claim of your own, in a few lines: the one-step-of-GD error for isotropic covariates.

Load it into every command with

    ICL_PROOFS_PLUGINS=verification/my_claims_example.py icl-proofs verify demo --quick
    ICL_PROOFS_PLUGINS=verification/my_claims_example.py icl-proofs eval demo.isotropic-error -p d=3 -p N=7

The derivation uses the package's Wick engine (symbolic d and N); the check compares it with the
Monte-Carlo simulator at a CLT tolerance with false-alarm rate ``ctx.alpha``.
"""
import numpy as np
import sympy as sp

from icl_proofs.claims import Check, Claim, Param, register
from icl_proofs.claims.base import Control
from icl_proofs.claims.checks import mc_check
from icl_proofs.moments.wick import expect, gaussian, sample_cov
from icl_proofs.numeric import montecarlo as mc
from icl_proofs.models import samplers
from icl_proofs.numeric.precision import to_mpf

N, c = sp.symbols("N c", positive=True)
d = sp.Symbol("d", positive=True, integer=True)


@register
class IsotropicStep(Claim):
    id = "demo.isotropic-error"
    paper = "your paper"
    source = "Proposition 1"
    title = "Error of ŷ = c·hᵀx_q for isotropic covariates"
    statement = "For Λ = I and ŷ = c·(1/N)Σ y_i x_iᵀ x_q: E(ŷ−y)² = d − 2cd + c²d(N+d+1)/N."
    params = (Param("d", "int", "dimension"), Param("N", "int", "prompt length"),
              Param("c", "number", "step size", default="1"))

    def derive(self):
        x_q, w = gaussian("x_q"), gaussian("w")          # N(0, I)
        S = sample_cov("Sigma_hat", None, N)              # (1/N) Σ x_i x_iᵀ, x_i ~ N(0, I)
        err = expect((c * (w.T @ S @ x_q) - w.T @ x_q) ** 2)
        return {"error": sp.factor(err)}

    def quantities(self, values, dps=30):
        e = self.derive()["error"].subs({d: values["d"], N: values["N"], c: values["c"]})
        return {"prediction_error": to_mpf(e, dps)}

    def checks(self):
        # negative control: the same simulation against a formula with the classic slip N+d+1 -> N+d
        wrong = Control.negative("N + d + 1 written as N + d", lambda ctx: self._mc(ctx, slip=1))
        return [Check("monte-carlo", "monte-carlo", self._mc, controls=(wrong,))]

    def _mc(self, ctx, slip=0):
        dim, n, step = 3, 5, 0.5
        err = self.derive()["error"]
        if slip:
            err = d - 2 * c * d + c**2 * d * (N + d + 1 - slip) / N
        exact = float(err.subs({d: dim, N: n, c: step}))
        sampler = samplers.conditional_sampler(step * np.eye(dim), np.eye(dim), n)
        est = mc.estimate(sampler, 100_000, ctx.seed_sequence())
        return mc_check(est, exact, ctx.alpha, {"d": dim, "N": n, "c": step},
                        "Wishart-conditioned simulation")
