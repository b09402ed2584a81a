"""JSON encoding of quantities, parameters and verification results.

Numbers become **decimal strings** with at least ``dps`` significant digits (JSON numbers would be
read back as binary doubles); matrices become nested lists of such strings (a column vector stays a
list of one-element lists); booleans stay JSON booleans.
"""
from __future__ import annotations

import enum
import json
import math
import os
import platform
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import mpmath
import sympy

from ..numeric.precision import to_mpf

__all__ = [
    "encode_quantity", "encode_quantities", "encode_params", "jsonable", "environment_meta",
    "dump_results", "write_json",
]


def _nstr(x, dps: int) -> str:
    with mpmath.workdps(dps + 5):
        if isinstance(x, mpmath.mpc):
            re_ = mpmath.nstr(x.real, dps, strip_zeros=False)
            im_ = mpmath.nstr(abs(x.imag), dps, strip_zeros=False)
            return f"{re_}{'-' if x.imag < 0 else '+'}{im_}j"
        return mpmath.nstr(x, dps, strip_zeros=False)


def _is_numpy(x) -> bool:
    return type(x).__module__ == "numpy"


def encode_quantity(value: Any, dps: int) -> Any:
    """Encode one quantity for JSON (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return value
    if _is_numpy(value) and hasattr(value, "dtype") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # numpy scalar (np.bool_, np.float64, ...)
        if isinstance(value, bool):
            return value
    if isinstance(value, (mpmath.mpf, mpmath.mpc)):
        return _nstr(value, dps)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return _nstr(to_mpf(value, dps + 5), dps)
    if isinstance(value, (int, Fraction, complex)):
        return _nstr(to_mpf(value, dps + 5), dps)
    if isinstance(value, sympy.logic.boolalg.BooleanAtom):
        return bool(value)
    if isinstance(value, mpmath.matrix):
        return [[encode_quantity(value[i, j], dps) for j in range(value.cols)] for i in range(value.rows)]
    if isinstance(value, sympy.MatrixBase):
        return [[encode_quantity(x, dps) for x in row] for row in value.tolist()]
    if isinstance(value, sympy.Basic):
        if value.is_number:
            if value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
                return str(value)
            return _nstr(to_mpf(value, dps + 5), dps)
        return str(value)
    if hasattr(value, "tolist") and _is_numpy(value):  # numpy array
        return encode_quantity(value.tolist(), dps)
    if isinstance(value, (list, tuple)):
        return [encode_quantity(v, dps) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_quantity(v, dps) for k, v in value.items()}
    return str(value)


def encode_quantities(quantities: dict[str, Any], dps: int) -> dict[str, Any]:
    return {str(k): encode_quantity(v, dps) for k, v in quantities.items()}


def _encode_exact(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, sympy.logic.boolalg.BooleanAtom):
        return bool(v)
    if isinstance(v, int):
        return v
    if isinstance(v, sympy.Integer):
        return int(v)
    if isinstance(v, sympy.Rational):
        return f"{v.p}/{v.q}"
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if isinstance(v, sympy.MatrixBase):
        return [[_encode_exact(x) for x in row] for row in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_encode_exact(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _encode_exact(x) for k, x in v.items()}
    if isinstance(v, (mpmath.mpf, mpmath.mpc, float)):
        return encode_quantity(v, 17)
    return str(v)


def encode_params(values: dict[str, Any]) -> dict[str, Any]:
    """Parameter values, exactly: integers as JSON ints, rationals as ``"p/q"``, matrices nested."""
    return {str(k): _encode_exact(v) for k, v in values.items()}


def jsonable(obj: Any, dps: int = 30) -> Any:
    """Make arbitrary check output (details, witnesses) JSON-safe.

    Native JSON values stay as they are (finite floats included); mpmath/SymPy/NumPy numbers and
    matrices go through :func:`encode_quantity`; anything else becomes ``str``.
    """
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value, dps)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and not _is_numpy(obj):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v, dps) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, dps) for v in obj]
    try:
        return encode_quantity(obj, dps)
    except Exception:  # noqa: BLE001 - the report must be written whatever a check put in it
        return str(obj)


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return None


def environment_meta(*, seed: int, quick: bool, dps: int, alpha: float) -> dict[str, Any]:
    import numpy

    return {
        "seed": seed,
        "quick": quick,
        "dps": dps,
        "alpha": alpha,
        "package_version": _version("icl-proofs"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "sympy": sympy.__version__,
        "mpmath": mpmath.__version__,
        # where the Monte-Carlo shards ran; by design it never changes a number (for a given backend)
        "execution": _execution(),
    }


def _execution() -> dict[str, Any]:
    from ..parallel import current

    return current().to_json()


def dump_results(
    results: list[dict], *, seed: int, quick: bool, dps: int, alpha: float
) -> dict[str, Any]:
    """The ``verify --json`` document: ``{"results": [...], "meta": {...}}``.

    Each result keeps the keys ``claim``, ``status``, ``checks``, ``witness`` (and ``seconds``)."""
    return {
        "results": [jsonable(r, dps) for r in results],
        "meta": environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha),
    }


def write_json(path: str | os.PathLike, doc: Any) -> None:
    """Write ``doc`` atomically (temporary file + rename), so a crash never leaves half a file."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
