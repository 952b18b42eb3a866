"""Authentication and rate limiting of Didit's API routes, applied by the :func:`endpoint` decorator.

The order follows DRF's ``APIView.initial``: authenticate, check permission (403/401), then throttle (429), then
the view (Didit: https://docs.didit.me/integration/api-errors and https://docs.didit.me/integration/rate-limiting).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Callable
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from didit_portal.sandbox.routes import tokens
from didit_portal.sandbox.routes.http import Handler, Services, error_response, json_response, services_of
from didit_portal.sandbox.types import EngineError

PERMISSION_DENIED = {"detail": "You do not have permission to perform this action."}
AUTH_FAILED = {"detail": "Incorrect authentication credentials."}
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}

#: ``key``: v3's ``x-api-key``; ``bearer``: v2 and Auth + Data (a client token or the key); ``none``: open.
Auth = Literal["key", "bearer", "none"]


def _key_matches(given: str | None, key: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def check_api_key(services: Services, request: Request) -> JSONResponse | None:
    """v3 authentication: ``x-api-key``, the header name case-insensitive.

    Didit: https://docs.didit.me/integration/api-full-flow; ``--auth-split`` is the sandbox's own.

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
    """Rate-limit identity: the API key, else the client IP (Didit's rate-limiting page, above)."""
    key = request.headers.get("x-api-key")
    if key:
        return f"key:{key}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def write_scope(method: str) -> str:
    """The generic scope of an HTTP method (Didit's rate-limiting page, above)."""
    return "generic-get" if method in ("GET", "HEAD") else "generic-write"


def _refusal(services: Services, request: Request, auth: Auth, scope: str | None) -> Response | None:
    """The 401/403/429 this request gets before reaching its handler, if any."""
    if auth == "key":
        denied = check_api_key(services, request)
    elif auth == "bearer":
        denied = check_bearer_or_key(services, request)
    else:
        denied = None
    if denied is not None or scope is None:
        return denied
    effective = write_scope(request.method) if scope == "auto" else scope
    throttled = services.limiter.hit(effective, client_identity(request))
    if throttled is not None:
        return json_response(throttled.body(), 429, throttled.headers())
    return None


def endpoint(*, auth: Auth, scope: str | None) -> Callable[[Handler], Handler]:
    """Decorate a route handler with authentication, rate limiting and :class:`EngineError` mapping.

    The decorated handler keeps its name (and the plain one stays reachable as ``__wrapped__``).

    Args:
        auth: ``key`` (v3), ``bearer`` (v2 and Auth+Data) or ``none``.
        scope: The rate-limit scope; ``auto`` picks generic-get or generic-write by method; None: unlimited.

    Returns:
        The decorator.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            refused = _refusal(services_of(request), request, auth, scope)
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except EngineError as exc:
                return error_response(exc)

        return guarded

    return decorate
