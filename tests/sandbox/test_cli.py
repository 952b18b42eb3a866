"""The sandbox's standalone command (its own CLI, not Didit's): flags, and a real process serving Didit's routes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sbx_helpers import WF, free_socket

from didit_portal.sandbox.__main__ import build_parser, config_from_args
from didit_portal.sandbox.routes.ratelimit import parse_override

ROOT = Path(__file__).resolve().parents[2]


def test_cli_flags() -> None:
    args = build_parser().parse_args(
        [
            "--api-key",
            "k",
            "--port",
            "9000",
            "--webhook-url",
            "http://127.0.0.1:1/h",
            "--webhook-secret",
            "s",
            "--retry-scale",
            "0.5",
            "--seed",
            "3",
            "--auth-split",
            "--strict-workflows",
            "--rate-limit",
            "generic-get=5",
            "--rate-limit",
            "session-generate-pdf=1",
            "--auth-data-ttl",
            "30",
            "--db",
            "/tmp/x.db",
        ]
    )
    config = config_from_args(args)
    assert config.public_url == "http://127.0.0.1:9000"
    assert config.rate_limits["generic-get"] == 5 and config.rate_limits["session-generate-pdf"] == 1
    assert config.rate_limits["generic-write"] == 300
    assert (config.seed, config.auth_split, config.strict_workflows, config.retry_scale) == (3, True, True, 0.5)
    assert config.auth_data_ttl == 30 and str(config.db_path) == "/tmp/x.db"
    with pytest.raises(ValueError):
        parse_override("generic-get")
    with pytest.raises(SystemExit):
        config_from_args(build_parser().parse_args(["--api-key", "k", "--rate-limit", "x=0"]))


def test_module_runs_standalone_and_prints_workflows(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # uvicorn binds it again right away
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "didit_portal.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            "cli-key",
            "--webhook-secret",
            "s",
            "--retry-scale",
            "0.01",
            "--seed",
            "1",
            "--db",
            str(tmp_path / "cli.db"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"{origin}/system/healthcheck", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        created = httpx.post(f"{origin}/v3/session/", json={"workflow_id": WF["kyc"]}, headers={"x-api-key": "cli-key"})
        assert created.status_code == 201
        assert created.json()["url"].startswith(f"{origin}/session/")
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=15)
    for wf_id in WF.values():
        assert wf_id in output
