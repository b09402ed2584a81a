"""``python -m icl_proofs.cli``: the ``icl-proofs`` command."""
from . import main

main()
