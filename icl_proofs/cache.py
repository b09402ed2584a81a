"""On-disk cache of symbolic derivations, so repeated runs are instant.

The key includes the package version and a hash of the source files the derivation depends on, so
editing the engine or a derivation invalidates it.  Set ``ICL_PROOFS_CACHE=0`` to disable, or
``ICL_PROOFS_CACHE_DIR`` to move it (default ``~/.cache/icl-proofs``).

The cache is **data, never code**.  An entry is a JSON document whose payload is an explicit tree
of a few allowed node types (numbers, symbols, Add/Mul/Pow, the spectral functions ``TrF``/``QF``,
matrices, the Wick engine's ``MatrixPoly`` and the trace/path symbols of
:mod:`~icl_proofs.moments.traces`), read back by :func:`decode` below: no ``pickle``, no ``eval``,
no ``sympify``.  Each entry carries the SHA-256 of its canonical payload; an entry whose hash does
not match, that holds an unknown node, that is not a regular file owned by this user, or that is
group/world-writable is ignored and the derivation recomputed.  (The hash detects corruption and
naive tampering; someone who can write to the cache as this user can also recompute a hash — see
docs/security.md.)
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path

from .moments import traces

_PKG = Path(__file__).resolve().parent

#: whether derivations computed in this context may be written to the on-disk cache; cleared (see
#: :func:`writes_disabled`) while mutation testing and mutant controls run, so that no mutant can ever
#: reach the cache.  A context variable, not a module global: a block that turns writes off cannot leak
#: that into other threads or past an exception.  Worker processes start with the default (writes on);
#: mutation testing runs its checks in this process (``workers=1``), so nothing needs to travel.
_WRITES: contextvars.ContextVar[bool] = contextvars.ContextVar("icl_proofs_cache_writes", default=True)

#: format tag and version of a cache entry
CACHE_FORMAT = "icl-proofs/derivation-cache"
CACHE_VERSION = 1
#: largest cache entry read (bytes); the biggest derivation today is well under 1 MiB
MAX_ENTRY_BYTES = 32 * 1024 * 1024
#: deepest expression tree read back (SymPy trees of the derivations are < 30 deep)
MAX_DEPTH = 200


def writes_enabled() -> bool:
    """Whether a derivation computed now may be written to the on-disk cache."""
    return _WRITES.get()


@contextlib.contextmanager
def writes_disabled():
    """Within the block (this thread / context only), computed derivations are not written to disk;
    the previous setting is restored on exit, exceptions included.

    >>> with writes_disabled():
    ...     writes_enabled()
    False
    >>> writes_enabled()
    True
    """
    token = _WRITES.set(False)
    try:
        yield
    finally:
        _WRITES.reset(token)


def _source_hash() -> str:
    h = hashlib.sha256()
    for sub in ("moments", "claims", "models"):
        for p in sorted((_PKG / sub).rglob("*.py")):
            h.update(p.read_bytes())
    h.update((_PKG / "cache.py").read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("ICL_PROOFS_CACHE_DIR", Path.home() / ".cache" / "icl-proofs"))


def hypothesis_dir() -> Path:
    """Where Hypothesis keeps its files during a run of the command (never the working directory)."""
    return cache_dir() / "hypothesis"


def derivation(fn):
    """Mark a function outside a ``derive`` module whose result is a derived formula, so that
    ``icl-proofs mutate`` perturbs it (every function in a ``derive`` module already is one)."""
    fn.icl_derivation = True
    return fn


def not_a_derivation(fn):
    """Mark a public function of a ``derive`` module that builds inputs (symbols, instances), not
    a derived formula: ``icl-proofs mutate`` leaves it alone."""
    fn.icl_derivation = False
    return fn


# --------------------------------------------------------------------------- the tree format


class CacheFormatError(ValueError):
    """A value that the cache format cannot hold, or an entry that is not a valid tree."""


#: SymPy symbol assumptions a cached symbol may carry (all booleans)
_ASSUMPTIONS = frozenset({"real", "positive", "negative", "nonnegative", "nonpositive", "integer",
                          "rational", "complex", "finite", "nonzero", "zero", "commutative", "extended_real"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SYMBOL_NAME_RE = re.compile(r"[^\x00-\x1f]{1,200}")
_INT_RE = re.compile(r"-?[0-9]{1,4000}")


def _functions() -> dict:
    from .moments.spectral import QF, TrF

    return {"TrF": TrF, "QF": QF}


def encode(obj) -> dict:
    """The JSON tree of a derivation result; :class:`CacheFormatError` for anything not allowed."""
    import sympy as sp

    from .moments.wick import MatrixPoly

    if isinstance(obj, bool):
        return {"t": "bool", "v": obj}
    if isinstance(obj, int):
        return {"t": "int", "v": str(obj)}
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if isinstance(obj, dict):
        return {"t": "dict", "items": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"t": "tuple", "items": [encode(x) for x in obj]}
    if isinstance(obj, list):
        return {"t": "list", "items": [encode(x) for x in obj]}
    if isinstance(obj, traces.Letter):
        return {"t": "letter", "name": obj.name, "T": obj.t, "sym": obj.sym}
    if isinstance(obj, MatrixPoly):
        return {"t": "matrixpoly", "terms": [[encode(w), encode(c)] for w, c in obj.terms.items()]}
    if isinstance(obj, sp.MatrixBase):
        return {"t": "matrix", "rows": obj.rows, "cols": obj.cols,
                "immutable": isinstance(obj, sp.ImmutableMatrix), "entries": [encode(x) for x in obj]}
    if isinstance(obj, sp.Rational):  # Integer, Half, One, Zero, NegativeOne included
        return {"t": "Q", "p": str(obj.p), "q": str(obj.q)}
    if isinstance(obj, sp.Symbol) and type(obj) is sp.Symbol:
        info = traces.info(obj)
        if info is not None:  # a trace/path atom: stored as its word, rebuilt by traces itself
            return {"t": "atom", "kind": info.kind, "word": [encode(l) for l in info.word],
                    "left": info.left, "right": info.right, "name": obj.name}
        orig = getattr(obj, "_assumptions_orig", None)
        if orig is None:
            raise CacheFormatError("this SymPy keeps no original assumptions")
        if not set(orig) <= _ASSUMPTIONS:
            raise CacheFormatError(f"symbol {obj.name} has assumptions outside {sorted(_ASSUMPTIONS)}")
        return {"t": "sym", "name": obj.name, "assume": {k: bool(v) for k, v in sorted(orig.items())}}
    if isinstance(obj, (sp.Add, sp.Mul, sp.Pow)):
        return {"t": type(obj).__name__, "args": [encode(a) for a in obj.args]}
    if isinstance(obj, sp.Function) and type(obj).__name__ in _functions() \
            and type(obj) is _functions()[type(obj).__name__]:
        return {"t": "fn", "name": type(obj).__name__, "args": [encode(a) for a in obj.args]}
    raise CacheFormatError(f"{type(obj).__module__}.{type(obj).__name__} is not a cacheable node")


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise CacheFormatError(what)


def _int(text, what: str) -> int:
    _need(isinstance(text, str) and _INT_RE.fullmatch(text) is not None, f"{what}: not an integer")
    return int(text)


def decode(node, depth: int = 0):
    """Rebuild a value from its tree (:func:`encode`): only the node types listed there are read;
    anything else is a :class:`CacheFormatError`."""
    import sympy as sp

    from .moments.wick import MatrixPoly

    _need(depth <= MAX_DEPTH, "tree too deep")
    _need(isinstance(node, dict) and isinstance(node.get("t"), str), "node without a type")
    t, sub = node["t"], depth + 1

    def items(key):
        v = node.get(key)
        _need(isinstance(v, list), f"{t}: {key} is not a list")
        return v

    if t == "bool":
        _need(isinstance(node.get("v"), bool), "bool")
        return node["v"]
    if t == "int":
        return _int(node.get("v"), "int")
    if t == "str":
        _need(isinstance(node.get("v"), str), "str")
        return node["v"]
    if t == "dict":
        out = {}
        for pair in items("items"):
            _need(isinstance(pair, list) and len(pair) == 2, "dict item")
            key = decode(pair[0], sub)
            _need(isinstance(key, (str, int, tuple)) or isinstance(key, sp.Basic), "dict key")
            out[key] = decode(pair[1], sub)
        return out
    if t in ("tuple", "list"):
        seq = [decode(x, sub) for x in items("items")]
        return tuple(seq) if t == "tuple" else seq
    if t == "letter":
        name, tr, sym = node.get("name"), node.get("T"), node.get("sym")
        _need(isinstance(name, str) and _NAME_RE.fullmatch(name) is not None, "letter name")
        _need(isinstance(tr, bool) and isinstance(sym, bool), "letter flags")
        return traces.Letter(name, tr, sym)
    if t == "matrixpoly":
        terms = {}
        for pair in items("terms"):
            _need(isinstance(pair, list) and len(pair) == 2, "matrixpoly term")
            word = decode(pair[0], sub)
            _need(isinstance(word, tuple) and all(isinstance(l, traces.Letter) for l in word), "word")
            terms[word] = decode(pair[1], sub)
        return MatrixPoly(terms)
    if t == "matrix":
        r, c, entries = node.get("rows"), node.get("cols"), items("entries")
        _need(isinstance(r, int) and isinstance(c, int) and 0 <= r <= 4096 and 0 <= c <= 4096
              and len(entries) == r * c, "matrix shape")
        vals = [decode(x, sub) for x in entries]
        _need(all(isinstance(v, sp.Expr) for v in vals), "matrix entries")
        cls = sp.ImmutableMatrix if node.get("immutable") is True else sp.Matrix
        return cls(r, c, vals)
    if t == "Q":
        p, q = _int(node.get("p"), "numerator"), _int(node.get("q"), "denominator")
        _need(q > 0, "denominator")
        return sp.Rational(p, q)
    if t == "sym":
        name, assume = node.get("name"), node.get("assume")
        _need(isinstance(name, str) and _SYMBOL_NAME_RE.fullmatch(name) is not None, "symbol name")
        _need(isinstance(assume, dict) and set(assume) <= _ASSUMPTIONS
              and all(isinstance(v, bool) for v in assume.values()), "symbol assumptions")
        return sp.Symbol(name, **assume)
    if t == "atom":
        return _decode_atom(node, sub)
    if t in ("Add", "Mul", "Pow"):
        args = [decode(a, sub) for a in items("args")]
        _need(all(isinstance(a, sp.Expr) for a in args), f"{t} arguments")
        if t == "Pow":
            _need(len(args) == 2, "Pow takes two arguments")
            return sp.Pow(*args)
        _need(len(args) >= 2, f"{t} needs two or more arguments")
        return sp.Add(*args) if t == "Add" else sp.Mul(*args)
    if t == "fn":
        fn = _functions().get(node.get("name"))
        _need(fn is not None, "unknown function")
        args = [decode(a, sub) for a in items("args")]
        _need(all(isinstance(a, sp.Expr) for a in args), "function arguments")
        return fn(*args)  # a wrong number of arguments is a TypeError: the entry is ignored
    raise CacheFormatError(f"unknown node type {t!r}")


def _decode_atom(node: dict, depth: int):
    """A trace/path symbol, rebuilt through :mod:`traces` (which canonicalises the word and records
    it); the name it gets must be the one stored, or the entry is not ours."""
    kind, name = node.get("kind"), node.get("name")
    word = tuple(decode(x, depth) for x in node.get("word") or [])
    _need(all(isinstance(l, traces.Letter) for l in word), "atom word")
    if kind == "trace":
        sym = traces.trace_symbol(word)
    elif kind == "path":
        left, right = node.get("left"), node.get("right")
        _need(all(isinstance(v, str) and _NAME_RE.fullmatch(v) for v in (left, right)), "path ends")
        sym = traces.path_symbol(left, word, right)
    else:
        raise CacheFormatError("atom kind")
    _need(getattr(sym, "name", None) == name, "atom name does not match its word")
    return sym


def _canonical(payload) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def entry_document(name: str, source: str, value) -> dict:
    """The JSON document of one cache entry (raises :class:`CacheFormatError` if not cacheable)."""
    payload = encode(value)
    return {"format": CACHE_FORMAT, "version": CACHE_VERSION, "name": name, "source": source,
            "sha256": hashlib.sha256(_canonical(payload)).hexdigest(), "payload": payload}


def value_of(doc, name: str, source: str):
    """The value of an entry document, or :class:`CacheFormatError` if anything is off."""
    _need(isinstance(doc, dict) and doc.get("format") == CACHE_FORMAT and doc.get("version") == CACHE_VERSION,
          "not a cache entry of this version")
    _need(doc.get("name") == name and doc.get("source") == source, "entry of another derivation")
    payload = doc.get("payload")
    _need(hashlib.sha256(_canonical(payload)).hexdigest() == doc.get("sha256"), "content hash mismatch")
    return decode(payload)


# --------------------------------------------------------------------------- files


def _entry_path(name: str) -> Path:
    return cache_dir() / f"{name}-{_source_hash()}.json"


def _read_entry(path: Path, name: str, source: str):
    """The cached value at ``path``, or None (missing, unsafe or invalid: recompute)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        # only a regular file of ours that nobody else may write is trusted enough to be parsed
        if (not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES
                or st.st_uid != os.geteuid() or st.st_mode & 0o022):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_ENTRY_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return value_of(json.loads(raw.decode("utf-8")), name, source)
    except (CacheFormatError, ValueError, RecursionError, TypeError, AttributeError, ArithmeticError):
        return None


