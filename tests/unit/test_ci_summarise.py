"""CI's verdict on a ``make test`` log (``.ci/summarise.py``, run by ``.ci/run``): an empty tier fails CI.

Sample logs, real pytest output, and the Makefile's own tier recipe run with a pytest that collects nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUMMARISE = REPO / ".ci" / "summarise.py"

SERVERS = "==> servers: PostgreSQL 15.20 at 127.0.0.1:5432, Redis 7.0.15 at 127.0.0.1:6379"
FAST = "==> pytest tier fast: unit + API + sandbox tests"
BROWSER = "==> pytest tier browser: Chromium against the real portal and sandbox pages"


def summarise(tmp_path: Path, log: str, expect: str = "fast,browser") -> tuple[int, str]:
    path = tmp_path / "make-test.log"
    path.write_text(log)
    result = subprocess.run(
        [sys.executable, str(SUMMARISE), "--expect", expect, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == ""
    return result.returncode, result.stdout


def log(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_a_healthy_run_passes_and_counts_each_tier(tmp_path: Path) -> None:
    rc, out = summarise(
        tmp_path,
        log(
            "==> ruff check",
            "All checks passed!",
            SERVERS,
            FAST,
            "........s.....",
            "410 passed, 3 skipped, 2 deselected, 5 warnings in 212.31s (0:03:32)",
            BROWSER,
            "......",
            "95 passed, 1 xfailed in 301.02s (0:05:01)",
        ),
    )
    assert rc == 0, out
    assert "  servers: PostgreSQL 15.20 at 127.0.0.1:5432, Redis 7.0.15 at 127.0.0.1:6379" in out
    assert "  tier fast: 410 ran (410 passed, 0 xfailed, 0 failed or errored), 3 skipped" in out
    assert "  tier browser: 96 ran (95 passed, 1 xfailed, 0 failed or errored), 0 skipped" in out
    assert "total: 505 passed, 1 xfailed, 0 failed or errored, 3 skipped, over 2 tiers" in out
    assert "CI: FAILED" not in out


def test_a_tier_that_collects_nothing_fails(tmp_path: Path) -> None:
    rc, out = summarise(
        tmp_path,
        log(
            SERVERS,
            FAST,
            "410 passed in 212.31s (0:03:32)",
            BROWSER,
            "no tests ran in 0.01s",
            "==> browser tier: NO TESTS COLLECTED: the tier fails",
        ),
    )
    assert rc == 1
    assert (
        "  tier browser: 0 ran (0 passed, 0 xfailed, 0 failed or errored), 0 skipped [no tests ran in 0.01s] FAIL: "
        "ran no test" in out
    )
    assert "  tier fast: 410 ran" in out and out.count("FAIL: ") == 1  # the browser tier only
    assert out.endswith("CI: FAILED: a test tier ran no test, did not finish or failed (see the tier lines above)\n")


@pytest.mark.parametrize(
    ("tier_lines", "problem"),
    [
        (["12 skipped in 0.40s"], "ran no test"),
        (["5 deselected in 0.30s"], "ran no test"),
        (["....", "ERROR: unexpected teardown"], "printed no pytest summary"),
        (["1 failed, 9 passed in 2.00s"], "1 failed or errored"),
        (["3 errors in 1.00s"], "3 failed or errored"),
    ],
)
def test_a_tier_that_ran_nothing_useful_fails(tmp_path: Path, tier_lines: list[str], problem: str) -> None:
    rc, out = summarise(tmp_path, log(SERVERS, FAST, "4 passed in 1.00s", BROWSER, *tier_lines))
    assert rc == 1
    assert "  tier browser: " in out and f"FAIL: {problem}" in out
    assert "  tier fast: 4 ran (4 passed, 0 xfailed, 0 failed or errored), 0 skipped [4 passed in 1.00s] ok" in out


def test_a_tier_that_never_started_fails(tmp_path: Path) -> None:
    # e.g. the servers check stopped the fast tier before its pytest.
    rc, out = summarise(
        tmp_path,
        log(
            "==> servers: MISSING: Redis is not reachable at 127.0.0.1:6379 (refused)", BROWSER, "95 passed in 301.02s"
        ),
    )
    assert rc == 1
    assert "  servers: MISSING: Redis is not reachable at 127.0.0.1:6379 (refused)" in out
    assert "  tier fast: FAIL: never started" in out


def test_summary_lines_outside_a_tier_are_not_counted(tmp_path: Path) -> None:
    # A summary-shaped line before the first tier (say, in lint output) belongs to no tier.
    rc, out = summarise(tmp_path, log("7 passed in 1.00s", FAST, "no tests ran in 0.01s"), expect="fast")
    assert rc == 1
    assert "total: 0 passed, 0 xfailed, 0 failed or errored, 0 skipped, over 1 tiers" in out


def _real_pytest(directory: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout


def test_real_pytest_output_of_an_empty_and_a_full_tier(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    full = tmp_path / "full"
    full.mkdir()
    (full / "test_one.py").write_text("def test_one():\n    assert True\n\n\ndef test_two():\n    assert 1\n")
    rc, out = summarise(tmp_path, log(FAST, _real_pytest(full), BROWSER, _real_pytest(empty)))
    assert rc == 1
    assert "  tier fast: 2 ran (2 passed, 0 xfailed, 0 failed or errored), 0 skipped" in out
    assert "  tier browser: 0 ran" in out and "FAIL: ran no test" in out


@pytest.mark.skipif(shutil.which("make") is None, reason="make is what CI runs; without it there is no Makefile")
def test_the_makefile_fails_a_tier_that_collects_nothing(tmp_path: Path) -> None:
    """``make test-fast`` with a pytest that collects nothing (exit status 5): the tier, and so CI, fails."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(f"#!/bin/sh\necho '{SERVERS}'\n")  # stands for `python -m tests.servers`
    (fake / "pytest").write_text("#!/bin/sh\necho\necho 'no tests ran in 0.01s'\nexit 5\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env["NPM_CONFIG_REGISTRY"] = "http://registry.invalid/"  # the Makefile would otherwise ask npm
    # -o: never (re)install the venv for this; BIN points the tier at the fake tools.
    result = subprocess.run(
        ["make", "-o", ".venv/.installed-dev", "-o", ".venv/.installed-runtime", "test-fast", f"BIN={fake}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "==> pytest tier fast: unit + API + sandbox tests" in output
    assert "==> fast tier: NO TESTS COLLECTED: the tier fails" in output
    rc, out = summarise(tmp_path, output, expect="fast")
    assert rc == 1
    assert "  tier fast: 0 ran" in out and "FAIL: ran no test" in out
