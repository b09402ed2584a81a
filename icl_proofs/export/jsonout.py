"""JSON encoding of quantities, parameters and verification results.

Numbers become **decimal strings** with at least ``dps`` significant digits (JSON numbers would be
read back as binary doubles); integers (Python, NumPy, SymPy) stay JSON integers — as exact digit
strings beyond 2**53, which a JSON reader in double precision would round; matrices become nested
lists (a column vector stays a list of one-element lists); booleans stay JSON booleans.
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

from ..claims.base import UserInputError
from ..numeric.precision import to_mpf

__all__ = [
    "encode_quantity", "encode_quantities", "encode_params", "jsonable", "environment_meta",
    "dump_results", "write_json", "RESULTS_FORMAT", "RESULTS_FORMAT_VERSION", "ResultsFileError",
    "read_results", "check_resumable", "ResultsWriter", "utc_now",
]

#: ``format`` of a ``verify --json`` results file, and the newest ``format_version`` this code reads
RESULTS_FORMAT = "icl-proofs/verify-results"
RESULTS_FORMAT_VERSION = 1


def _nstr(x, dps: int) -> str:
    with mpmath.workdps(dps + 5):
        if isinstance(x, mpmath.mpc):
            re_ = mpmath.nstr(x.real, dps, strip_zeros=False)
            im_ = mpmath.nstr(abs(x.imag), dps, strip_zeros=False)
            return f"{re_}{'-' if x.imag < 0 else '+'}{im_}j"
        return mpmath.nstr(x, dps, strip_zeros=False)


#: the largest integer every JSON reader (doubles included) reads back exactly
_EXACT_INT = 2 ** 53


def _integer(n: int):
    """An integer as a JSON integer ("n": 800, not "800.000..."); its exact digits past 2**53."""
    return n if abs(n) <= _EXACT_INT else str(n)


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
    if isinstance(value, (int, sympy.Integer)) and not isinstance(value, bool):
        return _integer(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return _nstr(to_mpf(value, dps + 5), dps)
    if isinstance(value, (Fraction, complex)):
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


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (``2024-05-01T12:00:00Z``)."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def environment_meta(
    *, seed: int, quick: bool, dps: int, alpha: float, argv: list[str] | None = None,
    claims: list[str] | None = None, started: str | None = None,
) -> dict[str, Any]:
    """What a results file needs to be reproduced: the settings (``seed``, ``quick``, ``dps``,
    ``alpha``), the versions and platform, the command line (``argv``), the selected claim ids
    (``claims``), the start time (``started``, UTC ISO 8601) and the runs that resumed it
    (``resumed``; empty for a fresh file)."""
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
        "argv": list(argv) if argv is not None else None,
        "claims": list(claims) if claims is not None else None,
        "started": started if started is not None else utc_now(),
        "resumed": [],
    }


def _execution() -> dict[str, Any]:
    from ..parallel import current

    return current().to_json()


def _document(results: list[dict], meta: dict, *, complete: bool, partial: dict | None) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_FORMAT_VERSION,
        "complete": bool(complete),
        "meta": meta,
        "results": results,
        "partial": partial,
    }


def dump_results(
    results: list[dict], *, seed: int, quick: bool, dps: int, alpha: float, complete: bool = True,
    partial: dict | None = None, argv: list[str] | None = None, claims: list[str] | None = None,
) -> dict[str, Any]:
    """The ``verify --json`` document (format ``icl-proofs/verify-results``, version 1)::

        {"format": "icl-proofs/verify-results", "format_version": 1,
         "complete": true,          # false until every claim in meta.claims has its result
         "meta": {...},             # see environment_meta
         "results": [...],          # finished claims only, in the order they finished
         "partial": null}           # or the claim running now: {"claim", "status": "running", "checks"}

    Each result keeps the keys ``claim``, ``status``, ``checks``, ``witness`` (and ``seconds``)."""
    return _document(
        [jsonable(r, dps) for r in results],
        environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha, argv=argv, claims=claims),
        complete=complete,
        partial=jsonable(partial, dps) if partial is not None else None,
    )


# --------------------------------------------------------------------------- results files


class ResultsFileError(UserInputError):
    """A results file that cannot be read, resumed or replaced.  ``kind`` says why (see
    :func:`read_results`, :func:`check_resumable`), ``reason`` is the message without the path,
    ``doc`` the document where one could be read."""

    def __init__(self, path, reason: str, kind: str, doc: dict | None = None):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.kind, self.doc = str(path), reason, kind, doc


def _looks_like_results(doc: Any) -> bool:
    """Ours: the current format, or the unversioned ``{"results": [...], "meta": {...}}`` of
    earlier releases (read as format_version 0)."""
    if not isinstance(doc, dict):
        return False
    if "format" in doc:
        return doc["format"] == RESULTS_FORMAT
    return (set(doc) == {"results", "meta"} and isinstance(doc["results"], list)
            and isinstance(doc["meta"], dict) and "seed" in doc["meta"] and "package_version" in doc["meta"])


def read_results(path: str | os.PathLike) -> dict[str, Any] | None:
    """Read a results file: ``None`` if it does not exist or is empty (nothing to lose), else the
    document with ``format_version`` filled in (0 for the unversioned format of earlier releases).

    Raises :class:`ResultsFileError` with ``kind`` ``"unreadable"``, ``"corrupt"`` (not JSON),
    ``"foreign"`` (JSON, but not a results file of ours), ``"invalid"`` (ours, but malformed) or
    ``"newer"`` (ours, from a later format_version; ``doc`` holds it)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ResultsFileError(path, "is a directory", "unreadable") from None
    except OSError as e:
        raise ResultsFileError(path, f"cannot read it: {e.strerror or e}", "unreadable") from None
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ResultsFileError(path, "not valid JSON, so not an icl-proofs results file", "corrupt") from None
    if not _looks_like_results(doc):
        raise ResultsFileError(path, "JSON, but not an icl-proofs results file", "foreign")
    doc = dict(doc)
    version = doc.get("format_version", 0 if "format" not in doc else None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ResultsFileError(path, f"an icl-proofs results file with an invalid format_version {version!r}",
                               "invalid")
    if version > RESULTS_FORMAT_VERSION:
        raise ResultsFileError(
            path, f"format_version {version} is newer than this icl-proofs reads "
                  f"({RESULTS_FORMAT_VERSION}); upgrade icl-proofs", "newer", doc)
    doc["format_version"] = version
    results, meta = doc.get("results"), doc.get("meta")
    if (not isinstance(results, list) or not isinstance(meta, dict)
            or not all(isinstance(r, dict) and isinstance(r.get("claim"), str)
                       and isinstance(r.get("status"), str) for r in results)):
        raise ResultsFileError(path, "an icl-proofs results file with malformed results or meta", "invalid")
    return doc


#: meta fields that must match for a run to resume a file (a difference changes the numbers)
RESUME_FIELDS = ("seed", "quick", "dps", "alpha", "package_version")


def check_resumable(path: str | os.PathLike, doc: dict, run_meta: dict) -> None:
    """Refuse (``ResultsFileError``, kind ``"mismatch"``) to resume ``doc`` with a run whose
    settings differ: seed, quick, dps, alpha, package version, or the array backend."""
    meta = doc["meta"]
    pairs = [(f, meta.get(f, "(missing)"), run_meta.get(f)) for f in RESUME_FIELDS]
    old_ex, new_ex = meta.get("execution"), run_meta.get("execution")
    if isinstance(old_ex, dict) and isinstance(new_ex, dict) and "backend" in old_ex:
        pairs.append(("backend", old_ex.get("backend"), new_ex.get("backend")))
    for field, old, new in pairs:
        if old != new or isinstance(old, bool) != isinstance(new, bool):
            def show(v):
                return v if isinstance(v, str) else json.dumps(v)

            raise ResultsFileError(
                path, f"{field} differs (file: {show(old)}, this run: {show(new)}); rerun with the "
                      f"file's settings or write to another file", "mismatch")


class ResultsWriter:
    """The results file of one ``verify`` run, rewritten atomically after every check.

    ``results`` only ever holds finished claims; the claim running now is the ``partial`` entry
    (``{"claim", "status": "running", "checks": [...so far]}``).  ``path=None`` keeps the
    document in memory (``verify --json -`` prints it at the end).
    """

    def __init__(self, path: str | os.PathLike | None, meta: dict, dps: int,
                 results: list[dict] | None = None):
        self.path = path
        self.meta = meta
        self.dps = dps
        self.results: list[dict] = list(results or [])  # encoded, finished claims
        self.partial: dict | None = None

    @classmethod
    def resume(cls, path, doc: dict, run_meta: dict, dps: int) -> "ResultsWriter":
        """Continue ``doc`` (checked with :func:`check_resumable`): keep its finished results (the
        last one per claim), drop its partial claim, record this run under ``meta.resumed``."""
        by_id: dict[str, dict] = {}
        for r in doc["results"]:
            by_id.pop(r["claim"], None)
            by_id[r["claim"]] = r
        meta = dict(doc["meta"])
        claims = list(meta.get("claims") or [])
        if not meta.get("claims"):
            claims = list(by_id)
        for c in run_meta.get("claims") or []:
            if c not in claims:
                claims.append(c)
        meta["claims"] = claims
        resumed = meta.get("resumed")
        meta["resumed"] = list(resumed) if isinstance(resumed, list) else []
        meta["resumed"].append({k: v for k, v in run_meta.items()
                                if k not in RESUME_FIELDS + ("claims", "resumed")})
        return cls(path, meta, dps, list(by_id.values()))

    def finished(self) -> dict[str, dict]:
        return {r["claim"]: r for r in self.results}

    @property
    def complete(self) -> bool:
        done = self.finished()
        return self.partial is None and all(c in done for c in (self.meta.get("claims") or done))

    def document(self) -> dict[str, Any]:
        return _document(self.results, self.meta, complete=self.complete, partial=self.partial)

    def write(self) -> None:
        if self.path is not None:
            write_json(self.path, self.document())

    def start_claim(self, claim_id: str) -> None:
        self.partial = {"claim": claim_id, "status": "running", "checks": []}
        self.write()

    def add_check(self, claim_id: str, check_json: dict) -> None:
        if self.partial is None or self.partial["claim"] != claim_id:
            self.partial = {"claim": claim_id, "status": "running", "checks": []}
        self.partial["checks"].append(jsonable(check_json, self.dps))
        self.write()

    def finish_claim(self, result: dict) -> None:
        enc = jsonable(result, self.dps)
        self.results = [r for r in self.results if r["claim"] != enc["claim"]] + [enc]
        self.partial = None
        self.write()

    def interrupted(self) -> None:
        """Mark the partial claim (if any) as interrupted and write; ``complete`` stays false."""
        if self.partial is not None:
            self.partial["status"] = "interrupted"
        self.write()


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
