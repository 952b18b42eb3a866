"""The business API's front door, an ASGI middleware: the bearer token first, then a capped body.

FastAPI reads a request's whole body before any dependency runs, so a bearer check written as a dependency comes
too late: an anonymous client could make the portal buffer any chunked body (one without ``Content-Length``).
:class:`BearerFirst` therefore sits in front of the app and, for every request but the OpenAPI document:

1. authenticates the ``Authorization: Bearer`` header (401 without reading a byte of the body);
2. refuses a declared ``Content-Length`` above :data:`MAX_BODY_BYTES` (413), and then reads the body itself,
   answering 413 as soon as more than that has arrived, whatever the headers said;
3. hands the app the token (``request.state.api_token``) and the body it read.

Every answer, the app's included, gets ``Cache-Control: no-store``: they carry link URLs and shared user data.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from didit_portal.api.business.errors import ApiError, error_response
from didit_portal.models import ApiToken
from didit_portal.services.access import api_tokens as tokens

#: Bodies above this are refused (the largest valid one, with 8 KiB of metadata, is well under it).
MAX_BODY_BYTES = 64 * 1024
#: Where :class:`BearerFirst` leaves the authenticated token (``request.state.api_token``).
STATE_KEY = "api_token"


def bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header.

    Args:
        headers: The request's headers.

    Returns:
        The token, or None when the header is missing or not a bearer credential.
    """
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def _unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", "Missing, unknown or revoked bearer token.", headers={"WWW-Authenticate": "Bearer"}
    )


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"Body larger than {MAX_BODY_BYTES} bytes.")


class _DisconnectedError(Exception):
    """The client went away while sending its body."""


async def _read_capped(receive: Receive) -> bytes | None:
    """The whole body, or None once more than :data:`MAX_BODY_BYTES` arrived (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _DisconnectedError
        body: bytes = message.get("body", b"")
        size += len(body)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits on the client as usual."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class BearerFirst:
    """ASGI middleware of the business API: authenticate from the headers, then read a capped body."""

    def __init__(self, app: ASGIApp, *, engine: Engine, public_paths: frozenset[str]) -> None:
        """Wrap the app.

        Args:
            app: The rest of the business API.
            engine: The portal database (where tokens are checked).
            public_paths: Paths, relative to the mount, served without a token (``GET``/``HEAD`` only).
        """
        self.app = app
        self.engine = engine
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request (anything but HTTP passes through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _no_store(send)
        path = scope["path"]
        root = scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        if route_path in self.public_paths and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = await self._authenticate(headers)
        if token is None:
            await error_response(_unauthorized())(scope, receive, send)
            return
        length = headers.get("content-length", "")
        try:
            body = None if length.isdigit() and int(length) > MAX_BODY_BYTES else await _read_capped(receive)
        except _DisconnectedError:
            return  # nobody is left to answer
        if body is None:
            await error_response(_too_large())(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = token
        await self.app(scope, _replay(body, receive), send)

    async def _authenticate(self, headers: Headers) -> ApiToken | None:
        raw = bearer_token(headers)
        if raw is None:
            return None
        # A worker thread: the lookup (and the occasional last_used_at write) must not block the event loop.
        return await run_in_threadpool(tokens.authenticate, self.engine, raw)


def _no_store(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message)["Cache-Control"] = "no-store"
        await send(message)

    return sending
