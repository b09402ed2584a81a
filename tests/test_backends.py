"""Array backends (icl_proofs.parallel.backends) and the backend-aware conditional sampler.

Statistical checks are two-sided CLT z-tests at false-alarm rate ALPHA with fixed seeds: each
compares a backend's estimate with the exact expectation (z_check) or with the NumPy route's
independent estimate (z_check_diff).  The PyTorch routes run on the CPU here; on a machine with a
GPU the same tests also run the CUDA route (and CuPy when it is installed).
"""
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

from icl_proofs.claims.base import UserInputError
from icl_proofs.numeric.montecarlo import Estimate, RunningMoments, estimate, z_check, z_check_diff
from icl_proofs.models.samplers import ConditionalSampler, conditional_sampler
from icl_proofs.parallel import backends
from icl_proofs.parallel.backends import BackendError, resolve

ALPHA = 1e-3


# ----------------------------------------------------------------------------- resolution


def test_resolve_numpy_route():
    b = resolve("numpy")
    assert (b.name, b.device, b.xp) == ("numpy", "cpu", np)
    assert resolve(" NumPy ") is b and resolve(b) is b
    assert not b.is_gpu


@pytest.mark.skipif(backends.gpu_present(), reason="this machine has a GPU device node")
def test_auto_route_without_gpu_is_numpy():
    assert resolve("auto") == resolve("numpy")
    assert resolve(None) == resolve("numpy")


