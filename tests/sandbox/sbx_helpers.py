"""Helpers for the sandbox's contract tests: constants, a uvicorn-in-a-thread server, a scriptable webhook
receiver, and small request/poll helpers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from didit_portal.sandbox.model.workflow_defs import PRELOADED

KEY = "sbx_test_key_123"
SECRET = "sbx_whsec_Q7m2Lr9Tz4"
ORIGIN = "http://sandbox.test"
WF = {name: wf_id for name, (wf_id, *_rest) in PRELOADED.items()}


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServedApp:
    """Serve an ASGI app with uvicorn on a loopback socket, in a thread (its lifespan runs there)."""

    def __init__(self, app: Any, sock: socket.socket | None = None) -> None:
        self.sock = sock or free_socket()
        self.port = self.sock.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@dataclass
class Received:
    """One request the receiver got."""

    body: bytes
    headers: dict[str, str]
    at: float
    answered: int | None


@dataclass
class Receiver:
    """A webhook receiver whose answers a test scripts: each request pops the next status (default 200)."""

    script: list[int | float] = field(default_factory=list)  # an int: that status; a float: sleep that long
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                action = self.script.pop(0) if self.script else 200
            if isinstance(action, float):
                await asyncio.sleep(action)
                action = 200
            with self.lock:
                self.requests.append(
                    Received(body, {k.lower(): v for k, v in request.headers.items()}, time.time(), action)
                )
            return Response("ok" if action < 300 else "nope", status_code=action)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.body) for r in self.requests]


@dataclass
class FakeClock:
    """A clock for ``create_app(clock=...)`` that moves only when the test advances it."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def create_session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """POST /v3/session/ and return the 201 body."""
    body.setdefault("workflow_id", WF["kyc"])
    response = await client.post("/v3/session/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def outcome(client: httpx.AsyncClient, session_id: str, name: str, **extra: Any) -> httpx.Response:
    """POST the control API (it takes the sandbox's API key, as the ``/v3`` routes do)."""
    return await client.post(
        f"/sandbox/sessions/{session_id}/outcome", json={"outcome": name, **extra}, headers={"x-api-key": KEY}
    )


async def wait_for(predicate: Callable[[], bool], limit: float = 10.0, interval: float = 0.02) -> None:
    """Poll until ``predicate()`` is true (fails the test on timeout)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


def wait_sync(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Blocking variant of :func:`wait_for`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)
