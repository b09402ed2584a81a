"""The ``icl-proofs`` command.

Exit status: 0 success (``verify``: every selected claim holds), 1 some claim refuted,
3 nothing refuted but something inconclusive, 2 usage or input error, 130 interrupted (Ctrl-C or SIGTERM).  User errors are reported as
one line ``icl-proofs: error: ...`` on stderr, never as a traceback (set ``ICL_PROOFS_DEBUG=1`` to
get the traceback).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

from .claims import registry
from .claims.base import CheckContext, Status, UserInputError
from .export.latex import LatexError
from .parallel.executors import ShardLostError

EXIT_OK = 0
EXIT_REFUTED = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERRUPTED = 130

#: the --dps range of every command; a claim may allow less (``Claim.dps_range``).  The top is below
#: Python's 4300-digit limit on converting integers to text, which exact-to-decimal output reaches
MIN_DPS, MAX_DPS = 2, 4000

# ShardLostError: a worker died on every retry; reported, never replaced by a smaller sample
_USER_ERRORS = (UserInputError, ValueError, MemoryError, LatexError, OSError, ShardLostError)


class CliError(click.ClickException):
    """A user error: one line on stderr, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: D102
        click.echo(f"icl-proofs: error: {self.message}", err=True)


def _one_line(e: BaseException) -> str:
    if isinstance(e, MemoryError):
        return "out of memory" + (f": {e}" if str(e) else "; try smaller parameters")
    text = " ".join(str(e).split())
    if isinstance(e, OSError) and getattr(e, "strerror", None):
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return text[:500] or type(e).__name__


#: click >= 8.2 shows the help for a bare command as a usage error: that one stays as it is
_NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _usage_error(e: click.UsageError) -> CliError:
    """Click's own usage errors (a bad option value, an unknown option) as our one line."""
    return CliError(" ".join(e.format_message().split()) or "usage error")


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
        from .cache import hypothesis_dir

        hc.set_hypothesis_home_dir(hypothesis_dir())
    try:
        yield
    finally:
        hc.__dict__[key] = saved


class _Group(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS_HELP:
            raise
        except click.UsageError as e:
            raise _usage_error(e) from None

    def invoke(self, ctx):
        try:
            with _hypothesis_home():
                return super().invoke(ctx)
        except _NO_ARGS_HELP:
            raise
        except click.UsageError as e:
            raise _usage_error(e) from None
        except _USER_ERRORS as e:
            if os.environ.get("ICL_PROOFS_DEBUG") or isinstance(e, BrokenPipeError):
                raise
            raise CliError(_one_line(e)) from None
        except KeyboardInterrupt:
            # not click's "Aborted!" with status 1, which would read as "refuted"
            click.echo("\nicl-proofs: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="icl-proofs", prog_name="icl-proofs")
def cli() -> None:
    """Check theorems of in-context-learning papers symbolically and numerically."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``icl-proofs``)."""
    from .parallel import lifecycle

    lifecycle.handle_sigterm()  # SIGTERM ends a run like Ctrl-C: results kept, workers stopped, exit 130
    try:
        cli.main(args=argv, prog_name="icl-proofs")
    except _USER_ERRORS as e:  # raised outside a subcommand
        if os.environ.get("ICL_PROOFS_DEBUG"):
            raise
        click.echo(f"icl-proofs: error: {_one_line(e)}", err=True)
        sys.exit(EXIT_USAGE)


# --------------------------------------------------------------------------- helpers


def dps_range(claim) -> tuple[int, int]:
    """The working precisions a claim's checks and quantities can honour (``Claim.dps_range``)."""
    lo, hi = getattr(claim, "dps_range", (MIN_DPS, MAX_DPS))
    return max(lo, MIN_DPS), min(hi, MAX_DPS)


def _check_dps(claims, dps: int) -> None:
    """Refuse up front a --dps that a selected claim cannot run at (instead of crashed checks)."""
    for claim in claims:
        lo, hi = dps_range(claim)
        if not lo <= dps <= hi:
            raise UserInputError(f"--dps {dps} is outside what {claim.id} can do ({lo}..{hi}); "
                                 f"choose a value in that range or leave {claim.id} out")


def _check_options(f):
    """``--quick``, ``--seed``, ``--alpha``, ``--dps``: the settings a check runs under."""
    f = click.option("--dps", default=30, show_default=True, type=click.IntRange(MIN_DPS, MAX_DPS),
                     help="Working precision (decimal digits) of numeric checks "
                          "(some claims allow less: 'icl-proofs show CLAIM').")(f)
    f = click.option("--alpha", default=1e-3, show_default=True, type=float,
                     help="False-alarm rate of each statistical check.")(f)
    f = click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1),
                     help="Seed of the random checks (and of the report's figures).")(f)
    return click.option("--quick", is_flag=True, help="Run only the quick checks.")(f)


def _execution_options(f):
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


def _execution(workers, scheduler, backend):
    """Validate the execution options up front (one-line errors), and return a context manager."""
    from .parallel import Execution, backends, executors, using

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


def _seconds(t: float) -> str:
    from .numeric.formatting import seconds

    return seconds(t)


def _width() -> int:
    return shutil.get_terminal_size((120, 24)).columns


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def _unicode_ok() -> bool:
    enc = (getattr(sys.stdout, "encoding", None) or "").lower()
    return "utf" in enc


def _compact(obj) -> str:
    from .export.jsonout import jsonable

    return json.dumps(jsonable(obj), separators=(", ", ": "), ensure_ascii=False)


