"""``verify`` on a real terminal: rich's live progress line and the table share the screen without
garbling it, and the screen left at the end is exactly the table a pipe gets."""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal (pty)")

PLUGIN = textwrap.dedent('''
    import time
    from icl_proofs.claims import Check, Claim, register
    from icl_proofs.claims.base import CheckResult, Status

    def slow(name):
        def run(ctx):
            for k in range(3):  # long enough for the live line to be drawn, with notes
                ctx.progress(f"shard {k}/3")
                time.sleep(0.15)
            return CheckResult(name=name, route="exact-rational", status=Status.HOLDS, evidence=f"{name} agrees")
        return Check(name=name, route="exact-rational", run=run)

    @register
    class Slow(Claim):
        id = "tty.slow"
        statement = "three slow checks"

        def checks(self):
            return [slow("first"), slow("second"), slow("third")]
''')

_TOKENS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r\n|\r|\n|[^\x1b\r\n]+")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw``: carriage return, newline, erase line, cursor up;
    colours and cursor visibility change nothing here."""
    lines, row, col = [""], 0, 0
    for tok in _TOKENS.findall(raw):
        if tok in ("\n", "\r\n"):
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif tok == "\r":
            col = 0
        elif tok.startswith("\x1b["):
            arg, cmd = tok[2:-1], tok[-1]
            if cmd == "K":
                lines[row] = "" if arg == "2" else lines[row][:col]
            elif cmd == "A":
                row = max(0, row - int(arg or 1))
        else:
            cur = lines[row].ljust(col)
            lines[row] = cur[:col] + tok + cur[col + len(tok):]
            col += len(tok)
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip() for line in lines]


def on_a_terminal(args, env) -> str:
    """Everything the command writes to a pty (stdout and stderr both on it)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(sys.executable, [sys.executable, "-m", "icl_proofs.cli", *args], env)
    out, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    os.close(fd)
    return out.decode("utf-8", "replace")


_SECONDS = re.compile(r"\((?:\d+ checks?, )?[<\d. ]+s\)|\(\d+ checks?, [^)]*\)")


def test_live_progress_leaves_exactly_the_table_on_the_screen(tmp_path):
    plugin = tmp_path / "slow_claims.py"
    plugin.write_text(PLUGIN)
    env = dict(os.environ, ICL_PROOFS_PLUGINS=str(plugin), COLUMNS="100", TERM="xterm")
    raw = on_a_terminal(["verify", "tty"], env)
    assert "[2/3]" in raw and "tty.slow: second ..." in raw  # the live line was drawn
    assert "shard 1/3" in raw  # with the notes from inside the check
    piped = subprocess.run([sys.executable, "-m", "icl_proofs.cli", "verify", "tty"], capture_output=True,
                           text=True, env=env)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr  # no progress in a pipe
    shown = [_SECONDS.sub("(…)", line) for line in screen(raw)]
    expected = [_SECONDS.sub("(…)", line) for line in piped.stdout.splitlines()]
    assert shown == expected, "\n".join(shown)


def test_report_progress_lines_end_once_with_dots(register_claim, tmp_path):
    """``report --progress`` writes the same ``[i/n] claim: check ...`` lines as ``verify`` (it used to
    end them with ``... ...``)."""
    from click.testing import CliRunner

    from icl_proofs.claims.base import Check, CheckResult, Claim, Status
    from icl_proofs.cli import cli

    def ok(ctx):
        return CheckResult(name="ok", route="exact-rational", status=Status.HOLDS, evidence="fine")

    class Quick(Claim):
        id = "rp.quick"
        statement = "holds"

        def checks(self):
            return [Check(name="ok", route="exact-rational", run=ok)]

    register_claim(Quick)
    r = CliRunner().invoke(cli, ["report", "rp.quick", "--out", str(tmp_path / "rep"), "--no-figures", "--no-pdf",
                                 "--progress"])
    assert r.exit_code == 0, r.output
    steps = [line for line in r.stderr.splitlines() if line.startswith("[")]
    assert steps == ["[1/1] rp.quick: ok ..."], r.stderr