@pytest.mark.parametrize("patched", [False, True], ids=["as-is", "gpu_present-false"])
def test_auto_route_imports_no_gpu_library(patched):
    """resolve('auto') and available() on a GPU-less machine import neither torch nor cupy."""
    if not patched and backends.gpu_present():
        pytest.skip("this machine has a GPU device node; the patched variant covers the logic")
    code = (
        "import sys\n"
        "import icl_proofs.parallel.backends as b\n"
        + ("b.gpu_present = lambda: False\n" if patched else "")
        + "r = b.resolve('auto'); b.available()\n"
        "assert r.name == 'numpy', r\n"
        "bad = sorted(m for m in ('torch', 'cupy') if m in sys.modules)\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_unknown_backend_route_is_one_line_error():
    with pytest.raises(BackendError) as ei:
        resolve("foo")
    msg = str(ei.value)
    assert "\n" not in msg and "'foo'" in msg
    assert "auto, numpy, cupy, torch" in msg
    assert isinstance(ei.value, UserInputError) and isinstance(ei.value, ValueError)
    with pytest.raises(BackendError, match="cpu only"):
        resolve("numpy:cuda:0")


def test_cupy_route_missing_gives_install_hint():
    try:
        import cupy  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("CuPy is importable here")
    with pytest.raises(BackendError) as ei:
        resolve("cupy")
    msg = str(ei.value)
    assert "\n" not in msg and "pip install cupy-cuda12x" in msg


def test_available_route_reports_every_backend():
    info = backends.available()
    assert set(info) == set(backends.NAMES)
    assert all(isinstance(v, str) and "\n" not in v for v in info.values())
    assert info["numpy"].startswith("available")


def test_backend_pickles_by_name_and_device():
    import cloudpickle

    b = resolve("numpy")
    for dumps in (pickle.dumps, cloudpickle.dumps):
        assert pickle.loads(dumps(b)) == b
    payload = pickle.dumps(b)
    assert b"numpy.random" not in payload and len(payload) < 200  # no module objects inside


# ----------------------------------------------------------------------------- sampler routes


def _device_backend(spec):
    """Resolve a non-NumPy backend route, skipping when it is not usable here."""
    if spec.startswith("torch"):
        torch = pytest.importorskip("torch")
        if spec == "torch:cuda" and not torch.cuda.is_available():
            pytest.skip("no CUDA device for PyTorch")
    try:
        return resolve(spec)
    except BackendError as e:
        pytest.skip(str(e))


DEVICE_ROUTES = ["torch:cpu", "torch:cuda", "cupy"]


def _sharded(sampler, backend, seed, n, batch=2**14) -> Estimate:
    """Estimate from ``n`` samples in shards, shard ``j`` drawn from child ``j`` of ``seed``."""
    acc = RunningMoments()
    for child in np.random.SeedSequence(seed).spawn(-(-n // batch)):
        k = min(batch, n - acc.n)
        x = sampler.sample_on(backend, child, k)
        assert isinstance(x, np.ndarray) and x.shape == (k,) and x.dtype == np.float64
        acc.update(x)
    return acc.estimate()


def _exact(P, Lam, M, Lq=None, mu=None, Psi=None, s=0.0, sq=0.0):
    """E[(y_hat - y_q)^2] of the reduced model, from the Wishart moment
    E[Sigma_hat A Sigma_hat] = (1 + 1/M) Lam A Lam + tr(A Lam) Lam / M  (A symmetric)."""
    d = Lam.shape[0]
    Lq = Lam if Lq is None else Lq
    K = (np.eye(d) if Psi is None else Psi) + (0 if mu is None else np.outer(mu, mu))
    ESKS = (1 + 1 / M) * Lam @ K @ Lam + np.trace(K @ Lam) * Lam / M
    return float(
        np.trace(Lq @ P.T @ ESKS @ P)
        - 2 * np.trace(Lq @ P.T @ Lam @ K)
        + np.trace(Lq @ K)
        + s * s / M * np.trace(Lq @ P.T @ Lam @ P)
        + sq * sq
    )


def _bench_setting(d=20, M=40):
    """benchmarks/bench_montecarlo.py: P = Gamma^{-1}, Lambda diagonal, w ~ N(0, I), noiseless."""
    Lam = np.diag(np.linspace(0.5, 2, d))
    trL = np.trace(Lam)
    Gam = (1 + 1 / M) * Lam + trL / M * np.eye(d)
    Gi = np.linalg.inv(Gam)
    L2 = Lam @ Lam
    exact = float(
        (1 + 1 / M) * np.trace(Gi @ Gi @ L2 @ Lam)
        + trL / M * np.trace(Gi @ Gi @ L2)
        - 2 * np.trace(Gi @ L2)
        + trL
    )
    return Gi, Lam, exact


def _spd(rng, d, shift=0.3):
    A = rng.standard_normal((d, d))
    return A @ A.T / d + shift * np.eye(d)


def test_exact_helper_matches_bench_formula():
    P, Lam, exact = _bench_setting(6, 9)
    assert math.isclose(_exact(P, Lam, 9), exact, rel_tol=1e-12)


@pytest.mark.parametrize("spec", DEVICE_ROUTES)
def test_device_route_bench_setting_agrees_with_exact_and_numpy(spec):
    """d = 20, M = 40, diagonal plan (elementwise quadratic term), Bartlett branch."""
    b = _device_backend(spec)
    P, Lam, exact = _bench_setting()
    sampler = conditional_sampler(P, Lam, 40)
    dev = _sharded(sampler, b, seed=101, n=2**15)
    ref = estimate(sampler, 2**15, seed=102)
    assert z_check(dev, exact, ALPHA)[2], (dev, exact)
    assert z_check(ref, exact, ALPHA)[2], (ref, exact)
    assert z_check_diff(dev, ref, ALPHA)[2], (dev, ref)
    assert dev.sd < 2 * ref.sd and ref.sd < 2 * dev.sd  # same law, so comparable spread


def _general(d=5):
    rng = np.random.default_rng(77)
    kw = dict(
        Lambda_query=_spd(rng, d, 0.5),
        w_mean=0.7 * rng.standard_normal(d),
        w_cov=_spd(rng, d, 0.2),
        noise_sd=0.6,
        query_noise_sd=0.4,
    )
    return _spd(rng, d), 0.4 * rng.standard_normal((d, d)), kw  # P not symmetric


@pytest.mark.parametrize("M", [8, 3], ids=["bartlett", "singular-M<d"])
@pytest.mark.parametrize("spec", DEVICE_ROUTES)
def test_device_route_general_setting_agrees_with_exact_and_numpy(spec, M):
    """Random SPD Lambda, query shift, w mean and covariance, label noise: general (matmul) plan."""
    b = _device_backend(spec)
    Lam, P, kw = _general()
    sampler = conditional_sampler(P, Lam, M, **kw)
    assert sampler.plan.n_diag is None  # the general quadratic term is exercised
    exact = _exact(
        P, Lam, M, kw["Lambda_query"], kw["w_mean"], kw["w_cov"], kw["noise_sd"], kw["query_noise_sd"]
    )
    dev = _sharded(sampler, b, seed=200 + M, n=2**16)
    ref = estimate(sampler, 2**16, seed=300 + M)
    assert z_check(ref, exact, ALPHA)[2], (ref, exact)
    assert z_check(dev, exact, ALPHA)[2], (dev, exact)
    assert z_check_diff(dev, ref, ALPHA)[2], (dev, ref)
    # the check has power: the transposed preconditioner is rejected
    wrong = _sharded(conditional_sampler(P.T, Lam, M, **kw), b, seed=400 + M, n=2**16)
    assert not z_check_diff(wrong, ref, ALPHA)[2]


@pytest.mark.parametrize("M", [8, 3], ids=["bartlett", "singular-M<d"])
@pytest.mark.parametrize("spec", DEVICE_ROUTES)
def test_device_route_is_deterministic(spec, M):
    b = _device_backend(spec)
    Lam, P, kw = _general()
    sampler = conditional_sampler(P, Lam, M, **kw)
    a = sampler.sample_on(b, np.random.SeedSequence(5), 1000)
    again = sampler.sample_on(b, np.random.SeedSequence(5), 1000)
    other = sampler.sample_on(b, np.random.SeedSequence(6), 1000)
    np.testing.assert_array_equal(a, again)
    assert not np.any(a == other)
    # a fresh sampler (no device cache) and an int seed give the same stream
    fresh = conditional_sampler(P, Lam, M, **kw)
    np.testing.assert_array_equal(fresh.sample_on(b, 5, 1000), a)
    # the NumPy route draws other numbers, in the same law
    assert not np.allclose(a, sampler.sample_on("numpy", 5, 1000))


def test_numpy_route_is_the_generator_route():
    Lam, P, kw = _general()
    sampler = conditional_sampler(P, Lam, 3, **kw)
    ss = np.random.SeedSequence(8)
    np.testing.assert_array_equal(
        sampler.sample_on(resolve("numpy"), ss, 777), sampler(np.random.default_rng(ss), 777)
    )
    assert sampler.sample_on("numpy", 8, 0).shape == (0,)
    with pytest.raises(ValueError, match="batch must"):
        sampler.sample_on("numpy", 8, -1)
    with pytest.raises(BackendError):
        sampler.sample_on("foo", 8, 10)


@pytest.mark.parametrize("use_cloudpickle", [False, True], ids=["pickle", "cloudpickle"])
def test_sampler_pickles_without_device_cache(use_cloudpickle):
    dumps = pickle.dumps
    if use_cloudpickle:
        dumps = pytest.importorskip("cloudpickle").dumps
    Lam, P, kw = _general()
    sampler = conditional_sampler(P, Lam, 8, **kw)
    assert isinstance(sampler, ConditionalSampler)
    routes = [resolve("numpy")]
    try:
        routes.append(resolve("torch:cpu"))
    except BackendError:
        pass
    for b in routes:
        sampler.sample_on(b, 1, 10)  # fills the device cache for non-NumPy routes
    copy = pickle.loads(dumps(sampler))
    assert copy._device == {}
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(copy(rng_a, 500), sampler(rng_b, 500))
    for b in routes:
        np.testing.assert_array_equal(copy.sample_on(b, 4, 500), sampler.sample_on(b, 4, 500))


def test_torch_backend_pickles_by_name_and_device():
    pytest.importorskip("torch")
    import cloudpickle

    b = resolve("torch:cpu")
    assert (b.name, b.device) == ("torch", "cpu")
    for dumps in (pickle.dumps, cloudpickle.dumps):
        assert pickle.loads(dumps(b)) == b
