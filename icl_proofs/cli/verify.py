"""``icl-proofs verify``: run the checks of the selected claims, print the table of verdicts, and
keep the results file up to date after every check."""
from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time

import click

from ..claims.base import CheckContext, Status, UserInputError
from .errors import EXIT_INCONCLUSIVE, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUTED, check_alpha
from .options import check_dps, check_options, execution, execution_options, select_claims
from .output import VerdictTable, compact, seconds
from .progress import Progress
from .results_file import open_results, stdout_to_stderr


@click.command("verify")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@check_options
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
@execution_options
@click.pass_context
def verify_cmd(ctx, patterns, quick, seed, alpha, dps, json_file, resume, overwrite, force_progress, quiet,
               family_alpha, family_method, run_controls, workers, scheduler, backend) -> None:
    """Run the checks of the selected claims (all claims if none is named).

    The table of verdicts goes to stdout; progress to stderr, on a terminal only unless --progress.
    With --json FILE an existing results file is overwritten (with a note), continued with --resume,
    and any other existing file is left alone unless --overwrite.

    Exit status 0 if every selected claim holds, 1 if some claim is refuted, 3 if none is refuted
    but some is inconclusive, 2 on a usage error, 130 if interrupted (Ctrl-C or SIGTERM)."""
    check_alpha(alpha)
    to_file = json_file is not None and json_file != "-"
    _check_flags(to_file=to_file, resume=resume, overwrite=overwrite, quiet=quiet, force_progress=force_progress)
    if to_file:
        from ..export.jsonout import check_output_file

        check_output_file(json_file, "results file")  # before any work: nothing is lost at the end
    claims = select_claims(patterns)
    check_dps(claims, dps)
    family = None
    if family_alpha is not None:
        family = _family(ctx, claims, family_alpha, family_method, quick=quick)
        alpha = family["check_alpha"]
    if run_controls:
        if resume or overwrite or family is not None or to_file:
            raise UserInputError("--controls takes no results file, --resume, --overwrite or --family-alpha "
                                 "(use --json - for JSON on stdout)")
        from .verify_controls import run_controls as controls

        with execution(workers, scheduler, backend):
            controls(claims, CheckContext(quick=quick, seed=seed, alpha=alpha, dps=dps),
                     as_json=json_file == "-", quiet=quiet)
        return
    run = VerificationRun(claims, family=family, quick=quick, seed=seed, alpha=alpha, dps=dps,
                          json_file=json_file, resume=resume, overwrite=overwrite,
                          force_progress=force_progress, quiet=quiet, argv=command_line(ctx))
    with execution(workers, scheduler, backend):
        ctx.exit(run.execute(ctx))


def _check_flags(*, to_file: bool, resume: bool, overwrite: bool, quiet: bool, force_progress: bool) -> None:
    """Options that need or exclude each other, refused before any work."""
    if resume and not to_file:
        raise UserInputError("--resume needs --json FILE (the results file to continue)")
    if overwrite and not to_file:
        raise UserInputError("--overwrite needs --json FILE (the file to replace)")
    if resume and overwrite:
        raise UserInputError("--resume and --overwrite exclude each other (continue FILE, or replace it)")
    if quiet and force_progress:
        raise UserInputError("--quiet and --progress exclude each other")


def _family(ctx, claims, family_alpha: float, method: str, *, quick: bool) -> dict:
    """``--family-alpha``: the m statistical checks each run at family_alpha / m (Bonferroni)."""
    from click.core import ParameterSource

    from ..runner import bonferroni_alpha, statistical_checks

    check_alpha(family_alpha, "--family-alpha")
    if ctx.get_parameter_source("alpha") is ParameterSource.COMMANDLINE:
        raise UserInputError("--alpha and --family-alpha exclude each other (the family rate sets "
                             "each check's rate)")
    m = len(statistical_checks(claims, CheckContext(quick=quick)))
    return {"alpha_family": family_alpha, "method": method, "m": m,
            "check_alpha": bonferroni_alpha(family_alpha, m)}


