"""The report: one self-contained HTML file and a LaTeX/PDF version of the same content.

Per claim: statement, derived expressions (MathML in HTML, LaTeX in the PDF), verdict, each check's
evidence (digits agreed, z-scores, witnesses) and figures where a picture says more.  The HTML
needs nothing at view time: styles inline, figures as data URIs, mathematics as MathML (rendered
natively by current browsers), no script or font from the network.  A short inline script only
records whether the mathematics and the figures laid out (``body[data-render-check]``), for the
browser test.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from . import latex as _latex

__all__ = ["build_report"]

_STATUS_COLOUR = {"holds": "#1a7f37", "refuted": "#cf222e", "inconclusive": "#9a6700"}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:72rem;margin:2rem auto;
padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;color:#fff;font-size:.8rem;
font-weight:600;vertical-align:middle}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
.math{overflow-x:auto;overflow-y:hidden;max-width:100%;padding:.2rem 0}
figure{margin:1rem 0}figure img{max-width:100%}figcaption{font-size:.85rem;color:#57606a}
.meta td:first-child{width:12rem;color:#57606a}
"""

# Records whether every <math> and <img> laid out with a nonzero box (read by the browser test).
_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var maths = Array.from(document.querySelectorAll('math'));
  var imgs = Array.from(document.querySelectorAll('img'));
  var vw = document.documentElement.clientWidth;
  var badMath = maths.filter(function (m) { var r = m.getBoundingClientRect(); return !(r.width > 0 && r.height > 0); }).length;
  var badImg = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  // a display box reaching past the viewport clips its formula; one that scrolls is fine
  var boxes = Array.from(document.querySelectorAll('.math'));
  var outside = boxes.filter(function (b) { var r = b.getBoundingClientRect(); return r.right > vw + 1 || r.left < -1; }).length;
  var clipped = boxes.filter(function (b) {
    return b.scrollWidth > b.clientWidth + 1 && getComputedStyle(b).overflowX !== 'auto' && getComputedStyle(b).overflowX !== 'scroll'; }).length;
  var text = maths.map(function (m) { return m.textContent; }).join(' ');
  document.body.setAttribute('data-render-check', JSON.stringify(
    {math: maths.length, math_unrendered: badMath, images: imgs.length, images_broken: badImg,
     math_boxes: boxes.length, math_boxes_outside: outside, math_clipped: clipped,
     viewport: vw, math_text: text, body_text: document.body.innerText}));
});
"""


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _mathml(expr) -> str | None:
    """Presentation MathML of a SymPy object, or ``None`` if it is not one."""
    import sympy
    from sympy.printing.mathml import mathml

    if hasattr(expr, "to_matrix_expr"):
        expr = expr.to_matrix_expr()
    if not isinstance(expr, (sympy.Basic, sympy.MatrixBase)):
        return None
    try:
        inner = mathml(expr, printer="presentation")
    except Exception:  # noqa: BLE001 - an object SymPy cannot print goes in as text
        return None
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">{inner}</math>'


def _tex_to_mathml(math: str, display: bool) -> str:
    """MathML from the same LaTeX the PDF typesets (one source of mathematics for both)."""
    from latex2mathml.converter import convert

    return convert(_latex.sanitize_latex(math).replace(r"\ensuremath", ""),
                   display="block" if display else "inline")


def _display_body(disp: str) -> str:
    """The math inside a display environment written by :func:`.printing.display`."""
    body = re.sub(r"^\\\[|\\\]$", "", disp.strip())
    body = body.replace(r"\begin{equation*}", "").replace(r"\end{equation*}", "")
    return body.strip()


def _text_with_math(text: str) -> str:
    """LaTeX text with ``$...$`` (a label, a statement) as HTML with inline MathML."""
    parts = re.split(r"(?<!\\)\$", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            try:
                out.append(_tex_to_mathml(part, display=False))
            except Exception:  # noqa: BLE001 - a formula the converter cannot read shows as text
                out.append(f"<code>{_esc(part)}</code>")
        else:
            plain = re.sub(r"\\(textbf|emph|textit|text|mathrm)\{([^{}]*)\}", r"\2", part)
            plain = plain.replace("~", "\u00a0").replace(r"\,", " ").replace("--", "\u2013")
            out.append(_esc(plain))
    return "".join(out)


def _prose_html(text: str, notation=None) -> str:
    """Plain text (evidence, a statement) as HTML with its formulas in MathML."""
    out = []
    for kind, raw in _latex.prose_parts(text, notation):
        if kind == "text":
            out.append(_esc(raw))
            continue
        try:
            out.append(_tex_to_mathml(raw, display=False))
        except Exception:  # noqa: BLE001 - a formula the converter cannot read stays text
            out.append(_esc(raw))
    return "".join(out)


def _derivations(claim) -> tuple[list[tuple[str, str]], str | None]:
    """(label html, math html) for each derived object; plus an error line if ``derive`` failed."""
    try:
        derived = _latex.derivations(claim)
    except Exception as e:  # noqa: BLE001 - one broken derivation must not lose the report
        return [], f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    out = []
    for _key, label, disp in derived:
        body = _display_body(disp)
        try:
            m = _tex_to_mathml(body, display=True)
            html_math = f'<div class="math">{m}</div>'
        except Exception:  # noqa: BLE001 - shown as LaTeX source rather than lost
            html_math = f"<pre>{_esc(body)}</pre>"
        out.append((_text_with_math(label.text()) if label.text() else "", html_math))
    return out, None


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _figures(claims, fig_dir: Path, seed: int, progress: Callable[[str], None]) -> dict:
    """Figures per claim id, as each claim draws them (:meth:`Claim.figures`): lists of
    {"png": Path, "caption": str, "data": ...}."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    figs: dict[str, list[dict]] = {}
    for claim in claims:
        drawn = claim.figures(fig_dir, seed=seed, progress=progress)
        if drawn:
            figs[claim.id] = [{"png": Path(f.png), "caption": f.caption, "data": f.data} for f in drawn]
    return figs


