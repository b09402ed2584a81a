"""How a run ends when it is told to: SIGTERM is handled like Ctrl-C.

``kill PID`` (SIGTERM, also what ``timeout``, systemd and batch schedulers send first) used to end
the process at once: the results file lost its "interrupted" note and the pool's workers outlived
it.  With :func:`handle_sigterm` installed (the command line does it), SIGTERM raises
:class:`Terminated`, a :class:`KeyboardInterrupt`, in the main thread: every path that handles
Ctrl-C runs (the pool's workers are stopped, finished claims are kept with a note to ``--resume``,
one line on stderr) and the exit status is 130, as for Ctrl-C.

Workers end with the run in every case, ``kill -9`` included: each watches its parent
(:func:`icl_proofs.parallel.worker.watch_parent`).
"""
from __future__ import annotations

import signal
import threading

__all__ = ["Terminated", "handle_sigterm"]


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; handled wherever Ctrl-C is."""


def _raise_terminated(signum, frame):
    raise Terminated("terminated (SIGTERM)")


def handle_sigterm() -> bool:
    """Make SIGTERM raise :class:`Terminated` in the main thread; returns whether it was installed.

    Only from the main thread (Python runs handlers there) and only over the default action, so a
    program embedding icl-proofs that handles SIGTERM itself keeps its handler.  Idempotent.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is _raise_terminated:
        return True
    if current not in (signal.SIG_DFL, None):
        return False
    signal.signal(signal.SIGTERM, _raise_terminated)
    return True
