"""What a claim's figure is, and the plotting library, loaded on demand.

A claim draws its own figures (:meth:`icl_proofs.claims.base.Claim.figures`); the report only asks
for them, so adding a paper never touches the export layer.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["Figure", "available", "pyplot"]


@dataclasses.dataclass
class Figure:
    """A PNG a claim drew (or ships), its caption, and the plotted numbers (JSON-able) if any."""

    png: Path
    caption: str
    data: Any = None


def available() -> bool:
    """Whether matplotlib is installed (``pip install 'icl-proofs[plots]'``)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
