"""``icl-proofs latex``: the statements and derivations as a LaTeX document, a PDF, or one display."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..claims.base import UserInputError
from .options import select_claims


@click.command("latex")
@click.argument("patterns", nargs=-1, metavar="[CLAIM|PREFIX]...")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Write to FILE (a .pdf name compiles with pdflatex) instead of stdout.")
@click.option("--expr", "expr_name", default=None, metavar="NAME",
              help="Print only the derived quantity NAME of the one claim named, as a display to paste.")
@click.option("--preamble", is_flag=True, help="Print the packages and macros the formulas need.")
def latex_cmd(patterns, output, expr_name, preamble) -> None:
    """Write a LaTeX document with the statements and derivations of the claims (all if none named)."""
    from ..export.jsonout import check_output_file
    from ..export.latex import document, snippet
    from ..export.latex import preamble as macros

    if preamble:
        click.echo(macros(), nl=False)
        return
    if output is not None:
        check_output_file(output, "output file")
    claims = select_claims(patterns)
    if expr_name is not None:
        if len(claims) != 1:
            raise UserInputError(f"--expr takes one claim; {len(claims)} match {' '.join(patterns) or 'nothing'}")
        click.echo(snippet(claims[0], expr_name), nl=False)
        return
    tex = document(claims)
    if output is None:
        click.echo(tex, nl=False)
        return
    _write(tex, Path(output))


def _write(tex: str, out: Path) -> None:
    """The document to ``out``: compiled when its name ends in .pdf, else the LaTeX source."""
    from ..export.jsonout import write_file_atomic
    from ..export.latex import compile_pdf

    if out.suffix.lower() == ".pdf":
        with tempfile.TemporaryDirectory(prefix="icl-proofs-latex-") as tmp:
            pdf = compile_pdf(tex, tmp, name=out.stem or "claims")
            write_file_atomic(out, Path(pdf).read_bytes())
    else:
        write_file_atomic(out, tex.encode("utf-8"))
    click.echo(f"wrote {out}", err=True)
