"""What a claim is: the unit every command works on.

A claim bundles a published statement with

* its **parameters** (validated by :mod:`icl_proofs.claims.params`),
* its **derivation** (symbolic, from the data model, cached),
* its **quantities** (closed-form numbers at one configuration, via mpmath),
* its **checks** (independent routes that confirm or refute the derivation and the paper's statement),
* its **LaTeX**.

Data flows one way: ``derive`` -> ``quantities`` -> ``checks`` -> report.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable

from ..errors import UserInputError  # noqa: F401  (re-exported)
from ..cache import derivation  # noqa: F401  (re-exported: claim modules mark their derivations)


class Status(str, enum.Enum):
    HOLDS = "holds"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"




@dataclasses.dataclass
class CheckResult:
    """Outcome of one check of one claim.

    ``name`` and ``route`` are the :class:`Check`'s: the runner stamps them on the result a check's
    ``run`` returns, so a check need not state them (keyword-only, ``None`` until stamped).  A result
    that does state them must agree with its Check (see :class:`CheckIdentityWarning`).
    """

    status: Status
    evidence: str
    details: dict = dataclasses.field(default_factory=dict)
    witness: dict | None = None
    seconds: float = 0.0
    #: statistical checks: the smallest error the check would have caught at its α with power ≥ 0.9
    #: (``{"relative": r, "absolute": a, "power": 0.9, "alpha": α}``, see :func:`.checks.resolution`)
    resolution: dict | None = None
    name: str | None = dataclasses.field(default=None, kw_only=True)
    route: str | None = dataclasses.field(default=None, kw_only=True)

    def to_json(self) -> dict:
        out = {
            "name": self.name,
            "route": self.route,
            "status": self.status.value,
            "evidence": self.evidence,
            "details": self.details,
            "witness": self.witness,
            "seconds": round(self.seconds, 3),
        }
        if self.resolution is not None:
            out["resolution"] = self.resolution
        return out


class CheckIdentityWarning(UserWarning):
    """A check's result states a name or route other than its :class:`Check`'s (a programming error:
    the runner keeps the Check's; the test suite turns this warning into an error)."""


def stamp_identity(result: CheckResult, check: "Check") -> CheckResult:
    """Write ``check``'s name and route onto ``result`` (what a check states need not be repeated).

    A result that states a *different* name or route raises :class:`CheckIdentityWarning` (an error
    under the tests) and is given the Check's: the declaration is the one place they are written.
    """
    import warnings

    for field in ("name", "route"):
        stated, declared = getattr(result, field), getattr(check, field)
        if stated is not None and stated != declared:
            warnings.warn(CheckIdentityWarning(
                f"check {check.name!r}: its result states {field} {stated!r}, but the Check declares "
                f"{declared!r} (drop it from the result: the runner stamps the Check's)"), stacklevel=2)
        setattr(result, field, declared)
    return result


@dataclasses.dataclass
class CheckContext:
    """Settings a check runs under (from the ``verify`` command or a test)."""

    quick: bool = True
    seed: int = 0
    dps: int = 30
    #: false-alarm rate of each statistical (Monte-Carlo) check
    alpha: float = 1e-3
    progress: Callable[[str], None] = lambda msg: None
    #: the claim and check this context runs (stamped by the runner): they name the check's stream
    claim_id: str = ""
    check_name: str = ""

    def stream_seed(self, *labels) -> int:
        """A 63-bit seed derived from (run seed, claim id, check name, ``*labels``).

        Every check draws from its own stream, named rather than hand-numbered, so no two checks
        share random numbers by accident and adding a check never shifts another's numbers.

        >>> a = CheckContext(seed=0, claim_id="x.y", check_name="c").stream_seed()
        >>> a == CheckContext(seed=0, claim_id="x.y", check_name="c").stream_seed()
        True
        >>> a == CheckContext(seed=0, claim_id="x.y", check_name="d").stream_seed()
        False
        """
        return stream_seed(self.seed, self.claim_id, self.check_name, *labels)

    def seed_sequence(self, *labels):
        """``numpy.random.SeedSequence`` of this check's stream (see :meth:`stream_seed`)."""
        import numpy as np

        return np.random.SeedSequence(self.stream_seed(*labels))

    def rng(self, *labels):
        """``numpy.random.Generator`` on this check's stream (see :meth:`stream_seed`)."""
        import numpy as np

        return np.random.default_rng(self.seed_sequence(*labels))


def stream_seed(seed: int, *labels) -> int:
    """A stable 63-bit integer from a run seed and names (SHA-256; the same on every platform)."""
    import hashlib

    text = "\x1f".join([str(int(seed))] + [str(x) for x in labels])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


class ControlKind(str, enum.Enum):
    #: a concrete wrong alternative the check must not accept (its verdict must not be ``holds``)
    NEGATIVE = "negative"
    #: the corrected statement a refuting check must accept (its verdict must be ``holds``)
    POSITIVE = "positive"


@dataclasses.dataclass(frozen=True)
class Control:
    """A control of a check: the check's own logic run against a known alternative.

    Give either ``run`` (the check run against the alternative, returning a :class:`CheckResult`) or
    ``mutant`` (a mutation label ``"derivation[part] operator"`` as ``icl-proofs mutate`` prints it:
    the check is re-run with that derived formula mutated).
    """

    kind: ControlKind
    description: str
    run: Callable[[CheckContext], CheckResult] | None = None
    mutant: str | None = None

    def __post_init__(self):
        if not isinstance(self.kind, ControlKind):
            object.__setattr__(self, "kind", ControlKind(self.kind))
        if (self.run is None) == (self.mutant is None):
            raise TypeError("a Control takes exactly one of run= or mutant=")
        if not self.description:
            raise TypeError("a Control needs a description of its alternative")

    @classmethod
    def negative(cls, description: str, run=None, *, mutant: str | None = None) -> "Control":
        return cls(ControlKind.NEGATIVE, description, run, mutant)

    @classmethod
    def positive(cls, description: str, run=None) -> "Control":
        return cls(ControlKind.POSITIVE, description, run)

    def accepts(self, status: "Status") -> bool:
        """Whether a control run that ended in ``status`` passes."""
        if self.kind is ControlKind.NEGATIVE:
            return status is not Status.HOLDS
        return status is Status.HOLDS


@dataclasses.dataclass(frozen=True)
class Route:
    """How a check reaches its verdict.  ``statistical``: it can refute a true claim by chance (it
    runs at a false-alarm rate α and enters family-wise control)."""

    name: str
    statistical: bool = False
    doc: str = ""


_ROUTES: dict[str, Route] = {}


def register_route(name: str, statistical: bool = False, doc: str = "") -> Route:
    """Declare a route (a plugin may add its own); re-declaring one differently raises."""
    r = Route(name, statistical, doc)
    old = _ROUTES.get(name)
    if old is not None and old != r:
        raise ValueError(f"route {name!r} is already registered as {old}")
    _ROUTES[name] = r
    return r


def route(name: str) -> Route:
    """The registered :class:`Route` called ``name`` (``ValueError`` naming the known ones if none).

    A check that combines routes names them joined by ``+`` (``"exact-rational+enumeration"``):
    each part must be registered, and the combination is statistical if any part is.

    >>> route("exact-moments+quadrature+monte-carlo").statistical
    True
    """
    if name in _ROUTES:
        return _ROUTES[name]
    parts = name.split("+") if isinstance(name, str) else [name]
    unknown = [p for p in parts if p not in _ROUTES]
    if unknown or len(parts) < 2:
        raise ValueError(f"unknown route {(unknown or [name])[0]!r}; known routes: {', '.join(sorted(_ROUTES))} "
                         "(join several with '+'; icl_proofs.claims.base.register_route adds one)")
    return Route(name, any(_ROUTES[p].statistical for p in parts), " + ".join(_ROUTES[p].doc for p in parts))


for _name, _statistical, _doc in (
    ("symbolic", False, "SymPy: a difference simplifies to exactly 0"),
    ("exact-rational", False, "exact rational arithmetic at concrete sizes"),
    ("exact-algebra", False, "exact algebraic decision procedure"),
    ("exact-rational+enumeration", False, "exact arithmetic against brute-force enumeration"),
    ("enumeration", False, "brute-force enumeration of every configuration"),
    ("lp-enumeration", False, "enumeration of linear programs"),
    ("mpmath", False, "arbitrary-precision numerics (quadrature, eigenvalues)"),
    ("hypothesis", False, "Hypothesis-generated cases; a counterexample is exact"),
    ("monte-carlo", True, "simulation with a CLT test at false-alarm rate α"),
    ("numeric", False, "floating-point optimisation or linear algebra"),
    ("numpy-forward", False, "the literal forward pass in NumPy"),
    ("optimisation", False, "numerical optimisation from random starts"),
    ("ode", False, "numerical integration of the gradient flow"),
    ("training", False, "stochastic training of the model"),
    ("structural", False, "a structural property of a construction"),
    ("printed-structure", False, "a structural property of the construction as the paper prints it"),
    ("groebner", False, "a Gröbner basis (exact infeasibility over the complex numbers)"),
    ("exact-moments", False, "exact moments of the data model"),
    ("quadrature", False, "numerical quadrature"),
    ("lp-branching", False, "linear programs over the branches of a complementarity condition"),
    ("setup", False, "building the checks (a crash there)"),
):
    register_route(_name, _statistical, _doc)


@dataclasses.dataclass
class Check:
    """One independent route to (part of) a claim."""

    name: str
    route: str
    run: Callable[[CheckContext], CheckResult]
    #: also run under ``--quick``
    quick: bool = True
    #: negative controls (wrong alternatives it must not accept) and, for a check that refutes a
    #: paper's statement, positive controls (the corrected statement it must accept)
    controls: tuple = ()

    def __post_init__(self):
        route(self.route)  # an unknown route is a programming error, caught where the check is built
        self.controls = tuple(self.controls)
        for c in self.controls:
            if not isinstance(c, Control):
                raise TypeError(f"check {self.name!r}: controls must be Control objects, got {c!r}")

    def negative_controls(self) -> tuple:
        return tuple(c for c in self.controls if c.kind is ControlKind.NEGATIVE)

    def positive_controls(self) -> tuple:
        return tuple(c for c in self.controls if c.kind is ControlKind.POSITIVE)


@dataclasses.dataclass
class Amendment:
    """A corrected form of a claim refuted as printed, checked by the same routes."""

    statement: str
    checks: list  # of Check


#: default of a parameter that may be left out (its value is then ``None``)
OPTIONAL = "(optional)"


@dataclasses.dataclass
class Param:
    """A named, validated parameter of a claim.

    kind: ``"int"`` (positive integer), ``"number"`` (exact rational), ``"spd"`` (symmetric positive
    definite matrix), ``"matrix"`` (any square matrix), ``"bool"``.
    """

    name: str
    kind: str
    doc: str
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"parameter {self.name!r}: unknown kind {self.kind!r} "
                             f"(known: {', '.join(PARAM_KINDS)})")


