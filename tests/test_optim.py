"""Route: the one optimiser loop (icl_proofs.numeric.optim) against the two loops it replaced.

``_old_train_lsa_loop`` and ``_old_train_adam`` are the Adam/SGD loops of ``models/training.py``
and ``claims/ding25/multilayer.py`` as they were before they shared the engine (copied verbatim,
less the bookkeeping the engine does not own): both trainers must give the same numbers to the
last bit on fixed seeds (``np.array_equal`` on the float64 arrays).
"""
from __future__ import annotations

import numpy as np
import pytest

from icl_proofs.claims.ding25 import multilayer as mm
from icl_proofs.claims.ding25.samplers import sample_prompts as markov_prompts
from icl_proofs.claims.zfb23.flow import paper_init_full, sigma_bound, train_lsa
from icl_proofs.models.training import lsa_predict_and_grads, sample_prompts
from icl_proofs.numeric.optim import TrainResult, adam, descend

LAM = np.diag([1.0, 2.0, 0.5])
N = 6


def _old_train_lsa_loop(Lam, N, *, steps, batch, lr, seed, optimizer="adam", lr_decay=1e-2, batch_final=None,
                        average_tail=0.25, fresh_samples=True, n_fixed=None, betas=(0.9, 0.999)):
    """The loop of ``train_lsa`` before the engine (paper init, default sigma)."""
    d = Lam.shape[0]
    rng = np.random.default_rng(seed)
    W_PV, W_KQ = paper_init_full(d, 0.5 * sigma_bound(Lam, N), rng, None)
    chol = np.linalg.cholesky(Lam)
    rho = float(N)
    bf = batch if batch_final is None else int(batch_final)
    fixed = None if fresh_samples else sample_prompts(chol, N, int(n_fixed or batch), rng)
    params = [W_PV, W_KQ]
    m1 = [np.zeros_like(W_PV), np.zeros_like(W_KQ)]
    m2 = [np.zeros_like(W_PV), np.zeros_like(W_KQ)]
    b1, b2 = betas
    n_avg_start = steps - int(round(average_tail * steps)) if average_tail > 0 else steps
    avg = [np.zeros_like(W_PV), np.zeros_like(W_KQ)]
    n_avg = 0
    losses = np.empty(steps)
    for k in range(steps):
        frac = k / steps
        if fixed is None:
            Bk = int(round(batch * (bf / batch) ** frac))
            E, yq = sample_prompts(chol, N, Bk, rng)
        else:
            E, yq = fixed
        out = lsa_predict_and_grads(params[0], params[1], E, rho, yq)
        grads = (out.grad_PV, out.grad_KQ)
        lr_k = lr * lr_decay ** frac
        if optimizer == "sgd":
            for p, g in zip(params, grads):
                p -= lr_k * g
        else:
            for p, g, mm_, vv in zip(params, grads, m1, m2):
                mm_ *= b1
                mm_ += (1 - b1) * g
                vv *= b2
                vv += (1 - b2) * g * g
                mhat = mm_ / (1 - b1 ** (k + 1))
                vhat = vv / (1 - b2 ** (k + 1))
                p -= lr_k * mhat / (np.sqrt(vhat) + 1e-12)
        if k >= n_avg_start:
            avg[0] += params[0]
            avg[1] += params[1]
            n_avg += 1
        losses[k] = out.loss
    ret = (avg[0] / n_avg, avg[1] / n_avg) if n_avg else (params[0].copy(), params[1].copy())
    return ret, (params[0], params[1]), losses


def _old_train_adam(model, params0, data, *, lr, steps, seed, beta1=0.9, beta2=0.999, eps=1e-8):
    """``multilayer.train_adam`` before the engine."""
    lg = mm.MODELS[model][1]
    rng = np.random.default_rng(seed)
    params = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params0.items()}
    if not callable(data):
        data = mm.as_batch(data)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    s = {k: np.zeros_like(v) for k, v in params.items()}
    losses = np.empty(steps)
    diverged = False
    for t in range(1, steps + 1):
        batch = data(rng) if callable(data) else data
        loss, _, grads = lg(batch, params)
        losses[t - 1] = loss
        if not np.isfinite(loss):
            diverged = True
            losses = losses[:t]
            break
        for k, g in grads.items():
            m[k] = beta1 * m[k] + (1 - beta1) * g
            s[k] = beta2 * s[k] + (1 - beta2) * g * g
            mhat = m[k] / (1 - beta1**t)
            shat = s[k] / (1 - beta2**t)
            params[k] -= lr * mhat / (np.sqrt(shat) + eps)
    return params, losses, diverged


