"""icl-proofs: a symbolic-plus-numeric theorem checker for in-context learning in linear attention."""

__version__ = "0.1.0"
