"""The real portal, started once per run exactly as ``make run`` starts it: ``reflex run --env prod`` on one port.

A subprocess (not ``AppHarnessProd``): it exercises the same command, environment and single-port serving that
operators use, keeps the app's SQLModel tables and Reflex state out of the pytest process, and runs in the
default configuration (embedded Didit sandbox, SQLite) with a scratch data folder. The database is migrated
first with ``alembic upgrade head``, as ``make run`` does.

Chromium fixtures (``page_factory``: pages that fail the test on any console error) come from
``tests/browser/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from didit_portal.config import SANDBOX_API_KEY_FILE

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = REPO / ".venv" / "bin"
BUN = REPO / ".tools" / "node_modules" / ".bin" / "bun"
#: Where the screenshots go (the Makefile's caller can look at them); override with PORTAL_SHOTS_DIR.
SHOTS_DIR = Path(os.environ.get("PORTAL_SHOTS_DIR", "/tmp/shots"))
#: A cold first build installs the frontend packages with bun; later starts rebuild in ≈ 10 s.
START_TIMEOUT = 300.0
#: Settings that would take the portal out of its default (embedded sandbox, SQLite) configuration.
_PORTAL_SETTINGS = (
    "DIDIT_API_KEY",
    "DIDIT_WEBHOOK_SECRET",
    "DIDIT_WORKFLOW_ID",
    "DIDIT_BASE_URL",
    "DIDIT_AUTH_BASE_URL",
    "DIDIT_MODE",
    "DIDIT_CLIENT_ID",
    "DIDIT_CLIENT_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "PORTAL_SECRET_KEY",
    "PUBLIC_BASE_URL",
    "PORT",
    "PORTAL_DATA_DIR",
    "PORTAL_INTERNAL_URL",
    "GRANIAN_WORKERS",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _npm_registry() -> str:
    npm = shutil.which("npm")
    if npm is None:
        return ""
    result = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def reflex_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the Makefile exports for Reflex: project-local dirs, no telemetry, no network probes.

    Args:
        base: Environment to start from; ``os.environ`` when None.

    Returns:
        A new environment mapping.
    """
    env = dict(os.environ if base is None else base)
    env.update(
        REFLEX_DIR=str(REPO / ".reflex-home"),
        BUN_INSTALL_CACHE_DIR=str(REPO / ".cache" / "bun"),
        NPM_CONFIG_CACHE=str(REPO / ".cache" / "npm"),
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_HTTP_CLIENT_BIND_ADDRESS="0.0.0.0",
        REFLEX_BUN_PATH=str(BUN),
    )
    if not env.get("NPM_CONFIG_REGISTRY"):
        env["NPM_CONFIG_REGISTRY"] = _npm_registry()
    return env


