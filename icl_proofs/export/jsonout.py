"""JSON encoding of quantities, parameters and verification results.

Numbers become **decimal strings** with at least ``dps`` significant digits (JSON numbers would be
read back as binary doubles); integers (Python, NumPy, SymPy) stay JSON integers — as exact digit
strings beyond 2**53, which a JSON reader in double precision would round; matrices become nested
lists (a column vector stays a list of one-element lists); booleans stay JSON booleans.
"""
from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import math
import os
import stat
import platform
import signal
import sys
import tempfile
import threading
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
    "read_results", "check_resumable", "ResultsWriter", "utc_now", "check_output_file", "read_input_file",
    "write_file_atomic", "FileLock", "schema_problem", "MAX_RESULTS_BYTES",
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
    raw = read_input_file(path)
    if raw is None:
        return None
    path = Path(path) if str(path) != "-" else Path("<stdin>")
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
    problem = schema_problem(doc)
    if problem is not None:
        raise ResultsFileError(path, f"an icl-proofs results file with {problem}", "invalid")
    return doc


#: verdicts a finished claim or check may have in a results file
VERDICTS = ("holds", "refuted", "inconclusive")
#: states of the ``partial`` entry (the claim that was running when the file was last written)
PARTIAL_STATES = ("running", "interrupted")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_problem(c, where: str) -> str | None:
    if not isinstance(c, dict):
        return f"{where}: a check that is not an object"
    if not isinstance(c.get("name"), str):
        return f"{where}: a check without a name"
    if c.get("status") not in VERDICTS:
        return f"{where}: check {c['name']!r} has status {_short(c.get('status'))} (not one of {', '.join(VERDICTS)})"
    for key, ok in (("route", lambda v: isinstance(v, str)), ("evidence", lambda v: isinstance(v, str)),
                    ("details", lambda v: v is None or isinstance(v, dict)),
                    ("witness", lambda v: v is None or isinstance(v, dict)),
                    ("resolution", lambda v: v is None or isinstance(v, dict)),
                    ("seconds", lambda v: v is None or _is_number(v))):
        if key in c and not ok(c[key]):
            return f"{where}: check {c['name']!r} has a malformed {key!r}"
    return None


def _short(v) -> str:
    text = json.dumps(v, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _checks_problem(checks, where: str) -> str | None:
    if not isinstance(checks, list):
        return f"{where}: 'checks' is {_short(checks)}, not a list of checks"
    for c in checks:
        problem = _check_problem(c, where)
        if problem is not None:
            return problem
    return None


def schema_problem(doc: dict) -> str | None:
    """What is wrong with a results document (``None``: nothing), checked before anything reads it:
    types of ``meta``, ``results`` and ``partial``, the verdicts (holds, refuted, inconclusive), and
    every check (an object with a name and a verdict; route, evidence strings; details, witness
    objects; seconds a number)."""
    results, meta, partial = doc.get("results"), doc.get("meta"), doc.get("partial")
    if not isinstance(results, list):
        return "'results' that is not a list"
    if not isinstance(meta, dict):
        return "'meta' that is not an object"
    for key, ok in (("seed", lambda v: isinstance(v, int) and not isinstance(v, bool)),
                    ("quick", lambda v: isinstance(v, bool)),
                    ("dps", lambda v: isinstance(v, int) and not isinstance(v, bool)),
                    ("alpha", _is_number),
                    ("claims", lambda v: v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v))),
                    ("resumed", lambda v: isinstance(v, list)),
                    ("family_wise", lambda v: v is None or isinstance(v, dict))):
        if key in meta and not ok(meta[key]):
            return f"a malformed meta.{key}"
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not isinstance(r.get("claim"), str):
            return f"result {i + 1} without a claim id"
        where = f"claim {r['claim']!r}"
        if r.get("status") not in VERDICTS:
            return f"{where} with status {_short(r.get('status'))} (not one of {', '.join(VERDICTS)})"
        problem = _checks_problem(r.get("checks"), where)
        if problem is not None:
            return problem
        if r.get("witness") is not None and not isinstance(r.get("witness"), dict):
            return f"{where}: a malformed 'witness'"
        if r.get("seconds") is not None and not _is_number(r.get("seconds")):
            return f"{where}: a malformed 'seconds'"
        amendments = r.get("amendments")
        if amendments is not None and (not isinstance(amendments, list) or not all(isinstance(a, dict) for a in amendments)):
            return f"{where}: malformed 'amendments'"
    if partial is not None:
        if not isinstance(partial, dict) or not isinstance(partial.get("claim"), str):
            return "a malformed 'partial' entry"
        if partial.get("status") not in PARTIAL_STATES:
            return f"a 'partial' entry with status {_short(partial.get('status'))}"
        problem = _checks_problem(partial.get("checks"), f"partial claim {partial['claim']!r}")
        if problem is not None:
            return problem
    return None


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
                 results: list[dict] | None = None, lock: "FileLock | None" = None):
        self.path = path
        self.meta = meta
        self.dps = dps
        self.results: list[dict] = list(results or [])  # encoded, finished claims
        self.partial: dict | None = None
        # held from before the first write to the end of the run: a second run is refused
        self.lock = lock if lock is not None else (FileLock(path) if path is not None else None)

    @classmethod
    def resume(cls, path, doc: dict, run_meta: dict, dps: int, lock: "FileLock | None" = None) -> "ResultsWriter":
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
        return cls(path, meta, dps, list(by_id.values()), lock=lock)

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
            write_json(self.path, self.document(), lock=self.lock)

    def close(self) -> None:
        """Release the file (another run may write it from now on)."""
        if self.lock is not None:
            self.lock.release()

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


