"""Run the portal backend (``build_api`` + its lifespans, embedded sandbox included) on a real loopback port.

Used by the business-API and link-service tests: the portal's Didit client reaches the sandbox over HTTP and the
sandbox's signed webhooks come back to the portal's inbox, as in deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from didit_portal.api.app import build_api, run_lifespans
from didit_portal.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_portal(db_url: str, data_dir: Path, **overrides: object) -> Iterator[tuple[Settings, Starlette]]:
    """Start the backend in a thread; yield its settings and the api app; stop it afterwards."""
    port = free_port()
    settings = Settings(
        port=port,
        portal_data_dir=data_dir,
        database_url=db_url,  # type: ignore[call-arg]
        public_base_url=f"http://127.0.0.1:{port}",
        sandbox_retry_scale=0.01,
        **overrides,
    )
    api = build_api(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with run_lifespans(api):
            yield

    outer = Starlette(routes=[Mount("", app=api)], lifespan=lifespan)
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started:
        assert time.time() < deadline, "portal did not start"
        assert thread.is_alive(), "portal thread died"
        time.sleep(0.05)
    try:
        yield settings, api
    finally:
        server.should_exit = True
        thread.join(10)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")
