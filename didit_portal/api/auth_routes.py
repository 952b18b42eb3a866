"""Sign-in, second factor and sign-out: the only places the session cookie is set or cleared.

``POST /api/auth/login``       email + password (+ ``totp`` code) → new session, cookie, redirect
``POST /api/auth/totp``        the TOTP step of a pending session → new (full) session
``POST /api/auth/totp/enrol``  confirm a new TOTP secret with one code → TOTP on, new full session
``GET  /api/auth/totp/setup``  the pending secret as a QR code (SVG), for the signed-in or pending user
``POST /api/auth/logout``      end the session on the server, clear the cookie
``GET  /api/auth/me``          who the cookie belongs to (``401`` when not fully signed in)

Forms (the login page posts natively) get ``303`` redirects; JSON requests (``Content-Type: application/json``)
get JSON answers. The cookie is ``HttpOnly; SameSite=Strict; Path=/`` (+ ``Secure`` when ``PUBLIC_BASE_URL`` is
https). CSRF: besides SameSite, each POST must carry an ``Origin`` (or ``Referer``) that is the portal's own
origin or ``PUBLIC_BASE_URL``'s. Every login renews the token, so a token planted before sign-in is worthless.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from didit_portal import routes
from didit_portal.config import Settings
from didit_portal.db import session_scope
from didit_portal.models import StaffUser
from didit_portal.services import audit
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import totp
from didit_portal.services.access.accounts import COOKIE_NAME, GENERIC_ERROR, Principal

#: Bodies larger than this are refused before parsing (a sign-in form is tiny).
MAX_BODY = 16 * 1024
_FORM_FIELDS = ("email", "password", "totp", "code", "next")


@dataclass(frozen=True)
class _Ctx:
    settings: Settings
    engine: Engine


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
    response.set_cookie(COOKIE_NAME, token, max_age=int(auth.ABSOLUTE_TIMEOUT.total_seconds()), path="/",
                        httponly=True, samesite="strict",
                        secure=settings.public_base_url.lower().startswith("https://"))


def _clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict",
                           secure=settings.public_base_url.lower().startswith("https://"))


def _answer(request: Request, origin: str, *, ok: bool, path: str, error: str = "",
            status: int = 200) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {"ok": ok, "next": path}
        if error:
            body["error"] = error
        return JSONResponse(body, status_code=status if not ok else 200,
                            headers={"Cache-Control": "no-store"})
    return RedirectResponse(origin + path, status_code=303, headers={"Cache-Control": "no-store"})


def _forbidden() -> Response:
    return JSONResponse({"ok": False, "error": "cross-origin request refused"}, status_code=403)


def _login_page(step: str | None = None, *, error: str | None = None, next_path: str = routes.ADMIN) -> str:
    query = []
    if step:
        query.append(f"step={step}")
    if error:
        query.append(f"error={error}")
    if next_path != routes.ADMIN:
        query.append(f"next={quote(next_path, safe='/')}")
    return routes.LOGIN + ("?" + "&".join(query) if query else "")


def _do_login(ctx: _Ctx, fields: dict[str, str], old_token: str | None, ip: str | None) -> tuple[str | None, str]:
    """Returns (token or None, outcome) with outcome ``ok``, ``totp``, ``enrol`` or ``failed``."""
    with session_scope(ctx.engine) as db:
        auth.end_session(db, old_token)  # renewal: whatever this browser held before is gone
        principal, _ = auth.authenticate(db, email=fields.get("email", ""), password=fields.get("password", ""),
                                         ip=ip)
        if principal is None:
            return None, "failed"
        if not auth.needs_second_factor(db, principal):
            return auth.start_session(db, principal=principal, second_factor_ok=True), "ok"
        enrolled = _enrolled(db, principal)
        code = fields.get("totp") or fields.get("code")
        if enrolled and code:
            if totp.verify_code(db, principal=principal, code=code):
                return auth.start_session(db, principal=principal, second_factor_ok=True), "ok"
            audit.record(db, actor=principal, action="auth.totp_failed", target_type="staff_user",
                         target_id=str(principal.user_id), detail={"cause": "bad_code"}, ip=ip)
            auth.register_failure(db, user_id=principal.user_id)
            return None, "failed"
        return auth.start_session(db, principal=principal, second_factor_ok=False), "totp" if enrolled else "enrol"


def _enrolled(db: Session, principal: Principal) -> bool:
    user = db.get(StaffUser, principal.user_id)
    return bool(user and user.totp_enabled)


def _do_second_step(ctx: _Ctx, token: str | None, code: str, ip: str | None, *, enrol: bool) -> str | None:
    """Check the TOTP step of a pending session (or enrolment from any live one); returns the new token."""
    with session_scope(ctx.engine) as db:
        principal = auth.session_principal(db, token) if enrol else auth.pending_principal(db, token)
        if principal is None:
            return None
        if auth.is_locked(db, user_id=principal.user_id):
            audit.record(db, actor=principal, action="auth.totp_failed", target_type="staff_user",
                         target_id=str(principal.user_id), detail={"cause": "locked"}, ip=ip)
            return None
        ok = (totp.confirm_enrolment(db, principal=principal, code=code, ip=ip) if enrol
              else totp.verify_code(db, principal=principal, code=code))
        if not ok:
            audit.record(db, actor=principal, action="auth.totp_failed", target_type="staff_user",
                         target_id=str(principal.user_id), detail={"cause": "bad_code"}, ip=ip)
            # Wrong codes count toward the password lockout: a six-digit code is guessable otherwise.
            auth.register_failure(db, user_id=principal.user_id)
            return None
        auth.end_session(db, token)
        if not enrol:
            audit.record(db, actor=principal, action="auth.totp_ok", target_type="staff_user",
                         target_id=str(principal.user_id), ip=ip)
        return auth.start_session(db, principal=principal, second_factor_ok=True)


def _guarded(ctx: _Ctx, handler: Callable[[Request, str], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        origin = allowed_origin(request, ctx.settings)
        if origin is None:
            return _forbidden()
        return await handler(request, origin)

    return endpoint


def auth_routes(settings: Settings, engine: Engine) -> list[BaseRoute]:
    """The sign-in routes, to add to the backend app.

    Args:
        settings: Portal settings.
        engine: Database engine.

    Returns:
        Starlette routes.
    """
    ctx = _Ctx(settings=settings, engine=engine)

    async def login(request: Request, origin: str) -> Response:
        fields = await _fields(request)
        next_path = auth.safe_next(fields.get("next"))
        token, outcome = await run_in_threadpool(_do_login, ctx, fields, request.cookies.get(COOKIE_NAME),
                                                 _ip(request))
        if token is None:
            response = _answer(request, origin, ok=False, path=_login_page(error="1", next_path=next_path),
                               error=GENERIC_ERROR, status=401)
            _clear_cookie(response, settings)
            return response
        path = next_path if outcome == "ok" else _login_page(outcome, next_path=next_path)
        response = _answer(request, origin, ok=outcome == "ok", path=path,
                           error="" if outcome == "ok" else f"{outcome}_required", status=401)
        _set_cookie(response, token, settings)
        return response

    def second_step(*, enrol: bool) -> Callable[[Request, str], Awaitable[Response]]:
        async def handler(request: Request, origin: str) -> Response:
            fields = await _fields(request)
            next_path = auth.safe_next(fields.get("next"))
            token = await run_in_threadpool(_do_second_step, ctx, request.cookies.get(COOKIE_NAME),
                                            fields.get("code") or fields.get("totp") or "", _ip(request),
                                            enrol=enrol)
            if token is None:
                step = "enrol" if enrol else "totp"
                return _answer(request, origin, ok=False, path=_login_page(step, error="1", next_path=next_path),
                               error="code not accepted", status=401)
            response = _answer(request, origin, ok=True, path=next_path)
            _set_cookie(response, token, settings)
            return response

        return handler

    async def logout(request: Request, origin: str) -> Response:
        token = request.cookies.get(COOKIE_NAME)
        ip = _ip(request)

        def end() -> None:
            with session_scope(engine) as db:
                principal = auth.end_session(db, token)
                if principal is not None:
                    audit.record(db, actor=principal, action="auth.logout", target_type="staff_user",
                                 target_id=str(principal.user_id), ip=ip)

        await run_in_threadpool(end)
        response = _answer(request, origin, ok=True, path=routes.LOGIN)
        _clear_cookie(response, settings)
        return response

    async def totp_setup(request: Request) -> Response:
        token = request.cookies.get(COOKIE_NAME)

        def svg() -> bytes | None:
            with session_scope(engine) as db:
                principal = auth.session_principal(db, token)
                if principal is None:
                    return None
                secret = totp.pending_secret(db, principal=principal)
                return None if secret is None else totp.qr_svg(secret, principal.email)

        body = await run_in_threadpool(svg)
        if body is None:
            return JSONResponse({"ok": False, "error": "no enrolment in progress"}, status_code=404)
        return Response(body, media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    async def me(request: Request) -> Response:
        token = request.cookies.get(COOKIE_NAME)

        def lookup() -> Principal | None:
            with session_scope(engine) as db:
                return auth.principal_from_token(db, token)

        principal = await run_in_threadpool(lookup)
        if principal is None:
            return JSONResponse({"ok": False}, status_code=401, headers={"Cache-Control": "no-store"})
        return JSONResponse({"ok": True, "email": principal.email, "role": principal.role},
                            headers={"Cache-Control": "no-store"})

    return [
        Route("/api/auth/me", me, methods=["GET"]),
        Route("/api/auth/login", _guarded(ctx, login), methods=["POST"]),
        Route("/api/auth/totp", _guarded(ctx, second_step(enrol=False)), methods=["POST"]),
        Route("/api/auth/totp/enrol", _guarded(ctx, second_step(enrol=True)), methods=["POST"]),
        Route("/api/auth/totp/setup", totp_setup, methods=["GET"]),
        Route("/api/auth/logout", _guarded(ctx, logout), methods=["POST"]),
    ]
