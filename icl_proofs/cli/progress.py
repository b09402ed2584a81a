"""Progress of a long command on stderr, in one of three modes:

* ``"tty"`` (stderr is a terminal): one live line ``[12/80] ━━━━━━╺━━━━  14% 0:00:42 claim: check ...``
  drawn by ``rich`` (its own refresh thread keeps the clock going, and it wipes the line at the end);
* ``"lines"`` (``--progress`` with stderr not a terminal, for logs): one plain line per step,
  ``[12/80] claim: check ...``;
* ``"off"`` (``--quiet``, or stderr not a terminal): nothing.

Anything printed while the live line is shown goes through :meth:`Progress.echo`, which prints it
above the line.
"""
from __future__ import annotations

import io
import os
import sys

import click

from .output import terminal_width


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def _same_terminal() -> bool:
    """Whether stdout and stderr are one terminal (a row to stdout would then land in the live line)."""
    try:
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (AttributeError, OSError, ValueError):  # not real files (a test runner's buffers)
        try:
            return sys.stdout.isatty()
        except (AttributeError, ValueError):
            return False


class Progress:
    """The progress of one command run (see the module's docstring for the modes)."""

    MODES = ("off", "lines", "tty")
    BAR = 20  # characters of the bar
    REFRESH_PER_SECOND = 10

    def __init__(self, mode: str = "off", *, clock=None):
        if mode not in self.MODES:
            raise ValueError(f"progress mode {mode!r}")
        self.mode = mode
        self.enabled = mode != "off"
        self.tty = mode == "tty"
        self._live = None  # the rich display, while shown
        self._task = None
        self._step = ""
        self._clock = clock  # seconds for the elapsed time (rich's monotonic clock unless a test sets one)
        # read once per run: the width of the live line, and where stdout's rows land
        self.width = terminal_width() if self.tty else 0
        self._rows_share_terminal = _same_terminal() if self.tty else False

    @classmethod
    def choose(cls, *, quiet: bool, force: bool) -> "Progress":
        """Live on a terminal; plain lines for a log only when asked (``--progress``); else nothing."""
        if quiet:
            return cls("off")
        return cls("tty" if _stderr_is_terminal() else "lines" if force else "off")

    # -- the run

    def start(self) -> None:
        """Show the live line (terminal only); its clock starts now."""
        if not self.tty or self._live is not None:
            return
        from rich.console import Console
        from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress
        from rich.table import Column

        console = Console(file=sys.stderr, width=self.width, force_terminal=True, highlight=False, emoji=False)
        self._live = RichProgress(
            TextColumn("[{task.fields[i]}/{task.fields[n]}]", markup=False),
            BarColumn(bar_width=self.BAR),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            # the step's text takes what is left of the line, cut with an ellipsis, never wrapped
            TextColumn("{task.description}", markup=False,
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            console=console, transient=True, redirect_stdout=False, redirect_stderr=False,
            refresh_per_second=self.REFRESH_PER_SECOND, expand=True, get_time=self._clock)
        self._task = self._live.add_task("", total=None, i=0, n=0, visible=False)  # shown from the first step
        self._live.start()

    def step(self, i: int, n: int, text: str) -> None:
        """Step ``i`` of ``n`` starts (``text``: ``claim: check``); ``i - 1`` are done."""
        if not self.enabled:
            return
        if not self.tty:
            click.echo(f"[{i}/{n}] {text} ...", err=True)
            return
        self.start()
        self._step = f"{text} ..."
        self._live.update(self._task, total=n, completed=max(0, i - 1), i=i, n=n, description=self._step,
                          visible=True)

    def note(self, text: str) -> None:
        """A message from inside a check (shown on a terminal only, after the current step)."""
        live = self._live  # read once: a check's thread may note while the run closes the line
        if live is not None:
            live.update(self._task, description=f"{self._step} {' '.join(str(text).split())}")

    def echo(self, line: str, *, err: bool = False) -> None:
        """Print a line (stdout, or stderr with ``err``) above the live line when one is shown."""
        live = self._live
        if live is not None and (err or self._rows_share_terminal):
            try:
                sys.stdout.flush()
                live.console.out(line, highlight=False)  # rich redraws the live line below it
                return
            except (OSError, ValueError):  # stderr closed: drop the progress, never the row
                self.close()
        click.echo(line, err=err)

    def close(self) -> None:
        """Stop the live line and wipe it (safe to call twice)."""
        live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
            except (OSError, ValueError):  # stderr closed
                pass

    def line(self) -> str:
        """The live line as it is drawn now, without colours (for tests and logs)."""
        if self._live is None:
            return ""
        from rich.console import Console

        probe = Console(file=io.StringIO(), width=self.width or 120, color_system=None)
        with probe.capture() as cap:
            probe.print(self._live.get_renderable())
        return cap.get().rstrip("\n")
