"""Terminal text: the width (read once per command run, never kept in a global), clipping, wrapping,
and the layout of the verdict table."""
from __future__ import annotations

import json
import shutil
import sys
import textwrap
from dataclasses import dataclass


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` first; 120 when there is none, e.g. piped)."""
    return shutil.get_terminal_size((120, 24)).columns


def clip(text: str, n: int) -> str:
    """``text`` on one line of at most ``n`` characters (``...`` marks a cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def hanging(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` wrapped to ``width`` after the prefix ``first``, continuation lines after ``rest``;
    words are never broken, so joining the lines gives the whole text back."""
    return textwrap.wrap(" ".join(str(text).split()), width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def unicode_ok() -> bool:
    """Whether stdout takes Unicode (else formulas print as ASCII art)."""
    enc = (getattr(sys.stdout, "encoding", None) or "").lower()
    return "utf" in enc


def stdout_is_terminal() -> bool:
    """Evidence wraps on a terminal; piped output keeps one row per check (for grep and scripts)."""
    return sys.stdout.isatty()


def compact(obj) -> str:
    """A witness or parameter set as one line of JSON."""
    from ..export.jsonout import jsonable

    return json.dumps(jsonable(obj), separators=(", ", ": "), ensure_ascii=False)


def seconds(t: float) -> str:
    from ..numeric.formatting import seconds as fmt

    return fmt(t)


@dataclass(frozen=True)
class VerdictTable:
    """Columns of ``verify``'s table: CLAIM (as wide as the longest id), ROUTE, CHECK, VERDICT, then the
    evidence, wrapped under its column to ``width`` when ``wrap`` (a terminal)."""

    claim_width: int = 26
    width: int = 120
    wrap: bool = False
    ROUTE, CHECK, VERDICT = 15, 32, 12

    @classmethod
    def for_claims(cls, claims) -> "VerdictTable":
        return cls(claim_width=max(len("CLAIM"), *(len(c.id) for c in claims)), width=terminal_width(),
                   wrap=stdout_is_terminal())

    def header(self) -> str:
        return self.row("CLAIM", "ROUTE", "CHECK", "VERDICT", "EVIDENCE")

    def row(self, claim: str, route: str, name: str, verdict: str, evidence: str) -> str:
        head = (f"{claim:<{self.claim_width}} {route:<{self.ROUTE}} {name:<{self.CHECK}} "
                f"{verdict:<{self.VERDICT}} ")
        room = self.width - len(head)
        if not self.wrap or room < 30:
            return (head + evidence).rstrip()
        lines = textwrap.wrap(evidence, room, break_on_hyphens=False) or [""]
        return "\n".join([head + lines[0]] + [" " * len(head) + line for line in lines[1:]]).rstrip()
