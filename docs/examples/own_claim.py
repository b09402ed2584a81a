"""Your own claim in 20 lines: E[(xᵀAx)²] for x ~ N(0, Λ), derived symbolically, checked by Monte Carlo."""
import numpy as np
from icl_proofs.claims import Check, Claim, register
from icl_proofs.claims.base import Control
from icl_proofs.claims.checks import mc_check
from icl_proofs.moments import traces
from icl_proofs.moments.wick import expect, gaussian, matrix
from icl_proofs.numeric import montecarlo as mc

LAM, A = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, 2.0], [0.0, -1.0]])


@register
class QuadraticFormSquared(Claim):
    id, paper, source = "mine.quadratic-form", "my notes", "Lemma 1"
    statement = "For x ~ N(0, Λ): E[(xᵀAx)²] = tr(AΛ)² + tr(AΛAΛ) + tr(AΛAᵀΛ)."

    def derive(self):  # the Wick engine, for symbolic dimension d
        x = gaussian("x", cov="Lambda")
        return {"E[(x'Ax)^2]": expect((x.T @ matrix("A") @ x) ** 2)}

    def checks(self):
        drop_term = Control.negative("tr(AΛAᵀΛ) left out", lambda ctx: self._mc(ctx, wrong=True))
        return [Check("monte-carlo", "monte-carlo", self._mc, controls=(drop_term,))]

    def _mc(self, ctx, wrong=False):
        exact = traces.evaluate_numpy(self.derive()["E[(x'Ax)^2]"], {"Lambda": LAM, "A": A})
        exact -= wrong * np.trace(A @ LAM @ A.T @ LAM)
        L = np.linalg.cholesky(LAM)
        draw = lambda rng, k: np.einsum("ki,ij,kj->k", x := rng.standard_normal((k, 2)) @ L.T, A, x) ** 2
        est = mc.estimate(draw, 200_000, ctx.seed_sequence())
        return mc_check(est, exact, ctx.alpha, {}, "E[(x'Ax)^2]", effect=0.05)
