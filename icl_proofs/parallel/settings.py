"""Where shards run: the number of local workers, a Dask scheduler, the array backend.

One :class:`Execution` is current at a time (a context variable, so threads and nested ``using``
blocks see their own).  The default is every core of this machine through a process pool and the
``auto`` backend; nothing has to be configured.

    >>> from icl_proofs.parallel import settings
    >>> with settings.using(workers=1) as ex:
    ...     ex.workers
    1
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import re

from ..errors import UserInputError

__all__ = ["Execution", "current", "using", "cpu_count", "check_scheduler_address"]

#: ``tcp://host:port``, ``tls://host:port``, ``inproc://...``, ``host:port``, ``ucx://...``
#: where a local job's tasks run: measured routing, or always the pool
PLACEMENTS = ("auto", "pool")

_ADDRESS = re.compile(r"^(?:(tcp|tls|inproc|ucx|ws|wss)://)?[A-Za-z0-9._\-\[\]:/]+$")


def cpu_count() -> int:
    """Cores this process may run on (its CPU affinity where the platform has it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_scheduler_address(address: str) -> str:
    """Return ``address`` stripped, or raise a one-line :class:`UserInputError` if malformed."""
    if not isinstance(address, str) or not address.strip():
        raise UserInputError("scheduler address must be a non-empty string such as tcp://host:8786")
    address = address.strip()
    if not _ADDRESS.match(address) or (":" not in address and "://" not in address):
        raise UserInputError(
            f"malformed scheduler address {address!r}; expected e.g. tcp://10.0.0.5:8786")
    return address


@dataclasses.dataclass(frozen=True)
class Execution:
    """How shards are executed.

    ``workers``: local worker processes (``None``: every core; ``1``: in this process).
    ``scheduler``: address of a Dask distributed scheduler; when set, shards run on its workers and
    ``workers`` is ignored.  ``backend``: ``"auto"``, ``"numpy"``, ``"cupy"`` or ``"torch"`` (see
    :mod:`icl_proofs.parallel.backends`); only samplers that implement ``sample_on`` use it.
    ``retries``: how often a shard lost with its worker is re-run before the run fails.
    ``timeout``: seconds to wait for the scheduler (and for its first worker) before failing.
    ``placement``: ``"auto"`` (default) runs a job's first tasks in this process, measures them, and
    moves the rest to the local pool only when the pool pays for itself (see
    :mod:`icl_proofs.parallel.routing`); ``"pool"`` sends every task to the pool (the behaviour
    before routing; benchmarks and fault-injection tests use it).  Either gives the same numbers.
    """

    workers: int | None = None
    scheduler: str | None = None
    backend: str = "auto"
    retries: int = 2
    timeout: float = 10.0
    placement: str = "auto"

    def __post_init__(self) -> None:
        if self.workers is not None:
            if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
                raise UserInputError(f"workers must be a positive integer, got {self.workers!r}")
        if self.scheduler is not None:
            object.__setattr__(self, "scheduler", check_scheduler_address(self.scheduler))
        if not isinstance(self.backend, str) or not self.backend:
            raise UserInputError(f"backend must be a name, got {self.backend!r}")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise UserInputError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.placement not in PLACEMENTS:
            raise UserInputError(f"placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise UserInputError(f"retries must be an integer >= 0, got {self.retries!r}")

    @property
    def local_workers(self) -> int:
        """Worker processes on this machine (``workers`` or every core)."""
        return self.workers if self.workers is not None else cpu_count()

    def to_json(self) -> dict:
        """Settings for results metadata; ``backend`` as resolved here (``auto`` -> what it chose)."""
        from . import backends

        try:
            b = backends.resolve(self.backend)
            backend = b.name if b.name == "numpy" else f"{b.name}:{b.device}"
        except UserInputError:
            backend = self.backend
        return {"workers": self.local_workers if self.scheduler is None else None,
                "scheduler": self.scheduler, "backend": backend}


_CURRENT: contextvars.ContextVar[Execution] = contextvars.ContextVar("icl_proofs_execution",
                                                                     default=Execution())


def current() -> Execution:
    """The execution settings in force."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(execution: Execution | None = None, **changes):
    """Run the block under ``execution`` (or the current settings with ``changes`` applied).

    Keyword arguments are :class:`Execution` fields; ``None`` values leave a field unchanged.
    """
    base = execution if execution is not None else current()
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = set(changes) - {f.name for f in dataclasses.fields(Execution)}
    if unknown:
        raise TypeError(f"unknown execution settings: {sorted(unknown)}")
    new = dataclasses.replace(base, **changes) if changes else base
    token = _CURRENT.set(new)
    try:
        yield new
    finally:
        _CURRENT.reset(token)
