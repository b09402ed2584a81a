"""The Markov-chain moment engine (ding25) against independent routes, numpyro-style: one table of
cases, a tight check against exact enumeration and a statistical check against sampled prompts."""
from fractions import Fraction as F

import numpy as np
import pytest

from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.ding25.markov_lsa import features
from icl_proofs.moments import markov
from icl_proofs.moments.markov_bruteforce import enumerate_system
from icl_proofs.claims.ding25 import samplers as ms
from icl_proofs.numeric import montecarlo as mc

CASES = [
    # (d, n, init, p, kernel)
    (1, 1, "iid", F(1, 2), None),
    (1, 4, "iid", F(1, 10), None),
    (2, 2, "iid", F(1, 3), None),
    (3, 1, "iid", F(3, 4), None),
    (2, 2, "iid", F(2, 5), (F(1, 7), F(5, 6))),
    (2, 1, "conditional", F(1, 3), None),
    (1, 3, "conditional", F(7, 10), None),
]


def _engine(d, init, p, kernel):
    if init == "conditional":
        return markov.enlarged_system(d, init=markov.conditional_init(p, p**2, (1 - p) ** 2))
    return markov.enlarged_system(d, p, kernel=kernel)


def _bf(d, n, init, p, kernel):
    K = None if kernel is None else [[1 - kernel[0], kernel[0]], [kernel[1], 1 - kernel[1]]]
    if init == "conditional":
        return enumerate_system(d, n, p=p, init="conditional", q0=p**2, q1=(1 - p) ** 2)
    return enumerate_system(d, n, p=p, kernel=K)


@pytest.mark.parametrize("d,n,init,p,kernel", CASES)
def test_engine_equals_enumeration_exactly(d, n, init, p, kernel):
    """Lemma 3.2 / C.7 setting: cubature engine H(n), h, E[y] == enumeration of every trajectory (exact)."""
    s, bf = _engine(d, init, p, kernel), _bf(d, n, init, p, kernel)
    assert s.H(n) == bf.H and s.h == bf.h and s.Ey == bf.Ey


@pytest.mark.parametrize("d,n,init,p,kernel", CASES[:5])
def test_engine_against_monte_carlo(d, n, init, p, kernel):
    """Statistical route: a random quadratic functional u^T H u and u^T h vs sampled prompts (α = 1e-3 each)."""
    s = _engine(d, init, p, kernel)
    rng = np.random.default_rng(7)
    u = rng.standard_normal(len(s.h))
    Hu = float(u @ np.array(s.H(n), float) @ u)
    K = None if kernel is None else np.array([[1 - kernel[0], kernel[0]], [kernel[1], 1 - kernel[1]]], float)

    def batch(r, k):
        st = ms.sample_prompts(r, k, n, d, float(p), kernels=K)
        return (features(st) @ u) ** 2

    est = mc.estimate(batch, 200_000, seed=3, batch=2**15)
    z, thr, ok = mc.z_check(est, Hu, 1e-3)
    assert ok, (est, Hu, z)


def test_gauss_rule_matches_exact_to_double_precision():
    """Second cubature (Gauss-Legendre, float) vs the exact rational rule: same H at d = 3."""
    ex = markov.enlarged_system(3, F(1, 3))
    g = markov.enlarged_system(3, 1 / 3, rule=markov.gauss_rule(6))
    np.testing.assert_allclose(np.array(g.H(5), float), np.array(ex.H(5), float), rtol=1e-12, atol=1e-15)


def test_rational_rule_is_exact_to_its_degree():
    t, w = markov.rational_rule(5)
    for k in range(5):
        assert sum(wi * ti**k for ti, wi in zip(t, w)) == F(1, k + 1)


def test_solve_is_exact():
    s = markov.enlarged_system(2, F(1, 2))
    H = s.H(3)
    X = markov.solve(H, s.h)
    assert all(sum(H[i][j] * X[j] for j in range(len(X))) == s.h[i] for i in range(len(X)))


def test_nonbinary_enumeration_against_monte_carlo():
    """Lemma C.8 setting (|S| = 4, Dirichlet(1/2) rows, uniform initial states): exact enumeration of
    E[y_q] and u^T h vs Monte Carlo."""
    bf = enumerate_system(1, 1, n_states=4, alpha=F(1, 2))
    u = np.array([0.3, -1.0, 0.7])
    hu = float(sum(F(float(u[i])) * bf.h[i] for i in range(3)))

    def batch(r, k):
        st = ms.sample_prompts(r, k, 1, 1, None, n_states=4, alpha=0.5)
        return (features(st) @ u) * st[:, 1, 1]

    est = mc.estimate(batch, 300_000, seed=5, batch=2**15)
    assert mc.z_check(est, hu, 1e-3)[2], (est, hu)


@pytest.mark.parametrize("call,message", [
    (lambda: ms.sample_prompts(np.random.default_rng(0), 2, 3, 2, 1.5), "strictly between 0 and 1"),
    (lambda: ms.sample_prompts(np.random.default_rng(0), 2, 0, 2, 0.5), "at least one labelled chain"),
    (lambda: ms.sample_prompts(np.random.default_rng(0), 2, 2, 0, 0.5), "d >= 1"),
    (lambda: ms.sample_prompts(np.random.default_rng(0), 2, 2, 2, 0.5, kernels=np.array([[0.5, 0.4], [0.5, 0.5]])),
     "not row-stochastic"),
    (lambda: ms.sample_kernels(np.random.default_rng(0), 2, 3, alpha=0.0), "must be > 0"),
    (lambda: ms.sample_prompts(np.random.default_rng(0), 10**9, 100, 10, 0.5), "GiB"),
    (lambda: enumerate_system(4, 6, p=F(1, 2)), "exceeds the limit"),
])
def test_bad_input(call, message):
    with pytest.raises(UserInputError, match=message):
        call()


from hypothesis import given, settings  # noqa: E402

from icl_proofs.strategies import markov_kernels, probabilities  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(markov_kernels(2), probabilities(), probabilities())
def test_fixed_kernel_engine_equals_enumeration_hypothesis(K, p, _unused):
    """Lemma 3.2 (fixed kernel) over random exact kernels and p (exported strategies): engine == enumeration."""
    s = markov.enlarged_system(2, p, kernel=(K[0][1], K[1][0]))
    bf = enumerate_system(2, 2, p=p, kernel=K)
    assert s.H(2) == bf.H and s.h == bf.h
