"""Route: gradient descent of the plain LSA (all blocks) on sampled zfb23 prompts.

Hand-derived gradients are checked against central finite differences; predictions against the
full formula ``f(E) = E + W_PV E (E^T W_KQ E)/rho`` and against ``icl_proofs.models.lsa``.
A short SGD (Adam) run from the paper's initialisation must land near ``Gamma^{-1}``.
"""
from __future__ import annotations

import numpy as np
import pytest

from icl_proofs.claims.zfb23.flow import gamma_matrix, paper_init_full, sigma_bound, train_lsa
from icl_proofs.models.training import lsa_predict_and_grads, random_init_full, relative_error, sample_prompts

LAM = np.diag([1.0, 2.0])
N = 10


def _full_formula(W_PV, W_KQ, E, rho):
    """y_hat from the definition, one prompt at a time."""
    d = E.shape[1] - 1
    n = E.shape[2] - 1
    return np.array([(Eb + W_PV @ Eb @ (Eb.T @ W_KQ @ Eb) / rho)[d, n] for Eb in E])


@pytest.mark.parametrize("d,n,B,seed", [(1, 3, 4, 0), (2, 5, 7, 1), (3, 4, 6, 2)])
def test_predictions_match_definition(d, n, B, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d + 1, d + 1))
    K = rng.standard_normal((d + 1, d + 1))
    Lam = np.diag(rng.uniform(0.5, 2.0, d))
    E, yq = sample_prompts(np.linalg.cholesky(Lam), n, B, rng)
    out = lsa_predict_and_grads(A, K, E, n, yq)
    ref = _full_formula(A, K, E, n)
    assert np.allclose(out.y_hat, ref, rtol=1e-12, atol=1e-12 * np.max(np.abs(ref)))
    assert abs(out.loss - 0.5 * np.mean((ref - yq) ** 2)) < 1e-12 * (1 + out.loss)
    try:
        from icl_proofs.models.lsa import LSAParams, predict
    except ImportError:  # pragma: no cover - the forward module is written separately
        return
    assert np.allclose(out.y_hat, predict(LSAParams(A, K), E, n), rtol=1e-12,
                       atol=1e-12 * np.max(np.abs(ref)))


@pytest.mark.parametrize("d,n,B,seed", [(1, 2, 3, 3), (2, 5, 7, 4), (3, 6, 5, 5)])
def test_gradients_match_finite_differences(d, n, B, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d + 1, d + 1))
    K = rng.standard_normal((d + 1, d + 1))
    E, yq = sample_prompts(np.linalg.cholesky(np.eye(d) + 0.2), n, B, rng)
    rho = float(n)
    out = lsa_predict_and_grads(A, K, E, rho, yq)

    def loss(A_, K_):
        return 0.5 * np.mean((_full_formula(A_, K_, E, rho) - yq) ** 2)

    h = 1e-5
    fd_A = np.zeros_like(A)
    fd_K = np.zeros_like(K)
    for i in range(d + 1):
        for j in range(d + 1):
            D = np.zeros_like(A)
            D[i, j] = h
            fd_A[i, j] = (loss(A + D, K) - loss(A - D, K)) / (2 * h)
            fd_K[i, j] = (loss(A, K + D) - loss(A, K - D)) / (2 * h)
    # the loss is a polynomial of degree 4; central differences err by O(h^2) ~ 1e-10 relative
    scale = max(np.max(np.abs(fd_A)), np.max(np.abs(fd_K)))
    assert np.max(np.abs(out.grad_PV - fd_A)) < 1e-7 * scale
    assert np.max(np.abs(out.grad_KQ - fd_K)) < 1e-7 * scale
    # only the last row of W_PV and the first d columns of W_KQ influence y_hat
    assert np.all(out.grad_PV[:d, :] == 0) and np.all(out.grad_KQ[:, d] == 0)
    assert np.max(np.abs(fd_A[:d, :])) < 1e-9 * scale and np.max(np.abs(fd_K[:, d])) < 1e-9 * scale


def test_sample_prompts_structure():
    rng = np.random.default_rng(0)
    d, n, B = 3, 6, 50
    E, yq = sample_prompts(np.linalg.cholesky(np.diag([1.0, 2.0, 3.0])), n, B, rng)
    assert E.shape == (B, d + 1, n + 1) and yq.shape == (B,)
    assert np.all(E[:, d, n] == 0)
    # one task vector per prompt: solve it from the labelled columns, predict the query label
    for b in range(B):
        w = np.linalg.lstsq(E[b, :d, :n].T, E[b, d, :n], rcond=None)[0]
        assert abs(E[b, :d, n] @ w - yq[b]) < 1e-9 * (1 + abs(yq[b]))


def test_relative_error():
    Gi = np.diag([2.0, 0.0])
    assert relative_error(Gi, Gi) == 0.0
    assert abs(relative_error(np.diag([1.0, 0.0]), Gi) - 0.5) < 1e-15


@pytest.fixture(scope="module")
def paper_run():
    return train_lsa(LAM, N, steps=2000, batch=256, seed=0, init="paper")


