"""Theorem 4.1 of ding25 (multilayer LSA = preconditioned multi-objective GD), checked exactly.

The statement is about *one* prompt instance (no expectation), so it can be tested with exact
rational arithmetic on random instances; nothing here uses floating point.

Route:

1. **Exact forward pass** of the structured L-layer LSA with the *generic* masked formula and full
   matrices ``P_l = [0; b_l^T]``, ``Q_l = [A_l, 0]``:
   ``Z_{l+1} = Z_l + (1/n) P_l Z_l M Z_l^T Q_l Z_l``  (:func:`exact_forward`).
2. **Derived recursion** (ours): the inputs never change and the label row after ``l`` layers is
   ``y_j + theta_l^T x_j`` (context) and ``theta_l^T x_q`` (query), with ``theta_0 = 0`` and
   ``theta_{l+1}^T = theta_l^T + b_l^T G(theta_l) A_l``,
   ``G(theta) = (1/n) sum_{j<=n} [x_j; y_j + theta^T x_j][x_j; y_j + theta^T x_j]^T``
   (:func:`theta_recursion`, checked against step 1 by :func:`check_theta_recursion`).
3. **Printed update** (the paper's): with ``A_l = -[Abar_l; a_l^T]``, ``w_0 = 0`` and
   ``w_{l+1}^T = w_l^T - b_l^T (J_1(w_l) Abar_l + J_2(w_l) [0_{(d-1) x d}; a_l^T])``, where ``J_i`` is
   the ``(d+1) x d`` Jacobian of the printed objective ``R_i`` (row = component).  The Jacobians come
   from ``sympy.diff`` of the printed formulas (:func:`printed_objective_terms`), evaluated in
   :class:`fractions.Fraction` -- the answer is never hand-coded.
4. **The identity** ``y_q^{(l)} = <w_l, x_q>`` is compared exactly under two sign conventions
   (``"printed"``: ``y_q = <w, x_q>``; ``"negated"``: ``y_q = -<w, x_q>``) and two readings of the
   printed cubic term ``1/3 x_{j,d} (y - w^T x)^3`` (``"divide"``: ``(y - w^T x)^3 / (3 x_{j,d})``;
   ``"multiply"``: ``x_{j,d} (y - w^T x)^3 / 3``); any failure returns a witness.

:func:`symbolic_check` additionally proves the per-chain identity behind (ii) symbolically:
``J_1(w) = -G_chain(-w)[:, :d]`` and ``J_2(w)[:, d] = -G_chain(-w)[:, d+1]``, which with step 2 gives
``w_l = -theta_l`` for every prompt.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..base import UserInputError, derivation

__all__ = [
    "CONVENTIONS",
    "CUBIC_READINGS",
    "to_fraction",
    "as_prompt",
    "as_weights",
    "exact_forward",
    "query_outputs",
    "theta_recursion",
    "check_theta_recursion",
    "printed_objective_terms",
    "printed_jacobians",
    "printed_w_recursion",
    "check_identity",
    "symbolic_check",
    "random_instance",
    "random_instances",
    "survey",
]

#: sign conventions for the paper's ``y_q^{(l)} = <w_l, x_q>``: name -> sign s in ``y_q = s <w, x_q>``
CONVENTIONS = {"printed": 1, "negated": -1}
_CONVENTION_ALIASES = {"i": "printed", "ii": "negated", "printed": "printed", "negated": "negated"}
CUBIC_READINGS = ("divide", "multiply")

Vec = list  # of Fraction
Mat = list  # of rows of Fraction


# --------------------------------------------------------------------------- exact inputs

def to_fraction(v) -> Fraction:
    """An exact number: int, Fraction, sympy Rational, ``"p/q"`` string (floats are refused: a float
    prompt would make an "exact" check depend on binary rounding)."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (bool, int, np.integer)):
        return Fraction(int(v))
    if isinstance(v, sp.Rational):
        return Fraction(int(v.p), int(v.q))
    if isinstance(v, str):
        try:
            return Fraction(v)
        except ValueError:
            raise UserInputError(f"not an exact rational number: {v!r}") from None
    raise UserInputError(f"exact check needs int / Fraction / 'p/q' entries, got {type(v).__name__} {v!r}")


