"""Restricted parser of user parameter strings.

User text is **never** passed to ``eval``, ``sympify`` or any other general parser.  Numbers are
matched by regular expressions and converted exactly (via :class:`fractions.Fraction`) into SymPy
rationals; matrices are JSON nested lists whose entries are parsed the same way.

Syntax accepted (see :func:`parse_value`):

* numbers: ``12``, ``-3``, ``1/3``, ``-2/7``, ``0.25``, ``.5``, ``1e-3``, ``2.5E2``;
* matrices: ``[[2,1],[1,3]]``, entries may be JSON numbers or strings like ``"1/3"``;
* booleans: ``true``/``false``/``1``/``0`` (case-insensitive);
* strings (``kind="str"``): identifier-like words such as ``relu`` or ``softmax``.
"""
from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from typing import Any

import sympy

from .base import OPTIONAL, Claim, Param, UserInputError

#: largest accepted matrix dimension
MAX_DIM = 64
#: largest accepted |decimal exponent| in ``1e-3`` style numbers
MAX_EXPONENT = 400
#: most digits accepted in one number (mantissa, or numerator plus denominator)
MAX_DIGITS = 400
#: longest accepted parameter text
MAX_TEXT = 200_000
#: most decimal digits in all the numbers of one configuration together (numerators and
#: denominators of every matrix entry and number).  Exact work grows with the size of the input in
#: bits, not only with its shape: the exact inverse of a 64×64 matrix of 10-digit rationals has
#: entries of ~40 000 digits.  A 64×64 Hilbert matrix (~14 000 digits) is within the budget.  A
#: claim may set a smaller budget (``Claim.max_exact_digits``).
MAX_TOTAL_DIGITS = 16_000

KINDS = ("int", "number", "spd", "matrix", "bool", "str")

_DECIMAL_RE = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?"
)
_RATIO_RE = re.compile(r"(?P<num>[+-]?[0-9]+)\s*/\s*(?P<den>[+-]?[0-9]+)")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _show(text: str, limit: int = 40) -> str:
    """A short, one-line rendering of user text for error messages."""
    t = " ".join(str(text).split())
    if len(t) > limit:
        t = t[: limit - 3] + "..."
    return repr(t)


def _fail(name: str, message: str) -> UserInputError:
    return UserInputError(f"parameter {name}: {message}")


# --------------------------------------------------------------------------- numbers


def parse_number(text: str, name: str = "value") -> sympy.Rational:
    """Parse one exact number (integer, ``p/q`` or decimal with exponent) into a ``sympy.Rational``."""
    if not isinstance(text, str):
        raise _fail(name, f"expected a number, got {type(text).__name__}")
    t = text.strip()
    if not t:
        raise _fail(name, "empty value; expected a number such as 3, 1/3 or 0.25")
    if len(t) > 2 * MAX_DIGITS + 16:
        raise _fail(name, f"number too long (more than {MAX_DIGITS} digits)")
    m = _RATIO_RE.fullmatch(t)
    if m:
        num, den = m.group("num"), m.group("den")
        if len(num.lstrip("+-")) + len(den.lstrip("+-")) > MAX_DIGITS:
            raise _fail(name, f"number too long (more than {MAX_DIGITS} digits)")
        n, d = int(num), int(den)
        if d == 0:
            raise _fail(name, f"division by zero in {_show(t)}")
        f = Fraction(n, d)
        return sympy.Rational(f.numerator, f.denominator)
    m = _DECIMAL_RE.fullmatch(t)
    if not m or not (m.group("int") or m.group("frac")):
        raise _fail(
            name, f"not a number: {_show(t)} (use forms like 3, -2, 1/3, 0.25 or 1e-3)"
        )
    ip, fp, ex = m.group("int") or "", m.group("frac") or "", m.group("exp")
    if len(ip) + len(fp) > MAX_DIGITS:
        raise _fail(name, f"number too long (more than {MAX_DIGITS} digits)")
    e = 0
    if ex is not None:
        if len(ex.lstrip("+-").lstrip("0")) > 4:
            raise _fail(name, f"exponent out of range in {_show(t)} (limit |e| <= {MAX_EXPONENT})")
        e = int(ex)
        if abs(e) > MAX_EXPONENT:
            raise _fail(name, f"exponent out of range in {_show(t)} (limit |e| <= {MAX_EXPONENT})")
    f = Fraction(int(ip + fp or "0"), 10 ** len(fp))
    f = f * 10**e if e >= 0 else f / 10 ** (-e)
    if m.group("sign") == "-":
        f = -f
    return sympy.Rational(f.numerator, f.denominator)