#: the kinds a :class:`Param` may have (parsed by :mod:`icl_proofs.claims.params`)
PARAM_KINDS = ("int", "number", "spd", "matrix", "bool", "str")


class Claim:
    """Base class of a registered claim.  Subclass it and decorate with :func:`register`."""

    id: str = ""
    paper: str = ""  # e.g. "Zhang, Frei & Bartlett 2023 (arXiv 2306.09927)"
    source: str = ""  # e.g. "Theorem 4.1"
    title: str = ""
    statement: str = ""  # one line, plain text
    statement_latex: str = ""  # LaTeX (text mode, may contain $...$)
    params: tuple[Param, ...] = ()
    #: mutants of a derived formula that cannot change any verdict of this claim, with the reason
    #: (``icl-proofs mutate`` still runs them; a declared one that is killed is reported as a wrong
    #: declaration).  Key: ``"<derivation><part> <operator>"`` as ``mutate`` prints it, e.g.
    #: ``"global_min['L(V)'] drop-trace"``.
    equivalent_mutants: dict[str, str] = {}
    #: controls of the claim's checks by check name (merged into each :class:`Check`'s own
    #: ``controls`` when its checks are planned): a table beside the checks, like
    #: ``equivalent_mutants``, for controls that are mutants of the claim's derivations
    controls: dict[str, tuple] = {}

    def derive(self) -> dict[str, Any]:
        """Symbolic results (SymPy expressions), keyed by name.  Cached by the implementation."""
        return {}

    def quantities(self, values: dict[str, Any], dps: int = 30) -> dict[str, Any]:
        """Closed-form quantities at one configuration: mpmath numbers, mpmath matrices or bools."""
        raise UserInputError(f"claim {self.id} has no numeric quantities; use 'verify' or 'show'")

    def checks(self) -> list[Check]:
        return []

    def validate(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """Cross-parameter checks after each parameter was parsed (raise :class:`UserInputError`);
        may return a replacement dict (e.g. derived defaults).  Default: nothing to check."""
        return None

    def figures(self, out_dir, seed: int = 0, progress: Callable[[str], None] = lambda msg: None) -> list:
        """Figures of this claim for the report: a list of :class:`~icl_proofs.claims.figures.Figure`
        whose PNGs are written into ``out_dir`` (default: none).  The report asks every claim, so a
        new paper's figures need no change to the export layer."""
        return []

    def amendments(self) -> list[Amendment]:
        """Corrected statements that hold where the claim is refuted as printed (run by ``verify``
        when the claim is refuted; each has checks of its own)."""
        return []

    def derivation_latex(self) -> list[tuple[str, str]]:
        """(label, LaTeX math) pairs shown by ``show`` and ``latex``."""
        from ..moments.traces import to_latex

        out = []
        for name, expr in self.derive().items():
            if hasattr(expr, "to_matrix_expr"):
                expr = expr.to_matrix_expr()
            try:
                out.append((name, to_latex(expr)))
            except Exception:  # noqa: BLE001 - not every derived object is printable
                continue
        return out

    def _repr_html_(self) -> str:  # Jupyter: statement and derivation typeset (MathML)
        from ..export.notebook import claim_html

        return claim_html(self)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise UserInputError(f"claim {self.id} has no parameter {name!r}")

    def summary(self) -> dict:
        return {
            "id": self.id,
            "paper": self.paper,
            "source": self.source,
            "title": self.title,
            "statement": self.statement,
            "params": [
                {"name": p.name, "kind": p.kind, "doc": p.doc, "default": _json_default(p.default)}
                for p in self.params
            ],
        }


def _json_default(v):
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


def aggregate(results: list[CheckResult]) -> tuple[Status, dict | None]:
    """A claim is refuted if any check refutes it, holds if every check holds, else inconclusive."""
    for r in results:
        if r.status is Status.REFUTED:
            return Status.REFUTED, (r.witness or {"check": r.name, "evidence": r.evidence})
    if results and all(r.status is Status.HOLDS for r in results):
        return Status.HOLDS, None
    return Status.INCONCLUSIVE, None
