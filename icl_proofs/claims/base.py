"""What a claim is: the unit every command works on.

A claim bundles a published statement with

* its **parameters** (validated by :mod:`icl_proofs.numeric.params`),
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

from ..cache import derivation  # noqa: F401  (re-exported: claim modules mark their derivations)


class Status(str, enum.Enum):
    HOLDS = "holds"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


class UserInputError(ValueError):
    """Bad input from a user: reported as one line, never as a traceback."""


@dataclasses.dataclass
class CheckResult:
    """Outcome of one check of one claim."""

    name: str
    route: str
    status: Status
    evidence: str
    details: dict = dataclasses.field(default_factory=dict)
    witness: dict | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "route": self.route,
            "status": self.status.value,
            "evidence": self.evidence,
            "details": self.details,
            "witness": self.witness,
            "seconds": round(self.seconds, 3),
        }


@dataclasses.dataclass
class CheckContext:
    """Settings a check runs under (from the ``verify`` command or a test)."""

    quick: bool = True
    seed: int = 0
    dps: int = 30
    #: false-alarm rate of each statistical (Monte-Carlo) check
    alpha: float = 1e-3
    progress: Callable[[str], None] = lambda msg: None


@dataclasses.dataclass
class Check:
    """One independent route to (part of) a claim."""

    name: str
    route: str
    run: Callable[[CheckContext], CheckResult]
    #: also run under ``--quick``
    quick: bool = True


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

    def derive(self) -> dict[str, Any]:
        """Symbolic results (SymPy expressions), keyed by name.  Cached by the implementation."""
        return {}

    def quantities(self, values: dict[str, Any], dps: int = 30) -> dict[str, Any]:
        """Closed-form quantities at one configuration: mpmath numbers, mpmath matrices or bools."""
        raise UserInputError(f"claim {self.id} has no numeric quantities; use 'verify' or 'show'")

    def checks(self) -> list[Check]:
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
