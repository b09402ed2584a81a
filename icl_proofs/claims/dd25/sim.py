"""dd25 simulation pipeline at finite d: data → stage 1 (one gradient step on F) → stage 2 (ridge
readouts of the MLP, the equivalent polynomial model and the linear transformer) → per-source test
errors, repeated over independent runs with confidence intervals.

Memory: the pipeline holds one n × d(d+1) feature matrix at a time (the stage-2 contexts overwrite
the stage-1 buffer) and streams the test contexts in chunks; :func:`memory_bytes` estimates the peak
before anything is allocated, and sizes beyond the budget are refused with a one-line error.

Reproducibility: run r uses ``SeedSequence(seed).spawn(runs)[r]``, split further per stage and per
chunk of contexts, so a run's numbers do not depend on how many runs are done or in which order.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from typing import Callable

import numpy as np
from scipy import stats

from ..base import UserInputError
from . import data
from . import mlp
from ...numeric import montecarlo as mc

MODELS = ("linear", "mlp", "equivalent")

#: deliberately wrong equivalent models (negative controls of the Theorem 4.12-type checks), each a
#: transformation of the degree-p coefficients (c_0..c_p, c*_p) derived for the activation.  They are
#: fitted on the same F̂ and the same stage-2 data as the true equivalent model, so a gap between two
#: models is a paired (common-random-numbers) difference.
EQ_CONTROLS = {
    "c1-halved": "c_1 halved (the Stein/linear coefficient off by a factor 2)",
    "c2-doubled-no-cstar": "c_2 doubled and c*_p = 0 (wrong quadratic term, no Gaussian noise term)",
    "linearised": "c_i = 0 for i >= 2 and c*_p = 0 (the linearised model c_0 + c_1 x)",
}


def control_coefficients(name: str, coeffs, cstar: float):
    """(coefficients, c*) of the wrong equivalent model ``name`` (see :data:`EQ_CONTROLS`).

    >>> control_coefficients("linearised", [0.4, 0.5, 0.2, 0.0], 0.1)
    ([0.4, 0.5, 0.0, 0.0], 0.0)
    >>> control_coefficients("c1-halved", [0.4, 0.5, 0.2], 0.1)
    ([0.4, 0.25, 0.2], 0.1)
    """
    c = [float(x) for x in coeffs]
    if name == "c1-halved":
        c[1] = c[1] / 2
        return c, float(cstar)
    if name == "c2-doubled-no-cstar":
        if len(c) > 2:
            c[2] = 2 * c[2]
        return c, 0.0
    if name == "linearised":
        return [x if i < 2 else 0.0 for i, x in enumerate(c)], 0.0
    raise UserInputError(f"unknown equivalent-model control {name!r}; known: {', '.join(EQ_CONTROLS)}")


@dataclasses.dataclass(frozen=True)
class Config:
    """One experimental configuration (defaults: the paper's Fig. 2 setting at the given d).

    ``eta_scale``: step size η = eta_scale · d² (the paper: η ≍ d²).  ``lam``: ridge λ, applied as
    nλ‖w‖² (``lam_scaling="n"``) or λ‖w‖² (``"1"``); the linear baseline uses ``lam_linear``
    (default: the same λ).  ``kappa``: first-block scale of b.  ``noisy_test_label``: test error
    against y_{ℓ+1} (with noise, default) or against φ(u_{ℓ+1}).
    """

    d: int
    ell: int
    n: int
    k: int
    sources: tuple[data.Source, ...]
    rho: tuple[float, ...]
    activation: str = "relu"
    p: int = 5
    eta_scale: float = 1.0
    lam: float = 5e-5
    lam_linear: float | None = None
    lam_scaling: str = "n"
    kappa: float = 1.0
    noisy_test_label: bool = True
    n_test: int = 1000
    dtype: str = "float64"
    models: tuple[str, ...] = MODELS
    #: further Hermite degrees for the equivalent model, fitted on the same F̂ (keys "equivalent@p=Q")
    extra_p: tuple[int, ...] = ()
    #: wrong equivalent models at degree p (names from :data:`EQ_CONTROLS`), fitted on the same F̂ and
    #: data (keys "equivalent~NAME", paired gaps "mlp-equivalent~NAME")
    eq_controls: tuple[str, ...] = ()
    diagnostics: bool = False
    #: training contexts from :func:`data.sample_mixture` with ``coupled=True`` (common random numbers
    #: across mixtures ρ: compare ρ on paired runs)
    coupled: bool = False
    #: the linear transformer's ridge: "kron" (dual Gram (X Xᵀ) ∘ (B Bᵀ) from the Kronecker factors
    #: when the dual is smaller) or "features" (the Gram of the formed features: the old route, kept
    #: for paired benchmarks; the same solution to rounding)
    linear_gram: str = "kron"

    def __post_init__(self):
        for name in ("d", "ell", "n", "k", "n_test"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise UserInputError(f"{name} must be a positive integer, got {v!r}")
        if not self.sources:
            raise UserInputError("at least one source is needed")
        if any(s.d != self.d for s in self.sources):
            raise UserInputError(f"every source must be {self.d}-dimensional")
        object.__setattr__(self, "rho", tuple(data.check_mixture(self.rho, len(self.sources)).tolist()))
        for q in (self.p,) + tuple(self.extra_p):
            if q < 0 or int(q) != q:
                raise UserInputError(f"Hermite degree p must be an integer >= 0, got {q}")
        if self.dtype not in ("float64", "float32"):
            raise UserInputError(f"dtype must be float64 or float32, got {self.dtype!r}")
        if self.linear_gram not in ("kron", "features"):
            raise UserInputError(f"linear_gram must be 'kron' or 'features', got {self.linear_gram!r}")
        if self.lam_scaling not in ("n", "1"):
            raise UserInputError(f"lam_scaling must be 'n' or '1', got {self.lam_scaling!r}")
        if not (self.lam >= 0) or not math.isfinite(self.lam):
            raise UserInputError(f"ridge lam must be finite and >= 0, got {self.lam}")
        unknown = set(self.models) - set(MODELS)
        if unknown or not self.models:
            raise UserInputError(f"models must be a non-empty subset of {MODELS}, got {self.models}")
        bad = set(self.eq_controls) - set(EQ_CONTROLS)
        if bad:
            raise UserInputError(f"unknown equivalent-model controls {sorted(bad)}; known: {', '.join(EQ_CONTROLS)}")
        if self.eq_controls and "mlp" not in self.models:
            raise UserInputError("equivalent-model controls need the mlp model (their gaps are to it)")

    @property
    def D(self) -> int:
        return self.d * (self.d + 1)

    @property
    def eta(self) -> float:
        return self.eta_scale * self.d ** 2

    def with_(self, **kw) -> "Config":
        return dataclasses.replace(self, **kw)


def memory_bytes(cfg: Config) -> int:
    """Peak bytes of one run: F and G (k × D), one feature matrix (n × D), three n × k arrays, the
    float64 ridge systems and a test chunk."""
    it = np.dtype(cfg.dtype).itemsize
    n, k, D = cfg.n, cfg.k, cfg.D
    ridge = 8 * (min(n, k) ** 2 + n * k + min(n, D) ** 2 + n * D * (cfg.dtype == "float32"))
    chunk = it * data.CHUNK * ((cfg.ell + 1) * cfg.d + D + 2 * k)
    return int(it * (2 * k * D + n * D + 3 * n * k) + ridge + chunk)


def memory_budget() -> int:
    """Half the machine's physical memory (override with ICL_PROOFS_MAX_BYTES)."""
    env = os.environ.get("ICL_PROOFS_MAX_BYTES")
    if env:
        return int(float(env))
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def check_memory(cfg: Config) -> int:
    need, have = memory_bytes(cfg), memory_budget()
    if need > have:
        raise UserInputError(f"d={cfg.d}, n={cfg.n}, k={cfg.k} needs about {need / 2**30:.1f} GiB "
                             f"but the budget is {have / 2**30:.1f} GiB (set ICL_PROOFS_MAX_BYTES to change it)")
    return need


@dataclasses.dataclass
class _Act:
    sigma: Callable
    dsigma: Callable
    coeffs: dict  # p or control key -> c_0..c_p
    cstar: dict  # p or control key -> c*_p
    alpha: float  # E[σ'(g)] (= c_1 by Stein's lemma)


def _activation(cfg: Config, diagnostics: bool = False) -> _Act:
    from ...moments import hermite

    sigma, dsigma = hermite.activation_numpy(cfg.activation)
    # only what the configured models use (so a derivation's value is read only where it matters,
    # which is what mutation testing needs to know)
    ps = sorted({q for q in _eq_keys(cfg).values() if isinstance(q, int)} | ({cfg.p} if cfg.eq_controls else set()))
    coeffs = {q: np.array([float(c) for c in hermite.hermite_coefficients(cfg.activation, q)]) for q in ps}
    cstar = {q: math.sqrt(max(float(hermite.residual_sq(cfg.activation, q)), 0.0)) for q in ps}
    for name in cfg.eq_controls:  # wrong models: transformations of the derived degree-p coefficients
        c, cs = control_coefficients(name, coeffs[cfg.p], cstar[cfg.p])
        coeffs[_control_key(name)], cstar[_control_key(name)] = np.array(c), cs
    alpha = float(hermite.derivative_mean(cfg.activation)) if diagnostics or cfg.diagnostics else math.nan
    return _Act(sigma, dsigma, coeffs, cstar, alpha)


def _sigma_hat(act: _Act, p: int, Z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """σ̂_p(Z) = Σ_{i≤p} c_i He_i(Z) + c*_p z with fresh z ~ N(0, 1) per entry.  z is drawn in
    float64 whatever Z's dtype (the numbers of ``hermite.sigma_hat`` in float64), so a float32 run
    differs from the float64 one by rounding only."""
    from ...moments.hermite import hermite_series

    out = hermite_series(act.coeffs[p], Z)
    out += (float(act.cstar[p]) * rng.standard_normal(Z.shape)).astype(Z.dtype, copy=False)
    return out


def _control_key(name: str) -> str:
    return f"equivalent~{name}"


def _eq_keys(cfg: Config) -> dict:
    """Model key -> key of its coefficients in :class:`_Act` (a degree, or the control's key)."""
    keys = {"equivalent": cfg.p} if "equivalent" in cfg.models else {}
    keys.update({f"equivalent@p={q}": q for q in cfg.extra_p})
    keys.update({_control_key(name): _control_key(name) for name in cfg.eq_controls})
    return keys


def run_once(cfg: Config, seed: np.random.SeedSequence, act: _Act | None = None,
             stage1_only: bool = False) -> dict:
    """One training + test run.  Returns per-source squared errors (mean and standard error over the
    test contexts) for each model, the trivial predictor's error (Var of the test label), and
    diagnostics (t, Lemma 4.9 / 4.11 statistics) when ``cfg.diagnostics``."""
    act = act or _activation(cfg, stage1_only)
    dt = np.dtype(cfg.dtype).type
    s_init, s_train1, s_train2, s_test, s_noise = seed.spawn(5)
    rng_init, rng_noise = np.random.default_rng(s_init), np.random.default_rng(s_noise)
    # the control models draw their z from a stream of their own, so adding them leaves the numbers
    # of the other models unchanged (s_noise is fresh here, so its first spawn is reproducible)
    rng_controls = np.random.default_rng(s_noise.spawn(1)[0])
    noise_for = lambda key: rng_controls if key.startswith("equivalent~") else rng_noise  # noqa: E731
    k, n = cfg.k, cfg.n
    src, rho = cfg.sources, np.array(cfg.rho)
    lam_total = cfg.lam * (n if cfg.lam_scaling == "n" else 1)
    lam_lin = (cfg.lam if cfg.lam_linear is None else cfg.lam_linear) * (n if cfg.lam_scaling == "n" else 1)
    need_mlp = "mlp" in cfg.models or "equivalent" in cfg.models
    diag: dict = {}

    # Stage 1: one gradient step on F (w frozen) with fresh contexts.
    batch = data.sample_mixture(src, rho, n, cfg.ell, s_train1, cfg.kappa, dt, coupled=cfg.coupled)
    H = batch.h
    sq = np.einsum("ij,ij->i", H, H, dtype=np.float64)
    t = float(sq.mean())  # t = tr Cov(vec H) = E‖h‖² (E h = 0); the empirical mean is consistent
    diag["t"] = t
    if need_mlp:
        F, w = mlp.init_mlp(k, cfg.D, t, rng_init, dt)
        Z = H @ F.T
        G = mlp.gradient(F, w, H, batch.y, act.sigma, act.dsigma, Z)
        if cfg.diagnostics or stage1_only:
            diag.update(_diagnostics(cfg, act, F, w, H, batch.y, Z, G, sq, t))
        del Z
        F += dt(cfg.eta) * G
        del G
    if stage1_only:
        return {"errors": {}, "diagnostics": diag}

    # Stage 2: fresh contexts overwrite the stage-1 buffer (one feature matrix at a time; inside
    # data.reuse the batches are shared read-only and the buffer is not overwritten)
    batch = data.sample_mixture(src, rho, n, cfg.ell, s_train2, cfg.kappa, dt, out=H, coupled=cfg.coupled)
    H = batch.h
    readout = {}
    if need_mlp:
        Z = H @ F.T
        if "mlp" in cfg.models:
            readout["mlp"] = mlp.ridge(act.sigma(Z) * dt(1 / math.sqrt(k)), batch.y, lam_total)
        for key, q in _eq_keys(cfg).items():
            readout[key] = mlp.ridge(_sigma_hat(act, q, Z, noise_for(key)) * dt(1 / math.sqrt(k)), batch.y, lam_total)
        del Z
    if "linear" in cfg.models:
        # the dual Gram from the Kronecker factors when the dual is the smaller system (same ridge)
        readout["linear"] = (mlp.ridge_kron(batch.xq, batch.b, batch.y, lam_lin)
                             if cfg.D > n and cfg.linear_gram == "kron" else mlp.ridge(H, batch.y, lam_lin))
    del H, batch

    # Test: each source separately, streamed in chunks.
    eq_keys = _eq_keys(cfg)
    out = {m: [] for m in ("linear", "mlp", *eq_keys) if m in readout}
    out["trivial"] = []
    out.update({"mlp-" + key: [] for key in eq_keys if "mlp" in readout})
    for j, (s, child) in enumerate(zip(src, s_test.spawn(len(src)))):
        acc = {m: mc.RunningMoments() for m in out}
        for tb in data.iter_source(s, cfg.n_test, cfg.ell, child, cfg.kappa, dt):
            target = tb.y if cfg.noisy_test_label else tb.f
            preds = {}
            if need_mlp:
                Zt = tb.h @ F.T
                if "mlp" in readout:
                    preds["mlp"] = act.sigma(Zt) @ readout["mlp"] / math.sqrt(k)
                for key, q in eq_keys.items():
                    preds[key] = _sigma_hat(act, q, Zt, noise_for(key)) @ readout[key] / math.sqrt(k)
            if "linear" in readout:
                preds["linear"] = tb.h @ readout["linear"]
            errs = {m: (target - preds[m]) ** 2 for m in preds}
            for m, e in errs.items():
                acc[m].update(e)
            acc["trivial"].update(target)  # the trivial (best constant) predictor's error is Var(y)
            for key in eq_keys:
                if "mlp" in errs:
                    acc["mlp-" + key].update(errs["mlp"] - errs[key])
        for m in out:
            if m == "trivial":
                out[m].append((acc[m].var, math.nan))
            elif acc[m].n:
                est = acc[m].estimate()
                out[m].append((est.mean, est.se))
    out = {m: v for m, v in out.items() if v}
    return {"errors": out, "diagnostics": diag}


def _diagnostics(cfg, act, F, w, H, y, Z, G, sq, t) -> dict:
    """Lemma 4.9: ‖h‖²/t and the preactivations at initialisation; Lemma 4.11: the rank-one spike
    α w vᵀ against the rest of the gradient."""
    z = Z.astype(np.float64).ravel()
    zc = z - z.mean()
    var = float(np.mean(zc ** 2))
    alpha = act.alpha
    # float64 copies made once for both splits (the values are those of converting per call)
    G64, w64, H64, y64 = (a.astype(np.float64, copy=False) for a in (G, w, H, y))
    u, v, rest = mlp.spike_and_rest(G64, F, w64, H64, y64, alpha)
    spike = float(np.linalg.norm(u) * np.linalg.norm(v))
    # the negative control of Lemma 4.11: the same split with α halved (u = (α/2) w)
    u_h, v_h, rest_h = mlp.spike_and_rest(G64, F, w64, H64, y64, alpha / 2)
    return {
        "spike_opnorm_alpha_halved": float(np.linalg.norm(u_h) * np.linalg.norm(v_h)),
        "rest_opnorm_alpha_halved": mlp.opnorm(rest_h),
        "norm_ratio_mean": float(np.mean(sq / t)),
        "norm_ratio_sd": float(np.std(sq / t, ddof=1)),
        "preact_mean": float(z.mean()),
        "preact_var": var,
        "preact_excess_kurtosis": float(np.mean(zc ** 4) / var ** 2 - 3.0),
        "spike_opnorm": spike,
        "rest_opnorm": mlp.opnorm(rest),
        "grad_opnorm": mlp.opnorm(G64),
    }


# ---------------------------------------------------------------------------------- many runs
@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean over independent runs with a Student-t confidence interval (runs ≥ 2)."""

    mean: float
    se: float
    runs: int

    def ci(self, alpha: float = 0.05) -> tuple[float, float]:
        if self.runs < 2 or not math.isfinite(self.se):
            return (-math.inf, math.inf)
        q = stats.t.ppf(1 - alpha / 2, self.runs - 1)
        return (self.mean - q * self.se, self.mean + q * self.se)

    def to_json(self, alpha: float = 0.05) -> dict:
        lo, hi = self.ci(alpha)
        return {"mean": self.mean, "se": self.se, "runs": self.runs, "ci": [lo, hi], "ci_level": 1 - alpha}

    @classmethod
    def of(cls, values) -> "Summary":
        v = np.asarray(values, dtype=float)
        se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.inf
        return cls(float(v.mean()), se, int(v.size))


@dataclasses.dataclass
class Result:
    """Per-run errors ``per_run[model][r, s]`` and their summaries (raw, uniform-mixture average,
    normalised by the trivial predictor's error per source)."""

    config: Config
    per_run: dict[str, np.ndarray]
    diagnostics: list[dict]
    seconds: float

    def summary(self, model: str, source: int | None = None, normalised: bool = False) -> Summary:
        e = self.per_run[model]
        if normalised:
            e = e / self.per_run["trivial"]
        return Summary.of(e.mean(axis=1) if source is None else e[:, source])

    def to_json(self, alpha: float = 0.05) -> dict:
        out = {"config": config_json(self.config), "seconds": round(self.seconds, 3), "errors": {}}
        for m in self.per_run:
            out["errors"][m] = {
                "uniform": self.summary(m).to_json(alpha),
                "per_source": [self.summary(m, s).to_json(alpha) for s in range(len(self.config.sources))],
            }
            if m != "trivial" and not m.startswith("mlp-"):
                out["errors"][m]["uniform_normalised"] = self.summary(m, normalised=True).to_json(alpha)
        if self.diagnostics and self.diagnostics[0]:
            out["diagnostics"] = {k: Summary.of([dg[k] for dg in self.diagnostics]).to_json(alpha)
                                  for k in self.diagnostics[0]}
        return out


def config_json(cfg: Config) -> dict:
    d = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "sources"}
    d["sources"] = [s.describe() for s in cfg.sources]
    d["eta"] = cfg.eta
    d["models"] = list(cfg.models)
    d["rho"] = list(cfg.rho)
    return d


@dataclasses.dataclass(frozen=True)
class _Run:
    """Task of one run: its stream is spawn ``index`` of the simulation's seed."""

    index: int
    seed: np.random.SeedSequence
    stage1_only: bool = False


def _run_task(shared: tuple, task: _Run) -> dict:
    cfg, act = shared
    return run_once(cfg, task.seed, act, stage1_only=task.stage1_only)


def _runs(cfg: Config, runs: int, seed: int, stage1_only: bool = False):
    """Results of ``run_once`` for runs 0..runs-1, in order, on the current executor.

    Local workers are capped so that they fit the memory budget together (each holds one run).
    """
    from ... import parallel

    if runs < 1:
        raise UserInputError(f"runs must be >= 1, got {runs}")
    need = check_memory(cfg)
    act = _activation(cfg, stage1_only)
    ex = parallel.current()
    if ex.scheduler is None and ex.local_workers > 1:
        fit = max(1, memory_budget() // max(need, 1))
        if fit < ex.local_workers:
            ex = dataclasses.replace(ex, workers=int(fit))
    tasks = [_Run(r, child, stage1_only) for r, child in enumerate(np.random.SeedSequence(seed).spawn(runs))]
    return parallel.imap_ordered(_run_task, (cfg, act), tasks, execution=ex, n_tasks=runs)


def _fresh(seed: np.random.SeedSequence) -> np.random.SeedSequence:
    """A copy of ``seed`` that has spawned nothing yet (its spawns are then those of the original's
    first spawns, which is what run_once reads)."""
    return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)


def _run_many_task(shared: tuple, task: _Run) -> list:
    """Run ``task`` of every configuration, on one draw of the run's data (:func:`data.reuse`)."""
    cfgs, acts = shared
    with data.reuse():
        return [run_once(cfg, _fresh(task.seed), act) for cfg, act in zip(cfgs, acts)]


def simulate_many(cfgs: list[Config], runs: int, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> list[Result]:
    """``simulate(cfg, runs, seed)`` for each configuration, with the same numbers, but run by run:
    run r of every configuration is done together, and contexts that two configurations draw from
    the same stream (e.g. configurations that differ only in η, k, the activation, or — with
    ``coupled`` — the mixture ρ) are drawn once (:func:`data.reuse`).  ``seconds`` of each result is
    the total time over all of them."""
    from ... import parallel
    from ...parallel import progress as progress_

    if runs < 1:
        raise UserInputError(f"runs must be >= 1, got {runs}")
    cfgs = list(cfgs)
    need = sum(check_memory(c) for c in cfgs)
    acts = [_activation(c) for c in cfgs]
    ex = parallel.current()
    if ex.scheduler is None and ex.local_workers > 1:
        fit = max(1, memory_budget() // max(need, 1))
        if fit < ex.local_workers:
            ex = dataclasses.replace(ex, workers=int(fit))
    report = progress_.sink(progress)
    t0 = time.perf_counter()
    tasks = [_Run(r, child) for r, child in enumerate(np.random.SeedSequence(seed).spawn(runs))]
    per_run = [dict() for _ in cfgs]
    results = parallel.imap_ordered(_run_many_task, (cfgs, acts), tasks, execution=ex, n_tasks=runs)
    with contextlib.closing(results):
        for r, res_list in enumerate(results):
            for i, res in enumerate(res_list):
                for m, vals in res["errors"].items():
                    per_run[i].setdefault(m, []).append([v[0] for v in vals])
            report(f"dd25 run {r + 1}/{runs} of {len(cfgs)} configurations {time.perf_counter() - t0:.1f} s")
    secs = time.perf_counter() - t0
    return [Result(c, {m: np.array(v, dtype=float) for m, v in pr.items()}, [], secs) for c, pr in zip(cfgs, per_run)]


def simulate(cfg: Config, runs: int, seed: int = 0, progress: Callable[[str], None] | None = None) -> Result:
    """``runs`` independent runs of :func:`run_once`; run r's stream is spawn r of ``seed``.

    Runs are spread over the current :mod:`icl_proofs.parallel` executor; the result does not depend
    on how many workers ran them.
    """
    from ...parallel import progress as progress_

    report = progress_.sink(progress)
    t0 = time.perf_counter()
    per_run: dict[str, list] = {}
    diags = []
    results = _runs(cfg, runs, seed)
    with contextlib.closing(results):
        for r, res in enumerate(results):
            for m, vals in res["errors"].items():
                per_run.setdefault(m, []).append([v[0] for v in vals])
            diags.append(res["diagnostics"])
            report(f"dd25 run {r + 1}/{runs} (d={cfg.d}, n={cfg.n}, k={cfg.k}) "
                   f"{time.perf_counter() - t0:.1f} s")
    arr = {m: np.array(v, dtype=float) for m, v in per_run.items()}
    return Result(cfg, arr, diags if cfg.diagnostics else [], time.perf_counter() - t0)


# ---------------------------------------------------------------------------------- settings
def fig2_config(d: int, which: str = "task", rho1: float = 0.5, activation: str = "relu", p: int = 5,
                c: float = 0.5, **kw) -> Config:
    """The paper's Fig. 2 family: S = 2, ℓ = d, n = k = c·d², one source 'high quality'.

    ``which``: "input" (source 1 has Σ_x = I + d γγᵀ), "task" (source 1 has Σ_ξ = I + d² γγᵀ) or
    "noise" (Δ_0 = 0.2, Δ_1 = ``delta1``).  ρ = (1 − rho1, rho1).
    """
    nk = max(1, int(round(c * d * d)))
    theta_task = kw.pop("theta_task", float(d * d))
    theta_input = kw.pop("theta_input", float(d))
    delta1 = kw.pop("delta1", 0.01)
    I = data.Cov.identity(d)
    base = data.Source(I, I, 0.01)
    if which == "input":
        other = data.Source(data.Cov.spiked(d, theta_input), I, 0.01)
    elif which == "task":
        other = data.Source(I, data.Cov.spiked(d, theta_task), 0.01)
    elif which == "noise":
        base = data.Source(I, I, 0.2)
        other = data.Source(I, I, delta1)
    else:
        raise UserInputError(f"which must be input, task or noise, got {which!r}")
    return Config(d=d, ell=kw.pop("ell", d), n=kw.pop("n", nk), k=kw.pop("k", nk), sources=(base, other),
                  rho=(1 - rho1, rho1), activation=activation, p=p, **kw)


def stage1_diagnostics(cfg: Config, runs: int, seed: int = 0) -> list[dict]:
    """Lemma 4.9 / 4.11 statistics of the first stage only (no readouts, no test), one dict per run."""
    results = _runs(cfg, runs, seed, stage1_only=True)
    with contextlib.closing(results):
        return [res["diagnostics"] for res in results]
