"""dd25 speed-ups and variance reduction (issue 17 item 4; decisive quick verdicts): float32 feature
maps with float64 draws and ridge solves, the Kronecker-factored linear ridge, per-run reuse of drawn
contexts, coupled (common-random-number) mixtures, paired slopes, and the rate rule of limit
statements.  Each test names the independent route it compares against.
"""
import math

import numpy as np
import pytest

from icl_proofs.claims.dd25 import data
from icl_proofs.claims.dd25 import limits
from icl_proofs.claims.dd25 import mlp
from icl_proofs.claims.dd25 import sim
from icl_proofs.claims.dd25 import simulation


def _thm_config(d=12, **kw):
    return sim.fig2_config(d, "task", 0.5, p=5, n=d * d, k=d * d // 4, lam=1e-2, models=("linear", "mlp", "equivalent"),
                           eq_controls=tuple(sim.EQ_CONTROLS), **kw)


# ------------------------------------------------------------------------------ float32
@pytest.mark.parametrize("cfg", [_thm_config(12), sim.fig2_config(10, "task", 0.5, p=4, models=("mlp",))],
                         ids=["thm-4.12 setting", "interpolation peak"])
def test_float32_changes_errors_by_rounding_only(cfg):
    """Route: the same run in float64 (reference) and float32.  Draws and ridge solves are float64 in
    both, so the fitted errors differ by rounding only: below 1e-4 relative, two orders below the
    finest resolution of a dd25 simulation check (≥ 5e-3 relative; e.g. thm-4.12's 0.006–0.015).
    Fails on the old float32 path (float32 draws: a different sample, differences of order 1e-2)."""
    seed = np.random.SeedSequence([17, 4])
    e64 = sim.run_once(cfg.with_(dtype="float64"), seed)["errors"]
    e32 = sim.run_once(cfg.with_(dtype="float32"), np.random.SeedSequence([17, 4]))["errors"]
    assert e64.keys() == e32.keys()
    for m in e64:
        if m.startswith("mlp-"):  # gaps: relative to the error they are a gap of
            scale = [abs(v[0]) for v in e64["mlp"]]
        else:
            scale = [abs(v[0]) for v in e64[m]]
        for (a, _), (b, _), s in zip(e64[m], e32[m], scale):
            assert abs(a - b) <= 1e-4 * s, (m, a, b)


def test_checks_default_to_float32_and_float64_stays_available():
    assert simulation.DTYPE == "float32"
    assert simulation.Thm412._config(8).dtype == "float32"
    assert sim.fig2_config(8, "task").dtype == "float64"  # the pipeline's default is unchanged


# ------------------------------------------------------------------------------ Kronecker ridge
@pytest.mark.parametrize("n,d,lam", [(30, 6, 1e-3), (50, 9, 5e-5 * 50), (10, 3, 0.0)])
def test_kronecker_ridge_equals_ridge_on_features(n, d, lam):
    """Route: ``mlp.ridge`` on the formed features H (rows x_j ⊗ b_j) against ``ridge_kron`` on the
    factors (Gram (X Xᵀ) ∘ (B Bᵀ)); the same ridge solution up to rounding."""
    rng = np.random.default_rng(n + d)
    X, B, y = rng.standard_normal((n, d)), rng.standard_normal((n, d + 1)), rng.standard_normal(n)
    H = (X[:, :, None] * B[:, None, :]).reshape(n, -1)
    ref = mlp.ridge(H, y, lam)
    got = mlp.ridge_kron(X, B, y, lam)
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())


def test_batch_carries_the_kronecker_factors():
    src = data.Source(data.Cov.identity(4), data.Cov.spiked(4, 16.0), 0.1)
    b = data.sample_mixture((src, src), np.array([0.5, 0.5]), 300, 5, np.random.SeedSequence(3))
    H = (b.xq[:, :, None] * b.b[:, None, :]).reshape(len(b.y), -1)
    np.testing.assert_array_equal(H, b.h)


# ------------------------------------------------------------------------------ reuse
def test_simulate_many_gives_the_numbers_of_simulate():
    """Route: one ``simulate`` per configuration (nothing shared) against ``simulate_many`` (run by
    run, drawn contexts reused across configurations): bit-identical errors."""
    cfgs = [sim.fig2_config(8, "task", 0.5, models=("mlp",), eta_scale=e, n=64, k=16, lam=1e-2) for e in (0.0, 2.0)]
    cfgs += [sim.fig2_config(8, "task", 0.5, models=("linear", "mlp", "equivalent"), activation="tanh", n=64, k=16,
                             eq_controls=("c1-halved",)),
             sim.fig2_config(8, "noise", 0.25, models=("mlp",), coupled=True),
             sim.fig2_config(8, "noise", 0.75, models=("mlp",), coupled=True)]
    one_by_one = [sim.simulate(c, 3, 11) for c in cfgs]
    together = sim.simulate_many(cfgs, 3, 11)
    for a, b in zip(one_by_one, together):
        assert a.per_run.keys() == b.per_run.keys()
        for m in a.per_run:
            np.testing.assert_array_equal(a.per_run[m], b.per_run[m])


