"""Reproduce the synthetic panels of dd25's Figs. 1-3 (Demir & Doğan, arXiv 2510.25753) at finite d.

    python verification/dd25_figures.py [--out DIR] [--d 40] [--runs 20] [--seed 0] [--float32]
                                        [--only fig1|fig2|fig3] [--json FILE] [--jobs N] [--quick]
                                        [--verbose | --quiet] [--progress-every SECONDS]

Writes ``fig1.png``, ``fig2.png``, ``fig3.png`` into ``--out`` (default ``dd25_figures/``) and one JSON
(``--json``, default ``OUT/dd25_figures.json``) with every point: per model the mean over runs, its
standard error, the 95 % Student-t confidence interval and the number of runs (uniform mixture, per
source, and normalised by the trivial predictor's error), plus the full configuration.  Error bars
in the plots are those 95 % intervals.  Every point uses the same ``--seed`` (common random numbers
across a sweep, so neighbouring points differ mainly by the swept parameter); the numbers are a
deterministic function of the options up to BLAS rounding.

Panels (the simulation is :mod:`icl_proofs.claims.dd25.sim`; its conventions are documented there):

* Fig. 1 — S = 2, ρ = ½, Σ_ξ,1 = I + d² γγᵀ (``fig2_config(d, "task", 0.5, p=4)``), ReLU targets,
  Δ = 0.01: error vs n (k = d²/2), vs ℓ (n = k = d²/2), vs k (n = d²/2); linear, MLP and equivalent
  models; one row per activation (ReLU, tanh).
* Fig. 2 — p = 5, ℓ = d, n = k = d²/2: error vs ρ for (a) an input spike, (b) a task spike,
  (c) label noise Δ_0 = 0.2 vs Δ_1 ∈ {0.01, 0.1, 0.5}; MLP and linear; second row: errors divided by
  the trivial predictor's error (the variance of the test label) per source, then averaged.
* Fig. 3 — (a) input spike, (b) task spike, ρ = ½, error vs η/d² ∈ {0, 0.5, 1, 2, 4, 8} (p = 5);
  the linear model does not depend on η (it is the same number at every η: same seed, η only enters
  stage 1 of the MLP).  Fig. 3c (real multilingual review data) is out of scope.

The trivial predictor's error is drawn as a grey dashed line in every panel.

Run time.  Points are ``simulate`` calls, one after the other; the runs of each are spread over
``--jobs N`` local worker processes (default: the number of CPUs, at most 4; 1 with ``--quick``),
each with one BLAS thread, or over a Dask cluster with ``--scheduler ADDRESS``
(:mod:`icl_proofs.parallel`: the numbers do not depend on either).  Measured on the 2-core
development machine (AMD EPYC) with the earlier one-process-per-point scheduling, which other jobs
shared (load average ≈ 4):

* defaults (d = 40, 20 runs, float64, 2 jobs, 99 distinct simulations): 14 min 12 s wall
  (simulation seconds summed over each figure's points, a point shared by panels counted each time:
  Fig. 1 ≈ 716, Fig. 2 ≈ 929, Fig. 3 ≈ 126);
  one base point (n = k = d²/2, 20 runs) takes ≈ 17 s in a worker, ≈ 11 s when the machine is idle;
* ``--quick`` (d = 16, 3 runs, 53 points): 11 s wall (mostly start-up and the Hermite coefficients);
* ``--float32`` saves roughly a third; ``--d 80`` (the paper's size) costs ≈ 35× one d = 40 point
  (19 s vs 0.55 s per run single-threaded, ``benchmarks/bench_dd25.py``), i.e. roughly 8 hours
  for all three figures on this machine — use ``--only`` and ``--float32`` there.

Progress goes to stderr: on a terminal a live bar (``rich``) with the points done per figure and an
ETA; otherwise (a log, a pipe, CI) a plain line at the first finished run and then every
``--progress-every`` seconds (default 10), e.g. ``points 12/99 (fig1 5/32, fig2 4/55, fig3 3/12),
31 % of the work, elapsed 4 min 10 s, ETA 9 min 12 s``.  The ETA extrapolates over the estimated
cost of the points, not their number (they run most expensive first).  ``--verbose`` adds one
detail line per point, ``--quiet`` shows nothing.  Progress changes no number.  Without matplotlib
the script exits with status 2.
"""
from __future__ import annotations

import os

import argparse
import json
import math
import sys
import time
from typing import Callable

