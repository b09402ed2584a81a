"""Indexing of the unique entries of a symmetric (d+1)×(d+1) matrix, row-major upper triangle.

Shared by the Markov-chain moment engines and the papers built on them.

>>> pairs(1)
[(0, 0), (0, 1), (1, 1)]
>>> m_of(1), m_of(2)
(3, 6)
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)  # called in inner loops of the Markov engines
def pairs(d: int) -> list[tuple[int, int]]:
    """0-based index pairs (a, c), a <= c, of the unique entries of a (d+1)x(d+1) symmetric matrix."""
    return [(a, c) for a in range(d + 1) for c in range(a, d + 1)]


def m_of(d: int) -> int:
    """How many unique entries a symmetric (d+1)×(d+1) matrix has: (d+1)(d+2)/2."""
    return (d + 1) * (d + 2) // 2
