"""One description of an in-context regression data model, read by the Wick engine and the samplers.

A claim states its setting once, as a :class:`PromptModel`, and gets from it

* :meth:`PromptModel.error` — the expected squared error ``E(ŷ − y_q)²`` of the linear-attention
  predictor ``ŷ = x_qᵀ Γ (1/M) Σ_i y_i x_i`` (Γ symmetric), derived by the Wick engine
  (:mod:`icl_proofs.moments.wick`) as a trace polynomial with symbolic d (and symbolic M unless a
  number is given);
* :meth:`PromptModel.exact_error` — that expression evaluated exactly at concrete rational matrices;
* :meth:`PromptModel.sampler` — a vectorised Monte-Carlo sampler ``sampler(rng, k)`` of the squared
  error (:mod:`icl_proofs.models.samplers`), a route independent of the derivation;
* :meth:`PromptModel.ols_error` — the OLS baseline on the same test prompt, from the inverse-Wishart
  moments (:mod:`icl_proofs.moments.inverse_wishart`), where that module covers the model;
* the ridge baseline ``ŷ = x_qᵀ(Σ̂ + λI)⁻¹(1/M)Σ y_i x_i`` (isotropic covariates, any task law):
  :meth:`PromptModel.ridge_error_exact` (d = 1, 2, quadrature), :meth:`PromptModel.ridge_sampler`
  (Monte Carlo, any d), :meth:`PromptModel.ridge_risk_limit` (Marchenko–Pastur, M/d = α) and the
  Bayes-optimal λ* (:meth:`PromptModel.bayes_lambda`).

The data model (one test prompt)::

    w ~ N(μ, Ψ)  (or uniform on a finite pool of k tasks, or a fixed task vector),
    x_1..x_M ~ N(0, Λ′) iid,   x_q ~ N(0, Λ_q) (Λ_q = Λ′ unless a query shift is given),
    y_i = ⟨w, x_i⟩ + ε_i,  y_q = ⟨w, x_q⟩ + ε_q,  ε ~ N(0, σ²) iid,

with Λ′ = Λ (the training covariance) unless a covariate shift is given.  N is the training prompt
length (it enters through Γ, e.g. the trained preconditioner Γ⁻¹(Λ, N) of zfb23); M the test one.

Every covariance / mean field takes either a *letter name* (a string: the derivation keeps it as a
symbol, d stays symbolic) or a concrete matrix (then the derivation uses the field's default letter
and :meth:`exact_error` / :meth:`sampler` substitute the value).  This layer may import
``icl_proofs.moments`` and ``icl_proofs.numeric`` but nothing in ``icl_proofs.claims``.

>>> m = PromptModel(M=5)
>>> sorted(l for l in __import__("icl_proofs.moments.traces", fromlist=["x"]).letters_in(m.error()))
['Lambda', 'P']
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import sympy as sp

from ..errors import UserInputError
from ..moments import traces
from ..moments.wick import expect, gaussian, matrix, sample_cov, vector

__all__ = ["PromptModel", "N", "M", "s2"]

#: training and test prompt lengths, and the label-noise variance, when left symbolic (the same
#: SymPy symbols as :mod:`icl_proofs.models.lsa_symbolic`, so derivations from both combine)
N, M = sp.symbols("N M", positive=True)
s2 = sp.Symbol("s2", nonnegative=True)

# default letter of each field when it is given as a concrete matrix
_LETTER = {"Lambda": "Lambda", "Lambda_test": "Lambda_t", "Lambda_query": "Lambda_q",
           "task_cov": "Psi", "task_mean": "mu", "task_vector": "a"}


def _is_letter(v) -> bool:
    return isinstance(v, str)


def _is_matrix(v) -> bool:
    if _is_letter(v):
        return False
    try:
        return min(sp.Matrix(v).shape) >= 1
    except (TypeError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class PromptModel:
    """A Gaussian in-context regression setting (see the module docstring).

    ``Lambda``        training covariate covariance Λ (letter or matrix).
    ``Lambda_test``   test-time covariance Λ′ of the test prompt's covariates *and* query (covariate
                      shift); ``None``: Λ′ = Λ.
    ``Lambda_query``  query covariance Λ_q (query shift, prompt covariates unchanged); ``None``: Λ′.
    ``task_mean``     μ (letter or d×1 matrix); ``None``: 0.
    ``task_cov``      Ψ (letter or matrix); ``None``: I.
    ``task_vector``   a fixed task a (letter or d×1 matrix) instead of a task law.
    ``task_pool``     a finite pool of k tasks (a d×k matrix, columns the tasks) from which the test
                      task is drawn uniformly; see :meth:`with_task_pool`.
    ``sigma2``        label-noise variance σ² (prompt labels and the query label); 0: noiseless.
    ``N``, ``M``      training and test prompt lengths (symbols or positive integers).
    """

    Lambda: Any = "Lambda"
    Lambda_test: Any = None
    Lambda_query: Any = None
    task_mean: Any = None
    task_cov: Any = None
    task_vector: Any = None
    task_pool: Any = None
    sigma2: Any = 0
    N: Any = N
    M: Any = M

    def __post_init__(self):
        laws = sum(x is not None for x in (self.task_vector, self.task_pool)) + \
            (self.task_mean is not None or self.task_cov is not None)
        if laws > 1:
            raise ValueError("give one task law: task_mean/task_cov, task_vector or task_pool")
        if self.task_pool is not None and not _is_matrix(self.task_pool):
            raise ValueError("task_pool must be a d×k matrix of tasks (columns); draw one with with_task_pool")
        for name in ("N", "M"):
            v = sp.sympify(getattr(self, name))
            if v.is_number and (not v.is_integer or v < 1):
                raise ValueError(f"the prompt length {name} must be a positive integer, got {v}")
        v = sp.sympify(self.sigma2)
        if v.is_number and v < 0:
            raise ValueError(f"the noise variance sigma2 must be >= 0, got {v}")

    # ------------------------------------------------------------------ letters and values
    def _letter(self, field: str):
        v = getattr(self, field)
        if v is None:
            return None
        return v if _is_letter(v) else _LETTER[field]

    @property
    def test_cov(self) -> str:
        """Letter of Λ′, the covariance of the test prompt's covariates."""
        return self._letter("Lambda_test") or self._letter("Lambda")

    @property
    def query_cov(self) -> str:
        """Letter of Λ_q, the query's covariance."""
        return self._letter("Lambda_query") or self.test_cov

    def env(self) -> dict:
        """The concrete matrices of this model, by letter (for :func:`traces.evaluate_exact`)."""
        out = {}
        for field in ("Lambda", "Lambda_test", "Lambda_query", "task_cov", "task_mean", "task_vector"):
            v = getattr(self, field)
            if v is not None and not _is_letter(v):
                out[_LETTER[field]] = sp.Matrix(v)
        if self.task_pool is not None:
            out["Psi"] = self.pool_second_moment()
        return out

    def pool_second_moment(self) -> sp.Matrix:
        """(1/k) Σ_j w_j w_jᵀ of the task pool: the only feature of the task law the squared error
        of a linear predictor sees (it is quadratic in w)."""
        W = sp.Matrix(self.task_pool)
        return W * W.T / W.shape[1]

    def with_task_pool(self, rng: np.random.Generator, k: int, denominator: int = 4) -> "PromptModel":
        """This model with its Gaussian task law replaced by a pool of k tasks drawn from it (rounded
        to rationals with the given denominator, so that the exact route stays exact)."""
        d = self.dimension()
        mu = np.zeros(d) if self.task_mean is None else _to_np(self.task_mean).ravel()
        Psi = np.eye(d) if self.task_cov is None else _to_np(self.task_cov)
        draws = rng.multivariate_normal(mu, Psi, size=k)
        pool = sp.Matrix(d, k, lambda i, j: sp.Rational(int(round(draws[j, i] * denominator)), denominator))
        return dataclasses.replace(self, task_mean=None, task_cov=None, task_pool=pool)

    def dimension(self) -> int:
        for field in ("Lambda", "Lambda_test", "Lambda_query", "task_cov"):
            v = getattr(self, field)
            if v is not None and not _is_letter(v):
                return sp.Matrix(v).shape[0]
        raise ValueError("the model has no concrete matrix, so no concrete dimension d")

    # ------------------------------------------------------------------ derivation
    def error(self, Gamma: str = "P") -> sp.Expr:
        """E(ŷ − y_q)² for ŷ = x_qᵀ Γ (1/M) Σ_i y_i x_i, Γ a symmetric letter, by the Wick engine.

        ŷ − y_q = wᵀ(Σ̂Γ − I)x_q + ξᵀΓx_q − ε_q with ξ = (1/M) Σ ε_i x_i.  In the square, ξ appears
        only as ξᵀAξ with no other prompt-dependent factor (cross terms are odd in ε) and
        E[ξξᵀ] = σ²Λ′/M, so ξ is modelled as an independent N(0, σ²Λ′/M) vector.
        """
        rho, noise = self.M, sp.sympify(self.sigma2)
        xq = gaussian("x_q", cov=self.query_cov)
        if self.task_vector is not None:
            w = vector(self._letter("task_vector"))
        else:
            # a pool enters through its second moment (1/k)Σ w_j w_jᵀ, as a centred Gaussian with that
            # covariance: the error is quadratic in w, so only E[wwᵀ] matters
            w = gaussian("w0", cov="Psi" if self.task_pool is not None else self._letter("task_cov"))
            if self.task_mean is not None:
                w = w + vector(self._letter("task_mean"))
        S = sample_cov("Sigma_hat", self.test_cov, rho)
        P = matrix(Gamma, sym=True)
        err = (S @ w).T @ P @ xq - w.T @ xq
        total = expect(err ** 2)
        if noise != 0:
            xi = gaussian("xi", cov=self.test_cov)
            total += (noise / rho) * expect((xi.T @ P @ xq) ** 2) + noise
        return sp.expand(total)

    def exact_error(self, Gamma, expr: sp.Expr | None = None, Gamma_letter: str = "P", **values) -> sp.Expr:
        """:meth:`error` (or a precomputed ``expr`` of it) evaluated exactly at this model's concrete
        matrices, N, M, σ² and the concrete ``Gamma``; ``values`` give further scalar symbols."""
        expr = self.error(Gamma_letter) if expr is None else expr
        env = {Gamma_letter: sp.Matrix(Gamma), **self.env()}
        missing = traces.letters_in(expr) - set(env)
        if missing:
            raise ValueError(f"no concrete value for {sorted(missing)}: give them as matrices")
        expr = expr.subs(self._scalar_values())
        return traces.evaluate_exact(expr, env, values or None)

    def _scalar_values(self) -> dict:
        out = {}
        for sym, v in ((N, self.N), (M, self.M), (s2, self.sigma2)):
            if sym != v:
                out[sym] = v
        return out

    # ------------------------------------------------------------------ Monte Carlo
    def sampler(self, Gamma, method: str = "conditional"):
        """``sampler(rng, k)``: k iid squared errors (NumPy, vectorised) at this concrete model.

        ``method="conditional"``: the Rao-Blackwellised estimator (samples only Σ̂, error given Σ̂ in
        closed form; same mean, far smaller variance).  ``method="naive"``: whole prompts simulated
        and the LSA forward pass run (a pool is sampled by drawing a task index per prompt).
        The arguments passed to :mod:`icl_proofs.models.samplers` are the defaults (``None``)
        wherever the model uses the default law, so the random stream is that of a direct call.
        """
        from . import samplers

        n_m = sp.sympify(self.M)
        if not n_m.is_number:
            raise ValueError("the sampler needs a concrete test prompt length M")
        kwargs = self._sampler_kwargs()
        test = self._value("Lambda_test")
        P, cov, m = _to_np(Gamma), _to_np(self._value("Lambda") if test is None else test), int(n_m)
        if method == "conditional":
            if self.task_pool is not None:
                kwargs["w_cov"] = _to_np(self.pool_second_moment())
            return samplers.conditional_sampler(P, cov, m, **kwargs)
        if method == "naive":
            return self._naive_sampler(P, cov, m, kwargs)
        raise ValueError(f"method must be 'conditional' or 'naive', got {method!r}")

    def _naive_sampler(self, P, cov, m, kwargs):
        from . import samplers
        from . import lsa

        params = lsa.LSAParams.reduced(P)
        if self.task_pool is None:
            return lambda rng, k: samplers.naive_prediction_error_samples(rng, params, cov, m, k, **kwargs)
        pool = _to_np(self.task_pool)
        return lambda rng, k: _pool_samples(rng, k, params, cov, m, pool, kwargs)

    def _value(self, field):
        v = getattr(self, field)
        if v is None:
            return None
        if _is_letter(v):
            raise ValueError(f"{field} is the letter {v!r}: the sampler needs a concrete matrix")
        return v

    def _sampler_kwargs(self) -> dict:
        kw = {}
        if self.Lambda_query is not None:
            kw["Lambda_query"] = _to_np(self._value("Lambda_query"))
        if self.task_vector is not None:
            d = sp.Matrix(self._value("task_vector")).shape[0]
            kw["w_mean"], kw["w_cov"] = _to_np(self.task_vector).ravel(), np.zeros((d, d))
        if self.task_mean is not None:
            kw["w_mean"] = _to_np(self._value("task_mean")).ravel()
        if self.task_cov is not None:
            kw["w_cov"] = _to_np(self._value("task_cov"))
        noise = sp.sympify(self.sigma2)
        if not noise.is_number:
            raise ValueError("the sampler needs a concrete noise variance sigma2")
        if noise != 0:
            kw["noise_sd"] = kw["query_noise_sd"] = float(sp.sqrt(noise))
        return kw

    # ------------------------------------------------------------------ baselines
    def ols_error(self):
        """E(x_qᵀŵ_OLS − y_q)² on the test prompt (M examples, covariance Λ′, query Λ_q, noise σ²),
        from :func:`icl_proofs.moments.inverse_wishart.ols_icl_error` (exists iff M > d + 1; the
        OLS error does not depend on the task law).  Symbolic in d when Λ′ and Λ_q are letters."""
        from ..moments import inverse_wishart as iw

        sigma = self.Lambda if self.Lambda_test is None else self.Lambda_test
        query = self.Lambda_query
        if _is_letter(sigma):
            sigma = None   # Σ symbolic of size d
        if _is_letter(query):
            raise ValueError("a symbolic query shift needs concrete matrices for the OLS baseline")
        return iw.ols_icl_error(N=self.M, sigma2=self.sigma2, Sigma=sigma, Sigma_q=query,
                                with_label_noise=True)

    # ------------------------------------------------------------------ ridge baseline
    # ŷ = x_qᵀ(Σ̂ + λI)⁻¹(1/M)Σ y_i x_i on the test prompt.  The resolvent has no closed form in a
    # symbolic d, so the ridge routes need isotropic covariates Λ′ = cI, Λ_q = qI at a concrete d:
    # exact quadrature at d = 1, 2, Monte Carlo at any d, and the Marchenko–Pastur limit.
    def _ridge_setting(self) -> dict:
        """d, c (Λ′ = cI), q (Λ_q = qI) and signal = tr E[wwᵀ] (the only feature of the task law the
        ridge error sees when the covariates are isotropic, see :mod:`icl_proofs.moments.resolvent`)."""
        test = self.Lambda if self.Lambda_test is None else self.Lambda_test
        c = _isotropic_scale(test, "the test covariance Λ′")
        q = c if self.Lambda_query is None else _isotropic_scale(self.Lambda_query, "the query covariance Λ_q")
        d = _as_np(test).shape[0]
        if self.task_vector is not None:
            a = _as_np(self._value("task_vector")).ravel()
            signal = float(a @ a)
        elif self.task_pool is not None:
            signal = float(np.trace(_as_np(self.pool_second_moment())))
        else:
            signal = float(d if self.task_cov is None else np.trace(_as_np(self._value("task_cov"))))
            if self.task_mean is not None:
                mu = _as_np(self._value("task_mean")).ravel()
                signal += float(mu @ mu)
        m, noise = sp.sympify(self.M), sp.sympify(self.sigma2)
        if not (m.is_number and noise.is_number):
            raise UserInputError("the ridge baseline needs a concrete test prompt length M and noise sigma2")
        return {"d": d, "c": c, "q": q, "signal": signal, "M": int(m), "sigma2": float(noise)}

    def ridge_error_exact(self, lam, dps: int = 30):
        """E(ŷ_ridge − y_q)² exactly (mpmath quadrature of the Wishart eigenvalue law) at d = 1 or 2."""
        from ..moments import resolvent as rv

        st = self._ridge_setting()
        t1, t2 = rv.resolvent_traces_exact(st["d"], st["M"], lam, scale=st["c"], dps=dps)
        return rv.ridge_error_from_traces(t1, t2, lam=lam, d=st["d"], N=st["M"], sigma2=st["sigma2"],
                                          signal=st["signal"], query_scale=st["q"])

    def ridge_sampler(self, lam):
        """``sampler(rng, k)``: k iid ridge errors, each conditional on a sampled prompt's spectrum
        (task, noise and query integrated out exactly: same mean as whole-prompt simulation)."""
        from ..moments import resolvent as rv

        st = self._ridge_setting()

        def sample(rng, k):
            t1, t2 = rv.sample_resolvent_traces(rng, st["d"], st["M"], float(lam), k, scale=st["c"])
            return rv.ridge_error_from_traces(t1, t2, lam=float(lam), d=st["d"], N=st["M"], sigma2=st["sigma2"],
                                              signal=st["signal"], query_scale=st["q"])
        return sample

    def ridge_risk_limit(self, lam, alpha=None) -> sp.Expr:
        """The proportional limit (d, M → ∞, M/d = α; default α = M/d of this model) of the ridge error,
        from the Marchenko–Pastur deterministic equivalent :func:`icl_proofs.moments.proportional.ridge_risk_limit`
        with the task signal tr E[wwᵀ] held fixed.  With Λ′ = cI the ridge at λ on Σ̂ is the ridge at λ/c
        on Σ̂/c with noise σ²/c, scaled by the query variance q; the query label adds σ²."""
        from ..moments import proportional as pp

        st = self._ridge_setting()
        alpha = sp.Rational(st["M"], st["d"]) if alpha is None else sp.sympify(alpha)
        c, q = sp.nsimplify(st["c"]), sp.nsimplify(st["q"])
        noise, signal = sp.nsimplify(st["sigma2"]), sp.nsimplify(st["signal"])
        lam = sp.sympify(lam)
        return q * pp.ridge_risk_limit(lam / c, 1 / alpha, noise / c, signal) + noise

    def bayes_lambda(self):
        """λ* = σ²/(ψM): the ridge equal to the posterior mean for the task law w ~ N(0, ψI) (the
        Bayes-optimal predictor of this model), with Σ̂ = (1/M)XᵀX."""
        from ..moments import resolvent as rv

        st = self._ridge_setting()
        if self.task_vector is not None or self.task_pool is not None or self.task_mean is not None:
            raise UserInputError("the Bayes ridge needs a centred isotropic Gaussian task law w ~ N(0, ψI)")
        psi = 1.0 if self.task_cov is None else _isotropic_scale(self.task_cov, "the task covariance Ψ")
        return rv.bayes_lambda(st["sigma2"], psi, st["M"])