# --------------------------------------------------------------------------- list / show


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of claim summaries.")
def list_cmd(as_json: bool) -> None:
    """List the registered claims."""
    claims = registry.all_claims()
    if as_json:
        click.echo(json.dumps([c.summary() for c in claims], indent=2, ensure_ascii=False))
        return
    if not claims:
        click.echo("no claims registered")
        return
    wid = max(len("CLAIM"), *(len(c.id) for c in claims))
    wsrc = min(30, max(len("SOURCE"), *(len(c.source) for c in claims)))
    room = max(30, _width() - wid - wsrc - 4)
    click.echo(f"{'CLAIM':<{wid}}  {'SOURCE':<{wsrc}}  STATEMENT")
    for c in claims:
        click.echo(f"{c.id:<{wid}}  {_clip(c.source, wsrc):<{wsrc}}  {_clip(c.statement, room)}")


@cli.command("show")
@click.argument("claim_id", metavar="CLAIM")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and derivation as JSON.")
def show_cmd(claim_id: str, as_json: bool) -> None:
    """Show a claim: statement, source, parameters and derivation."""
    import sympy

    claim = registry.get(claim_id)
    derived = claim.derive()
    latex_lines = claim.derivation_latex()
    if as_json:
        doc = claim.summary()
        doc["derivation"] = {str(k): str(v) for k, v in derived.items()}
        doc["derivation_latex"] = [{"label": l, "latex": m} for l, m in latex_lines]
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    import textwrap

    def wrapped(head: str, text: str) -> None:  # to the terminal's width, continuation indented
        click.echo(textwrap.fill(text, max(40, _width()), initial_indent=head,
                                 subsequent_indent=" " * min(len(head), 11), break_on_hyphens=False))

    wrapped("", f"{claim.id}" + (f" - {claim.title}" if claim.title else ""))
    if claim.paper or claim.source:
        wrapped("source:    ", ", ".join(x for x in (claim.paper, claim.source) if x))
    wrapped("statement: ", claim.statement)
    if dps_range(claim) != (MIN_DPS, MAX_DPS):
        click.echo("--dps:     %d..%d" % dps_range(claim))
    if claim.params:
        click.echo("parameters:")
        for p in claim.params:
            default = "required" if p.default is None else f"default {p.default}"
            bounds = ""
            if p.kind == "int" and (p.minimum is not None or p.maximum is not None):
                bounds = f", {p.minimum if p.minimum is not None else 1}..{p.maximum if p.maximum is not None else ''}"
            elif p.kind == "number" and (p.minimum is not None or p.maximum is not None):
                bounds = f", {p.minimum if p.minimum is not None else ''}..{p.maximum if p.maximum is not None else ''}"
            wrapped("  ", f"{p.name} ({p.kind}{bounds}; {default}): {p.doc}")
    if derived:
        from .export import notation, printing

        click.echo("derivation:")
        nt = notation.for_claim(claim)
        for name, expr in derived.items():
            try:  # the LaTeX's canonical form and names, as Unicode text broken between terms
                text = "\n".join(printing.to_text(expr, nt, max(40, _width() - 6))) if _unicode_ok() \
                    else sympy.pretty(expr, use_unicode=False)
            except Exception:  # noqa: BLE001 - not every derived object prints as a formula
                text = str(expr)
            if "\n" in text:
                click.echo(f"  {name} =")
                for line in text.splitlines():
                    click.echo("    " + line)
            else:
                click.echo(f"  {name} = {text}")
    if latex_lines:
        import textwrap

        from .export.latex import derivations

        # the paper's notation and labels in words, the same displays `latex --expr NAME` prints;
        # broken at spaces only, so every line pastes as valid LaTeX
        click.echo(f"LaTeX (one display to paste: icl-proofs latex {claim.id} --expr NAME):")
        for key, label, disp in derivations(claim):
            click.echo(textwrap.fill(f"{key}: {label.text()}", max(40, _width() - 2), initial_indent="  ",
                                     subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
            for line in disp.splitlines():
                for piece in textwrap.wrap(line, max(40, _width() - 4), break_long_words=False,
                                           break_on_hyphens=False):
                    click.echo("    " + piece)


# --------------------------------------------------------------------------- eval


def _format_quantity(enc) -> list[str]:
    """Text lines for one encoded quantity (scalars: one line; matrices: one line per row)."""
    if isinstance(enc, list) and enc and all(isinstance(r, list) for r in enc):
        cols = max(len(r) for r in enc)
        w = [max(len(str(r[j])) for r in enc if j < len(r)) for j in range(cols)]
        return ["[" + "  ".join(f"{str(x):>{w[j]}}" for j, x in enumerate(r)) + "]" for r in enc]
    if isinstance(enc, bool):
        return ["true" if enc else "false"]
    if isinstance(enc, (list, dict)):
        return [json.dumps(enc)]
    return [str(enc)]


@cli.command("eval")
@click.argument("claim_id", metavar="CLAIM")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter value (repeatable): 3, 1/3, 0.25, 1e-3, [[2,1],[1,3]], true.")
@click.option("--dps", default=30, show_default=True, type=click.IntRange(MIN_DPS, MAX_DPS),
              help="Significant decimal digits of the output.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON {claim, params, quantities}.")
@_execution_options
def eval_cmd(claim_id: str, params: tuple[str, ...], dps: int, as_json: bool, workers, scheduler,
             backend) -> None:
    """Evaluate a claim's closed-form quantities at one configuration."""
    from .export.jsonout import encode_params, encode_quantities
    from .claims.params import parse_params

    claim = registry.get(claim_id)
    _check_dps([claim], dps)
    values = parse_params(claim, list(params))
    with _execution(workers, scheduler, backend):
        quantities = claim.quantities(values, dps)
    enc_params = encode_params(values)
    enc_q = encode_quantities(quantities, dps)
    if as_json:
        doc = {"claim": claim.id, "params": enc_params, "quantities": enc_q}
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"claim: {claim.id}")
    if enc_params:
        click.echo("params:")
        w = max(len(k) for k in enc_params)
        for k, v in enc_params.items():
            for i, line in enumerate(_format_quantity(v)):
                click.echo(f"  {k if i == 0 else '':<{w}}  {'=' if i == 0 else ' '} {line}")
    click.echo(f"quantities ({dps} significant digits):")
    if not enc_q:
        click.echo("  (none)")
        return
    w = max(len(k) for k in enc_q)
    for k, v in enc_q.items():
        for i, line in enumerate(_format_quantity(v)):
            click.echo(f"  {k if i == 0 else '':<{w}}  {'=' if i == 0 else ' '} {line}")


# --------------------------------------------------------------------------- verify


class _Progress:
    """Progress of ``verify`` on stderr, in one of three modes:

    * ``"tty"`` (stderr is a terminal): one live line ``[12/80] ████░░░░  15% 00:42 claim: check ...``,
      redrawn at most ``1/INTERVAL`` times a second (a background ticker keeps the clock going);
    * ``"lines"`` (``--progress`` with stderr not a terminal, for logs): one plain line per check;
    * ``"off"`` (``--quiet``, or stderr not a terminal): nothing.

    Anything printed while the live line is shown must go through :meth:`above`.
    """

    INTERVAL = 0.1  # seconds between redraws (at most 10 a second)
    BAR = 20  # characters of the bar

    def __init__(self, mode: str = "off"):
        if mode not in ("off", "lines", "tty"):
            raise ValueError(f"progress mode {mode!r}")
        self.mode = mode
        self.enabled = mode != "off"
        self.tty = mode == "tty"
        self._lock = threading.RLock()
        self._shown = 0  # characters of the live line now on screen
        self._i = self._n = 0
        self._step = ""
        self._note = ""
        self._t0 = time.monotonic()
        self._last = float("-inf")  # when the live line was last drawn
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        enc = (getattr(sys.stderr, "encoding", None) or "").lower()
        self._cells = ("\u2588", "\u2591") if "utf" in enc else ("#", "-")

    @classmethod
    def choose(cls, *, quiet: bool, force: bool) -> "_Progress":
        if quiet:
            return cls("off")
        stream = sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls("tty" if tty else "lines" if force else "off")

    # -- the run

    def start(self) -> None:
        """Start the clock (and on a terminal the ticker)."""
        self._t0 = time.monotonic()
        if self.tty and self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="icl-proofs-progress", daemon=True)
            self._thread.start()

    def step(self, i: int, n: int, text: str) -> None:
        """Check ``i`` of ``n`` starts (``text``: ``claim: check``)."""
        if not self.enabled:
            return
        with self._lock:
            self._i, self._n, self._step, self._note = i, n, text, ""
            if self.tty:
                self._dirty = True
                self._maybe_draw()
            else:
                click.echo(f"[{i}/{n}] {text} ...", err=True)

    def note(self, text: str) -> None:
        """A message from inside a check (shown on a terminal only, after the current step)."""
        if self.tty:
            with self._lock:
                self._note = " ".join(str(text).split())
                self._dirty = True
                self._maybe_draw()

    @contextlib.contextmanager
    def above(self):
        """Print something (a table row) while the live line is off the screen."""
        with self._lock:
            self.clear()
            yield
            self._dirty = True

    def close(self) -> None:
        """Stop the ticker and wipe the live line."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with self._lock:
            self.clear()

    # -- drawing

    def line(self, now: float | None = None) -> str:
        """The live line as it would be drawn now."""
        now = time.monotonic() if now is None else now
        secs = int(max(0.0, now - self._t0))
        h, rest = divmod(secs, 3600)
        clock = f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"
        done = max(0, self._i - 1)  # the i-th check is running, i - 1 are done
        frac = done / self._n if self._n else 0.0
        full = int(round(frac * self.BAR))
        bar = self._cells[0] * full + self._cells[1] * (self.BAR - full)
        text = f"[{self._i}/{self._n}] {bar} {int(frac * 100):3d}% {clock} {self._step} ..."
        if self._note:
            text += f" {self._note}"
        return text

    def _maybe_draw(self) -> None:
        if time.monotonic() - self._last >= self.INTERVAL:
            self._draw()

    def _draw(self) -> None:
        if not self._n:
            return
        stream = sys.stderr
        text = _clip(self.line(), max(20, _width() - 1))
        pad = max(0, self._shown - len(text))
        try:
            stream.write("\r" + text + " " * pad)
            stream.flush()
        except (OSError, ValueError):  # stderr closed: drop the progress, never the run
            self.enabled = self.tty = False
            return
        self._shown = len(text)
        self._last = time.monotonic()
        self._dirty = False

    def _tick(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            with self._lock:
                if self._stop.is_set() or not self.tty:
                    return
                if self._dirty or time.monotonic() - self._last >= 1.0:  # the clock moves each second
                    self._draw()

    def clear(self) -> None:
        with self._lock:
            if self.tty and self._shown:
                stream = sys.stderr
                try:
                    stream.write("\r" + " " * self._shown + "\r")
                    stream.flush()
                except (OSError, ValueError):
                    pass
                self._shown = 0


_COLS = [26, 15, 32, 12]


def _wrap_evidence() -> bool:
    """Evidence wraps on a terminal; piped output keeps one row per check (for grep and scripts)."""
    return sys.stdout.isatty()


def _row(claim: str, route: str, name: str, verdict: str, evidence: str) -> str:
    a, b, c, d = _COLS
    head = f"{claim:<{a}} {route:<{b}} {name:<{c}} {verdict:<{d}} "
    room = _width() - len(head)
    if not _wrap_evidence() or room < 30:
        return (head + evidence).rstrip()
    import textwrap

    lines = textwrap.wrap(evidence, room, break_on_hyphens=False) or [""]
    return "\n".join([head + lines[0]] + [" " * len(head) + line for line in lines[1:]]).rstrip()


def _set_claim_width(claims) -> None:
    _COLS[0] = max(len("CLAIM"), *(len(c.id) for c in claims))


@cli.command("verify")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@_check_options
@click.option("--json", "json_file", default=None, metavar="FILE",
              help="Write the results as JSON to FILE, rewritten (atomically) after every check, so an "
                   "interrupted run keeps every finished claim.  FILE '-': print the JSON document on "
                   "stdout at the end, and the table on stderr instead (nothing else goes to stdout).")
@click.option("--resume", is_flag=True,
              help="Continue the results file of --json FILE: keep its claims, skip them, run the rest. "
                   "FILE must come from the same --seed, --quick, --dps, --alpha, backend and "
                   "icl-proofs version.")
@click.option("--overwrite", is_flag=True,
              help="Replace --json FILE even if it is not an icl-proofs results file (otherwise refused).")
@click.option("--progress", "force_progress", is_flag=True,
              help="Show progress on stderr even when it is not a terminal (one line per check, for "
                   "logs).  By default progress shows on a terminal only.")
@click.option("--quiet", "-q", is_flag=True, help="Nothing on stderr but errors (no progress or notes).")
@click.option("--family-alpha", type=float, default=None, metavar="A",
              help="Family-wise false-alarm rate of the whole run: each of the m statistical checks "
                   "runs at A/m (Bonferroni), and the recorded p-values are then corrected together "
                   "(--family-method).  Excludes --alpha.")
@click.option("--family-method", type=click.Choice(["holm", "bonferroni"]), default="holm", show_default=True,
              help="Correction applied to the recorded p-values with --family-alpha.")
@click.option("--controls", "run_controls", is_flag=True,
              help="Run the checks' controls instead of the checks: each negative control (a known wrong "
                   "alternative) must not hold, each positive control (a corrected statement) must hold, "
                   "and every check must declare a negative control.  Exit 0 if all pass, else 1.")
@_execution_options
@click.pass_context
def verify_cmd(ctx, patterns, quick, seed, alpha, dps, json_file, resume, overwrite, force_progress, quiet,
               family_alpha, family_method, run_controls, workers, scheduler, backend) -> None:
    """Run the checks of the selected claims (all claims if none is named).

    The table of verdicts goes to stdout; progress to stderr, on a terminal only unless --progress.
    With --json FILE an existing results file is overwritten (with a note), continued with --resume,
    and any other existing file is left alone unless --overwrite.

    Exit status 0 if every selected claim holds, 1 if some claim is refuted, 3 if none is refuted
    but some is inconclusive, 2 on a usage error, 130 if interrupted (Ctrl-C or SIGTERM)."""
    if not 0 < alpha < 1:
        raise click.BadParameter("must be between 0 and 1 (exclusive)", param_hint="'--alpha'")
    to_file = json_file is not None and json_file != "-"
    if resume and not to_file:
        raise UserInputError("--resume needs --json FILE (the results file to continue)")
    if overwrite and not to_file:
        raise UserInputError("--overwrite needs --json FILE (the file to replace)")
    if resume and overwrite:
        raise UserInputError("--resume and --overwrite exclude each other (continue FILE, or replace it)")
    if quiet and force_progress:
        raise UserInputError("--quiet and --progress exclude each other")
    if to_file:
        from .export.jsonout import check_output_file

        check_output_file(json_file, "results file")  # before any work: nothing is lost at the end
    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    _check_dps(claims, dps)
    family = None
    if family_alpha is not None:
        from click.core import ParameterSource

        from .runner import bonferroni_alpha, statistical_checks

        if not 0 < family_alpha < 1:
            raise click.BadParameter("must be between 0 and 1 (exclusive)", param_hint="'--family-alpha'")
        if ctx.get_parameter_source("alpha") is ParameterSource.COMMANDLINE:
            raise UserInputError("--alpha and --family-alpha exclude each other (the family rate sets "
                                 "each check's rate)")
        m = len(statistical_checks(claims, CheckContext(quick=quick)))
        alpha = bonferroni_alpha(family_alpha, m)
        family = {"alpha_family": family_alpha, "method": family_method, "m": m}
    if run_controls:
        if resume or overwrite or family is not None or (json_file not in (None, "-")):
            raise UserInputError("--controls takes no results file, --resume, --overwrite or --family-alpha "
                                 "(use --json - for JSON on stdout)")
        with _execution(workers, scheduler, backend):
            _controls(claims, CheckContext(quick=quick, seed=seed, alpha=alpha, dps=dps),
                      as_json=json_file == "-", quiet=quiet)
        return
    argv = _command_line(ctx)
    with _execution(workers, scheduler, backend):
        _verify(ctx, claims, family=family, quick=quick, seed=seed, alpha=alpha, dps=dps, json_file=json_file,
                resume=resume, overwrite=overwrite, force_progress=force_progress, quiet=quiet, argv=argv)


def _controls(claims, cctx: CheckContext, *, as_json: bool, quiet: bool) -> None:
    """``verify --controls``: the contract, then every control, one row each."""
    from . import controls
    from .runner import planned_checks, run_claim

    out = sys.stderr if as_json else sys.stdout
    rows, problems = [], []
    for claim in claims:
        plan = planned_checks(claim, cctx)
        if not isinstance(plan, list):
            problems.append(f"{claim.id}: checks() failed: {plan.evidence}")
            continue
        # which checks refute at these settings: each of them needs a positive control
        baseline = {r["name"]: r["status"] for r in run_claim(claim, cctx, checks=plan)["checks"]}
        problems += controls.contract_problems(claim, plan, baseline)

        def show(o):
            if not quiet or not o.passed:
                mark = "ok  " if o.passed else "FAIL"
                print(f"{mark} {o.claim}:{o.check} [{o.kind}] {o.description} -> {o.status}", file=out)
                if not o.passed:
                    print(f"     {_clip(o.evidence, 300)}", file=out)

        rows += controls.run_controls(claim, cctx, checks=plan, on_outcome=show)
    for p in problems:
        print(f"FAIL {p}", file=out)
    failed = [o for o in rows if not o.passed]
    print(f"{len(rows)} controls: {len(rows) - len(failed)} pass, {len(failed)} fail; "
          f"{len(problems)} contract problem(s)", file=out)
    if as_json:
        json.dump({"controls": [o.to_json() for o in rows], "contract_problems": problems}, sys.stdout,
                  indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    sys.exit(1 if failed or problems else 0)


def _sanitise(value: str) -> str:
    """An argument as recorded in results files: no URL credentials, the home directory as ``~``."""
    value = re.sub(r"(?<=://)[^/@\s]+@", "***@", value)
    home = os.path.expanduser("~")
    if len(home) > 1 and (value == home or value.startswith(home + os.sep)):
        value = "~" + value[len(home):]
    return value


def _command_line(ctx: click.Context) -> list[str]:
    """The command line of this run, rebuilt from what click parsed (the same in a test as in a
    shell): the claims named, then every option given on the command line, long names, sanitised."""
    from click.core import ParameterSource

    argv = ["icl-proofs", ctx.info_name or "verify"]
    options: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            argv += [_sanitise(str(v)) for v in (value or ())]
            continue
        if ctx.get_parameter_source(param.name) not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        opt = max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])
        if getattr(param, "is_flag", False):
            if value:
                options.append(opt)
        elif value is not None:
            options += [opt, _sanitise(str(value))]
    return argv + options


@contextlib.contextmanager
def _stdout_to_stderr():
    """While stdout is reserved for the JSON document (``--json -``), whatever else would write
    there (a check's ``print``, a worker process) goes to stderr instead."""
    saved = fd = None
    try:
        fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        fd = None
    if fd is not None:
        sys.stdout.flush()
        saved = os.dup(fd)
        os.dup2(err_fd, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, fd)
                os.close(saved)


def _open_results(path, run_meta: dict, *, resume: bool, overwrite: bool, quiet: bool, dps: int):
    """The writer of ``--json FILE``, after the checks that keep a file from being lost."""
    from .export.jsonout import FileLock, ResultsFileError

    lock = FileLock(path)
    lock.acquire()  # a second run on the same file is refused here, before any work
    try:
        return _results_writer(path, run_meta, lock, resume=resume, overwrite=overwrite, quiet=quiet, dps=dps)
    except BaseException:
        lock.release()
        raise


def _results_writer(path, run_meta: dict, lock, *, resume: bool, overwrite: bool, quiet: bool, dps: int):
    from .export.jsonout import ResultsFileError, ResultsWriter, check_resumable, read_results

    try:
        doc = read_results(path)
    except ResultsFileError as e:
        if e.kind in ("unreadable", "unwritable", "locked"):
            raise UserInputError(str(e)) from None
        if resume:
            hint = ("; use another file name, or --overwrite without --resume to replace it"
                    if e.kind in ("corrupt", "foreign", "invalid") else "")
            raise UserInputError(f"cannot resume {path}: {e.reason}{hint}") from None
        if e.kind == "newer":  # ours, from a later release: replacing it is what was asked for
            doc = e.doc
        elif overwrite:
            doc = None
        else:
            raise UserInputError(
                f"not overwriting {path}: {e.reason}; use another file name, --resume to continue a "
                f"results file, or --overwrite to replace it") from None
    if resume and doc is not None:
        try:
            check_resumable(path, doc, run_meta)
        except ResultsFileError as e:
            raise UserInputError(f"cannot resume {path}: {e.reason}") from None
        return ResultsWriter.resume(path, doc, run_meta, dps, lock=lock)
    if doc is not None and not quiet:
        results = doc.get("results")
        n = len(results) if isinstance(results, list) else 0
        click.echo(f"overwriting previous results in {path} ({n} claim{'s' if n != 1 else ''})", err=True)
    return ResultsWriter(path, run_meta, dps, lock=lock)


def _verify(ctx, claims, *, family=None, quick, seed, alpha, dps, json_file, resume, overwrite, force_progress, quiet,
            argv) -> None:
    from .export.jsonout import ResultsWriter, environment_meta, jsonable
    from .runner import run_claims

    to_stdout = json_file == "-"
    path = json_file if json_file is not None and not to_stdout else None
    run_meta = environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha, argv=argv,
                                claims=[c.id for c in claims])
    writer = None
    if path is not None:
        writer = _open_results(path, run_meta, resume=resume, overwrite=overwrite, quiet=quiet, dps=dps)
        ctx.call_on_close(writer.close)  # the lock is held to the end of the command
    elif to_stdout:
        writer = ResultsWriter(None, run_meta, dps)
    done = writer.finished() if (writer is not None and resume) else {}
    skipped = [c for c in claims if c.id in done]
    to_run = [c for c in claims if c.id not in done]

    progress = _Progress.choose(quiet=quiet, force=force_progress)
    check_ctx = CheckContext(quick=quick, seed=seed, dps=dps, alpha=alpha, progress=progress.note)
    outcome: dict[str, str] = {c.id: done[c.id]["status"] for c in skipped}  # selected claim -> status
    witness_shown: set[str] = set()

    def emit(line: str) -> None:
        """A line of the table: stdout, or stderr when stdout carries the JSON (--json -)."""
        if to_stdout:
            if not quiet:
                with progress.above():
                    click.echo(line, err=True)
        else:
            with progress.above():
                click.echo(line)

    def claim_line(res: dict, suffix: str = "") -> None:
        n = len(res.get("checks") or ())
        secs = res.get("seconds")
        timing = f", {_seconds(secs)}" if isinstance(secs, (int, float)) else ""
        amended = res.get("amendments") or []
        verdict = str(res["status"]).upper() + (" AS PRINTED" if res["status"] == Status.REFUTED.value else "")
        emit(f"== {res['claim']}: {verdict} "
             + (suffix or f"({n} check{'s' if n != 1 else ''}{timing})"))
        if res["status"] == Status.REFUTED.value and res.get("witness") and res["claim"] not in witness_shown:
            emit(f"   witness: {_compact(jsonable(res['witness'], dps))}")
        for am in amended:
            k = len(am.get("checks") or ())
            emit(f"   amended: {am.get('statement')} — {str(am.get('status')).upper()} "
                 f"({k} check{'s' if k != 1 else ''})")

    def on_start(claim, check, i, n):
        if writer is not None and (writer.partial is None or writer.partial["claim"] != claim.id):
            writer.start_claim(claim.id)
        progress.step(i, n, f"{claim.id}: {check.name}")

    def on_check(claim, r):
        if writer is not None:
            writer.add_check(claim.id, r.to_json())
        emit(_row(claim.id, r.route, r.name, r.status.value.upper(), " ".join(str(r.evidence).split())))
        if r.status is Status.REFUTED and r.witness:
            emit(f"    witness: {_compact(r.witness)}")
            witness_shown.add(claim.id)

    finished: list[dict] = []  # every result of this run, for --family-alpha without a results file

    def on_result(res):
        if writer is not None:
            writer.finish_claim(res)
        finished.append(res)
        outcome[res["claim"]] = res["status"]
        claim_line(res)

    t0 = time.perf_counter()
    interrupted = False
    with _stdout_to_stderr() if to_stdout else contextlib.nullcontext():
        try:
            if writer is not None:
                writer.write()
            _set_claim_width(claims)
            if family is not None:
                emit(f"family-wise α = {family['alpha_family']:g} over {family['m']} statistical checks: "
                     f"each runs at α = {alpha:.3g} (Bonferroni), then {family['method']} on the p-values")
            emit(_row("CLAIM", "ROUTE", "CHECK", "VERDICT", "EVIDENCE"))
            for c in skipped:
                claim_line(done[c.id], "(resumed)")
            progress.start()
            run_claims(to_run, check_ctx, on_result=on_result, on_check=on_check, on_start=on_start)
        except KeyboardInterrupt:
            interrupted = True
            progress.close()
            if writer is not None:
                writer.interrupted()
        finally:
            progress.close()
        if not interrupted:
            counts = {s.value: sum(v == s.value for v in outcome.values()) for s in Status}
            held_amended = sum(1 for r in finished if r.get("status") == Status.REFUTED.value
                               and any(a.get("status") == Status.HOLDS.value for a in r.get("amendments") or ()))
            amended_note = f" ({held_amended} with an amended statement that holds)" if held_amended else ""
            emit(f"{len(outcome)} claim{'s' if len(outcome) != 1 else ''}: {counts['holds']} hold, "
                 f"{counts['refuted']} refuted as printed{amended_note}, {counts['inconclusive']} inconclusive "
                 f"({_seconds(time.perf_counter() - t0)})")
            if family is not None:
                from .runner import family_lines, family_wise

                results = writer.results if writer is not None else finished
                summary = family_wise(results, family["alpha_family"], family["method"], check_alpha=alpha)
                for line in family_lines(summary):
                    emit(line)
                if writer is not None:
                    writer.meta["family_wise"] = jsonable(summary.to_json(), dps)
                    writer.write()
    if to_stdout:
        click.echo(json.dumps(writer.document(), indent=2))
    if interrupted:
        n = len(writer.results) if writer is not None else 0
        where = (f"; {n} finished claim{'s' if n != 1 else ''} kept in {path}; rerun with --resume" if path
                 else f"; the JSON on stdout holds {n} finished claim{'s' if n != 1 else ''}" if to_stdout
                 else "")
        try:
            lead = "\n" if sys.stderr.isatty() else ""
        except (AttributeError, ValueError):
            lead = ""
        click.echo(f"{lead}icl-proofs: interrupted{where}", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    if path is not None and not quiet:
        click.echo(f"results written to {path}", err=True)
    if counts["refuted"]:
        ctx.exit(EXIT_REFUTED)
    if counts["inconclusive"]:
        ctx.exit(EXIT_INCONCLUSIVE)
    ctx.exit(EXIT_OK)


# --------------------------------------------------------------------------- report


@cli.command("report")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder for report.html (self-contained), report.tex, report.pdf and figures/.")
@click.option("--from", "from_json", default=None, metavar="FILE",
              help="Use the verdicts of a 'verify --json' results file ('-': stdin) instead of running "
                   "the checks.")
@_check_options
@click.option("--no-figures", is_flag=True, help="Leave out the figures (no matplotlib needed).")
@click.option("--no-pdf", is_flag=True, help="Write report.tex but do not run pdflatex.")
@click.option("--progress", "force_progress", is_flag=True,
              help="Plain progress lines even when stderr is not a terminal.")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages on stderr.")
@_execution_options
def report_cmd(patterns, out_dir, from_json, quick, seed, alpha, dps, no_figures, no_pdf, force_progress,
               quiet, workers, scheduler, backend) -> None:
    """Write a report of the selected claims (all if none is named): statement, derivation (MathML /
    LaTeX), verdict, evidence and figures, as self-contained HTML and as LaTeX/PDF."""
    from .export.jsonout import environment_meta, jsonable, read_results
    from .export.report import build_report
    from .runner import run_claims

    if not 0 < alpha < 1:
        raise click.BadParameter("must be between 0 and 1 (exclusive)", param_hint="'--alpha'")
    _check_output_dir(out_dir)
    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    if not from_json:
        _check_dps(claims, dps)
    progress = _Progress.choose(quiet=quiet, force=force_progress)
    if from_json:
        doc = read_results(from_json)
        if doc is None:
            raise UserInputError(f"{from_json}: no such results file (or it is empty)")
        have = {r["claim"]: r for r in doc["results"]}
        missing = [c.id for c in claims if c.id not in have]
        if patterns and missing:
            raise UserInputError(f"{from_json} has no results for {', '.join(missing)}")
        claims = [c for c in claims if c.id in have]
        results = [have[c.id] for c in claims]
        meta = {**doc["meta"], "results_file": str(from_json)}
    else:
        with _execution(workers, scheduler, backend):
            ctx_ = CheckContext(quick=quick, seed=seed, dps=dps, alpha=alpha, progress=progress.note)
            progress.start()
            try:
                results = run_claims(
                    claims, ctx_,
                    on_start=lambda claim, check, i, n: progress.step(i, n, f"{claim.id}: {check.name} ..."))
            finally:
                progress.close()
            results = [jsonable(r, dps) for r in results]
            meta = environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha,
                                    claims=[c.id for c in claims])
    shown = {k: meta.get(k) for k in ("seed", "quick", "dps", "alpha", "package_version", "python",
                                      "platform", "numpy", "sympy", "mpmath", "execution", "started",
                                      "results_file") if meta.get(k) is not None}
    info = build_report(claims, results, out_dir, meta=shown, seed=seed, figures=not no_figures,
                        pdf=not no_pdf, progress=(lambda m: None) if quiet else (lambda m: click.echo(m, err=True)))
    from .export.report import verdict_rows

    by_id = {r["claim"]: r for r in results}
    rows = verdict_rows(claims, by_id)
    wid = max((len(cid) for cid, _, _ in rows), default=5)
    for cid, status, note in rows:  # the verdicts, as at the top of the report
        click.echo(_clip(f"{cid:<{wid}}  {status:<12}  {note}", _width()))
    click.echo(f"wrote {info['html']}")
    click.echo(f"wrote {info['tex']}")
    if info["pdf"] is not None:
        click.echo(f"wrote {info['pdf']}")
    elif info["pdf_error"] and not quiet:
        click.echo(f"icl-proofs: warning: no PDF ({info['pdf_error']})", err=True)


