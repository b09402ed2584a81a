"""dd25.hermite: the Hermite layer (icl_proofs.moments.hermite) and its claim.

Each test names the identity it checks and asserts one equality; where a second route is used, the
test says which.  g ~ N(0, 1), He_i the probabilists' Hermite polynomials, c_i = E[σ(g)He_i(g)]/i!.
"""
import json
import math

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner
from mpmath import mp

import icl_proofs.claims.dd25  # noqa: F401  (registers dd25.hermite)
from icl_proofs.claims import CheckContext, Status, UserInputError, get
from icl_proofs.cli import cli
from icl_proofs.moments import hermite
from icl_proofs.moments.elementwise import GaussianVector
from icl_proofs.numeric.precision import digits_agreed, to_mpf

x = hermite.X


def _textbook_relu(n):
    """Known ReLU coefficients (Stein: E[ReLU He_n] = E[ReLU^(n)] = He_{n−2}(0) φ(0) for n ≥ 2)."""
    if n == 0:
        return 1 / sp.sqrt(2 * sp.pi)
    if n == 1:
        return sp.Rational(1, 2)
    return sp.hermite_prob(n - 2, 0) / (sp.sqrt(2 * sp.pi) * sp.factorial(n))


# ------------------------------------------------------------------ Hermite polynomials, moments


def test_recurrence_is_sympys_hermite_prob():
    """He_{i+1} = x He_i − i He_{i−1} gives SymPy's hermite_prob (second route: the library), i ≤ 12."""
    assert [hermite.hermite_poly(i).as_expr() for i in range(13)] == \
        [sp.expand(sp.hermite_prob(i, x)) for i in range(13)]


def test_gaussian_moments_are_double_factorials():
    """E[g^{2m}] = (2m−1)!!, E[g^{2m+1}] = 0 (SymPy integration vs the formula), m ≤ 10."""
    assert [hermite.gaussian_moment(m) for m in range(21)] == \
        [sp.factorial2(m - 1) if m % 2 == 0 else 0 for m in range(21)]


def test_gaussian_moments_match_the_mgf_engine():
    """E[g^m]: SymPy integration = MGF coefficient extraction (elementwise engine), m ≤ 16."""
    g = GaussianVector("g", [[1]])
    assert [hermite.gaussian_moment(m) for m in range(17)] == [g.moment((m,)) for m in range(17)]


def test_hermite_orthogonality():
    """E[He_i He_j] = i! δ_ij for i, j ≤ 10 (exact, from the integrated moments)."""
    def gram(i, j):
        prod = hermite.hermite_poly(i) * hermite.hermite_poly(j)
        return sum(c * hermite.gaussian_moment(m) for (m,), c in prod.terms())

    assert sp.Matrix(11, 11, gram) == sp.diag(*[sp.factorial(i) for i in range(11)])


def test_gelu_moments_even_by_symmetry():
    """E[g^{2k} Φ(g)] = E[g^{2k}]/2 since Φ − 1/2 is odd (second route to the by-parts recursion), k ≤ 10."""
    assert [hermite.gelu_moment(2 * k) for k in range(11)] == [hermite.gaussian_moment(2 * k) / 2 for k in range(11)]


def test_gelu_moments_by_direct_integration():
    """E[g^m Φ(g)] for m = 1, 3: by-parts recursion = SymPy's direct integral of x^m Φ φ."""
    Phi = (1 + sp.erf(x / sp.sqrt(2))) / 2
    direct = [sp.simplify(sp.integrate(x**m * Phi * hermite._PHI, (x, -sp.oo, sp.oo))) for m in (1, 3)]
    assert [sp.simplify(hermite.gelu_moment(m) - d) for m, d in zip((1, 3), direct)] == [0, 0]


# ------------------------------------------------------------------ closed forms


def test_relu_closed_form_is_the_textbook_formula():
    """Derived ReLU c_n = He_{n−2}(0)/(sqrt(2π) n!) (n ≥ 2), c_0 = 1/sqrt(2π), c_1 = 1/2, n ≤ 20."""
    derived = hermite.hermite_coefficients_symbolic("relu", 20)
    assert [sp.simplify(d - _textbook_relu(n)) for n, d in enumerate(derived)] == [0] * 21


