"""On-disk cache of symbolic derivations, so repeated runs are instant.

The key includes the package version and a hash of the source files the derivation depends on, so
editing the engine or a derivation invalidates it.  Set ``ICL_PROOFS_CACHE=0`` to disable, or
``ICL_PROOFS_CACHE_DIR`` to move it (default ``~/.cache/icl-proofs``).
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
from pathlib import Path

from .moments import traces

_PKG = Path(__file__).resolve().parent

#: cleared while mutation testing runs, so that no mutant can ever reach the on-disk cache
WRITES_ENABLED = [True]


def _source_hash() -> str:
    h = hashlib.sha256()
    for sub in ("moments", "claims", "models"):
        for p in sorted((_PKG / sub).rglob("*.py")):
            h.update(p.read_bytes())
    h.update((_PKG / "cache.py").read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("ICL_PROOFS_CACHE_DIR", Path.home() / ".cache" / "icl-proofs"))


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


def disk_cached(name: str):
    """Cache a zero-argument derivation's result (a picklable SymPy object) on disk and in memory."""

    def deco(fn):
        @functools.lru_cache(maxsize=None)
        def wrapper():
            enabled = os.environ.get("ICL_PROOFS_CACHE", "1") != "0"
            path = cache_dir() / f"{name}-{_source_hash()}.pkl"
            if enabled and path.exists():
                try:
                    with path.open("rb") as fh:
                        result, infos = pickle.load(fh)
                    traces._INFO.update(infos)
                    return result
                except Exception:  # noqa: BLE001 - a corrupt cache entry is recomputed
                    pass
            result = fn()
            if enabled and WRITES_ENABLED[0]:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".tmp")
                    with tmp.open("wb") as fh:
                        pickle.dump((result, dict(traces._INFO)), fh)
                    tmp.replace(path)
                except OSError:
                    pass
            return result

        functools.update_wrapper(wrapper, fn)
        wrapper.disk_cache_name = name  # mutation testing treats these as independent derivations
        return wrapper

    return deco
