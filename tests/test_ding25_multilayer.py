"""ding25 multilayer LSA (icl_proofs.claims.ding25.multilayer): gradients, forward pass, training."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.ding25 import experiments
from icl_proofs.claims.ding25 import markov_lsa
from icl_proofs.claims.ding25 import multilayer as mm
from icl_proofs.claims.ding25.samplers import sample_prompts


def _fd(f, params: dict, h: float = 1e-6) -> dict:
    """Central finite differences of the scalar ``f(params)`` w.r.t. every entry."""
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            p1 = {kk: vv.copy() for kk, vv in params.items()}
            p2 = {kk: vv.copy() for kk, vv in params.items()}
            p1[k][idx] += h
            p2[k][idx] -= h
            g[idx] = (f(p1) - f(p2)) / (2 * h)
        out[k] = g
    return out


@pytest.mark.parametrize("L,S", [(1, 2), (2, 3), (3, 3)])
def test_structured_gradients_match_finite_differences(L, S):
    """Theorem 4.1's parameter space (P_l = [0; b_l^T], Q_l = [A_l, 0]), L layers.
    Route: hand-written reverse-mode gradients of mean (y_q^{(L)} - y)^2 vs central finite differences."""
    rng = np.random.default_rng(L * 10 + S)
    st = sample_prompts(rng, 6, 4, 3, None, n_states=S)
    prm = mm.init_structured(rng, 3, L, scale=0.4)
    loss, _, gb, gA = mm.structured_loss_and_grads(st, prm["b"], prm["A"])
    num = _fd(lambda p: mm.structured_loss_and_grads(st, p["b"], p["A"])[0], prm)
    for k, g in (("b", gb), ("A", gA)):
        assert np.allclose(g, num[k], rtol=1e-6, atol=1e-7 * max(1.0, np.abs(g).max())), k


def test_dense_gradients_match_finite_differences_and_vanish_off_the_active_block():
    """App. A variant 2 (dense one-layer P, Q).  Route: analytic gradients vs central finite
    differences; the rows 1..d of P and the last column of Q cannot reach the output entry
    [Z_1]_{d+1,n+1}, so their gradients are exactly zero."""
    rng = np.random.default_rng(5)
    st = sample_prompts(rng, 8, 5, 2, 0.4)
    prm = mm.init_dense(rng, 2, scale=0.5)
    _, _, gP, gQ = mm.dense_loss_and_grads(st, prm["P"], prm["Q"])
    num = _fd(lambda p: mm.dense_loss_and_grads(st, p["P"], p["Q"])[0], prm)
    assert np.allclose(gP, num["P"], rtol=1e-6, atol=1e-8)
    assert np.allclose(gQ, num["Q"], rtol=1e-6, atol=1e-8)
    assert not gP[:-1].any() and not gQ[:, -1].any()


def _direct_masked_forward(state, Ps, Qs) -> float:
    """One prompt, full matrices, the paper's formula written out: Z += (1/n) P Z M Z^T Q Z."""
    st = np.asarray(state, float)
    n = st.shape[0] - 1
    Z = st.T.copy()
    Z[-1, -1] = 0.0
    M = np.diag([1.0] * n + [0.0])
    for P, Q in zip(Ps, Qs):
        Z = Z + P @ Z @ M @ Z.T @ Q @ Z / n
    return Z[-1, -1]


def test_structured_forward_equals_generic_masked_attention():
    """Section 4 model: Z_{l+1} = Z_l + (1/n) P_l Z_l M (Z_l^T Q_l Z_l), output [Z_L]_{d+1,n+1}.
    Route: the label-row recursion y <- y + b^T G A x (fast path) vs the full-matrix formula, both the
    batched reference and a per-prompt loop."""
    rng = np.random.default_rng(1)
    st = sample_prompts(rng, 5, 6, 4, None, n_states=3)
    prm = mm.init_structured(rng, 4, 3, scale=0.3)
    Ps, Qs = mm.structured_to_full(prm["b"], prm["A"])
    fast = mm.structured_forward(st, prm["b"], prm["A"])
    assert np.allclose(fast, mm.masked_lsa_forward(st, Ps, Qs), rtol=1e-12, atol=1e-12)
    assert np.allclose(fast, [_direct_masked_forward(s, Ps, Qs) for s in st], rtol=1e-12, atol=1e-12)


