import numpy as np
import pytest

from icl_proofs.models.lsa import LSAParams, embed, forward, predict


def _random_params(rng, d):
    return LSAParams(rng.standard_normal((d + 1, d + 1)), rng.standard_normal((d + 1, d + 1)))


def test_embed_layout():
    rng = np.random.default_rng(0)
    B, n, d = 3, 4, 2
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    xq = rng.standard_normal((B, d))
    E = embed(X, y, xq)
    assert E.shape == (B, d + 1, n + 1)
    for b in range(B):
        np.testing.assert_array_equal(E[b, :d, :n], X[b].T)
        np.testing.assert_array_equal(E[b, :d, n], xq[b])
        np.testing.assert_array_equal(E[b, d, :n], y[b])
        assert E[b, d, n] == 0.0


@pytest.mark.parametrize("d,n,rho", [(1, 1, 1.0), (2, 3, 3.0), (4, 6, 2.5), (3, 10, 10.0)])
def test_forward_matches_definition(d, n, rho):
    rng = np.random.default_rng(d * 100 + n)
    params = _random_params(rng, d)
    E = rng.standard_normal((5, d + 1, n + 1))
    F = forward(params, E, rho)
    assert F.shape == E.shape
    for b in range(E.shape[0]):  # reference: the definition, multiplied in the other order
        e = E[b]
        ref = e + params.W_PV @ e @ (e.T @ params.W_KQ @ e) / rho
        np.testing.assert_allclose(F[b], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_predict_matches_forward_general_params(seed):
    rng = np.random.default_rng(seed)
    d, n = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    params = _random_params(rng, d)
    E = rng.standard_normal((7, d + 1, n + 1))  # E[d, n] != 0 on purpose
    rho = float(rng.uniform(0.5, 5))
    np.testing.assert_allclose(predict(params, E, rho), forward(params, E, rho)[:, d, n], rtol=1e-11, atol=1e-12)


def test_reduced_prediction_is_preconditioned_gd_step():
    rng = np.random.default_rng(1)
    B, n, d = 6, 5, 3
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    xq = rng.standard_normal((B, d))
    P = rng.standard_normal((d, d))  # not symmetric
    E = embed(X, y, xq)
    h = np.einsum("bn,bnd->bd", y, X) / n
    expected = np.einsum("bi,ij,bj->b", h, P, xq)
    np.testing.assert_allclose(predict(LSAParams.reduced(P), E, n), expected, rtol=1e-12)
    np.testing.assert_allclose(forward(LSAParams.reduced(P), E, n)[:, d, n], expected, rtol=1e-12)
    u = -1.7
    pu = LSAParams.reduced_uU(P, u)
    np.testing.assert_allclose(predict(pu, E, n), u * expected, rtol=1e-12)
    np.testing.assert_allclose(pu.preconditioner(), u * P)


def test_blocks_roundtrip():
    rng = np.random.default_rng(2)
    d = 3
    b = dict(
        W11=rng.standard_normal((d, d)), w12=rng.standard_normal(d), w21=rng.standard_normal(d), w22=0.5,
        U11=rng.standard_normal((d, d)), u12=rng.standard_normal(d), u21=rng.standard_normal(d), u22=-2.0,
    )
    p = LSAParams.from_blocks(**b)
    assert p.W_PV.shape == (d + 1, d + 1) and p.d == d
    np.testing.assert_array_equal(p.W_PV[:d, d], b["w12"])  # column block
    np.testing.assert_array_equal(p.W_PV[d, :d], b["w21"])  # row block
    out = p.blocks()
    for k, v in b.items():
        np.testing.assert_array_equal(out[k], v)
    q = LSAParams.reduced(np.eye(d))
    assert q.blocks()["w22"] == 1.0 and not np.any(q.blocks()["W11"])


def test_validation():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="y must have shape"):
        embed(np.zeros((2, 3, 4)), np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x_q must have shape"):
        embed(np.zeros((2, 3, 4)), np.zeros((2, 3)), np.zeros((4,)))
    with pytest.raises(ValueError, match="X must have shape"):
        embed(np.zeros((3, 4)), np.zeros((3,)), np.zeros((4,)))
    with pytest.raises(ValueError, match="W_KQ"):
        LSAParams(np.zeros((3, 3)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="w12"):
        LSAParams.from_blocks(np.eye(2), np.zeros(3), np.zeros(2), 0, np.eye(2), np.zeros(2), np.zeros(2), 0)
    p = _random_params(rng, 2)
    with pytest.raises(ValueError, match="E must have shape"):
        predict(p, np.zeros((1, 4, 3)), 2)
    with pytest.raises(ValueError, match="rho"):
        forward(p, np.zeros((1, 3, 3)), 0)