def as_prompt(prompt) -> tuple[Mat, Vec]:
    """``(x, y)``: x has ``n+1`` rows of ``d`` Fractions (query last), y has ``n`` labels.

    Accepts a states array ``(n+1, d+1)`` (query chain last; its last state is the target and is not
    used) or ``(x, y)`` / ``{"x": .., "y": ..}`` with ``len(x) == len(y) + 1``.
    """
    if isinstance(prompt, dict):
        x, y = prompt["x"], prompt["y"]
    elif isinstance(prompt, tuple) and len(prompt) == 2:
        x, y = prompt
    else:
        st = [[to_fraction(v) for v in row] for row in np.asarray(prompt, dtype=object).tolist()]
        if len(st) < 2 or len({len(r) for r in st}) != 1 or len(st[0]) < 3:
            raise UserInputError("prompt states must have shape (n+1, d+1) with n >= 1 and d >= 2")
        return [r[:-1] for r in st], [r[-1] for r in st[:-1]]
    x = [[to_fraction(v) for v in row] for row in x]
    y = [to_fraction(v) for v in y]
    if len(x) != len(y) + 1 or len(y) < 1 or len({len(r) for r in x}) != 1 or len(x[0]) < 2:
        raise UserInputError("prompt (x, y) needs n+1 input rows of equal length d >= 2 and n >= 1 labels")
    return x, y


def as_weights(weights, d: int) -> list[tuple[Vec, Mat]]:
    """``[(b_l, A_l)]`` with ``b_l`` of length ``d+1`` and ``A_l`` of shape ``(d+1, d)``; also accepts
    ``{"b": [..], "A": [..]}`` stacked over layers."""
    if isinstance(weights, dict):
        weights = list(zip(weights["b"], weights["A"]))
    out = []
    for l, (b, A) in enumerate(weights):
        b = [to_fraction(v) for v in b]
        A = [[to_fraction(v) for v in row] for row in A]
        if len(b) != d + 1 or len(A) != d + 1 or any(len(r) != d for r in A):
            raise UserInputError(f"layer {l}: need b of length {d + 1} and A of shape ({d + 1}, {d})")
        out.append((b, A))
    if not out:
        raise UserInputError("need at least one layer of weights")
    return out


def _dot(u, v) -> Fraction:
    return sum((a * b for a, b in zip(u, v)), Fraction(0))


def _mm(A: Mat, B: Mat) -> Mat:
    Bt = list(zip(*B))
    return [[_dot(r, c) for c in Bt] for r in A]


def _T(A: Mat) -> Mat:
    return [list(r) for r in zip(*A)]


# --------------------------------------------------------------------------- steps 1 and 2

def exact_forward(prompt, weights) -> list[Mat]:
    """``[Z_0, .., Z_L]`` by the generic masked formula with full ``P_l``, ``Q_l`` (exact)."""
    x, y = as_prompt(prompt)
    n, d = len(y), len(x[0])
    W = as_weights(weights, d)
    Z = [[x[i][k] for i in range(n + 1)] for k in range(d)] + [list(y) + [Fraction(0)]]
    M = [[Fraction(int(i == j and i < n)) for j in range(n + 1)] for i in range(n + 1)]
    out = [Z]
    for b, A in W:
        P = [[Fraction(0)] * (d + 1) for _ in range(d)] + [list(b)]
        Q = [list(A[r]) + [Fraction(0)] for r in range(d + 1)]
        att = _mm(_mm(_mm(_mm(P, Z), M), _mm(_T(Z), Q)), Z)
        Z = [[Z[r][c] + att[r][c] / n for c in range(n + 1)] for r in range(d + 1)]
        out.append(Z)
    return out