@pytest.mark.parametrize("kw", [
    dict(steps=120, batch=32, lr=0.02, seed=0),
    dict(steps=80, batch=16, lr=0.01, seed=3, optimizer="sgd", average_tail=0),
    dict(steps=60, batch=8, lr=0.02, seed=9, batch_final=64, lr_decay=0.1, betas=(0.8, 0.99)),
    dict(steps=50, batch=16, lr=0.02, seed=5, fresh_samples=False, n_fixed=40),
])
def test_train_lsa_is_bit_identical_to_its_old_loop(kw):
    (ret_pv, ret_kq), (last_pv, last_kq), losses = _old_train_lsa_loop(LAM, N, **kw)
    r = train_lsa(LAM, N, init="paper", **kw)
    for new, old in ((r.W_PV, ret_pv), (r.W_KQ, ret_kq), (r.W_PV_last, last_pv), (r.W_KQ_last, last_kq),
                     (r.loss, losses)):
        assert new.dtype == old.dtype and np.array_equal(new, old)


@pytest.mark.parametrize("case", ["structured-L2-fixed", "dense-fixed", "structured-fresh", "dense-diverges"])
def test_train_adam_is_bit_identical_to_its_old_loop(case):
    d, n = 2, 5
    st = markov_prompts(np.random.default_rng(0), 48, n, d, 0.5)
    model, p0, data, lr = {
        "structured-L2-fixed": ("structured", mm.init_structured(np.random.default_rng(1), d, 2), st, 0.01),
        "dense-fixed": ("dense", mm.init_dense(np.random.default_rng(2), d), st, 0.02),
        "structured-fresh": ("structured", mm.init_structured(np.random.default_rng(4), d, 1),
                             lambda r: markov_prompts(r, 16, n, d, 0.5), 0.02),
        "dense-diverges": ("dense", mm.init_dense(np.random.default_rng(5), d), st, 1e80),
    }[case]
    with np.errstate(all="ignore"):  # the diverging case overflows on purpose
        params, losses, diverged = _old_train_adam(model, p0, data, lr=lr, steps=100, seed=3)
        r = mm.train_adam(model, p0, data, lr=lr, steps=100, seed=3)
    assert r.diverged == diverged == (case == "dense-diverges")
    assert np.array_equal(r.losses, losses, equal_nan=True) and r.losses.shape == losses.shape
    assert all(np.array_equal(r.params[k], params[k], equal_nan=True) for k in params)


def test_both_trainers_return_the_one_result_type():
    st = markov_prompts(np.random.default_rng(0), 16, 4, 2, 0.5)
    lsa = train_lsa(LAM, N, steps=5, batch=4)
    markov = mm.fit("dense", 2, st, steps=5)
    assert isinstance(lsa, TrainResult) and isinstance(markov, TrainResult)
    assert lsa.W_PV is lsa.params["W_PV"] and markov.predict(st).shape == (16,)


def test_descend_stops_at_a_nonfinite_loss_and_averages_the_tail():
    """A quadratic: Adam converges; the tail average is the mean of the last iterates; a loss that
    turns nan stops the run (kept as the last loss) unless told to go on."""
    quad = lambda k, p: (float(p["x"] @ p["x"]), {"x": 2 * p["x"]})  # noqa: E731
    seen = []
    res = descend(quad, {"x": [1.0, -2.0]}, lr=0.1, steps=10, method="sgd", average_tail=0.5,
                  on_step=lambda k, p, loss: seen.append(p["x"].copy()))
    assert np.allclose(res.params["x"], np.mean(seen[5:], axis=0)) and np.array_equal(res.last["x"], seen[-1])
    assert np.allclose(res.last["x"], 0.8 ** 10 * np.array([1.0, -2.0]))  # x ← (1 - 2·0.1) x

    nan_at_3 = lambda k, p: (np.nan if k == 3 else 1.0, {"x": np.ones(1)})  # noqa: E731
    stopped = adam(nan_at_3, {"x": [0.0]}, lr=0.1, steps=10)
    assert stopped.diverged and len(stopped.losses) == 4 and np.isnan(stopped.losses[-1])
    went_on = adam(nan_at_3, {"x": [0.0]}, lr=0.1, steps=10, stop_at_nonfinite_loss=False)
    assert not went_on.diverged and len(went_on.losses) == 10


@pytest.mark.parametrize("bad, match", [(dict(steps=-1), "steps"), (dict(method="lbfgs"), "method"),
                                        (dict(betas=(0.9, 1.0)), "betas"), (dict(average_tail=1.0), "average_tail")])
def test_descend_rejects_bad_settings(bad, match):
    kw = dict(steps=3, lr=0.1) | bad
    with pytest.raises(ValueError, match=match):
        descend(lambda k, p: (0.0, {}), {"x": [0.0]}, **kw)
