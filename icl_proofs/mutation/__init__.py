"""Mutation testing: do the checks catch the mistakes hand derivations make?

:mod:`.operators` perturbs a derived value the way derivations go wrong; :mod:`.engine` finds the
derived formulas a claim's checks read, applies each operator and re-runs the checks.
"""
from .engine import ClaimMutation, MutantResult, derivations, mutate_claim, suite_kills, summary_line
from .operators import OPERATORS, Mutant, mutate

__all__ = ["ClaimMutation", "MutantResult", "OPERATORS", "Mutant", "derivations", "mutate", "mutate_claim",
           "suite_kills", "summary_line"]
