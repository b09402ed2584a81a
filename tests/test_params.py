"""The restricted parameter parser: exact values, one-line errors, no evaluation of user text."""
from __future__ import annotations

import json

import pytest
import sympy
from sympy import Integer, Rational

from icl_proofs.claims.base import Claim, Param, UserInputError
from icl_proofs.claims.params import MAX_DIM, parse_number, parse_params, parse_value

R = Rational

VALID = [
    ("12", "number", R(12)),
    ("-3", "number", R(-3)),
    ("+7", "number", R(7)),
    ("1/3", "number", R(1, 3)),
    ("-2/6", "number", R(-1, 3)),
    ("0.25", "number", R(1, 4)),
    (".5", "number", R(1, 2)),
    ("5.", "number", R(5)),
    ("1e-3", "number", R(1, 1000)),
    ("2.5E2", "number", R(250)),
    ("  0.1  ", "number", R(1, 10)),
    ("1e400", "number", R(10) ** 400),
    ("12", "int", Integer(12)),
    ("1e3", "int", Integer(1000)),
    ("true", "bool", True),
    ("False", "bool", False),
    ("1", "bool", True),
    ("0", "bool", False),
    ("relu", "str", "relu"),
    ("soft_max-2", "str", "soft_max-2"),
    ("[[2,1],[1,3]]", "spd", sympy.ImmutableMatrix([[2, 1], [1, 3]])),
    ('[["1/3", 0], [0, 0.5]]', "spd", sympy.ImmutableMatrix([[R(1, 3), 0], [0, R(1, 2)]])),
    ("[[0.1]]", "spd", sympy.ImmutableMatrix([[R(1, 10)]])),
    ("[[1,2],[3,4]]", "matrix", sympy.ImmutableMatrix([[1, 2], [3, 4]])),
    ("[[0,-1],[1,0]]", "matrix", sympy.ImmutableMatrix([[0, -1], [1, 0]])),
]


@pytest.mark.parametrize("text,kind,expected", VALID)
def test_valid(text, kind, expected):
    v = parse_value(text, kind, "p")
    assert v == expected
    assert type(v) is type(expected) or isinstance(v, type(expected))


def test_exact_types():
    assert parse_value("0.1", "number", "x") == Rational(1, 10)
    assert isinstance(parse_value("0.1", "number", "x"), sympy.Rational)
    assert isinstance(parse_value("3", "int", "N"), sympy.Integer)
    M = parse_value("[[0.1, 0], [0, 1e-2]]", "spd", "S")
    assert isinstance(M, sympy.ImmutableMatrix)
    assert all(isinstance(x, sympy.Rational) for x in M)
    assert M[0, 0] == Rational(1, 10) and M[1, 1] == Rational(1, 100)


INVALID = [
    ("__import__('os')", "number", "not a number"),
    ("__import__('os').system('true')", "int", "not a number"),
    ("1e999999", "number", "exponent out of range"),
    ("1e401", "number", "exponent out of range"),
    ("1" * 401, "number", "too long"),
    ("nan", "number", "not a number"),
    ("inf", "number", "not a number"),
    ("-inf", "number", "not a number"),
    ("1/0", "number", "division by zero"),
    ("", "number", "empty"),
    ("0x10", "number", "not a number"),
    ("1_000", "number", "not a number"),
    ("١٢", "number", "not a number"),  # non-ASCII digits
    ("2**3", "number", "not a number"),
    ("sqrt(2)", "number", "not a number"),
    ("0", "int", "must be >= 1"),
    ("-4", "int", "must be >= 1"),
    ("2.5", "int", "expected an integer"),
    ("maybe", "bool", "expected true or false"),
    ("os.system('x')", "str", "expected a word"),
    ("[[1,2],[3,4]]", "spd", "not symmetric"),
    ("[[1,0],[0,-1]]", "spd", "not positive definite"),
    ("[[1,2],[2,1]]", "spd", "not positive definite"),
    ("[[0,0],[0,1]]", "spd", "not positive definite"),
    ("[[1,2],[3]]", "spd", "ragged"),
    ("[[1,2,3],[4,5,6]]", "matrix", "square"),
    ("[]", "matrix", "empty matrix"),
    ("[[]]", "matrix", "empty"),
    ("[1,2]", "matrix", "not a list"),
    ("[[1,NaN],[0,1]]", "matrix", "not a valid JSON matrix"),
    ("[[1,Infinity],[0,1]]", "matrix", "not a valid JSON matrix"),
    ('[["x",0],[0,1]]', "matrix", "not a number"),
    ("[[true,0],[0,1]]", "matrix", "not a number"),
    ("[[null]]", "matrix", "not a number"),
    ("[[[1]]]", "matrix", "not a number"),
    ("[[1,2],[2,5]", "spd", "not a valid JSON matrix"),
    ("__import__('os')", "spd", "expected a matrix"),
    ("[[1e999999]]", "matrix", "exponent out of range"),
    ("[" * 100000 + "]" * 100000, "matrix", "matrix"),
]


