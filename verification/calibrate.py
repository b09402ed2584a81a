"""Measure the false-alarm rate of every Monte-Carlo check of a true claim over many seeds.

    python verification/calibrate.py [--seeds 200] [--alpha 0.05] [--default-alpha 1e-3]
        [--only PREFIX ...] [--json FILE] [--resume [--redo CLAIM:CHECK]] [--workers 2] [--include-simulation]
        [--estimate-skipped]

Each selected check (route ``monte-carlo``, run with ``--quick`` settings) is first run once at seed
0 and the default α; only checks that hold there are calibrated (a refutation of a true claim is a
false alarm; a check that already refutes at seed 0 is a finding, not a calibration subject).  Each
is then run over seeds 0..N-1 at the calibration α (0.05: 10 alarms expected per 200 seeds), and
its verdict at the default α (1e-3: 0.2 expected) is recorded too.  See
:mod:`icl_proofs.calibration` for the statistics.

The dd25 simulation claims (finite-d trends) are not calibrated by default: each quick run costs
seconds (200 seeds × their ~16 checks would take far longer than the rest together), and the
asymptotic ones (Lemmas 4.9, 4.11, Theorem 4.12) can never refute (a contrary trend is reported
as inconclusive), so their false-alarm rate is 0 by construction.  ``--include-simulation`` runs
them anyway; ``--estimate-skipped`` times one run of each to print the cost.

``--json FILE`` (e.g. docs/calibration/calibration.json) is rewritten after every check, so an
interrupted run keeps what it measured; ``--resume`` skips checks already in FILE with the same
seeds and α.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from icl_proofs.calibration import calibrate, check_id, resolve
from icl_proofs.claims import CheckContext, select
from icl_proofs.claims.base import Status
from icl_proofs.parallel import using
from icl_proofs.runner import STATISTICAL_ROUTES, _holm_adjusted, planned_checks, run_check

FORMAT = "icl-proofs/calibration"


def _skip_reason(claim) -> str | None:
    try:
        from icl_proofs.claims.dd25.simulation import DD25SimClaim
    except Exception:  # noqa: BLE001 - dd25 absent: nothing to skip
        return None
    if not isinstance(claim, DD25SimClaim):
        return None
    if getattr(claim, "asymptotic", False):
        return ("dd25 simulation, asymptotic: a contrary finite-d trend is reported inconclusive, never "
                "refuted, so the false-alarm rate is 0 by construction; not run")
    return ("dd25 simulation (finite-d trend over independent runs): left out of the default run to keep it "
            "within ~25 min (--include-simulation runs it)")


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def _fmt_row(r: dict) -> str:
    d = (f"{r['alarms_default']:>3d}/{r['n_seeds']}" if "alarms_default" in r else "   -")
    ks = f"{r['ks_p']:.3f}" if r.get("ks_p") is not None else "  -  "
    extra = ""
    if r["inconclusive"] or r["crashes"]:
        extra = f"  (inconclusive {r['inconclusive']}, crashed {r['crashes']})"
    return (f"{r['claim']:26s} {r['check']:34s} {r['n_seeds']:>5d} {r['alarms']:>4d} {r['rate']:7.3f} "
            f"{r['cp_upper']:7.3f} {r['binom_p']:7.3f} {d:>8s} {ks:>6s}  {r['verdict']}{extra}")


HEADER = (f"{'claim':26s} {'check':34s} {'seeds':>5s} {'alrm':>4s} {'rate':>7s} {'CP95up':>7s} "
          f"{'binom_p':>7s} {'@dflt':>8s} {'KS_p':>6s}  verdict")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=200, help="seeds 0..N-1 (default 200)")
    ap.add_argument("--alpha", type=float, default=0.05, help="calibration α (default 0.05)")
    ap.add_argument("--default-alpha", type=float, default=1e-3, help="α of verify (default 1e-3)")
    ap.add_argument("--only", action="append", default=[], metavar="PREFIX",
                    help="claim id / prefix, or claim:check (repeatable)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--resume", action="store_true", help="keep rows already in --json FILE")
    ap.add_argument("--redo", action="append", default=[], metavar="CLAIM:CHECK",
                    help="with --resume: measure this check again (repeatable)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--include-simulation", action="store_true")
    ap.add_argument("--estimate-skipped", action="store_true", help="time one run of each skipped check")
    ap.add_argument("--full", action="store_true", help="full (non-quick) check settings")
    args = ap.parse_args(argv)
    quick = not args.full
    t_start = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

    claim_pats = [p for p in args.only if ":" not in p]
    check_pats = [p for p in args.only if ":" in p]
    ctx0 = CheckContext(quick=quick, seed=0, alpha=args.default_alpha)
    candidates = []
    if claim_pats or not check_pats:
        for claim in select(claim_pats):
            plan = planned_checks(claim, ctx0)
            if isinstance(plan, list):
                candidates.extend((claim, c) for c in plan if c.route in STATISTICAL_ROUTES)
    candidates.extend(resolve(check_pats))

    previous, previous_skipped, previous_wall, resumed_from = {}, {}, 0.0, []
    if args.resume and args.json and Path(args.json).exists():
        doc = json.loads(Path(args.json).read_text())
        m = doc.get("meta", {})
        if (m.get("n_seeds") == args.seeds and m.get("alpha") == args.alpha and m.get("quick") == quick
                and m.get("default_alpha") == args.default_alpha):
            previous = {r["id"]: r for r in doc.get("rows", [])}
            previous_skipped = {r["id"]: r for r in doc.get("not_calibrated", [])}
            previous_wall = float(m.get("wall_s_total", m.get("wall_s", 0.0)))
            resumed_from = m.get("resumed_from", []) + [
                {k: m.get(k) for k in ("started", "command", "wall_s", "git_commit", "workers")}]
            print(f"resuming: {len(previous)} check(s) already measured in {args.json}", flush=True)
        else:
            print(f"not resuming: {args.json} has other settings", flush=True)

    rows: list[dict] = []
    skipped: list[dict] = []
    this_run = {check_id(c, k) for c, k in candidates}
    # rows and notes of checks outside this run's selection are carried over unchanged
    carried_rows = [r for cid, r in previous.items() if cid not in this_run]
    carried_skipped = [r for cid, r in previous_skipped.items() if cid not in this_run and cid not in previous]
    meta = {"n_seeds": args.seeds, "seeds": f"0..{args.seeds - 1}", "alpha": args.alpha,
            "default_alpha": args.default_alpha, "quick": quick, "workers": args.workers,
            "started": started, "git_commit": _git_commit(), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpu(s)",
            "command": "python verification/calibrate.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    if resumed_from:
        meta["resumed_from"] = resumed_from

    def write():
        if not args.json:
            return
        calibrated = [r for r in carried_rows + rows if "verdict" in r]
        for r, adj in zip(calibrated, _holm_adjusted([r["binom_p"] for r in calibrated])):
            r["binom_p_holm"] = adj
        all_skipped = carried_skipped + skipped
        wall = time.perf_counter() - t_start
        doc = {
            "format": FORMAT, "format_version": 1,
            "meta": {**meta, "wall_s": round(wall, 1), "wall_s_total": round(previous_wall + wall, 1)},
            "summary": {
                "calibrated_checks": len(calibrated),
                "over_alarms": [r["id"] for r in calibrated if r["verdict"] == "over-alarms"],
                "over_alarms_after_holm": [r["id"] for r in calibrated if r["binom_p_holm"] < 0.05],
                "total_alarms": sum(r["alarms"] for r in calibrated),
                "expected_alarms": round(sum(r["expected_alarms"] for r in calibrated), 3),
                "total_alarms_default": sum(r.get("alarms_default", 0) for r in calibrated),
                "expected_alarms_default": round(sum(r.get("expected_alarms_default", 0) for r in calibrated), 3),
                "not_calibrated": len(all_skipped),
            },
            "rows": calibrated,
            "not_calibrated": all_skipped,
        }
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(path)

    def note(msg):
        print("   " + msg, file=sys.stderr, flush=True)

    print(f"calibration: {len(candidates)} Monte-Carlo check(s), seeds 0..{args.seeds - 1}, "
          f"α = {args.alpha:g} (default α = {args.default_alpha:g}), workers = {args.workers}", flush=True)
    with using(workers=args.workers):
        for claim, check in candidates:
            cid = check_id(claim, check)
            if cid in previous and cid not in args.redo:
                rows.append(previous[cid])
                print(_fmt_row(previous[cid]) + "  (resumed)", flush=True)
                continue
            reason = None if args.include_simulation else _skip_reason(claim)
            asymptotic = reason is not None and getattr(claim, "asymptotic", False)
            entry = {"id": cid, "claim": claim.id, "check": check.name}
            if not asymptotic:  # the seed-0 screen first: a check that does not hold is no subject
                r0 = run_check(check, CheckContext(quick=quick, seed=0, alpha=args.default_alpha))
                if r0.status is not Status.HOLDS:
                    entry["reason"] = (f"does not hold at seed 0, α = {args.default_alpha:g} ({r0.status.value}), "
                                       f"so it is not taken as a check of a true claim; {r0.evidence[:200]}")
                    skipped.append(entry)
                    print(f"skip {cid}: {entry['reason']}", flush=True)
                    write()
                    continue
            if reason:
                entry["reason"] = reason
                if args.estimate_skipped:
                    if asymptotic:
                        run_check(check, CheckContext(quick=quick, seed=0, alpha=args.alpha))  # warm caches
                    t0 = time.perf_counter()
                    run_check(check, CheckContext(quick=quick, seed=1, alpha=args.alpha))
                    sec = time.perf_counter() - t0
                    entry["seconds_per_seed"] = round(sec, 2)
                    entry["estimated_seconds"] = round(sec * args.seeds)
                    cost = sec * args.seeds
                    entry["reason"] += (f" (measured {sec:.2f} s per seed after warm-up: ~"
                                        + (f"{cost:.0f} s" if cost < 120 else f"{cost / 60:.0f} min")
                                        + f" for {args.seeds} seeds)")
                skipped.append(entry)
                print(f"skip {cid}: {entry['reason']}", flush=True)
                write()
                continue
            row = calibrate([cid], seeds=range(args.seeds), alpha=args.alpha, quick=quick,
                            default_alpha=args.default_alpha, progress=note)[0]
            rows.append(row)
            print(_fmt_row(row), flush=True)
            write()

    rows = carried_rows + rows
    skipped = carried_skipped + skipped
    carried_rows, carried_skipped = [], []
    for row, adj in zip(rows, _holm_adjusted([r["binom_p"] for r in rows])):
        row["binom_p_holm"] = adj
    wall = time.perf_counter() - t_start
    print()
    print(HEADER)
    for r in rows:
        print(_fmt_row(r))
    for s in skipped:
        print(f"{s['claim']:26s} {s['check']:34s} not calibrated: {s['reason']}")
    tot = sum(r["alarms"] for r in rows)
    exp = sum(r["expected_alarms"] for r in rows)
    tot_d = sum(r.get("alarms_default", 0) for r in rows)
    exp_d = sum(r.get("expected_alarms_default", 0) for r in rows)
    over = [r["id"] for r in rows if r["verdict"] == "over-alarms"]
    over_holm = [r["id"] for r in rows if r["binom_p_holm"] < 0.05]
    print(f"\n{len(rows)} check(s) calibrated: {tot} alarms at α = {args.alpha:g} (expected ≤ {exp:.1f}), "
          f"{tot_d} at α = {args.default_alpha:g} (expected ≤ {exp_d:.2f}); over-alarms (binomial p < 0.05): "
          f"{', '.join(over) or 'none'}; after Holm over the {len(rows)} checks: {', '.join(over_holm) or 'none'}")
    print(f"wall time {wall:.0f} s" + (f" (with resumed runs: {previous_wall + wall:.0f} s)" if previous_wall else ""))
    write()
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