def test_relu_quadrature_is_the_textbook_formula():
    """Quadrature c_n (dps 30) = textbook ReLU formula to ≥ 28 digits, n ≤ 12 (zero ones: |c_n| < 1e-28)."""
    c = hermite.hermite_coefficients("relu", 12)
    with mp.workdps(30):
        ok = [digits_agreed(to_mpf(_textbook_relu(n), 40), c[n], cap=30) >= 28 if _textbook_relu(n) != 0
              else abs(c[n]) < mp.mpf(10) ** -28 for n in range(13)]
    assert ok == [True] * 13


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_closed_form_matches_quadrature_up_to_the_cap(name):
    """Closed form vs tanh-sinh quadrature at dps 30 for c_0..c_40: ≥ 28 digits (normalised, absolute
    for the zero coefficients): the documented accuracy behind MAX_P."""
    sym = hermite.hermite_coefficients_symbolic(name, hermite.MAX_P)
    num = hermite.hermite_coefficients(name, hermite.MAX_P, 30)
    with mp.workdps(40):
        worst = min(
            digits_agreed(to_mpf(s, 40), v, cap=30) if s != 0
            else int(-mp.log10(abs(v) * mp.sqrt(mp.factorial(i)) + mp.mpf(10) ** -40))
            for i, (s, v) in enumerate(zip(sym, num)))
    assert worst >= 28


def test_tanh_coefficients_stable_in_precision():
    """tanh c_0..c_40 at dps 30 agree with a dps 50 run to ≥ 28 digits (no closed form: precision route)."""
    lo, hi = hermite.hermite_coefficients("tanh", hermite.MAX_P, 30), hermite.hermite_coefficients("tanh", hermite.MAX_P, 50)
    with mp.workdps(60):
        worst = min(digits_agreed(a, b, cap=30) for a, b in zip(lo, hi) if abs(b) > mp.mpf(10) ** -40)
        zero = max(abs(a) for a, b in zip(lo, hi) if abs(b) <= mp.mpf(10) ** -40)
    assert (worst >= 28, zero) == (True, 0)


def test_gelu_c1_and_alpha_are_one_half():
    """Stein: GELU α = E[Φ(g) + gφ(g)] = 1/2 = c_1 (closed form)."""
    assert hermite.hermite_coefficients_symbolic("gelu", 1)[1] == sp.Rational(1, 2)


def test_symbolic_coefficients_refused_without_closed_form():
    """tanh has no closed form: a one-line UserInputError."""
    with pytest.raises(UserInputError, match="no closed-form"):
        hermite.hermite_coefficients_symbolic("tanh", 3)


# ------------------------------------------------------------------ quadrature API


@pytest.mark.parametrize("name", hermite.ACTIVATIONS)
def test_residual_is_second_moment_minus_parseval_sum(name):
    """(c*_p)² = E[σ²] − Σ i! c_i² ≥ 0 and decreasing in p (Bessel), p ≤ 10."""
    r = [hermite.residual_sq(name, p) for p in range(11)]
    assert all(a >= b >= -1e-28 for a, b in zip(r, r[1:]))


def test_equivalent_gives_cstar_squared_residual():
    """equivalent() returns c* with (c*)² = residual_sq (tanh, p = 5)."""
    c, cstar = hermite.equivalent("tanh", 5)
    with mp.workdps(30):
        assert digits_agreed(cstar**2, hermite.residual_sq("tanh", 5), cap=30) >= 28


def test_global_precision_untouched():
    """Every routine runs under workdps: mp.dps is the same before and after."""
    before = mp.dps
    hermite.hermite_coefficients("sigmoid", 7, dps=45)
    hermite.gaussian_expectation(lambda t: t * t, dps=25)
    assert mp.dps == before


@pytest.mark.parametrize("bad", [-1, hermite.MAX_P + 1, 2.5, True, "3"])
def test_bad_degree_is_a_user_error(bad):
    """p outside 0..MAX_P or not an integer: one-line UserInputError."""
    with pytest.raises(UserInputError, match="^p must"):
        hermite.hermite_coefficients("relu", bad)


def test_bad_precision_is_a_user_error():
    """dps above MAX_DPS: one-line UserInputError (quadrature cost)."""
    with pytest.raises(UserInputError, match="dps must be"):
        hermite.hermite_coefficients("relu", 3, dps=hermite.MAX_DPS + 1)


def test_numpy_forms_only_for_named_activations():
    """activation_numpy of a callable: one-line UserInputError."""
    with pytest.raises(UserInputError, match="only for the named activations"):
        hermite.activation_numpy(mp.tanh)


