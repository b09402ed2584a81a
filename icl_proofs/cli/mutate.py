"""``icl-proofs mutate``: mutation-test the checks of the selected claims."""
from __future__ import annotations

import json
import sys

import click

from ..claims.base import CheckContext
from .errors import EXIT_OK, EXIT_REFUTED, check_alpha
from .options import check_dps, check_options, select_claims
from .progress import Progress

_OPERATOR_ALIASES = {"n+1": "1/N→1/(N+1)", "1/n->1/(n+1)": "1/N→1/(N+1)", "lambda^2": "Λ→Λ²",
                     "lambda2": "Λ→Λ²", "missing-half": "missing-½", "half": "missing-½"}


@click.command("mutate")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@check_options
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
    from ..mutation import OPERATORS, mutate_claim, suite_kills, summary_line

    check_alpha(alpha)
    chosen = tuple(_operator_name(o, OPERATORS) for o in operators) or OPERATORS
    if json_file:
        from ..export.jsonout import check_output_file

        check_output_file(json_file, "JSON file")  # before the (long) work, not after it
    claims = select_claims(patterns)
    check_dps(claims, dps)
    progress = Progress.choose(quiet=quiet, force=False)

    def say(text):  # with --json - the JSON alone goes to stdout
        progress.echo(text, err=json_file == "-")

    ctx_ = CheckContext(quick=quick, seed=seed, dps=dps, alpha=alpha)
    out, all_ok = [], True
    progress.start()
    try:
        for claim in claims:
            progress.step(1, 1, f"{claim.id}: finding the derived formulas its checks read")
            cm = mutate_claim(claim, ctx_, chosen, on_mutant=lambda r, i, n, c=claim: progress.step(
                i, n, f"{c.id}: {r.target.rsplit('.', 1)[-1]}{r.path} {r.operator} {r.status}"))
            out.append(cm)
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
        _write_json(json_file, out, claims, chosen, suite, killed=killed, total=total, min_rate=min_rate,
                    seed=seed, quick=quick, dps=dps, alpha=alpha)
    sys.exit(EXIT_OK if all_ok else EXIT_REFUTED)


def _write_json(json_file, out, claims, chosen, suite, *, killed, total, min_rate, seed, quick, dps, alpha):
    """Every mutant and its fate, to FILE or (``-``) stdout."""
    from ..export.jsonout import environment_meta, write_file_atomic

    doc = {"format": "icl-proofs/mutation-results", "format_version": 1,
           "meta": {**environment_meta(seed=seed, quick=quick, dps=dps, alpha=alpha,
                                       claims=[c.id for c in claims]),
                    "operators": list(chosen), "target": min_rate},
           "killed": killed, "total": total, "suite": suite, "claims": [c.to_json() for c in out]}
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if json_file == "-":
        click.echo(text)
    else:
        write_file_atomic(json_file, (text + "\n").encode("utf-8"))


def _operator_name(name: str, known) -> str:
    if name in known:
        return name
    alias = _OPERATOR_ALIASES.get(name.lower())
    if alias is None:
        raise click.BadParameter(f"unknown operator {name!r}; choose from {', '.join(known)} "
                                 f"(or {', '.join(_OPERATOR_ALIASES)})", param_hint="'--operator'")
    return alias