def query_outputs(prompt, weights) -> list[Fraction]:
    """``y_q^{(l)}`` for ``l = 0..L`` (``[Z_l]_{d+1, n+1}``)."""
    return [Z[-1][-1] for Z in exact_forward(prompt, weights)]


def _G_of_theta(x: Mat, y: Vec, theta: Vec) -> Mat:
    n = len(y)
    zs = [list(x[j]) + [y[j] + _dot(theta, x[j])] for j in range(n)]
    m = len(zs[0])
    return [[sum((z[a] * z[c] for z in zs), Fraction(0)) / n for c in range(m)] for a in range(m)]


@derivation
def theta_recursion(prompt, weights) -> list[Vec]:
    """``theta_0 = 0``, ``theta_{l+1} = theta_l + A_l^T G(theta_l) b_l`` (derived; see module doc)."""
    x, y = as_prompt(prompt)
    d = len(x[0])
    theta = [Fraction(0)] * d
    out = [theta]
    for b, A in as_weights(weights, d):
        Gb = [_dot(row, b) for row in _G_of_theta(x, y, theta)]
        theta = [theta[k] + sum((A[a][k] * Gb[a] for a in range(d + 1)), Fraction(0)) for k in range(d)]
        out.append(theta)
    return out


def check_theta_recursion(prompt, weights) -> dict:
    """Whether every ``Z_l`` equals ``[[x_1 .. x_q], [y_j + theta_l^T x_j .., theta_l^T x_q]]`` exactly."""
    x, y = as_prompt(prompt)
    n, d = len(y), len(x[0])
    Zs = exact_forward((x, y), weights)
    thetas = theta_recursion((x, y), weights)
    for l, (Z, th) in enumerate(zip(Zs, thetas)):
        want = [[x[i][k] for i in range(n + 1)] for k in range(d)]
        want.append([y[j] + _dot(th, x[j]) for j in range(n)] + [_dot(th, x[n])])
        if Z != want:
            bad = next((r, c) for r in range(d + 1) for c in range(n + 1) if Z[r][c] != want[r][c])
            return {"holds": False, "layer": l, "entry": bad, "forward": str(Z[bad[0]][bad[1]]),
                    "recursion": str(want[bad[0]][bad[1]]), "theta": [str(v) for v in th]}
    return {"holds": True, "layers": len(Zs) - 1, "theta": [[str(v) for v in th] for th in thetas]}


# --------------------------------------------------------------------------- step 3: printed objectives

def _check_cubic(cubic: str) -> str:
    if cubic not in CUBIC_READINGS:
        raise UserInputError(f"unknown cubic reading {cubic!r} (known: {', '.join(CUBIC_READINGS)})")
    return cubic


@lru_cache(maxsize=None)
def printed_objective_terms(d: int, cubic: str = "divide") -> dict:
    """Per-chain summands of the printed ``R_1``, ``R_2`` (``R_i = (1/n) sum_j`` of these) as sympy
    expressions in symbols ``x_1..x_d, y, w_1..w_d``.

    ``R2_nonzero`` is the summand where ``x_{j,d} != 0`` (cubic term, in the chosen reading),
    ``R2_zero`` where ``x_{j,d} = 0``; they differ only in the last component.
    """
    _check_cubic(cubic)
    if d < 2:
        raise UserInputError(f"Theorem 4.1 is stated for d >= 2 (w_{{:d-1}} must exist); got d = {d}")
    x = sp.symbols(f"x1:{d + 1}")
    w = sp.symbols(f"w1:{d + 1}")
    y = sp.Symbol("y")
    wx = sum(wi * xi for wi, xi in zip(w, x))
    wx_head = sum(wi * xi for wi, xi in zip(w[:-1], x[:-1]))  # <w_{:d-1}, x_{:d-1}>
    r1 = [-x[k] * wx for k in range(d)] + [sp.Rational(1, 2) * (wx - y) ** 2]
    r2_head = [-x[k] * w[-1] * (y - wx_head) + w[-1] ** 2 / 2 * x[k] * x[-1] for k in range(d)]
    if cubic == "divide":
        last_nz = (y - wx) ** 3 / (3 * x[-1])
    else:
        last_nz = x[-1] * (y - wx) ** 3 / 3
    last_zero = -((y - wx_head) ** 2) * w[-1]
    return {"x": x, "y": y, "w": w, "R1": r1, "R2_nonzero": r2_head + [last_nz], "R2_zero": r2_head + [last_zero]}