def test_unknown_activation_lists_known_names():
    """Unknown names: UserInputError naming every known activation."""
    with pytest.raises(UserInputError, match="known: gelu, relu, sigmoid, tanh$"):
        hermite.activation_numpy("swish")


# ------------------------------------------------------------------ user callables


def test_callable_tanh_equals_named_tanh():
    """A Python callable (mpmath.tanh) gives the named tanh's coefficients to ≥ 28 digits, p = 6."""
    a, b = hermite.hermite_coefficients(mp.tanh, 6), hermite.hermite_coefficients("tanh", 6)
    with mp.workdps(30):
        assert all(digits_agreed(u, v, cap=30) >= 28 or abs(v) < 1e-40 for u, v in zip(a, b))


def test_callable_polynomial_is_its_own_expansion():
    """σ = He_3 + 2 He_1 = x³ − x: c = (0, 2, 0, 1, 0), (c*_4)² = 0, α = E[3g² − 1] = 2 = c_1."""
    def sigma(t):
        return t**3 - t

    c = hermite.hermite_coefficients(sigma, 4)
    with mp.workdps(30):
        got = [round(float(v), 25) for v in c] + [abs(hermite.residual_sq(sigma, 4)) < 1e-25,
                                                  round(float(hermite.derivative_mean(sigma)), 20)]
    assert got == [0.0, 2.0, 0.0, 1.0, 0.0, True, 2.0]


def test_callable_that_raises_is_a_user_error():
    """A callable that raises: one-line UserInputError naming the exception and the point."""
    def broken(t):
        raise RuntimeError("boom")

    with pytest.raises(UserInputError, match=r"^activation broken raised RuntimeError at x = .*: boom$"):
        hermite.hermite_coefficients(broken, 2)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1j, "0.5"])
def test_callable_with_bad_values_is_a_user_error(value):
    """Non-finite, complex or non-number values: one-line UserInputError."""
    with pytest.raises(UserInputError, match="^activation "):
        hermite.second_moment(lambda t: value)


def test_kink_away_from_zero_needs_declaring():
    """|x − 1| has a kink at 1: refused unless declared, then E[|g − 1|] matches the closed form
    2φ(1) + 2Φ(1) − 1 (mpmath.quad route) to ≥ 28 digits."""
    def vee(t):
        return abs(t - 1)

    with pytest.raises(UserInputError, match="did not converge"):
        hermite.hermite_coefficients(vee, 2)
    c0 = hermite.hermite_coefficients(hermite.Activation("vee", vee, kinks=(1,)), 2)[0]
    with mp.workdps(40):
        exact = 2 * mp.npdf(1) + 2 * mp.ncdf(1) - 1
        assert digits_agreed(c0, exact, cap=30) >= 28


# ------------------------------------------------------------------ NumPy forms


