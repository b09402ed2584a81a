"""Verify every claim of one paper: a thin call of ``icl-proofs verify PAPER`` (same table, same
results-file format, same exit status).

    python verification/verify_zfb23.py [--full] [any option of 'icl-proofs verify']

Without ``--full`` the quick checks run (``--quick``); every other argument is passed through, e.g.
``--seed 3 --json results.json``.
"""
from __future__ import annotations

import sys

from icl_proofs.cli import main


def verify(paper: str, argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    full = "--full" in args
    args = [a for a in args if a != "--full"]
    main(["verify", paper, *([] if full else ["--quick"]), *args])
