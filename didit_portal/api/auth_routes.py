"""Sign-in, second factor and sign-out: the only places the session cookie is set or cleared.

``POST /api/auth/login``       :func:`login`        email + password (+ ``totp`` code) → new session, cookie, redirect
``POST /api/auth/totp``        :func:`totp_verify`  the TOTP step of a pending session → new (full) session
``POST /api/auth/totp/enrol``  :func:`totp_enrol`   confirm a new TOTP secret with one code → TOTP on, new session
``GET  /api/auth/totp/setup``  :func:`totp_setup`   the pending secret as a QR code (SVG), for a signed-in or
                                                    pending user
``POST /api/auth/password``    :func:`password`     current + new password → password changed, every session of
                                                    the user ended, a new one started
``POST /api/auth/logout``      :func:`logout`       end the session on the server, clear the cookie
``GET  /api/auth/me``          :func:`me`           who the cookie belongs to (``401`` when not fully signed in)

Forms (the login page posts natively) get ``303`` redirects; JSON requests (``Content-Type: application/json``)
get JSON answers; a sign-in the throttle refuses gets ``429`` with ``Retry-After`` (forms: back to the page,
which says to wait). The cookie is ``HttpOnly; SameSite=Strict; Path=/``; when ``PUBLIC_BASE_URL`` is https it is
also ``Secure`` and named ``__Host-didit_portal_session``. CSRF: besides SameSite, each POST must carry an
``Origin`` (or ``Referer``) that is the portal's own origin or ``PUBLIC_BASE_URL``'s. Every login renews the
token, so a token planted before sign-in is worthless. Bodies are read in chunks and refused with ``413`` as soon
as they pass :data:`~didit_portal.api.auth_http.MAX_BODY`, whatever ``Content-Length`` said.

The handlers are module-level; the settings and database they use are an :class:`AuthContext` in the app's
state, put there by :func:`install`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from didit_portal import routes
from didit_portal.api.auth_http import BodyTooLargeError, allowed_origin, answer, clear_cookie, set_cookie
from didit_portal.api.auth_http import client_ip as _ip
from didit_portal.api.auth_http import form_fields as _fields
from didit_portal.config import Settings
from didit_portal.services.access import signin
from didit_portal.services.access import signin_steps as steps
from didit_portal.services.access.signin import GENERIC_ERROR, THROTTLED_ERROR

__all__ = ["ROUTES", "AuthContext", "allowed_origin", "auth_app", "install"]


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


def _token(request: Request) -> str | None:
    return request.cookies.get(signin.cookie_name(_context(request).settings.public_base_url))


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
        try:
            return await handler(request, origin)
        except BodyTooLargeError:
            return JSONResponse({"ok": False, "error": "request body too large"}, status_code=413)

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
    result = await run_in_threadpool(steps.login, ctx.engine, fields, _token(request), _ip(request))
    if result.token is None:
        response = _refused(request, origin, next_path, result)
        clear_cookie(response, ctx.settings)
        return response
    return _signed_in(request, origin, next_path, result)


def _refused(request: Request, origin: str, next_path: str, result: steps.StepResult) -> Response:
    if result.outcome == "throttled":
        path = routes.login_url(next_path, error="wait")
        return answer(
            request, origin, ok=False, path=path, error=THROTTLED_ERROR, status=429, retry_after=result.retry_after
        )
    return answer(
        request, origin, ok=False, path=routes.login_url(next_path, error="1"), error=GENERIC_ERROR, status=401
    )


def _signed_in(request: Request, origin: str, next_path: str, result: steps.StepResult) -> Response:
    # A session that still owes a step (a code, TOTP set-up, a new password) goes to the login page's form for it.
    assert result.token is not None
    done = result.outcome == "ok"
    path = next_path if done else routes.login_url(next_path, step=result.outcome)
    error = "" if done else f"{result.outcome}_required"
    response = answer(request, origin, ok=done, path=path, error=error, status=401)
    set_cookie(response, result.token, _context(request).settings)
    return response


async def _second_step(request: Request, origin: str, *, enrol: bool) -> Response:
    fields = await _fields(request)
    next_path = signin.safe_next(fields.get("next"))
    code = fields.get("code") or fields.get("totp") or ""
    result = await run_in_threadpool(
        steps.second_step, _context(request).engine, _token(request), code, _ip(request), enrol=enrol
    )
    if result.token is None:
        path = routes.login_url(next_path, step="enrol" if enrol else "totp", error="1")
        return answer(request, origin, ok=False, path=path, error="code not accepted", status=401)
    return _signed_in(request, origin, next_path, result)


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


#: The JSON status of each refusal of a password change (the pages map the codes to fixed messages).
_PASSWORD_ERRORS = {"current": 401, "short": 400, "same": 400, "throttled": 429}


@same_origin
async def password(request: Request, origin: str) -> Response:
    """``POST /api/auth/password``: change the signed-in user's password (current one required).

    Every session of the user ends and a new one starts (a new cookie). From the account page the answer goes
    back there (``?changed=1`` or ``?error=…``); for the forced change of a first sign-in, on to ``next`` (or back
    to the login page's form).

    Args:
        request: The form or JSON post (``current_password``, ``new_password``, ``next``).
        origin: The request's checked origin.

    Returns:
        A redirect (form) or JSON answer.
    """
    fields = await _fields(request)
    next_path = signin.safe_next(fields.get("next"))
    result = await run_in_threadpool(
        steps.change_password, _context(request).engine, _token(request), fields, _ip(request)
    )
    if result.outcome == "denied":
        return answer(request, origin, ok=False, path=routes.login_url(routes.ADMIN_ACCOUNT), status=401)
    if result.token is not None:
        path = next_path if result.forced else f"{routes.ADMIN_ACCOUNT}?changed=1"
        response = answer(request, origin, ok=True, path=path)
        set_cookie(response, result.token, _context(request).settings)
        return response
    code = "wait" if result.outcome == "throttled" else result.outcome
    back = (
        routes.login_url(next_path, step="change", error=code)
        if result.forced
        else f"{routes.ADMIN_ACCOUNT}?error={code}"
    )
    status = _PASSWORD_ERRORS.get(result.outcome, 400)
    return answer(request, origin, ok=False, path=back, error=code, status=status, retry_after=result.retry_after)


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
    await run_in_threadpool(steps.end_session, ctx.engine, _token(request), _ip(request))
    response = answer(request, origin, ok=True, path=routes.LOGIN)
    clear_cookie(response, ctx.settings)
    return response


async def totp_setup(request: Request) -> Response:
    """``GET /api/auth/totp/setup``: the pending TOTP secret as a QR code, for the enrolment form.

    Args:
        request: The image request, carrying the session cookie.

    Returns:
        The SVG, or 404 when the cookie's user has no enrolment in progress.
    """
    body = await run_in_threadpool(steps.pending_qr, _context(request).engine, _token(request))
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
    principal = await run_in_threadpool(steps.signed_in, _context(request).engine, _token(request))
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
    Route(routes.API_AUTH_PASSWORD, password, methods=["POST"]),
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