import numpy as np

from icl_proofs import parallel
from icl_proofs.claims.base import UserInputError
from icl_proofs.claims.dd25 import sim

MATPLOTLIB_MISSING = "matplotlib is needed for the figures: pip install -e '.[plots]'"
FIGURES = ("fig1", "fig2", "fig3")
LAM = 5e-5

# The paper's sizes (from the notes, ../shared/papers/dd25.md, "Experiments").
PAPER = {
    "fig1": "paper: d=80, ρ=½, Σξ,1=I+θγγᵀ (θ≍d²), Δ=0.01, η≍d², λ=5e-5, p=4, 20 runs "
            "(the fixed values of ℓ, n, k in each sweep are not stated)",
    "fig2": "paper: d=80, ℓ=d, n=k=0.5d²=3200, λ=5e-5, p=5, 20 runs",
    "fig3": "paper (a, b): sizes not restated (assumed as Fig. 2: d=80, ℓ=d, n=k=0.5d², λ=5e-5); "
            "(c) real data (multilingual reviews, d=ℓ=64, n=k=0.25d²) is out of scope here",
}

# Grids: (default, quick).
GRID = {
    # n: the MLP's ridge threshold is near n = k = d²/2, the linear model's at n = D = d(d+1)
    "n_over_d2": ([0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.25], [0.125, 0.25, 0.5, 0.75, 1.0, 1.25]),
    "ell_over_d": ([0.25, 0.5, 1.0, 2.0, 4.0], [0.25, 1.0, 4.0]),
    "k_over_d2": ([0.125, 0.25, 0.375, 0.5, 0.75, 1.0], [0.125, 0.25, 0.5, 1.0]),
    "rho": ([round(0.1 * i, 1) for i in range(11)], [0.0, 0.25, 0.5, 0.75, 1.0]),
    "eta_over_d2": ([0.0, 0.5, 1.0, 2.0, 4.0, 8.0], [0.0, 1.0, 4.0]),
}
DELTA1 = (0.01, 0.1, 0.5)
STYLE = {"linear": ("C0", "o"), "mlp": ("C3", "s"), "equivalent": ("C2", "^")}
LABEL = {"linear": "linear transformer", "mlp": "MLP transformer", "equivalent": "equivalent model"}


# ------------------------------------------------------------------------------------ points
def _grid(name: str, quick: bool) -> list[float]:
    return GRID[name][1 if quick else 0]


def _size(c: float, d: int) -> int:
    return max(1, int(round(c * d * d)))


def _points(fig: str, d: int, quick: bool, dtype: str) -> list[dict]:
    """The points of one figure: dicts with panel, curve, x (the plotted abscissa) and the Config."""
    pts = []
    half = _size(0.5, d)
    common = dict(lam=LAM, dtype=dtype)
    if fig == "fig1":
        for act in ("relu", "tanh"):
            base = dict(activation=act, p=4, **common)
            for c in _grid("n_over_d2", quick):
                pts.append(dict(panel=f"{act}/n", x=c, x_name="n/d²",
                                config=sim.fig2_config(d, "task", 0.5, n=_size(c, d), k=half, **base)))
            for c in _grid("ell_over_d", quick):
                pts.append(dict(panel=f"{act}/ell", x=c, x_name="ℓ/d",
                                config=sim.fig2_config(d, "task", 0.5, ell=max(1, int(round(c * d))),
                                                       n=half, k=half, **base)))
            for c in _grid("k_over_d2", quick):
                pts.append(dict(panel=f"{act}/k", x=c, x_name="k/d²",
                                config=sim.fig2_config(d, "task", 0.5, n=half, k=_size(c, d), **base)))
    elif fig == "fig2":
        models = ("linear", "mlp")
        for rho in _grid("rho", quick):
            for which in ("input", "task"):
                pts.append(dict(panel=which, x=rho, x_name="ρ (share of source 1)",
                                config=sim.fig2_config(d, which, rho, p=5, n=half, k=half, models=models,
                                                       **common)))
            for d1 in DELTA1:
                pts.append(dict(panel="noise", curve=f"Δ1={d1:g}", delta1=d1, x=rho, x_name="ρ (share of source 1)",
                                config=sim.fig2_config(d, "noise", rho, p=5, n=half, k=half, delta1=d1,
                                                       models=models, **common)))
    elif fig == "fig3":
        for which in ("input", "task"):
            for e in _grid("eta_over_d2", quick):
                pts.append(dict(panel=which, x=e, x_name="η/d²",
                                config=sim.fig2_config(d, which, 0.5, p=5, n=half, k=half, eta_scale=e,
                                                       **common)))
    else:
        raise UserInputError(f"unknown figure {fig!r}; choose from {', '.join(FIGURES)}")
    for p in pts:
        p["figure"] = fig
    return pts


