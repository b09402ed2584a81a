"""Verify every dd25 claim (Demir & Doğan 2025) and print, per claim: holds / refuted (with its
witness) / inconclusive.

    python verification/verify_dd25.py [--full] [--seed S] [--json results.json]

The same as ``icl-proofs verify dd25``, written against the Python API (shared with verify_zfb23.py).
The simulation claims are limit statements or empirical findings measured at finite d: see the
README's "Findings / dd25" for how their verdicts are read.
"""
import sys

from verify_zfb23 import main

if __name__ == "__main__":
    sys.exit(main("dd25", __doc__))