def _check_output_dir(out_dir: str) -> None:
    """Refuse, before any work, a report folder that is not a (creatable, writable) directory."""
    p = Path(out_dir)
    if p.is_symlink() or (p.exists() and not p.is_dir()):
        raise UserInputError(f"{out_dir}: the report folder must be a directory (not a file, device or link)")
    if p.exists():
        if not os.access(p, os.W_OK | os.X_OK):
            raise UserInputError(f"{out_dir}: cannot write in this folder")
        return
    parent = next((q for q in p.absolute().parents if q.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"{out_dir}: cannot create this folder (its parent is not writable)")


# --------------------------------------------------------------------------- mutate


@cli.command("mutate")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@_check_options
@click.option("--operator", "operators", multiple=True, metavar="OP",
              help="Only this mutation operator (repeatable): 1/N→1/(N+1) (or n+1), drop-trace, flip-sign, "
                   "Λ→Λ² (or lambda^2), transpose, missing-½ (or missing-half).")
@click.option("--target", "min_rate", default=0.95, show_default=True, type=click.FloatRange(0, 1),
              help="Kill rate every claim must reach; below it the exit status is 1.")
@click.option("--json", "json_file", default=None,
              metavar="FILE", help="Write every mutant and its fate as JSON to FILE ('-' for stdout).")
@click.option("--quiet", "-q", is_flag=True, help="Only the per-claim summary lines.")
def mutate_cmd(patterns, quick, seed, alpha, dps, operators, min_rate, json_file, quiet) -> None:
    """Mutation-test the checks of the selected claims (all if none is named).

    Each derived formula a claim's checks read is perturbed the way hand derivations go wrong, and the
    checks are re-run: a mutant is killed when a check that held no longer holds.  Prints the kill
    rate per claim and every surviving mutant with the checks that read it.  Exit status 0 when every
    claim reaches --target, 1 otherwise."""
    from .mutation import OPERATORS, mutate_claim, suite_kills, summary_line

    if not 0 < alpha < 1:
        raise click.BadParameter("must be between 0 and 1 (exclusive)", param_hint="'--alpha'")
    chosen = tuple(_operator_name(o, OPERATORS) for o in operators) or OPERATORS
    if json_file:
        from .export.jsonout import check_output_file

        check_output_file(json_file, "JSON file")  # before the (long) work, not after it
    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    _check_dps(claims, dps)
    progress = _Progress.choose(quiet=quiet, force=False)

    def say(text):  # with --json - the JSON alone goes to stdout
        click.echo(text, err=json_file == "-")

    ctx_ = CheckContext(quick=quick, seed=seed, dps=dps, alpha=alpha)
    out, all_ok = [], True
    progress.start()
    try:
        for claim in claims:
            progress.step(1, 1, f"{claim.id}: finding the derived formulas its checks read")
            cm = mutate_claim(claim, ctx_, chosen, on_mutant=lambda r, i, n, c=claim: progress.step(
                i, n, f"{c.id}: {r.target.rsplit('.', 1)[-1]}{r.path} {r.operator} {r.status}"))
            out.append(cm)
            with progress.above():
                say(summary_line(cm))
                if not quiet:
                    for m in cm.survivors():
                        say(f"  survived: {m.label} ({m.where}); {m.why}")
                    for m in cm.equivalents():
                        say(f"  equivalent: {m.label} ({m.where}): {m.equivalent}")
                for w in cm.wrong_declarations:
                    say(f"  wrong declaration: {w}")
            if (cm.kill_rate is not None and cm.kill_rate < min_rate) or cm.wrong_declarations or cm.cannot_mutate:
                all_ok = False
    finally:
        progress.close()
    killed = sum(c.killed for c in out)
    total = sum(c.total - c.equivalent for c in out)
    suite = suite_kills(out)
    if total:
        say(f"all: {killed}/{total} mutants killed by their own claim's checks "
                   f"({100 * killed / total:.1f} %; {sum(c.equivalent for c in out)} more declared equivalent); "
                   f"target {100 * min_rate:.0f} % per claim: {'met' if all_ok else 'NOT met'}")
        say(f"distinct mutants (derivation, part, operator): {suite['killed']}/"
                   f"{suite['total'] - suite['equivalent']} killed by some claim's checks "
                   f"({100 * suite['kill_rate']:.1f} %)")
    if json_file:
        from .export.jsonout import environment_meta

        doc = {"format": "icl-proofs/mutation-results", "format_version": 1,
               "meta": {**environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha,
                                           claims=[c.id for c in claims]),
                        "operators": list(chosen), "target": min_rate},
               "killed": killed, "total": total, "suite": suite, "claims": [c.to_json() for c in out]}
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        if json_file == "-":
            click.echo(text)
        else:
            from .export.jsonout import write_file_atomic

            write_file_atomic(json_file, (text + "\n").encode("utf-8"))
    sys.exit(EXIT_OK if all_ok else EXIT_REFUTED)


