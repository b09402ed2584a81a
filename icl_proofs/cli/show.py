"""``icl-proofs show CLAIM``: statement, source, parameters and derivation, in the terminal's width."""
from __future__ import annotations

import json
import textwrap

import click

from ..claims import registry
from .options import MAX_DPS, MIN_DPS, dps_range
from .output import terminal_width, unicode_ok


@click.command("show")
@click.argument("claim_id", metavar="CLAIM")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and derivation as JSON.")
def show_cmd(claim_id: str, as_json: bool) -> None:
    """Show a claim: statement, source, parameters and derivation."""
    claim = registry.get(claim_id)
    derived = claim.derive()
    latex_lines = claim.derivation_latex()
    if as_json:
        doc = claim.summary()
        doc["derivation"] = {str(k): str(v) for k, v in derived.items()}
        doc["derivation_latex"] = [{"label": l, "latex": m} for l, m in latex_lines]
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    width = terminal_width()
    _summary(claim, width)
    if derived:
        _derivation(claim, derived, width)
    if latex_lines:
        _latex_displays(claim, width)


def _wrapped(head: str, text: str, width: int) -> None:
    """``text`` after ``head``, to the terminal's width, continuation indented."""
    click.echo(textwrap.fill(text, max(40, width), initial_indent=head,
                             subsequent_indent=" " * min(len(head), 11), break_on_hyphens=False))


def _summary(claim, width: int) -> None:
    _wrapped("", f"{claim.id}" + (f" - {claim.title}" if claim.title else ""), width)
    if claim.paper or claim.source:
        _wrapped("source:    ", ", ".join(x for x in (claim.paper, claim.source) if x), width)
    _wrapped("statement: ", claim.statement, width)
    if dps_range(claim) != (MIN_DPS, MAX_DPS):
        click.echo("--dps:     %d..%d" % dps_range(claim))
    if claim.params:
        click.echo("parameters:")
        for p in claim.params:
            _wrapped("  ", f"{p.name} ({p.kind}{_bounds(p)}; "
                           f"{'required' if p.default is None else f'default {p.default}'}): {p.doc}", width)


def _bounds(p) -> str:
    """``, 1..8`` for a bounded parameter (an int's lower end defaults to 1)."""
    if p.minimum is None and p.maximum is None:
        return ""
    if p.kind == "int":
        return f", {p.minimum if p.minimum is not None else 1}..{p.maximum if p.maximum is not None else ''}"
    if p.kind == "number":
        return f", {p.minimum if p.minimum is not None else ''}..{p.maximum if p.maximum is not None else ''}"
    return ""


def _derivation(claim, derived: dict, width: int) -> None:
    import sympy

    from ..export import notation, printing

    click.echo("derivation:")
    nt = notation.for_claim(claim)
    for name, expr in derived.items():
        try:  # the LaTeX's canonical form and names, as Unicode text broken between terms
            text = "\n".join(printing.to_text(expr, nt, max(40, width - 6))) if unicode_ok() \
                else sympy.pretty(expr, use_unicode=False)
        except Exception:  # noqa: BLE001 - not every derived object prints as a formula
            text = str(expr)
        if "\n" in text:
            click.echo(f"  {name} =")
            for line in text.splitlines():
                click.echo("    " + line)
        else:
            click.echo(f"  {name} = {text}")


def _latex_displays(claim, width: int) -> None:
    """The paper's notation and labels in words, the same displays ``latex --expr NAME`` prints;
    broken at spaces only, so every line pastes as valid LaTeX."""
    from ..export.latex import derivations

    click.echo(f"LaTeX (one display to paste: icl-proofs latex {claim.id} --expr NAME):")
    for key, label, disp in derivations(claim):
        click.echo(textwrap.fill(f"{key}: {label.text()}", max(40, width - 2), initial_indent="  ",
                                 subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
        for line in disp.splitlines():
            for piece in textwrap.wrap(line, max(40, width - 4), break_long_words=False, break_on_hyphens=False):
                click.echo("    " + piece)