def _key(cfg: sim.Config) -> str:
    return json.dumps(sim.config_json(cfg), sort_keys=True, default=str)


def _cost(cfg: sim.Config) -> float:
    """Rough flop count of one run (for scheduling the longest points first)."""
    n, k, D = cfg.n, cfg.k, cfg.D
    return (3 * n + 2 * cfg.n_test) * k * D + n * D * min(n, D) + n * k * min(n, k) + n * cfg.ell * cfg.d


def _finite(obj):
    """JSON-safe copy: non-finite floats become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


# ------------------------------------------------------------------------------------ progress
def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min 10 s``, ``2 h 05 min``: an elapsed time or an ETA, as a person reads it."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Meter:
    """Progress of the simulations with an ETA.  Points differ in cost by orders of magnitude (they
    run most expensive first), so the ETA extrapolates the elapsed time over the *cost* done
    (:func:`_cost`, the flops of one run), not over the number of points.

    Subclasses show it: :class:`LineMeter` (plain lines, for logs and pipes) and :class:`RichMeter`
    (a live bar on a terminal).  ``clock`` is injectable for the tests."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.points: dict[str, list[int]] = {}  # figure -> [done, total]
        self.total_cost = self.done_cost = self.partial_cost = 0.0
        self.done = self.total = 0
        self.t_start = clock()

    def start(self, figures_of: dict[str, list[str]], costs: dict[str, float], what: str) -> None:
        """``figures_of``: each distinct point's figures; ``costs``: each point's cost."""
        self.total, self.total_cost = len(costs), float(sum(costs.values()))
        for figs in figures_of.values():
            for fig in figs:
                self.points.setdefault(fig, [0, 0])[1] += 1
        self.t_start = self.clock()
        self.note(f"dd25 figures: {self.total} distinct points to simulate "
                  f"({', '.join(f'{f} {n}' for f, (_, n) in self.points.items())}); {what}")

    def run_done(self, cost: float) -> None:
        self.partial_cost += cost
        self.update()

    def point_done(self, cost: float, figures: list[str]) -> None:
        self.done += 1
        self.done_cost += cost
        self.partial_cost = 0.0
        for fig in figures:
            self.points[fig][0] += 1
        self.update()

    # -- what the displays show
    def elapsed(self) -> float:
        return self.clock() - self.t_start

    def fraction(self) -> float:
        return min(1.0, (self.done_cost + self.partial_cost) / self.total_cost) if self.total_cost else 1.0

    def eta(self) -> float | None:
        """Seconds left (None until some work is done)."""
        f = self.fraction()
        return None if f <= 0 else self.elapsed() * (1 - f) / f

    def status(self) -> str:
        """``points 12/99 (fig1 5/32, fig2 4/55, fig3 3/12), 31 % of the work, elapsed …, ETA …``."""
        per_fig = ", ".join(f"{f} {d}/{n}" for f, (d, n) in self.points.items())
        eta = self.eta()
        left = "done" if self.done == self.total else f"ETA {duration_text(eta)}" if eta is not None \
            else "ETA after the first run"
        return (f"points {self.done}/{self.total} ({per_fig}), {100 * self.fraction():.0f} % of the work, "
                f"elapsed {duration_text(self.elapsed())}, {left}")

    def drawing(self, fig: str, points: int) -> None:
        """A figure is being drawn (seconds each: matplotlib, after the simulations)."""
        self.note(f"{fig}: drawing {points} points")

    def drawn(self, fig: str, png: str) -> None:
        self.note(f"{fig}: wrote {png}")

    def update(self) -> None:  # pragma: no cover - overridden
        pass

    def note(self, text: str) -> None:  # pragma: no cover - overridden
        pass

    def close(self) -> None:
        pass


