"""The console entry point, kept tiny: Ctrl-C (or SIGTERM) during the first second or two, while
the command's modules are still importing, prints one line and exits 130 instead of a traceback."""
from __future__ import annotations

import signal
import sys


def _interrupted(signum, frame):  # noqa: ARG001 - signal handler signature
    sys.stderr.write("icl-proofs: interrupted\n")
    sys.stderr.flush()
    raise SystemExit(130)


def main(argv=None) -> None:
    """``icl-proofs``: guard the imports, then hand over to :func:`icl_proofs.cli.main` (which
    installs the run's own SIGINT/SIGTERM handling)."""
    previous = signal.signal(signal.SIGINT, _interrupted)
    try:
        from .cli import main as cli_main
    finally:
        signal.signal(signal.SIGINT, previous)
    cli_main(argv)
