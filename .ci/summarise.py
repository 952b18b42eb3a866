#!/usr/bin/env python3
"""Summarise a ``make test`` log for CI: servers used, each pytest tier's count, a total; fail on an empty tier.

    python3 .ci/summarise.py [--expect fast,browser] LOG

The Makefile announces each tier with ``==> pytest tier NAME: ...`` before running its pytest, and
``make test-fast`` first prints ``==> servers: ...`` (``tests/servers.py``). This script files the last pytest
summary line after each announcement (``12 passed, 1 skipped in 3.40s``, ``no tests ran in 0.01s``) under its
tier and prints, for each tier, how many tests ran. Exit status 1 when a tier ran no test (nothing collected,
all skipped or deselected), printed no summary (pytest never got to the end), failed or errored, or when a tier
named in ``--expect`` never started; 0 otherwise. Standard library only: it runs before and without the venv.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

TIER_RE = re.compile(r"^==> pytest tier (?P<name>[\w.-]+): ?(?P<what>.*)$")
SERVERS_RE = re.compile(r"^==> servers: (?P<what>.*)$")
# pytest ends each run with e.g. "12 passed, 1 skipped in 3.40s" (-q) or "==== 3 failed in 1.2s ====" (no -q),
# or "no tests ran in 0.01s"; the duration may be followed by " (0:01:02)".
SUMMARY_RE = re.compile(
    r"^(=+ )?(?P<counts>[0-9]+ [a-z]+(, [0-9]+ [a-z]+)*|no tests ran) in [0-9.]+s( \([0-9:]+\))?( =+)?$"
)
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
#: pytest's words for outcomes, by what they mean here ("warnings" and "deselected" are not tests that ran).
RAN_OK = {"passed", "xpassed", "xfailed"}
RAN_BAD = {"failed", "error", "errors"}
SKIPPED = {"skipped"}


@dataclass
class Tier:
    """One pytest tier as the log shows it."""

    name: str
    summary: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ran(self) -> int:
        """Tests that ran (passed, failed or errored, expected failures included)."""
        return sum(n for word, n in self.counts.items() if word in RAN_OK | RAN_BAD)

    @property
    def bad(self) -> int:
        """Tests that failed or errored."""
        return sum(n for word, n in self.counts.items() if word in RAN_BAD)

    @property
    def xfailed(self) -> int:
        """Expected failures (they ran; a strict xfail that passes is reported by pytest as failed)."""
        return self.counts.get("xfailed", 0)

    @property
    def passed(self) -> int:
        """Tests that passed (unexpected passes of non-strict xfails included)."""
        return self.ran - self.bad - self.xfailed

    @property
    def skipped(self) -> int:
        """Skipped tests."""
        return sum(n for word, n in self.counts.items() if word in SKIPPED)

    def problem(self) -> str | None:
        """Why this tier fails CI, or None."""
        if self.summary is None:
            return "printed no pytest summary (pytest did not finish)"
        if self.ran == 0:
            return "ran no test"
        if self.bad:
            return f"{self.bad} failed or errored"
        return None


def parse(lines: list[str]) -> tuple[list[str], list[Tier]]:
    """The ``==> servers:`` lines and the tiers, in the order the log shows them."""
    servers: list[str] = []
    tiers: list[Tier] = []
    for raw in lines:
        line = ANSI_RE.sub("", raw).rstrip()
        if match := TIER_RE.match(line):
            tiers.append(Tier(match["name"]))
        elif match := SERVERS_RE.match(line):
            servers.append(match["what"])
        elif (match := SUMMARY_RE.match(line)) and tiers:
            tier = tiers[-1]
            tier.summary = line.strip("= ")
            tier.counts = {}
            if match["counts"] != "no tests ran":
                for part in match["counts"].split(", "):
                    n, word = part.split(" ", 1)
                    tier.counts[word] = tier.counts.get(word, 0) + int(n)
    return servers, tiers


def summarise(lines: list[str], expect: list[str]) -> tuple[list[str], bool]:
    """The report's lines, and whether CI passes on this log."""
    servers, tiers = parse(lines)
    out = ["==> CI summary"]
    out += [f"  servers: {line}" for line in servers] or ["  servers: (not reported: the fast tier did not start)"]
    ok = True
    for tier in tiers:
        problem = tier.problem()
        ok = ok and problem is None
        status = "ok" if problem is None else f"FAIL: {problem}"
        out.append(
            f"  tier {tier.name}: {tier.ran} ran ({tier.passed} passed, {tier.xfailed} xfailed, {tier.bad} failed "
            f"or errored), {tier.skipped} skipped [{tier.summary or 'no summary'}] {status}"
        )
    seen = {tier.name for tier in tiers}
    for name in expect:
        if name not in seen:
            ok = False
            out.append(f"  tier {name}: FAIL: never started")
    passed, xfailed = sum(t.passed for t in tiers), sum(t.xfailed for t in tiers)
    bad, skipped = sum(t.bad for t in tiers), sum(t.skipped for t in tiers)
    out.append(
        f"total: {passed} passed, {xfailed} xfailed, {bad} failed or errored, {skipped} skipped, over "
        f"{len(tiers)} tiers"
    )
    if not ok:
        out.append("CI: FAILED: a test tier ran no test, did not finish or failed (see the tier lines above)")
    return out, ok


def main(argv: list[str] | None = None) -> int:
    """Print the summary of the log named on the command line; exit 1 when a tier fails CI."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--expect", default="", help="comma-separated tiers that must have run (e.g. fast,browser)")
    args = parser.parse_args(argv)
    lines = args.log.read_text(encoding="utf-8", errors="replace").splitlines()
    out, ok = summarise(lines, [name for name in args.expect.split(",") if name])
    sys.stdout.write("\n".join(out) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
