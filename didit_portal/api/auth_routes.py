"""Sign-in, second factor and sign-out: the only places the session cookie is set or cleared.

``POST /api/auth/login``       :func:`login`        email + password (+ ``totp`` code) → new session, cookie, redirect
``POST /api/auth/totp``        :func:`totp_verify`  the TOTP step of a pending session → new (full) session
``POST /api/auth/totp/enrol``  :func:`totp_enrol`   confirm a new TOTP secret with one code → TOTP on, new session
``GET  /api/auth/totp/setup``  :func:`totp_setup`   the pending secret as a QR code (SVG), for a signed-in or
                                                    pending user
``POST /api/auth/logout``      :func:`logout`       end the session on the server, clear the cookie
``GET  /api/auth/me``          :func:`me`           who the cookie belongs to (``401`` when not fully signed in)

Forms (the login page posts natively) get ``303`` redirects; JSON requests (``Content-Type: application/json``)
get JSON answers. The cookie is ``HttpOnly; SameSite=Strict; Path=/`` (+ ``Secure`` when ``PUBLIC_BASE_URL`` is
https). CSRF: besides SameSite, each POST must carry an ``Origin`` (or ``Referer``) that is the portal's own
origin or ``PUBLIC_BASE_URL``'s. Every login renews the token, so a token planted before sign-in is worthless.

The handlers are module-level; the settings and database they use are an :class:`AuthContext` in the app's
state, put there by :func:`install`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from didit_portal import routes
from didit_portal.config import Settings
from didit_portal.services.access import signin
from didit_portal.services.access import signin_steps as steps
from didit_portal.services.access.signin import COOKIE_NAME, GENERIC_ERROR

#: Bodies larger than this are refused before parsing (a sign-in form is tiny).
MAX_BODY = 16 * 1024
_FORM_FIELDS = ("email", "password", "totp", "code", "next")


@dataclass(frozen=True)
class AuthContext:
    """What the sign-in routes need from the app they run in.

    Attributes:
        settings: Portal settings (``PUBLIC_BASE_URL`` for the CSRF check and the cookie's ``Secure`` flag).
        engine: The portal database.
    """

    settings: Settings
    engine: Engine


def _context(request: Request) -> AuthContext:
    return request.app.state.staff_auth


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


async def _fields(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_BODY:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: str(v) for k, v in data.items() if k in _FORM_FIELDS and isinstance(v, str | int)}  # pyright: ignore[reportUnknownVariableType]
    form = await request.form()
    return {k: v for k, v in form.items() if k in _FORM_FIELDS and isinstance(v, str)}


def _wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _set_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(signin.ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.public_base_url.lower().startswith("https://"),
    )


def _clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.public_base_url.lower().startswith("https://"),
    )


def _answer(request: Request, origin: str, *, ok: bool, path: str, error: str = "", status: int = 200) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {"ok": ok, "next": path}
        if error:
            body["error"] = error
        return JSONResponse(body, status_code=status if not ok else 200, headers={"Cache-Control": "no-store"})
    return RedirectResponse(origin + path, status_code=303, headers={"Cache-Control": "no-store"})


def _forbidden() -> Response:
    return JSONResponse({"ok": False, "error": "cross-origin request refused"}, status_code=403)


_OriginHandler = Callable[[Request, str], Awaitable[Response]]


def same_origin(handler: _OriginHandler) -> Callable[[Request], Awaitable[Response]]:
    """Refuse a POST from another origin (403) before the handler runs; the handler gets the checked origin.

    Args:
        handler: ``async (request, origin) -> Response``; ``origin`` is where its redirects go.

    Returns:
        The Starlette endpoint ``async (request) -> Response``.
    """

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        origin = allowed_origin(request, _context(request).settings)
        if origin is None:
            return _forbidden()
        return await handler(request, origin)

    return endpoint


@same_origin
async def login(request: Request, origin: str) -> Response:
    """``POST /api/auth/login``: check email + password (+ a TOTP code), start a session, set the cookie.

    Args:
        request: The form or JSON post.
        origin: The request's checked origin.

    Returns:
        A redirect (form) or JSON answer: to ``next``, to the TOTP or enrolment step, or back with an error.
    """
    ctx = _context(request)
    fields = await _fields(request)
    next_path = signin.safe_next(fields.get("next"))
    token, outcome = await run_in_threadpool(
        steps.login, ctx.engine, fields, request.cookies.get(COOKIE_NAME), _ip(request)
    )
    if token is None:
        response = _answer(
            request, origin, ok=False, path=routes.login_url(next_path, error="1"), error=GENERIC_ERROR, status=401
        )
        _clear_cookie(response, ctx.settings)
        return response
    path = next_path if outcome == "ok" else routes.login_url(next_path, step=outcome)
    response = _answer(
        request,
        origin,
        ok=outcome == "ok",
        path=path,
        error="" if outcome == "ok" else f"{outcome}_required",
        status=401,
    )
    _set_cookie(response, token, ctx.settings)
    return response


async def _second_step(request: Request, origin: str, *, enrol: bool) -> Response:
    ctx = _context(request)
    fields = await _fields(request)
    next_path = signin.safe_next(fields.get("next"))
    token = await run_in_threadpool(
        steps.second_step,
        ctx.engine,
        request.cookies.get(COOKIE_NAME),
        fields.get("code") or fields.get("totp") or "",
        _ip(request),
        enrol=enrol,
    )
    if token is None:
        step = "enrol" if enrol else "totp"
        return _answer(
            request,
            origin,
            ok=False,
            path=routes.login_url(next_path, step=step, error="1"),
            error="code not accepted",
            status=401,
        )
    response = _answer(request, origin, ok=True, path=next_path)
    _set_cookie(response, token, ctx.settings)
    return response


@same_origin
async def totp_verify(request: Request, origin: str) -> Response:
    """``POST /api/auth/totp``: the TOTP code of a pending session; a full session when it is right.

    Args:
        request: The form or JSON post (``code``).
        origin: The request's checked origin.

    Returns:
        A redirect (form) or JSON answer: to ``next``, or back to the TOTP step with an error.
    """
    return await _second_step(request, origin, enrol=False)


@same_origin
async def totp_enrol(request: Request, origin: str) -> Response:
    """``POST /api/auth/totp/enrol``: confirm a new TOTP secret with one code; TOTP on, a new full session.

    Args:
        request: The form or JSON post (``code``).
        origin: The request's checked origin.

    Returns:
        A redirect (form) or JSON answer: to ``next``, or back to the enrolment step with an error.
    """
    return await _second_step(request, origin, enrol=True)


@same_origin
async def logout(request: Request, origin: str) -> Response:
    """``POST /api/auth/logout``: end the session on the server and clear the cookie.

    Args:
        request: The form or JSON post.
        origin: The request's checked origin.

    Returns:
        A redirect (form) or JSON answer to the login page.
    """
    ctx = _context(request)
    await run_in_threadpool(steps.end_session, ctx.engine, request.cookies.get(COOKIE_NAME), _ip(request))
    response = _answer(request, origin, ok=True, path=routes.LOGIN)
    _clear_cookie(response, ctx.settings)
    return response


async def totp_setup(request: Request) -> Response:
    """``GET /api/auth/totp/setup``: the pending TOTP secret as a QR code, for the enrolment form.

    Args:
        request: The image request, carrying the session cookie.

    Returns:
        The SVG, or 404 when the cookie's user has no enrolment in progress.
    """
    body = await run_in_threadpool(steps.pending_qr, _context(request).engine, request.cookies.get(COOKIE_NAME))
    if body is None:
        return JSONResponse({"ok": False, "error": "no enrolment in progress"}, status_code=404)
    return Response(
        body, media_type="image/svg+xml", headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )


async def me(request: Request) -> Response:
    """``GET /api/auth/me``: who the session cookie belongs to.

    Args:
        request: Any request carrying the session cookie.

    Returns:
        ``{ok, email, role}``, or 401 ``{ok: false}`` when not fully signed in.
    """
    principal = await run_in_threadpool(steps.signed_in, _context(request).engine, request.cookies.get(COOKIE_NAME))
    if principal is None:
        return JSONResponse({"ok": False}, status_code=401, headers={"Cache-Control": "no-store"})
    return JSONResponse(
        {"ok": True, "email": principal.email, "role": principal.role}, headers={"Cache-Control": "no-store"}
    )


#: The sign-in route table; the app serving it must hold an :class:`AuthContext` (:func:`install`).
ROUTES: list[BaseRoute] = [
    Route(routes.API_AUTH_ME, me, methods=["GET"]),
    Route(routes.API_AUTH_LOGIN, login, methods=["POST"]),
    Route(routes.API_AUTH_TOTP, totp_verify, methods=["POST"]),
    Route(routes.API_AUTH_TOTP_ENROL, totp_enrol, methods=["POST"]),
    Route(routes.API_AUTH_TOTP_SETUP, totp_setup, methods=["GET"]),
    Route(routes.API_AUTH_LOGOUT, logout, methods=["POST"]),
]


def install(app: Starlette, context: AuthContext) -> None:
    """Give an app that serves :data:`ROUTES` the settings and database they use.

    Args:
        app: The Starlette app holding the routes (``request.app`` of their requests).
        context: Settings and engine.
    """
    app.state.staff_auth = context


def auth_app(settings: Settings, engine: Engine) -> Starlette:
    """A Starlette app serving only the sign-in routes (tests).

    Args:
        settings: Portal settings.
        engine: The portal database.

    Returns:
        The app.
    """
    app = Starlette(routes=ROUTES)
    install(app, AuthContext(settings=settings, engine=engine))
    return app
