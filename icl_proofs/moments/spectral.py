"""Functions of one SPD matrix Λ, written as scalar functions of its eigenvalue λ.

Every matrix in a zfb23 closed form (Γ, Γ⁻¹, Λ²Γ⁻¹, ...) is a rational function of Λ, so it
commutes with Λ and is diagonal in Λ's eigenbasis.  A trace tr f(Λ) = Σ_j f(λ_j) is kept as the
unevaluated :class:`TrF` ``(f)``, which is exact for symbolic d and evaluates to a finite sum once
eigenvalues are known.

>>> import sympy as sp
>>> from icl_proofs.moments.spectral import TrF, lam, eval_spectral
>>> eval_spectral(TrF(lam**2) + 1, [1, 2])
6
"""
from __future__ import annotations

import sympy as sp

from .traces import d as dsym
from .traces import info, trace_atoms

#: the eigenvalue of Λ
lam = sp.Symbol("lambda", positive=True)


class TrF(sp.Function):
    """tr f(Λ) = Σ_j f(λ_j) for an expression f in :data:`lam` (unevaluated)."""

    nargs = 1

    def _latex(self, printer):
        f = self.args[0]
        L = sp.Symbol(r"\Lambda", commutative=True)
        return r"\operatorname{tr}\left[" + printer._print(f.subs(lam, L)) + r"\right]"

    def _sympystr(self, printer):
        return "tr[" + printer._print(self.args[0].subs(lam, sp.Symbol("Lambda"))) + "]"


class QF(sp.Function):
    """aᵀ f(Λ) a = Σ_j f(λ_j) (a·e_j)² for a fixed vector named ``a`` (e_j: eigenvectors of Λ)."""

    nargs = 2

    def _latex(self, printer):
        f, name = self.args
        L = sp.Symbol(r"\Lambda", commutative=True)
        v = printer._print(sp.Symbol(str(name)))
        return v + r"^{\top}\left[" + printer._print(f.subs(lam, L)) + r"\right]" + v

    def _sympystr(self, printer):
        f, name = self.args
        return f"{name}'[{printer._print(f.subs(lam, sp.Symbol('Lambda')))}]{name}"


def to_spectral(expr: sp.Expr, letter_funcs: dict[str, sp.Expr]) -> sp.Expr:
    """Rewrite trace and bilinear atoms whose letters are all functions of Λ as :class:`TrF` /
    :class:`QF` terms.

    ``letter_funcs`` maps letter names (e.g. ``"Lambda"``, ``"P"``) to expressions in :data:`lam`
    (which may themselves contain trace atoms such as tr(Λ); those are rewritten too).  Every such
    letter must be symmetric (a function of a symmetric Λ is).
    """
    funcs = {k: _spectral_atoms(sp.sympify(v), letter_funcs) for k, v in letter_funcs.items()}
    return _spectral_atoms(expr, funcs)


def _spectral_atoms(expr, funcs):
    sub = {}
    for atom in trace_atoms(expr):
        inf = info(atom)
        if not all(l.name in funcs or l.is_identity for l in inf.word):
            continue
        f = sp.Integer(1)
        for l in inf.word:
            if not l.is_identity:
                f *= funcs[l.name]
        f = sp.cancel(f)
        if inf.kind == "trace":
            sub[atom] = TrF(f)
        elif inf.left == inf.right:
            sub[atom] = QF(f, sp.Symbol(inf.left))
    return expr.xreplace(sub)


