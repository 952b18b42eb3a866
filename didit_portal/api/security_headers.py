"""Security headers on every HTTP response of the portal, as an ASGI middleware around Reflex's backend app.

Passed to ``rx.App(api_transformer=[..., security_headers])`` after the Starlette API: a callable transformer
wraps the whole backend ASGI app, which in prod mode also serves the compiled pages. Every response gets
``X-Content-Type-Options: nosniff``, a ``Referrer-Policy``, a ``Content-Security-Policy`` with ``frame-ancestors``
(plus ``X-Frame-Options`` for older browsers where framing is denied) and, when ``PUBLIC_BASE_URL`` is https,
``Strict-Transport-Security``. By path family (:func:`family`):

- **end-user pages** (``/verify/…``, ``/share/…``): the page policy, framable by the portal's own pages only
  (Didit's callback lands on ``/verify/{token}/done`` inside the embed's frame), ``Referrer-Policy: no-referrer``
  (the URL holds a bearer token), ``Cache-Control: no-store``;
- **staff** (``/admin…``, ``/login``, ``/api/auth/…``) and the business API (``/api/v1/…``): never framed,
  ``no-store`` (the pages and answers concern people's identities);
- **sandbox** (``/didit-sandbox/…``): its hosted page keeps its own CSP (it emulates Didit's) and gets a second
  policy saying who may frame it — the portal's pages, whose ``/verify`` embeds it. A browser enforces every policy
  it receives, so the stricter ``frame-ancestors`` wins over the sandbox's ``*``;
- **everything else** (``/``, ``/demo``, Reflex's 404 page, backend routes, errors): never framed.

Every HTML page gets the same strict policy (:func:`content_security_policy`), because Reflex navigates between
its pages without loading a new document: the policy of the first page a visitor opened still rules when
``/verify`` renders. Reflex's compiled page carries a few inline scripts (colour-mode bootstrap, router hydration
context); rather than ``'unsafe-inline'`` the middleware hashes the inline scripts of the document it serves (the
compiled HTML is static, so the hashes are cached per body) and allows exactly those. The ``/verify`` document also
allows framing the origin of the hosted URL Didit returned for that link's session (:mod:`.csp_sources`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from didit_portal import routes
from didit_portal.api.csp_sources import DIDIT_FRAME_HOSTS, frame_sources, hosted_origin, media_sources, origin_of
from didit_portal.config import Settings, get_settings

__all__ = [
    "DIDIT_FRAME_HOSTS",
    "PROTECTED_PREFIXES",
    "SecurityHeadersMiddleware",
    "content_security_policy",
    "family",
    "frame_sources",
    "inline_script_hashes",
    "is_protected",
    "security_headers",
]

#: Path prefixes of the end-user pages (``/verify/``, ``/share/``).
PROTECTED_PREFIXES: tuple[str, ...] = (routes.VERIFY_PREFIX + "/", routes.SHARE_PREFIX + "/")
#: Staff pages and sign-in routes: answered ``no-store``, never framed.
STAFF_PATHS: tuple[str, ...] = (routes.ADMIN, routes.LOGIN, routes.API_AUTH)
#: HSTS for a year, subdomains included (ASVS 5.0 V3.4.1 at level 2); sent only when PUBLIC_BASE_URL is https.
HSTS = "max-age=31536000; includeSubDomains"
#: What a response that is no HTML page may do when opened as a document: nothing (a sandboxed, script-less
#: document; ASVS 5.0 V3.2.1). Subresources (scripts, styles, images) ignore a CSP of their own.
_NON_DOCUMENT_POLICY = "default-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; sandbox"
#: Added to a page that brought its own policy (the sandbox's hosted page): the directives ASVS 5.0 V3.4.3 wants
#: on every response, and ``frame-ancestors``.
_SECOND_POLICY = "object-src 'none'; base-uri 'none'"

Family = Literal["end_user", "staff", "api", "sandbox", "other"]

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
#: The last path segment of a static asset (``app-3f2a.js``, ``favicon.ico``): never an HTML page of Reflex's.
_ASSET = re.compile(r"/[^/]*\.(?!html$)[A-Za-z0-9]+$")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def family(path: str) -> Family:
    """Which header family a request path belongs to.

    Args:
        path: The ASGI path.

    Returns:
        ``end_user``, ``staff``, ``api`` (business API), ``sandbox`` or ``other``.
    """
    if path.startswith(PROTECTED_PREFIXES):
        return "end_user"
    if any(_under(path, prefix) for prefix in STAFF_PATHS):
        return "staff"
    if _under(path, routes.API_V1):
        return "api"
    if _under(path, routes.SANDBOX_PREFIX):
        return "sandbox"
    return "other"


def is_protected(path: str) -> bool:
    """Whether a request path is one of the end-user pages.

    Args:
        path: The ASGI path.

    Returns:
        True for ``/verify/…`` and ``/share/…``.
    """
    return family(path) == "end_user"


def frame_ancestors(kind: Family, settings: Settings) -> str:
    """Who may frame a response of this family.

    Args:
        kind: The path family.
        settings: Portal settings.

    Returns:
        The ``frame-ancestors`` source list.
    """
    if kind == "end_user":
        return "'self'"  # Didit's callback may land on /verify/{token}/done inside the embed's own frame
    if kind == "sandbox":
        # The portal's /verify embeds the sandbox's hosted page: same origin in prod; in `make dev` the pages are
        # on PUBLIC_BASE_URL and the sandbox on the backend port.
        public = origin_of(settings.public_base_url)
        return "'self'" + (f" {public}" if public else "")
    return "'none'"


def content_security_policy(
    settings: Settings,
    script_hashes: Iterable[str] = (),
    *,
    kind: Family = "end_user",
    hosted: str | None = None,
) -> str:
    """Build the CSP of an HTML page.

    Args:
        settings: Portal settings (public origin, sandbox mode, Didit's base URL).
        script_hashes: ``'sha256-…'`` sources of the document's inline scripts.
        kind: The page's family: ``frame-ancestors`` follows it, and staff pages may show Didit's images.
        hosted: Origin of the hosted verification URL this page embeds, when it is outside :func:`frame_sources`.

    Returns:
        The header value.
    """
    public = origin_of(settings.public_base_url)
    connect = ["'self'"]
    if public:
        # Reflex's frontend reaches its websocket at the deploy URL (PUBLIC_BASE_URL), ws:// or wss://.
        connect += [public, public.replace("https://", "wss://", 1).replace("http://", "ws://", 1)]
    frames = frame_sources(settings)
    if hosted and hosted not in frames:
        frames.append(hosted)
    images = ["'self'", "data:"]
    if kind == "staff":
        # The session page shows Didit's document and selfie images: short-lived URLs on Didit's storage hosts.
        images += media_sources(settings)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        # Emotion (Reflex's CSS-in-JS) and the web SDK inject <style> elements at run time.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": images,
        "font-src": ["'self'", "data:"],
        "connect-src": connect,
        "frame-src": frames,
        "child-src": frames,
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": [frame_ancestors(kind, settings)],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


@lru_cache(maxsize=64)
def inline_script_hashes(body: bytes) -> tuple[str, ...]:
    """CSP hash sources for every inline ``<script>`` of an HTML document.

    Args:
        body: The HTML bytes.

    Returns:
        ``'sha256-…'`` sources, without duplicates, in document order.
    """
    hashes: list[str] = []
    for match in _INLINE_SCRIPT.finditer(body):
        digest = base64.b64encode(hashlib.sha256(match.group(1)).digest()).decode("ascii")
        source = f"'sha256-{digest}'"
        if source not in hashes:
            hashes.append(source)
    return tuple(hashes)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _verify_token(path: str) -> str | None:
    # /verify/{token} and /verify/{token}/done: the documents that embed the link's hosted page.
    parts = path[len(routes.VERIFY_PREFIX) + 1 :].split("/") if path.startswith(routes.VERIFY_PREFIX + "/") else []
    return parts[0] if parts and parts[0] and (len(parts) == 1 or parts[1:] == ["done"]) else None


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (websockets pass through)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Callable[[], Settings] = get_settings,
        hosted: Callable[[Settings, str], str | None] = hosted_origin,
    ) -> None:
        """Wrap an ASGI app.

        Args:
            app: The app to wrap.
            settings: Where to read the settings from (tests pass their own).
            hosted: ``(settings, token) -> origin``: the hosted page's origin of a ``/verify`` link (blocking; run
                in a worker thread).
        """
        self.app = app
        self.settings = settings
        self.hosted = hosted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request, adding the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        kind = family(path)
        head = scope.get("method") == "HEAD"
        if kind == "end_user" or (scope.get("method") in {"GET", "HEAD"} and not _ASSET.search(path)):
            # A page may come back: ask for it uncompressed (its inline scripts must be readable to be hashed), and
            # as a body rather than Granian's "pathsend" (the server sending a file by path), to read it.
            scope = dict(scope)
            scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]
            scope["extensions"] = {
                k: v for k, v in (scope.get("extensions") or {}).items() if k != "http.response.pathsend"
            }
        start: Message | None = None
        buffering = False
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start, buffering
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                html = b"html" in (_header(headers, b"content-type") or b"")
                own_policy = _header(headers, b"content-security-policy") is not None
                # A page needs its body for the hashes (and an encoded one cannot be read: it keeps no inline script).
                if html and not own_policy and _header(headers, b"content-encoding") is None:
                    start, buffering = message, True
                    return
                await send(self._with_headers(message, kind, None))
                return
            if message["type"] == "http.response.body" and buffering and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                await send(await self._page_start(start, path, kind, body, head=head))
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, capture)

    async def _page_start(self, start: Message, path: str, kind: Family, body: bytes, *, head: bool) -> Message:
        settings = self.settings()
        hosted = None
        token = _verify_token(path)
        if token is not None:
            hosted = await asyncio.to_thread(self.hosted, settings, token)
        policy = content_security_policy(settings, inline_script_hashes(body), kind=kind, hosted=hosted)
        headers = list(start.get("headers", []))
        if not head:
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        return self._with_headers({**start, "headers": headers}, kind, policy)

    def _with_headers(self, start: Message, kind: Family, page_policy: str | None) -> Message:
        settings = self.settings()
        headers: list[tuple[bytes, bytes]] = list(start.get("headers", []))
        replaced = {b"x-content-type-options", b"x-frame-options", b"strict-transport-security"}
        no_store = kind in {"end_user", "staff", "api"}
        if no_store:
            # Validators go too: a cached copy must never be revalidated into use (no-store).
            replaced |= {b"cache-control", b"etag", b"last-modified"}
        if kind == "end_user":
            replaced.add(b"referrer-policy")
        if page_policy is not None:
            replaced.add(b"content-security-policy")
        own_policy = page_policy is None and _header(headers, b"content-security-policy") is not None
        keep_referrer = _header(headers, b"referrer-policy") is not None and kind != "end_user"
        headers = [(k, v) for k, v in headers if k.lower() not in replaced]
        ancestors = frame_ancestors(kind, settings)
        # A 304 says nothing about CSP: the browser keeps its stored page, whose policy (hashes of that very body)
        # still holds, and would overwrite that policy with whatever the 304 carried.
        if start.get("status") != 304:
            if page_policy is None:
                # Not a page: nothing may run in it as a document. An app's own page policy stays; then this second
                # one only says who may frame it (a browser enforces both).
                page_policy = f"{_SECOND_POLICY if own_policy else _NON_DOCUMENT_POLICY}; frame-ancestors {ancestors}"
            headers.append((b"content-security-policy", page_policy.encode()))
        if ancestors == "'none'":
            headers.append((b"x-frame-options", b"DENY"))
        elif kind == "end_user":
            headers.append((b"x-frame-options", b"SAMEORIGIN"))
        if not keep_referrer:
            # no-referrer where the URL is a bearer token; elsewhere same-origin, which keeps the Origin header of the
            # sign-in forms' same-origin posts (no-referrer would send "Origin: null" and fail their CSRF check).
            headers.append((b"referrer-policy", b"no-referrer" if kind == "end_user" else b"same-origin"))
        if no_store:
            headers.append((b"cache-control", b"no-store"))
        headers.append((b"x-content-type-options", b"nosniff"))
        if settings.public_base_url.startswith("https://"):
            headers.append((b"strict-transport-security", HSTS.encode()))
        return {**start, "headers": headers}


def security_headers(app: ASGIApp) -> ASGIApp:
    """The ``api_transformer`` callable: wrap Reflex's backend app with :class:`SecurityHeadersMiddleware`.

    Args:
        app: The backend ASGI app (API, websocket, and in prod mode the compiled pages).

    Returns:
        The wrapped app.
    """
    return SecurityHeadersMiddleware(app)
