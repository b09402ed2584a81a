import math

import numpy as np
import pytest

from icl_proofs.models.lsa import LSAParams
from icl_proofs.models import samplers
from icl_proofs.numeric.montecarlo import estimate, threshold, z_check, z_check_diff
from icl_proofs.models.samplers import conditional_prediction_error_samples, conditional_sampler, naive_prediction_error_samples, sample_empirical_cov

ALPHA = 1e-3


def _spd(rng, d, shift=0.3):
    A = rng.standard_normal((d, d))
    return A @ A.T / d + shift * np.eye(d)


def _entrywise_z(samples, exact):
    """z-scores of the entrywise sample means of (n, d, d) samples against exact (d, d)."""
    n = samples.shape[0]
    m = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(n)
    return (m - exact) / se


@pytest.mark.parametrize("d,M", [(3, 5), (3, 3), (4, 2), (1, 1)])
def test_empirical_cov_first_and_second_moment(d, M):
    rng = np.random.default_rng(100 + 10 * d + M)
    Lam = _spd(np.random.default_rng(d), d)
    n = 100_000
    S = sample_empirical_cov(rng, Lam, M, n)
    assert S.shape == (n, d, d)
    np.testing.assert_allclose(S, S.transpose(0, 2, 1), atol=1e-12)
    # E[S] = Lambda;  E[S^2] = Lambda^2 + (Lambda^2 + tr(Lambda) Lambda) / M
    L2 = Lam @ Lam
    exact2 = L2 + (L2 + np.trace(Lam) * Lam) / M
    thr = threshold(ALPHA / (2 * d * d))  # Bonferroni over all entries
    z1 = _entrywise_z(S, Lam)
    z2 = _entrywise_z(np.matmul(S, S), exact2)
    assert np.max(np.abs(z1)) <= thr, z1
    assert np.max(np.abs(z2)) <= thr, z2


def test_empirical_cov_rank_and_psd():
    rng = np.random.default_rng(0)
    Lam = _spd(rng, 5)
    S = sample_empirical_cov(rng, Lam, 2, 50)  # singular Wishart
    assert np.all(np.linalg.matrix_rank(S) == 2)
    ev = np.linalg.eigvalsh(sample_empirical_cov(rng, Lam, 7, 50))
    assert np.all(ev > 0)
    assert sample_empirical_cov(rng, Lam, 7, 0).shape == (0, 5, 5)


def test_white_wishart_buffers_match_reference_stream():
    for d, M in [(3, 5), (4, 4), (4, 2), (1, 3)]:
        buf = samplers._WhiteWishartBuffers(d, M, 16)
        a = buf.draw(np.random.default_rng(9), 11).copy()
        b = samplers._white_wishart(np.random.default_rng(9), d, M, 11)
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def _optimum(d, N, Lam):
    Gam = (1 + 1 / N) * Lam + np.trace(Lam) / N * np.eye(d)
    return np.linalg.inv(Gam)


def test_optimum_isotropic_matches_closed_form():
    d, N = 3, 5
    Lam = np.eye(d)
    P = _optimum(d, N, Lam)
    exact = d * (d + 1) / (N + d + 1)  # reference value, Lambda = I, M = N
    naive = estimate(
        lambda rng, k: naive_prediction_error_samples(rng, LSAParams.reduced(P), Lam, N, k),
        200_000, seed=11,
    )
    cond = estimate(conditional_sampler(P, Lam, N), 100_000, seed=12)
    for est in (naive, cond):
        z, thr, ok = z_check(est, exact, ALPHA)
        assert ok, (est, exact, z)
    assert cond.sd < naive.sd / 3  # Rao-Blackwellisation reduces the variance
    # the stand-alone function and the prepared sampler draw the same stream
    a = conditional_prediction_error_samples(np.random.default_rng(1), P, Lam, N, 1000)
    b = conditional_sampler(P, Lam, N)(np.random.default_rng(1), 1000)
    np.testing.assert_array_equal(a, b)


def _general_setting(d=3):
    rng = np.random.default_rng(2024)
    return dict(
        Lambda=_spd(rng, d),
        Lambda_query=_spd(rng, d, 0.5),
        w_mean=rng.standard_normal(d) * 0.7,
        w_cov=_spd(rng, d, 0.2),
        noise_sd=0.6,
        query_noise_sd=0.4,
    ), 0.4 * rng.standard_normal((d, d))  # P: not symmetric