class _FractionPrinter(PythonCodePrinter):
    """Prints sympy Rationals as ``Fraction(p, q)`` so lambdified code stays exact."""

    def _print_Rational(self, e):
        return f"Fraction({e.p}, {e.q})"

    _print_Half = _print_Rational


@lru_cache(maxsize=None)
def printed_jacobians(d: int, cubic: str = "divide") -> dict:
    """``sympy.diff`` of the printed summands w.r.t. ``w`` -> ``(d+1) x d`` sympy Matrices, plus exact
    evaluators ``f(x_1..x_d, y, w_1..w_d) -> list of rows`` (keys ``J1``, ``J2_nonzero``, ``J2_zero``)."""
    t = printed_objective_terms(d, cubic)
    args = (*t["x"], t["y"], *t["w"])
    out = {}
    for key, src in (("J1", "R1"), ("J2_nonzero", "R2_nonzero"), ("J2_zero", "R2_zero")):
        J = sp.Matrix([[sp.diff(comp, wk) for wk in t["w"]] for comp in t[src]])
        out[key] = J
        out[key + "_eval"] = sp.lambdify(args, J.tolist(), modules=[{"Fraction": Fraction}],
                                         printer=_FractionPrinter)
    return out


def _jacobians_at(x: Mat, y: Vec, w: Vec, cubic: str) -> tuple[Mat, Mat]:
    """``(grad R_1(w), grad R_2(w))`` for one prompt: averages of the per-chain Jacobians."""
    d, n = len(w), len(y)
    J = printed_jacobians(d, cubic)
    J1 = [[Fraction(0)] * d for _ in range(d + 1)]
    J2 = [[Fraction(0)] * d for _ in range(d + 1)]
    for j in range(n):
        a = (*x[j], y[j], *w)
        for acc, rows in ((J1, J["J1_eval"](*a)),
                          (J2, J["J2_nonzero_eval" if x[j][-1] != 0 else "J2_zero_eval"](*a))):
            for r in range(d + 1):
                for c in range(d):
                    acc[r][c] += to_fraction(rows[r][c])
    return ([[v / n for v in r] for r in J1], [[v / n for v in r] for r in J2])


def printed_w_recursion(prompt, weights, cubic: str = "divide") -> list[Vec]:
    """``w_0 = 0``, ``w_{l+1}^T = w_l^T - b_l^T (grad R_1 Abar_l + grad R_2 [0; a_l^T])`` with
    ``A_l = -[Abar_l; a_l^T]``, exactly as printed."""
    _check_cubic(cubic)
    x, y = as_prompt(prompt)
    d = len(x[0])
    w = [Fraction(0)] * d
    out = [w]
    for b, A in as_weights(weights, d):
        Abar = [[-v for v in A[r]] for r in range(d)]
        E = [[Fraction(0)] * d for _ in range(d - 1)] + [[-v for v in A[d]]]  # [0_{(d-1) x d}; a^T]
        J1, J2 = _jacobians_at(x, y, w, cubic)
        pre = [[u + v for u, v in zip(r1, r2)] for r1, r2 in zip(_mm(J1, Abar), _mm(J2, E))]
        step = [sum((b[a] * pre[a][k] for a in range(d + 1)), Fraction(0)) for k in range(d)]
        w = [w[k] - step[k] for k in range(d)]
        out.append(w)
    return out


# --------------------------------------------------------------------------- step 4: the identity

def _prompt_json(x: Mat, y: Vec) -> dict:
    return {"x": [[str(v) for v in r] for r in x], "y": [str(v) for v in y]}


