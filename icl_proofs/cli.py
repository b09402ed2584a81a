"""The ``icl-proofs`` command.

Exit status: 0 success (``verify``: every selected claim holds), 1 some claim refuted,
3 nothing refuted but something inconclusive, 2 usage or input error, 130 interrupted.  User errors are reported as
one line ``icl-proofs: error: ...`` on stderr, never as a traceback (set ``ICL_PROOFS_DEBUG=1`` to
get the traceback).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
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


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
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
    try:
        cli.main(args=argv, prog_name="icl-proofs")
    except _USER_ERRORS as e:  # raised outside a subcommand
        if os.environ.get("ICL_PROOFS_DEBUG"):
            raise
        click.echo(f"icl-proofs: error: {_one_line(e)}", err=True)
        sys.exit(EXIT_USAGE)


# --------------------------------------------------------------------------- helpers


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
                     help="Local worker processes (default: every core; 1: in this process).")(f)
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
    click.echo(f"{claim.id}" + (f" - {claim.title}" if claim.title else ""))
    if claim.paper or claim.source:
        click.echo("source:    " + ", ".join(x for x in (claim.paper, claim.source) if x))
    click.echo("statement: " + claim.statement)
    if claim.params:
        click.echo("parameters:")
        for p in claim.params:
            default = "required" if p.default is None else f"default {p.default}"
            bounds = ""
            if p.kind == "int" and (p.minimum is not None or p.maximum is not None):
                bounds = f", {p.minimum if p.minimum is not None else 1}..{p.maximum if p.maximum is not None else ''}"
            click.echo(f"  {p.name} ({p.kind}{bounds}; {default}): {p.doc}")
    if derived:
        click.echo("derivation:")
        for name, expr in derived.items():
            try:
                text = sympy.pretty(expr, use_unicode=_unicode_ok())
            except Exception:  # noqa: BLE001 - not every derived object pretty-prints
                text = str(expr)
            if "\n" in text:
                click.echo(f"  {name} =")
                for line in text.splitlines():
                    click.echo("    " + line)
            else:
                click.echo(f"  {name} = {text}")
    if latex_lines:
        click.echo("LaTeX:")
        for label, math in latex_lines:
            click.echo(f"  {label}: {math}")


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
@click.option("--dps", default=30, show_default=True, type=click.IntRange(2, 5000),
              help="Significant decimal digits of the output.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON {claim, params, quantities}.")
@_execution_options
def eval_cmd(claim_id: str, params: tuple[str, ...], dps: int, as_json: bool, workers, scheduler,
             backend) -> None:
    """Evaluate a claim's closed-form quantities at one configuration."""
    from .export.jsonout import encode_params, encode_quantities
    from .numeric.params import parse_params

    claim = registry.get(claim_id)
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
    """Progress on stderr: a ``\\r``-updated line on a terminal, plain lines otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        stream = sys.stderr
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self._shown = 0
        self._step = ""

    def _draw(self, text: str) -> None:
        stream = sys.stderr
        text = _clip(text, max(20, _width() - 1))
        pad = max(0, self._shown - len(text))
        stream.write("\r" + text + " " * pad)
        stream.flush()
        self._shown = len(text)

    def step(self, text: str) -> None:
        if not self.enabled:
            return
        self._step = text
        if self.tty:
            self._draw(text)
        else:
            click.echo(text, err=True)

    def note(self, text: str) -> None:
        """A message from inside a check (only shown on a terminal, next to the current step)."""
        if self.tty:
            self._draw(f"{self._step} {text}")

    def clear(self) -> None:
        if self.tty and self._shown:
            stream = sys.stderr
            stream.write("\r" + " " * self._shown + "\r")
            stream.flush()
            self._shown = 0


_COLS = [26, 15, 32, 12]


def _row(claim: str, route: str, name: str, verdict: str, evidence: str) -> str:
    a, b, c, d = _COLS
    return f"{claim:<{a}} {route:<{b}} {name:<{c}} {verdict:<{d}} {evidence}".rstrip()


def _set_claim_width(claims) -> None:
    _COLS[0] = max(len("CLAIM"), *(len(c.id) for c in claims))


@cli.command("verify")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@click.option("--quick", is_flag=True, help="Run only the quick checks.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random checks.")
@click.option("--alpha", default=1e-3, show_default=True, type=float,
              help="False-alarm rate of each statistical check.")
@click.option("--dps", default=30, show_default=True, type=click.IntRange(2, 5000),
              help="Working precision (decimal digits) of numeric checks.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE", help="Write results as JSON (rewritten after each claim).")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages on stderr.")
@_execution_options
@click.pass_context
def verify_cmd(ctx, patterns, quick, seed, alpha, dps, json_file, quiet, workers, scheduler, backend) -> None:
    """Run the checks of the selected claims (all claims if none is named).

    Exit status 0 if every selected claim holds, 1 if some claim is refuted, 3 if none is refuted
    but some is inconclusive, 2 on a usage error."""
    from .export.jsonout import dump_results, jsonable, write_json
    from .runner import run_claims

    if not 0 < alpha < 1:
        raise click.BadParameter("must be between 0 and 1 (exclusive)", param_hint="'--alpha'")
    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    with _execution(workers, scheduler, backend):
        _verify(ctx, claims, quick, seed, alpha, dps, json_file, quiet)


def _verify(ctx, claims, quick, seed, alpha, dps, json_file, quiet) -> None:
    from .export.jsonout import dump_results, jsonable, write_json
    from .runner import run_claims

    progress = _Progress(enabled=not quiet)
    check_ctx = CheckContext(quick=quick, seed=seed, dps=dps, alpha=alpha, progress=progress.note)
    results: list[dict] = []

    def write() -> None:
        if json_file:
            write_json(json_file, dump_results(results, seed=seed, quick=quick, dps=dps, alpha=alpha))

    write()
    _set_claim_width(claims)
    click.echo(_row("CLAIM", "ROUTE", "CHECK", "VERDICT", "EVIDENCE"))
    t0 = time.perf_counter()

    def on_start(claim, check, i, n):
        progress.step(f"[{i}/{n}] {claim.id}: {check.name} ...")

    witness_shown: set[str] = set()

    def on_check(claim, r):
        progress.clear()
        click.echo(_row(claim.id, r.route, r.name, r.status.value.upper(), " ".join(str(r.evidence).split())))
        if r.status is Status.REFUTED and r.witness:
            click.echo(f"    witness: {_compact(r.witness)}")
            witness_shown.add(claim.id)

    def on_result(res):
        results.append(res)
        write()
        progress.clear()
        n = len(res["checks"])
        click.echo(f"== {res['claim']}: {res['status'].upper()} "
                   f"({n} check{'s' if n != 1 else ''}, {res['seconds']:.1f} s)")
        if res["status"] == Status.REFUTED.value and res.get("witness") and res["claim"] not in witness_shown:
            click.echo(f"   witness: {_compact(jsonable(res['witness'], dps))}")

    run_claims(claims, check_ctx, on_result=on_result, on_check=on_check, on_start=on_start)
    progress.clear()
    counts = {s.value: sum(r["status"] == s.value for r in results) for s in Status}
    click.echo(
        f"{len(results)} claim{'s' if len(results) != 1 else ''}: {counts['holds']} hold, "
        f"{counts['refuted']} refuted, {counts['inconclusive']} inconclusive "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    if json_file:
        click.echo(f"results written to {json_file}", err=True)
    if counts["refuted"]:
        ctx.exit(EXIT_REFUTED)
    if counts["inconclusive"]:
        ctx.exit(EXIT_INCONCLUSIVE)
    ctx.exit(EXIT_OK)


# --------------------------------------------------------------------------- latex


@cli.command("latex")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write to FILE (a .pdf name compiles with pdflatex) instead of stdout.")
def latex_cmd(patterns, output) -> None:
    """Write a LaTeX document with the statements and derivations of the claims (all if none named)."""
    from .export.latex import compile_pdf, document

    claims = registry.select(list(patterns))
    if not claims:
        raise UserInputError("no claims registered")
    tex = document(claims)
    if output is None:
        click.echo(tex, nl=False)
        return
    out = Path(output)
    if out.suffix.lower() == ".pdf":
        with tempfile.TemporaryDirectory(prefix="icl-proofs-latex-") as tmp:
            pdf = compile_pdf(tex, tmp, name=out.stem or "claims")
            shutil.copyfile(pdf, out)
    else:
        out.write_text(tex, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
