"""dd25 derivations from the data model (never from the paper's answers, which were unreadable).

Conventions (fixed for the project): x_i iid N(0, Σ_x); task ξ; u = ξᵀx / (‖ξ‖ ‖Σ_x‖^{1/2});
y = φ(u) + ε, ε ~ N(0, Δ²); b = (b1, b2), b1 = (κ/ℓ) Σ_{i≤ℓ} y_i x_i, b2 = (1/ℓ) Σ_{i≤ℓ} y_i²;
H = x_q bᵀ, h = vec(H) = x_q ⊗ b (row-major).

* :func:`lsa_prediction` / :func:`reparameterisation_difference` — the zfb23 LSA prediction with
  fully symbolic weights (v_21 = 0) equals ⟨Γ, x_q bᵀ⟩ with Γ = v_22 [M_11ᵀ | m_21] and κ = 1.
* :func:`label_moment`, :func:`context_blocks`, :func:`normaliser_t` — E[bbᵀ | ξ] in the frame
  (ξ̂, ξ̂^⊥) and t = tr Cov(vec H) = d E‖b‖² for Σ_x = I and ReLU, from one-dimensional Gaussian
  integrals (SymPy ``integrate``) plus independence of the orthogonal complement.
* :func:`bb_second_moment` — E[bbᵀ | ξ] for any Σ_x (numeric), from the same moments rescaled.
* :func:`linear_bound_at_scale`, :func:`linear_error_lower_bound` — the best error of any predictor
  linear in x_q: E[φ(u)²] + Δ² − E[φ(u)u]²/E[u²], u ~ N(0, s²).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from ...cache import not_a_derivation
from ...numeric import montecarlo as mc

# symbols: g standard normal, s the scale of u = s g, e the noise variable
g = sp.Symbol("g", real=True)
e = sp.Symbol("e", real=True)
s = sp.Symbol("s", positive=True)
d, ell = sp.symbols("d ell", positive=True, integer=True)
Delta = sp.Symbol("Delta", nonnegative=True)
kappa = sp.Symbol("kappa", real=True)

TARGETS = ("relu", "tanh")


def _std_normal_pdf(v):
    return sp.exp(-v**2 / 2) / sp.sqrt(2 * sp.pi)


# ============================================================================ (a) reparameterisation


def lsa_prediction(W_PV: sp.Matrix, W_KQ: sp.Matrix, X: sp.Matrix, y: sp.Matrix, x_q: sp.Matrix):
    """Bottom-right entry of f(Z) = Z + W^{PV} Z (Zᵀ W^{KQ} Z)/ℓ, Z = [[x_1..x_ℓ, x_q], [y_1..y_ℓ, 0]].

    ``X`` is d × ℓ (columns x_i), ``y`` is 1 × ℓ, ``x_q`` is d × 1.  Only associativity is used: the
    (d+1, ℓ+1) entry is (row d+1 of W^{PV} Z) times (column ℓ+1 of Zᵀ W^{KQ} Z).

    >>> a, b, c = sp.symbols("a b c")
    >>> lsa_prediction(sp.Matrix([[0, 0], [0, a]]), sp.Matrix([[b, 0], [0, 0]]),
    ...                sp.Matrix([[2]]), sp.Matrix([[3]]), sp.Matrix([[c]]))
    6*a*b*c
    """
    dd, L = X.shape
    Z = sp.Matrix.vstack(sp.Matrix.hstack(X, x_q), sp.Matrix.hstack(y, sp.zeros(1, 1)))
    left = W_PV[dd, :] * Z  # 1 × (ℓ+1)
    right = Z.T * (W_KQ * Z[:, L])  # (ℓ+1) × 1
    return sp.expand(Z[dd, L] + (left * right)[0, 0] / L)


@not_a_derivation  # symbols for the LSA weights and a prompt: inputs, not formulas
def symbolic_instance(dd: int, L: int, v21_zero: bool = True):
    W = sp.Matrix(dd + 1, dd + 1, lambda i, j: sp.Symbol(f"v_{i + 1}_{j + 1}"))
    if v21_zero:
        W[dd, :dd] = sp.zeros(1, dd)  # the last row of W^{PV} is (0, ..., 0, v_22)
    K = sp.Matrix(dd + 1, dd + 1, lambda i, j: sp.Symbol(f"k_{i + 1}_{j + 1}"))
    X = sp.Matrix(dd, L, lambda i, j: sp.Symbol(f"x_{j + 1}_{i + 1}"))
    y = sp.Matrix(1, L, lambda i, j: sp.Symbol(f"y_{j + 1}"))
    xq = sp.Matrix(dd, 1, lambda i, j: sp.Symbol(f"xq_{i + 1}"))
    return W, K, X, y, xq


def gamma_from_blocks(W_PV: sp.Matrix, W_KQ: sp.Matrix) -> sp.Matrix:
    """Γ = v_22 [M_11ᵀ | m_21] (d × (d+1)); m_21 = first d entries of row d+1 of W^{KQ}, as a column."""
    dd = W_PV.rows - 1
    M11, m21 = W_KQ[:dd, :dd], W_KQ[dd, :dd].T
    return W_PV[dd, dd] * sp.Matrix.hstack(M11.T, m21)


def context_statistics(X: sp.Matrix, y: sp.Matrix, kap=1) -> sp.Matrix:
    """b = ((κ/ℓ) Σ y_i x_i, (1/ℓ) Σ y_i²) as a column."""
    L = X.shape[1]
    b1 = kap * (X * y.T) / L
    b2 = (y * y.T)[0, 0] / L
    return b1.col_join(sp.Matrix([[b2]]))


@lru_cache(maxsize=None)
def reparameterisation_difference(dd: int, L: int, v21_zero: bool = True, kap=1) -> sp.Expr:
    """Expanded LSA prediction − x_qᵀ Γ b at sizes (d, ℓ) with fully symbolic weights and data.

    It is 0 exactly when v_21 = 0 and κ = 1: the LSA puts the same 1/ℓ on both blocks of b.

    >>> reparameterisation_difference(2, 3)
    0
    >>> reparameterisation_difference(1, 1, kap=2) == 0
    False
    """
    W, K, X, y, xq = symbolic_instance(dd, L, v21_zero)
    lin = (xq.T * gamma_from_blocks(W, K) * context_statistics(X, y, kap))[0, 0]
    return sp.expand(lsa_prediction(W, K, X, y, xq) - lin)


# ============================================================================ (b) moments, E[bbᵀ], t


@lru_cache(maxsize=None)
def relu_moment(a: int, b: int) -> sp.Expr:
    """E[ReLU(g)^a g^b], g ~ N(0, 1): a half-line Gaussian integral (SymPy ``integrate``).

    >>> relu_moment(1, 1), relu_moment(2, 2), relu_moment(0, 2)
    (1/2, 3/2, 1)
    """
    if a == 0:
        return sp.simplify(sp.integrate(g**b * _std_normal_pdf(g), (g, -sp.oo, sp.oo)))
    return sp.simplify(sp.integrate(g ** (a + b) * _std_normal_pdf(g), (g, 0, sp.oo)))


@lru_cache(maxsize=None)
def noise_moment(k: int) -> sp.Expr:
    """E[ε^k], ε ~ N(0, Δ²) (SymPy ``integrate`` against the N(0, Δ²) density).

    >>> noise_moment(4)
    3*Delta**4
    """
    if k == 0:
        return sp.Integer(1)
    sig = sp.Symbol("sigma", positive=True)  # Δ > 0 inside the integral; the result is polynomial
    val = sp.integrate(e**k * _std_normal_pdf(e / sig) / sig, (e, -sp.oo, sp.oo))
    return sp.expand(sp.simplify(val).subs(sig, Delta))


@lru_cache(maxsize=None)
def label_moment(a: int, b: int) -> sp.Expr:
    """E[y^a u^b] for u = s g (g ~ N(0, 1)), y = ReLU(u) + ε: binomial in ε (independent of u), and
    E[ReLU(s g)^j (s g)^b] = s^{j+b} E[ReLU(g)^j g^b] (ReLU is positively homogeneous).

    >>> label_moment(2, 0)
    Delta**2 + s**2/2
    """
    out = sum(sp.binomial(a, k) * s ** (a - k + b) * relu_moment(a - k, b) * noise_moment(k)
              for k in range(a + 1))
    return sp.expand(out)


def _iid_mean_product(Efg, Ef, Eg, L):
    """E[(1/ℓ Σ_i f_i)(1/ℓ Σ_j g_j)] for iid pairs: ℓ diagonal terms, ℓ(ℓ−1) independent ones."""
    return Efg / L + (1 - 1 / L) * Ef * Eg


def blocks_from_moments(m: dict, L, k):
    """E[bbᵀ | ξ] (Σ_x = I) from the one-sample frame moments ``m`` (any number type: SymPy, mpmath).

    Returns ([[A, β], [β, γ]], c): the block on span(ξ̂, e_{d+1}) and the coefficient of P_⊥.
    """
    A = k**2 * _iid_mean_product(m["E[y^2 u^2]"], m["E[yx]"], m["E[yx]"], L)
    c = k**2 * m["E[y^2]"] / L  # E[yx] has no P_⊥ component, so only the ℓ diagonal terms stay
    beta = k * _iid_mean_product(m["E[y^3 u]"], m["E[yx]"], m["E[y^2]"], L)
    gam = _iid_mean_product(m["E[y^4]"], m["E[y^2]"], m["E[y^2]"], L)
    return [[A, beta], [beta, gam]], c


@lru_cache(maxsize=None)
def one_sample_frame_moments() -> dict:
    """Coefficients of one-sample moments for Σ_x = I (s = 1), in the frame (ξ̂, ξ̂^⊥).

    x = u ξ̂ + x_⊥ with u = ξ̂ᵀx ~ N(0, 1) and x_⊥ ~ N(0, P_⊥) independent of (u, ε), so
    E[y x] = E[yu] ξ̂, E[y² x xᵀ] = E[y²u²] ξ̂ξ̂ᵀ + E[y²] P_⊥, E[y³ x] = E[y³u] ξ̂ (E[x_⊥] = 0).
    """
    m = {k: label_moment(*k).subs(s, 1) for k in [(1, 1), (2, 2), (2, 0), (3, 1), (4, 0)]}
    return {"E[yx]": m[(1, 1)], "E[y^2 u^2]": m[(2, 2)], "E[y^2]": m[(2, 0)],
            "E[y^3 u]": m[(3, 1)], "E[y^4]": m[(4, 0)]}


@lru_cache(maxsize=None)
def context_blocks() -> tuple[sp.Matrix, sp.Expr]:
    """E[bbᵀ | ξ] for Σ_x = I, ReLU: the 2×2 block on span(ξ̂, e_{d+1}) and the coefficient c of P_⊥.

    E[bbᵀ | ξ] = [[A ξ̂ξ̂ᵀ + c P_⊥, β ξ̂], [β ξ̂ᵀ, γ]]; returns (Matrix([[A, β], [β, γ]]), c).

    >>> B, c = context_blocks()
    >>> sp.factor(c)
    kappa**2*(2*Delta**2 + 1)/(2*ell)
    """
    block, c = blocks_from_moments(one_sample_frame_moments(), ell, kappa)
    return sp.Matrix(block).applyfunc(sp.expand), sp.expand(c)


@lru_cache(maxsize=None)
def normaliser_t() -> sp.Expr:
    """t = tr Cov(vec H) = tr(I_d ⊗ E[bbᵀ | ξ]) = d (A + γ + (d − 1) c).

    E vec H = E[x_q] ⊗ E[b] = 0 and x_q ⊥ b, so Cov(vec H | ξ) = E[x_q x_qᵀ] ⊗ E[bbᵀ | ξ].  t does not
    depend on ξ: labels only see ξ̂, and the trace of the frame form is rotation invariant.
    """
    block, c = context_blocks()
    return sp.expand(d * (block.trace() + (d - 1) * c))


@lru_cache(maxsize=None)
def _t_function():
    return sp.lambdify((d, ell, Delta, kappa), normaliser_t(), "math")


def normaliser_t_relu_isotropic(d: int, ell: int, Delta: float, kappa: float = 1.0) -> float:
    """Float t for Σ_x = I, ReLU.

    >>> normaliser_t_relu_isotropic(1, 1, 0.0)
    3.0
    """
    return float(_t_function()(d, ell, float(Delta), float(kappa)))


@lru_cache(maxsize=None)
def _scaled_label_moments():
    keys = [(1, 1), (2, 2), (2, 0), (3, 1), (4, 0)]
    return {k: sp.lambdify((s, Delta), label_moment(*k), "math") for k in keys}


def bb_second_moment(Sigma_x, xi, ell: int, Delta: float, kappa: float = 1.0) -> np.ndarray:
    """E[bbᵀ | ξ] ((d+1) × (d+1), float) for any Σ_x, ReLU.

    With w = ξ / (‖ξ‖ ‖Σ_x‖^{1/2}), u = wᵀx ~ N(0, s²), s² = wᵀΣ_x w: E[x | u] = v u with
    v = Σ_x w / s², and Cov(x | u) = C = Σ_x − s² v vᵀ is independent of (u, ε).  Hence
    E[yx] = E[yu] v, E[y² x xᵀ] = E[y²u²] v vᵀ + E[y²] C, E[y³x] = E[y³u] v.

    >>> B = bb_second_moment(np.eye(2), [1.0, 0.0], ell=1, Delta=0.0)
    >>> np.round(B, 6).tolist()
    [[1.5, 0.0, 1.5], [0.0, 0.5, 0.0], [1.5, 0.0, 1.5]]
    """
    S = np.asarray(Sigma_x, dtype=float)
    xi = np.asarray(xi, dtype=float)
    dd = S.shape[0]
    w = xi / (np.linalg.norm(xi) * math.sqrt(np.linalg.eigvalsh(S)[-1]))
    s2 = float(w @ S @ w)
    v = S @ w / s2
    C = S - s2 * np.outer(v, v)
    m = {k: f(math.sqrt(s2), float(Delta)) for k, f in _scaled_label_moments().items()}
    Eyx = m[(1, 1)] * v
    Ey2xx = m[(2, 2)] * np.outer(v, v) + m[(2, 0)] * C
    Ey3x = m[(3, 1)] * v
    L, k = float(ell), float(kappa)

    def pair(fg, f_, g_):
        return _iid_mean_product(fg, f_, g_, L)

    B = np.empty((dd + 1, dd + 1))
    B[:dd, :dd] = k**2 * pair(Ey2xx, Eyx[:, None], Eyx[None, :])
    B[:dd, dd] = B[dd, :dd] = k * pair(Ey3x, Eyx, m[(2, 0)])
    B[dd, dd] = pair(m[(4, 0)], m[(2, 0)], m[(2, 0)])
    return B


@lru_cache(maxsize=None)
def _frame_functions():
    block, c = context_blocks()
    return sp.lambdify((ell, Delta, kappa), [block[0, 0], block[0, 1], block[1, 1], c], "math")


def bb_second_moment_isotropic(xi, ell_: int, Delta_: float, kappa_: float = 1.0) -> np.ndarray:
    """E[bbᵀ | ξ] for Σ_x = I assembled from the symbolic frame blocks (a second assembly).

    >>> xi = np.array([0.3, -1.2, 0.5])
    >>> bool(np.allclose(bb_second_moment_isotropic(xi, 4, 0.2, 1.5), bb_second_moment(np.eye(3), xi, 4, 0.2, 1.5)))
    True
    """
    xi = np.asarray(xi, dtype=float)
    dd = xi.size
    xh = xi / np.linalg.norm(xi)
    A, beta, gam, cf = _frame_functions()(int(ell_), float(Delta_), float(kappa_))
    P = np.outer(xh, xh)
    B = np.empty((dd + 1, dd + 1))
    B[:dd, :dd] = A * P + cf * (np.eye(dd) - P)
    B[:dd, dd] = B[dd, :dd] = beta * xh
    B[dd, dd] = gam
    return B


# ============================================================================ (c) linear lower bound


@lru_cache(maxsize=None)
def linear_bound_symbolic(target: str = "relu") -> sp.Expr:
    """min over a of E[(y_q − aᵀx_q)²] = E[φ(u)²] + Δ² − E[φ(u)u]²/E[u²], u ~ N(0, s²) (symbolic s, Δ).

    Derivation: x_q is independent of the context, so given ξ and the context any Γ yields a fixed
    a = Γb; the best a is the projection a* = Σ_x⁻¹E[y x] = (E[φ(u)u]/s²) w, and the residual is
    E[y²] − E[yx]ᵀΣ_x⁻¹E[yx] = E[φ²] + Δ² − E[φ(u)u]²/s² (wᵀΣ_x w = s²; no intercept: E x_q = 0).
    ReLU integrals are half-line Gaussian integrals; ``tanh`` has no closed form (``None``).

    >>> linear_bound_symbolic("relu")
    Delta**2 + s**2/4
    """
    if target != "relu":
        return None
    Ephi2 = sp.integrate((s * g) ** 2 * _std_normal_pdf(g), (g, 0, sp.oo))
    Ephiu = sp.integrate((s * g) * (s * g) * _std_normal_pdf(g), (g, 0, sp.oo))
    return sp.simplify(Ephi2 + Delta**2 - Ephiu**2 / s**2)


@lru_cache(maxsize=None)
def _relu_bound_function():
    return sp.lambdify((s, Delta), linear_bound_symbolic("relu"), "numpy")


@lru_cache(maxsize=None)
def _gauss_rule():
    """Nodes and weights for E[f(g)], g ~ N(0, 1): composite 16-point Gauss–Legendre on [−9, 9]
    (36 panels; the mass outside is ~2e-19).  Unlike Gauss–Hermite it stays accurate for tanh(sg) at
    large s, whose complex poles at ±iπ/(2s) approach the real axis."""
    x, w = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(-9.0, 9.0, 37)
    half = (edges[1] - edges[0]) / 2
    mid = (edges[:-1] + edges[1:]) / 2
    nodes = (mid[:, None] + half * x).ravel()
    wts = np.tile(half * w, mid.size) * np.exp(-nodes**2 / 2) / math.sqrt(2 * math.pi)
    return nodes, wts


def scaled_moments(s2, target: str = "relu"):
    """(E[φ(sg)²], E[φ(sg) g]) for g ~ N(0, 1), vectorised over s2 = s² (chunked: memory O(chunk · nodes)).

    >>> [round(float(v), 12) for v in scaled_moments(4.0, "relu")]
    [2.0, 1.0]
    """
    s2 = np.asarray(s2, dtype=float)
    flat = np.sqrt(s2).ravel()
    phi = _phi_np(target)
    nodes, wts = _gauss_rule()
    m2, m1 = np.empty_like(flat), np.empty_like(flat)
    for lo in range(0, flat.size, 2048):
        v = phi(flat[lo:lo + 2048, None] * nodes)
        m2[lo:lo + 2048] = (v * v) @ wts
        m1[lo:lo + 2048] = (v * nodes) @ wts
    return m2.reshape(s2.shape), m1.reshape(s2.shape)


def _phi_np(target):
    if target == "relu":
        return lambda u: np.maximum(u, 0.0)
    if target == "tanh":
        return np.tanh
    raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")


def linear_bound_at_scale(s2, Delta: float, target: str = "relu"):
    """The bound at u ~ N(0, s2) (vectorised over s2): E[φ(sg)²] − E[φ(sg) g]² + Δ².

    (E[φ(u)u]²/E[u²] = E[φ(sg) g]²: the squared first Hermite coefficient.)  ReLU: the closed
    form s²/4 + Δ²; other targets: :func:`scaled_moments` (composite Gauss–Legendre).

    >>> float(linear_bound_at_scale(1.0, 0.0))
    0.25
    """
    s2 = np.asarray(s2, dtype=float)
    if target == "relu":
        return _relu_bound_function()(np.sqrt(s2), float(Delta))
    m2, m1 = scaled_moments(s2, target)
    return m2 - m1**2 + float(Delta) ** 2


def scale_sq(Sigma_x, xi) -> np.ndarray:
    """s² = ξᵀΣ_xξ / (‖ξ‖² ‖Σ_x‖) for one ξ (shape (d,)) or a batch (shape (n, d))."""
    S = np.asarray(Sigma_x, dtype=float)
    xi = np.asarray(xi, dtype=float)
    num = np.einsum("...i,ij,...j->...", xi, S, xi)
    return num / (np.einsum("...i,...i->...", xi, xi) * np.linalg.eigvalsh(S)[-1])


def _is_scalar_identity(M) -> bool:
    M = np.asarray(M, dtype=float)
    return bool(np.array_equal(M, M[0, 0] * np.eye(M.shape[0])))


def linear_error_lower_bound(Sigma_x, Sigma_xi, Delta: float, target: str = "relu", rng=None,
                             n_mc: int = 200_000, force_mc: bool = False):
    """E_ξ of the lower bound on the ICL error of ANY linear transformer ⟨Γ, x_q bᵀ⟩ (Γ may even
    depend on ξ and the context).

    Exact (returns a float) when s² is deterministic (Σ_x = cI: s² = 1) or, for ReLU (bound linear
    in s²), when Σ_ξ = cI: then E[ξ̂ξ̂ᵀ] = I/d and E s² = tr Σ_x / (d ‖Σ_x‖), e.g.
    (1 + θ/d)/(1 + θ) for Σ_x = I + θγγᵀ, θ ≥ 0.  Otherwise (or with ``force_mc``) a Monte-Carlo
    :class:`~icl_proofs.numeric.montecarlo.Estimate` over ξ ~ N(0, Σ_ξ) with ``n_mc`` draws from
    ``rng`` (an int seed or a ``numpy.random.Generator``; default seed 0).

    >>> linear_error_lower_bound(np.eye(3), np.eye(3), 0.0)
    0.25
    >>> S = np.eye(4); S[0, 0] = 3.0                       # I + 2 e1 e1ᵀ
    >>> round(linear_error_lower_bound(S, np.eye(4), 0.1), 12)  # (1 + 2/4)/(1 + 2)/4 + 0.01
    0.135
    """
    _phi_np(target)
    Sx = np.asarray(Sigma_x, dtype=float)
    Sxi = np.asarray(Sigma_xi, dtype=float)
    dd = Sx.shape[0]
    if not force_mc:
        if _is_scalar_identity(Sx):
            return float(linear_bound_at_scale(1.0, Delta, target))
        if target == "relu" and _is_scalar_identity(Sxi):
            Es2 = float(np.trace(Sx)) / (dd * float(np.linalg.eigvalsh(Sx)[-1]))
            return float(linear_bound_at_scale(Es2, Delta, target))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
    L = np.linalg.cholesky(Sxi)
    vals = []
    left = int(n_mc)
    while left > 0:  # batches keep memory O(batch · d)
        k = min(left, 2**15)
        xi = gen.standard_normal((k, dd)) @ L.T
        vals.append(linear_bound_at_scale(scale_sq(Sx, xi), Delta, target))
        left -= k
    v = np.concatenate(vals)
    sd = float(v.std(ddof=1)) if v.size > 1 else math.nan
    return mc.Estimate(mean=float(v.mean()), se=sd / math.sqrt(v.size), n=int(v.size), sd=sd)


def clear_caches() -> None:
    """Forget every cached derivation (tests that mutate a building block call this)."""
    for fn in (reparameterisation_difference, relu_moment, noise_moment, label_moment, one_sample_frame_moments,
               context_blocks, normaliser_t, _t_function, _scaled_label_moments, _frame_functions,
               linear_bound_symbolic, _relu_bound_function):
        getattr(fn, "cache_clear", lambda: None)()  # a test may have patched one with a plain function