def spectral_normal_form(expr: sp.Expr) -> sp.Expr:
    """Merge Σ c·TrF(f_k) into TrF(Σ c f_k) (and likewise QF) so equal expressions compare equal.

    Power sums tr(Λ^k) are first frozen into symbols p_k (they are constants for the merge); then in
    each product term the one remaining atom carries the λ-free coefficient.  Terms with two or more
    non-power atoms are grouped by those atoms and kept as products.
    """
    powers = {}

    def freeze(e):
        sub = {}
        for a in e.atoms(TrF) | e.atoms(QF):
            inner = freeze(a.args[0])
            c, r = sp.factor(inner).as_independent(lam, as_Add=False)
            if r == 1:
                sub[a] = c * (dsym if isinstance(a, TrF) else QF(sp.Integer(1), a.args[1]))
            elif isinstance(a, TrF) and (r == lam or (r.is_Pow and r.base == lam and r.exp.is_Integer)):
                k = 1 if r == lam else int(r.exp)
                powers.setdefault(k, sp.Symbol(f"p_{k}", positive=True))
                sub[a] = c * powers[k]
            else:
                sub[a] = c * (TrF(r) if isinstance(a, TrF) else QF(r, a.args[1]))
        return e.xreplace(sub) if sub else e

    frozen = freeze(sp.expand(expr))
    groups: dict = {}
    rest = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(frozen)):
        factors = sp.Mul.make_args(term)
        atoms = []
        coef = sp.Integer(1)
        for f in factors:
            b, e = f.as_base_exp()
            if isinstance(b, (TrF, QF)) and e.is_Integer and e > 0:
                atoms += [b] * int(e)
            else:
                coef *= f
        if not atoms:
            rest += term
            continue
        if len(atoms) == 1:
            key = (type(atoms[0]), atoms[0].args[1:] if isinstance(atoms[0], QF) else ())
            groups[key] = groups.get(key, 0) + coef * atoms[0].args[0]
        else:
            rest += term
    out = rest
    for (kind, extra), f in groups.items():
        f = sp.factor(sp.cancel(sp.together(f)))
        if f == 0:
            continue
        out += TrF(f) if kind is TrF else QF(f, *extra)
    out = sp.simplify(freeze(out))  # merged arguments may have become pure powers
    inv = {v: TrF(lam ** k) for k, v in powers.items()}
    return out.xreplace(inv) if out != 0 else out


def trf_atoms(expr: sp.Expr) -> set:
    return set(expr.atoms(TrF)) | set(expr.atoms(QF))


def eval_spectral(expr: sp.Expr, eigenvalues, extra: dict | None = None, vectors: dict | None = None):
    """Value of an expression in TrF atoms (and ``d``) for the given eigenvalues.

    Works for exact SymPy numbers and for mpmath numbers (the sum is formed in the input's type).
    Inner TrF atoms (inside another TrF's argument) are evaluated first.  ``vectors`` gives the
    eigenbasis coordinates of the fixed vectors in :class:`QF` atoms.
    """
    vectors = vectors or {}
    eig = list(eigenvalues)
    extra = dict(extra or {})
    extra[dsym] = len(eig)

    def ev(e):
        e = e.xreplace(extra)
        atoms = sorted(trf_atoms(e), key=lambda a: len(str(a)))
        sub = {}
        for a in atoms:
            f = ev(a.args[0]) if trf_atoms(a.args[0]) else a.args[0].xreplace(extra)
            if isinstance(a, QF):
                coords = vectors[str(a.args[1])]
                sub[a] = sp.Add(*[f.subs(lam, sp.sympify(v)) * sp.sympify(c) ** 2
                                  for v, c in zip(eig, coords)])
            else:
                sub[a] = sp.Add(*[f.subs(lam, sp.sympify(v)) for v in eig])
        return e.xreplace(sub)

    return sp.simplify(ev(expr))