class VerificationRun:
    """One ``verify`` run: which claims run (``--resume`` skips the finished ones), the table rows
    as checks finish, the results file after every check, the summary and the exit status."""

    def __init__(self, claims, *, family=None, quick, seed, alpha, dps, json_file, resume, overwrite,
                 force_progress, quiet, argv):
        self.claims = claims
        self.family = family
        self.quick, self.seed, self.alpha, self.dps = quick, seed, alpha, dps
        self.to_stdout = json_file == "-"
        self.path = json_file if json_file is not None and not self.to_stdout else None
        self.resume, self.overwrite, self.quiet = resume, overwrite, quiet
        self.argv = argv
        self.progress = Progress.choose(quiet=quiet, force=force_progress)
        self.table = VerdictTable.for_claims(claims)  # the terminal's width, read once
        self.writer = None
        self.outcome: dict[str, str] = {}  # selected claim -> status
        self.finished: list[dict] = []  # every result of this run, for --family-alpha without a results file
        self.witness_shown: set[str] = set()
        self.interrupted = False

    # -- the steps, in order

    def execute(self, ctx: click.Context) -> int:
        """Run it all; the exit status."""
        self.open_results(ctx)
        done = self.writer.finished() if (self.writer is not None and self.resume) else {}
        self.outcome = {c.id: done[c.id]["status"] for c in self.claims if c.id in done}
        with stdout_to_stderr() if self.to_stdout else contextlib.nullcontext():
            self.run(resumed=[done[c.id] for c in self.claims if c.id in done],
                     to_run=[c for c in self.claims if c.id not in done])
        if self.to_stdout:
            click.echo(json.dumps(self.writer.document(), indent=2))
        if self.interrupted:
            self.say_interrupted()
            return EXIT_INTERRUPTED
        if self.path is not None and not self.quiet:
            click.echo(f"results written to {self.path}", err=True)
        return self.exit_code()

    def open_results(self, ctx: click.Context) -> None:
        """The results writer: a file (locked to the end of the command), or the document for stdout."""
        from ..export.jsonout import ResultsWriter, environment_meta

        run_meta = environment_meta(seed=self.seed, quick=self.quick, dps=self.dps, alpha=self.alpha,
                                    argv=self.argv, claims=[c.id for c in self.claims])
        if self.path is not None:
            self.writer = open_results(self.path, run_meta, resume=self.resume, overwrite=self.overwrite,
                                       quiet=self.quiet, dps=self.dps)
            ctx.call_on_close(self.writer.close)  # the lock is held to the end of the command
        elif self.to_stdout:
            self.writer = ResultsWriter(None, run_meta, self.dps)

    def run(self, *, resumed: list[dict], to_run: list) -> None:
        """The table: a header, the resumed claims, then a row per check as it finishes; Ctrl-C keeps
        what finished."""
        from ..runner import run_claims

        t0 = time.perf_counter()
        check_ctx = CheckContext(quick=self.quick, seed=self.seed, dps=self.dps, alpha=self.alpha,
                                 progress=self.progress.note)
        try:
            if self.writer is not None:
                self.writer.write()
            if self.family is not None:
                self.emit(f"family-wise α = {self.family['alpha_family']:g} over {self.family['m']} statistical "
                          f"checks: each runs at α = {self.alpha:.3g} (Bonferroni), then "
                          f"{self.family['method']} on the p-values")
            self.emit(self.table.header())
            for res in resumed:
                self.claim_line(res, "(resumed)")
            self.progress.start()
            run_claims(to_run, check_ctx, on_result=self.on_result, on_check=self.on_check,
                       on_start=self.on_start)
        except KeyboardInterrupt:
            self.interrupted = True
            self.progress.close()
            if self.writer is not None:
                self.writer.interrupted()
        finally:
            self.progress.close()
        if not self.interrupted:
            self.emit(self.summary(time.perf_counter() - t0))
            if self.family is not None:
                self.family_wise()

    # -- as checks run

    def on_start(self, claim, check, i: int, n: int) -> None:
        if self.writer is not None and (self.writer.partial is None or self.writer.partial["claim"] != claim.id):
            self.writer.start_claim(claim.id)
        self.progress.step(i, n, f"{claim.id}: {check.name}")

    def on_check(self, claim, r) -> None:
        if self.writer is not None:
            self.writer.add_check(claim.id, r.to_json())
        self.emit(self.table.row(claim.id, r.route, r.name, r.status.value.upper(), " ".join(str(r.evidence).split())))
        if r.status is Status.REFUTED and r.witness:
            self.emit(f"    witness: {compact(r.witness)}")
            self.witness_shown.add(claim.id)

    def on_result(self, res: dict) -> None:
        if self.writer is not None:
            self.writer.finish_claim(res)
        self.finished.append(res)
        self.outcome[res["claim"]] = res["status"]
        self.claim_line(res)

    # -- what is printed

    def emit(self, line: str) -> None:
        """A line of the table: stdout, or stderr when stdout carries the JSON (--json -)."""
        if not self.to_stdout:
            self.progress.echo(line)
        elif not self.quiet:
            self.progress.echo(line, err=True)

    def claim_line(self, res: dict, suffix: str = "") -> None:
        """``== claim: VERDICT (n checks, time)``, the witness of a refutation, and its amendments."""
        from ..export.jsonout import jsonable

        n = len(res.get("checks") or ())
        secs = res.get("seconds")
        timing = f", {seconds(secs)}" if isinstance(secs, (int, float)) else ""
        verdict = str(res["status"]).upper() + (" AS PRINTED" if res["status"] == Status.REFUTED.value else "")
        self.emit(f"== {res['claim']}: {verdict} " + (suffix or f"({n} check{'s' if n != 1 else ''}{timing})"))
        if res["status"] == Status.REFUTED.value and res.get("witness") and res["claim"] not in self.witness_shown:
            self.emit(f"   witness: {compact(jsonable(res['witness'], self.dps))}")
        for am in res.get("amendments") or []:
            k = len(am.get("checks") or ())
            self.emit(f"   amended: {am.get('statement')} — {str(am.get('status')).upper()} "
                      f"({k} check{'s' if k != 1 else ''})")

    def counts(self) -> dict[str, int]:
        """How many selected claims hold, are refuted, are inconclusive."""
        return {s.value: sum(v == s.value for v in self.outcome.values()) for s in Status}

    def summary(self, elapsed: float) -> str:
        counts = self.counts()
        held_amended = sum(1 for r in self.finished if r.get("status") == Status.REFUTED.value
                           and any(a.get("status") == Status.HOLDS.value for a in r.get("amendments") or ()))
        amended_note = f" ({held_amended} with an amended statement that holds)" if held_amended else ""
        n = len(self.outcome)
        return (f"{n} claim{'s' if n != 1 else ''}: {counts['holds']} hold, "
                f"{counts['refuted']} refuted as printed{amended_note}, {counts['inconclusive']} inconclusive "
                f"({seconds(elapsed)})")

    def family_wise(self) -> None:
        """``--family-alpha``: the recorded p-values corrected together, printed and kept in the file."""
        from ..export.jsonout import jsonable
        from ..runner import family_lines, family_wise

        results = self.writer.results if self.writer is not None else self.finished
        summary = family_wise(results, self.family["alpha_family"], self.family["method"], check_alpha=self.alpha)
        for line in family_lines(summary):
            self.emit(line)
        if self.writer is not None:
            self.writer.meta["family_wise"] = jsonable(summary.to_json(), self.dps)
            self.writer.write()

    def say_interrupted(self) -> None:
        """One line: interrupted, and where the finished claims are."""
        n = len(self.writer.results) if self.writer is not None else 0
        claims = f"{n} finished claim{'s' if n != 1 else ''}"
        where = (f"; {claims} kept in {self.path}; rerun with --resume" if self.path
                 else f"; the JSON on stdout holds {claims}" if self.to_stdout else "")
        try:
            lead = "\n" if sys.stderr.isatty() else ""
        except (AttributeError, ValueError):
            lead = ""
        click.echo(f"{lead}icl-proofs: interrupted{where}", err=True)

    def exit_code(self) -> int:
        counts = self.counts()
        if counts["refuted"]:
            return EXIT_REFUTED
        if counts["inconclusive"]:
            return EXIT_INCONCLUSIVE
        return EXIT_OK


def _sanitise(value: str) -> str:
    """An argument as recorded in results files: no URL credentials, the home directory as ``~``."""
    value = re.sub(r"(?<=://)[^/@\s]+@", "***@", value)
    home = os.path.expanduser("~")
    if len(home) > 1 and (value == home or value.startswith(home + os.sep)):
        value = "~" + value[len(home):]
    return value


def command_line(ctx: click.Context) -> list[str]:
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