@dataclass(frozen=True)
class Portal:
    """A running portal."""

    origin: str
    data_dir: Path
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for failure messages.

        Args:
            chars: How many characters to return.

        Returns:
            The last ``chars`` characters of the log.
        """
        return self.log_path.read_text(errors="replace")[-chars:]

    @property
    def sandbox_headers(self) -> dict[str, str]:
        """The ``x-api-key`` header of this installation's embedded sandbox (generated into its data folder).

        Returns:
            The header, for the sandbox's ``/v3`` routes and its control API.
        """
        return {"x-api-key": (self.data_dir / SANDBOX_API_KEY_FILE).read_text().strip()}


def _wait_ready(origin: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the portal exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{origin}/ping", timeout=1.0).status_code == 200:
                return
        time.sleep(0.25)
    pytest.fail(
        f"the portal did not answer on {origin} within {START_TIMEOUT:.0f} s:\n"
        f"{log_path.read_text(errors='replace')[-4000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session: signal its whole process group (Reflex and its Granian workers).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """The portal in prod mode on a free port, default configuration, scratch data folder.

    Yields:
        The running portal.
    """
    if not BUN.exists():
        pytest.fail(f"{BUN} is missing: run `make test` (it installs bun from npm).")
    data_dir = tmp_path_factory.mktemp("portal-data")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in _PORTAL_SETTINGS}
    env = reflex_env(env)
    env.update(PORT=str(port), PORTAL_DATA_DIR=str(data_dir), PUBLIC_BASE_URL=f"http://localhost:{port}")
    log_path = data_dir / "portal.log"

    subprocess.run([str(VENV_BIN / "alembic"), "upgrade", "head"], cwd=REPO, env=env, check=True, capture_output=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "reflex"), "run", "--env", "prod", "--single-port", "--frontend-port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    origin = f"http://localhost:{port}"
    try:
        _wait_ready(origin, process, log_path)
        yield Portal(origin=origin, data_dir=data_dir, log_path=log_path)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    """The folder screenshots are written to (created if missing).

    Returns:
        The folder.
    """
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    return SHOTS_DIR


# ---- End-user links (verification and share pages) ------------------------------------------------------------


@dataclass(frozen=True)
class LinkFactory:
    """Creates ``/verify/{token}`` and ``/share/{token}`` links in a running portal (see ``linkfactory.py``)."""

    portal: Portal

    def _run(self, *args: str) -> dict[str, Any]:
        port = self.portal.origin.rsplit(":", 1)[1]
        env = {key: value for key, value in os.environ.items() if key not in _PORTAL_SETTINGS}
        env.update(PORT=port, PORTAL_DATA_DIR=str(self.portal.data_dir), PUBLIC_BASE_URL=self.portal.origin)
        result = subprocess.run(
            [str(VENV_BIN / "python"), "-m", "tests.browser.portal.linkfactory", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"link factory failed:\n{result.stderr[-3000:]}"
        return json.loads(result.stdout)

    def verification(
        self, vendor_data: str, *, language: str | None = None, return_url: str | None = None
    ) -> dict[str, Any]:
        """A new verification link: ``{token, path, link_id, session_id, hosted_url, status}``."""
        args = ["verify", "--vendor-data", vendor_data]
        if language:
            args += ["--language", language]
        if return_url:
            args += ["--return-url", return_url]
        return self._run(*args)

    def share(self, scope: str = "names email", vendor_data: str | None = None) -> dict[str, Any]:
        """A new share link: ``{token, path, share_id, data_session_id, authorize_url}``."""
        args = ["share", "--scope", scope]
        if vendor_data:
            args += ["--vendor-data", vendor_data]
        return self._run(*args)

    def stored_share(self, share_id: str) -> dict[str, Any]:
        """What the portal stored for a share link: ``{data_session_id, status, user_data_keys}``."""
        return self._run("shared", "--share-id", share_id)

    def expire_data_session(self, data_session_id: str) -> None:
        """Make the embedded sandbox's Auth + Data session expire now (its TTL is minutes; tests cannot wait)."""
        with contextlib.closing(sqlite3.connect(self.portal.data_dir / "sandbox.db")) as db, db:
            changed = db.execute(
                "UPDATE auth_sessions SET expires_at = 0 WHERE session_id = ?", (data_session_id,)
            ).rowcount
        assert changed == 1, "no such data session in the sandbox"

    def sandbox_outcome(self, session_id: str, outcome: str) -> dict[str, Any]:
        """Drive a session through the embedded sandbox's control API (the sandbox's own, not part of Didit's API)."""
        response = httpx.post(
            f"{self.portal.origin}/didit-sandbox/sandbox/sessions/{session_id}/outcome",
            json={"outcome": outcome},
            headers=self.portal.sandbox_headers,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def links(portal: Portal) -> LinkFactory:
    """Create end-user links in the session's portal.

    Returns:
        The factory.
    """
    return LinkFactory(portal)


# ---- Staff accounts --------------------------------------------------------------------------------------------

#: Password of the accounts ``staff_accounts`` creates.
STAFF_PASSWORD = "browser-tests-staff-password"


@pytest.fixture(scope="session")
def staff_accounts(portal: Portal) -> dict[str, str]:
    """One admin, reviewer and viewer in the portal's database, created with the CLI as an operator would.

    Returns:
        Role → email; every account's password is :data:`STAFF_PASSWORD`.
    """
    port = portal.origin.rsplit(":", 1)[1]
    env = {key: value for key, value in os.environ.items() if key not in _PORTAL_SETTINGS}
    env.update(PORT=port, PORTAL_DATA_DIR=str(portal.data_dir), PUBLIC_BASE_URL=portal.origin)
    accounts = {role: f"{role}-staff@example.org" for role in ("admin", "reviewer", "viewer")}
    for role, email in accounts.items():
        result = subprocess.run(
            [
                str(VENV_BIN / "python"),
                "-m",
                "didit_portal",
                "users",
                "create",
                "--email",
                email,
                "--password-stdin",
                "--role",
                role,
            ],
            cwd=REPO,
            env=env,
            input=STAFF_PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"users create failed:\n{result.stderr[-3000:]}"
    return accounts