def _as_np(A) -> np.ndarray:
    """A float array (a NumPy array passes through: converting a d = 400 matrix through SymPy is slow)."""
    if isinstance(A, np.ndarray):
        return A.astype(float)
    return _to_np(A)


def _isotropic_scale(A, what: str) -> float:
    """c where A = cI (c > 0); anything else is refused in one line."""
    if _is_letter(A):
        raise UserInputError(f"{what} is the letter {A!r}: the ridge baseline needs it as a concrete multiple of I")
    A = _as_np(A)
    c = float(A[0, 0])
    if A.ndim != 2 or A.shape[0] != A.shape[1] or c <= 0 or not np.allclose(A, c * np.eye(A.shape[0]), rtol=0, atol=0):
        raise UserInputError(f"the ridge baseline needs isotropic covariates: {what} must be c·I with c > 0")
    return c


def _to_np(A) -> np.ndarray:
    return np.array(sp.Matrix(A).evalf(20).tolist(), dtype=float)


def _pool_samples(rng, k, params, cov, m, pool, kwargs):
    """Naive simulation with the task drawn uniformly from the pool's columns, per prompt."""
    from . import samplers

    kw = {key: v for key, v in kwargs.items() if key not in ("w_mean", "w_cov")}
    idx = rng.integers(0, pool.shape[1], size=k)
    out = np.empty(k)
    for j in range(pool.shape[1]):            # one batched call per pool task, not per prompt
        sel = np.flatnonzero(idx == j)
        if sel.size:
            out[sel] = samplers.naive_prediction_error_samples(
                rng, params, cov, m, sel.size, w_mean=pool[:, j], w_cov=np.zeros((pool.shape[0],) * 2), **kw)
    return out