@pytest.mark.parametrize("text,kind,fragment", INVALID, ids=[f"{k}:{t[:20]}" for t, k, _ in INVALID])
def test_invalid(text, kind, fragment):
    with pytest.raises(UserInputError) as exc:
        parse_value(text, kind, "theta")
    msg = str(exc.value)
    assert msg.startswith("parameter theta")
    assert fragment in msg
    assert "\n" not in msg
    assert len(msg) < 300


def test_too_large_matrix():
    n = MAX_DIM + 1
    eye = [[1 if i == j else 0 for j in range(n)] for i in range(n)]
    with pytest.raises(UserInputError, match="too large"):
        parse_value(json.dumps(eye), "spd", "S")
    ok = [[1 if i == j else 0 for j in range(MAX_DIM)] for i in range(MAX_DIM)]
    assert parse_value(json.dumps(ok), "spd", "S").shape == (MAX_DIM, MAX_DIM)


def test_spd_exact_near_singular():
    # det = 1e-30 > 0 exactly: a float test would call it singular
    a = "1" + "0" * 29 + "1/1" + "0" * 30  # 1 + 1e-30, exactly
    assert parse_value(json.dumps([[1, 1], [1, a]]), "spd", "S")[1, 1] == 1 + Rational(1, 10**30)
    with pytest.raises(UserInputError, match="not positive definite"):
        parse_value("[[1,1],[1,1]]", "spd", "S")
    # a larger SPD matrix (Hilbert, badly conditioned) passes; its negative fails
    n = 8
    H = [[f"1/{i + j + 1}" for j in range(n)] for i in range(n)]
    assert parse_value(json.dumps(H), "spd", "H").shape == (n, n)
    negH = [[f"-1/{i + j + 1}" for j in range(n)] for i in range(n)]
    with pytest.raises(UserInputError):
        parse_value(json.dumps(negH), "spd", "H")


def test_int_bounds_from_param():
    p = Param("k", "int", "", minimum=0, maximum=5)
    assert parse_value("0", "int", "k", p) == 0
    with pytest.raises(UserInputError, match="<= 5"):
        parse_value("6", "int", "k", p)
    with pytest.raises(UserInputError, match=">= 0"):
        parse_value("-1", "int", "k", p)


def test_parse_number_helper():
    assert parse_number("-1.5e-1") == Rational(-3, 20)


class _Demo(Claim):
    id = "demo.params"
    params = (
        Param("N", "int", "prompt length", default=None),
        Param("sigma2", "number", "noise variance", default="1/4"),
        Param("Lambda", "spd", "covariance", default="[[1,0],[0,1]]"),
        Param("w", "matrix", "weights", default=[[1, 2], [3, 4]]),
        Param("flag", "bool", "a flag", default=False),
        Param("act", "str", "activation", default="relu"),
        Param("alpha", "number", "float default", default=0.1),
    )

    def validate(self, values):
        if values["N"] == 7:
            raise UserInputError("N must not be 7 for this claim")