def _write_entry(path: Path, doc: dict) -> None:
    atomic_write(path, _canonical(doc))


def atomic_write(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` in a private directory: a fresh O_EXCL temporary file
    beside it (never a fixed name, which could be a planted symlink), then a rename over it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def disk_cached(name: str):
    """Cache a zero-argument derivation's result (SymPy expressions, matrices, MatrixPolys in dicts
    and tuples) on disk and in memory."""

    def deco(fn):
        @functools.lru_cache(maxsize=None)
        def wrapper():
            enabled = os.environ.get("ICL_PROOFS_CACHE", "1") != "0"
            source = _source_hash()
            path = _entry_path(name)
            if enabled:
                hit = _read_entry(path, name, source)
                if hit is not None:
                    return hit
            result = fn()
            try:
                doc = entry_document(name, source, result)
                # return the very object a later cache hit decodes, so no number depends on whether
                # the cache was warm (SymPy builds the same value with another term order, and a
                # float evaluation then rounds differently in the last digits)
                canonical = value_of(json.loads(_canonical(doc)), name, source)
            except (CacheFormatError, RecursionError, TypeError, ValueError):
                return result  # not encodable: not cacheable, returned as derived
            if enabled and writes_enabled():
                try:
                    _write_entry(path, doc)
                except OSError:
                    pass  # not writable: the result is still returned
            return canonical

        functools.update_wrapper(wrapper, fn)
        wrapper.disk_cache_name = name  # mutation testing treats these as independent derivations
        return wrapper

    return deco
