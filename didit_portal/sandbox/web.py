"""HTTP plumbing shared by the sandbox's route modules.

The request-id middleware, JSON bodies and errors in Didit's (Django REST Framework's) shapes, authentication
and rate limiting.

The order inside :func:`guarded` follows DRF's ``APIView.initial``: authenticate, check permission (403/401), then
throttle (429), then the view.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from didit_portal.sandbox import tokens
from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.engine import SandboxEngine
from didit_portal.sandbox.ratelimit import RateLimiter
from didit_portal.sandbox.types import EngineError

PERMISSION_DENIED = {"detail": "You do not have permission to perform this action."}
AUTH_FAILED = {"detail": "Incorrect authentication credentials."}
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}

Auth = Literal["key", "bearer", "none"]
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Services:
    """What every route needs: the engine, the configuration, the rate limiter and the clock."""

    engine: SandboxEngine
    config: SandboxConfig
    limiter: RateLimiter
    clock: Callable[[], float] = time.time


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


def _key_matches(given: str | None, key: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def check_api_key(services: Services, request: Request) -> JSONResponse | None:
    """v3 authentication: ``x-api-key``, the header name case-insensitive (contract §1).

    Returns:
        None when the key is right; else 403, or 401 for a wrong (present) key with ``--auth-split``.
    """
    given = request.headers.get("x-api-key")
    if _key_matches(given, services.config.api_key):
        return None
    if given is not None and services.config.auth_split:
        return json_response(AUTH_FAILED, 401)
    return json_response(PERMISSION_DENIED, 403)


def bearer_token(request: Request) -> str | None:
    """The ``Authorization: Bearer`` token, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def check_bearer_or_key(services: Services, request: Request) -> JSONResponse | None:
    """v2 / Auth+Data authentication: a token from ``/auth/v2/token/`` or the API key; failures are 401."""
    if _key_matches(request.headers.get("x-api-key"), services.config.api_key):
        return None
    token = bearer_token(request)
    if token is None:
        return json_response(NOT_AUTHENTICATED, 401)
    if tokens.verify(token, services.config.api_key, services.clock()) is None:
        return json_response({"detail": "Given token not valid for any token type", "code": "TOKEN_NOT_VALID"}, 401)
    return None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The ``Authorization: Basic`` pair, or None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


def client_identity(request: Request) -> str:
    """Rate-limit identity: the API key, else the client IP (contract §6)."""
    key = request.headers.get("x-api-key")
    if key:
        return f"key:{key}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def guarded(services: Services, handler: Handler, *, auth: Auth, scope: str | None) -> Handler:
    """Wrap a route handler with authentication, rate limiting and :class:`EngineError` mapping.

    Args:
        services: Shared services.
        handler: The route's handler.
        auth: ``key`` (v3), ``bearer`` (v2 and Auth+Data) or ``none``.
        scope: The rate-limit scope; ``auto`` picks generic-get or generic-write by method; None: unlimited.

    Returns:
        The wrapped handler.
    """

    async def endpoint(request: Request) -> Response:
        if auth == "key":
            denied = check_api_key(services, request)
        elif auth == "bearer":
            denied = check_bearer_or_key(services, request)
        else:
            denied = None
        if denied is not None:
            return denied
        if scope is not None:
            effective = write_scope(request.method) if scope == "auto" else scope
            throttled = services.limiter.hit(effective, client_identity(request))
            if throttled is not None:
                return json_response(throttled.body(), 429, throttled.headers())
        try:
            return await handler(request)
        except EngineError as exc:
            return error_response(exc)

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return endpoint


def write_scope(method: str) -> str:
    """The generic scope of an HTTP method (contract §6)."""
    return "generic-get" if method in ("GET", "HEAD") else "generic-write"