def pointwise_minimise(expr: sp.Expr, g: sp.Symbol):
    """Minimise a spectral quadratic  c0 + Σ_k c_k·TrF(f_k(λ, g))  over functions g(λ).

    The coefficients c_k must not contain g, and g may appear only inside TrF atoms that enter
    linearly (no products of two g-dependent traces): then the minimisation separates across
    eigenvalues, ℓ(λ, g) = Σ c_k f_k, and is solved pointwise.

    Returns ``(g_star, min_expr, curvature)`` with curvature = ∂²ℓ/∂g² (must be > 0 for a minimum).
    """
    expr = sp.expand(expr)
    gat = [a for a in trf_atoms(expr) if a.args[0].has(g)]
    poly = sp.Poly(expr, *gat) if gat else None
    if poly is None:
        raise ValueError("expression does not depend on g")
    if poly.total_degree() > 1:
        raise NotImplementedError("traces of g are coupled (products of two g-traces)")
    ell = sp.Integer(0)
    c0 = expr
    for a in gat:
        c = poly.coeff_monomial(a)
        if c.has(g):
            raise NotImplementedError("coefficient depends on g")
        ell += c * a.args[0]
        c0 = c0 - c * a
    c0 = sp.expand(c0)
    ell = sp.expand(ell)
    if sp.Poly(ell, g).degree() != 2:
        raise NotImplementedError("pointwise loss is not quadratic in g")
    curv = sp.factor(sp.diff(ell, g, 2))
    g_star = sp.factor(sp.solve(sp.Eq(sp.diff(ell, g), 0), g)[0])
    ell_min = sp.factor(sp.together(ell.subs(g, g_star)))
    return g_star, c0, ell_min, curv


def matrix_function(f: sp.Expr, Lambda: sp.Matrix, extra: dict | None = None, trace_only: bool = False):
    """f(Λ) for a rational function f of λ, exactly, for a rational matrix Λ (no eigenvalues).

    Coefficients of f may contain TrF / QF atoms (evaluated first, at the same Λ) and ``d``.
    ``trace_only``: return tr f(Λ) (O(n²) from den(Λ)⁻¹ instead of an n×n product).
    """
    Lambda = sp.Matrix(Lambda)
    f = _eval_inner(sp.sympify(f), Lambda, extra)
    num, den = sp.fraction(sp.cancel(sp.together(f)))

    def poly_at(p):
        P = sp.Poly(p, lam)
        out = sp.zeros(*Lambda.shape)
        power = sp.eye(Lambda.shape[0])
        coeffs = list(reversed(P.all_coeffs()))
        for k, cf in enumerate(coeffs):
            if k:
                power = power * Lambda
            out += cf * power
        return out

    from ..numeric.exact_linalg import rational_function_at

    # FLINT: seconds, not minutes
    fast = rational_function_at(sp.Poly(num, lam), sp.Poly(den, lam), Lambda, trace_only=trace_only)
    if fast is not None:
        return fast
    F = poly_at(num) * poly_at(den).inv()
    return F.trace() if trace_only else F


def _eval_inner(expr: sp.Expr, Lambda: sp.Matrix, extra: dict | None, vectors: dict | None = None):
    extra = dict(extra or {})
    extra[dsym] = Lambda.shape[0]
    expr = expr.xreplace({(sp.Symbol(k) if isinstance(k, str) else k): v for k, v in extra.items()})
    sub = {}
    for atom in trf_atoms(expr):
        if isinstance(atom, QF):
            F = matrix_function(atom.args[0], Lambda, extra)
            a = sp.Matrix(vectors[str(atom.args[1])])
            sub[atom] = (a.T * F * a)[0, 0]
        else:
            sub[atom] = matrix_function(atom.args[0], Lambda, extra, trace_only=True)
    return expr.xreplace(sub) if sub else expr


def eval_at_matrix(expr: sp.Expr, Lambda, vectors: dict | None = None, extra: dict | None = None):
    """Exact value of an expression in TrF / QF atoms at a rational SPD matrix Λ.

    Uses rational matrix algebra only (tr f(Λ) = tr(p(Λ) q(Λ)⁻¹)), so it is exact and does not
    need the (generally irrational) eigenvalues.
    """
    Lambda = sp.Matrix(Lambda)
    return sp.simplify(_eval_inner(sp.sympify(expr), Lambda, extra, vectors))