def _check_rows(checks: list[dict]) -> str:
    rows = []
    for c in checks:
        colour = _STATUS_COLOUR.get(c.get("status"), "#57606a")
        wit = c.get("witness")
        witness = f"<pre>{_esc(json.dumps(wit, indent=1, default=str))}</pre>" if wit else ""
        rows.append(
            f"<tr><td><code>{_esc(c.get('name'))}</code></td><td>{_esc(c.get('route'))}</td>"
            f'<td><span class="badge" style="background:{colour}">{_esc(c.get("status"))}</span></td>'
            f"<td>{_prose_html(c.get('evidence', ''))}{witness}</td></tr>")
    return ("<table><tr><th>check</th><th>route</th><th>verdict</th><th>evidence</th></tr>"
            + "".join(rows) + "</table>")


def _html(claims, results: dict[str, dict], figs: dict, meta: dict, title: str) -> str:
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary_rows = "".join(
        f'<tr><td><a href="#{_esc(cid.split(" ")[0])}"><code>{_esc(cid)}</code></a></td>'
        f'<td><span class="badge" style="background:{_STATUS_COLOUR.get(status, "#57606a")}">'
        f'{_esc(status)}</span></td><td>{_prose_html(note)}</td></tr>'
        for cid, status, note in verdict_rows(claims, results))
    meta_rows = "".join(f"<tr><td>{_esc(k)}</td><td><code>{_esc(v)}</code></td></tr>" for k, v in meta.items())
    sections = []
    for c in claims:
        r = results.get(c.id)
        if r is None:
            continue
        colour = _STATUS_COLOUR.get(r["status"], "#57606a")
        derivs, err = _derivations(c)
        deriv_html = "".join((f"<p>{label}:</p>" if label else "") + body for label, body in derivs)
        if err:
            deriv_html += f"<p><em>Derivation unavailable: {_esc(err)}</em></p>"
        fig_html = "".join(
            f'<figure><img alt="{_esc(f["caption"])}" src="{_data_uri(f["png"])}">'
            f"<figcaption>{_esc(f['caption'])}</figcaption></figure>" for f in figs.get(c.id, []))
        witness = (f"<h3>Witness</h3><pre>{_esc(json.dumps(r['witness'], indent=1, default=str))}</pre>"
                   if r.get("witness") else "")
        sections.append(
            f'<section id="{_esc(c.id)}"><h2><code>{_esc(c.id)}</code> — {_esc(c.title)} '
            f'<span class="badge" style="background:{colour}">{_esc(r["status"])}</span></h2>'
            f"<p><em>Source:</em> {_esc(', '.join(x for x in (c.paper, c.source) if x))}</p>"
            f"<p><strong>Statement.</strong> "
            f"{_text_with_math(c.statement_latex) if c.statement_latex else _prose_html(c.statement)}</p>"
            + (f"<h3>Derivation</h3>{deriv_html}" if deriv_html else "")
            + f"<h3>Checks</h3>{_check_rows(r.get('checks', []))}{witness}{fig_html}</section>")
    counts_text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_esc(title)}</title><style>{_CSS}</style><script>{_CHECK_SCRIPT}</script></head><body>"
        f"<h1>{_esc(title)}</h1><p>{len(results)} claims: {_esc(counts_text)}.</p>"
        f"<table class=\"verdicts\"><tr><th>claim</th><th>verdict</th><th></th></tr>{summary_rows}</table><h2>Run</h2><table class=\"meta\">{meta_rows}</table>"
        + "".join(sections) + "</body></html>\n")


