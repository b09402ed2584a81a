"""Array backends for Monte-Carlo sampling: NumPy (always), CuPy or PyTorch (optional, GPU).

A GPU is never required: NumPy is the default, and CuPy / PyTorch are imported only when a
backend that needs them is asked for (``resolve("cupy")``, ``resolve("torch")``) or when
``resolve("auto")`` sees a GPU device node (:func:`gpu_present`), so a CPU-only run never pays
for importing them.  A backend draws its own random numbers (cuRAND / torch Philox or MT), so
its samples differ from NumPy's; they agree in distribution.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import os
import sys

import numpy as np

from ..errors import UserInputError

__all__ = ["Backend", "BackendError", "NAMES", "available", "gpu_present", "resolve"]

NAMES = ("numpy", "cupy", "torch")
_CHOICES = "auto, numpy, cupy, torch"
_INSTALL = {"cupy": "pip install cupy-cuda12x", "torch": "pip install torch"}
_LIBRARY = {"cupy": "CuPy", "torch": "PyTorch"}

# Doubles per (chunk, d, d) working array: small on a CPU (the working set stays in cache), large
# on a GPU (each chunk is a handful of kernel launches; 2^23 doubles = 64 MiB per array).
_CHUNK_DOUBLES_CPU = 2**17
_CHUNK_DOUBLES_GPU = 2**23


class BackendError(UserInputError):
    """An array backend that was asked for cannot be used (one line, with the fix)."""


def gpu_present() -> bool:
    """Cheap check for a GPU device node (NVIDIA, ROCm or WSL); imports nothing.

    ``CUDA_VISIBLE_DEVICES`` set to ``""`` or ``-1`` hides NVIDIA devices, as it does for CUDA.
    A ``True`` here only allows ``auto`` to try a GPU library; the library decides.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    nvidia_hidden = visible is not None and visible.strip() in ("", "-1")
    if not nvidia_hidden and any(
        os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version")
    ):
        return True
    return os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg")


def _installed(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _missing(name: str) -> BackendError:
    return BackendError(
        f"backend '{name}' needs {_LIBRARY[name]}, which is not installed ({_INSTALL[name]})"
    )


def _import(name: str):
    """Import the backend's library, or raise a one-line :class:`BackendError`."""
    if not _installed(name):
        raise _missing(name)
    try:
        return importlib.import_module(name)
    except Exception as e:  # a broken install (missing CUDA libraries, ...) is a user problem
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackendError(f"backend '{name}': importing {_LIBRARY[name]} failed: {msg}") from None


def _cupy_device_count(cp) -> int:
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


# ----------------------------------------------------------------------------- backends


@dataclasses.dataclass(frozen=True)
class Backend:
    """An array library on one device.  Pickles as ``(name, device)``, re-resolved on load.

    Methods used by the samplers: :meth:`generator`, :meth:`standard_normal`,
    :meth:`standard_gamma`, :meth:`asarray`, :meth:`asindex`, :meth:`zeros`, :meth:`to_numpy`,
    :meth:`activate`; :attr:`xp` is the array namespace (``@``, ``xp.sqrt``, ``.reshape``,
    ``.swapaxes`` and indexed assignment behave alike in all three).  Arrays are float64.
    """

    name: str
    device: str

    def __reduce__(self):
        return (_restore, (self.name, self.device))

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device!r})"

    def __str__(self) -> str:
        return self.name if self.name == "numpy" else f"{self.name}:{self.device}"

    @property
    def is_gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def chunk_doubles(self) -> int:
        """Budget in doubles for one ``(chunk, d, d)`` working array."""
        return _CHUNK_DOUBLES_GPU if self.is_gpu else _CHUNK_DOUBLES_CPU

    @property
    def xp(self):
        return np

    def activate(self):
        """Context manager making :attr:`device` current (CuPy); a no-op elsewhere."""
        return contextlib.nullcontext()

    def generator(self, seed: np.random.SeedSequence):
        return np.random.default_rng(seed)

    def standard_normal(self, gen, shape):
        return gen.standard_normal(shape)

    def standard_gamma(self, gen, shape_param: np.ndarray, size: tuple):
        return gen.standard_gamma(np.asarray(shape_param, dtype=float), size=size)

    def asarray(self, a):
        return np.asarray(a, dtype=np.float64)

    def asindex(self, a):
        return np.asarray(a, dtype=np.int64)

    def zeros(self, shape):
        return np.zeros(shape)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)