def _weights_json(W) -> list[dict]:
    return [{"b": [str(v) for v in b], "A": [[str(v) for v in r] for r in A]} for b, A in W]


def check_identity(prompt_states_or_xy, weights, convention: str = "negated", cubic: str = "divide") -> dict:
    """Test ``y_q^{(l)} = s <w_l, x_q>`` (``s = +1`` printed, ``-1`` negated) for ``l = 1..L`` exactly.

    ``y_q^{(l)}`` comes from the exact generic forward pass, ``w_l`` from the printed update with the
    Jacobians of the printed objectives.  Also reports whether the whole vector ``w_l`` equals
    ``s theta_l`` (the derived recursion) and whether that recursion matches the forward pass.
    Returns ``{"holds", "layers": [...], "witness": None | {...}, ...}``; the witness holds the prompt,
    weights, the first failing layer and both sides as exact fractions (strings ``"p/q"``).
    """
    if convention not in _CONVENTION_ALIASES:
        raise UserInputError(f"unknown convention {convention!r} (known: printed / i, negated / ii)")
    convention = _CONVENTION_ALIASES[convention]
    s = CONVENTIONS[convention]
    _check_cubic(cubic)
    x, y = as_prompt(prompt_states_or_xy)
    d = len(x[0])
    if d < 2:
        raise UserInputError("Theorem 4.1 needs d >= 2")
    W = as_weights(weights, d)
    yq = query_outputs((x, y), W)
    ws = printed_w_recursion((x, y), W, cubic)
    thetas = theta_recursion((x, y), W)
    layers, witness = [], None
    for l in range(1, len(W) + 1):
        rhs = s * _dot(ws[l], x[-1])
        ok = yq[l] == rhs
        layers.append({"layer": l, "y_q": str(yq[l]), "rhs": str(rhs), "equal": ok,
                       "w_equals_s_theta": ws[l] == [s * t for t in thetas[l]]})
        if not ok and witness is None:
            witness = {"prompt": _prompt_json(x, y), "weights": _weights_json(W), "layer": l,
                       "convention": convention, "cubic": cubic,
                       "lhs_y_q": str(yq[l]), "rhs_s_w_xq": str(rhs),
                       "w": [str(v) for v in ws[l]], "theta": [str(v) for v in thetas[l]]}
    theta_ok = check_theta_recursion((x, y), W)["holds"]
    return {"holds": witness is None, "convention": convention, "cubic": cubic, "layers": layers,
            "theta_recursion_holds": theta_ok, "witness": witness}


def symbolic_check(d: int, cubic: str = "divide") -> dict:
    """Per-chain symbolic identity behind convention (ii), for generic real ``x, y, w``.

    With ``z(theta) = [x; y + theta^T x]`` and ``G_chain = z z^T``: checks
    ``J1(w) + G_chain(-w)[:, :d] == 0`` and ``J2(w)[:, d] + G_chain(-w)[:, d+1] == 0`` on each branch
    of ``R_2`` (the zero branch with ``x_d = 0`` substituted).  Since ``grad R_i`` are chain averages
    and only column ``d`` of ``grad R_2`` meets ``[0; a^T]``, this proves ``w_l = -theta_l`` for every
    prompt whenever it returns ``holds``.  The residuals are returned simplified (non-zero = refuted).
    """
    t = printed_objective_terms(d, cubic)
    J = printed_jacobians(d, cubic)
    x, y, w = t["x"], t["y"], t["w"]
    z = sp.Matrix(list(x) + [y - sum(wi * xi for wi, xi in zip(w, x))])
    Gc = z * z.T
    res1 = sp.simplify(J["J1"] + Gc[:, :d])
    res_nz = sp.simplify(J["J2_nonzero"][:, d - 1] + Gc[:, d])
    res_z = sp.simplify((J["J2_zero"][:, d - 1] + Gc[:, d]).subs(x[-1], 0))
    parts = {"grad_R1": res1, "grad_R2_col_d_nonzero_branch": res_nz, "grad_R2_col_d_zero_branch": res_z}
    return {"d": d, "cubic": cubic, "holds": all(r.is_zero_matrix for r in parts.values()),
            "residuals": {k: str(v.T if v.shape[1] == 1 else v) for k, v in parts.items()},
            "dR2_last_dwd_nonzero_branch": str(sp.factor(J["J2_nonzero"][d, d - 1]))}