def _number_from_object(x: Any, name: str) -> sympy.Rational:
    """Exact number from a non-string object (defaults given in code, JSON scalars)."""
    if isinstance(x, bool):
        raise _fail(name, "expected a number, got a boolean")
    if isinstance(x, int):
        return sympy.Integer(x)
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    if isinstance(x, sympy.Rational):
        return x
    if isinstance(x, float):
        # a float written in code: take the decimal the author wrote (repr), not the binary value
        if x != x or x in (float("inf"), float("-inf")):
            raise _fail(name, f"not a finite number: {x!r}")
        return parse_number(repr(x), name)
    if isinstance(x, str):
        return parse_number(x, name)
    raise _fail(name, f"expected a number, got {type(x).__name__}")


# --------------------------------------------------------------------------- matrices


def _reject_constant(c: str):
    raise ValueError(f"non-finite constant {c}")


def _parse_matrix_text(text: str, name: str) -> list[list[Any]]:
    t = text.strip()
    if not t:
        raise _fail(name, "empty value; expected a matrix such as [[2,1],[1,3]]")
    if len(t) > MAX_TEXT:
        raise _fail(name, f"matrix text too long (more than {MAX_TEXT} characters)")
    if not t.startswith("["):
        raise _fail(name, f"expected a matrix as JSON nested lists like [[2,1],[1,3]], got {_show(t)}")
    try:
        # numbers stay strings so that no float rounding (or huge-int conversion) happens here
        return json.loads(t, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except RecursionError:
        raise _fail(name, "matrix nested too deeply") from None
    except ValueError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _fail(name, f"not a valid JSON matrix ({msg})") from None


def _matrix_from_rows(rows: Any, name: str) -> sympy.ImmutableMatrix:
    if isinstance(rows, sympy.MatrixBase):
        rows = rows.tolist()
    if not isinstance(rows, (list, tuple)):
        raise _fail(name, "expected a matrix as a list of rows like [[2,1],[1,3]]")
    n = len(rows)
    if n == 0:
        raise _fail(name, "empty matrix")
    if n > MAX_DIM:
        raise _fail(name, f"matrix too large: {n} rows (limit {MAX_DIM})")
    out: list[list[sympy.Rational]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            raise _fail(name, f"row {i + 1} is not a list; expected nested lists like [[2,1],[1,3]]")
        if len(row) == 0:
            raise _fail(name, f"row {i + 1} is empty")
        if len(row) != len(rows[0]):
            raise _fail(name, f"ragged matrix: row {i + 1} has {len(row)} entries, row 1 has {len(rows[0])}")
        parsed = []
        for j, x in enumerate(row):
            if isinstance(x, (list, tuple, dict)) or x is None or isinstance(x, bool):
                raise _fail(name, f"entry ({i + 1},{j + 1}) is not a number")
            parsed.append(_number_from_object(x, f"{name}[{i + 1},{j + 1}]"))
        out.append(parsed)
    if len(out[0]) != n:
        raise _fail(name, f"matrix must be square, got {n}x{len(out[0])}")
    return sympy.ImmutableMatrix(out)


def _is_positive_definite(M: sympy.MatrixBase) -> bool:
    """Sylvester's criterion, decided exactly: every leading principal minor of a symmetric M is > 0.

    The pivots of LDLᵀ elimination are ratios of consecutive leading principal minors.  They are
    first enclosed with interval arithmetic (a private mpmath interval context, outward rounding),
    which decides almost every input quickly and rigorously; only when a pivot's enclosure contains
    0 is the exact fraction-free (Bareiss) elimination on integers run.
    """
    n = M.rows
    fracs = [[Fraction(int(M[i, j].p), int(M[i, j].q)) for j in range(n)] for i in range(n)]
    for prec in (128, 1280):
        verdict = _ldl_interval(fracs, prec)
        if verdict is not None:
            return verdict
    return _ldl_exact(fracs)


def _ldl_interval(A0: list[list[Fraction]], prec: int) -> bool | None:
    """Interval LDLᵀ: True/False when every pivot's sign is certain, None when one straddles 0."""
    from mpmath.ctx_iv import MPIntervalContext

    ctx = MPIntervalContext()
    ctx.prec = prec
    n = len(A0)
    # lower triangle only (A is symmetric): A[i][j] for j <= i
    A = [[ctx.mpf(x.numerator) / x.denominator for x in row[: i + 1]] for i, row in enumerate(A0)]
    for k in range(n):
        p = A[k][k]
        if p.a > 0:
            pass
        elif p.b < 0:
            return False  # earlier pivots > 0, this one < 0: the (k+1)-th leading minor is < 0
        else:
            return None
        for i in range(k + 1, n):
            f = A[i][k] / p
            Ai = A[i]
            for j in range(k + 1, i + 1):
                Ai[j] = Ai[j] - f * A[j][k]
    return True


def _ldl_exact(A0: list[list[Fraction]]) -> bool:
    """Exact Bareiss elimination; the k-th pivot is the k-th leading principal minor.

    Row i and column i are scaled by the lcm of row i's denominators (a congruence D·A·D with D
    positive diagonal, which changes no signs of leading minors), so all arithmetic is on integers.
    """
    n = len(A0)
    c = [math.lcm(*(x.denominator for x in row)) for row in A0]
    A = [[int(A0[i][j] * c[i] * c[j]) for j in range(n)] for i in range(n)]
    prev = 1
    for k in range(n):
        akk = A[k][k]
        if akk <= 0:
            return False
        Ak = A[k]
        for i in range(k + 1, n):
            Ai = A[i]
            aik = Ai[k]
            for j in range(k + 1, n):
                Ai[j] = (Ai[j] * akk - aik * Ak[j]) // prev
        prev = akk
    return True


def _check_matrix(M: sympy.ImmutableMatrix, kind: str, name: str) -> sympy.ImmutableMatrix:
    if kind == "spd":
        n = M.rows
        for i in range(n):
            for j in range(i + 1, n):
                if M[i, j] != M[j, i]:
                    raise _fail(
                        name,
                        f"matrix is not symmetric: entry ({i + 1},{j + 1}) = {M[i, j]} "
                        f"but ({j + 1},{i + 1}) = {M[j, i]}",
                    )
        if not _is_positive_definite(M):
            raise _fail(name, "matrix is not positive definite (a leading principal minor is <= 0)")
    return M


# --------------------------------------------------------------------------- public API


def number_digits(x) -> int:
    """Decimal digits of an exact number (numerator plus denominator), or of all the entries of a
    matrix: the measure of input size the exact-work budget uses."""
    if isinstance(x, sympy.MatrixBase):
        return sum(number_digits(v) for v in x)
    if isinstance(x, sympy.Rational):
        return len(str(abs(int(x.p)))) + (len(str(int(x.q))) if x.q != 1 else 0)
    return 0


def _check_number_bounds(v: sympy.Rational, name: str, param: Param | None) -> sympy.Rational:
    """``minimum``/``maximum`` of a ``number`` parameter (inclusive), when the claim states them."""
    if param is None:
        return v
    if param.minimum is not None and v < param.minimum:
        raise _fail(name, f"must be >= {param.minimum}, got {v}")
    if param.maximum is not None and v > param.maximum:
        raise _fail(name, f"must be <= {param.maximum}, got {v}")
    return v


def check_exact_budget(claim: Claim, values: dict[str, Any]) -> None:
    """Refuse, in one line, a configuration too large in digits for the claim's exact arithmetic."""
    limit = getattr(claim, "max_exact_digits", None) or MAX_TOTAL_DIGITS
    total = sum(number_digits(v) for v in values.values())
    if total > limit:
        raise UserInputError(
            f"claim {claim.id}: the parameters hold {total} decimal digits, more than the {limit} its exact "
            f"arithmetic handles in seconds (the exact results grow with the input's digits); round the "
            f"entries to fewer digits (e.g. decimals like 0.1234): the output is an mpmath/float value "
            f"at --dps digits anyway")


def kernel_is_irreducible(K: sympy.MatrixBase) -> bool:
    """Whether every state of a transition kernel reaches every other (its graph of positive
    entries is strongly connected)."""
    n = K.rows
    for start in range(n):
        seen, todo = {start}, [start]
        while todo:
            i = todo.pop()
            for j in range(n):
                if K[i, j] != 0 and j not in seen:
                    seen.add(j)
                    todo.append(j)
        if len(seen) < n:
            return False
    return True


def parse_value(text: str, kind: str, name: str, param: Param | None = None) -> Any:
    """Parse one user string of the given ``kind`` (see :class:`~icl_proofs.claims.base.Param`).

    Returns ``sympy.Integer`` (int), ``sympy.Rational`` (number), ``sympy.ImmutableMatrix`` of
    rationals (spd, matrix), ``bool`` (bool) or ``str`` (str).  Raises
    :class:`~icl_proofs.errors.UserInputError` with a one-line message naming ``name``.
    ``param`` (optional) supplies ``minimum``/``maximum`` bounds for ``int`` (default minimum 1).
    """
    if not isinstance(text, str):
        raise _fail(name, f"expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise _fail(name, f"value too long (more than {MAX_TEXT} characters)")
    if kind == "int":
        v = parse_number(text, name)
        if not v.is_integer:
            raise _fail(name, f"expected an integer, got {_show(text.strip())}")
        return _check_int_bounds(sympy.Integer(v), name, param)
    if kind == "number":
        return _check_number_bounds(parse_number(text, name), name, param)
    if kind in ("spd", "matrix"):
        M = _matrix_from_rows(_parse_matrix_text(text, name), name)
        digits = number_digits(M)
        if digits > MAX_TOTAL_DIGITS:  # before the exact SPD test, itself exact work on these digits
            raise _fail(name, f"{digits} decimal digits in the entries, more than the {MAX_TOTAL_DIGITS} exact "
                              "arithmetic handles in seconds; round the entries to fewer digits")
        return _check_matrix(M, kind, name)
    if kind == "bool":
        t = text.strip().lower()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
        raise _fail(name, f"expected true or false, got {_show(text.strip())}")
    if kind == "str":
        t = text.strip()
        if not _WORD_RE.fullmatch(t):
            raise _fail(name, f"expected a word of letters, digits, '_', '.', '-', got {_show(t)}")
        return t
    raise _fail(name, f"unknown parameter kind {kind!r} (known: {', '.join(KINDS)})")


def _check_int_bounds(v: sympy.Integer, name: str, param: Param | None) -> sympy.Integer:
    lo = 1 if param is None or param.minimum is None else param.minimum
    hi = None if param is None else param.maximum
    if v < lo:
        raise _fail(name, f"must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise _fail(name, f"must be <= {hi}, got {v}")
    return v


def coerce_value(value: Any, param: Param, name: str | None = None) -> Any:
    """Validate a value that did not come from user text (e.g. a default written in code).

    Strings go through :func:`parse_value`; other objects (ints, Fractions, SymPy numbers and
    matrices, nested lists, bools) are converted exactly and checked like parsed text.
    """
    name = name or param.name
    if isinstance(value, str):
        return parse_value(value, param.kind, name, param)
    kind = param.kind
    if kind == "int":
        v = _number_from_object(value, name)
        if not v.is_integer:
            raise _fail(name, f"expected an integer, got {value!r}")
        return _check_int_bounds(sympy.Integer(v), name, param)
    if kind == "number":
        return _check_number_bounds(_number_from_object(value, name), name, param)
    if kind in ("spd", "matrix"):
        return _check_matrix(_matrix_from_rows(value, name), kind, name)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _fail(name, f"expected true or false, got {value!r}")
    return parse_value(str(value), kind, name, param)


def parse_params(claim: Claim, assignments: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` strings for ``claim`` into a dict (in the order of ``claim.params``).

    * unknown names, duplicates, malformed assignments and missing required parameters (those whose
      default is ``None``) raise :class:`UserInputError`;
    * defaults are filled in (string defaults are parsed with the same syntax as user text);
    * finally, if the claim defines ``validate(values)``, it is called for cross-parameter checks
      (e.g. shape mismatches).  It raises ``UserInputError``; if it returns a dict, that dict
      replaces the values (so a claim may fill in derived defaults).
    """
    known = {p.name: p for p in claim.params}
    given: dict[str, str] = {}
    for a in assignments:
        if not isinstance(a, str) or "=" not in a:
            raise UserInputError(f"expected NAME=VALUE, got {_show(str(a))}")
        key, _, text = a.partition("=")
        key = key.strip()
        if key not in known:
            names = ", ".join(known) if known else "(none)"
            raise UserInputError(
                f"claim {claim.id} has no parameter {key!r}; its parameters are: {names}"
            )
        if key in given:
            raise UserInputError(f"parameter {key} given more than once")
        given[key] = text
    values: dict[str, Any] = {}
    missing = []
    for p in claim.params:
        if p.name in given:
            values[p.name] = parse_value(given[p.name], p.kind, p.name, p)
        elif p.default == OPTIONAL:
            values[p.name] = None
        elif p.default is not None:
            values[p.name] = coerce_value(p.default, p)
        else:
            missing.append(p.name)
    if missing:
        hint = " ".join(f"--param {m}=VALUE" for m in missing)
        raise UserInputError(
            f"claim {claim.id}: missing required parameter(s) {', '.join(missing)}; give {hint}"
        )
    check_exact_budget(claim, values)  # before the claim's own checks, which may do exact work
    validate = getattr(claim, "validate", None)
    if callable(validate):
        replaced = validate(values)
        if isinstance(replaced, dict):
            values = replaced
    return values