def _seed_sequence(seed) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


class _TorchBackend(Backend):
    @property
    def xp(self):
        import torch

        return torch

    def generator(self, seed):
        import torch

        # 64 bits of the SeedSequence's entropy pool (torch seeds are 64-bit)
        s = int(_seed_sequence(seed).generate_state(1, np.uint64)[0])
        g = torch.Generator(device=self.device)
        g.manual_seed(s)
        return g

    def standard_normal(self, gen, shape):
        import torch

        return torch.randn(tuple(shape), generator=gen, dtype=torch.float64, device=self.device)

    def standard_gamma(self, gen, shape_param, size):
        import torch

        alpha = torch.as_tensor(np.asarray(shape_param, dtype=float), device=self.device)
        alpha = alpha.expand(tuple(size)).contiguous()
        return torch._standard_gamma(alpha, generator=gen)

    def asarray(self, a):
        import torch

        return torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)

    def asindex(self, a):
        import torch

        return torch.as_tensor(np.asarray(a, dtype=np.int64), device=self.device)

    def zeros(self, shape):
        import torch

        return torch.zeros(tuple(shape), dtype=torch.float64, device=self.device)

    def to_numpy(self, a):
        return a.detach().to("cpu").numpy().astype(np.float64, copy=False)


class _CupyBackend(Backend):
    @property
    def xp(self):
        import cupy

        return cupy

    def _index(self) -> int:
        return int(self.device.partition(":")[2] or 0)

    def activate(self):
        import cupy

        return cupy.cuda.Device(self._index())

    def generator(self, seed):
        import cupy

        # Philox: cheap to initialise.  CuPy reduces the seed to 32 bits (see the report / README).
        with self.activate():
            return cupy.random.Generator(cupy.random.Philox4x3210(_seed_sequence(seed)))

    def standard_normal(self, gen, shape):
        with self.activate():
            return gen.standard_normal(tuple(shape))

    def standard_gamma(self, gen, shape_param, size):
        import cupy

        with self.activate():
            alpha = cupy.asarray(np.asarray(shape_param, dtype=float))
            return gen.standard_gamma(alpha, size=tuple(size))

    def asarray(self, a):
        import cupy

        with self.activate():
            return cupy.asarray(np.asarray(a, dtype=np.float64))

    def asindex(self, a):
        import cupy

        with self.activate():
            return cupy.asarray(np.asarray(a, dtype=np.int64))

    def zeros(self, shape):
        import cupy

        with self.activate():
            return cupy.zeros(tuple(shape), dtype=cupy.float64)

    def to_numpy(self, a):
        import cupy

        return cupy.asnumpy(a).astype(np.float64, copy=False)


_CLASSES = {"numpy": Backend, "torch": _TorchBackend, "cupy": _CupyBackend}


def _restore(name: str, device: str) -> Backend:
    return resolve(f"{name}:{device}")


# ----------------------------------------------------------------------------- resolution


def _torch_cuda(torch) -> str | None:
    try:
        if torch.cuda.is_available():
            return f"cuda:{torch.cuda.current_device()}"
    except Exception:
        pass
    return None


