"""Hermite expansion of an activation under the standard Gaussian (dd25's equivalent polynomial).

Demir & Doğan (arXiv 2510.25753, Theorem 4.12) replace an activation σ by

    σ̂_p(x) = Σ_{i≤p} c_i He_i(x) + c*_p z,   c_i = E[σ(g) He_i(g)] / i!,
    (c*_p)² = E[σ(g)²] − Σ_{i≤p} i! c_i²,     g, z ~ N(0, 1) independent,

with He_i the probabilists' Hermite polynomials (He_{i+1} = x He_i − i He_{i−1}), orthogonal under
the Gaussian weight with E[He_i He_j] = i! δ_ij.

Activations
-----------
Named: ``relu``, ``tanh``, ``sigmoid``, ``gelu`` (exact GELU x·Φ(x), not the tanh approximation).
Each has an mpmath function and derivative, a SymPy expression, and vectorised NumPy forms
(:func:`activation_numpy`).  Any Python callable is accepted too: it is called with an mpmath
``mpf`` and must return a real number (use ``mpmath`` functions inside, e.g. ``mpmath.tanh``); its
derivative is taken by ``mpmath.diff``.  Quadrature splits the real line at 0 only, so a callable
must be smooth on (−∞, 0] and [0, ∞); wrap it as ``Activation(name, fn, kinks=(...))`` to declare
other kinks.  A callable that raises, returns a non-number or a non-finite value, or whose
quadrature does not converge, gives a one-line :class:`UserInputError`.

Numerics
--------
All mpmath work runs under ``mpmath.workdps`` (the global precision is never changed) with
``GUARD_DPS`` extra digits, and results are rounded to ``dps`` digits; a normalised coefficient
c_i·sqrt(i!) below 10^−(dps+5) (the quadrature noise) is returned as exactly 0.  The coefficients come from
one tanh-sinh pass (mpmath's rule and error estimate) that integrates every normalised Hermite
polynomial h_i = He_i / sqrt(i!) at once against σ·φ on each side of 0; c_i = E[σ h_i] / sqrt(i!).

Degree cap ``MAX_P = 40`` (measured at dps = 30 against the closed forms for ReLU and GELU and a
dps = 60 run for tanh and sigmoid).  The quadrature's absolute error in the normalised coefficients
c_i·sqrt(i!) stays near 10^−(dps+GUARD) up to p ≈ 90, but those coefficients decay (GELU:
10^−7 at i = 40, 10^−10 at i = 60; sigmoid 10^−8 at 40), and each decade of decay costs one digit
of *relative* accuracy.  Without guard digits the smallest coefficients fall below 25 correct
digits from p ≈ 31 (sigmoid) and p ≈ 36 (GELU); with ``GUARD_DPS = 10`` every nonzero c_i, i ≤ 40,
of the named activations has ≥ 30 correct digits at dps = 30, with three guard digits to spare.
Beyond 40 the guard is used up for GELU within 20 degrees, and run time grows (about 0.3 to 0.8 s
per activation at p = 40).

>>> from mpmath import mp, mpf, sqrt, pi
>>> c = hermite_coefficients("relu", 2)                 # 30 digits by default
>>> with mp.workdps(30):
...     print(abs(c[0] - 1 / sqrt(2 * pi)) < mpf(10) ** -29, c[1] == mpf(1) / 2)
True True
>>> hermite_coefficients_symbolic("relu", 2)
[sqrt(2)/(2*sqrt(pi)), 1/2, sqrt(2)/(4*sqrt(pi))]
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import operator
from functools import lru_cache
from typing import Callable, Sequence

import mpmath
import numpy as np
import scipy.special

from ..cache import derivation
import sympy as sp
from mpmath import mp
from mpmath.calculus.quadrature import TanhSinh

from ..errors import UserInputError
from ..numeric.precision import to_mpf

__all__ = [
    "MAX_P", "MAX_DPS", "GUARD_DPS", "ACTIVATIONS", "Activation", "get_activation", "activation_numpy",
    "hermite_poly", "gaussian_moment", "half_line_moment", "gelu_moment",
    "hermite_coefficients_symbolic", "hermite_coefficients", "second_moment", "derivative_mean",
    "residual_sq", "equivalent", "gaussian_expectation", "hermite_series", "sigma_hat",
]

#: largest accepted degree p (see the module docstring)
MAX_P = 40
#: largest accepted precision: tanh-sinh cost grows roughly quadratically with the digits
MAX_DPS = 120
#: extra working digits of every quadrature
GUARD_DPS = 10

#: normalised coefficients c_i·sqrt(i!) below 10^−(dps + NOISE_DIGITS) (times max(1, largest)) are
#: returned as 0: the quadrature's absolute error is ~10^−(dps+GUARD_DPS), so they carry no digits
NOISE_DIGITS = 5

X = sp.Symbol("x", real=True)

# --------------------------------------------------------------------------- activations


@dataclasses.dataclass(frozen=True)
class Activation:
    """An activation as the Hermite layer uses it.

    ``mp``: mpf -> mpf.  ``dmp``: its derivative (``None``: ``mpmath.diff``).  ``sym``: SymPy
    expression in :data:`X` (``None`` when there is no closed form).  ``kinks``: where the
    quadrature splits the line (σ must be smooth between them).
    """

    name: str
    mp: Callable
    dmp: Callable | None = None
    sym: sp.Expr | None = None
    kinks: tuple = (0,)
    named: bool = False
    checked: bool = False  # wrapped by _validated (named ones need no wrapping)


def _relu(x):
    return x if x > 0 else mp.zero


def _drelu(x):  # σ'(0) = 0 by convention (a null set under the Gaussian)
    return mp.one if x > 0 else mp.zero


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _dsigmoid(x):
    s = _sigmoid(x)
    return s * (1 - s)


def _dtanh(x):
    return 1 / mp.cosh(x) ** 2


def _gelu(x):
    return x * mp.ncdf(x)


def _dgelu(x):
    return mp.ncdf(x) + x * mp.npdf(x)


_NAMED = {
    "relu": Activation("relu", _relu, _drelu, (X + sp.Abs(X)) / 2, named=True),
    "tanh": Activation("tanh", mp.tanh, _dtanh, sp.tanh(X), named=True),
    "sigmoid": Activation("sigmoid", _sigmoid, _dsigmoid, 1 / (1 + sp.exp(-X)), named=True),
    "gelu": Activation("gelu", _gelu, _dgelu, X * (1 + sp.erf(X / sp.sqrt(2))) / 2, named=True),
}
#: the named activations
ACTIVATIONS = tuple(sorted(_NAMED))


def get_activation(activation) -> Activation:
    """An :class:`Activation` from a name, an ``Activation`` or a callable (validated).

    >>> get_activation("tanh").name
    'tanh'
    >>> get_activation("swish")
    Traceback (most recent call last):
    ...
    icl_proofs.errors.UserInputError: unknown activation 'swish'; known: gelu, relu, sigmoid, tanh
    """
    if isinstance(activation, Activation):
        return activation if activation.named or activation.checked else _validated(activation)
    if isinstance(activation, str):
        try:
            return _NAMED[activation.strip().lower()]
        except KeyError:
            raise UserInputError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}") from None
    if callable(activation):
        return _validated(Activation(getattr(activation, "__name__", "callable"), activation))
    raise UserInputError(f"activation must be a name ({', '.join(ACTIVATIONS)}) or a callable, "
                         f"got {type(activation).__name__}")


def _checked_value(act: Activation, x, fn: Callable) -> mpmath.mpf:
    """fn(x) as a finite mpf, or a one-line UserInputError naming the activation and the point."""
    try:
        v = fn(x)
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of user code is reported in one line
        msg = " ".join(str(e).split())[:200]
        raise UserInputError(f"activation {act.name} raised {type(e).__name__} at x = "
                             f"{mpmath.nstr(x, 8)}: {msg}") from None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, mpmath.mpf, sp.Number)):
        raise UserInputError(f"activation {act.name} returned {type(v).__name__} at x = "
                             f"{mpmath.nstr(x, 8)}; expected a real number")
    v = to_mpf(v, mp.dps)
    if not mp.isfinite(v):
        raise UserInputError(f"activation {act.name} returned {v} at x = {mpmath.nstr(x, 8)}")
    return v


def _validated(act: Activation) -> Activation:
    """Wrap a user activation so that every evaluation is checked; probe it at a few points first."""
    raw, draw = act.mp, act.dmp

    def f(x):
        return _checked_value(act, x, raw)

    def df(x):
        if draw is not None:
            return _checked_value(act, x, draw)
        return _checked_value(act, x, lambda t: mp.diff(raw, t))

    out = dataclasses.replace(act, mp=f, dmp=df, kinks=tuple(sorted(set(act.kinks))), checked=True)
    with mp.workdps(15):
        for x in (-2, -0.5, 0.5, 2):
            f(mp.mpf(x))
    return out


def activation_numpy(name: str) -> tuple[Callable, Callable]:
    """Vectorised ``(sigma, dsigma)`` of a named activation; float inputs keep their dtype.

    Non-float inputs (ints, bools) are computed in float64.

    >>> s, ds = activation_numpy("gelu")
    >>> x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    >>> s(x).dtype, ds(x).dtype
    (dtype('float32'), dtype('float32'))
    >>> float(ds(np.array(0.0)))
    0.5
    """
    if not isinstance(name, str):
        raise UserInputError("NumPy forms exist only for the named activations "
                             f"({', '.join(ACTIVATIONS)})")
    return _NUMPY[get_activation(name).name]


def _floats(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _keep(fn: Callable) -> Callable:
    def wrapped(x):
        x = _floats(x)
        return np.asarray(fn(x)).astype(x.dtype, copy=False)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)  # a Python float: keeps float32 arrays float32


def _np_relu(x):
    return np.maximum(x, 0)


def _np_drelu(x):
    return (x > 0).astype(x.dtype)


def _np_tanh(x):
    return np.tanh(x)


def _np_dtanh(x):
    t = np.tanh(x)
    return 1 - t * t


def _np_sigmoid(x):
    return scipy.special.expit(x)


def _np_dsigmoid(x):
    s = scipy.special.expit(x)
    return s * (1 - s)


def _np_gelu(x):
    return x * scipy.special.ndtr(x)


def _np_dgelu(x):
    return scipy.special.ndtr(x) + x * (np.exp(-x * x / 2) * _INV_SQRT_2PI)


_NUMPY = {
    "relu": (_keep(_np_relu), _keep(_np_drelu)),
    "tanh": (_keep(_np_tanh), _keep(_np_dtanh)),
    "sigmoid": (_keep(_np_sigmoid), _keep(_np_dsigmoid)),
    "gelu": (_keep(_np_gelu), _keep(_np_dgelu)),
}

# --------------------------------------------------------------------------- input checks


def _check_p(p) -> int:
    if isinstance(p, bool):
        raise UserInputError(f"p must be an integer, got {p!r}")
    try:
        p = operator.index(p)
    except TypeError:
        raise UserInputError(f"p must be an integer, got {p!r}") from None
    if not 0 <= p <= MAX_P:
        raise UserInputError(f"p must lie in 0..{MAX_P} (quadrature accuracy cap), got {p}")
    return p


def _check_dps(dps) -> int:
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or not 2 <= dps <= MAX_DPS:
        raise UserInputError(f"dps must be an integer in 2..{MAX_DPS}, got {dps!r}")
    return int(dps)


# --------------------------------------------------------------------------- Hermite polynomials


@lru_cache(maxsize=None)
def hermite_poly(i: int) -> sp.Poly:
    """He_i from the three-term recurrence He_{i+1} = x He_i − i He_{i−1} (exact, over QQ).

    >>> hermite_poly(3).as_expr()
    x**3 - 3*x
    """
    if i < 0:
        raise ValueError("degree must be >= 0")
    if i == 0:
        return sp.Poly(1, X, domain="QQ")
    if i == 1:
        return sp.Poly(X, X, domain="QQ")
    return sp.Poly(X, X) * hermite_poly(i - 1) - (i - 1) * hermite_poly(i - 2)


def _coerce_coeffs(coeffs) -> list[float]:
    """Normalised coefficients a_i = c_i·sqrt(i!) as floats (mpmath keeps c_i·sqrt(i!) in range)."""
    out = []
    with mp.workdps(20):
        for i, c in enumerate(coeffs):
            c = c if isinstance(c, mpmath.mpf) else mp.mpf(float(c))
            out.append(float(c * mp.sqrt(mp.factorial(i))))
    return out


def hermite_series(coeffs: Sequence, x) -> np.ndarray:
    """Σ_i c_i He_i(x), vectorised; a float array keeps its dtype.

    Evaluated through the normalised recurrence h_{i+1} = (x h_i − sqrt(i) h_{i−1}) / sqrt(i+1),
    h_i = He_i / sqrt(i!), so no He_i (which grows like sqrt(i!)) is ever formed: float32 does not
    overflow at high degree.

    >>> hermite_series([0, 0, 1], np.array([2.0, 0.0]))   # He_2 = x^2 - 1
    array([ 3., -1.])
    >>> hermite_series([1, 1], np.array([0.5], dtype=np.float32)).dtype
    dtype('float32')
    """
    x = _floats(x)
    a = _coerce_coeffs(coeffs)
    out = np.zeros_like(x)
    if not a:
        return out
    h_prev, h = np.ones_like(x), x
    out += a[0] * h_prev
    if len(a) > 1:
        out += a[1] * h
    for i in range(1, len(a) - 1):
        h_prev, h = h, (x * h - math.sqrt(i) * h_prev) / math.sqrt(i + 1)
        out += a[i + 1] * h
    return out


def sigma_hat(coeffs: Sequence, cstar, x, rng: np.random.Generator) -> np.ndarray:
    """σ̂_p(x) = Σ_i c_i He_i(x) + c* z, z a fresh N(0, 1) of x's shape and dtype.

    >>> rng = np.random.default_rng(0)
    >>> y = sigma_hat([0.0, 1.0], 0.0, np.array([1.5, -2.0]), rng)   # c* = 0: the polynomial
    >>> y.tolist()
    [1.5, -2.0]
    """
    x = _floats(x)
    if x.dtype in (np.float32, np.float64):
        z = rng.standard_normal(x.shape, dtype=x.dtype)
    else:
        z = rng.standard_normal(x.shape).astype(x.dtype)
    return hermite_series(coeffs, x) + float(cstar) * z


# --------------------------------------------------------------------------- exact Gaussian moments

_PHI = sp.exp(-X**2 / 2) / sp.sqrt(2 * sp.pi)
_M = sp.Symbol("m", integer=True, nonnegative=True)


@lru_cache(maxsize=None)
def _moment_formula(kind: str) -> sp.Expr:
    """One SymPy integral with a symbolic exponent m (Gamma-function form), substituted per m:
    much faster than integrating every power separately."""
    weight, lower = {"full": (_PHI, -sp.oo), "half": (_PHI, 0), "phi_sq": (_PHI**2, -sp.oo)}[kind]
    return sp.integrate(X**_M * weight, (X, lower, sp.oo))


@lru_cache(maxsize=None)
def gaussian_moment(m: int) -> sp.Expr:
    """E[g^m] for g ~ N(0, 1), by SymPy integration against the density.

    >>> [gaussian_moment(m) for m in range(7)]
    [1, 0, 1, 0, 3, 0, 15]
    """
    return _moment_formula("full").subs(_M, m)


@derivation
@lru_cache(maxsize=None)
def half_line_moment(m: int) -> sp.Expr:
    """E[g^m 1{g > 0}], by SymPy integration.

    >>> half_line_moment(1)
    sqrt(2)/(2*sqrt(pi))
    """
    return _moment_formula("half").subs(_M, m)


@lru_cache(maxsize=None)
def _phi_sq_moment(k: int) -> sp.Expr:
    """∫ x^k φ(x)² dx, by SymPy integration."""
    return _moment_formula("phi_sq").subs(_M, k)


@derivation
@lru_cache(maxsize=None)
def gelu_moment(m: int) -> sp.Expr:
    """E[g^m Φ(g)].

    Integrating ∫ x^{m−1}Φ(x) · xφ(x) dx by parts (xφ = −φ'; boundary terms vanish) gives
    E[g^m Φ] = (m−1) E[g^{m−2} Φ] + ∫ x^{m−1} φ(x)² dx, and E[Φ(g)] = 1/2 because
    Φ(x) + Φ(−x) = 1.  (SymPy integrates x^m Φ φ directly too, but takes seconds from m = 4.)

    >>> [gelu_moment(m) for m in range(4)]
    [1/2, 1/(2*sqrt(pi)), 1/2, 5/(4*sqrt(pi))]
    """
    if m == 0:
        return sp.Rational(1, 2)
    lower = (m - 1) * gelu_moment(m - 2) if m >= 2 else 0
    return lower + _phi_sq_moment(m - 1)


#: E[σ(g) g^j] for the activations with a closed form
_MONOMIAL_MOMENTS: dict[str, Callable[[int], sp.Expr]] = {
    "relu": lambda j: half_line_moment(j + 1),   # σ(g) g^j = g^{j+1} 1{g > 0}
    "gelu": lambda j: gelu_moment(j + 1),         # σ(g) g^j = g^{j+1} Φ(g)
}


@lru_cache(maxsize=None)
def _symbolic_coefficient(name: str, i: int) -> sp.Expr:
    moment = _MONOMIAL_MOMENTS[name]
    num = sum((c * moment(j) for (j,), c in hermite_poly(i).terms()), sp.Integer(0))
    return num / sp.factorial(i)


@derivation
def hermite_coefficients_symbolic(name: str, p: int) -> list[sp.Expr]:
    """Exact c_0..c_p for ``relu`` and ``gelu``: c_i = Σ_j [x^j]He_i · E[σ(g) g^j] / i!.

    >>> hermite_coefficients_symbolic("gelu", 4)
    [1/(2*sqrt(pi)), 1/2, 3/(8*sqrt(pi)), 0, -5/(192*sqrt(pi))]
    >>> hermite_coefficients_symbolic("tanh", 2)
    Traceback (most recent call last):
    ...
    icl_proofs.errors.UserInputError: no closed-form Hermite coefficients for 'tanh'; available: gelu, relu
    """
    act = get_activation(name)
    if not act.named or act.name not in _MONOMIAL_MOMENTS:
        raise UserInputError(f"no closed-form Hermite coefficients for {act.name!r}; "
                             f"available: {', '.join(sorted(_MONOMIAL_MOMENTS))}")
    return [_symbolic_coefficient(act.name, i) for i in range(_check_p(p) + 1)]


# --------------------------------------------------------------------------- quadrature

_RULE = TanhSinh(mp)


def _gaussian_pass(act: Activation, p: int, dps: int, extras: Sequence[Callable] = ()) -> tuple[list, list]:
    """One vector tanh-sinh pass: ([E[σ(g) h_i(g)] for i ≤ p], [E[e(g, σ(g))] for e in extras]).

    h_i = He_i / sqrt(i!).  mpmath's rule and error estimate (as in ``mp.quad``) run on every
    component at once, on each interval between the kinks, so σ is evaluated once per node; the
    pass has converged when every component's estimated error is below eps/8 of the working
    precision.  ``extras`` are functions e(x, σ(x)) (e.g. σ² or σ') integrated against φ.
    """
    with mp.workdps(dps + GUARD_DPS):
        prec, eps = mp.prec, mp.eps / 8
        max_degree = _RULE.guess_degree(prec)
        points = [mp.ninf, *(mp.mpf(k) for k in act.kinks), mp.inf]
        total, err = [mp.zero] * (p + 1 + len(extras)), mp.zero
        with mp.extraprec(20):
            for a, b in zip(points[:-1], points[1:]):
                vals, e = _interval_pass(act.mp, extras, a, b, p, prec, eps, max_degree)
                total = [t + v for t, v in zip(total, vals)]
                err += e
    if not err <= mp.mpf(10) ** (-dps) * max(1, *(abs(t) for t in total)):
        raise UserInputError(f"quadrature for activation {act.name} did not converge (estimated error "
                             f"{mpmath.nstr(err, 3)}); is it smooth between its kinks {act.kinks}?")
    with mp.workdps(dps):
        scale = max(1, *(abs(t) for t in total))
        # below the noise floor: zero to the working accuracy (e.g. GELU's odd c_i, i ≥ 3)
        floor = mp.mpf(10) ** -(dps + NOISE_DIGITS) * scale
        proj = [+t if abs(t) >= floor else mp.zero for t in total[: p + 1]]
        return proj, [+t for t in total[p + 1:]]


def _interval_pass(f, extras, a, b, p, prec, eps, max_degree):
    """Tanh-sinh on [a, b] for the p + 1 projections and the extras; returns (values, error)."""
    results: list[list] = []
    err, norm = mp.zero, 1 / mp.sqrt(2 * mp.pi)
    bits = mp.prec + 20  # absolute precision of the fixed-point sums
    n = p + 1 + len(extras)
    for degree in range(1, max_degree + 1):
        h = mp.ldexp(1, -degree)
        acc, extra = [0] * (p + 1), [mp.zero] * len(extras)
        for x, w in _RULE.get_nodes(a, b, degree, prec):
            fx = f(x)
            e4 = mp.exp(-x * x / 4)
            wf = w * fx * e4
            wphi = [w * e(x, fx) * e4 * e4 * norm for e in extras]
            # Cramér: |h_i(x)| e^{−x²/4} ≤ 1.09, so every term w·f·φ·h_i = wf·(e4·h_i)/sqrt(2π) is
            # below |wf|: skip the node when that and the extras' terms are below eps
            if abs(wf) < eps and all(abs(v) < eps for v in wphi):
                continue
            _add_node(acc, x, e4, wf * norm, p, bits)
            extra = [s + v for s, v in zip(extra, wphi)]
        step = [mp.ldexp(v, -2 * bits) for v in acc] + extra
        # tanh-sinh nodes of degree m are those of m − 1 plus new ones: reuse the previous sum
        prev = [r / (2 * h) for r in results[-1]] if results else [mp.zero] * n
        results.append([h * (s + v) for s, v in zip(prev, step)])
        if degree > 1:
            err = max(_RULE.estimate_error([r[i] for r in results], prec, eps) for i in range(n))
            if err <= eps:
                break
    return results[-1], err


@lru_cache(maxsize=64)
def _fixed_sqrt_tables(p: int, bits: int) -> tuple[list[int], list[int]]:
    """sqrt(i) and 1/sqrt(i) as integers scaled by 2^bits."""
    with mp.workprec(bits + 10):
        sq = [int(mp.floor(mp.ldexp(mp.sqrt(i), bits))) for i in range(p + 2)]
        inv = [0] + [int(mp.floor(mp.ldexp(1 / mp.sqrt(i), bits))) for i in range(1, p + 2)]
    return sq, inv


def _add_node(acc: list, x, e4, weight, p: int, bits: int) -> None:
    """acc_i += weight·ĥ_i(x)·2^(2·bits), ĥ_i = e^{−x²/4} h_i(x) (|ĥ_i| ≤ 1.09), in integer arithmetic.

    The recurrence runs on Python integers (an order of magnitude faster than mpf).  It grows
    like e^{x²/4} from ĥ_0 = e^{−x²/4}, so it carries x²/4·log2(e) extra bits to keep its
    absolute error below 2^−bits.
    """
    fb = bits + 8 + int(mp.ceil(x * x / 4 * 1.4427))
    fb += -fb % 32  # fractional bits of the recurrence, rounded so that few sqrt tables are built
    sq, inv = _fixed_sqrt_tables(p, fb)
    to_fixed = mpmath.libmp.to_fixed
    X = to_fixed(x._mpf_, fb)
    W = to_fixed(weight._mpf_, bits)
    shift = fb - bits
    h0 = to_fixed(e4._mpf_, fb)
    h1 = (X * h0) >> fb
    acc[0] += (W * h0) >> shift
    if p >= 1:
        acc[1] += (W * h1) >> shift
    for i in range(1, p):
        h0, h1 = h1, (((X * h1) >> fb) - ((sq[i] * h0) >> fb)) * inv[i + 1] >> fb
        acc[i + 1] += (W * h1) >> shift


def _block(p: int) -> int:
    """Degrees are computed in blocks of 10 so that different p share (and agree on) one run."""
    return min(MAX_P, max(10, 10 * math.ceil(p / 10)))


def _square(x, fx):
    return fx * fx


@lru_cache(maxsize=None)
def _named_pass(name: str, block: int, dps: int) -> tuple[tuple, tuple]:
    """(projections, (E[σ²], E[σ'])) of a named activation, one cached pass per degree block; the
    two moments ride along with the first block only (the other blocks return ())."""
    act = _NAMED[name]
    extras = (_square, lambda x, fx: act.dmp(x)) if block == _block(0) else ()
    proj, moments = _gaussian_pass(act, block, dps, extras)
    return tuple(proj), tuple(moments)


def _normalised(activation, p: int, dps: int) -> list:
    act = get_activation(activation)
    if act.named:
        return list(_named_pass(act.name, _block(p), dps)[0][: p + 1])
    return _gaussian_pass(act, p, dps)[0]


@derivation
def hermite_coefficients(activation, p: int, dps: int = 30) -> list:
    """c_0..c_p = E[σ(g) He_i(g)] / i! (mpf, ``dps`` digits) by quadrature.

    >>> c = hermite_coefficients("tanh", 3, dps=20)
    >>> [mpmath.nstr(v, 10) for v in c]
    ['0.0', '0.6057055096', '0.0', '-0.06059922938']
    >>> hermite_coefficients("relu", -1)
    Traceback (most recent call last):
    ...
    icl_proofs.errors.UserInputError: p must lie in 0..40 (quadrature accuracy cap), got -1
    """
    p, dps = _check_p(p), _check_dps(dps)
    a = _normalised(activation, p, dps)
    with mp.workdps(dps + GUARD_DPS):
        c = [v / mp.sqrt(mp.factorial(i)) for i, v in enumerate(a)]
    with mp.workdps(dps):
        return [+v for v in c]


@derivation
def second_moment(activation, dps: int = 30):
    """E[σ(g)²] by quadrature.

    >>> mpmath.nstr(second_moment("relu"), 10)
    '0.5'
    """
    dps = _check_dps(dps)
    act = get_activation(activation)
    if act.named:
        return _named_pass(act.name, _block(0), dps)[1][0]
    return _gaussian_pass(act, 0, dps, (_square,))[1][0]


@derivation
def derivative_mean(activation, dps: int = 30):
    """α = E[σ'(g)] by quadrature of the derivative (equal to c_1 by Stein's lemma).

    >>> mpmath.nstr(derivative_mean("gelu"), 10)
    '0.5'
    """
    dps = _check_dps(dps)
    act = get_activation(activation)
    if act.named:
        return _named_pass(act.name, _block(0), dps)[1][1]
    return _gaussian_pass(act, 0, dps, (lambda x, fx: act.dmp(x),))[1][0]


@derivation
def residual_sq(activation, p: int, dps: int = 30):
    """(c*_p)² = E[σ(g)²] − Σ_{i≤p} i! c_i² (= Σ_{i>p} i! c_i², the Parseval tail).

    >>> mpmath.nstr(residual_sq("tanh", 1), 8)
    '0.027415326'
    """
    p, dps = _check_p(p), _check_dps(dps)
    a = _normalised(activation, p, dps)
    m2 = second_moment(activation, dps)
    with mp.workdps(dps + GUARD_DPS):
        r = m2 - mp.fsum(v * v for v in a)
    with mp.workdps(dps):
        return +r


@derivation
def equivalent(activation, p: int, dps: int = 30) -> tuple[list, mpmath.mpf]:
    """``(c_0..c_p, c*_p)``, the inputs of :func:`sigma_hat`.

    (c*_p)² is a tail of squares, so a negative value can only be rounding (it is clipped to 0
    when within 10^(5−dps) of E[σ²]); anything below that is an error.
    """
    r = residual_sq(activation, p, dps)
    m2 = second_moment(activation, dps)
    with mp.workdps(dps):
        if r < -mp.mpf(10) ** (5 - dps) * m2:
            raise ArithmeticError(f"negative residual {r}: the Hermite coefficients are inconsistent")
        return hermite_coefficients(activation, p, dps), mp.sqrt(max(r, mp.zero))


def gaussian_expectation(f: Callable, dps: int = 30, kinks: Sequence = (0,)):
    """E[f(g)] by ``mp.quad`` with Gauss–Legendre on [−L, L] split at ``kinks``: a route independent
    of the tanh-sinh pass above, used by the checks.  L makes φ(L) < 10^−(dps+GUARD+20), so the
    truncation is negligible for integrands of polynomial growth (all the checks use).

    >>> gaussian_expectation(lambda x: x**4)
    mpf('3.0')
    """
    dps = _check_dps(dps)
    with mp.workdps(dps + GUARD_DPS):
        L = math.ceil(math.sqrt(2 * math.log(10) * (dps + GUARD_DPS + 20))) + 4
        # pieces of width ≤ 4 keep the Gauss–Legendre degree (whose nodes are costly) low
        pts = sorted({-L, L, *range(-4 * (L // 4), L, 4), *(k for k in kinks if -L < k < L)})
        v = mp.quad(lambda x: f(x) * mp.npdf(x), pts, method="gauss-legendre")
    with mp.workdps(dps):
        return +v
