"""The architecture, checked on the source: engines below, papers above, imports only point down.

Layers (bottom to top), see docs/architecture.md:

1. engines: ``errors``, ``cache``, ``moments``, ``numeric``, ``parallel``;
2. shared models: ``models``;
3. the claim framework: ``claims.base``, ``claims.checks``, ``claims.params``, ``claims.registry``;
4. papers: ``claims.<paper>`` (one package each, importing nothing of another paper);
5. on top: ``runner``, ``controls``, ``calibration``, ``mutation``, ``export``, ``strategies``, ``cli``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "icl_proofs"
ENGINES = ("errors", "cache", "moments", "numeric", "parallel", "strategies")
FRAMEWORK = ("claims.base", "claims.checks", "claims.params", "claims.registry", "claims.figures", "claims",
             "testing")
TOP = ("runner", "controls", "calibration", "mutation", "export", "cli")

#: imports made inside a function, of a presentation module, by a lower layer: the only exceptions to
#: "imports point down", each with its reason (a new one must be added here, on purpose)
LAZY_PRESENTATION = {
    ("moments.traces", "export.printing"): "traces.to_latex hands a formula to the paper printer when called",
    ("moments.traces", "export.notation"): "the printer's default notation, when traces.to_latex is called",
    ("claims.base", "export.notebook"): "Claim._repr_html_: Jupyter asks for it when a notebook shows a claim",
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, source: str | None = None) -> set[str]:
    """Every icl_proofs module a file imports (relative imports resolved), without the prefix."""
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".") if pkg else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("icl_proofs"):
                target = node.module[len("icl_proofs"):].lstrip(".")
            else:
                continue
            for a in node.names:
                full = f"{target}.{a.name}" if target else a.name
                sub = PKG / full.replace(".", "/")
                out.add(full if sub.with_suffix(".py").exists() or sub.is_dir() else target)
        elif isinstance(node, ast.Import):
            out |= {a.name[len("icl_proofs"):].lstrip(".") for a in node.names if a.name.startswith("icl_proofs.")}
    return out


def _in(mod: str, layer: tuple[str, ...]) -> bool:
    return any(mod == x or mod.startswith(x + ".") for x in layer)


def _sources():
    return sorted(p for p in PKG.rglob("*.py"))


def _papers() -> list[str]:
    return sorted(p.name for p in (PKG / "claims").iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_engines_import_no_model_claim_paper_or_top_layer():
    """No engine module imports models, claims, papers, export, runner or cli."""
    bad = [f"{_module(p)} imports {m}" for p in _sources() if _in(_module(p), ENGINES)
           for m in _imports(p) if not _in(m, ENGINES) and m and (_module(p), m) not in LAZY_PRESENTATION]
    assert not bad, "\n".join(bad)


def test_shared_models_import_only_engines():
    bad = [f"{_module(p)} imports {m}" for p in _sources() if _in(_module(p), ("models",))
           for m in _imports(p) if m and not _in(m, ENGINES + ("models",))]
    assert not bad, "\n".join(bad)


def test_claim_framework_imports_no_paper_and_nothing_above():
    papers = tuple(f"claims.{p}" for p in _papers())
    bad = [f"{_module(p)} imports {m}" for p in _sources()
           if _in(_module(p), FRAMEWORK) and not _in(_module(p), papers) and _module(p) != "claims"
           for m in _imports(p) if _in(m, papers + TOP) and (_module(p), m) not in LAZY_PRESENTATION]
    assert not bad, "\n".join(bad)


def test_papers_do_not_import_each_other_or_the_top_layer():
    bad = []
    for paper in _papers():
        home = f"claims.{paper}"
        others = tuple(f"claims.{p}" for p in _papers() if p != paper)
        bad += [f"{_module(p)} imports {m}" for p in _sources() if _in(_module(p), (home,))
                for m in _imports(p) if _in(m, others + TOP)]
    assert not bad, "\n".join(bad)


def test_lazy_presentation_imports_are_lazy():
    """The listed exceptions are imports inside functions, never at module level."""
    for (low, high) in LAZY_PRESENTATION:
        path = PKG / (low.replace(".", "/") + ".py")
        tree = ast.parse(path.read_text())
        top = "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
        assert high not in _imports(path, top), (low, high)


def test_export_layer_names_no_claim_id():
    """The export layer asks claims for what it shows (``Claim.figures``); it names none of them."""
    from icl_proofs.claims import registry

    ids = [c.id for c in registry.all_claims()]
    hits = [f"{p.name}: {i}" for p in (PKG / "export").rglob("*.py") for i in ids
            if re.search(re.escape(i) + r"(?![\w.-])", p.read_text())]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("where", ["moments/_probe.py", "parallel/_probe.py", "models/_probe.py"])
def test_the_architecture_test_sees_an_upward_import(where):
    """Negative control: the resolver finds an upward import, relative or absolute, where there is one."""
    probe = PKG / where
    assert "claims.base" in _imports(probe, "from ..claims.base import Claim\n")
    assert "claims.zfb23" in _imports(probe, "from icl_proofs.claims import zfb23\n")


def _paper_named_definitions(source: str) -> list[str]:
    """Module-level functions and classes whose name contains a paper key (``zfb23``, ``ding25``, ...)."""
    keys = _papers()
    return [n.name for n in ast.parse(source).body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and any(k in n.name.lower() for k in keys)]


def test_engines_and_shared_models_define_nothing_named_after_a_paper():
    """A paper's helpers live in its folder (e.g. the reduced zfb23 flow in ``claims/zfb23/flow.py``,
    not in the shared ODE engine ``numeric/gradflow.py``)."""
    bad = [f"{_module(p)}: {name}" for p in _sources() if _in(_module(p), ENGINES + ("models",))
           for name in _paper_named_definitions(p.read_text())]
    assert not bad, "\n".join(bad)


def test_the_paper_name_check_sees_a_paper_helper():
    """Negative control: the definition that used to sit in numeric/gradflow.py is found."""
    assert _paper_named_definitions("def reduced_zfb23_grad(Lambda, N):\n    pass\n") == ["reduced_zfb23_grad"]
