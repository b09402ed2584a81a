"""Verify every ding25 claim (Ding, Lu, Lu, Nowicki & Gao 2025) and print, per claim: holds / refuted
(with its witness) / inconclusive.

    python verification/verify_ding25.py [--full] [--seed S] [--json results.json]

The same as ``icl-proofs verify ding25``, written against the Python API (shared with verify_zfb23.py).
"""
import sys

from verify_zfb23 import main

if __name__ == "__main__":
    sys.exit(main("ding25", __doc__))