_OPERATOR_ALIASES = {"n+1": "1/N→1/(N+1)", "1/n->1/(n+1)": "1/N→1/(N+1)", "lambda^2": "Λ→Λ²",
                     "lambda2": "Λ→Λ²", "missing-half": "missing-½", "half": "missing-½"}


def _operator_name(name: str, known) -> str:
    if name in known:
        return name
    alias = _OPERATOR_ALIASES.get(name.lower())
    if alias is None:
        raise click.BadParameter(f"unknown operator {name!r}; choose from {', '.join(known)} "
                                 f"(or {', '.join(_OPERATOR_ALIASES)})", param_hint="'--operator'")
    return alias


# --------------------------------------------------------------------------- latex


@cli.command("latex")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Write to FILE (a .pdf name compiles with pdflatex) instead of stdout.")
@click.option("--expr", "expr_name", default=None, metavar="NAME",
              help="Print only the derived quantity NAME of the one claim named, as a display to paste.")
@click.option("--preamble", is_flag=True, help="Print the packages and macros the formulas need.")
def latex_cmd(patterns, output, expr_name, preamble) -> None:
    """Write a LaTeX document with the statements and derivations of the claims (all if none named)."""
    from .export.jsonout import check_output_file, write_file_atomic
    from .export.latex import compile_pdf, document, snippet
    from .export.latex import preamble as macros

    if preamble:
        click.echo(macros(), nl=False)
        return
    if output is not None:
        check_output_file(output, "output file")
    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    if expr_name is not None:
        if len(claims) != 1:
            raise UserInputError(f"--expr takes one claim; {len(claims)} match {' '.join(patterns) or 'nothing'}")
        click.echo(snippet(claims[0], expr_name), nl=False)
        return
    tex = document(claims)
    if output is None:
        click.echo(tex, nl=False)
        return
    out = Path(output)
    if out.suffix.lower() == ".pdf":
        with tempfile.TemporaryDirectory(prefix="icl-proofs-latex-") as tmp:
            pdf = compile_pdf(tex, tmp, name=out.stem or "claims")
            write_file_atomic(out, Path(pdf).read_bytes())
    else:
        write_file_atomic(out, tex.encode("utf-8"))
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
