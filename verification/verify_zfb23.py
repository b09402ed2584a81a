"""Verify every zfb23 claim: ``icl-proofs verify zfb23 --quick`` (``--full`` for every check).

    python verification/verify_zfb23.py [--full] [--seed S] [--json results.json] [...]
"""
from verify_paper import verify

if __name__ == "__main__":
    verify("zfb23")