class LineMeter(Meter):
    """Plain lines (for a log or a pipe, where a redrawn bar is noise): at the first finished run
    (the first ETA), then at most one every ``interval`` seconds, and when the last point finishes."""

    def __init__(self, stream=None, interval: float = 10.0, clock: Callable[[], float] = time.perf_counter):
        super().__init__(clock)
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.last_line = float("-inf")

    def update(self) -> None:
        now = self.clock()
        last = self.done == self.total and self.partial_cost == 0
        if last or now - self.last_line >= self.interval:  # the first report always prints
            self.last_line = now
            self.note(self.status())

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichMeter(Meter):
    """A live ``rich`` display on a terminal (stderr): one bar for all the work, with the ETA, and one
    bar per figure (its points done); notes are printed above it."""

    def __init__(self, console=None, clock: Callable[[], float] = time.perf_counter):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        super().__init__(clock)
        self.console = console or Console(stderr=True)
        self.bar = Progress(TextColumn("{task.description:<12}"), BarColumn(bar_width=30),
                            TextColumn("{task.fields[text]}"), TimeElapsedColumn(),
                            console=self.console, transient=False)
        self.task = self.png_task = None
        self.fig_tasks: dict[str, int] = {}

    def start(self, figures_of, costs, what) -> None:
        self.bar.start()
        super().start(figures_of, costs, what)
        self.task = self.bar.add_task("dd25 figures", total=1.0, text="")
        for fig, (_, n) in self.points.items():
            self.fig_tasks[fig] = self.bar.add_task(f"  {fig}", total=n, text="")
        self.png_task = self.bar.add_task("PNGs", total=len(self.points), text="drawn after the simulations",
                                          start=False)
        self.update()

    def drawing(self, fig: str, points: int) -> None:
        self.bar.start_task(self.png_task)
        self.bar.update(self.png_task, text=f"drawing {fig} ({points} points)")

    def drawn(self, fig: str, png: str) -> None:
        self.bar.update(self.png_task, advance=1, text=f"wrote {png}")

    def overall(self) -> str:
        eta = self.eta()
        left = "done" if self.done == self.total else f"ETA {duration_text(eta)}" if eta is not None \
            else "ETA after the first run"
        return f"{self.done}/{self.total} points, {100 * self.fraction():.0f} % of the work, {left}"

    def update(self) -> None:
        if self.task is None:
            return
        self.bar.update(self.task, completed=self.fraction(), text=self.overall())
        for fig, (done, n) in self.points.items():
            self.bar.update(self.fig_tasks[fig], completed=done, text=f"{done}/{n} points")

    def note(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if self.task is not None:
            self.update()
            self.bar.stop()


def choose_meter(quiet: bool, interval: float, stream=None) -> Meter | None:
    """Nothing with ``--quiet``; a live bar on a terminal (if ``rich`` is installed); else lines."""
    if quiet:
        return None
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        try:
            return RichMeter()
        except ImportError:  # no rich: plain lines work on a terminal too
            pass
    return LineMeter(stream, interval)


def _run_all(configs: dict[str, sim.Config], runs: int, seed: int, jobs: int,
             progress: Callable[[str], None] | None, t0: float,
             scheduler: str | None = None, meter: "Meter | None" = None,
             figures_of: dict[str, list[str]] | None = None) -> dict[str, sim.Result]:
    order = sorted(configs, key=lambda key: -_cost(configs[key]))
    results: dict[str, sim.Result] = {}
    total = len(order)

    def report(res: sim.Result):
        if progress:
            c = res.config
            progress(f"[{len(results)}/{total}] d={c.d} ℓ={c.ell} n={c.n} k={c.k} ρ1={c.rho[-1]:g} "
                     f"η/d²={c.eta_scale:g} {c.activation} {', '.join(s.describe() for s in c.sources[1:])}: "
                     f"{res.seconds:.1f} s (elapsed {time.perf_counter() - t0:.0f} s)")

    # The runs of each simulation are spread over the icl_proofs.parallel executor (jobs local
    # workers, or a Dask cluster): the numbers do not depend on how many.
    with parallel.using(workers=max(1, jobs), scheduler=scheduler):
        for key in order:
            cost = _cost(configs[key])
            # each finished run moves the meter by its share of the point's cost: at the paper's
            # sizes one point takes many seconds, and the ETA should not wait for all its runs
            on_run = (lambda _msg, c=cost: meter.run_done(c / runs)) if meter else None
            results[key] = sim.simulate(configs[key], runs, seed, progress=on_run)
            report(results[key])
            if meter:
                meter.point_done(cost, (figures_of or {}).get(key, []))
    return results


# ------------------------------------------------------------------------------------ plots
def _caption(fig: str, d: int, runs: int, dtype: str, quick: bool) -> str:
    half = _size(0.5, d)
    ours = {
        "fig1": f"ours: d={d}, ρ=½, Σξ,1=I+d²γγᵀ, Δ=0.01, η=d², λ={LAM:g}·n, p=4, {runs} runs, {dtype}; "
                f"ℓ=d={d} and n=k=d²/2={half} unless swept",
        "fig2": f"ours: d={d}, ℓ=d={d}, n=k=0.5d²={half}, η=d², λ={LAM:g}·n, p=5, {runs} runs, {dtype}",
        "fig3": f"ours: d={d}, ℓ=d={d}, n=k=0.5d²={half}, ρ=½, λ={LAM:g}·n, p=5, {runs} runs, {dtype}; "
                "Fig. 3c (real multilingual data) not reproduced",
    }[fig]
    return (ours + ("  [quick grid]" if quick else "") + "\n" + PAPER[fig]
            + "\nerror bars: 95% CI over runs; grey dashed: trivial predictor (Var of the test label)")


def _series(points: list[dict], model: str, normalised: bool = False):
    xs, ys, lo, hi = [], [], [], []
    for p in sorted(points, key=lambda p: p["x"]):
        e = p["errors"].get(model)
        if e is None:
            continue
        s = e["uniform_normalised" if normalised else "uniform"]
        xs.append(p["x"])
        ys.append(s["mean"])
        ci = s["ci"]
        lo.append(s["mean"] - ci[0] if ci[0] is not None else 0.0)
        hi.append(ci[1] - s["mean"] if ci[1] is not None else 0.0)
    return np.array(xs), np.array(ys), np.array([lo, hi])


def _plot_models(ax, points, models, normalised=False, trivial=True, **kw):
    for m in models:
        xs, ys, err = _series(points, m, normalised)
        if len(xs):
            col, mk = STYLE[m]
            ax.errorbar(xs, ys, yerr=err, color=kw.get("color", col), marker=mk, ms=4, capsize=2, lw=1.2,
                        ls=kw.get("ls", "-"), label=kw.get("label", LABEL[m]) if kw.get("label", 1) else None)
    if trivial:
        xs, ys, _ = _series(points, "trivial")
        if len(xs):
            ax.plot(xs, ys if not normalised else np.ones_like(ys), color="0.5", ls="--", lw=1,
                    label="trivial (Var y)" if not normalised else "trivial = 1")


def _figure(fig: str, points: list[dict], caption: str, path: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if fig == "fig1":
        f, axes = plt.subplots(2, 3, figsize=(14, 8.2), squeeze=False)
        for r, act in enumerate(("relu", "tanh")):
            for c, (var, title) in enumerate((("n", "error vs n (k = d²/2)"), ("ell", "error vs ℓ (n = k = d²/2)"),
                                              ("k", "error vs k (n = d²/2)"))):
                ax = axes[r, c]
                pts = [p for p in points if p["panel"] == f"{act}/{var}"]
                _plot_models(ax, pts, ("linear", "mlp", "equivalent"))
                ax.set_yscale("log")
                ax.set_xlabel(pts[0]["x_name"] if pts else var)
                ax.set_title(f"σ = {act}: {title}", fontsize=10)
                if var == "ell":
                    ax.set_xscale("log", base=2)
                if var in ("n", "k"):  # n = k (the MLP readout's interpolation threshold)
                    ax.axvline(0.5, color="0.8", lw=0.8, zorder=0)
                if var == "n" and pts:  # n = D = d(d+1) (the linear model's)
                    d = pts[0]["config"]["d"]
                    ax.axvline((d + 1) / d, color="0.8", lw=0.8, ls=":", zorder=0)
        axes[0, 0].set_ylabel("ICL error (uniform mixture)")
        axes[1, 0].set_ylabel("ICL error (uniform mixture)")
        axes[0, 0].legend(fontsize=8)
        f.suptitle("dd25 Fig. 1 — linear vs MLP vs equivalent model (two sources, task spike in source 1)")
    elif fig == "fig2":
        f, axes = plt.subplots(2, 3, figsize=(14, 8.2), squeeze=False)
        titles = {"input": "(a) source 1: Σx = I + d γγᵀ", "task": "(b) source 1: Σξ = I + d² γγᵀ",
                  "noise": "(c) Δ0 = 0.2, source 1: Δ1 varied"}
        for c, panel in enumerate(("input", "task", "noise")):
            for r, norm in enumerate((False, True)):
                ax = axes[r, c]
                pts = [p for p in points if p["panel"] == panel]
                if panel != "noise":
                    _plot_models(ax, pts, ("linear", "mlp"), normalised=norm)
                else:
                    for i, d1 in enumerate(DELTA1):
                        sub = [p for p in pts if p.get("delta1") == d1]
                        for m, ls in (("mlp", "-"), ("linear", ":")):
                            _plot_models(ax, sub, (m,), normalised=norm, trivial=False, color=f"C{i}", ls=ls,
                                         label=f"{'MLP' if m == 'mlp' else 'linear'}, Δ1={d1:g}")
                    if norm:
                        ax.axhline(1.0, color="0.5", ls="--", lw=1, label="trivial = 1")
                    else:
                        for i, d1 in enumerate(DELTA1):
                            xs, ys, _ = _series([p for p in pts if p.get("delta1") == d1], "trivial")
                            ax.plot(xs, ys, color=f"C{i}", ls="--", lw=0.8, alpha=0.6)
                ax.set_xlabel(pts[0]["x_name"] if pts else "ρ")
                ax.set_title(titles[panel] + ("  [÷ trivial error]" if norm else ""), fontsize=10)
                if c == 0:
                    ax.set_ylabel("error / trivial error (mean over sources)" if norm else "ICL error (uniform mixture)")
                if panel == "noise":
                    ax.margins(y=0.45)
                    ax.legend(fontsize=6.5, ncol=3, loc="upper center")
                elif r == 0:
                    ax.legend(fontsize=7)
        f.suptitle("dd25 Fig. 2 — data mixing: error vs the share ρ of the high-quality source")
    else:
        f, axes = plt.subplots(1, 2, figsize=(11, 4.8), squeeze=False)
        titles = {"input": "(a) input spike, ρ = ½", "task": "(b) task spike, ρ = ½"}
        for c, panel in enumerate(("input", "task")):
            ax = axes[0, c]
            pts = [p for p in points if p["panel"] == panel]
            _plot_models(ax, pts, ("linear", "mlp", "equivalent"))
            ax.set_yscale("log")  # the equivalent model leaves the MLP by orders of magnitude at large η
            ax.set_xlabel(pts[0]["x_name"] if pts else "η/d²")
            ax.set_title(titles[panel], fontsize=10)
        axes[0, 0].set_ylabel("ICL error (uniform mixture)")
        axes[0, 0].legend(fontsize=8)
        f.suptitle("dd25 Fig. 3 — error vs the stage-1 step size η (Fig. 3c, real data: out of scope)")
    f.text(0.01, 0.005, caption, fontsize=7.5, va="bottom", ha="left", family="sans-serif")
    f.tight_layout(rect=(0, 0.085 if fig != "fig3" else 0.15, 1, 0.96))
    f.savefig(path, dpi=110)
    plt.close(f)


# ------------------------------------------------------------------------------------ API
def make_figures(out_dir: str = "dd25_figures", d: int = 40, runs: int = 20, seed: int = 0, quick: bool = False,
                 dtype: str = "float64", only=None, progress: Callable[[str], None] | None = None, *,
                 jobs: int = 1, json_path: str | None = None, scheduler: str | None = None,
                 meter: Meter | None = None) -> dict:
    """Simulate the points of the requested figures, write one PNG per figure and a JSON of every point.

    ``only``: None (all), a figure name or a list of names.  ``progress``: called with one line per
    finished point.  ``meter``: a :class:`Meter` shown while it runs (points done per figure, ETA;
    it does not change any number).  ``jobs``: worker processes (1 = in this process);
    ``scheduler``: a Dask scheduler address (then ``jobs`` is ignored).  Returns the JSON content
    (``figures[name]["png"]`` is the PNG path, ``figures[name]["points"]`` the points) with
    ``json_path`` added.  Raises ImportError without matplotlib, UserInputError on bad options.
    """
    import matplotlib  # noqa: F401  (fail before any simulation)

    figs = list(FIGURES) if only is None else ([only] if isinstance(only, str) else list(only))
    for fig in figs:
        if fig not in FIGURES:
            raise UserInputError(f"unknown figure {fig!r}; choose from {', '.join(FIGURES)}")
    if runs < 1:
        raise UserInputError(f"runs must be >= 1, got {runs}")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    per_fig = {fig: _points(fig, d, quick, dtype) for fig in figs}
    configs = {}
    for pts in per_fig.values():
        for p in pts:
            p["key"] = _key(p["config"])
            configs.setdefault(p["key"], p["config"])
    for cfg in configs.values():
        sim.check_memory(cfg)
    figures_of: dict[str, list[str]] = {}
    for fig, pts in per_fig.items():
        for p in pts:
            if fig not in figures_of.setdefault(p["key"], []):
                figures_of[p["key"]].append(fig)
    if meter:
        where = f"scheduler {scheduler}" if scheduler else f"{jobs} job{'s' * (jobs != 1)}"
        meter.start(figures_of, {k: _cost(c) for k, c in configs.items()},
                    f"d={d}, {runs} runs each, {dtype}, {where}")
    results = _run_all(configs, runs, seed, jobs, progress, t0, scheduler, meter, figures_of)

    out = {
        "paper": "Demir & Doğan, arXiv 2510.25753",
        "options": {"d": d, "runs": runs, "seed": seed, "quick": quick, "dtype": dtype, "jobs": jobs,
                    "figures": figs},
        "ci_level": 0.95,
        "out_of_scope": "Fig. 3c (real multilingual review data, English vs German sentence embeddings) "
                        "is not reproduced: it needs the real data set",
        "figures": {},
    }
    for fig, pts in per_fig.items():
        rows = []
        for p in pts:
            res = results[p["key"]]
            js = res.to_json(0.05)
            row = {k: v for k, v in p.items() if k not in ("config", "key")}
            row.update(errors=js["errors"], seconds=js["seconds"], config=js["config"])
            rows.append(_finite(row))
        caption = _caption(fig, d, runs, dtype, quick)
        png = os.path.join(out_dir, f"{fig}.png")
        if meter:
            meter.drawing(fig, len(rows))
        _figure(fig, rows, caption, png)
        if meter:
            meter.drawn(fig, png)
        out["figures"][fig] = {"png": png, "caption": caption, "paper": PAPER[fig],
                               "seconds": round(sum(r["seconds"] for r in rows), 2), "points": rows}
        if progress:
            progress(f"{fig}: wrote {png} (elapsed {time.perf_counter() - t0:.0f} s)")
    out["seconds_total"] = round(time.perf_counter() - t0, 2)
    out["distinct_points"] = len(configs)
    json_path = json_path or os.path.join(out_dir, "dd25_figures.json")
    with open(json_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, allow_nan=False, ensure_ascii=False)
    out["json_path"] = json_path
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="dd25_figures", help="output folder (default dd25_figures/)")
    ap.add_argument("--d", type=int, default=None, help="dimension (default 40; quick 16; the paper: 80)")
    ap.add_argument("--runs", type=int, default=None, help="independent runs per point (default 20; quick 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--float32", action="store_true", help="simulate in float32 (ridge solves stay float64)")
    ap.add_argument("--only", choices=FIGURES, default=None)
    ap.add_argument("--json", default=None, help="JSON output file (default OUT/dd25_figures.json)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs, at most 4)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786)")
    ap.add_argument("--quick", action="store_true", help="d 16, 3 runs, fewer points (under a minute)")
    ap.add_argument("--verbose", action="store_true", help="also one detail line per finished point")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                    help="when stderr is not a terminal: seconds between progress lines (default 10)")
    args = ap.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(MATPLOTLIB_MISSING, file=sys.stderr)
        return 2
    d = args.d if args.d is not None else (16 if args.quick else 40)
    runs = args.runs if args.runs is not None else (3 if args.quick else 20)
    jobs = args.jobs if args.jobs is not None else (1 if args.quick else max(1, min(4, os.cpu_count() or 1)))
    meter = choose_meter(args.quiet, args.progress_every)
    # detail lines go through the meter, so that on a terminal they print above the live bar
    progress = (meter.note if meter else None) if args.verbose else None
    try:
        out = make_figures(args.out, d=d, runs=runs, seed=args.seed, quick=args.quick,
                           dtype="float32" if args.float32 else "float64", only=args.only, progress=progress,
                           jobs=jobs, json_path=args.json, scheduler=args.scheduler, meter=meter)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if meter:
            meter.close()
    for fig, info in out["figures"].items():
        print(f"{fig}: {info['png']} ({len(info['points'])} points)")
    print(f"points: {out['json_path']} ({out['distinct_points']} distinct simulations, {out['seconds_total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