# --------------------------------------------------------------------------- random instances

KINDS = ("binary", "ternary", "rational")


def _rat(rng: np.random.Generator, num: int, den: int) -> Fraction:
    return Fraction(int(rng.integers(-num, num + 1)), int(rng.integers(1, den + 1)))


def random_instance(rng: np.random.Generator, d: int, n: int, L: int, kind: str = "binary") -> dict:
    """One exact instance ``{"prompt": states (n+1)x(d+1) of Fractions, "weights": [(b, A)], ...}``.

    ``binary``: states in {0, 1} with context chains having ``x_{j,d} = 0`` and ``= 1`` (both branches
    of ``R_2``); ``ternary``: states in {0, 1, 2} with ``x_{j,d} = 0`` and ``= 2`` present;
    ``rational``: states ``p/q``, ``|p| <= 5``, ``q <= 4``, with one context chain having ``x_{j,d} = 0``.
    Weights are rationals ``p/q``, ``|p| <= 3``, ``q <= 3``.
    """
    if kind not in KINDS:
        raise UserInputError(f"unknown instance kind {kind!r} (known: {', '.join(KINDS)})")
    if d < 2 or n < 2 or L < 1:
        raise UserInputError("random instances need d >= 2, n >= 2, L >= 1")
    if kind == "rational":
        st = [[_rat(rng, 5, 4) for _ in range(d + 1)] for _ in range(n + 1)]
        st[0][d - 1] = Fraction(0)
        if st[1][d - 1] == 0:
            st[1][d - 1] = Fraction(1, 2)
    else:
        S = 2 if kind == "binary" else 3
        st = [[Fraction(int(v)) for v in row] for row in rng.integers(0, S, size=(n + 1, d + 1))]
        st[0][d - 1] = Fraction(0)
        st[1][d - 1] = Fraction(S - 1)
    weights = [([_rat(rng, 3, 3) for _ in range(d + 1)], [[_rat(rng, 3, 3) for _ in range(d)] for _ in range(d + 1)])
               for _ in range(L)]
    return {"kind": kind, "d": d, "n": n, "L": L, "prompt": st, "weights": weights}


def random_instances(seed: int = 0, count: int = 20, kinds: Sequence[str] = ("binary",), d_range=(2, 4),
                     n_range=(2, 5), L_max: int = 3) -> list[dict]:
    """``count`` instances cycling through ``kinds``, with d, n, L drawn uniformly (deterministic)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        d = int(rng.integers(d_range[0], d_range[1] + 1))
        n = int(rng.integers(n_range[0], n_range[1] + 1))
        L = int(rng.integers(1, L_max + 1))
        out.append(random_instance(rng, d, n, L, kinds[i % len(kinds)]))
    return out


def survey(instances: Iterable[dict], conventions: Sequence[str] = ("negated", "printed"),
           cubics: Sequence[str] = CUBIC_READINGS) -> dict[str, Any]:
    """For each (convention, cubic) pair: how many instances satisfy the identity, and the first
    witness of a failure.  Keys ``"negated/divide"`` etc."""
    instances = list(instances)
    out: dict[str, Any] = {}
    for conv in conventions:
        for cub in cubics:
            holds, witness = 0, None
            for inst in instances:
                r = check_identity(inst["prompt"], inst["weights"], conv, cub)
                holds += r["holds"]
                if witness is None and r["witness"] is not None:
                    witness = dict(r["witness"], kind=inst["kind"])
            out[f"{conv}/{cub}"] = {"instances": len(instances), "holds": holds, "witness": witness}
    return out
