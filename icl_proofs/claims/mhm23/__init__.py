"""Mahankali, Hashimoto & Ma 2023 (arXiv 2307.03576, ICLR 2024): derivations, the paper's statements
(reconstructed where the text could not be read, see docs/papers/mhm23.md), and claims."""
from . import claims  # noqa: F401  (register the claims)