def verdict_rows(claims, results: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(claim id, verdict, note) for the summary table: amendments of a refuted claim follow it."""
    rows = []
    for c in claims:
        r = results.get(c.id)
        if r is None:
            continue
        n = len(r.get("checks", []))
        rows.append((c.id, r["status"], f"{n} check{'s' if n != 1 else ''}"))
        for a in r.get("amendments") or []:
            rows.append((f"{c.id} (amended)", a.get("status", ""), str(a.get("statement", ""))))
    return rows


def _tex_summary(claims, results) -> str:
    esc = _latex.escape_text
    lines = [r"\texttt{%s} & \textbf{%s} & %s \\" % (esc(cid), esc(status), _latex.prose(note))
             for cid, status, note in verdict_rows(claims, results)]
    return ("\\section*{Verdicts}\n\\begin{longtable}{@{}l l p{0.5\\linewidth}@{}}\n"
            "\\textbf{claim} & \\textbf{verdict} & \\\\ \\hline\n\\endhead\n" + "\n".join(lines) + "\n\\end{longtable}\n")


def _tex(claims, results: dict[str, dict], figs: dict, meta: dict, title: str) -> str:
    esc = _latex.escape_text
    body = []
    for c in claims:
        r = results.get(c.id)
        if r is None:
            continue
        sec = _latex.claim_section(c)
        rows = "\n".join(
            r"\item[\textbf{%s}] \texttt{%s} (%s): %s" % (esc(ch.get("status", "")), esc(ch.get("name", "")),
                                                        esc(ch.get("route", "")),
                                                        _latex.prose(ch.get("evidence", "")))
            for ch in r.get("checks", []))
        verdict = r"\medskip\noindent\textbf{Verdict: %s.}" % esc(r["status"])
        checks = ("\\begin{description}\\small\n" + rows + "\n\\end{description}") if rows else ""
        graphics = "\n".join(
            "\\begin{figure}[h!]\\centering\\includegraphics[width=\\linewidth]{%s}\\caption{%s}\\end{figure}"
            % (f["png"].name, esc(f["caption"])) for f in figs.get(c.id, []))
        body.append(sec + verdict + "\n\n" + checks + "\n" + graphics + "\n\\clearpage\n")
    meta_rows = "\n".join(r"\item[%s] \texttt{%s}" % (esc(str(k)), esc(str(v))) for k, v in meta.items())
    return (
        "\\documentclass[10pt]{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{amsmath}\n"
        "\\usepackage{amssymb}\n\\usepackage{graphicx}\n\\graphicspath{{figures/}}\n"
        "\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n\\usepackage{longtable}\n"
        "\\usepackage[margin=2cm]{geometry}\n"
        "\\allowdisplaybreaks\n\\setlength{\\parindent}{0pt}\n"
        f"\\title{{{esc(title)}}}\n\\author{{generated by \\texttt{{icl-proofs}}}}\n\\date{{}}\n"
        "\\begin{document}\n\\maketitle\n"
        + _tex_summary(claims, results) +
        "\\section*{Run}\n\\begin{description}\\small\n" + meta_rows + "\n\\end{description}\n"
        + "\n".join(body) + "\\end{document}\n")


def build_report(
    claims: Iterable,
    results: list[dict],
    out_dir,
    *,
    meta: dict | None = None,
    seed: int = 0,
    figures: bool = True,
    pdf: bool = True,
    title: str = "icl-proofs report",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write ``report.html`` (self-contained), ``report.tex`` and, with pdflatex, ``report.pdf``.

    ``results`` are the per-claim dicts of :func:`icl_proofs.runner.run_claims` (or of a
    ``verify --json`` file).  Returns ``{"html": path, "tex": path, "pdf": path | None,
    "figures": {claim: [png, ...]}, "pdf_error": str | None}``.
    """
    progress = progress or (lambda msg: None)
    claims = list(claims)
    by_id = {r["claim"]: r for r in results}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.setdefault("generated", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    figs = _figures([c for c in claims if c.id in by_id], out / "figures", seed, progress) if figures else {}
    html_path = out / "report.html"
    html_path.write_text(_html(claims, by_id, figs, meta, title), encoding="utf-8")
    tex = _tex(claims, by_id, figs, meta, title)
    tex_path = out / "report.tex"
    tex_path.write_text(tex, encoding="utf-8")
    pdf_path, pdf_error = None, None
    if pdf:
        progress("report: compiling the PDF ...")
        with tempfile.TemporaryDirectory(prefix="icl-proofs-report-") as tmp:
            for fl in figs.values():
                for f in fl:
                    shutil.copyfile(f["png"], Path(tmp) / f["png"].name)
            try:
                built = _latex.compile_pdf(tex, tmp, name="report")
                pdf_path = out / "report.pdf"
                shutil.copyfile(built, pdf_path)
            except _latex.LatexError as e:
                pdf_error = str(e)
    return {"html": html_path, "tex": tex_path, "pdf": pdf_path, "pdf_error": pdf_error,
            "figures": {k: [f["png"] for f in v] for k, v in figs.items()}}
