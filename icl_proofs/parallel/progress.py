"""Where long-running numeric work reports progress, without threading a callback everywhere.

The runner installs the check context's progress callback around each check; Monte-Carlo
estimates and dd25 simulations report to it when no explicit ``progress`` argument is given.

    >>> from icl_proofs.parallel import progress
    >>> seen = []
    >>> with progress.reporting(seen.append):
    ...     progress.sink()("halfway")
    >>> seen
    ['halfway']
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable

__all__ = ["reporting", "sink"]

Sink = Callable[[str], None]
_SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("icl_proofs_progress", default=None)


def _silent(msg: str) -> None:
    pass


def sink(explicit: Sink | None = None) -> Sink:
    """``explicit`` if given, else the installed callback, else one that drops messages."""
    return explicit or _SINK.get() or _silent


@contextlib.contextmanager
def reporting(callback: Sink | None):
    """Send progress messages of the block to ``callback``."""
    token = _SINK.set(callback)
    try:
        yield
    finally:
        _SINK.reset(token)
