"""Compare two `verify --json` outputs, ignoring only wall-clock data: every "seconds" field, the run's
start time, the --json output path in argv, the "(1.9s)" elapsed-time suffix in hypothesis evidence,
training runs' wall_time/cpu_time, ding25.thm-3.5's solver times (*_seconds_by_d, and 'times {…}' /
'times by d {…}' inside its evidence).

Usage: python verification/compare_verify_json.py before.json after.json   (exit 0 iff identical;
otherwise prints a unified diff of the normalised JSON and exits 1)."""
import json, re, sys

TIMING = re.compile(r"\(\d+(\.\d+)?s\)")
TIMES = re.compile(r"times (by d )?\{[^}]*\}")
WALL_CLOCK = ("seconds", "started", "wall_time", "cpu_time")

def strip(o, key=None):
    if isinstance(o, dict):
        return {k: strip(v, k) for k, v in o.items() if k not in WALL_CLOCK and not k.endswith("_seconds_by_d")}
    if isinstance(o, list):
        return [strip(v) for v in o if not (key == "argv" and str(v).endswith(".json"))]
    if isinstance(o, str):
        return TIMES.sub("times {…}", TIMING.sub("(…s)", o))
    return o

a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
if a == b:
    print("IDENTICAL apart from timings"); sys.exit(0)
import difflib
print("\n".join(difflib.unified_diff(json.dumps(a, indent=1, sort_keys=True).splitlines(),
                                     json.dumps(b, indent=1, sort_keys=True).splitlines(), lineterm="")))
sys.exit(1)
