"""Ding, Lu, Lu, Nowicki & Gao 2025 (arXiv 2510.18638): derivations, the paper's statements, and claims."""
from . import claims, fig3, hardness  # noqa: F401  (register the claims)