@functools.lru_cache(maxsize=None)
def _resolve(name: str, device: str | None) -> Backend:
    if name == "numpy":
        if device not in (None, "cpu"):
            raise BackendError(f"backend 'numpy' runs on the cpu only, not on '{device}'")
        return Backend("numpy", "cpu")
    if name == "torch":
        torch = _import("torch")
        if not hasattr(torch, "_standard_gamma"):
            raise BackendError(
                f"backend 'torch': PyTorch {torch.__version__} lacks torch._standard_gamma"
            )
        if device is None:
            device = _torch_cuda(torch) or "cpu"
        elif device != "cpu":
            try:
                torch.zeros(1, device=device)
            except Exception as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise BackendError(f"backend 'torch': device '{device}' is not usable: {msg}") from None
        return _TorchBackend("torch", device)
    if name == "cupy":
        cp = _import("cupy")
        n = _cupy_device_count(cp)
        if n == 0:
            raise BackendError(
                "backend 'cupy' found no usable GPU (CuPy is installed; check the driver, "
                f"or install the build matching your CUDA: {_INSTALL['cupy']})"
            )
        if device is None:
            try:
                device = f"cuda:{int(cp.cuda.runtime.getDevice())}"
            except Exception:
                device = "cuda:0"
        idx = device.partition(":")[2]
        if not device.startswith("cuda") or not (idx == "" or (idx.isdigit() and int(idx) < n)):
            raise BackendError(f"backend 'cupy': no device '{device}' ({n} GPU(s) visible)")
        return _CupyBackend("cupy", device if idx else "cuda:0")
    raise BackendError(f"unknown backend '{name}'; choose one of: {_CHOICES}")


@functools.lru_cache(maxsize=None)
def _auto() -> Backend:
    # PyTorch before CuPy: CuPy reduces a generator's seed to 32 bits, so with many shards two
    # could share a stream (probability ~ shards^2 / 2^33); torch seeds carry 64 bits.
    if gpu_present():
        if _installed("torch"):
            try:
                b = _resolve("torch", None)
                if b.is_gpu:
                    return b
            except BackendError:
                pass
        if _installed("cupy"):
            try:
                return _resolve("cupy", None)
            except BackendError:
                pass
    return _resolve("numpy", None)


def resolve(name: str | None = None) -> Backend:
    """The backend called ``name``: ``"auto"`` (or ``None``), ``"numpy"``, ``"cupy"``, ``"torch"``.

    ``auto`` picks PyTorch, else CuPy, when :func:`gpu_present` and the library reports a usable
    GPU, and NumPy otherwise; it never raises.  ``torch`` uses the current CUDA device if there is
    one and the CPU otherwise.  A device may be named after a colon (``"torch:cpu"``,
    ``"cupy:cuda:1"``).  Anything that cannot be used raises a one-line :class:`BackendError`.
    Results are cached (importing a GPU library is slow).

    >>> resolve("numpy")
    Backend(name='numpy', device='cpu')
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        return _auto()
    if not isinstance(name, str):
        raise BackendError(f"backend must be a name, got {type(name).__name__}; choose one of: {_CHOICES}")
    spec = name.strip().lower()
    base, _, device = spec.partition(":")
    if base == "auto" and not device:
        return _auto()
    if base not in NAMES:
        raise BackendError(f"unknown backend '{name}'; choose one of: {_CHOICES}")
    return _resolve(base, device or None)


def available(probe: bool = False) -> dict[str, str]:
    """``name -> one-line status`` for every backend.

    Without ``probe`` nothing is imported (installed libraries are found with
    ``importlib.util.find_spec``); with ``probe`` installed libraries are imported and asked for
    a device.  A library that is not installed is never imported.
    """
    out = {"numpy": f"available (NumPy {np.__version__}, cpu)"}
    gpu = "a GPU device node is present" if gpu_present() else "no GPU device node"
    for name in ("cupy", "torch"):
        if not _installed(name):
            out[name] = f"not installed ({_INSTALL[name]})"
        elif not probe and name not in sys.modules:
            out[name] = f"installed, not imported ({gpu})"
        else:
            try:
                b = _resolve(name, None)
                out[name] = f"available ({b.device})"
            except BackendError as e:
                out[name] = f"unavailable: {e}"
    return out
