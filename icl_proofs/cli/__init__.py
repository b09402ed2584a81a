"""The ``icl-proofs`` command: the group, its error handling, and one module per subcommand
(``listing``, ``show``, ``evaluate``, ``verify``, ``report``, ``mutate``, ``latex``).

Exit status: 0 success (``verify``: every selected claim holds), 1 some claim refuted,
3 nothing refuted but something inconclusive, 2 usage or input error, 130 interrupted (Ctrl-C or SIGTERM).  User errors are reported as
one line ``icl-proofs: error: ...`` on stderr, never as a traceback (set ``ICL_PROOFS_DEBUG=1`` to
get the traceback).
"""
from __future__ import annotations

import contextlib
import os
import sys

import click

from .errors import (EXIT_INCONCLUSIVE, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUTED, EXIT_USAGE, NO_ARGS_HELP,
                     USER_ERRORS, CliError, one_line, usage_error)
from .evaluate import eval_cmd
from .latex import latex_cmd
from .listing import list_cmd
from .mutate import mutate_cmd
from .options import MAX_DPS, MIN_DPS, dps_range
from .report import report_cmd
from .show import show_cmd
from .verify import VerificationRun, verify_cmd

__all__ = ["cli", "main", "CliError", "VerificationRun", "dps_range", "MIN_DPS", "MAX_DPS", "EXIT_OK",
           "EXIT_REFUTED", "EXIT_USAGE", "EXIT_INCONCLUSIVE", "EXIT_INTERRUPTED"]


@contextlib.contextmanager
def _hypothesis_home():
    """Hypothesis writes files (its example database, a constants cache) under its home directory,
    by default ``.hypothesis/`` in the working directory: during a command it is under the cache
    directory instead (unless HYPOTHESIS_STORAGE_DIRECTORY says otherwise)."""
    try:
        import hypothesis.configuration as hc
    except ImportError:  # pragma: no cover - hypothesis is a dependency
        yield
        return
    key = "__hypothesis_home_directory"
    saved = hc.__dict__.get(key)
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        from ..cache import hypothesis_dir

        hc.set_hypothesis_home_dir(hypothesis_dir())
    try:
        yield
    finally:
        hc.__dict__[key] = saved


class _Group(click.Group):
    """Every failure of a subcommand as one line and the documented exit status."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NO_ARGS_HELP:
            raise
        except click.UsageError as e:
            raise usage_error(e) from None

    def invoke(self, ctx):
        try:
            with _hypothesis_home():
                return super().invoke(ctx)
        except NO_ARGS_HELP:
            raise
        except click.UsageError as e:
            raise usage_error(e) from None
        except USER_ERRORS as e:
            if os.environ.get("ICL_PROOFS_DEBUG") or isinstance(e, BrokenPipeError):
                raise
            raise CliError(one_line(e)) from None
        except KeyboardInterrupt:
            # not click's "Aborted!" with status 1, which would read as "refuted"
            click.echo("\nicl-proofs: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="icl-proofs", prog_name="icl-proofs")
def cli() -> None:
    """Check theorems of in-context-learning papers symbolically and numerically."""


for _command in (list_cmd, show_cmd, eval_cmd, verify_cmd, report_cmd, mutate_cmd, latex_cmd):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``icl-proofs``)."""
    from ..parallel import lifecycle

    lifecycle.handle_sigterm()  # SIGTERM ends a run like Ctrl-C: results kept, workers stopped, exit 130
    try:
        cli.main(args=argv, prog_name="icl-proofs")
    except USER_ERRORS as e:  # raised outside a subcommand
        if os.environ.get("ICL_PROOFS_DEBUG"):
            raise
        click.echo(f"icl-proofs: error: {one_line(e)}", err=True)
        sys.exit(EXIT_USAGE)
