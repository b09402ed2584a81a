"""ding25 Theorem 4.1 (multilayer LSA = preconditioned multi-objective GD), checked in exact arithmetic."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.ding25 import thm41
from icl_proofs.claims.ding25 import multilayer as mm


def _has_last_input(inst, value) -> bool:
    d = inst["d"]
    return any(row[d - 1] == value for row in inst["prompt"][:-1])


def test_theta_recursion_matches_exact_forward_pass():
    """Theorem 4.1 set-up (P_l = [0; b_l^T], Q_l = [A_l, 0]).  Route: the exact generic masked forward
    pass equals the derived recursion: labels y_j + theta_l^T x_j, query theta_l^T x_q,
    theta_{l+1}^T = theta_l^T + b_l^T G(theta_l) A_l; also the float model agrees."""
    for inst in thm41.random_instances(seed=7, count=20, kinds=("binary", "ternary", "rational")):
        r = thm41.check_theta_recursion(inst["prompt"], inst["weights"])
        assert r["holds"], r
    inst = thm41.random_instance(np.random.default_rng(3), 3, 4, 3, "ternary")
    b = np.array([[float(v) for v in bl] for bl, _ in inst["weights"]])
    A = np.array([[[float(v) for v in row] for row in Al] for _, Al in inst["weights"]])
    st = np.array([[int(v) for v in row] for row in inst["prompt"]])[None]
    assert mm.structured_forward(st, b, A)[0] == pytest.approx(float(thm41.query_outputs(inst["prompt"], inst["weights"])[-1]),
                                                                rel=1e-10)


def test_identity_holds_with_negated_sign_on_exact_instances():
    """Theorem 4.1: y_q^{(l)} = <w_l, x_q> with w_{l+1}^T = w_l^T - b_l^T(grad R_1 Abar_l + grad R_2 [0; a_l^T]).
    Route: exact forward pass vs the printed update with sympy-differentiated printed objectives, on 20
    binary instances (context chains with x_{j,d} = 0 and = 1, d >= 2, L up to 3).  It holds exactly
    with y_q^{(l)} = -<w_l, x_q> (w_l = -theta_l).  Work counted, not timed: the printed objectives
    are differentiated symbolically once per dimension d, never per instance, chain or layer (the
    rest is exact rational evaluation; ~0.3 s when the machine is free)."""
    insts = thm41.random_instances(seed=0, count=20, kinds=("binary",))
    assert all(_has_last_input(i, 0) and _has_last_input(i, 1) and i["d"] >= 2 for i in insts)
    assert max(i["L"] for i in insts) == 3
    thm41.printed_jacobians.cache_clear()
    for inst in insts:
        r = thm41.check_identity(inst["prompt"], inst["weights"], convention="negated", cubic="divide")
        assert r["holds"] and r["witness"] is None and r["theta_recursion_holds"], r
        assert all(layer["w_equals_s_theta"] for layer in r["layers"])
    assert thm41.printed_jacobians.cache_info().misses == len({i["d"] for i in insts})


def test_printed_sign_convention_is_refuted_with_a_witness():
    """Theorem 4.1 as printed (w_l = theta_l, y_q^{(l)} = +<w_l, x_q>).  Route: exact comparison; the
    witness is re-checked independently (its y_q recomputed by the exact forward pass) and shows
    y_q = -<w, x_q> != <w, x_q>."""
    s = thm41.survey(thm41.random_instances(seed=0, count=20, kinds=("binary",)), conventions=("printed",), cubics=("divide",))
    res = s["printed/divide"]
    assert res["holds"] < res["instances"]
    w = res["witness"]
    assert w is not None and w["convention"] == "printed"
    lhs, rhs = Fraction(w["lhs_y_q"]), Fraction(w["rhs_s_w_xq"])
    assert lhs != rhs and lhs == -rhs
    prompt = (w["prompt"]["x"], w["prompt"]["y"])
    weights = [(layer["b"], layer["A"]) for layer in w["weights"]]
    assert thm41.query_outputs(prompt, weights)[w["layer"]] == lhs
    assert [Fraction(v) for v in w["w"]] == [-Fraction(v) for v in w["theta"]]


def test_cubic_reading_divide_holds_for_real_states_and_multiply_fails():
    """Theorem 4.1's cubic term '1/3 x_{j,d} (y - w^T x)^3' of R_2.  Route: on binary prompts the readings
    (y - w^T x)^3/(3 x_{j,d}) and x_{j,d}(y - w^T x)^3/3 agree; on states {0,1,2} and random rationals
    only the 'divide' reading gives the identity (the other is refuted with a witness having some
    x_{j,d} not in {0, +-1}); symbolically d/dw_d of the divide reading is -(y - w^T x)^2 = -G_{d+1,d+1}."""
    binary = thm41.survey(thm41.random_instances(seed=1, count=8, kinds=("binary",)), conventions=("negated",))
    assert binary["negated/divide"]["holds"] == binary["negated/multiply"]["holds"] == 8
    real = thm41.survey(thm41.random_instances(seed=2, count=12, kinds=("ternary", "rational")), conventions=("negated",))
    assert real["negated/divide"]["holds"] == 12
    assert real["negated/multiply"]["holds"] < 12
    wit = real["negated/multiply"]["witness"]
    assert Fraction(wit["lhs_y_q"]) != Fraction(wit["rhs_s_w_xq"])
    assert any(Fraction(row[-1]) not in (0, 1, -1) for row in wit["prompt"]["x"][:-1])
    for d in (2, 3):
        assert thm41.symbolic_check(d, "divide")["holds"]
        assert not thm41.symbolic_check(d, "multiply")["holds"]


def test_bad_inputs_are_user_errors():
    """Exact checks refuse floats, d < 2 and mis-shaped weights with a one-line UserInputError."""
    inst = thm41.random_instance(np.random.default_rng(0), 2, 3, 1, "binary")
    with pytest.raises(UserInputError):
        thm41.check_identity([[0.5, 1, 0]] * 4, inst["weights"])
    with pytest.raises(UserInputError):
        thm41.check_identity([[0, 1], [1, 1], [0, 0]], [([1, 1], [[1], [1]])])
    with pytest.raises(UserInputError):
        thm41.check_identity(inst["prompt"], [([1, 1], [[1, 1]])])
    with pytest.raises(UserInputError):
        thm41.check_identity(inst["prompt"], inst["weights"], convention="other")
