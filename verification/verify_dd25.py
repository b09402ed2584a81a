"""Verify every dd25 claim: ``icl-proofs verify dd25 --quick`` (``--full`` for every check).

    python verification/verify_dd25.py [--full] [--seed S] [--json results.json] [...]
"""
from verify_paper import verify

if __name__ == "__main__":
    verify("dd25")
