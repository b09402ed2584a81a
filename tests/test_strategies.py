"""Property tests of the public Hypothesis strategies."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from icl_proofs.strategies import (
    dimensions,
    ill_conditioned_spd,
    prompt_lengths,
    rationals,
    spd_matrices,
)

FAST = settings(max_examples=30, deadline=None)


def _assert_float_spd(A, max_condition):
    assert isinstance(A, np.ndarray) and A.dtype == np.float64
    assert A.shape[0] == A.shape[1]
    assert np.array_equal(A, A.T)                    # symmetric to the bit
    np.linalg.cholesky(A)                             # SPD numerically
    ev = np.linalg.eigvalsh(A)
    assert ev[0] > 0
    assert ev[-1] / ev[0] <= max_condition * (1 + 1e-9)


def _assert_exact_spd(A, max_condition):
    assert isinstance(A, sp.ImmutableMatrix)
    assert all(e.is_Rational for e in A)
    assert A == A.T
    n = A.rows
    for k in range(1, n + 1):                         # Sylvester: leading minors > 0
        assert A[:k, :k].det() > 0


@FAST
@given(A=spd_matrices())
def test_float_default(A):
    _assert_float_spd(A, 1e6)


@FAST
@given(A=spd_matrices(max_d=6, max_condition=1e12))
def test_float_extreme_condition(A):
    _assert_float_spd(A, 1e12)


@FAST
@given(A=spd_matrices(d=st.integers(2, 4), diagonal=True, max_condition=100))
def test_float_diagonal(A):
    _assert_float_spd(A, 100)
    assert np.count_nonzero(A - np.diag(np.diag(A))) == 0


@FAST
@given(A=spd_matrices(max_d=4, exact=True, max_condition=1e8))
def test_exact_spd(A):
    _assert_exact_spd(A, 1e8)


@settings(max_examples=10, deadline=None)
@given(A=spd_matrices(d=3, exact=True, max_condition=1e5))
def test_exact_condition_bound(A):
    ev = list(A.eigenvals(multiple=True))
    assert all(e > 0 for e in ev)
    assert max(ev) / min(ev) <= 10 ** 5


@settings(max_examples=15, deadline=None)
@given(A=ill_conditioned_spd(d=st.integers(2, 5), condition=1e9))
def test_ill_conditioned_hits_condition(A):
    _assert_float_spd(A, 1e9 * 1.001)
    assert np.linalg.cond(A) > 1e9 * 0.99


@settings(max_examples=5, deadline=None)
@given(A=ill_conditioned_spd(d=3, condition=10 ** 15, exact=True))
def test_ill_conditioned_exact(A):
    _assert_exact_spd(A, 10 ** 15)
    ev = list(A.eigenvals(multiple=True))
    assert max(ev) / min(ev) == 10 ** 15


def test_extreme_condition_is_generated():
    seen = []

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(A=spd_matrices(d=3, max_condition=1e6))
    def collect(A):
        seen.append(np.linalg.cond(A))

    collect()
    assert max(seen) > 0.9e6


@FAST
@given(d=dimensions(2, 5), n=prompt_lengths(3, 40), r=rationals())
def test_scalar_strategies(d, n, r):
    assert 2 <= d <= 5 and 3 <= n <= 40
    assert isinstance(r, sp.Rational) and r > 0


@FAST
@given(r=rationals(5, 5, allow_negative=True, allow_zero=True))
def test_signed_rationals(r):
    assert r.is_Rational and abs(r) <= 5


def test_argument_validation():
    with pytest.raises(ValueError, match="min_d"):
        dimensions(4, 2)
    with pytest.raises(ValueError, match="max_condition"):
        spd_matrices(max_condition=0.5)
    with pytest.raises(ValueError, match="exact=True"):
        spd_matrices(max_condition=1e14)
    with pytest.raises(ValueError, match="d >= 2"):
        ill_conditioned_spd(1, 10)
