"""``icl-proofs eval CLAIM``: a claim's closed-form quantities at one configuration."""
from __future__ import annotations

import json

import click

from ..claims import registry
from .options import MAX_DPS, MIN_DPS, check_dps, execution, execution_options


def format_quantity(enc) -> list[str]:
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


def _echo_named(values: dict) -> None:
    """``name = value`` lines, names aligned; a matrix's further rows under its first."""
    w = max(len(k) for k in values)
    for k, v in values.items():
        for i, line in enumerate(format_quantity(v)):
            click.echo(f"  {k if i == 0 else '':<{w}}  {'=' if i == 0 else ' '} {line}")


@click.command("eval")
@click.argument("claim_id", metavar="CLAIM")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter value (repeatable): 3, 1/3, 0.25, 1e-3, [[2,1],[1,3]], true.")
@click.option("--dps", default=30, show_default=True, type=click.IntRange(MIN_DPS, MAX_DPS),
              help="Significant decimal digits of the output.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON {claim, params, quantities}.")
@execution_options
def eval_cmd(claim_id: str, params: tuple[str, ...], dps: int, as_json: bool, workers, scheduler,
             backend) -> None:
    """Evaluate a claim's closed-form quantities at one configuration."""
    from ..claims.params import parse_params
    from ..export.jsonout import encode_params, encode_quantities

    claim = registry.get(claim_id)
    check_dps([claim], dps)
    values = parse_params(claim, list(params))
    with execution(workers, scheduler, backend):
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
        _echo_named(enc_params)
    click.echo(f"quantities ({dps} significant digits):")
    if not enc_q:
        click.echo("  (none)")
        return
    _echo_named(enc_q)
