"""verification/dd25_figures.py: the quick grid at a tiny size writes valid PNGs and a JSON of finite
points whose 95 % confidence intervals contain their means."""
import importlib.util
import json
import math
import pathlib
import re

import pytest

pytest.importorskip("matplotlib")

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def figures_module():
    spec = importlib.util.spec_from_file_location("dd25_figures", ROOT / "verification" / "dd25_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def quick_all(figures_module, tmp_path_factory):
    out = tmp_path_factory.mktemp("dd25_figs")
    lines = []
    res = figures_module.make_figures(str(out), d=8, runs=2, seed=3, quick=True, dtype="float64", only=None,
                                      progress=lines.append)
    return out, res, lines


def _check_png(path: pathlib.Path):
    assert path.is_file(), path
    raw = path.read_bytes()
    assert raw[:8] == PNG_MAGIC
    assert len(raw) > 20_000  # several panels with curves, not an empty canvas
    # IHDR: width and height (big-endian) right after the 8-byte magic and the chunk header
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    assert width >= 600 and height >= 400


def _check_summary(s, runs):
    assert s["runs"] == runs
    assert math.isfinite(s["mean"]) and math.isfinite(s["se"]) and s["se"] >= 0
    lo, hi = s["ci"]
    assert lo is not None and hi is not None
    assert lo <= s["mean"] <= hi


def test_quick_figures_and_json(quick_all):
    out, res, lines = quick_all
    assert set(res["figures"]) == {"fig1", "fig2", "fig3"}
    for fig in ("fig1", "fig2", "fig3"):
        _check_png(out / f"{fig}.png")
        assert res["figures"][fig]["png"] == str(out / f"{fig}.png")
    on_disk = json.loads(pathlib.Path(res["json_path"]).read_text(encoding="utf-8"))
    assert on_disk["figures"].keys() == res["figures"].keys()
    assert "3c" in on_disk["out_of_scope"]
    for fig, info in on_disk["figures"].items():
        assert "paper" in info["caption"] and "d=8" in info["caption"]
        assert info["points"]
        for p in info["points"]:
            assert p["config"]["d"] == 8 and math.isfinite(p["x"])
            models = {"linear", "mlp", "trivial"} | ({"equivalent"} if fig != "fig2" else set())
            assert models <= set(p["errors"])
            for m in models:
                _check_summary(p["errors"][m]["uniform"], 2)
                for s in p["errors"][m]["per_source"]:
                    _check_summary(s, 2)
            _check_summary(p["errors"]["mlp"]["uniform_normalised"], 2)
    # one progress line per distinct simulation plus one per figure written
    assert len(lines) == on_disk["distinct_points"] + 3


def test_sweeps_cover_the_paper_panels(quick_all):
    _, res, _ = quick_all
    f1 = res["figures"]["fig1"]["points"]
    assert {p["panel"] for p in f1} == {f"{a}/{v}" for a in ("relu", "tanh") for v in ("n", "ell", "k")}
    assert {p["config"]["p"] for p in f1} == {4}
    f2 = res["figures"]["fig2"]["points"]
    assert {p["panel"] for p in f2} == {"input", "task", "noise"}
    assert {p["delta1"] for p in f2 if p["panel"] == "noise"} == {0.01, 0.1, 0.5}
    assert {p["x"] for p in f2} >= {0.0, 0.5, 1.0}
    f3 = res["figures"]["fig3"]["points"]
    assert {p["panel"] for p in f3} == {"input", "task"}
    assert 0.0 in {p["x"] for p in f3}
    # η only enters stage 1 of the MLP: the linear model is the same number at every η
    for panel in ("input", "task"):
        lin = {p["errors"]["linear"]["uniform"]["mean"] for p in f3 if p["panel"] == panel}
        assert len(lin) == 1


def test_only_one_figure_and_json_path(figures_module, tmp_path):
    js = tmp_path / "pts.json"
    res = figures_module.make_figures(str(tmp_path / "o"), d=6, runs=2, seed=0, quick=True, dtype="float32",
                                      only="fig3", progress=None, json_path=str(js))
    assert list(res["figures"]) == ["fig3"]
    _check_png(tmp_path / "o" / "fig3.png")
    assert not (tmp_path / "o" / "fig1.png").exists()
    assert json.loads(js.read_text(encoding="utf-8"))["options"]["dtype"] == "float32"


def test_bad_options_are_one_line_errors(figures_module, tmp_path):
    from icl_proofs.claims.base import UserInputError

    with pytest.raises(UserInputError):
        figures_module.make_figures(str(tmp_path), d=6, runs=2, quick=True, only="fig4")
    with pytest.raises(UserInputError):
        figures_module.make_figures(str(tmp_path), d=6, runs=0, quick=True)


def test_cli_without_matplotlib_exits_2(figures_module, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert figures_module.main(["--quick", "--out", "unused"]) == 2
    assert capsys.readouterr().err.strip() == figures_module.MATPLOTLIB_MISSING


# ------------------------------------------------------------------------ progress with an ETA

def test_progress_lines_on_stderr_when_not_a_terminal(figures_module, quick_all, tmp_path, capsys):
    """Not a terminal (a log, CI): plain lines with points per figure and an ETA, then one line per
    PNG; and the numbers are those of the same points simulated without any progress display."""
    out = tmp_path / "o"
    assert figures_module.main(["--quick", "--d", "8", "--runs", "2", "--seed", "3", "--only", "fig3",
                                "--out", str(out), "--progress-every", "3600"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "dd25 figures: 6 distinct points to simulate (fig3 6); d=8, 2 runs each, float64, 1 job"
    eta = [ln for ln in err if re.fullmatch(r"points [0-5]/6 \(fig3 [0-5]/6\), \d+ % of the work, "
                                            r"elapsed \d+ s, ETA \d+ s", ln)]
    assert len(eta) == 1, err  # the first run's line; the next comes an hour later (--progress-every)
    assert re.fullmatch(r"points 6/6 \(fig3 6/6\), 100 % of the work, elapsed \d+ s, done", err[2]), err
    assert err[3:] == ["fig3: drawing 6 points", f"fig3: wrote {out / 'fig3.png'}"]
    # progress changes no number: the same points as in the run without it (quick_all: d=8, seed 3)
    mine = json.loads((out / "dd25_figures.json").read_text(encoding="utf-8"))["figures"]["fig3"]["points"]
    theirs = quick_all[1]["figures"]["fig3"]["points"]
    assert [p["errors"] for p in mine] == [p["errors"] for p in theirs]


def test_line_meter_eta_follows_the_cost_not_the_count(figures_module):
    """Points run most expensive first: after the point holding 3/4 of the cost, 3/4 of the work is
    done, whatever the count says; and lines come at most every `interval` seconds, plus the last."""
    import io

    now = [0.0]
    stream = io.StringIO()
    meter = figures_module.LineMeter(stream, interval=10, clock=lambda: now[0])
    meter.start({"big": ["fig1"], "small": ["fig1", "fig2"]}, {"big": 3.0, "small": 1.0}, "test")
    now[0] = 3.0
    meter.run_done(1.5)   # half the big point: first report, always printed
    now[0] = 6.0
    meter.point_done(3.0, ["fig1"])   # 3 s after the last line: not printed
    assert meter.fraction() == 0.75 and meter.eta() == pytest.approx(2.0)
    assert "ETA 2 s" in meter.status() and "fig1 1/2, fig2 0/1" in meter.status()
    now[0] = 7.0
    meter.point_done(1.0, ["fig1", "fig2"])   # the last point: printed
    lines = stream.getvalue().splitlines()
    assert lines == ["dd25 figures: 2 distinct points to simulate (fig1 2, fig2 1); test",
                     "points 0/2 (fig1 0/2, fig2 0/1), 38 % of the work, elapsed 3 s, ETA 5 s",
                     "points 2/2 (fig1 2/2, fig2 1/1), 100 % of the work, elapsed 7 s, done"]


def test_terminal_gets_a_live_bar_and_quiet_gets_nothing(figures_module):
    import io

    pytest.importorskip("rich")
    from rich.console import Console

    screen = io.StringIO()
    meter = figures_module.RichMeter(Console(file=screen, force_terminal=True, width=120))
    meter.start({"a": ["fig1"], "b": ["fig2"]}, {"a": 1.0, "b": 1.0}, "test")
    meter.point_done(1.0, ["fig1"])
    meter.point_done(1.0, ["fig2"])
    meter.close()
    shown = screen.getvalue()
    assert "2/2 points, 100 % of the work, done" in shown and "1/1 points" in shown
    assert figures_module.choose_meter(quiet=True, interval=10) is None
    assert isinstance(figures_module.choose_meter(quiet=False, interval=10, stream=io.StringIO()),
                      figures_module.LineMeter)


def test_duration_text(figures_module):
    assert [figures_module.duration_text(s) for s in (0.4, 59, 61, 3599, 7260)] == \
        ["0 s", "59 s", "1 min 01 s", "59 min 59 s", "2 h 01 min"]
