"""Demir & Doğan 2025 (arXiv 2510.25753): the Hermite layer, the attention features and their exact
moments, and the finite-d simulation claims."""
from . import attention, baseline_limit, hermite, simulation  # noqa: F401  (register the claims)
