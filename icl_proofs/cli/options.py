"""Options several commands share (check settings, where the work runs) and their up-front checks."""
from __future__ import annotations

import os

import click

from ..claims.base import UserInputError

#: the --dps range of every command; a claim may allow less (``Claim.dps_range``).  The top is below
#: Python's 4300-digit limit on converting integers to text, which exact-to-decimal output reaches
MIN_DPS, MAX_DPS = 2, 4000


def dps_range(claim) -> tuple[int, int]:
    """The working precisions a claim's checks and quantities can honour (``Claim.dps_range``)."""
    lo, hi = getattr(claim, "dps_range", (MIN_DPS, MAX_DPS))
    return max(lo, MIN_DPS), min(hi, MAX_DPS)


def check_dps(claims, dps: int) -> None:
    """Refuse up front a --dps that a selected claim cannot run at (instead of crashed checks)."""
    for claim in claims:
        lo, hi = dps_range(claim)
        if not lo <= dps <= hi:
            raise UserInputError(f"--dps {dps} is outside what {claim.id} can do ({lo}..{hi}); "
                                 f"choose a value in that range or leave {claim.id} out")


def select_claims(patterns) -> list:
    """The claims the patterns name (all if none), or a one-line error when there are none at all."""
    from ..claims import registry

    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    return claims


def check_options(f):
    """``--quick``, ``--seed``, ``--alpha``, ``--dps``: the settings a check runs under."""
    f = click.option("--dps", default=30, show_default=True, type=click.IntRange(MIN_DPS, MAX_DPS),
                     help="Working precision (decimal digits) of numeric checks "
                          "(some claims allow less: 'icl-proofs show CLAIM').")(f)
    f = click.option("--alpha", default=1e-3, show_default=True, type=float,
                     help="False-alarm rate of each statistical check.")(f)
    f = click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1),
                     help="Seed of the random checks (and of the report's figures).")(f)
    return click.option("--quick", is_flag=True, help="Run only the quick checks.")(f)


def execution_options(f):
    """``--workers``, ``--scheduler``, ``--backend``: where Monte-Carlo shards run (never what
    they compute: a given seed gives the same numbers with any number of workers or a cluster)."""
    f = click.option("--backend", default="auto", show_default=True, metavar="NAME",
                     help="Array backend of GPU-capable samplers: auto, numpy, cupy, torch "
                          "(auto: a GPU when one is present).")(f)
    f = click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="Run shards on the Dask cluster whose scheduler is at ADDRESS "
                          "(e.g. tcp://10.0.0.5:8786).")(f)
    f = click.option("--workers", default=None, type=click.IntRange(min=1), metavar="N",
                     help="Local worker processes (default: every core, used when a job's measured work pays "
                          "for them; 1: in this process).")(f)
    return f


def execution(workers, scheduler, backend):
    """Validate the execution options up front (one-line errors), and return a context manager."""
    from ..parallel import Execution, backends, executors, using

    timeout = os.environ.get("ICL_PROOFS_SCHEDULER_TIMEOUT", "10")
    try:
        timeout = float(timeout)
    except ValueError:
        raise UserInputError(f"ICL_PROOFS_SCHEDULER_TIMEOUT must be a number of seconds, got {timeout!r}") from None
    ex = Execution(workers=workers, scheduler=scheduler, backend=backend, timeout=timeout)
    backends.resolve(ex.backend)  # unknown or missing backend: one line, before any work
    if ex.scheduler is not None:
        executors.dask_cluster(ex.scheduler, ex.timeout)  # unreachable: one line, before any work
    return using(ex)