def test_training_from_paper_init_reaches_gamma_inverse(paper_run):
    """Tolerance: over 30 seeds this configuration (2000 Adam steps, batch 256, lr 0.02 decayed
    exponentially to 2e-4, average of the last 25% of iterates) gave relative errors
    0.56% +- 0.15% (max 0.95%); 3% is > 15 standard deviations above the mean, and is the
    "within a few percent" target of the paper's claim check."""
    r = paper_run
    Gi = np.linalg.inv(gamma_matrix(LAM, N))
    assert np.allclose(r.Gamma_inv, Gi)
    assert r.error() < 0.03
    b = r.blocks()
    # w21, u21 start at 0 and only pick up SGD noise (their population gradient vanishes there)
    assert np.linalg.norm(b["w21"]) < 0.03 and np.linalg.norm(b["u21"]) < 0.03
    assert relative_error(r.effective_preconditioner(), Gi) < 0.03
    # blocks that never receive gradient keep their initial value exactly (0 under the paper init)
    for name in ("W11", "w12", "u12"):
        assert np.all(b[name] == 0)
    assert b["u22"] == 0
    # the trained loss approaches the population optimum L_* = 1/2 tr Lam - 1/2 tr(Lam^2 Gamma^-1)
    L_star = 0.5 * np.trace(LAM) - 0.5 * np.trace(LAM @ LAM @ Gi)
    assert abs(np.mean(r.loss[-200:]) - L_star) < 0.1 * L_star  # 51k samples: sd ~ 1% of L_*
    assert np.mean(r.loss[:20]) > 1.5 * L_star
    assert r.cpu_time < 10


def test_paper_init_layout():
    rng = np.random.default_rng(3)
    A, K = paper_init_full(2, 0.4, rng)
    assert A[2, 2] == 0.4 and np.count_nonzero(A) == 1
    assert np.all(K[2, :] == 0) and np.all(K[:, 2] == 0)
    assert abs(np.linalg.norm(K[:2, :2]) - 0.4) < 1e-14


def test_random_init_irrelevant_blocks_untouched():
    """From a random init of all blocks, only (w21, w22) and (U11, u21) move; the loss drops.

    (Convergence to Gamma^{-1} from a random init is *not* asserted: a spurious rank-one minimum
    with w22 ~ 0 and P ~ w21 u21^T attracts a sizeable fraction of random initialisations.)"""
    sigma = 0.5 * sigma_bound(LAM, N)
    r = train_lsa(LAM, N, steps=300, batch=128, seed=7, init="random", sigma=sigma, average_tail=0)
    A0, K0 = random_init_full(2, sigma, np.random.default_rng(7))
    assert np.array_equal(r.W_PV_last[:2, :], A0[:2, :])
    assert np.array_equal(r.W_KQ_last[:, 2], K0[:, 2])
    assert not np.allclose(r.W_PV_last[2, :], A0[2, :])
    assert np.mean(r.loss[-50:]) < np.mean(r.loss[:20])


def test_fixed_sample_full_batch_is_deterministic():
    """fresh_samples=False: full-batch steps on one fixed sample converge (300 steps suffice: 400
    give the same digits) to the empirical minimiser, which is O(n^-1/2) from Gamma^{-1}:
    at n = 20000 seeds 2, 3, 4 gave 2.1%, 1.9%, 0.8%; 6% is about 3 of those spreads."""
    kw = dict(steps=300, fresh_samples=False, n_fixed=20000, lr=0.02, lr_decay=0.05,
              average_tail=0, seed=2)
    r1 = train_lsa(LAM, N, **kw)
    r2 = train_lsa(LAM, N, **kw)
    assert np.array_equal(r1.W_PV, r2.W_PV) and np.array_equal(r1.W_KQ, r2.W_KQ)
    assert r1.samples_seen == 20000
    assert r1.error() < 0.06


def test_given_init_and_validation():
    Gi = np.linalg.inv(gamma_matrix(LAM, N))
    A = np.zeros((3, 3))
    K = np.zeros((3, 3))
    A[2, 2] = 1.0
    K[:2, :2] = Gi
    r = train_lsa(LAM, N, init=(A, K), steps=50, batch=512, lr=1e-3, seed=1)
    assert r.error() < 0.02  # starts at the optimum; tiny steps keep it there
    with pytest.raises(ValueError):
        train_lsa(LAM, N, steps=5, init="bogus")
    with pytest.raises(ValueError):
        train_lsa(LAM, N, steps=5, optimizer="lbfgs")
    with pytest.raises(ValueError):
        train_lsa(-LAM, N, steps=5)


def test_the_optimiser_is_paper_free_and_the_paper_passes_its_init_in():
    """``models.training.train_lsa`` knows no paper: given zfb23's Assumption 3.3 as an ``Init`` and
    Γ⁻¹ as the target it gives, bit for bit, what the zfb23 front door gives (route: the same run
    reached two ways); without them it needs an explicit sigma and target."""
    from icl_proofs.models import training

    sigma = 0.5 * sigma_bound(LAM, N)
    paper = training.Init("paper", lambda rng: paper_init_full(2, sigma, rng))
    a = training.train_lsa(LAM, N, target=np.linalg.inv(gamma_matrix(LAM, N)), init=paper, sigma=sigma,
                           steps=40, batch=64, seed=3)
    b = train_lsa(LAM, N, steps=40, batch=64, seed=3)
    assert np.array_equal(a.W_PV, b.W_PV) and np.array_equal(a.W_KQ, b.W_KQ) and a.config == b.config
    with pytest.raises(ValueError, match="needs sigma"):
        training.train_lsa(LAM, N, target=np.eye(2), steps=5)
    with pytest.raises(TypeError):
        training.train_lsa(LAM, N, steps=5, sigma=0.1)  # no target: the model does not know Γ⁻¹
