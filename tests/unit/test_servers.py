"""``python -m tests.servers`` (run by ``make test-fast``): the servers' versions on one line, or one line saying
which one is missing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens there


def _servers(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.servers"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_both_servers_are_named_with_their_versions() -> None:
    result = _servers()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("==> servers: PostgreSQL ")
    assert ", Redis " in result.stdout
    version = result.stdout.split("PostgreSQL ", 1)[1].split(" ", 1)[0]
    assert version[0].isdigit(), result.stdout


@pytest.mark.parametrize(
    ("variable", "scheme", "name"),
    [
        ("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", "PostgreSQL"),
        ("TEST_REDIS_URL", "redis://127.0.0.1:{port}/0", "Redis"),
    ],
)
def test_a_missing_server_fails_in_one_line(variable: str, scheme: str, name: str) -> None:
    port = _closed_port()
    result = _servers(**{variable: scheme.format(port=port)})
    assert result.returncode == 1
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1, result.stdout
    assert result.stdout.startswith(f"==> servers: MISSING: {name} is not reachable at 127.0.0.1:{port} (")
    assert variable in result.stdout  # says how to point the tests elsewhere