def test_parse_params_defaults_and_order():
    v = parse_params(_Demo(), ["N=3", "sigma2=0.5"])
    assert list(v) == [p.name for p in _Demo.params]
    assert v["N"] == 3 and isinstance(v["N"], sympy.Integer)
    assert v["sigma2"] == Rational(1, 2)
    assert v["Lambda"] == sympy.eye(2)
    assert v["w"] == sympy.Matrix([[1, 2], [3, 4]])
    assert v["flag"] is False and v["act"] == "relu"
    assert v["alpha"] == Rational(1, 10)  # the float default as written, exactly


@pytest.mark.parametrize(
    "assignments,fragment",
    [
        (["N=3", "M=2"], "no parameter 'M'; its parameters are: N, sigma2"),
        (["N=3", "N=4"], "more than once"),
        (["sigma2=1"], "missing required parameter(s) N"),
        (["N"], "expected NAME=VALUE"),
        (["N=0"], "parameter N: must be >= 1"),
        (["N=__import__('os')"], "parameter N: not a number"),
        (["N=7"], "N must not be 7"),
        (["N=2", "Lambda=[[1,2],[2,1]]"], "parameter Lambda: matrix is not positive definite"),
    ],
)
def test_parse_params_errors(assignments, fragment):
    with pytest.raises(UserInputError) as exc:
        parse_params(_Demo(), assignments)
    assert fragment in str(exc.value)


def test_validate_may_replace_values():
    class Fill(Claim):
        id = "demo.fill"
        params = (Param("d", "int", "dimension", default=2),)

        def validate(self, values):
            return {**values, "I": sympy.eye(int(values["d"]))}

    assert parse_params(Fill(), ["d=3"])["I"] == sympy.eye(3)


def test_no_eval_of_user_text(monkeypatch):
    import builtins

    def boom(*a, **k):  # pragma: no cover - must not be called
        raise AssertionError("eval called on user text")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(sympy, "sympify", boom)
    assert parse_value("[[2,1],[1,3]]", "spd", "S")[0, 0] == 2
    assert parse_value("1/3", "number", "x") == Rational(1, 3)


def test_spd_exact_fallback_near_singular(monkeypatch):
    # 1 ± 1e-398 on the diagonal: beyond the interval stage's precision, so the exact elimination decides
    from icl_proofs.claims import params as params_module

    calls = []
    exact = params_module._ldl_exact
    monkeypatch.setattr(params_module, "_ldl_exact", lambda A: calls.append(1) or exact(A))
    above = "1." + "0" * 397 + "1"
    below = "0." + "9" * 398
    assert parse_value(f'[[1, 1], [1, "{above}"]]', "spd", "S")[0, 0] == 1
    with pytest.raises(UserInputError, match="not positive definite"):
        parse_value(f'[[1, 1], [1, "{below}"]]', "spd", "S")
    assert len(calls) == 2


def test_interval_and_exact_pd_agree():
    import random
    from fractions import Fraction

    from icl_proofs.claims.params import _ldl_exact, _ldl_interval

    rng = random.Random(5)
    for _ in range(150):
        n = rng.randint(1, 5)
        B = [[Fraction(rng.randint(-4, 4), rng.randint(1, 3)) for _ in range(n)] for _ in range(n)]
        shift = Fraction(rng.randint(0, 3), 2)
        A = [[sum(B[i][k] * B[j][k] for k in range(n)) - (shift if i == j else 0) for j in range(n)]
             for i in range(n)]
        exact = _ldl_exact(A)
        assert exact == sympy.Matrix(A).is_positive_definite
        approx = _ldl_interval(A, 128)
        assert approx is None or approx == exact
