"""``python -m icl_proofs``: the same as the ``icl-proofs`` command."""
from ._entry import main

if __name__ == "__main__":
    main()
