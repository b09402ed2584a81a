"""Verify every ding25 claim: ``icl-proofs verify ding25 --quick`` (``--full`` for every check).

    python verification/verify_ding25.py [--full] [--seed S] [--json results.json] [...]
"""
from verify_paper import verify

if __name__ == "__main__":
    verify("ding25")
