"""Shared fixtures of the browser tests: Chromium, pages that fail on console errors, small local servers.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``), never Playwright's download. Every page
made here records console errors and uncaught exceptions of all its frames; the test errors at teardown if any
occurred.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
EMBEDDER_DIR = Path(__file__).parent / "embedder"
SDK_WEB_DIR = Path(__file__).parent / "sdkweb"
SDK_WEB_DIST = SDK_WEB_DIR / "node_modules" / "@didit-protocol" / "sdk-web" / "dist"
#: The standalone sandbox, exactly as a user starts it (``python -m didit_portal.sandbox``).
SANDBOX_COMMAND = [sys.executable, "-m", "didit_portal.sandbox"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, on_fail: Callable[[], str] = lambda: "") -> None:
    """Wait until ``url`` answers 200, or fail with ``on_fail()`` appended to the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s. {on_fail()}")


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a background thread on 127.0.0.1; yields its origin."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


# ---- Chromium ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the whole run."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium package).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class _PageErrors:
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"console error at {message.location.get('url')}: {message.text}")

        def on_page_error(error: Error) -> None:
            self.errors.append(f"uncaught exception: {error.message}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)


@pytest.fixture
def page_factory(chromium_browser: Browser) -> Iterator[Callable[..., Page]]:
    """Make pages, each in its own browser context (own cookies: a separate "device").

    Keyword arguments go to ``Browser.new_context`` (e.g. ``viewport``). Any console error or uncaught exception
    in any frame of these pages fails the test at teardown.
    """
    watcher = _PageErrors()
    contexts = []

    def make(**context_args: Any) -> Page:
        context = chromium_browser.new_context(**context_args)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        watcher.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not watcher.errors, "page console errors:\n" + "\n".join(watcher.errors)


@pytest.fixture
def checked_page(page_factory: Callable[..., Page]) -> Page:
    """One page that fails the test on console errors."""
    return page_factory()


# ---- The standalone Didit sandbox -----------------------------------------------------------------------------


@dataclass
class SandboxProcess:
    """A running ``python -m didit_portal.sandbox`` and small helpers over its public API."""

    origin: str
    api_key: str

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key}

    def create_session(self, **body: Any) -> dict[str, Any]:
        """``POST /v3/session/``; an unknown well-formed ``workflow_id`` registers a kyc workflow (sandbox-only)."""
        body.setdefault("workflow_id", "6f1d2c3b-4a59-4e68-9d7c-8b0a1f2e3d4c")
        response = httpx.post(f"{self.origin}/v3/session/", json=body, headers=self._headers(), timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def decision(self, session_id: str) -> dict[str, Any]:
        """``GET /v3/session/{id}/decision/``."""
        response = httpx.get(f"{self.origin}/v3/session/{session_id}/decision/", headers=self._headers(), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def bearer(self) -> str:
        """An Auth + Data bearer token from ``POST /auth/v2/token/`` (Basic client_id:api_key)."""
        basic = base64.b64encode(f"browser-tests:{self.api_key}".encode()).decode()
        response = httpx.post(
            f"{self.origin}/auth/v2/token/",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def create_auth_session(self, scope: str, vendor_data: str | None = None) -> dict[str, Any]:
        """``POST /auth/v2/session/`` (Auth + Data)."""
        body: dict[str, Any] = {"scope": scope}
        if vendor_data:
            body["vendor_data"] = vendor_data
        response = httpx.post(
            f"{self.origin}/auth/v2/session/",
            json=body,
            headers={"Authorization": f"Bearer {self.bearer()}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def auth_status(self, session_id: str, session_token: str) -> str:
        """``GET /auth/v2/session/{id}/status/`` → the status string."""
        response = httpx.get(
            f"{self.origin}/auth/v2/session/{session_id}/status/",
            timeout=10,
            headers={"Authorization": f"Bearer {self.bearer()}", "Data-Session-Token": session_token},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["status"])


@pytest.fixture(scope="session")
def didit_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """The standalone sandbox on 127.0.0.1, started once per run in a scratch directory (its SQLite file)."""
    workdir = tmp_path_factory.mktemp("didit-sandbox")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    api_key = "sbx_browser_tests_key"
    log_path = workdir / "sandbox.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *SANDBOX_COMMAND,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--api-key",
                api_key,
                "--public-url",
                origin,
                "--db",
                str(workdir / "sandbox.db"),
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(
            f"{origin}/system/healthcheck",
            on_fail=lambda: "Sandbox log:\n" + log_path.read_text(errors="replace")[-3000:],
        )
        yield SandboxProcess(origin=origin, api_key=api_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- The integrator's pages (the embedder) --------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedder_origin() -> Iterator[str]:
    """A static server on 127.0.0.1 (another port than the sandbox) for ``tests/browser/embedder/`` pages.

    ``/sdk/`` serves the installed ``@didit-protocol/sdk-web`` dist files when they are present; tests that need
    them check for them first (see ``sdk_web_dist``).
    """
    routes = []
    if SDK_WEB_DIST.is_dir():
        routes.append(Mount("/sdk", app=StaticFiles(directory=SDK_WEB_DIST)))
    routes.append(Mount("/", app=StaticFiles(directory=EMBEDDER_DIR, html=True)))
    with serve_in_thread(Starlette(routes=routes), free_port()) as origin:
        yield origin


@pytest.fixture(scope="session")
def sdk_web_dist() -> Path:
    """The installed web SDK's dist folder; fails (never installs) when ``npm ci`` has not been run."""
    if not (SDK_WEB_DIST / "didit-sdk.umd.js").is_file():
        pytest.fail(
            f"{SDK_WEB_DIST} is missing: the Didit web SDK is not installed. Run `make test`, which runs "
            "`npm ci --prefix tests/browser/sdkweb` (pinned by tests/browser/sdkweb/package-lock.json)."
        )
    return SDK_WEB_DIST
