"""Never evaluate text a user or a file can change (developer guide, "Bad input").

Route: a static AST scan of the whole package for the calls that evaluate Python (``eval``, ``exec``,
``compile``, SymPy's ``parse_expr``), plus the one place that turns text into math — evidence prose,
which ``report --from FILE`` reads from a results file — fed a string that Python would evaluate.
Before: ``export/latex._python_math`` handed such tokens to SymPy's ``parse_expr`` (an ``eval``).
"""
import ast
import pathlib

import icl_proofs
from icl_proofs.export import latex

EVALUATING = {"eval", "exec", "parse_expr", "compile"}


def test_no_module_calls_eval_exec_or_parse_expr():
    root = pathlib.Path(icl_proofs.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name in EVALUATING and not (name == "compile" and isinstance(f, ast.Attribute)):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert found == []


def test_evidence_prose_parses_arithmetic_without_eval(monkeypatch):
    import sympy.parsing.sympy_parser as parser

    def refuse(*a, **k):
        raise AssertionError("parse_expr called on evidence text")

    monkeypatch.setattr(parser, "parse_expr", refuse)
    assert latex.prose("gap N*lambda_i**2/2") == r"gap \ensuremath{\frac{N \lambda_{i}^{2}}{2}}"


def test_python_that_is_not_arithmetic_stays_text():
    hostile = "().__class__.__bases__*x"
    assert latex.parse_arithmetic(hostile) is None
    out = latex.prose(f"evidence {hostile}")
    assert "ensuremath" not in out and r"\_\_class\_\_" in out
