"""Exit statuses and the one-line error every user mistake becomes (never a traceback)."""
from __future__ import annotations

import click

from ..claims.base import UserInputError
from ..export.latex import LatexError
from ..parallel.executors import ShardLostError

EXIT_OK = 0
EXIT_REFUTED = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERRUPTED = 130

# ShardLostError: a worker died on every retry; reported, never replaced by a smaller sample
USER_ERRORS = (UserInputError, ValueError, MemoryError, LatexError, OSError, ShardLostError)

#: click >= 8.2 shows the help for a bare command as a usage error: that one stays as it is
NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class CliError(click.ClickException):
    """A user error: one line on stderr, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: D102
        click.echo(f"icl-proofs: error: {self.message}", err=True)


def one_line(e: BaseException) -> str:
    """An exception as the one line the user reads."""
    if isinstance(e, MemoryError):
        return "out of memory" + (f": {e}" if str(e) else "; try smaller parameters")
    text = " ".join(str(e).split())
    if isinstance(e, OSError) and getattr(e, "strerror", None):
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return text[:500] or type(e).__name__


def usage_error(e: click.UsageError) -> CliError:
    """Click's own usage errors (a bad option value, an unknown option) as our one line."""
    return CliError(" ".join(e.format_message().split()) or "usage error")


def check_alpha(alpha: float, option: str = "--alpha") -> None:
    """A false-alarm rate strictly between 0 and 1, or a usage error naming the option."""
    if not 0 < alpha < 1:
        raise click.BadParameter("must be between 0 and 1 (exclusive)", param_hint=f"'{option}'")
