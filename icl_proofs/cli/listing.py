"""``icl-proofs list``: the registered claims, statements in full (wrapped to the terminal)."""
from __future__ import annotations

import json

import click

from ..claims import registry
from .output import clip, hanging, terminal_width

MIN_STATEMENT = 30  # characters: a narrower statement column reads badly
BELOW = 4  # indent of a statement printed below its claim


@click.command("list")
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
    for line in claim_table(claims, terminal_width()):
        click.echo(line)


def claim_table(claims, width: int) -> list[str]:
    """CLAIM, SOURCE, STATEMENT columns; a statement wraps under its column, never cut.  When that
    column would be narrower than ``MIN_STATEMENT`` characters, each statement goes on the lines
    below its claim instead, indented, across the terminal's width."""
    wid = max(len("CLAIM"), *(len(c.id) for c in claims))
    wsrc = min(30, max(len("SOURCE"), *(len(c.source) for c in claims)))
    indent = wid + wsrc + 4
    if width - indent < MIN_STATEMENT:
        lines = [f"{'CLAIM':<{wid}}  SOURCE", f"{'':<{BELOW}}STATEMENT"]
        for c in claims:
            lines.append(f"{c.id:<{wid}}  {clip(c.source, wsrc)}")
            lines += hanging(c.statement, max(MIN_STATEMENT, width - BELOW), " " * BELOW, " " * BELOW)
        return lines
    lines = [f"{'CLAIM':<{wid}}  {'SOURCE':<{wsrc}}  STATEMENT"]
    for c in claims:
        first, *rest = hanging(c.statement, width - indent, "", "")
        lines.append(f"{c.id:<{wid}}  {clip(c.source, wsrc):<{wsrc}}  {first}")
        lines += [" " * indent + more for more in rest]
    return lines
