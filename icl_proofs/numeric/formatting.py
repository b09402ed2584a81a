"""Numbers as people read them: a standard error to 2 significant figures (trailing zeros kept), the
estimate to the same decimal place, durations that never read "0.0 s".

>>> estimate(151.79513, 1.04)
'151.8 ± 1.0'
>>> estimate(0.0123456, 0.000321)
'0.01235 ± 0.00032'
>>> estimate(2.5e-9, 3.1e-11)
'2.500e-09 ± 3.1e-11'
>>> seconds(0.004), seconds(2.345), seconds(125)
('< 0.1 s', '2.3 s', '2 min 5 s')
"""
from __future__ import annotations

import math

__all__ = ["sig2", "estimate", "seconds"]


def sig2(x: float) -> str:
    """``x`` to 2 significant figures, trailing zeros kept (1.0, not 1)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:#.2g}".rstrip(".") if abs(x) >= 1e-4 and abs(x) < 1e6 else f"{x:.1e}"


def estimate(mean: float, se: float) -> str:
    """``mean ± se``: the SE to 2 significant figures, the mean to the SE's last decimal place."""
    if not (math.isfinite(mean) and math.isfinite(se)) or se <= 0:
        return f"{mean:.6g} ± {se:g}"
    s = sig2(se)
    if "e" in s:  # very small or large: the mean in scientific notation, to the SE's precision
        digits = max(1, int(math.floor(math.log10(abs(mean)))) - int(math.floor(math.log10(se))) + 1) \
            if mean else 1
        return f"{mean:.{digits}e} ± {s}"
    decimals = max(0, 1 - int(math.floor(math.log10(se))))
    return f"{mean:.{decimals}f} ± {s}"


def seconds(t: float) -> str:
    """A duration: "< 0.1 s", "2.3 s", "2 min 5 s"."""
    if t < 0.1:
        return "< 0.1 s"
    if t < 60:
        return f"{t:.1f} s"
    m, s = divmod(int(round(t)), 60)
    return f"{m} min {s} s"
