"""The HTTP side of the sign-in routes (:mod:`didit_portal.api.auth_routes`).

The origin check, capped form bodies, the session cookie and the answers (a redirect for the pages' native
forms, JSON otherwise).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from didit_portal.config import Settings
from didit_portal.services import settings_store
from didit_portal.services.access import signin

#: Bodies larger than this are refused (413) before parsing (a sign-in form is tiny).
MAX_BODY = 16 * 1024
_FORM_FIELDS = ("email", "password", "totp", "code", "next", "current_password", "new_password")
#: Field-count cap for form bodies (``parse_qsl`` refuses more).
_MAX_FIELDS = 20


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _request_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.lower().rstrip("/")
    referer = request.headers.get("referer")
    return _origin_of(referer) or None if referer else None


def allowed_origin(request: Request, settings: Settings) -> str | None:
    """The request's origin when it is the portal's own (CSRF check), else None.

    Args:
        request: The incoming POST.
        settings: Portal settings (``PUBLIC_BASE_URL``).

    Returns:
        The origin (scheme://host[:port]) to redirect back to, or None to refuse the request.
    """
    origin = _request_origin(request)
    if origin is None:
        return None
    host = request.headers.get("host", "").lower()
    if origin == _origin_of(settings.public_base_url) or urlsplit(origin).netloc == host:
        return origin
    return None


class BodyTooLargeError(Exception):
    """The body passed :data:`MAX_BODY` (answered 413)."""


async def read_capped(request: Request, limit: int = MAX_BODY) -> bytes:
    """Read a request body in chunks, refusing it as soon as it passes ``limit``.

    Args:
        request: The request.
        limit: Largest body accepted, in bytes.

    Returns:
        The body.

    Raises:
        BodyTooLargeError: ``Content-Length`` announced more, or more arrived (a chunked body has no length).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # stop reading: a lying or absent Content-Length must not make us buffer more
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def wants_json(request: Request) -> bool:
    """Whether the request is JSON (answered in JSON) rather than a native form post (answered with a redirect).

    Args:
        request: The request.

    Returns:
        True for ``Content-Type: application/json``.
    """
    return request.headers.get("content-type", "").startswith("application/json")


async def form_fields(request: Request) -> dict[str, str]:
    """The known fields of a JSON or url-encoded form body (anything else reads as no fields).

    Args:
        request: The POST.

    Returns:
        Field name → value, for the names the sign-in routes use.

    Raises:
        BodyTooLargeError: The body is over :data:`MAX_BODY`.
    """
    body = await read_capped(request)
    if wants_json(request):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: str(v) for k, v in data.items() if k in _FORM_FIELDS and isinstance(v, str | int)}  # pyright: ignore[reportUnknownVariableType]
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}  # what the pages' native forms send; nothing else is parsed
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:  # not UTF-8, or too many fields
        return {}
    return {k: v for k, v in pairs if k in _FORM_FIELDS}


def client_ip(request: Request) -> str | None:
    """The client's address as the server saw the connection.

    Args:
        request: The request.

    Returns:
        The address, or None when unknown.
    """
    return request.client.host if request.client else None


def set_cookie(response: Response, token: str, settings: Settings) -> None:
    """Set the session cookie: ``HttpOnly; SameSite=Strict; Path=/``, no ``Domain``.

    Under https it is also ``Secure`` and named with the ``__Host-`` prefix.

    Args:
        response: The answer.
        token: The session token.
        settings: Portal settings (``PUBLIC_BASE_URL``).
    """
    response.set_cookie(
        signin.cookie_name(settings.public_base_url),
        token,
        # The longest absolute limit an admin may set: the server ends the session at the configured one.
        max_age=settings_store.ABSOLUTE_HOURS_BOUNDS[1] * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=signin.is_https(settings.public_base_url),
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    """Clear the session cookie (same attributes, so the browser replaces it).

    Args:
        response: The answer.
        settings: Portal settings (``PUBLIC_BASE_URL``).
    """
    response.delete_cookie(
        signin.cookie_name(settings.public_base_url),
        path="/",
        httponly=True,
        samesite="strict",
        secure=signin.is_https(settings.public_base_url),
    )


def answer(
    request: Request, origin: str, *, ok: bool, path: str, error: str = "", status: int = 200, retry_after: int = 0
) -> Response:
    """A route's answer: a 303 to ``path`` for a form, JSON ``{ok, next, error?, retry_after?}`` otherwise.

    Args:
        request: The request answered.
        origin: Its checked origin (the redirect goes there).
        ok: Whether the step succeeded (JSON status 200 then).
        path: Where the browser goes next.
        error: A short error for JSON.
        status: The JSON status when not ``ok``.
        retry_after: Seconds to wait, sent as ``Retry-After`` when set.

    Returns:
        The response (never cached).
    """
    headers = {"Cache-Control": "no-store"}
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    if wants_json(request):
        body: dict[str, Any] = {"ok": ok, "next": path}
        if error:
            body["error"] = error
        if retry_after:
            body["retry_after"] = retry_after
        return JSONResponse(body, status_code=status if not ok else 200, headers=headers)
    return RedirectResponse(origin + path, status_code=303, headers=headers)
