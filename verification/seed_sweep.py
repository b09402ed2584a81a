"""``verify --quick`` over many seeds: is every verdict decisive and the same on every seed, and how
long does a whole run take?  Writes one results file per seed, a JSON summary and a Markdown table.

    python verification/seed_sweep.py --seeds 0-19 --out docs/verdicts [CLAIM or PREFIX ...]

Each run is a fresh ``python -m icl_proofs verify --quick --seed S`` process (default workers), timed
wall-clock from start to exit, one after another (never two at once: they would share the cores).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resolution_table import rows as resolution_rows  # noqa: E402


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("patterns", nargs="*")
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--out", default="seed_sweep")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for s in _seeds(a.seeds):
        path = out / f"seed-{s}.json"
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "icl_proofs", "verify", *a.patterns, "--quick", "--seed", str(s),
                            "--json", str(path), "--overwrite", "-q"], capture_output=True, text=True)
        secs = time.perf_counter() - t0
        doc = json.loads(path.read_text())
        verdicts = {r["claim"]: r["status"] for r in doc["results"]}
        amended = {r["claim"]: [am["status"] for am in r.get("amendments") or []] for r in doc["results"]}
        runs.append({"seed": s, "seconds": round(secs, 1), "exit": p.returncode, "verdicts": verdicts,
                     "amendments": amended})
        print(f"seed {s}: {secs:.1f} s, exit {p.returncode}, "
              + ", ".join(f"{k}={v}" for k, v in sorted(verdicts.items()) if v != "holds"), file=sys.stderr)
    claims = sorted({c for r in runs for c in r["verdicts"]})
    stable = {c: len({r["verdicts"].get(c) for r in runs}) == 1 for c in claims}
    res = resolution_rows([out / f"seed-{r['seed']}.json" for r in runs])
    summary = {"seeds": [r["seed"] for r in runs], "runs": runs, "stable": stable,
               "max_seconds": max(r["seconds"] for r in runs), "median_seconds": sorted(r["seconds"] for r in runs)[len(runs) // 2],
               "resolution": {k: {"min": min(v["rel"]) if v["rel"] else None, "max": max(v["rel"]) if v["rel"] else None,
                                  "verdicts": v["verdicts"]} for k, v in res.items()}}
    (out / "seed_sweep.json").write_text(json.dumps(summary, indent=1))
    lines = ["| claim | verdict on every seed | stable |", "|---|---|---|"]
    for c in claims:
        vs = sorted({r["verdicts"].get(c) for r in runs})
        am = sorted({s for r in runs for s in r["amendments"].get(c, [])})
        lines.append(f"| {c} | {' / '.join(vs)}" + (f" (amended: {' / '.join(am)})" if am else "") +
                     f" | {'yes' if stable[c] else 'NO'} |")
    lines += ["", "| seed | seconds | exit |", "|---|---|---|"]
    lines += [f"| {r['seed']} | {r['seconds']} | {r['exit']} |" for r in runs]
    lines += ["", f"whole run: median {summary['median_seconds']} s, max {summary['max_seconds']} s"]
    (out / "seed_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(stable.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
