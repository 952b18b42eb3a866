"""HTTP plumbing shared by the sandbox's route modules: the app's services, JSON in and out, the request id.

Handlers are module-level functions; they find the engine, the configuration, the rate limiter and the clock on
``request.app.state.services`` (set by :func:`~didit_portal.sandbox.app.create_app`), so they can be imported and
called by name. Bodies and errors take Didit's (Django REST Framework's) shapes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine import SandboxEngine
from didit_portal.sandbox.routes.ratelimit import RateLimiter
from didit_portal.sandbox.types import EngineError

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Services:
    """What every route needs: the engine, the configuration, the rate limiter and the clock."""

    engine: SandboxEngine
    config: SandboxConfig
    limiter: RateLimiter
    clock: Callable[[], float] = time.time


def services_of(request: Request) -> Services:
    """The sandbox app's :class:`Services` (``app.state.services``; the app is the sandbox even when mounted)."""
    services = request.app.state.services
    assert isinstance(services, Services), "create_app() sets app.state.services"
    return services


class RequestIdMiddleware:
    """Adds ``X-Request-Id`` to every HTTP response (didit-sdk reads it into its errors).

    Args:
        app: The wrapped ASGI app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, adding the header to the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response (UTF-8, non-ASCII kept)."""
    return JSONResponse(body, status_code=status_code, headers=headers)


def error_response(exc: EngineError) -> JSONResponse:
    """Turn an :class:`EngineError` into its HTTP answer."""
    return json_response(exc.body, exc.status_code)


async def read_json(request: Request) -> Any:
    """Parse the request body as JSON (an empty body is ``{}``), or form fields when the body is a form.

    Raises:
        EngineError: 400 with DRF's parse-error detail.
    """
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EngineError(400, {"detail": f"JSON parse error - {exc}"}) from None
