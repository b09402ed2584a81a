"""Zhang, Frei & Bartlett 2023 (arXiv 2306.09927): derivations, the paper's statements, and claims."""
from . import claims, dynamics_claims, risk_claims  # noqa: F401  (register the claims)