@pytest.mark.parametrize("M", [4, 2])  # M >= d (Bartlett) and M < d (singular Wishart)
def test_naive_and_conditional_agree_general(M):
    kw, P = _general_setting()
    Lam = kw.pop("Lambda")
    params = LSAParams.reduced(P)
    naive = estimate(lambda rng, k: naive_prediction_error_samples(rng, params, Lam, M, k, **kw), 300_000, seed=21 + M)
    cond = estimate(conditional_sampler(P, Lam, M, **kw), 100_000, seed=31 + M)
    z, thr, ok = z_check_diff(naive, cond, ALPHA)
    assert ok, (naive, cond, z)
    # the check has power: the transposed preconditioner gives a clearly different error
    wrong = estimate(conditional_sampler(P.T, Lam, M, **kw), 100_000, seed=41 + M)
    assert not z_check_diff(naive, wrong, ALPHA)[2]


def _conditional_formula(Sig, P, Lq, mu, Psi, s, sq, M):
    """The stated conditional error, evaluated naively for one Sigma_hat."""
    d = Sig.shape[0]
    K = Psi + np.outer(mu, mu)
    B = Sig @ P - np.eye(d)
    return np.trace(Lq @ B.T @ K @ B) + s**2 / M * np.trace(Lq @ P.T @ Sig @ P) + sq**2


@pytest.mark.parametrize("case", ["general", "diagonal", "commuting"])
def test_plan_evaluates_stated_formula(case):
    d, M = 4, 6
    rng = np.random.default_rng(7)
    if case == "general":
        kw, P = _general_setting(d)
    else:
        if case == "diagonal":
            Lam = np.diag([0.5, 1.0, 1.5, 3.0])
        else:  # non-diagonal but everything a function of Lambda: J, N commute after rotation
            Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            Lam = Q @ np.diag([0.5, 1.0, 1.5, 3.0]) @ Q.T
        P = _optimum(d, M, Lam)
        kw = dict(Lambda=Lam, Lambda_query=None, w_mean=None, w_cov=None, noise_sd=0.3, query_noise_sd=0.0)
    plan = samplers._ConditionalPlan(P, kw["Lambda"], M, kw["Lambda_query"], kw["w_mean"], kw["w_cov"],
                                     kw["noise_sd"], kw["query_noise_sd"])
    if case != "general":
        assert plan.n_diag is not None  # elementwise fast path taken
    S = samplers._white_wishart(rng, d, M, 20)
    got = plan.evaluate(S)
    Lq = kw["Lambda"] if kw["Lambda_query"] is None else kw["Lambda_query"]
    mu = np.zeros(d) if kw["w_mean"] is None else kw["w_mean"]
    Psi = np.eye(d) if kw["w_cov"] is None else kw["w_cov"]
    W = plan.whitening
    np.testing.assert_allclose(W @ W.T, kw["Lambda"], rtol=1e-12, atol=1e-12)
    ref = [_conditional_formula(W @ Sb @ W.T, P, Lq, mu, Psi, kw["noise_sd"], kw["query_noise_sd"], M) for Sb in S]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_validation_errors():
    rng = np.random.default_rng(0)
    I3 = np.eye(3)
    p3 = LSAParams.reduced(I3)
    with pytest.raises(ValueError, match="square"):
        sample_empirical_cov(rng, np.ones((2, 3)), 3, 2)
    with pytest.raises(ValueError, match="symmetric"):
        sample_empirical_cov(rng, np.array([[1.0, 0.5], [0.0, 1.0]]), 3, 2)
    with pytest.raises(ValueError, match="positive definite"):
        sample_empirical_cov(rng, np.diag([1.0, -1.0]), 3, 2)
    with pytest.raises(ValueError, match="M must"):
        sample_empirical_cov(rng, I3, 0, 2)
    with pytest.raises(ValueError, match="batch must"):
        sample_empirical_cov(rng, I3, 3, -1)
    with pytest.raises(ValueError, match="params are for d = 3"):
        naive_prediction_error_samples(rng, p3, np.eye(2), 3, 2)
    with pytest.raises(ValueError, match="w_mean"):
        naive_prediction_error_samples(rng, p3, I3, 3, 2, w_mean=np.zeros(2))
    with pytest.raises(ValueError, match="noise_sd"):
        conditional_prediction_error_samples(rng, I3, I3, 3, 2, noise_sd=-1.0)
    with pytest.raises(ValueError, match="P must"):
        conditional_prediction_error_samples(rng, np.eye(2), I3, 3, 2)
    with pytest.raises(ValueError, match="semi-definite"):
        conditional_prediction_error_samples(rng, I3, I3, 3, 2, w_cov=-I3)
    with pytest.raises(ValueError, match="unknown"):
        conditional_sampler(I3, I3, 3, bogus=1)
    # singular but PSD query covariance and w covariance are allowed
    out = naive_prediction_error_samples(rng, p3, I3, 3, 4, Lambda_query=np.diag([1.0, 0, 0]), w_cov=np.zeros((3, 3)))
    assert out.shape == (4,) and np.all(out >= 0)
