"""Paper claims: each a derivation plus the checks that confirm or refute it."""
from .base import Check, CheckContext, CheckResult, Claim, Param, Status, UserInputError, aggregate
from .registry import all_claims, get, register, select, unregister

__all__ = [
    "Check", "CheckContext", "CheckResult", "Claim", "Param", "Status", "UserInputError",
    "aggregate", "all_claims", "get", "register", "select", "unregister",
]