def test_dense_forward_equals_generic_and_contains_sparse_variant():
    """App. A: variant 1 (sparse) is variant 2 (dense) with P = [0; b^T], Q = [A, 0]; and the one-layer
    structured model is markov_lsa's b^T G A x_q.  Route: three independent forward formulas agree."""
    rng = np.random.default_rng(2)
    st = sample_prompts(rng, 7, 5, 2, 0.3)
    prm = mm.init_dense(rng, 2, scale=0.7)
    assert np.allclose(mm.dense_forward(st, prm["P"], prm["Q"]),
                       [_direct_masked_forward(s, [prm["P"]], [prm["Q"]]) for s in st], rtol=1e-12, atol=1e-12)
    sp = mm.init_structured(rng, 2, 1, scale=0.7)
    Ps, Qs = mm.structured_to_full(sp["b"], sp["A"])
    one = mm.structured_forward(st, sp["b"], sp["A"])
    assert np.allclose(one, mm.dense_forward(st, Ps[0], Qs[0]), rtol=1e-12, atol=1e-12)
    assert np.allclose(one, markov_lsa.predict_one_layer(st, sp["b"][0], sp["A"][0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["structured", "dense"])
def test_adam_decreases_loss_and_is_deterministic(model):
    """Training loop used for App. A / B.1 / Fig. 3.  Route: Adam on fresh prompts each step lowers the
    test loss from its initial value, and the same seed reproduces the run bit for bit."""
    d, n = 2, 20
    test = sample_prompts(np.random.default_rng(99), 2000, n, d, 0.5)
    rng = np.random.default_rng(0)
    p0 = mm.init_structured(rng, d, 2, 0.1) if model == "structured" else mm.init_dense(rng, d, 0.1)
    t = mm.split_prompts(test)[2]
    before = np.mean((mm.predict(model, p0, test) - t) ** 2)
    runs = [mm.train_adam(model, p0, lambda r: sample_prompts(r, 64, n, d, 0.5), lr=0.02, steps=150, seed=3)
            for _ in range(2)]
    after = np.mean((runs[0].predict(test) - t) ** 2)
    assert after < 0.8 * before
    assert runs[0].losses[-20:].mean() < runs[0].losses[:20].mean()
    for k in p0:
        assert np.array_equal(runs[0].params[k], runs[1].params[k])


def test_accuracy_rounds_to_nearest_state_and_clips():
    """Accuracy metric of App. B.1 / Fig. 3: round to the nearest state in {0..S-1}, clipped."""
    pred = np.array([-0.7, 0.49, 0.51, 1.6, 7.0, np.nan])
    assert mm.round_to_states(pred, 3).tolist() == [0, 0, 1, 2, 2, 0]
    assert mm.accuracy(pred, [0, 0, 1, 2, 2, 1], 3) == pytest.approx(5 / 6)


def test_bad_shapes_are_user_errors():
    st = sample_prompts(np.random.default_rng(0), 2, 3, 2, 0.5)
    with pytest.raises(UserInputError):
        mm.structured_forward(st, np.zeros((1, 4)), np.zeros((1, 4, 3)))
    with pytest.raises(UserInputError):
        mm.train_adam("nope", {}, st)


def test_oracle_accuracy_bound_used_for_fig3():
    """Fig. 3 reference: knowing the kernel, at a state independent of it, gives accuracy
    E[max of a Dirichlet(1) row] = (1/S) sum_k 1/k.  Route: exact formula vs Monte Carlo."""
    assert experiments.oracle_accuracy_dirichlet1(3) == Fraction(11, 18)
    rng = np.random.default_rng(0)
    for S in (2, 3, 4):
        mc = rng.dirichlet(np.ones(S), size=200_000).max(axis=1).mean()
        assert abs(mc - float(experiments.oracle_accuracy_dirichlet1(S))) < 0.004


def test_experiment_functions_run_small():
    """The experiment functions (App. A, B.1, Fig. 3) return their dicts at tiny sizes."""
    a = experiments.appA_sparse_vs_dense(seeds=(0,), steps=30, n_test=500)
    assert {"sparse_test_mse", "dense_test_mse", "enlarged_lstsq_test_mse", "paper"} <= set(a)
    b = experiments.appB1_lsa_vs_enlarged(d_values=(1, 2), seeds=(0, 1), n=10, n_train=100, n_test=100, steps=20)
    assert [r["d"] for r in b["rows"]] == [1, 2]
    # least squares on the enlarged space cannot have larger training MSE than the LSA it contains
    for r in b["rows"]:
        assert all(ls <= lsa + 1e-12 for ls, lsa in zip(r["ls_train_mse"]["values"], r["lsa_train_mse"]["values"]))
    f = experiments.fig3_layers(S_values=(3,), L_values=(1, 2), seeds=(0,), n_train_values=(50,), n_test=200, steps=20)
    assert len(f["rows"]) == 2 and f["rows"][0]["independent_state_oracle_exact"] == pytest.approx(11 / 18)


def test_fit_is_seeded():
    """fit = seeded init + Adam: the same seed gives the same run, another seed another run."""
    st = sample_prompts(np.random.default_rng(0), 50, 8, 2, 0.5)
    r1, r2, r3 = (mm.fit("structured", 2, st, L=2, steps=20, seed=s) for s in (1, 1, 2))
    assert np.array_equal(r1.losses, r2.losses) and not np.array_equal(r1.losses, r3.losses)
    with pytest.raises(UserInputError):
        mm.fit("dense", 2, st, L=2)
