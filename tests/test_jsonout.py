"""JSON encoding: decimal strings with >= dps significant digits, nested matrices, booleans."""
from __future__ import annotations

import json
import re
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy

from icl_proofs.claims.base import Status
from icl_proofs.numeric.precision import to_mpf
from icl_proofs.export.jsonout import (
    dump_results, encode_params, encode_quantities, encode_quantity, jsonable, write_json,
)


def sig_digits(s: str) -> int:
    mant = re.split(r"[eE]", s)[0].lstrip("+-").replace(".", "").lstrip("0")
    return len(mant)


@pytest.mark.parametrize("dps", [15, 30, 50])
def test_scalars_have_dps_digits(dps):
    with mpmath.workdps(dps + 20):
        third = mpmath.mpf(1) / 3
    values = [
        third, sympy.Rational(1, 3), sympy.Rational(-22, 7), sympy.sqrt(2), sympy.pi,
        Fraction(2, 3), mpmath.mpf("1e-20"), 0.1, np.float64(0.5),
    ]
    for v in values:
        s = encode_quantity(v, dps)
        assert isinstance(s, str)
        assert sig_digits(s) >= dps, (v, s)
        with mpmath.workdps(dps + 10):
            ref = to_mpf(v, dps + 10)
            assert abs(mpmath.mpf(s) - ref) <= abs(ref) * mpmath.mpf(10) ** (1 - dps)


def test_integers_stay_integers():
    """"n": 800, not "800.000000000000000000000000000" (integers of NumPy and SymPy included)."""
    assert encode_quantity(3, 30) == 3
    assert encode_quantity(np.int64(800), 30) == 800 and isinstance(encode_quantity(np.int64(800), 30), int)
    assert encode_quantity(sympy.Integer(-7), 30) == -7
    assert jsonable({"n": np.int64(800)}) == {"n": 800}
    # past 2**53 a double-precision reader would round: the exact digits, as a string
    assert encode_quantity(sympy.Integer(10) ** 40, 30) == "1" + "0" * 40
    assert encode_quantity(True, 30) is True


def test_exact_rational_value():
    s = encode_quantity(sympy.Rational(1, 3), 40)
    assert s.startswith("0.3333333333") and s.count("3") >= 40


def test_mpf_rounded_from_higher_precision():
    with mpmath.workdps(60):
        x = mpmath.mpf(2).sqrt()
    assert encode_quantity(x, 20) == "1.4142135623730950488"


def test_matrices_nested_lists():
    M = mpmath.matrix([[1, 2], [3, 4]])
    enc = encode_quantity(M, 10)
    assert len(enc) == 2 and all(len(r) == 2 for r in enc)
    assert enc[1][0].startswith("3.000000000")
    col = mpmath.matrix([[1], [2], [3]])
    enc = encode_quantity(col, 10)
    assert len(enc) == 3 and all(isinstance(r, list) and len(r) == 1 for r in enc)
    S = sympy.Matrix([[sympy.Rational(1, 3), 0], [0, 1]])
    enc = encode_quantity(S, 12)
    assert enc[0][0].startswith("0.33333333333") and sig_digits(enc[0][0]) >= 12
    A = np.array([[0.5, 1.0], [2.0, 4.0]])
    enc = encode_quantity(A, 8)
    assert enc == [["0.50000000", "1.0000000"], ["2.0000000", "4.0000000"]]
    assert encode_quantity([mpmath.mpf(1), [mpmath.mpf(2)]], 5) == ["1.0000", ["2.0000"]]


def test_bools_and_misc():
    assert encode_quantity(True, 30) is True
    assert encode_quantity(False, 30) is False
    assert encode_quantity(np.bool_(True), 30) is True
    assert encode_quantity(sympy.true, 30) is True
    assert encode_quantity(None, 30) is None
    assert encode_quantity(float("nan"), 30) == "nan"
    z = encode_quantity(mpmath.mpc(1, -2), 5)
    assert z == "1.0000-2.0000j"
    doc = encode_quantities({"a": mpmath.mpf(1), "ok": True}, 5)
    json.dumps(doc)


def test_encode_params_exact():
    values = {
        "N": sympy.Integer(20), "x": sympy.Rational(1, 3), "y": sympy.Rational(4, 2),
        "S": sympy.ImmutableMatrix([[2, sympy.Rational(1, 2)], [sympy.Rational(1, 2), 3]]),
        "flag": True, "act": "relu",
    }
    enc = encode_params(values)
    assert enc == {"N": 20, "x": "1/3", "y": 2, "S": [[2, "1/2"], ["1/2", 3]], "flag": True, "act": "relu"}
    assert json.loads(json.dumps(enc)) == enc


def test_jsonable_and_dump(tmp_path):
    result = {
        "claim": "demo.x", "status": Status.HOLDS, "seconds": 0.1,
        "checks": [{"details": {"mean": mpmath.mpf(1) / 3, "n": 100, "arr": np.arange(2), "obj": object}}],
        "witness": {"d": sympy.Integer(2)},
    }
    doc = dump_results([result], seed=1, quick=True, dps=10, alpha=1e-3)
    text = json.dumps(doc)
    back = json.loads(text)
    r = back["results"][0]
    assert r["status"] == "holds"
    assert r["checks"][0]["details"]["n"] == 100
    assert r["checks"][0]["details"]["mean"].startswith("0.333333333")
    assert set(back["meta"]) == {
        "seed", "quick", "dps", "alpha", "package_version", "python", "platform", "numpy", "sympy", "mpmath",
        "execution", "argv", "claims", "started", "resumed",
    }
    assert back["format"] == "icl-proofs/verify-results" and back["format_version"] == 1
    assert back["complete"] is True and back["partial"] is None
    assert back["meta"]["seed"] == 1 and back["meta"]["quick"] is True
    assert jsonable(float("inf")) == "inf"
    p = tmp_path / "out.json"
    write_json(p, doc)
    assert json.loads(p.read_text()) == back
    assert [x.name for x in tmp_path.iterdir()] == ["out.json"]  # no temporary files left
