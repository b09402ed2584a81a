"""ding25 Theorem 3.5 / C.14: the reduction from bilinear separability, tested both ways, and its target."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.ding25.markov_lsa import m_of, phi
from icl_proofs.claims.ding25.bilinear import backward_map, bilinear_program_value, c9_instance, check_separation, forward_map, is_problem_c9_instance, known_instances, linearly_separable, literal_counterexample, random_instance, reduce_separability, separable_bruteforce, solve_bilinear_alternating, xor_instance

RANDOM = [random_instance(mp, kp, 2, seed, radius=2) for seed in range(4) for (mp, kp) in ((2, 2), (3, 3))]


def test_known_answers_bruteforce_and_heuristic():
    """Bennett & Mangasarian Thm 3.1 (paper eq. 69), route: LP brute force vs alternating-LP heuristic on
    hand-solved instances (XOR: 2-plane but not 1-plane separable; 'inside', 'cross': not separable)."""
    for name, Ap, B, sep in known_instances():
        r = separable_bruteforce(Ap, B)
        assert r.separable == sep, name
        if sep:
            assert check_separation(Ap, B, r.w1, r.gamma1, r.w2, r.gamma2)  # exact margins
        v = bilinear_program_value(Ap, B, starts=6)
        assert (v.value <= 1e-9) == sep, (name, v.value)
    assert not linearly_separable(*xor_instance())


def test_random_bruteforce_vs_heuristic():
    """B&M Thm 3.1, route: on random integer instances the heuristic's zero is always a true separation
    (soundness) and, on these seeds, is found whenever the brute force says separable."""
    for Ap, B in RANDOM:
        r = separable_bruteforce(Ap, B)
        v = bilinear_program_value(Ap, B, starts=8)
        if v.value <= 1e-9:
            assert check_separation(Ap, B, v.w1, v.gamma1, v.w2, v.gamma2, tol=1e-6)
        assert r.separable == (v.value <= 1e-9)


def test_example_c13_layout():
    """Example C.13 (m' = k' = n' = 2), route: structural -- d = 8 and dm = 8 * 45 = 360 as printed; the
    constraints of groups 1-3 sit at the paper's r = 46, 47, 48 and 91, 92, 93 (1-based); group 4 needs
    column 1 (r = 2, 3), because z2 lives in A[:, 1] and b^T D A[:, j] (j >= 2) never sees it."""
    inst = reduce_separability(*xor_instance())
    assert (inst.d, inst.m, inst.d * inst.m) == (8, 45, 360)
    r1 = {r + 1 for r in inst.D}
    assert {46, 47, 48, 91, 92, 93} <= r1 and {2, 3} <= r1 and not {49, 94} & set(
        r + 1 for r in inst.D if "B_" in inst.names[r] and "w2" in inst.names[r])
    lay = inst.layout
    for r, D in inst.D.items():
        touches_z2 = any(D[a, c] != 0 for a in range(inst.d + 1) for c in lay.z2)
        if touches_z2 and r // inst.m == 0:
            continue
        if touches_z2:  # pragma: no cover
            pytest.fail(f"r={r} pairs with z2 rows outside column 1")
    lit = reduce_separability(*xor_instance(), nonnegativity="none")
    assert len(lit.D) == 1 + 8  # D^(1) plus the 8 scalar constraints counted in the text


def _separable_cases():
    cases = [(Ap, B) for _, Ap, B, sep in known_instances() if sep]
    return cases + [(Ap, B) for Ap, B in RANDOM if separable_bruteforce(Ap, B).separable]


def test_forward_map_exact():
    """Theorem C.14 (forward direction), route: exact -- a separating (w, gamma) from the LP brute force
    maps to (b, A) satisfying every reduced constraint and fixing exactly (Fractions)."""
    for Ap, B in _separable_cases():
        r = separable_bruteforce(Ap, B)
        for mode in ("explicit", "none"):
            inst = reduce_separability(Ap, B, mode)
            b, A = forward_map(inst, Ap, B, r.w1, r.gamma1, r.w2, r.gamma2)
            assert all(isinstance(x, Fraction) for x in b)
            assert inst.violations(b, A) == []


def test_backward_map_exact_on_perturbed_solutions():
    """Theorem C.14 (backward direction), route: exact -- reduced solutions (forward images with z's
    enlarged where the other factor is 0, still feasible) map back to exact separations."""
    for Ap, B in _separable_cases():
        r = separable_bruteforce(Ap, B)
        inst = reduce_separability(Ap, B)
        b, A = forward_map(inst, Ap, B, r.w1, r.gamma1, r.w2, r.gamma2)
        lay = inst.layout
        for i in range(lay.k):
            if A[lay.z2[i]][0] == 0:
                b[lay.z1[i]] += Fraction(7, 3)
            elif b[lay.z1[i]] == 0:
                A[lay.z2[i]][0] += Fraction(5, 2)
        assert inst.violations(b, A) == []
        v = backward_map(inst, b, A)
        assert check_separation(Ap, B, v["w1"], v["g1"], v["w2"], v["g2"])


def test_backward_map_numeric_generic_solver():
    """Theorem C.14 (both directions), route: a generic alternating-LP solver for the reduced bilinear
    system (uses only D, X, senses, fixings) finds a solution iff the LP brute force says separable, and
    each solution it finds maps back to a separation (float tolerance)."""
    cases = [(Ap, B) for _, Ap, B, _ in known_instances()] + RANDOM[:4]
    for Ap, B in cases:
        sep = separable_bruteforce(Ap, B).separable
        inst = reduce_separability(Ap, B)
        sol = solve_bilinear_alternating(inst, seed=1)
        found = sol["merit"] < 1e-7
        assert found == sep
        if found:
            v = backward_map(inst, list(sol["b"]), sol["A"].tolist())
            assert check_separation(Ap, B, v["w1"], v["g1"], v["w2"], v["g2"], tol=1e-6)


def test_literal_reduction_is_unsound():
    """Theorem C.14 as printed (nonnegativity only via 'splitting', i.e. none in C.10/C.11), route: exact
    counterexample -- a non-separable instance whose reduced system has an exact solution; the generic
    solver also finds reduced solutions for the non-separable 'inside' and 'cross' instances."""
    Ap, B, inst, b, A = literal_counterexample()
    assert not separable_bruteforce(Ap, B).separable
    assert inst.violations(b, A) == []
    v = backward_map(inst, b, A)
    assert min(v["z1"]) < 0 and not check_separation(Ap, B, v["w1"], v["g1"], v["w2"], v["g2"])
    assert reduce_separability(Ap, B, "explicit").violations(b, A)  # explicit signs reject it
    for name, Ap, B, sep in known_instances():
        if not sep:
            sol = solve_bilinear_alternating(reduce_separability(Ap, B, "none"), seed=0)
            assert sol["merit"] < 1e-7, name


def test_reduction_target_is_not_problem_c9():
    """Theorem 3.5 vs Problem C.9, route: structural -- the reduction's data (D^(r), fixings, inequalities)
    is not a C.9 instance on any count, while the phi pattern itself is (and matches the model's phi)."""
    for _, Ap, B, _ in known_instances():
        inst = reduce_separability(Ap, B)
        ok, why = is_problem_c9_instance(inst.D, inst.d, inst.fixings, inst.inequalities)
        assert not ok and "fixed" in why
        ok, why = is_problem_c9_instance(inst.D, inst.d, None, inst.inequalities)
        assert not ok and "inequalit" in why
        ok, why = is_problem_c9_instance(inst.D, inst.d)
        assert not ok and why.startswith("D^(1)")
    for d in (1, 2, 3):
        Ds = c9_instance(d)
        assert is_problem_c9_instance(Ds, d, {}, []) == (True, is_problem_c9_instance(Ds, d)[1])
        rng = np.random.default_rng(d)
        b, A = rng.standard_normal(d + 1), rng.standard_normal((d + 1, d))
        X = phi(b, A)
        m = m_of(d)
        assert np.allclose([b @ Ds[r] @ A[:, r // m] for r in range(d * m)], X)
        Ds[1] = 2 * Ds[1]
        assert not is_problem_c9_instance(Ds, d)[0]
        assert not is_problem_c9_instance(Ds[:-1], d)[0]


def test_bad_input():
    """Input handling of the separability tools: one-line UserInputErrors."""
    bad = [
        lambda: separable_bruteforce([[1, 2]], [[1, 2, 3]]),
        lambda: separable_bruteforce([], [[1, 2]]),
        lambda: separable_bruteforce([[1, float("nan")]], [[0, 0]]),
        lambda: separable_bruteforce([[1, float("inf")]], [[0, 0]]),
        lambda: reduce_separability(*xor_instance(), nonnegativity="split"),
        lambda: bilinear_program_value([1, 2], [[0, 0]]),
    ]
    for f in bad:
        with pytest.raises(UserInputError) as ei:
            f()
        assert "\n" not in str(ei.value)
