"""``icl-proofs report --out DIR``: self-contained HTML, LaTeX and PDF of the selected claims."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..claims.base import CheckContext, UserInputError
from .errors import check_alpha
from .options import check_dps, check_options, execution, execution_options, select_claims
from .output import clip, terminal_width
from .progress import Progress

#: the run settings and environment a report states (those a results file or the run has)
_SHOWN_META = ("seed", "quick", "dps", "alpha", "package_version", "python", "platform", "numpy", "sympy",
               "mpmath", "execution", "started", "results_file")


@click.command("report")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder for report.html (self-contained), report.tex, report.pdf and figures/.")
@click.option("--from", "from_json", default=None, metavar="FILE",
              help="Use the verdicts of a 'verify --json' results file ('-': stdin) instead of running "
                   "the checks.")
@check_options
@click.option("--no-figures", is_flag=True, help="Leave out the figures (no matplotlib needed).")
@click.option("--no-pdf", is_flag=True, help="Write report.tex but do not run pdflatex.")
@click.option("--progress", "force_progress", is_flag=True,
              help="Plain progress lines even when stderr is not a terminal.")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages on stderr.")
@execution_options
def report_cmd(patterns, out_dir, from_json, quick, seed, alpha, dps, no_figures, no_pdf, force_progress,
               quiet, workers, scheduler, backend) -> None:
    """Write a report of the selected claims (all if none is named): statement, derivation (MathML /
    LaTeX), verdict, evidence and figures, as self-contained HTML and as LaTeX/PDF."""
    from ..export.report import build_report

    check_alpha(alpha)
    check_output_dir(out_dir)
    claims = select_claims(patterns)
    if not from_json:
        check_dps(claims, dps)
    progress = Progress.choose(quiet=quiet, force=force_progress)
    if from_json:
        claims, results, meta = _results_from_file(from_json, claims, named=bool(patterns))
    else:
        with execution(workers, scheduler, backend):
            results, meta = _results_from_run(claims, progress, quick=quick, seed=seed, alpha=alpha, dps=dps)
    shown = {k: meta.get(k) for k in _SHOWN_META if meta.get(k) is not None}
    info = build_report(claims, results, out_dir, meta=shown, seed=seed, figures=not no_figures,
                        pdf=not no_pdf, progress=(lambda m: None) if quiet else (lambda m: click.echo(m, err=True)))
    _print_verdicts(claims, results)
    click.echo(f"wrote {info['html']}")
    click.echo(f"wrote {info['tex']}")
    if info["pdf"] is not None:
        click.echo(f"wrote {info['pdf']}")
    elif info["pdf_error"] and not quiet:
        click.echo(f"icl-proofs: warning: no PDF ({info['pdf_error']})", err=True)


def _results_from_file(from_json, claims, *, named: bool):
    """The selected claims' verdicts from a ``verify --json`` file (claims it lacks are left out,
    unless they were named)."""
    from ..export.jsonout import read_results

    doc = read_results(from_json)
    if doc is None:
        raise UserInputError(f"{from_json}: no such results file (or it is empty)")
    have = {r["claim"]: r for r in doc["results"]}
    missing = [c.id for c in claims if c.id not in have]
    if named and missing:
        raise UserInputError(f"{from_json} has no results for {', '.join(missing)}")
    claims = [c for c in claims if c.id in have]
    return claims, [have[c.id] for c in claims], {**doc["meta"], "results_file": str(from_json)}


def _results_from_run(claims, progress: Progress, *, quick, seed, alpha, dps):
    """Run the checks now (progress as for ``verify``)."""
    from ..export.jsonout import environment_meta, jsonable
    from ..runner import run_claims

    ctx = CheckContext(quick=quick, seed=seed, dps=dps, alpha=alpha, progress=progress.note)
    progress.start()
    try:
        results = run_claims(
            claims, ctx, on_start=lambda claim, check, i, n: progress.step(i, n, f"{claim.id}: {check.name}"))
    finally:
        progress.close()
    meta = environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha, claims=[c.id for c in claims])
    return [jsonable(r, dps) for r in results], meta


def _print_verdicts(claims, results) -> None:
    """The verdicts, as at the top of the report."""
    from ..export.report import verdict_rows

    rows = verdict_rows(claims, {r["claim"]: r for r in results})
    wid = max((len(cid) for cid, _, _ in rows), default=5)
    width = terminal_width()
    for cid, status, note in rows:
        click.echo(clip(f"{cid:<{wid}}  {status:<12}  {note}", width))


def check_output_dir(out_dir: str) -> None:
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