def write_json(path: str | os.PathLike, doc: Any, *, lock: "FileLock | None" = None) -> None:
    """Write ``doc`` atomically (see :func:`write_file_atomic`)."""
    write_file_atomic(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"), lock=lock)


# --------------------------------------------------------------------------- safe files

#: largest results file read (``report --from``, ``--resume``, the file ``--json`` would replace):
#: results files are a few MiB at most, and an unbounded read of /dev/zero never ends
MAX_RESULTS_BYTES = 64 * 1024 * 1024


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_file(path: str | os.PathLike, what: str = "output file") -> None:
    """Refuse, before any work, an output path that is not a regular file we can replace: a
    device (/dev/null, /dev/full), a FIFO, a socket, a directory, a symbolic link (a rename would
    replace the link, a write through it would reach wherever it points), a read-only file, or
    one in a directory that does not exist or is not writable.  ``-`` (stdout) is fine."""
    if str(path) == "-":
        return
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise ResultsFileError(path, f"cannot use it as the {what}: {e.strerror or e}", "unwritable") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise ResultsFileError(path, f"is a symbolic link; the {what} must be a regular file "
                                         "(give the path it points to)", "unwritable")
        if stat.S_ISDIR(st.st_mode):
            raise ResultsFileError(path, f"is a directory; the {what} must be a regular file", "unwritable")
        if not stat.S_ISREG(st.st_mode):
            raise ResultsFileError(path, f"is not a regular file (a device, FIFO or socket); the {what} "
                                         "must be a regular file", "unwritable")
        if not os.access(path, os.W_OK):
            raise ResultsFileError(path, f"is not writable", "unwritable")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ResultsFileError(path, f"directory {directory} does not exist", "unwritable")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ResultsFileError(path, f"cannot create files in directory {directory}", "unwritable")


def read_input_file(path: str | os.PathLike, limit: int = MAX_RESULTS_BYTES) -> bytes | None:
    """The bytes of an input file (``-``: stdin), or ``None`` if it does not exist.

    Only a regular file is read (a symbolic link to one is fine): a device, FIFO, socket or
    directory is refused with one line, without blocking (the open is non-blocking), and nothing
    larger than ``limit`` bytes is read."""
    if str(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise ResultsFileError("<stdin>", f"more than {limit} bytes; not a results file", "unreadable")
        return data
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ResultsFileError(path, "is a directory", "unreadable") from None
    except OSError as e:
        raise ResultsFileError(path, f"cannot read it: {e.strerror or e}", "unreadable") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ResultsFileError(path, "is a directory", "unreadable")
        if not stat.S_ISREG(st.st_mode):
            raise ResultsFileError(path, "is not a regular file (a device, FIFO or socket); results "
                                         "files are regular files", "unreadable")
        if st.st_size > limit:
            raise ResultsFileError(path, f"is {st.st_size} bytes, more than the {limit} a results file "
                                         "may have", "unreadable")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ResultsFileError(path, f"more than {limit} bytes; not a results file", "unreadable")
        return b"".join(chunks)
    except OSError as e:
        raise ResultsFileError(path, f"cannot read it: {e.strerror or e}", "unreadable") from None
    finally:
        os.close(fd)


class FileLock:
    """An exclusive ``flock`` on the file at ``path`` for as long as one run writes it.

    Atomic replacement puts a new inode at ``path`` on every write, so the lock moves with it: the
    new file is locked before it is renamed into place and the old one's lock is released after.
    A second run finds the file locked and is refused; a run that finds its file replaced behind
    its back (two runs that both created it) stops instead of overwriting the other's results."""

    def __init__(self, path):
        self.path = Path(path)
        self.fd: int | None = None
        self.inode: tuple | None = None

    def acquire(self) -> None:
        """Lock the file now at ``path`` (nothing to do if there is none); refuse if another run holds it."""
        if self.fd is not None:
            return
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
            except FileNotFoundError:
                return
            except OSError as e:
                raise ResultsFileError(self.path, f"cannot open it: {e.strerror or e}", "unwritable") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ResultsFileError(self.path, "is being written by another icl-proofs run; wait for it "
                                                  "to finish or write to another file", "locked") from None
            st = os.fstat(fd)
            try:
                now = os.lstat(self.path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                self.fd, self.inode = fd, (st.st_dev, st.st_ino)
                return
            os.close(fd)  # replaced between open and lock: try the new one
        raise ResultsFileError(self.path, "keeps being replaced by another process", "locked")

    def before_replace(self) -> None:
        """Refuse to replace a file that another process put at ``path`` since our last write."""
        if self.fd is None:
            self.acquire()
            return
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (now.st_dev, now.st_ino) != self.inode:
            raise ResultsFileError(self.path, "was replaced by another process while this run wrote it; "
                                              "not overwriting it", "locked")

    def replaced_by(self, fd: int) -> None:
        """``fd`` (already locked) is the file now at ``path``."""
        old, self.fd = self.fd, fd
        st = os.fstat(fd)
        self.inode = (st.st_dev, st.st_ino)
        if old is not None:
            os.close(old)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = self.inode = None


@contextlib.contextmanager
def _signals_deferred():
    """Hold Ctrl-C and SIGTERM back for the block and deliver them when it ends.

    Python runs signal handlers in the main thread between bytecodes, whichever thread the kernel
    picked, so a thread mask cannot defer them: the handlers are swapped for one that only records
    the signal, then restored and called.  Elsewhere than the main thread (handlers cannot be set
    there, and none run there) the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        for s in caught:
            handler = saved[s]
            if callable(handler):
                handler(s, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(s)


def write_file_atomic(path: str | os.PathLike, data: bytes, *, lock: FileLock | None = None) -> None:
    """Write ``data`` to ``path`` so that a crash never leaves half a file and nothing but ``path``
    changes: a unique temporary file (``O_EXCL``) in the same directory, written and synced, given
    the mode and owner of the file it replaces (a new file: 0666 less the umask), then renamed over
    ``path``.  A non-regular ``path`` (device, FIFO, link, directory) is refused.  With ``lock``, the
    new file stays locked (see :class:`FileLock`)."""
    path = Path(path)
    check_output_file(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        old = os.lstat(path)
    except FileNotFoundError:
        old = None
    if lock is not None:
        lock.before_replace()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    keep_fd = False
    try:
        if lock is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        if old is not None:
            os.fchmod(fd, stat.S_IMODE(old.st_mode))
            try:
                os.fchown(fd, old.st_uid, old.st_gid)
            except OSError:
                pass  # not allowed to give it away (not root): it stays ours
        else:
            os.fchmod(fd, 0o666 & ~_umask())
        # the rename and the lock's record of the new file are one step: a Ctrl-C or SIGTERM between
        # them left the lock pointing at the old inode, so the "interrupted" write that follows
        # refused to replace "another process's" file (exit 2 instead of 130, finished claims lost)
        with _signals_deferred():
            os.replace(tmp, path)
            if lock is not None:
                lock.replaced_by(fd)
                keep_fd = True
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        if not keep_fd:
            os.close(fd)
