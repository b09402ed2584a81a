"""Disk cache of derivations, and the spectral calculus (tr f(Λ)) against plain matrix algebra."""
import os
import subprocess
import sys

import numpy as np
import sympy as sp

from icl_proofs.moments.spectral import (QF, TrF, eval_at_matrix, eval_spectral, lam, matrix_function,
                                         spectral_normal_form)

SNIPPET = ("from icl_proofs.claims.zfb23 import derive as D; import time; t=time.perf_counter(); "
           "g=D.global_min(); print(g['g_star'], time.perf_counter()-t)")


def test_disk_cache_round_trip(tmp_path):
    """A cold run writes the cache; a warm run reads the same result back."""
    env = dict(os.environ, ICL_PROOFS_CACHE_DIR=str(tmp_path), ICL_PROOFS_CACHE="1")
    cold = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, check=True)
    assert list(tmp_path.glob("zfb23-global-min-*.json"))
    warm = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, check=True)
    assert cold.stdout.rsplit(" ", 1)[0] == warm.stdout.rsplit(" ", 1)[0]
    assert "N*lambda" in warm.stdout


def test_matrix_function_vs_eigendecomposition():
    """Route 1: exact rational p(Λ)q(Λ)⁻¹; route 2: NumPy eigendecomposition."""
    L = sp.Matrix([[3, 1, 0], [1, 2, 1], [0, 1, 4]])
    f = lam ** 2 / (2 * lam + TrF(lam))
    exact = matrix_function(f, L)
    w, V = np.linalg.eigh(np.array(L, dtype=float))
    num = V @ np.diag(w ** 2 / (2 * w + w.sum())) @ V.T
    assert np.allclose(np.array(exact, dtype=float), num, rtol=1e-13, atol=1e-13)


def test_eval_spectral_and_at_matrix_agree_on_quadratic_forms():
    a = sp.Matrix([1, -2])
    L = sp.diag(2, 5)  # diagonal: eigenbasis coordinates are the entries of a
    e = TrF(lam / (lam + 1)) + QF(lam ** 2, sp.Symbol("a"))
    assert eval_at_matrix(e, L, {"a": a}) == eval_spectral(e, [2, 5], vectors={"a": [1, -2]})


def test_normal_form_merges_linear_combinations():
    t1 = TrF(lam)
    e = TrF(lam - lam ** 2 / (lam + t1)) / 2 - t1 / 2 + TrF(lam ** 2 / (2 * (lam + t1)))
    assert spectral_normal_form(e) == 0
    assert spectral_normal_form(e + TrF(lam ** 3)) != 0