@pytest.mark.parametrize("name", hermite.ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_forms_keep_dtype(name, dtype):
    """activation_numpy: float32 stays float32, float64 stays float64 (σ and σ')."""
    s, ds = hermite.activation_numpy(name)
    t = np.linspace(-3, 3, 7, dtype=dtype)
    assert (s(t).dtype, ds(t).dtype) == (dtype, dtype)


def test_numpy_forms_promote_integers():
    """Integer input is computed in float64."""
    s, _ = hermite.activation_numpy("tanh")
    assert s(np.arange(3)).dtype == np.float64


@pytest.mark.parametrize("name", hermite.ACTIVATIONS)
def test_numpy_forms_match_mpmath(name):
    """NumPy σ, σ' equal the mpmath forms at float64 precision (rtol 1e-13) on a grid avoiding 0."""
    s, ds = hermite.activation_numpy(name)
    act = hermite.get_activation(name)
    t = np.array([-4.5, -1.3, -0.2, 0.7, 2.0, 5.5])
    ref = np.array([[float(act.mp(mp.mpf(v))), float(act.dmp(mp.mpf(v)))] for v in t])
    assert np.allclose(np.c_[s(t), ds(t)], ref, rtol=1e-13, atol=1e-15)


def test_hermite_series_is_the_exact_polynomial():
    """hermite_series(c, x) = Σ c_i He_i(x) evaluated exactly by SymPy (rtol 1e-12), degree 12."""
    rng = np.random.default_rng(1)
    c = rng.normal(size=13) / np.sqrt([math.factorial(i) for i in range(13)])
    t = np.array([-3.1, -0.4, 0.0, 1.7, 4.2])
    poly = sum(sp.Float(ci) * hermite.hermite_poly(i).as_expr() for i, ci in enumerate(c))
    exact = np.array([float(poly.subs(x, sp.Float(v))) for v in t])
    assert np.allclose(hermite.hermite_series(c, t), exact, rtol=1e-12, atol=1e-12)


def test_hermite_series_and_sigma_hat_keep_float32():
    """hermite_series and sigma_hat return float32 for float32 input (degree 40: no overflow)."""
    c, cstar = hermite.equivalent("relu", hermite.MAX_P)
    t = np.linspace(-6, 6, 101, dtype=np.float32)
    out = (hermite.hermite_series(c, t), hermite.sigma_hat(c, cstar, t, np.random.default_rng(0)))
    assert [(o.dtype, bool(np.isfinite(o).all())) for o in out] == [(np.float32, True)] * 2


def test_sigma_hat_noise_is_fresh_standard_normal():
    """σ̂ − Σ c_i He_i = c* z with z ~ N(0, 1) independent of x: mean 0, variance 1, corr(z, x) = 0
    (|each| within 5 standard errors, n = 2·10^5)."""
    c, cstar = hermite.equivalent("tanh", 3)
    t = np.random.default_rng(2).standard_normal(200_000)
    z = (hermite.sigma_hat(c, cstar, t, np.random.default_rng(3)) - hermite.hermite_series(c, t)) / float(cstar)
    se = 1 / math.sqrt(t.size)
    stats = np.array([z.mean(), (z.var() - 1) / math.sqrt(2), np.corrcoef(z, t)[0, 1]])
    assert np.all(np.abs(stats) < 5 * se)


# ------------------------------------------------------------------ the claim

CTX = CheckContext(quick=True, seed=0)
CLAIM = get("dd25.hermite")


@pytest.mark.parametrize("check", [ch.name for ch in CLAIM.checks()])
def test_check_holds_in_quick_mode(check):
    """Every check of dd25.hermite holds (quick mode, seed 0)."""
    res = next(ch for ch in CLAIM.checks() if ch.name == check).run(CTX)
    assert res.status is Status.HOLDS, res.evidence


def test_every_check_names_a_route():
    """Each check states its route."""
    routes = {ch.name: ch.route for ch in CLAIM.checks()}
    assert set(routes.values()) <= {"symbolic", "exact-rational", "mpmath", "monte-carlo", "hypothesis"}


def test_derive_gives_relu_coefficients():
    """derive(): c_2 (relu) = 1/(2 sqrt(2π))."""
    d = CLAIM.derive()
    assert sp.simplify(d["c_2 (relu)"] - 1 / (2 * sp.sqrt(2 * sp.pi))) == 0


def test_cli_eval_json():
    """eval --json: coefficients c_0..c_5 of tanh and residual_sq = E[σ²] − Σ i! c_i² (from the JSON)."""
    r = CliRunner().invoke(cli, ["eval", "dd25.hermite", "--param", "activation=tanh", "--param", "p=5",
                                 "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.stdout)["quantities"]
    with mp.workdps(30):
        c = [mp.mpf(v) for v in q["coefficients"]]
        parseval = mp.mpf(q["second_moment"]) - mp.fsum(math.factorial(i) * v**2 for i, v in enumerate(c))
        got = (len(c), digits_agreed(parseval, mp.mpf(q["residual_sq"]), cap=30) >= 25,
               digits_agreed(mp.mpf(q["alpha"]), c[1], cap=30) >= 25)
    assert got == (6, True, True)


@pytest.mark.parametrize("param, fragment", [
    ("activation=swish", "unknown activation 'swish'; known: gelu, relu, sigmoid, tanh"),
    ("p=-1", "parameter p: must be >= 0, got -1"),
    ("p=41", "parameter p: must be <= 40, got 41"),
    ("p=2.5", "parameter p: expected an integer"),
])
def test_cli_bad_input_is_one_line(param, fragment):
    """Bad input: exit status 2, one line on stderr naming the problem, no traceback."""
    r = CliRunner().invoke(cli, ["eval", "dd25.hermite", "--param", param, "--json"])
    assert (r.exit_code, len(r.stderr.strip().splitlines()), fragment in r.stderr,
            "Traceback" in r.output) == (2, 1, True, False), r.stderr


def test_cli_show_prints_the_derivation():
    """show: the ReLU coefficients appear in the derivation."""
    r = CliRunner().invoke(cli, ["show", "dd25.hermite"])
    assert (r.exit_code, "c_4 (relu)" in r.stdout) == (0, True), r.output