def test_reused_batches_are_read_only_and_scoped():
    src = data.Source(data.Cov.identity(3), data.Cov.identity(3), 0.1)
    rho = np.array([1.0])
    with data.reuse():
        a = data.sample_mixture((src,), rho, 10, 4, np.random.SeedSequence(1))
        b = data.sample_mixture((src,), rho, 10, 4, np.random.SeedSequence(1))
        assert a is b and not a.h.flags.writeable
    assert not data.reusing()
    c = data.sample_mixture((src,), rho, 10, 4, np.random.SeedSequence(1))
    assert c is not a and c.h.flags.writeable
    np.testing.assert_array_equal(c.h, a.h)


# ------------------------------------------------------------------------------ coupled mixtures
def test_coupled_mixture_switches_only_the_added_share():
    """Common random numbers: raising ρ₁ from 0.3 to 0.7 switches contexts from source 0 to source
    1 only, and a context that keeps its source keeps its data; every context has the Gaussian draws
    of the same context of the other source (Σx = I in both: the same x_q)."""
    d = 5
    I = data.Cov.identity(d)
    s0, s1 = data.Source(I, I, 0.2), data.Source(I, data.Cov.spiked(d, 25.0), 0.01)
    seed = lambda: np.random.SeedSequence(8)  # noqa: E731
    lo = data.sample_mixture((s0, s1), np.array([0.7, 0.3]), 600, 6, seed(), coupled=True)
    hi = data.sample_mixture((s0, s1), np.array([0.3, 0.7]), 600, 6, seed(), coupled=True)
    assert np.all(hi.s >= lo.s) and 0.2 < lo.s.mean() < 0.4 and 0.6 < hi.s.mean() < 0.8
    same = lo.s == hi.s
    np.testing.assert_array_equal(lo.h[same], hi.h[same])
    np.testing.assert_array_equal(lo.xq, hi.xq)


def test_coupled_mixture_has_the_law_of_the_mixture():
    """Route: the share of source 1 against ρ₁ (binomial z-test, α = 1e-3), and the label second
    moment against the uncoupled sampler's (two-sample z-test)."""
    d = 4
    I = data.Cov.identity(d)
    srcs = (data.Source(I, I, 0.5), data.Source(I, I, 0.01, "tanh"))
    rho = np.array([0.6, 0.4])
    n = 20000
    a = data.sample_mixture(srcs, rho, n, 3, np.random.SeedSequence(1), coupled=True)
    b = data.sample_mixture(srcs, rho, n, 3, np.random.SeedSequence(2))
    assert abs(a.s.mean() - 0.4) < 3.3 * math.sqrt(0.24 / n)
    ya, yb = a.y ** 2, b.y ** 2
    z = (ya.mean() - yb.mean()) / math.hypot(ya.std() / math.sqrt(n), yb.std() / math.sqrt(n))
    assert abs(z) < 3.3


# ------------------------------------------------------------------------------ paired statistics
def test_paired_slope_is_the_mean_of_per_run_slopes():
    """Route: numpy.polyfit per run, then the mean and SE over runs."""
    rng = np.random.default_rng(0)
    x = [0.0, 0.5, 1.0]
    E = rng.standard_normal((3, 12)) + np.array(x)[:, None] * -0.4 + rng.standard_normal(12)  # shared run effect
    sl = simulation._paired_slope(x, E)
    per_run = [np.polyfit(x, E[:, r], 1)[0] for r in range(12)]
    assert sl.value == pytest.approx(np.mean(per_run))
    assert sl.se == pytest.approx(np.std(per_run, ddof=1) / math.sqrt(12))
    assert sl.df == 11


# ------------------------------------------------------------------------------ rate rule
def _rows(values, se=0.01, runs=20):
    return [limits.RelGap(d, v, se, runs) for d, v in zip((10, 20, 40), values)]


def test_rate_rule_supports_a_gap_that_decays_above_the_bound():
    """|g| ∝ d^(-1/2) above the bound 0.25 at every d: the bound rule cannot say holds, the rate
    rule (β_min = 1/4) does; without ``rate`` the old verdict (inconclusive) is unchanged."""
    rows = _rows([1.2, 1.2 / math.sqrt(2), 0.6])
    assert limits.verdict("x", "monte-carlo", "g", rows, {}, 0.25, 1e-3, "").status.value == "inconclusive"
    out = limits.verdict("x", "monte-carlo", "g", rows, {}, 0.25, 1e-3, "", rate=0.25)
    assert out.status.value == "holds" and "by rate" in out.evidence
    assert out.details["decay"]["beta"] == pytest.approx(-0.5, abs=0.02)


@pytest.mark.parametrize("values", [[0.8, 0.8, 0.8], [1.2, 0.6, 0.6], [1.0, 0.9, 0.85]],
                         ids=["flat", "levels off at the largest d", "decays slower than the rate"])
def test_rate_rule_rejects_gaps_that_do_not_shrink_at_the_rate(values):
    out = limits.verdict("x", "monte-carlo", "g", _rows(values), {}, 0.25, 1e-3, "", rate=0.25)
    assert out.status.value != "holds"
