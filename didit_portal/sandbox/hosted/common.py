"""What both hosted pages share: their context on the app, security headers, the device cookie, the CSRF check.

The pages reach sessions only through the :class:`~didit_portal.sandbox.types.HostedEngine` protocol, found on
``app.state.hosted`` (see :func:`bind_hosted`), so this package never touches the sandbox's storage. Every URL a
page writes starts from the request's ``root_path``, so the pages work standalone and under the portal's prefix.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.hosted.render import render
from didit_portal.sandbox.types import EngineError, HostedEngine

STATIC_DIR = Path(__file__).parent / "static"

#: Where the pages' CSS and JS are served, relative to the sandbox's mount prefix. Kept out of Didit's own path
#: space (``/v3``, ``/session``, ``/sandbox/...`` control API) so no real Didit route can ever collide with it.
STATIC_PATH = "/_hosted/static"

#: The cookie that tells devices apart for ``callback_method`` (https://docs.didit.me/sessions-api/create-session);
#: using a cookie is the sandbox's own choice. HttpOnly: the page's script never needs it, the server reads it on
#: every request.
DEVICE_COOKIE = "didit_sbx_device"
DEVICE_COOKIE_MAX_AGE = 30 * 24 * 3600

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEVICE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class HostedContext:
    """What the page handlers need: the engine's hosted interface and the sandbox configuration."""

    engine: HostedEngine
    config: SandboxConfig


def bind_hosted(app: Starlette, engine: HostedEngine, config: SandboxConfig) -> None:
    """Give an app that serves :data:`~didit_portal.sandbox.hosted.table.HOSTED_ROUTES` its engine and config."""
    app.state.hosted = HostedContext(engine, config)


def context_of(request: Request) -> HostedContext:
    """The :class:`HostedContext` of the app serving this request (the sandbox app, even when mounted)."""
    context = request.app.state.hosted
    assert isinstance(context, HostedContext), "bind_hosted() sets app.state.hosted"
    return context


def root(request: Request) -> str:
    """The mount prefix ('' standalone, e.g. '/didit-sandbox' embedded), for every URL a page writes."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def security_headers(*, page: bool) -> dict[str, str]:
    """Headers of every hosted response; pages also get their Content-Security-Policy."""
    headers = {
        # The URL carries the secret session token: never leak it in a Referer (e.g. to the callback site).
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if page:
        headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; "
            # Didit's hosted page is embeddable by any site (its web SDK iframes it wherever it runs), and the
            # portal embeds the sandbox's page from its own origin or another one: so any ancestor is allowed.
            "frame-ancestors *"
        )
    return headers


def json_error(body: Any, status_code: int) -> JSONResponse:
    """A JSON error answer with the hosted headers."""
    return JSONResponse(body, status_code=status_code, headers=security_headers(page=False))


def not_found_json() -> JSONResponse:
    """The JSON endpoints' 404."""
    return json_error({"detail": "Not found."}, 404)


def device(request: Request) -> tuple[str, bool]:
    """This browser's device id and whether it is new (the response must then set the cookie)."""
    current = request.cookies.get(DEVICE_COOKIE, "")
    if _DEVICE_RE.fullmatch(current):
        return current, False
    return secrets.token_urlsafe(18), True


def set_device(request: Request, response: Response, device_id: str, new: bool) -> None:
    """Set the device cookie on the response when the device is new."""
    if not new:
        return
    secure = request.url.scheme == "https" or context_of(request).config.public_url.startswith("https:")
    # Didit's page is embedded cross-site (the web SDK iframes it on the operator's domain), where a Lax cookie
    # is never sent and the device could not be recognised. Over https the cookie is SameSite=None and
    # Partitioned (CHIPS: kept per embedding site, as browsers now require for third-party cookies); the
    # state-changing POSTs stay protected by the Origin check in same_origin. Plain http (local use) keeps
    # Lax, because browsers refuse SameSite=None without Secure.
    response.set_cookie(
        DEVICE_COOKIE,
        device_id,
        max_age=DEVICE_COOKIE_MAX_AGE,
        path=root(request) or "/",
        httponly=True,
        samesite="none" if secure else "lax",
        secure=secure,
    )
    if secure:
        # Starlette only writes Partitioned on Python 3.14+ (http.cookies); the attribute is a plain flag.
        name, value = response.raw_headers[-1]
        if name == b"set-cookie" and value.startswith(DEVICE_COOKIE.encode() + b"="):
            response.raw_headers[-1] = (name, value + b"; Partitioned")


def same_origin(request: Request) -> bool:
    """Refuse cross-site state changes (CSRF): the pages' own forms and fetches are always same-origin."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        # Set by every current browser; "none" is a user-typed navigation, never a POST from a page.
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser (tests, curl): no ambient cookies to abuse
    netloc = urlsplit(origin).netloc
    return netloc in {request.headers.get("host", ""), urlsplit(context_of(request).config.public_url).netloc}


def page(body: str, status_code: int = 200) -> HTMLResponse:
    """An HTML page with the pages' security headers."""
    return HTMLResponse(body, status_code=status_code, headers=security_headers(page=True))


def message_page(request: Request, title: str, text: str, status_code: int) -> HTMLResponse:
    """A page that only says something (unknown link, refusal, engine error)."""
    body = render("message.html", lang="en", static=root(request) + STATIC_PATH, title=title, text=text)
    return page(body, status_code)


def not_found_page(request: Request) -> HTMLResponse:
    """The verification page's 404."""
    return message_page(request, "Link not found", "This verification link does not exist in the Didit sandbox.", 404)


def engine_error_page(request: Request, error: EngineError) -> HTMLResponse:
    """An engine refusal shown as a page."""
    detail = error.body.get("detail") if isinstance(error.body, Mapping) else None
    return message_page(request, "Something went wrong", str(detail or error.body), error.status_code)
