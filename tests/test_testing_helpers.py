"""icl_proofs.testing.assert_expectation and the prompt-model strategies: each route passes a true
identity and FAILS a wrong one (negative control) with the witness in the message."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from icl_proofs import strategies as strat
from icl_proofs.moments import inverse_wishart as iw
from icl_proofs.parallel import using
from icl_proofs.testing import Agreement, assert_expectation

N, d, s2 = sp.symbols("N d sigma2", positive=True)
k = sp.Symbol("k", integer=True)


@pytest.fixture(autouse=True)
def _one_process():
    with using(workers=1):
        yield


# ----------------------------------------------------------------------------- symbolic route
def test_symbolic_true_identity_passes():
    got = assert_expectation(s2 * (N - 1) / (N - d - 1), s2 + s2 * d / (N - d - 1))
    assert isinstance(got, Agreement) and got.route == "symbolic"


def test_symbolic_wrong_identity_fails_with_exact_witness():
    with pytest.raises(AssertionError) as e:
        assert_expectation(s2 * d / (N - d - 1), s2 * d / (N - d), exact_at={N: 10, d: 3, s2: 2})
    msg = str(e.value)
    # the witness: the point and both exact values (2·3/6 = 1 vs 2·3/7 = 6/7)
    assert "N = 10, d = 3, sigma2 = 2" in msg and "derived = 1" in msg and "claimed = 6/7" in msg


def test_symbolic_wrong_identity_fails_without_points_given():
    # no exact_at: automatic integer points supply the witness
    witness = r"expectation differs at N = \d+, d = \d+: derived = -?\d+/\d+, claimed = "
    with pytest.raises(AssertionError, match=witness):
        assert_expectation(d / (N - d - 1), d / (N - d - 3))


def test_matrix_identity_and_its_negative_control():
    S = sp.Matrix([[2, 1], [1, 3]])
    derived = iw.inverse_square(N, S).value                       # Bartlett derivation
    via_sandwich = iw.inverse_sandwich(sp.eye(2), N, S).value     # the general A formula at A = I
    assert assert_expectation(derived, via_sandwich).route == "symbolic"
    with pytest.raises(AssertionError, match="expectation differs at N = 23"):
        assert_expectation(derived, via_sandwich * (N - 1) / N)


def test_exact_at_points_when_simplify_cannot_prove():
    lhs = sp.Sum(sp.binomial(N, k) ** 2, (k, 0, N))   # Vandermonde: = binomial(2N, N); simplify fails
    got = assert_expectation(lhs, sp.binomial(2 * N, N), exact_at=[{N: 3}, {N: 6}])
    assert got.route == "exact-at-points" and "no symbolic proof" in got.evidence
    with pytest.raises(AssertionError, match=r"differs at N = 3: derived = 20, claimed = 21"):
        assert_expectation(lhs, sp.binomial(2 * N, N) + 1, exact_at=[{N: 3}, {N: 6}])


def test_undecided_without_points_is_a_failure():
    lhs = sp.Sum(sp.binomial(N, k) ** 2, (k, 0, N))
    with pytest.raises(AssertionError, match="undecided"):
        assert_expectation(lhs, sp.binomial(2 * N, N))


def test_shape_mismatch_fails():
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_expectation(sp.eye(2), sp.Integer(1))


# ----------------------------------------------------------------------------- Monte-Carlo route
def _chi2(rng, n):
    return rng.standard_normal(n) ** 2


def test_monte_carlo_true_value_passes_and_states_resolution():
    got = assert_expectation(_chi2, 1, n=100_000, seed=0)
    assert got.route == "monte-carlo"
    assert 0 < got.resolution["relative"] <= 0.05 and "resolution" in got.evidence


def test_monte_carlo_wrong_value_fails_with_witness():
    with pytest.raises(AssertionError) as e:
        assert_expectation(_chi2, 1.05, n=100_000, seed=0)
    msg = str(e.value)
    assert msg.startswith("expectation differs") and "vs claimed 1.05" in msg and "z = " in msg


def test_monte_carlo_too_coarse_is_a_failure_not_a_pass():
    with pytest.raises(AssertionError, match="inconclusive"):
        assert_expectation(_chi2, 1, n=200, seed=0)


def test_monte_carlo_with_symbolic_claim_evaluated_at_the_sizes():
    Sigma = np.array([[2.0, 1.0], [1.0, 3.0]])

    def ols(rng, n):
        return iw.sample_ols_icl_error(rng, n, 12, Sigma, 0.5)

    got = assert_expectation(ols, s2 * d / (N - d - 1), exact_at={N: 12, d: 2, s2: 0.5}, n=100_000)
    assert "at N = 12, d = 2, sigma2 = 1/2" in got.evidence
    with pytest.raises(AssertionError, match="at N = 12, d = 2, sigma2 = 1/2"):
        assert_expectation(ols, s2 * d / (N - d), exact_at={N: 12, d: 2, s2: 0.5}, n=100_000)


def test_both_routes_with_sampler_argument():
    got = assert_expectation(d * s2 / (N - d - 1), s2 * d / (N - d - 1), exact_at={N: 9, d: 1, s2: 1},
                             sampler=lambda rng, n: iw.sample_ols_icl_error(rng, n, 9, [[1.0]], 1.0),
                             n=100_000)
    assert [a.route for a in got] == ["symbolic", "monte-carlo"]


@pytest.mark.parametrize("call, error", [
    (lambda: assert_expectation(_chi2, N), "give exact_at"),
    (lambda: assert_expectation(_chi2, sp.eye(2)), "compares scalars"),
    (lambda: assert_expectation(_chi2, 1, sampler=_chi2), "not both"),
    (lambda: assert_expectation(N, N, exact_at=[3]), "exact_at must be a dict"),
])
def test_usage_errors(call, error):
    with pytest.raises(TypeError, match=error):
        call()


# ----------------------------------------------------------------------------- strategies
@settings(max_examples=30, deadline=None, database=None)
@given(st.data())
def test_moment_prompt_lengths_satisfy_existence(data):
    dim = data.draw(strat.dimensions(1, 6))
    order = data.draw(st.integers(1, 2))
    fv = data.draw(st.booleans())
    n = data.draw(strat.moment_prompt_lengths(dim, order, finite_variance=fv))
    assert n > dim + 2 * (2 * order if fv else order) - 1


@settings(max_examples=30, deadline=None, database=None)
@given(strat.noise_variances(), strat.noise_variances(exact=False, allow_zero=False))
def test_noise_variances_are_nonnegative(a, b):
    assert a >= 0 and isinstance(a, sp.Rational) and b > 0 and isinstance(b, float)


@settings(max_examples=15, deadline=None, database=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(st.just(n), strat.covariances(d=n, exact=True),
                                                     strat.moment_prompt_lengths(n, 1))))
def test_query_quadratic_is_covariance_free(case):
    # property: E[x_qᵀΣ̂⁻¹x_q] = N d/(N − d − 1) whatever Σ (x_q ~ N(0, Σ)), exactly
    dim, Sigma, n = case
    assert_expectation(iw.query_quadratic(n, Sigma).value, sp.Integer(n * dim) / (n - dim - 1))


@settings(max_examples=10, deadline=None, database=None)
@given(strat.sample_covariance_settings(max_d=3))
def test_sample_covariance_settings_are_valid(case):
    dim, n, Sigma = case
    assert Sigma.shape == (dim, dim) and n >= dim + 8
    np.linalg.cholesky(Sigma)
    iw.inverse_square(n, sp.Matrix(Sigma.tolist()))   # exists: no UserInputError
